//! `grant_type=password` (RFC 6749 §4.3).

use crate::harness::*;

#[test]
fn rfc6749_4_3_3_password_grant_issues_access_and_refresh_token() {
    let server = Server::start_default();
    let issued = server.issue_password(&confidential_client(), ALICE, None);
    assert_token_shape(&issued.access_token, 54);
    assert_token_shape(issued.refresh_token(), 46);
    assert_ne!(issued.access_token, issued.refresh_token());
    assert_eq!(issued.token_type, "Bearer");
    assert_eq!(issued.expires_in, 3600);
    assert_eq!(issued.scope, "read");
    let r = &issued.response;
    assert!(
        r.header_has_token("Cache-Control", "no-store"),
        "{}",
        r.summary()
    );
    assert!(r.header_has_token("Pragma", "no-cache"), "{}", r.summary());
}

#[test]
fn rfc6749_4_3_3_password_grant_without_refresh_token_grant_returns_no_refresh_token() {
    let server = Server::start_default();
    let issued = server.issue_password(&no_refresh_client(), ALICE, None);
    assert_token_shape(&issued.access_token, 54);
    assert!(
        issued.refresh_token.is_none(),
        "client without the refresh_token grant got a refresh token: {}",
        issued.response.summary()
    );
}

#[test]
fn rfc6749_4_3_2_password_grant_grants_requested_scope() {
    let server = Server::start_default();
    let issued = server.issue_password(&confidential_client(), ALICE, Some("read write"));
    assert_eq!(scope_set(&issued.scope), scope_set("read write"));
}

#[test]
fn rfc6749_5_2_password_grant_with_scope_outside_client_scopes_is_invalid_scope() {
    let server = Server::start_default();
    let r = server.password(&confidential_client(), ALICE, Some("read admin"));
    assert_token_error(&r, 400, "invalid_scope");
}

#[test]
fn rfc6749_5_2_wrong_password_is_invalid_grant() {
    let server = Server::start_default();
    let r = server.password(
        &confidential_client(),
        ("alice", "not-alices-password"),
        None,
    );
    assert_token_error(&r, 400, "invalid_grant");
}

#[test]
fn rfc6749_5_2_unknown_user_is_invalid_grant() {
    let server = Server::start_default();
    let r = server.password(&confidential_client(), ("mallory", "alice-pw"), None);
    assert_token_error(&r, 400, "invalid_grant");
}

#[test]
fn rfc6749_5_2_another_users_password_is_invalid_grant() {
    let server = Server::start_default();
    let r = server.password(&confidential_client(), ("bob", ALICE.1), None);
    assert_token_error(&r, 400, "invalid_grant");
}

#[test]
fn rfc6749_4_3_2_missing_username_is_invalid_request() {
    let server = Server::start_default();
    let r = server.token(
        &confidential_client(),
        &[("grant_type", "password"), ("password", ALICE.1)],
    );
    assert_token_error(&r, 400, "invalid_request");
}

#[test]
fn rfc6749_4_3_2_missing_password_is_invalid_request() {
    let server = Server::start_default();
    let r = server.token(
        &confidential_client(),
        &[("grant_type", "password"), ("username", ALICE.0)],
    );
    assert_token_error(&r, 400, "invalid_request");
}

#[test]
fn rfc6749_4_3_2_form_encoded_password_with_reserved_characters_is_decoded() {
    // bob's password is `p@ss w0rd&=+%`: '+', '&', '=', '%' and ' ' must survive form decoding.
    let server = Server::start_default();
    let issued = server.issue_password(&confidential_client(), BOB, None);
    let info = server.tokeninfo(&issued.access_token);
    assert_eq!(info.status, 200, "{}", info.summary());
    assert_eq!(info.json_str("user_id"), "bob");
}

#[test]
fn password_grant_with_plus_decoded_as_space_rejects_literal_plus_password() {
    // `p@ss+w0rd...` with a literal '+' encoded as %2B is a different password from bob's.
    let server = Server::start_default();
    let r = server.password(&confidential_client(), ("bob", "p@ss+w0rd&=+%"), None);
    assert_token_error(&r, 400, "invalid_grant");
}

#[test]
fn password_hash_user_authenticates_with_argon2id_password() {
    let server = Server::start(&ConfigBuilder::standard().user(CAROL_USER).build());
    let issued = server.issue_password(&confidential_client(), ("carol", CAROL_PASSWORD), None);
    let info = server.tokeninfo(&issued.access_token);
    assert_eq!(info.status, 200, "{}", info.summary());
    assert_eq!(info.json_str("user_id"), "carol");
    let r = server.password(&confidential_client(), ("carol", "wonderland-3"), None);
    assert_token_error(&r, 400, "invalid_grant");
    // An unknown user is still invalid_grant when argon2id users exist (decoy check).
    let r = server.password(&confidential_client(), ("mallory", CAROL_PASSWORD), None);
    assert_token_error(&r, 400, "invalid_grant");
}

#[test]
fn public_client_password_grant_with_client_id_only_issues_tokens() {
    let server = Server::start_default();
    let issued = server.issue_password(&public_client(), ALICE, None);
    assert_token_shape(&issued.access_token, 54);
    assert_token_shape(issued.refresh_token(), 46);
}

#[test]
fn per_client_refresh_token_length_overrides_the_global() {
    let server = Server::start_default();
    let issued = server.issue_password(&short_token_client(), ALICE, None);
    assert_token_shape(&issued.access_token, 40);
    assert_eq!(issued.expires_in, 120);
    assert_token_shape(issued.refresh_token(), 32);
}

#[test]
fn global_refresh_token_length_applies_to_clients_without_override() {
    let config = ConfigBuilder::standard()
        .tokens("refresh_token_length", "60")
        .build();
    let server = Server::start(&config);
    let issued = server.issue_password(&confidential_client(), ALICE, None);
    assert_token_shape(issued.refresh_token(), 60);
}

#[test]
fn password_grant_tokens_are_tied_to_the_user() {
    let server = Server::start_default();
    let a = server.issue_password(&confidential_client(), ALICE, None);
    let b = server.issue_password(&confidential_client(), BOB, None);
    assert_eq!(
        server.tokeninfo(&a.access_token).json_str("user_id"),
        "alice"
    );
    assert_eq!(server.tokeninfo(&b.access_token).json_str("user_id"), "bob");
}
