//! The token endpoint's `format` parameter (issue 13, as the gateway offers it): `json` (the
//! default, RFC 6749 §5.1), `urlencoded` (`application/x-www-form-urlencoded`) and `xml`,
//! for token responses and for the errors of §5.2 once the form could be read. The answers
//! are read with `form_urlencoded` and with `roxmltree`, a real XML parser.

use std::collections::BTreeMap;

use crate::harness::*;

const URLENCODED: &str = "application/x-www-form-urlencoded";
const XML: &str = "application/xml; charset=utf-8";

/// The members of a response in one format, by name; panics on a repeated name.
type Fields = BTreeMap<String, String>;

fn insert_once(fields: &mut Fields, name: String, value: String, r: &Response) {
    if let Some(old) = fields.insert(name.clone(), value) {
        panic!("{name} appears twice (first {old:?}): {}", r.summary());
    }
}

/// Asserts the token endpoint's header rules (never cached, this `Content-Type`).
fn assert_headers(r: &Response, content_type: &str) {
    assert_eq!(
        r.header("Content-Type"),
        Some(content_type),
        "{}",
        r.summary()
    );
    assert!(
        r.header_has_token("Cache-Control", "no-store"),
        "{}",
        r.summary()
    );
    assert!(r.header_has_token("Pragma", "no-cache"), "{}", r.summary());
}

/// A `format=urlencoded` answer parsed with `form_urlencoded`.
fn urlencoded_fields(r: &Response) -> Fields {
    assert_headers(r, URLENCODED);
    let mut fields = Fields::new();
    for (name, value) in form_urlencoded::parse(&r.body).into_owned() {
        insert_once(&mut fields, name, value, r);
    }
    fields
}

/// A `format=xml` answer parsed with `roxmltree`: a UTF-8 declaration, the document element
/// `root`, and one child element per member holding only text.
fn xml_fields(r: &Response, root: &str) -> Fields {
    assert_headers(r, XML);
    let text = std::str::from_utf8(&r.body).expect("the XML answer is UTF-8");
    assert!(
        text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{}",
        r.summary()
    );
    let doc = roxmltree::Document::parse(text)
        .unwrap_or_else(|e| panic!("not well-formed XML ({e}): {}", r.summary()));
    let element = doc.root_element();
    assert_eq!(element.tag_name().name(), root, "{}", r.summary());
    assert_eq!(element.attributes().len(), 0, "{}", r.summary());
    let mut fields = Fields::new();
    for child in element.children() {
        assert!(child.is_element(), "stray {child:?} in {}", r.summary());
        assert!(
            child.children().all(|c| c.is_text()),
            "member {} holds more than text: {}",
            child.tag_name().name(),
            r.summary()
        );
        let name = child.tag_name().name().to_string();
        let value = child.text().unwrap_or_default().to_string();
        insert_once(&mut fields, name, value, r);
    }
    fields
}

/// The members of a JSON token response as strings, for comparing formats.
fn json_fields(r: &Response) -> Fields {
    assert_headers(r, "application/json");
    let mut fields = Fields::new();
    let json = r.json();
    let object = json.as_object().expect("a JSON object");
    for (name, value) in object {
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        insert_once(&mut fields, name.clone(), value, r);
    }
    fields
}

fn get<'f>(fields: &'f Fields, name: &str) -> &'f str {
    fields
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {fields:?}"))
}

/// Same names as a JSON token response (never the values: each response has new tokens).
fn names(fields: &Fields) -> Vec<&str> {
    fields.keys().map(String::as_str).collect()
}

fn cc(server: &Server, client: &Client, format: &str) -> Response {
    server.token(
        client,
        &[("grant_type", "client_credentials"), ("format", format)],
    )
}

fn password(server: &Server, format: &str) -> Response {
    server.token(
        &confidential_client(),
        &[
            ("grant_type", "password"),
            ("username", ALICE.0),
            ("password", ALICE.1),
            ("scope", "read write"),
            ("format", format),
        ],
    )
}

fn refresh(server: &Server, refresh_token: &str, format: &str) -> Response {
    server.token(
        &confidential_client(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("format", format),
        ],
    )
}

/// The access token is live for `alice` (tokeninfo knows it).
fn assert_live_for_alice(server: &Server, access_token: &str) {
    let info = server.tokeninfo(access_token);
    assert_eq!(info.status, 200, "{}", info.summary());
    assert_eq!(info.json_str("user_id"), ALICE.0);
}

fn assert_client_credentials_fields(fields: &Fields) {
    assert_token_shape(get(fields, "access_token"), 54);
    assert_eq!(get(fields, "token_type"), "Bearer");
    assert_eq!(get(fields, "expires_in"), "3600");
    assert_eq!(get(fields, "scope"), "read");
    assert_eq!(
        names(fields),
        ["access_token", "expires_in", "scope", "token_type"]
    );
}

fn assert_password_fields(fields: &Fields) {
    assert_token_shape(get(fields, "access_token"), 54);
    assert_token_shape(get(fields, "refresh_token"), 46);
    assert_eq!(get(fields, "token_type"), "Bearer");
    assert_eq!(get(fields, "expires_in"), "3600");
    assert_eq!(scope_set(get(fields, "scope")), scope_set("read write"));
}

#[test]
fn format_json_is_the_default_and_answers_exactly_as_without_format() {
    let server = Server::start_default();
    let default = json_fields(&server.client_credentials(&confidential_client(), None));
    let json = json_fields(&cc(&server, &confidential_client(), "json"));
    assert_client_credentials_fields(&default);
    assert_client_credentials_fields(&json);
    // An empty value is an omitted parameter (RFC 6749 §3.2): JSON too.
    let empty = json_fields(&cc(&server, &confidential_client(), ""));
    assert_client_credentials_fields(&empty);
}

#[test]
fn format_urlencoded_returns_the_token_response_form_encoded() {
    let server = Server::start_default();
    let r = cc(&server, &confidential_client(), "urlencoded");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_client_credentials_fields(&urlencoded_fields(&r));
}

#[test]
fn format_xml_returns_the_token_response_as_an_xml_document() {
    let server = Server::start_default();
    let r = cc(&server, &confidential_client(), "xml");
    assert_eq!(r.status, 200, "{}", r.summary());
    let fields = xml_fields(&r, "token");
    assert_client_credentials_fields(&fields);
    // The members come in the JSON object's order.
    let text = r.text();
    let at = |name: &str| text.find(&format!("<{name}>")).expect(name);
    assert!(at("access_token") < at("token_type") && at("token_type") < at("expires_in"));
    assert!(at("expires_in") < at("scope"), "{text}");
}

#[test]
fn format_urlencoded_password_grant_returns_a_refresh_token_that_refreshes() {
    let server = Server::start_default();
    let r = password(&server, "urlencoded");
    assert_eq!(r.status, 200, "{}", r.summary());
    let fields = urlencoded_fields(&r);
    assert_password_fields(&fields);
    assert_eq!(
        names(&fields),
        names(&json_fields(&password(&server, "json")))
    );
    assert_live_for_alice(&server, get(&fields, "access_token"));
    let r = refresh(&server, get(&fields, "refresh_token"), "urlencoded");
    assert_eq!(r.status, 200, "{}", r.summary());
    let renewed = urlencoded_fields(&r);
    assert_password_fields(&renewed);
    assert_live_for_alice(&server, get(&renewed, "access_token"));
}

#[test]
fn format_xml_password_grant_returns_a_refresh_token_that_refreshes() {
    let server = Server::start_default();
    let r = password(&server, "xml");
    assert_eq!(r.status, 200, "{}", r.summary());
    let fields = xml_fields(&r, "token");
    assert_password_fields(&fields);
    assert_eq!(
        names(&fields),
        names(&json_fields(&password(&server, "json")))
    );
    assert_live_for_alice(&server, get(&fields, "access_token"));
    let r = refresh(&server, get(&fields, "refresh_token"), "xml");
    assert_eq!(r.status, 200, "{}", r.summary());
    let renewed = xml_fields(&r, "token");
    assert_password_fields(&renewed);
    assert_live_for_alice(&server, get(&renewed, "access_token"));
    // Rotation: the first refresh token is used up; the replay's error is XML too.
    let r = refresh(&server, get(&fields, "refresh_token"), "xml");
    assert_eq!(r.status, 400, "{}", r.summary());
    assert_eq!(
        get(&xml_fields(&r, "error_response"), "error"),
        "invalid_grant"
    );
}

#[test]
fn format_values_with_markup_characters_are_escaped_in_every_format() {
    // `<`, `>`, `&` and `'` are allowed in a scope-token (RFC 6749 §3.3).
    let scope = "a<b>&c'd";
    let config = ConfigBuilder::standard()
        .client(
            r#"id = "svc-markup"
secret = "secret-markup"
grant_types = ["client_credentials"]
scopes = ["a<b>&c'd"]
default_scopes = ["a<b>&c'd"]"#,
        )
        .build();
    let server = Server::start(&config);
    let client = Client::new("svc-markup", Some("secret-markup"), AuthMethod::Basic);
    let json = json_fields(&cc(&server, &client, "json"));
    let form = urlencoded_fields(&cc(&server, &client, "urlencoded"));
    let r = cc(&server, &client, "xml");
    let xml = xml_fields(&r, "token");
    for fields in [&json, &form, &xml] {
        assert_eq!(get(fields, "scope"), scope);
    }
    assert!(
        r.text().contains("<scope>a&lt;b&gt;&amp;c&apos;d</scope>"),
        "{}",
        r.text()
    );
}

#[test]
fn format_errors_keep_the_401_and_its_www_authenticate_in_every_format() {
    let server = Server::start_default();
    let wrong = confidential_client().with_secret("wrong");
    let json = cc(&server, &wrong, "json");
    assert_invalid_client_basic(&json, "tessera");
    let description = json.json_str("error_description");
    for (format, fields) in [
        ("urlencoded", urlencoded_fields as fn(&Response) -> Fields),
        ("xml", |r: &Response| xml_fields(r, "error_response")),
    ] {
        let r = cc(&server, &wrong, format);
        assert_eq!(r.status, 401, "{}", r.summary());
        assert_eq!(
            r.header("WWW-Authenticate"),
            json.header("WWW-Authenticate"),
            "{}",
            r.summary()
        );
        let fields = fields(&r);
        assert_eq!(get(&fields, "error"), "invalid_client");
        assert_eq!(get(&fields, "error_description"), description);
        assert_eq!(names(&fields), ["error", "error_description"]);
    }
}

#[test]
fn format_errors_of_the_grant_are_answered_in_the_requested_format() {
    let server = Server::start_default();
    let r = server.token(
        &confidential_client(),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "admin"),
            ("format", "xml"),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.summary());
    assert_eq!(
        get(&xml_fields(&r, "error_response"), "error"),
        "invalid_scope"
    );
    let r = server.token(
        &confidential_client(),
        &[("grant_type", "foo"), ("format", "urlencoded")],
    );
    assert_eq!(r.status, 400, "{}", r.summary());
    assert_eq!(
        get(&urlencoded_fields(&r), "error"),
        "unsupported_grant_type"
    );
}

#[test]
fn format_xml_lockout_keeps_429_and_retry_after() {
    let config = ConfigBuilder::standard()
        .security("failed_auth_limit", "2")
        .security("failed_auth_window_secs", "60")
        .security("lockout_secs", "30")
        .build();
    let server = Server::start(&config);
    let wrong = confidential_client().with_secret("wrong");
    for _ in 0..2 {
        assert_eq!(cc(&server, &wrong, "xml").status, 401);
    }
    let r = cc(&server, &confidential_client(), "xml");
    assert_eq!(r.status, 429, "{}", r.summary());
    let retry: u64 = r
        .header("Retry-After")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("429 without Retry-After seconds: {}", r.summary()));
    assert!((1..=30).contains(&retry), "{}", r.summary());
    let fields = xml_fields(&r, "error_response");
    assert_eq!(get(&fields, "error"), "temporarily_unavailable");
}

#[test]
fn format_unknown_value_is_invalid_request_in_json() {
    let server = Server::start_default();
    for bad in ["XML", "html", "jsonp"] {
        let r = cc(&server, &confidential_client(), bad);
        assert_token_error(&r, 400, "invalid_request");
        assert_eq!(
            r.json_str("error_description"),
            "format must be json, urlencoded or xml"
        );
    }
}

#[test]
fn format_repeated_is_invalid_request_in_json() {
    let server = Server::start_default();
    let r = server.token(
        &confidential_client(),
        &[
            ("grant_type", "client_credentials"),
            ("format", "xml"),
            ("format", "xml"),
        ],
    );
    assert_token_error(&r, 400, "invalid_request");
}

#[test]
fn format_errors_before_the_form_is_read_stay_json() {
    let server = Server::start_default();
    let auth = basic_auth("svc-a", "secret-a");
    let r = server.send_raw(&raw_request(
        "POST",
        TOKEN_PATH,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &auth),
        ],
        b"grant_type=client_credentials&format=xml",
    ));
    assert_token_error(&r, 400, "invalid_request");
}
