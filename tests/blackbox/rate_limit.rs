//! Rate limits (issue 15; RFC 6585 §4): a client's `rate_limit` on the token endpoint and
//! `[security] rate_limit_per_address` on every OAuth endpoint, as token buckets. Over a
//! limit: 429 `temporarily_unavailable` with `Retry-After` and `Cache-Control: no-store`,
//! counted in `tessera_rate_limited_total`.
//!
//! Nothing here depends on how fast requests go: a test sends requests until the first
//! 429 and checks that at least the burst went through first (a slow machine only lets a
//! few more through, as the bucket refills). Every connection comes from 127.0.0.1 unless
//! it is opened from `OTHER_PEER`. The last test keeps a client in PostgreSQL (added with
//! `tessera client add --rate-limit-*`); it needs `bash tests/services/postgres.sh start`.

use crate::harness::*;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::thread;
use std::time::Duration;

const OTHER_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const BURST: usize = 3;
/// More requests than any refill during a test lets through: a test that sends this many
/// without a 429 has found no limit.
const ENOUGH: usize = 40;

/// A client limited to one token request a second, `BURST` at once.
fn limited_client() -> Client {
    Client::new("svc-limited", Some("secret-limited"), AuthMethod::Basic)
}

/// The standard config plus `limited_client()`, with a brute-force guard loose enough that
/// the wrong secrets below never lock anyone out.
fn config() -> ConfigBuilder {
    ConfigBuilder::standard()
        .security("failed_auth_limit", "1000")
        .security("failed_auth_limit_per_address", "1000")
        .client(&format!(
            r#"id = "svc-limited"
secret = "secret-limited"
grant_types = ["client_credentials"]
scopes = ["read"]
rate_limit = {{ per_second = 1, burst = {BURST} }}"#
        ))
}

/// Sends `request` until it is answered 429; returns how many succeeded (200) before, and
/// the 429. Panics on any other status, or when `ENOUGH` requests found no limit.
fn until_limited(mut request: impl FnMut() -> Response) -> (usize, Response) {
    for sent in 0..ENOUGH {
        let r = request();
        match r.status {
            200 => continue,
            429 => return (sent, r),
            _ => panic!("request {sent}: {}", r.summary()),
        }
    }
    panic!("{ENOUGH} requests and no 429");
}

/// The 429 of a rate limit: the guard's look, with the limit's own description.
fn assert_rate_limited(r: &Response, description: &str) -> u64 {
    assert_token_error(r, 429, "temporarily_unavailable");
    assert_eq!(r.json_str("error_description"), description);
    assert_eq!(
        r.header("Cache-Control"),
        Some("no-store"),
        "{}",
        r.summary()
    );
    let retry: u64 = r
        .header("Retry-After")
        .unwrap_or_else(|| panic!("429 without Retry-After: {}", r.summary()))
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is not whole seconds: {}", r.summary()));
    // One token a second: the next one is at most a second away.
    assert_eq!(retry, 1, "{}", r.summary());
    retry
}

const CLIENT_LIMITED: &str = "too many token requests for this client; retry later";
const ADDRESS_LIMITED: &str = "too many requests from this address; retry later";

fn client_rate_limited(server: &Server, client_id: &str) -> f64 {
    server.metrics().value(
        "tessera_rate_limited_total",
        &[("limit", "client"), ("client_id", client_id)],
    )
}

#[test]
fn issue_15_a_client_past_its_burst_gets_429_with_retry_after_and_others_are_unaffected() {
    let server = Server::start(&config().build());
    let (ok, refused) = until_limited(|| server.client_credentials(&limited_client(), None));
    assert!(ok >= BURST, "only {ok} requests before the 429");
    assert_rate_limited(&refused, CLIENT_LIMITED);
    // Meanwhile a client without a limit, and a wrong secret for the limited client, are
    // answered as usual.
    server.issue_cc(&confidential_client(), None);
    server.issue_cc(&other_client(), None);
    let wrong = server.client_credentials(&limited_client().with_secret("wrong"), None);
    assert_token_error(&wrong, 401, "invalid_client");
}

#[test]
fn issue_15_a_stranger_with_a_wrong_secret_does_not_drain_the_clients_bucket() {
    let server = Server::start(&config().build());
    for _ in 0..4 * BURST {
        let r = server.client_credentials(&limited_client().with_secret("wrong"), None);
        assert_token_error(&r, 401, "invalid_client");
    }
    // The whole burst is still there for the client itself.
    let (ok, refused) = until_limited(|| server.client_credentials(&limited_client(), None));
    assert!(ok >= BURST, "only {ok} requests before the 429");
    assert_rate_limited(&refused, CLIENT_LIMITED);
}

#[test]
fn issue_15_a_limited_client_is_served_again_after_retry_after() {
    let server = Server::start(&config().build());
    let (_, refused) = until_limited(|| server.client_credentials(&limited_client(), None));
    let retry = assert_rate_limited(&refused, CLIENT_LIMITED);
    thread::sleep(Duration::from_secs(retry) + Duration::from_millis(200));
    server.issue_cc(&limited_client(), None);
}

#[test]
fn issue_15_the_per_address_limit_counts_every_client_and_endpoint_from_one_address() {
    let server = Server::start(
        &config()
            .security(
                "rate_limit_per_address",
                &format!("{{ per_second = 1, burst = {BURST} }}"),
            )
            .build(),
    );
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), server.port());
    let get_from = |from: IpAddr, path: &str| {
        Conn::connect_from(from, addr).roundtrip(&raw_request("GET", path, &[], b""))
    };
    // Token requests of two clients and a tokeninfo, in turn, from one address.
    let mut turn = 0;
    let (ok, refused) = until_limited(|| {
        turn += 1;
        match turn % 3 {
            0 => server.post_as_from(
                OTHER_PEER,
                TOKEN_PATH,
                &confidential_client(),
                &[("grant_type", "client_credentials")],
            ),
            1 => server.post_as_from(
                OTHER_PEER,
                TOKEN_PATH,
                &other_client(),
                &[("grant_type", "client_credentials")],
            ),
            _ => {
                let token = server.issue_cc(&confidential_client(), None).access_token;
                let r = get_from(
                    OTHER_PEER,
                    &format!("{TOKENINFO_PATH}?access_token={token}"),
                );
                if r.status == 200 || r.status == 429 {
                    r
                } else {
                    panic!("tokeninfo: {}", r.summary())
                }
            }
        }
    });
    assert!(ok >= BURST, "only {ok} requests before the 429");
    assert_rate_limited(&refused, ADDRESS_LIMITED);
    // Other endpoints from that address are refused too, before their own checks (a
    // revocation of an unknown token is a 200 when a token came back meanwhile)...
    let (_, revoke) = until_limited(|| {
        server.post_as_from(
            OTHER_PEER,
            REVOKE_PATH,
            &confidential_client(),
            &[("token", "x")],
        )
    });
    assert_rate_limited(&revoke, ADDRESS_LIMITED);
    // ...but not health, metrics and the discovery documents,
    for path in [
        "/health",
        "/metrics",
        "/.well-known/openid-configuration",
        "/api/oauth/jwks",
    ] {
        let r = get_from(OTHER_PEER, path);
        assert_eq!(r.status, 200, "{path}: {}", r.summary());
    }
    // ...and another address is served as usual.
    server.issue_cc(&other_client(), None);
    let m = server.metrics();
    assert!(
        m.value("tessera_rate_limited_total", &[("limit", "address")]) >= 2.0,
        "{}",
        m.text
    );
}

#[test]
fn issue_15_metrics_count_429s_per_client() {
    let server = Server::start(&config().build());
    assert_eq!(
        server
            .metrics()
            .value("tessera_rate_limited_total", &[("limit", "address")]),
        0.0
    );
    let (_, refused) = until_limited(|| server.client_credentials(&limited_client(), None));
    assert_rate_limited(&refused, CLIENT_LIMITED);
    // Two more refusals, with no time for a token to come back in between... or one
    // fewer when it did: count what was answered.
    let more = (0..2)
        .filter(|_| server.client_credentials(&limited_client(), None).status == 429)
        .count();
    assert_eq!(
        client_rate_limited(&server, "svc-limited"),
        (1 + more) as f64
    );
    let m = server.metrics();
    assert!(
        m.find("tessera_rate_limited_total", &[("client_id", "svc-a")])
            .is_empty(),
        "a client never limited has no series: {}",
        m.text
    );
    assert_eq!(m.types["tessera_rate_limited_total"], "counter");
}

#[test]
fn issue_15_a_client_added_with_the_cli_carries_its_rate_limit_through_the_store() {
    use crate::cluster::{cli_ok, cli_with_input, eventually, path_str, PROPAGATION_LIMIT};
    use crate::cluster_sql::{migrated, sql_config};
    use crate::sql_servers::{shared_server, Dialect};
    use std::time::Instant;

    let _server = shared_server(Dialect::Postgres);
    let db = migrated(Dialect::Postgres, "rate_limit");
    let node = Server::start(&sql_config(&db, "async").build());
    let config = path_str(&node.config_path);
    let stored = Client::new(
        "svc-cli-rl",
        Some("cli-rl-secret-long-enough"),
        AuthMethod::Basic,
    );
    cli_with_input(
        &[
            "client",
            "add",
            "--config",
            config,
            "--id",
            "svc-cli-rl",
            "--secret-stdin",
            "--grant-types",
            "client_credentials",
            "--scopes",
            "read",
            "--rate-limit-per-second",
            "1",
            "--rate-limit-burst",
            &BURST.to_string(),
        ],
        b"cli-rl-secret-long-enough\n",
    );
    let listed = cli_ok(&["client", "list", "--config", config]);
    assert!(
        listed.contains(&format!("rate_limit=1/s,burst={BURST}")),
        "{listed}"
    );
    // Until the node has loaded the client: 401, which takes nothing from its bucket.
    eventually(
        Instant::now(),
        PROPAGATION_LIMIT,
        "the node issues tokens to the client added with the CLI",
        || match node.client_credentials(&stored, None) {
            r if r.status == 200 => Ok(()),
            r => Err(r.summary()),
        },
    );
    let (ok, refused) = until_limited(|| node.client_credentials(&stored, None));
    assert!(ok + 1 >= BURST, "only {} requests before the 429", ok + 1);
    assert_rate_limited(&refused, CLIENT_LIMITED);
    assert_eq!(client_rate_limited(&node, "svc-cli-rl"), 1.0);
}
