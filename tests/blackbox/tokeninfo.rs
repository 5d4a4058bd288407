//! `GET|POST /api/oauth/tokeninfo`: facts about an access token (token in the query, the
//! form body or an `Authorization: Bearer` header, RFC 6750 §2).

use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

fn assert_client_credentials_info(r: &Response, ttl: i64) {
    assert_eq!(r.status, 200, "{}", r.summary());
    let ct = r.header("Content-Type").unwrap_or("");
    assert!(
        ct.to_ascii_lowercase().starts_with("application/json"),
        "{}",
        r.summary()
    );
    assert_eq!(r.json_str("audience"), "svc-a");
    assert_eq!(r.json_str("scope"), "read");
    assert_eq!(r.json_str("token_type"), "Bearer");
    let left = r.json_i64("expires_in");
    assert!(
        left <= ttl && left >= ttl - 30,
        "expires_in {left} should be just under {ttl}"
    );
    assert_eq!(r.json_str("department"), "Engineering");
    assert!(
        r.json().get("user_id").is_none(),
        "client_credentials token has no user: {}",
        r.summary()
    );
}

#[test]
fn tokeninfo_get_with_access_token_query_parameter() {
    let server = Server::start_default();
    let issued = server.issue_cc(&confidential_client(), None);
    let r = server.tokeninfo(&issued.access_token);
    assert_client_credentials_info(&r, 3600);
}

#[test]
fn tokeninfo_post_with_access_token_form_field() {
    let server = Server::start_default();
    let issued = server.issue_cc(&confidential_client(), None);
    let r = server.post_form(
        TOKENINFO_PATH,
        &form(&[("access_token", &issued.access_token)]),
        None,
    );
    assert_client_credentials_info(&r, 3600);
}

#[test]
fn rfc6750_2_1_tokeninfo_get_with_bearer_header() {
    let server = Server::start_default();
    let issued = server.issue_cc(&confidential_client(), None);
    let bearer = format!("Bearer {}", issued.access_token);
    let r = server.get_with(TOKENINFO_PATH, &[("Authorization", &bearer)]);
    assert_client_credentials_info(&r, 3600);
}

#[test]
fn rfc6750_2_1_tokeninfo_post_with_bearer_header_and_no_body() {
    let server = Server::start_default();
    let issued = server.issue_cc(&confidential_client(), None);
    let bearer = format!("Bearer {}", issued.access_token);
    let r = server.send_raw(&raw_request(
        "POST",
        TOKENINFO_PATH,
        &[("Authorization", &bearer)],
        b"",
    ));
    assert_client_credentials_info(&r, 3600);
}

#[test]
fn tokeninfo_of_password_token_has_user_id() {
    let server = Server::start_default();
    let issued = server.issue_password(&confidential_client(), ALICE, Some("read write"));
    let r = server.tokeninfo(&issued.access_token);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json_str("user_id"), "alice");
    assert_eq!(r.json_str("audience"), "svc-a");
    assert_eq!(scope_set(&r.json_str("scope")), scope_set("read write"));
    assert_eq!(r.json_str("department"), "Engineering");
}

#[test]
fn tokeninfo_expires_in_follows_the_per_client_ttl() {
    let server = Server::start_default();
    let issued = server.issue_cc(&short_token_client(), None);
    let r = server.tokeninfo(&issued.access_token);
    assert_eq!(r.status, 200, "{}", r.summary());
    let left = r.json_i64("expires_in");
    assert!(
        (90..=120).contains(&left),
        "expires_in {left} should be <= 120"
    );
    assert_eq!(r.json_str("audience"), "svc-short");
}

#[test]
fn tokeninfo_returns_every_metadata_field_json_escaped() {
    let server = Server::start_default();
    let issued = server.issue_cc(&metadata_client(), None);
    let r = server.tokeninfo(&issued.access_token);
    assert_eq!(r.status, 200, "{}", r.summary());
    let json = r.json();
    assert_eq!(json.get("department"), Some(&Value::from("Engineering")));
    assert_eq!(json.get("cost_center"), Some(&Value::from("CC-42")));
    assert_eq!(json.get("note"), Some(&Value::from("say \"hi\"\\n<ok>")));
    assert_eq!(json.get("audience"), Some(&Value::from("svc-meta")));
}

#[test]
fn rfc6750_3_1_unknown_token_is_invalid_token_400() {
    let server = Server::start_default();
    let r = server.tokeninfo("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_oauth_error(&r, 400, "invalid_token");
}

#[test]
fn rfc6750_3_1_refresh_token_is_not_an_access_token() {
    let server = Server::start_default();
    let issued = server.issue_password(&confidential_client(), ALICE, None);
    let r = server.tokeninfo(issued.refresh_token());
    assert_oauth_error(&r, 400, "invalid_token");
}

#[test]
fn rfc6750_3_1_revoked_token_is_invalid_token() {
    let server = Server::start_default();
    let issued = server.issue_cc(&confidential_client(), None);
    let r = server.revoke(&confidential_client(), &issued.access_token, None);
    assert_eq!(r.status, 200, "{}", r.summary());
    let r = server.tokeninfo(&issued.access_token);
    assert_oauth_error(&r, 400, "invalid_token");
}

#[test]
fn rfc6750_3_1_expired_token_is_invalid_token() {
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
    assert_eq!(issued.expires_in, 1);
    thread::sleep(Duration::from_millis(2500));
    let r = server.tokeninfo(&issued.access_token);
    assert_oauth_error(&r, 400, "invalid_token");
}

#[test]
fn rfc6750_3_1_missing_token_is_invalid_request() {
    let server = Server::start_default();
    let r = server.get(TOKENINFO_PATH);
    assert_oauth_error(&r, 400, "invalid_request");
    let r = server.post_form(TOKENINFO_PATH, "", None);
    assert_oauth_error(&r, 400, "invalid_request");
}

#[test]
fn rfc6750_2_token_in_query_and_bearer_header_is_invalid_request() {
    let server = Server::start_default();
    let issued = server.issue_cc(&confidential_client(), None);
    let bearer = format!("Bearer {}", issued.access_token);
    let r = server.get_with(
        &format!("{TOKENINFO_PATH}?access_token={}", issued.access_token),
        &[("Authorization", &bearer)],
    );
    assert_oauth_error(&r, 400, "invalid_request");
}

#[test]
fn rfc6750_2_token_in_form_and_bearer_header_is_invalid_request() {
    let server = Server::start_default();
    let issued = server.issue_cc(&confidential_client(), None);
    let bearer = format!("Bearer {}", issued.access_token);
    let r = server.post_form_with(
        TOKENINFO_PATH,
        &form(&[("access_token", &issued.access_token)]),
        &[("Authorization", &bearer)],
    );
    assert_oauth_error(&r, 400, "invalid_request");
}

#[test]
fn tokeninfo_with_access_token_repeated_in_query_is_invalid_request() {
    let server = Server::start_default();
    let issued = server.issue_cc(&confidential_client(), None);
    let t = &issued.access_token;
    let r = server.get(&format!(
        "{TOKENINFO_PATH}?access_token={t}&access_token={t}"
    ));
    assert_oauth_error(&r, 400, "invalid_request");
}

#[test]
fn tokeninfo_distinguishes_tokens_of_different_clients() {
    let server = Server::start_default();
    let a = server.issue_cc(&confidential_client(), None);
    let b = server.issue_cc(&other_client(), Some("write"));
    let ra = server.tokeninfo(&a.access_token);
    let rb = server.tokeninfo(&b.access_token);
    assert_eq!(ra.json_str("audience"), "svc-a");
    assert_eq!(ra.json_str("department"), "Engineering");
    assert_eq!(rb.json_str("audience"), "svc-b");
    assert_eq!(rb.json_str("department"), "Sales");
    assert_eq!(rb.json_str("scope"), "write");
}

#[test]
fn tokeninfo_put_is_method_not_allowed_with_allow_get_head_post() {
    let server = Server::start_default();
    let r = server.send_raw(&raw_request("PUT", TOKENINFO_PATH, &[], b"x"));
    assert_eq!(r.status, 405, "{}", r.summary());
    let allow: Vec<String> = r
        .header("Allow")
        .unwrap_or("")
        .split(',')
        .map(|m| m.trim().to_ascii_uppercase())
        .collect();
    assert_eq!(allow, vec!["GET", "HEAD", "POST"], "{}", r.summary());
}

#[test]
fn rfc6750_2_1_bearer_scheme_name_is_case_insensitive() {
    let server = Server::start_default();
    let issued = server.issue_cc(&confidential_client(), None);
    let bearer = format!("bearer {}", issued.access_token);
    let r = server.get_with(TOKENINFO_PATH, &[("Authorization", &bearer)]);
    assert_client_credentials_info(&r, 3600);
}

#[test]
fn configured_token_type_is_reported_by_token_tokeninfo_and_introspection() {
    let config = ConfigBuilder::standard()
        .tokens("token_type", "\"Tessera\"")
        .build();
    let server = Server::start(&config);
    let issued = server.issue_cc(&confidential_client(), None);
    assert_eq!(issued.token_type, "Tessera");
    assert_eq!(
        server
            .tokeninfo(&issued.access_token)
            .json_str("token_type"),
        "Tessera"
    );
    assert_eq!(
        server
            .introspect(&confidential_client(), &issued.access_token)
            .json_str("token_type"),
        "Tessera"
    );
}

#[test]
fn very_long_or_empty_tokens_are_rejected_cleanly() {
    let server = Server::start_default();
    let long = "A".repeat(5000);
    let r = server.tokeninfo(&long);
    assert_oauth_error(&r, 400, "invalid_token");
    let r = server.get(&format!("{TOKENINFO_PATH}?access_token="));
    assert_eq!(r.status, 400, "{}", r.summary());
    let r = server.get_with(TOKENINFO_PATH, &[("Authorization", "Bearer ")]);
    assert_eq!(r.status, 400, "{}", r.summary());
    assert_eq!(server.get("/health").status, 200);
}
