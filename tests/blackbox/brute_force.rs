//! Authentication failures and brute force (issue 11; RFC 6749 §4.3.2, §10.10; RFC 6585 §4):
//! every client authentication failure answers the same, and the `[security]` guard locks
//! out an identity (client id or username) from an address, or a whole address, after too
//! many failures — 429 with `Retry-After`, even with the right credentials.
//!
//! The servers here run with small limits (3 failures per identity, 6 per address, 2 s
//! lockouts). Every connection comes from 127.0.0.1 unless it is opened from `OTHER_PEER`.

use crate::harness::*;
use std::net::{IpAddr, Ipv4Addr};
use std::thread;
use std::time::Duration;

const LIMIT: usize = 3;
const LOCKOUT_SECS: u64 = 2;
const OTHER_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The standard config with small limits.
fn guarded_server() -> Server {
    let config = ConfigBuilder::standard()
        .security("failed_auth_limit", &LIMIT.to_string())
        .security("failed_auth_window_secs", "60")
        .security("lockout_secs", &LOCKOUT_SECS.to_string())
        .security("failed_auth_limit_per_address", "6")
        .build();
    Server::start(&config)
}

/// The 429 of a lockout: JSON error, `Retry-After` within the lockout, never cached.
fn assert_locked_out(r: &Response) {
    assert_token_error(r, 429, "temporarily_unavailable");
    assert_eq!(
        r.json_str("error_description"),
        "too many failed authentication attempts; retry later"
    );
    let retry: u64 = r
        .header("Retry-After")
        .unwrap_or_else(|| panic!("429 without Retry-After: {}", r.summary()))
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is not seconds: {}", r.summary()));
    assert!((1..=LOCKOUT_SECS).contains(&retry), "{}", r.summary());
}

/// Sleeps past the `Retry-After` of `r`.
fn wait_out(r: &Response) {
    let secs: u64 = r
        .header("Retry-After")
        .and_then(|v| v.parse().ok())
        .unwrap_or(LOCKOUT_SECS);
    thread::sleep(Duration::from_secs(secs) + Duration::from_millis(200));
}

/// A successful client_credentials issuance on a connection from `OTHER_PEER`.
fn issue_cc_from_other_peer(server: &Server, client: &Client) -> Issued {
    Issued::from_response(server.post_as_from(
        OTHER_PEER,
        TOKEN_PATH,
        client,
        &[("grant_type", "client_credentials")],
    ))
}

/// `LIMIT` wrong secrets for `client`: each a plain 401.
fn fail_client(server: &Server, client: &Client) {
    for _ in 0..LIMIT {
        let r = server.client_credentials(&client.with_secret("wrong"), None);
        assert_token_error(&r, 401, "invalid_client");
    }
}

/// A guarded server on which `svc-a` (the right secret, from 127.0.0.1) is locked out after
/// `LIMIT` wrong secrets, and the 429 that says so.
fn svc_a_locked_out() -> (Server, Response) {
    locked_out_after(
        |s| fail_client(s, &confidential_client()),
        |s| s.client_credentials(&confidential_client(), None),
    )
}

/// A guarded server on which `alice` (the right password, through `svc-a`, from
/// 127.0.0.1) is locked out after `LIMIT` wrong passwords, and the 429 that says so.
fn alice_locked_out() -> (Server, Response) {
    locked_out_after(
        |s| fail_user(s, ALICE.0),
        |s| s.password(&confidential_client(), ALICE, None),
    )
}

/// Starts a guarded server, runs `fail` on it, and checks that `attempt` is then refused
/// with the lockout's 429.
fn locked_out_after(
    fail: impl Fn(&Server),
    attempt: impl Fn(&Server) -> Response,
) -> (Server, Response) {
    let server = guarded_server();
    fail(&server);
    let r = attempt(&server);
    assert_locked_out(&r);
    (server, r)
}

/// `LIMIT` wrong passwords for `user` through `svc-a`: each a plain `invalid_grant`.
fn fail_user(server: &Server, user: &str) {
    for _ in 0..LIMIT {
        let r = server.password(&confidential_client(), (user, "wrong"), None);
        assert_token_error(&r, 400, "invalid_grant");
    }
}

#[test]
fn issue_11_unknown_client_wrong_secret_wrong_method_and_no_credentials_answer_byte_identically() {
    let server = Server::start_default();
    let attempts = [
        (
            "unknown client",
            Client::new("no-such-client", Some("x"), AuthMethod::Basic),
        ),
        ("wrong secret", confidential_client().with_secret("wrong")),
        // The right secret, in a method the client is not registered for.
        (
            "basic client in the body",
            confidential_client().using(AuthMethod::Post),
        ),
        (
            "post client with Basic",
            post_client().using(AuthMethod::Basic),
        ),
        (
            "confidential client without secret",
            confidential_client().using(AuthMethod::None),
        ),
        (
            "unknown client in the body",
            Client::new("no-such-client", Some("x"), AuthMethod::Post),
        ),
    ];
    let answers: Vec<(&str, Response)> = attempts
        .iter()
        .map(|(what, client)| (*what, server.client_credentials(client, None)))
        .collect();
    let no_credentials = server.post_form(TOKEN_PATH, "grant_type=client_credentials", None);
    let malformed = server.post_form_with(
        TOKEN_PATH,
        "grant_type=client_credentials",
        &[("Authorization", "Basic !!!not-base64!!!")],
    );
    let (_, first) = &answers[0];
    assert_invalid_client_basic(first, "tessera");
    assert_eq!(
        first.text(),
        r#"{"error":"invalid_client","error_description":"client authentication failed"}"#
    );
    for (what, r) in answers.iter().map(|(w, r)| (*w, r)).chain([
        ("no credentials", &no_credentials),
        ("malformed Basic", &malformed),
    ]) {
        assert_eq!(r.status, first.status, "{what}: {}", r.summary());
        assert_eq!(r.body, first.body, "{what}: {}", r.summary());
        for header in ["WWW-Authenticate", "Cache-Control", "Content-Type"] {
            assert_eq!(
                r.header(header),
                first.header(header),
                "{what}: {header}: {}",
                r.summary()
            );
        }
    }
}

#[test]
fn rfc6749_4_3_2_after_the_limit_of_wrong_secrets_the_right_secret_gets_429_with_retry_after() {
    svc_a_locked_out();
}

#[test]
fn a_locked_out_client_leaves_other_clients_from_the_same_address_alone() {
    let (server, _) = svc_a_locked_out();
    server.issue_cc(&other_client(), None);
    server.issue_cc(&post_client(), None);
}

#[test]
fn a_locked_out_client_can_still_authenticate_from_another_address() {
    let (server, _) = svc_a_locked_out();
    issue_cc_from_other_peer(&server, &confidential_client());
}

#[test]
fn a_client_lockout_ends_after_lockout_secs() {
    let (server, r) = svc_a_locked_out();
    wait_out(&r);
    server.issue_cc(&confidential_client(), None);
}

#[test]
fn revoke_and_introspect_failures_count_toward_the_same_client_lockout() {
    let server = guarded_server();
    let wrong = confidential_client().with_secret("wrong");
    let r = server.revoke(&wrong, "some-token", None);
    assert_token_error(&r, 401, "invalid_client");
    for _ in 1..LIMIT {
        let r = server.introspect(&wrong, "some-token");
        assert_oauth_error(&r, 401, "invalid_client");
    }
    assert_locked_out(&server.client_credentials(&confidential_client(), None));
    assert_locked_out(&server.introspect(&confidential_client(), "some-token"));
}

#[test]
fn rfc6749_4_3_2_password_grant_locks_out_a_username_even_with_the_right_password() {
    let (server, _) = alice_locked_out();
    // The client itself is not locked, and neither is another user.
    server.issue_cc(&confidential_client(), None);
    server.issue_password(&confidential_client(), BOB, None);
}

#[test]
fn a_locked_out_username_can_still_log_in_from_another_address_and_after_the_lockout() {
    let (server, r) = alice_locked_out();
    let from_elsewhere = server.post_as_from(
        OTHER_PEER,
        TOKEN_PATH,
        &confidential_client(),
        &[
            ("grant_type", "password"),
            ("username", ALICE.0),
            ("password", ALICE.1),
        ],
    );
    Issued::from_response(from_elsewhere);
    wait_out(&r);
    server.issue_password(&confidential_client(), ALICE, None);
}

#[test]
fn unknown_usernames_are_locked_out_like_known_ones() {
    locked_out_after(
        |s| fail_user(s, "mallory"),
        |s| s.password(&confidential_client(), ("mallory", "x"), None),
    );
}

#[test]
fn spraying_identities_from_one_address_locks_the_address_for_every_client() {
    let server = guarded_server();
    // Six failures, none reaching the per-identity limit of three.
    for i in 0..3 {
        let guess = Client::new(&format!("guess-{i}"), Some("x"), AuthMethod::Basic);
        let r = server.client_credentials(&guess, None);
        assert_token_error(&r, 401, "invalid_client");
        let r = server.password(&confidential_client(), (&format!("user-{i}"), "x"), None);
        assert_token_error(&r, 400, "invalid_grant");
    }
    assert_locked_out(&server.client_credentials(&other_client(), None));
    assert_locked_out(&server.password(&post_client(), BOB, None));
    issue_cc_from_other_peer(&server, &other_client());
}

#[test]
fn failures_and_lockouts_are_counted_in_metrics_and_each_lockout_is_logged() {
    let server = guarded_server();
    let before = server.metrics();
    assert_eq!(
        before.value("tessera_auth_failures_total", &[("kind", "client")]),
        0.0
    );
    assert_eq!(
        before.value("tessera_auth_failures_total", &[("kind", "user")]),
        0.0
    );
    assert_eq!(before.value("tessera_lockouts_total", &[]), 0.0);

    fail_client(&server, &confidential_client());
    assert_locked_out(&server.client_credentials(&confidential_client(), None));
    let r = server.password(&other_client(), ("bob", "wrong"), None);
    assert_token_error(&r, 400, "invalid_grant");

    let m = server.metrics();
    assert_eq!(
        m.value("tessera_auth_failures_total", &[("kind", "client")]),
        LIMIT as f64
    );
    assert_eq!(
        m.value("tessera_auth_failures_total", &[("kind", "user")]),
        1.0
    );
    assert_eq!(m.value("tessera_lockouts_total", &[]), 1.0);
    assert_eq!(
        m.value(
            "tessera_requests_total",
            &[("path", TOKEN_PATH), ("status", "429")]
        ),
        1.0
    );
    let log = server.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("locked out"))
        .unwrap_or_else(|| panic!("no lockout logged:\n{log}"));
    assert!(
        line.contains("svc-a") && line.contains("127.0.0.1"),
        "{line}"
    );
    assert!(!line.contains("wrong"), "a secret in the log: {line}");
}
