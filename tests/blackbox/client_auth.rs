//! Client authentication at the token endpoint (RFC 6749 §2.3.1, §3.2.1, §5.2).

use crate::harness::*;

#[test]
fn rfc6749_2_3_1_basic_authentication_with_correct_secret_succeeds() {
    let server = Server::start_default();
    let r = server.post_form(
        TOKEN_PATH,
        "grant_type=client_credentials",
        Some(("svc-a", "secret-a")),
    );
    Issued::from_response(r);
}

#[test]
fn rfc6749_2_3_1_basic_credentials_are_form_urlencoded_before_base64() {
    // id `svc:special`, secret `p@ss:w rd+/%&=`: the ':' in the id and the reserved
    // characters in the secret only survive if both are form-urlencoded.
    let server = Server::start_default();
    let issued = server.issue_cc(&special_client(), None);
    let info = server.tokeninfo(&issued.access_token);
    assert_eq!(info.status, 200, "{}", info.summary());
    assert_eq!(info.json_str("audience"), "svc:special");
}

#[test]
fn rfc6749_2_3_1_client_secret_post_in_the_body_succeeds() {
    let server = Server::start_default();
    let issued = server.issue_cc(&post_client(), None);
    assert_token_shape(&issued.access_token, 54);
    let issued = server.issue_password(&post_client(), ALICE, None);
    assert_token_shape(issued.refresh_token(), 46);
}

#[test]
fn rfc6749_5_2_unknown_client_gets_invalid_client_401_with_www_authenticate() {
    let server = Server::start_default();
    let r = server.post_form(
        TOKEN_PATH,
        "grant_type=client_credentials",
        Some(("no-such-client", "whatever")),
    );
    assert_invalid_client_basic(&r, "tessera");
    assert!(
        r.header_has_token("Cache-Control", "no-store"),
        "{}",
        r.summary()
    );
}

#[test]
fn rfc6749_5_2_wrong_secret_gets_invalid_client_401_with_www_authenticate() {
    let server = Server::start_default();
    let r = server.post_form(
        TOKEN_PATH,
        "grant_type=client_credentials",
        Some(("svc-a", "secret-b")),
    );
    assert_invalid_client_basic(&r, "tessera");
}

#[test]
fn rfc6749_5_2_empty_secret_gets_invalid_client() {
    let server = Server::start_default();
    let r = server.post_form(
        TOKEN_PATH,
        "grant_type=client_credentials",
        Some(("svc-a", "")),
    );
    assert_invalid_client_basic(&r, "tessera");
}

#[test]
fn rfc6749_5_2_www_authenticate_uses_the_configured_realm() {
    let config = ConfigBuilder::standard()
        .server("realm", "\"acme-auth\"")
        .build();
    let server = Server::start(&config);
    let r = server.post_form(
        TOKEN_PATH,
        "grant_type=client_credentials",
        Some(("svc-a", "wrong")),
    );
    assert_invalid_client_basic(&r, "acme-auth");
}

#[test]
fn rfc6749_5_2_no_client_authentication_is_invalid_client_401() {
    let server = Server::start_default();
    let r = server.post_form(TOKEN_PATH, "grant_type=client_credentials", None);
    assert_token_error(&r, 401, "invalid_client");
}

#[test]
fn rfc6749_5_2_wrong_client_secret_post_is_invalid_client_401() {
    let server = Server::start_default();
    let r = server.client_credentials(&post_client().with_secret("wrong"), None);
    assert_token_error(&r, 401, "invalid_client");
}

#[test]
fn rfc6749_5_2_confidential_client_sending_only_client_id_is_invalid_client() {
    let server = Server::start_default();
    let r = server.client_credentials(&confidential_client().using(AuthMethod::None), None);
    assert_token_error(&r, 401, "invalid_client");
    let r = server.password(&post_client().using(AuthMethod::None), ALICE, None);
    assert_token_error(&r, 401, "invalid_client");
}

#[test]
fn basic_client_authenticating_in_the_body_is_invalid_client() {
    let server = Server::start_default();
    let r = server.client_credentials(&confidential_client().using(AuthMethod::Post), None);
    assert_token_error(&r, 401, "invalid_client");
}

#[test]
fn post_client_authenticating_with_basic_is_invalid_client() {
    let server = Server::start_default();
    let r = server.client_credentials(&post_client().using(AuthMethod::Basic), None);
    assert_token_error(&r, 401, "invalid_client");
}

#[test]
fn rfc6749_2_3_two_authentication_methods_in_one_request_is_invalid_request() {
    let server = Server::start_default();
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "svc-a"),
        ("client_secret", "secret-a"),
    ]);
    let r = server.post_form(TOKEN_PATH, &body, Some(("svc-a", "secret-a")));
    assert_token_error(&r, 400, "invalid_request");
    // Same with a client_secret_post client sending a Basic header as well.
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "svc-post"),
        ("client_secret", "secret-post"),
    ]);
    let r = server.post_form(TOKEN_PATH, &body, Some(("svc-post", "secret-post")));
    assert_token_error(&r, 400, "invalid_request");
}

#[test]
fn public_client_with_a_secret_it_does_not_have_is_rejected() {
    let server = Server::start_default();
    let r = server.password(
        &Client::new("spa-public", Some("guess"), AuthMethod::Basic),
        ALICE,
        None,
    );
    assert_eq!(r.status, 401, "{}", r.summary());
    assert_invalid_client_basic(&r, "tessera");
}

#[test]
fn public_client_unknown_client_id_is_invalid_client() {
    let server = Server::start_default();
    let r = server.password(
        &Client::new("no-such-spa", None, AuthMethod::None),
        ALICE,
        None,
    );
    assert_token_error(&r, 401, "invalid_client");
}

#[test]
fn malformed_basic_credentials_are_rejected_with_401() {
    let server = Server::start_default();
    for header in ["Basic !!!not-base64!!!", "Basic c3ZjLWE=", "Basic"] {
        // c3ZjLWE= is "svc-a" without a colon.
        let r = server.post_form_with(
            TOKEN_PATH,
            "grant_type=client_credentials",
            &[("Authorization", header)],
        );
        assert!(
            r.status == 401 || r.status == 400,
            "{header:?} got {}",
            r.summary()
        );
        let err = r.json_str("error");
        assert!(
            err == "invalid_client" || err == "invalid_request",
            "{header:?} got {}",
            r.summary()
        );
    }
}

#[test]
fn rfc7235_2_1_auth_scheme_name_is_case_insensitive() {
    let server = Server::start_default();
    let creds = basic_auth("svc-a", "secret-a");
    let lower = creds.replacen("Basic", "basic", 1);
    let upper = creds.replacen("Basic", "BASIC", 1);
    for header in [lower, upper] {
        let r = server.post_form_with(
            TOKEN_PATH,
            "grant_type=client_credentials",
            &[("Authorization", &header)],
        );
        assert_eq!(r.status, 200, "{header:?}: {}", r.summary());
    }
}

#[test]
fn rfc6749_2_3_1_utf8_secret_is_percent_encoded_in_basic_credentials() {
    let config = ConfigBuilder::standard()
        .client(
            r#"id = "svc-utf8"
secret = "pässwörd-ü €"
grant_types = ["client_credentials"]
scopes = ["read"]
default_scopes = ["read"]"#,
        )
        .build();
    let server = Server::start(&config);
    let client = Client::new("svc-utf8", Some("pässwörd-ü €"), AuthMethod::Basic);
    server.issue_cc(&client, None);
    let r = server.client_credentials(&client.with_secret("passwörd-ü €"), None);
    assert_invalid_client_basic(&r, "tessera");
}
