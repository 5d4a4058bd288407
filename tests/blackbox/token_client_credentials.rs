//! `grant_type=client_credentials` (RFC 6749 §4.4) and the token endpoint's general rules:
//! response shape and headers (§5.1), error codes (§5.2), scope (§3.3), per-client settings.

use std::collections::HashSet;

use crate::harness::*;

#[test]
fn rfc6749_4_4_3_client_credentials_issues_bearer_token_with_default_settings() {
    let server = Server::start_default();
    let issued = server.issue_cc(&confidential_client(), None);
    assert_token_shape(&issued.access_token, 54);
    assert_eq!(issued.token_type, "Bearer");
    assert_eq!(issued.expires_in, 3600);
    assert_eq!(
        issued.scope, "read",
        "absent scope should give default_scopes"
    );
}

#[test]
fn rfc6749_5_1_token_response_has_json_content_type_no_store_and_no_cache() {
    let server = Server::start_default();
    let r = server.client_credentials(&confidential_client(), None);
    assert_eq!(r.status, 200, "{}", r.summary());
    let ct = r.header("Content-Type").unwrap_or("");
    assert!(
        ct.to_ascii_lowercase().starts_with("application/json"),
        "Content-Type: {}",
        r.summary()
    );
    assert!(
        r.header_has_token("Cache-Control", "no-store"),
        "Cache-Control: no-store missing: {}",
        r.summary()
    );
    assert!(
        r.header_has_token("Pragma", "no-cache"),
        "Pragma: no-cache missing: {}",
        r.summary()
    );
}

#[test]
fn rfc6749_4_4_3_client_credentials_never_returns_a_refresh_token() {
    let server = Server::start_default();
    // svc-a may use the refresh_token grant, yet client_credentials must not hand one out.
    let issued = server.issue_cc(&confidential_client(), Some("read write"));
    assert!(
        issued.refresh_token.is_none(),
        "client_credentials response has a refresh_token: {}",
        issued.response.summary()
    );
}

#[test]
fn rfc6749_3_3_requested_scopes_within_client_scopes_are_granted() {
    let server = Server::start_default();
    let issued = server.issue_cc(&confidential_client(), Some("write read"));
    assert_eq!(scope_set(&issued.scope), scope_set("read write"));
    let issued = server.issue_cc(&confidential_client(), Some("write"));
    assert_eq!(issued.scope, "write");
}

#[test]
fn rfc6749_3_3_absent_scope_gets_the_clients_default_scopes() {
    let server = Server::start_default();
    let issued = server.issue_cc(&metadata_client(), None);
    assert_eq!(scope_set(&issued.scope), scope_set("read write"));
}

#[test]
fn rfc6749_5_2_scope_outside_the_clients_scopes_is_invalid_scope() {
    let server = Server::start_default();
    let r = server.client_credentials(&confidential_client(), Some("read admin"));
    assert_token_error(&r, 400, "invalid_scope");
    let r = server.client_credentials(&confidential_client(), Some("admin"));
    assert_token_error(&r, 400, "invalid_scope");
}

#[test]
fn access_tokens_are_unique_and_use_the_token_alphabet() {
    let server = Server::start_default();
    let mut seen = HashSet::new();
    let mut conn = server.conn();
    let auth = basic_auth("svc-a", "secret-a");
    for _ in 0..30 {
        let r = conn.roundtrip(&raw_form_post(
            TOKEN_PATH,
            "grant_type=client_credentials",
            &[("Authorization", &auth)],
        ));
        let issued = Issued::from_response(r);
        assert_token_shape(&issued.access_token, 54);
        assert!(
            seen.insert(issued.access_token.clone()),
            "token issued twice: {}",
            issued.access_token
        );
    }
}

#[test]
fn per_client_access_token_length_and_ttl_override_the_globals() {
    let server = Server::start_default();
    let issued = server.issue_cc(&short_token_client(), None);
    assert_token_shape(&issued.access_token, 40);
    assert_eq!(issued.expires_in, 120);
    // The global settings still hold for the other clients.
    let issued = server.issue_cc(&confidential_client(), None);
    assert_token_shape(&issued.access_token, 54);
    assert_eq!(issued.expires_in, 3600);
}

#[test]
fn global_token_settings_apply_to_clients_without_overrides() {
    let config = ConfigBuilder::standard()
        .tokens("access_token_length", "64")
        .tokens("access_token_ttl_secs", "600")
        .build();
    let server = Server::start(&config);
    let issued = server.issue_cc(&confidential_client(), None);
    assert_token_shape(&issued.access_token, 64);
    assert_eq!(issued.expires_in, 600);
    // A per-client override still wins over the changed globals.
    let issued = server.issue_cc(&short_token_client(), None);
    assert_token_shape(&issued.access_token, 40);
    assert_eq!(issued.expires_in, 120);
}

#[test]
fn config_with_only_one_client_and_no_optional_sections_serves_tokens_with_defaults() {
    let config = ConfigBuilder::empty()
        .client(
            r#"id = "solo"
secret = "solo-secret"
grant_types = ["client_credentials"]
scopes = ["read"]
default_scopes = ["read"]"#,
        )
        .build();
    let server = Server::start(&config);
    let issued = server.issue_cc(
        &Client::new("solo", Some("solo-secret"), AuthMethod::Basic),
        None,
    );
    assert_token_shape(&issued.access_token, 54);
    assert_eq!(issued.expires_in, 3600);
    assert_eq!(issued.token_type, "Bearer");
}

#[test]
fn rfc6749_5_2_unknown_grant_type_is_unsupported_grant_type() {
    let server = Server::start_default();
    let r = server.token(&confidential_client(), &[("grant_type", "foo")]);
    assert_token_error(&r, 400, "unsupported_grant_type");
}

#[test]
fn rfc6749_5_2_missing_grant_type_is_invalid_request() {
    let server = Server::start_default();
    let r = server.token(&confidential_client(), &[("scope", "read")]);
    assert_token_error(&r, 400, "invalid_request");
}

#[test]
fn rfc6749_3_2_repeated_parameter_is_invalid_request() {
    let server = Server::start_default();
    let r = server.token(
        &confidential_client(),
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ],
    );
    assert_token_error(&r, 400, "invalid_request");
    let r = server.token(
        &confidential_client(),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "read"),
            ("scope", "write"),
        ],
    );
    assert_token_error(&r, 400, "invalid_request");
}

#[test]
fn rfc6749_3_2_unrecognized_parameters_are_ignored() {
    let server = Server::start_default();
    let issued = Issued::from_response(server.token(
        &confidential_client(),
        &[("grant_type", "client_credentials"), ("color", "blue")],
    ));
    assert_token_shape(&issued.access_token, 54);
}

#[test]
fn rfc6749_3_2_token_request_with_json_content_type_is_invalid_request() {
    let server = Server::start_default();
    let auth = basic_auth("svc-a", "secret-a");
    let r = server.send_raw(&raw_request(
        "POST",
        TOKEN_PATH,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &auth),
        ],
        br#"{"grant_type":"client_credentials"}"#,
    ));
    assert_token_error(&r, 400, "invalid_request");
}

#[test]
fn rfc6749_3_2_token_request_without_content_type_is_invalid_request() {
    let server = Server::start_default();
    let auth = basic_auth("svc-a", "secret-a");
    let r = server.send_raw(&raw_request(
        "POST",
        TOKEN_PATH,
        &[("Authorization", &auth)],
        b"grant_type=client_credentials",
    ));
    assert_token_error(&r, 400, "invalid_request");
}

#[test]
fn form_content_type_with_charset_parameter_is_accepted() {
    let server = Server::start_default();
    let auth = basic_auth("svc-a", "secret-a");
    let r = server.send_raw(&raw_request(
        "POST",
        TOKEN_PATH,
        &[
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            ),
            ("Authorization", &auth),
        ],
        b"grant_type=client_credentials",
    ));
    Issued::from_response(r);
}

#[test]
fn rfc6749_5_2_grant_type_not_allowed_for_client_is_unauthorized_client() {
    let server = Server::start_default();
    let r = server.password(&cc_only_client(), ALICE, None);
    assert_token_error(&r, 400, "unauthorized_client");
    let r = server.refresh(&cc_only_client(), "whatever-refresh-token", None);
    assert_token_error(&r, 400, "unauthorized_client");
}

#[test]
fn public_client_can_never_use_client_credentials() {
    let server = Server::start_default();
    let r = server.client_credentials(&public_client(), None);
    assert!(
        r.status == 400 || r.status == 401,
        "public client got {} for client_credentials",
        r.summary()
    );
    let err = r.json_str("error");
    assert!(
        err == "unauthorized_client" || err == "invalid_client",
        "expected unauthorized_client or invalid_client: {}",
        r.summary()
    );
    assert!(r.json().get("access_token").is_none());
}

#[test]
fn rfc6749_5_2_error_responses_carry_no_store() {
    let server = Server::start_default();
    let r = server.token(&confidential_client(), &[("grant_type", "foo")]);
    assert_token_error(&r, 400, "unsupported_grant_type");
    let r = server.client_credentials(&confidential_client().with_secret("nope"), None);
    assert_token_error(&r, 401, "invalid_client");
}

#[test]
fn token_issued_by_client_credentials_is_valid_at_tokeninfo() {
    let server = Server::start_default();
    let issued = server.issue_cc(&confidential_client(), Some("write"));
    let r = server.tokeninfo(&issued.access_token);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json_str("audience"), "svc-a");
    assert_eq!(r.json_str("scope"), "write");
}

#[test]
fn rfc6749_3_2_parameter_without_value_is_treated_as_omitted() {
    let server = Server::start_default();
    let issued = Issued::from_response(server.token(
        &confidential_client(),
        &[("grant_type", "client_credentials"), ("scope", "")],
    ));
    assert_eq!(
        issued.scope, "read",
        "empty scope should mean default_scopes"
    );
}
