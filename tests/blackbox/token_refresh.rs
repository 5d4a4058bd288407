//! `grant_type=refresh_token` (RFC 6749 §6) and the refresh policies `rotate`, `none` and
//! `preserve`.

use std::thread;
use std::time::Duration;

use crate::harness::*;

fn assert_tokeninfo_valid(server: &Server, token: &str) {
    let r = server.tokeninfo(token);
    assert_eq!(
        r.status,
        200,
        "token should still be valid: {}",
        r.summary()
    );
}

#[test]
fn rfc6749_6_rotate_policy_issues_a_new_pair_and_the_old_refresh_token_is_invalid_grant() {
    let server = Server::start_default();
    let client = confidential_client();
    let first = server.issue_password(&client, ALICE, None);
    let second = server.issue_refresh(&client, first.refresh_token(), None);
    assert_token_shape(&second.access_token, 54);
    assert_token_shape(second.refresh_token(), 46);
    assert_ne!(second.access_token, first.access_token);
    assert_ne!(second.refresh_token(), first.refresh_token());
    assert_eq!(second.expires_in, 3600);
    assert_eq!(second.token_type, "Bearer");

    // The rotated refresh token works, once.
    let third = server.issue_refresh(&client, second.refresh_token(), None);
    assert_ne!(third.refresh_token(), second.refresh_token());
    let r = server.refresh(&client, second.refresh_token(), None);
    assert_token_error(&r, 400, "invalid_grant");

    let r = server.refresh(&client, first.refresh_token(), None);
    assert_token_error(&r, 400, "invalid_grant");
}

#[test]
fn rfc9700_4_14_2_replaying_a_rotated_refresh_token_revokes_the_whole_grant() {
    let server = Server::start_default();
    let client = confidential_client();
    let first = server.issue_password(&client, ALICE, None);
    let second = server.issue_refresh(&client, first.refresh_token(), None);
    let unrelated = server.issue_password(&client, ALICE, None);

    // The old token comes back (a thief, or a client that kept it): refused, and every
    // token of its grant is revoked — the one that replaced it and the access tokens.
    let r = server.refresh(&client, first.refresh_token(), None);
    assert_token_error(&r, 400, "invalid_grant");
    let r = server.refresh(&client, second.refresh_token(), None);
    assert_token_error(&r, 400, "invalid_grant");
    for t in [&first.access_token, &second.access_token] {
        assert_token_error(&server.tokeninfo(t), 400, "invalid_token");
    }
    assert_eq!(
        server
            .metrics()
            .value("tessera_refresh_token_reuse_total", &[]),
        1.0
    );
    // Other grants of the same user and client are untouched.
    assert_tokeninfo_valid(&server, &unrelated.access_token);
    server.issue_refresh(&client, unrelated.refresh_token(), None);
    // Nothing a replay says is logged: not the token.
    assert!(
        !server.stderr().contains(first.refresh_token()),
        "the replayed token is in the log"
    );
    assert!(
        server.stderr().contains("presented again"),
        "{}",
        server.stderr()
    );
}

#[test]
fn rfc6749_6_access_tokens_issued_before_a_refresh_stay_valid() {
    let server = Server::start_default();
    for client in [
        confidential_client(),
        preserve_client(),
        none_policy_client(),
    ] {
        let first = server.issue_password(&client, ALICE, None);
        let second = server.issue_refresh(&client, first.refresh_token(), None);
        assert_tokeninfo_valid(&server, &first.access_token);
        assert_tokeninfo_valid(&server, &second.access_token);
    }
}

#[test]
fn none_policy_issues_access_token_only_and_the_old_refresh_token_is_invalid_grant() {
    let server = Server::start_default();
    let client = none_policy_client();
    let first = server.issue_password(&client, ALICE, None);
    let second = server.issue_refresh(&client, first.refresh_token(), None);
    assert_token_shape(&second.access_token, 54);
    assert!(
        second.refresh_token.is_none(),
        "refresh_policy none returned a refresh_token: {}",
        second.response.summary()
    );
    let r = server.refresh(&client, first.refresh_token(), None);
    assert_token_error(&r, 400, "invalid_grant");
}

#[test]
fn preserve_policy_returns_the_same_refresh_token_which_stays_valid() {
    let server = Server::start_default();
    let client = preserve_client();
    let first = server.issue_password(&client, ALICE, None);
    let second = server.issue_refresh(&client, first.refresh_token(), None);
    assert_eq!(second.refresh_token(), first.refresh_token());
    assert_ne!(second.access_token, first.access_token);
    let third = server.issue_refresh(&client, first.refresh_token(), None);
    assert_eq!(third.refresh_token(), first.refresh_token());
    assert_ne!(third.access_token, second.access_token);
}

#[test]
fn global_refresh_policy_applies_to_clients_without_override() {
    let config = ConfigBuilder::standard()
        .tokens("refresh_policy", "\"preserve\"")
        .build();
    let server = Server::start(&config);
    let first = server.issue_password(&confidential_client(), ALICE, None);
    let second = server.issue_refresh(&confidential_client(), first.refresh_token(), None);
    assert_eq!(second.refresh_token(), first.refresh_token());
    // The per-client override still wins.
    let first = server.issue_password(&none_policy_client(), ALICE, None);
    let second = server.issue_refresh(&none_policy_client(), first.refresh_token(), None);
    assert!(
        second.refresh_token.is_none(),
        "{}",
        second.response.summary()
    );
}

#[test]
fn rfc6749_6_refresh_may_narrow_the_scope() {
    let server = Server::start_default();
    let client = confidential_client();
    let first = server.issue_password(&client, ALICE, Some("read write"));
    let narrowed = server.issue_refresh(&client, first.refresh_token(), Some("read"));
    assert_eq!(narrowed.scope, "read");
    let info = server.tokeninfo(&narrowed.access_token);
    assert_eq!(info.status, 200, "{}", info.summary());
    assert_eq!(info.json_str("scope"), "read");
}

#[test]
fn rfc6749_6_refresh_asking_for_scope_beyond_the_original_grant_is_invalid_scope() {
    let server = Server::start_default();
    let client = confidential_client();
    // The client may have "write", but this grant was only for "read".
    let first = server.issue_password(&client, ALICE, Some("read"));
    let r = server.refresh(&client, first.refresh_token(), Some("read write"));
    assert_token_error(&r, 400, "invalid_scope");
    let r = server.refresh(&client, first.refresh_token(), Some("admin"));
    assert_token_error(&r, 400, "invalid_scope");
}

#[test]
fn rfc6749_6_refresh_without_scope_keeps_the_originally_granted_scope() {
    let server = Server::start_default();
    let client = confidential_client();
    let first = server.issue_password(&client, ALICE, Some("read write"));
    let second = server.issue_refresh(&client, first.refresh_token(), None);
    assert_eq!(scope_set(&second.scope), scope_set("read write"));
}

#[test]
fn rfc6749_6_refresh_keeps_the_user() {
    let server = Server::start_default();
    let first = server.issue_password(&confidential_client(), BOB, None);
    let second = server.issue_refresh(&confidential_client(), first.refresh_token(), None);
    let info = server.tokeninfo(&second.access_token);
    assert_eq!(info.status, 200, "{}", info.summary());
    assert_eq!(info.json_str("user_id"), "bob");
    assert_eq!(info.json_str("audience"), "svc-a");
}

#[test]
fn rfc6749_5_2_unknown_refresh_token_is_invalid_grant() {
    let server = Server::start_default();
    let r = server.refresh(
        &confidential_client(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        None,
    );
    assert_token_error(&r, 400, "invalid_grant");
}

#[test]
fn rfc6749_5_2_refresh_token_of_another_client_is_invalid_grant() {
    let server = Server::start_default();
    let theirs = server.issue_password(&confidential_client(), ALICE, None);
    let r = server.refresh(&other_client(), theirs.refresh_token(), None);
    assert_token_error(&r, 400, "invalid_grant");
}

#[test]
fn rfc6749_6_missing_refresh_token_parameter_is_invalid_request() {
    let server = Server::start_default();
    let r = server.token(&confidential_client(), &[("grant_type", "refresh_token")]);
    assert_token_error(&r, 400, "invalid_request");
}

#[test]
fn rfc6749_6_access_token_used_as_refresh_token_is_invalid_grant() {
    let server = Server::start_default();
    let issued = server.issue_password(&confidential_client(), ALICE, None);
    let r = server.refresh(&confidential_client(), &issued.access_token, None);
    assert_token_error(&r, 400, "invalid_grant");
}

#[test]
fn public_client_refreshes_with_client_id_only() {
    let server = Server::start_default();
    let first = server.issue_password(&public_client(), ALICE, None);
    let second = server.issue_refresh(&public_client(), first.refresh_token(), None);
    assert_token_shape(&second.access_token, 54);
}

#[test]
fn refreshed_tokens_use_per_client_lengths_and_ttl() {
    let server = Server::start_default();
    let first = server.issue_password(&short_token_client(), ALICE, None);
    let second = server.issue_refresh(&short_token_client(), first.refresh_token(), None);
    assert_token_shape(&second.access_token, 40);
    assert_eq!(second.expires_in, 120);
    assert_token_shape(second.refresh_token(), 32);
}

#[test]
fn rfc6749_5_2_expired_refresh_token_is_invalid_grant() {
    let config = ConfigBuilder::standard()
        .client(
            r#"id = "svc-rt-ttl1"
secret = "secret-rt-ttl1"
grant_types = ["password", "refresh_token"]
scopes = ["read"]
default_scopes = ["read"]
refresh_token_ttl_secs = 1"#,
        )
        .build();
    let server = Server::start(&config);
    let client = Client::new("svc-rt-ttl1", Some("secret-rt-ttl1"), AuthMethod::Basic);
    let issued = server.issue_password(&client, ALICE, None);
    thread::sleep(Duration::from_millis(2500));
    let r = server.refresh(&client, issued.refresh_token(), None);
    assert_token_error(&r, 400, "invalid_grant");
}

#[test]
fn rfc6749_6_rotated_refresh_token_keeps_the_original_scope_after_a_narrowed_refresh() {
    // §6: "If a new refresh token is issued, the refresh token scope MUST be identical to
    // that of the refresh token included by the client in the request."
    let server = Server::start_default();
    let client = confidential_client();
    let first = server.issue_password(&client, ALICE, Some("read write"));
    let narrowed = server.issue_refresh(&client, first.refresh_token(), Some("read"));
    assert_eq!(narrowed.scope, "read");
    let widened_again = server.issue_refresh(&client, narrowed.refresh_token(), Some("read write"));
    assert_eq!(scope_set(&widened_again.scope), scope_set("read write"));
    let unspecified = server.issue_refresh(&client, widened_again.refresh_token(), None);
    assert_eq!(scope_set(&unspecified.scope), scope_set("read write"));
}

#[test]
fn rfc6749_6_preserved_refresh_token_keeps_the_original_scope_after_a_narrowed_refresh() {
    let server = Server::start_default();
    let client = preserve_client();
    let first = server.issue_password(&client, ALICE, Some("read write"));
    let narrowed = server.issue_refresh(&client, first.refresh_token(), Some("write"));
    assert_eq!(narrowed.scope, "write");
    let again = server.issue_refresh(&client, first.refresh_token(), None);
    assert_eq!(scope_set(&again.scope), scope_set("read write"));
}

#[test]
fn rfc6749_6_refresh_narrowed_to_a_scope_set_not_issued_before_is_answered() {
    // "write" alone was never granted before this refresh, so the server meets this scope
    // set for the first time while handling the refresh.
    let server = Server::start_default();
    let client = confidential_client();
    let first = server.issue_password(&client, ALICE, Some("read write"));
    let narrowed = server.issue_refresh(&client, first.refresh_token(), Some("write"));
    assert_eq!(narrowed.scope, "write");
    // The server is still answering afterwards.
    assert_eq!(server.get("/health").status, 200);
    server.issue_cc(&client, None);
}

/// At most one of eight racing uses wins, not exactly one: a loser that reads the used
/// marker the winner left is a replay (RFC 9700 §4.14.2) and revokes the grant, and when
/// that lands between the winner's consume and its joining the grant, the winner is refused
/// too. Which of the two happened cannot be told from outside; that a token is never used
/// twice can.
#[test]
fn rotate_policy_concurrent_uses_of_one_refresh_token_succeed_at_most_once() {
    let server = Server::start_default();
    let client = confidential_client();
    let first = server.issue_password(&client, ALICE, None);
    let rt = first.refresh_token().to_string();
    let addr = server.addr;
    let body = form(&[("grant_type", "refresh_token"), ("refresh_token", &rt)]);
    let auth = basic_auth("svc-a", "secret-a");
    // Connect first, then fire all requests at once.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (body, auth, barrier) = (body.clone(), auth.clone(), barrier.clone());
            thread::spawn(move || {
                let mut conn = Conn::connect(addr);
                barrier.wait();
                conn.roundtrip(&raw_form_post(
                    TOKEN_PATH,
                    &body,
                    &[("Authorization", &auth)],
                ))
            })
        })
        .collect();
    let responses: Vec<Response> = handles
        .into_iter()
        .map(|h| h.join().expect("client thread"))
        .collect();
    let ok = responses.iter().filter(|r| r.status == 200).count();
    assert!(ok <= 1, "at most one refresh may win the race, {ok} did");
    for r in responses.iter().filter(|r| r.status != 200) {
        assert_token_error(r, 400, "invalid_grant");
    }
    // Used up whatever the race's outcome.
    let again = Conn::connect(addr).roundtrip(&raw_form_post(
        TOKEN_PATH,
        &body,
        &[("Authorization", &auth)],
    ));
    assert_token_error(&again, 400, "invalid_grant");
}
