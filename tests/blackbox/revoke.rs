//! `POST /api/oauth/revoke` (RFC 7009).

use crate::harness::*;

fn assert_revoke_ok(r: &Response) {
    assert_eq!(
        r.status,
        200,
        "revocation should answer 200: {}",
        r.summary()
    );
    assert_eq!(
        r.header("Content-Length"),
        Some("0"),
        "revocation answers with an empty body: {}",
        r.summary()
    );
    assert!(r.body.is_empty());
}

fn assert_invalid_token(server: &Server, token: &str) {
    let r = server.tokeninfo(token);
    assert_oauth_error(&r, 400, "invalid_token");
}

fn assert_valid(server: &Server, token: &str) {
    let r = server.tokeninfo(token);
    assert_eq!(r.status, 200, "token should be valid: {}", r.summary());
}

#[test]
fn rfc7009_2_2_revoking_an_access_token_answers_200_empty_and_invalidates_it() {
    let server = Server::start_default();
    let client = confidential_client();
    let issued = server.issue_cc(&client, None);
    assert_valid(&server, &issued.access_token);
    assert_revoke_ok(&server.revoke(&client, &issued.access_token, None));
    assert_invalid_token(&server, &issued.access_token);
}

#[test]
fn rfc7009_2_2_revoking_an_unknown_token_answers_200() {
    let server = Server::start_default();
    let r = server.revoke(&confidential_client(), "no-such-token-at-all", None);
    assert_revoke_ok(&r);
    let r = server.revoke(
        &confidential_client(),
        "no-such-token",
        Some("refresh_token"),
    );
    assert_revoke_ok(&r);
}

#[test]
fn rfc7009_2_2_revoking_twice_answers_200_both_times() {
    let server = Server::start_default();
    let client = confidential_client();
    let issued = server.issue_cc(&client, None);
    assert_revoke_ok(&server.revoke(&client, &issued.access_token, None));
    assert_revoke_ok(&server.revoke(&client, &issued.access_token, None));
}

#[test]
fn rfc7009_2_1_revocation_without_client_authentication_is_invalid_client_401() {
    let server = Server::start_default();
    let issued = server.issue_cc(&confidential_client(), None);
    let body = form(&[("token", &issued.access_token)]);
    let r = server.post_form(REVOKE_PATH, &body, None);
    assert_oauth_error(&r, 401, "invalid_client");
    assert_valid(&server, &issued.access_token);
}

#[test]
fn rfc7009_2_2_1_revocation_with_wrong_secret_is_invalid_client_with_www_authenticate() {
    let server = Server::start_default();
    let issued = server.issue_cc(&confidential_client(), None);
    let r = server.revoke(
        &confidential_client().with_secret("wrong"),
        &issued.access_token,
        None,
    );
    assert_invalid_client_basic(&r, "tessera");
    assert_valid(&server, &issued.access_token);
}

#[test]
fn rfc7009_2_1_another_clients_token_is_refused_with_403_and_stays_valid() {
    let server = Server::start_default();
    let theirs = server.issue_password(&confidential_client(), ALICE, None);
    let r = server.revoke(&other_client(), &theirs.access_token, None);
    assert_oauth_error(&r, 403, "unauthorized_client");
    assert_valid(&server, &theirs.access_token);
    let r = server.revoke(&other_client(), theirs.refresh_token(), None);
    assert_oauth_error(&r, 403, "unauthorized_client");
    server.issue_refresh(&confidential_client(), theirs.refresh_token(), None);
    // An unknown token is still 200 (RFC 7009 section 2.2).
    assert_revoke_ok(&server.revoke(&other_client(), "no-such-token", None));
}

#[test]
fn rfc7009_2_1_revoking_a_refresh_token_revokes_access_tokens_of_the_same_grant() {
    let server = Server::start_default();
    let client = confidential_client();
    let first = server.issue_password(&client, ALICE, None);
    let second = server.issue_refresh(&client, first.refresh_token(), None);
    let third = server.issue_refresh(&client, second.refresh_token(), None);
    // An unrelated grant of the same client and user is not touched.
    let unrelated = server.issue_password(&client, ALICE, None);

    assert_revoke_ok(&server.revoke(&client, third.refresh_token(), Some("refresh_token")));

    assert_invalid_token(&server, &first.access_token);
    assert_invalid_token(&server, &second.access_token);
    assert_invalid_token(&server, &third.access_token);
    let r = server.refresh(&client, third.refresh_token(), None);
    assert_token_error(&r, 400, "invalid_grant");

    assert_valid(&server, &unrelated.access_token);
    server.issue_refresh(&client, unrelated.refresh_token(), None);
}

#[test]
fn rfc7009_2_1_revoking_a_preserved_refresh_token_revokes_every_access_token_of_the_grant() {
    let server = Server::start_default();
    let client = preserve_client();
    let first = server.issue_password(&client, ALICE, None);
    let second = server.issue_refresh(&client, first.refresh_token(), None);
    assert_revoke_ok(&server.revoke(&client, first.refresh_token(), None));
    assert_invalid_token(&server, &first.access_token);
    assert_invalid_token(&server, &second.access_token);
    let r = server.refresh(&client, first.refresh_token(), None);
    assert_token_error(&r, 400, "invalid_grant");
}

#[test]
fn rfc7009_2_1_revoking_an_access_token_leaves_its_refresh_token_usable() {
    let server = Server::start_default();
    let client = confidential_client();
    let issued = server.issue_password(&client, ALICE, None);
    assert_revoke_ok(&server.revoke(&client, &issued.access_token, Some("access_token")));
    assert_invalid_token(&server, &issued.access_token);
    let next = server.issue_refresh(&client, issued.refresh_token(), None);
    assert_valid(&server, &next.access_token);
}

#[test]
fn rfc7009_2_1_a_wrong_token_type_hint_still_finds_the_token() {
    let server = Server::start_default();
    let client = confidential_client();
    let issued = server.issue_password(&client, ALICE, None);
    // Access token with a refresh_token hint.
    assert_revoke_ok(&server.revoke(&client, &issued.access_token, Some("refresh_token")));
    assert_invalid_token(&server, &issued.access_token);
    // Refresh token with an access_token hint.
    assert_revoke_ok(&server.revoke(&client, issued.refresh_token(), Some("access_token")));
    let r = server.refresh(&client, issued.refresh_token(), None);
    assert_token_error(&r, 400, "invalid_grant");
}

#[test]
fn rfc7009_2_1_revoking_one_access_token_leaves_other_tokens_of_the_client_valid() {
    let server = Server::start_default();
    let client = confidential_client();
    let a = server.issue_cc(&client, None);
    let b = server.issue_cc(&client, None);
    assert_revoke_ok(&server.revoke(&client, &a.access_token, None));
    assert_invalid_token(&server, &a.access_token);
    assert_valid(&server, &b.access_token);
}

#[test]
fn rfc7009_2_1_client_secret_post_client_revokes_with_body_credentials() {
    let server = Server::start_default();
    let client = post_client();
    let issued = server.issue_cc(&client, None);
    assert_revoke_ok(&server.revoke(&client, &issued.access_token, None));
    assert_invalid_token(&server, &issued.access_token);
}

#[test]
fn rfc7009_2_2_1_missing_token_parameter_is_invalid_request() {
    let server = Server::start_default();
    let r = server.post_as(REVOKE_PATH, &confidential_client(), &[]);
    assert_oauth_error(&r, 400, "invalid_request");
}

#[test]
fn revoked_access_token_is_inactive_at_introspection() {
    let server = Server::start_default();
    let client = confidential_client();
    let issued = server.issue_cc(&client, None);
    assert_revoke_ok(&server.revoke(&client, &issued.access_token, None));
    let r = server.introspect(&client, &issued.access_token);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json(), serde_json::json!({"active": false}));
}
