//! `POST /api/oauth/introspect` (RFC 7662).

use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;

fn assert_inactive(r: &Response) {
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        r.json(),
        json!({"active": false}),
        "an inactive token answers exactly {{\"active\":false}}: {}",
        r.summary()
    );
}

#[test]
fn rfc7662_2_2_active_client_credentials_token() {
    let server = Server::start_default();
    let client = confidential_client();
    let before = now_secs();
    let issued = server.issue_cc(&client, Some("read write"));
    let after = now_secs();
    let r = server.introspect(&client, &issued.access_token);
    assert_eq!(r.status, 200, "{}", r.summary());
    let ct = r.header("Content-Type").unwrap_or("");
    assert!(
        ct.to_ascii_lowercase().starts_with("application/json"),
        "{}",
        r.summary()
    );
    let j = r.json();
    assert_eq!(j.get("active"), Some(&Value::Bool(true)), "{}", r.summary());
    assert_eq!(r.json_str("client_id"), "svc-a");
    assert_eq!(scope_set(&r.json_str("scope")), scope_set("read write"));
    assert_eq!(r.json_str("token_type"), "Bearer");
    assert_eq!(r.json_str("department"), "Engineering");
    assert!(
        j.get("username").is_none(),
        "no user for client_credentials: {}",
        r.summary()
    );
    let iat = r.json_i64("iat");
    let exp = r.json_i64("exp");
    assert_eq!(exp - iat, 3600, "exp - iat should be the ttl");
    assert!(
        iat >= before - 2 && iat <= after + 2,
        "iat {iat} should be the issue time ({before}..{after})"
    );
}

#[test]
fn rfc7662_2_2_active_password_token_has_username() {
    let server = Server::start_default();
    let client = confidential_client();
    let issued = server.issue_password(&client, ALICE, None);
    let r = server.introspect(&client, &issued.access_token);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        r.json().get("active"),
        Some(&Value::Bool(true)),
        "{}",
        r.summary()
    );
    assert_eq!(r.json_str("username"), "alice");
    assert_eq!(r.json_str("client_id"), "svc-a");
    assert_eq!(r.json_str("scope"), "read");
}

#[test]
fn rfc7662_2_2_exp_minus_iat_is_the_per_client_ttl() {
    let server = Server::start_default();
    let issued = server.issue_cc(&short_token_client(), None);
    let r = server.introspect(&confidential_client(), &issued.access_token);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json_str("client_id"), "svc-short");
    assert_eq!(r.json_i64("exp") - r.json_i64("iat"), 120);
}

#[test]
fn rfc7662_2_2_introspection_of_another_clients_token_reports_its_owner() {
    let server = Server::start_default();
    let issued = server.issue_cc(&metadata_client(), None);
    let r = server.introspect(&other_client(), &issued.access_token);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json().get("active"), Some(&Value::Bool(true)));
    assert_eq!(r.json_str("client_id"), "svc-meta");
    assert_eq!(r.json_str("cost_center"), "CC-42");
    assert_eq!(r.json_str("note"), "say \"hi\"\\n<ok>");
}

#[test]
fn rfc7662_2_2_unknown_token_is_exactly_active_false() {
    let server = Server::start_default();
    let r = server.introspect(&confidential_client(), "no-such-token");
    assert_inactive(&r);
}

#[test]
fn rfc7662_2_2_revoked_token_is_exactly_active_false() {
    let server = Server::start_default();
    let client = confidential_client();
    let issued = server.issue_password(&client, ALICE, None);
    assert_eq!(
        server.revoke(&client, issued.refresh_token(), None).status,
        200
    );
    assert_inactive(&server.introspect(&client, &issued.access_token));
}

#[test]
fn rfc7662_2_2_expired_token_is_exactly_active_false() {
    let config = ConfigBuilder::standard()
        .client(
            r#"id = "svc-ttl1"
secret = "secret-ttl1"
grant_types = ["client_credentials"]
scopes = ["read"]
default_scopes = ["read"]
access_token_ttl_secs = 1"#,
        )
        .build();
    let server = Server::start(&config);
    let client = Client::new("svc-ttl1", Some("secret-ttl1"), AuthMethod::Basic);
    let issued = server.issue_cc(&client, None);
    thread::sleep(Duration::from_millis(2500));
    assert_inactive(&server.introspect(&client, &issued.access_token));
}

#[test]
fn rfc7662_2_1_introspection_without_client_authentication_is_invalid_client() {
    let server = Server::start_default();
    let issued = server.issue_cc(&confidential_client(), None);
    let r = server.post_form(
        INTROSPECT_PATH,
        &form(&[("token", &issued.access_token)]),
        None,
    );
    assert_oauth_error(&r, 401, "invalid_client");
}

#[test]
fn rfc7662_2_1_introspection_with_wrong_secret_is_invalid_client_with_www_authenticate() {
    let server = Server::start_default();
    let issued = server.issue_cc(&confidential_client(), None);
    let r = server.introspect(
        &confidential_client().with_secret("wrong"),
        &issued.access_token,
    );
    assert_invalid_client_basic(&r, "tessera");
}

#[test]
fn rfc7662_2_1_client_secret_post_client_introspects_with_body_credentials() {
    let server = Server::start_default();
    let issued = server.issue_cc(&confidential_client(), None);
    let r = server.introspect(&post_client(), &issued.access_token);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        r.json().get("active"),
        Some(&Value::Bool(true)),
        "{}",
        r.summary()
    );
}
