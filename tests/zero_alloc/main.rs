//! A request on the hot paths allocates nothing on its worker thread once warm (issue 17):
//! client_credentials with Basic authentication, tokeninfo, and introspection with Basic
//! authentication. Counted by a per-thread counting allocator on the worker thread only
//! (harness.rs says how); `bench/src/bin/allocs.rs` prints the same counts for more
//! scenarios. Counts are asserted, never timings.

mod harness;

use harness::{app, extra_allocations, get, post, Client, BASIC_SVC_A};
use std::sync::Arc;
use tessera::state::App;

const WARM: usize = 200;
const N: usize = 500;

/// Issues an access token to svc-a (over its own short-lived worker).
fn access_token(app: &Arc<App>) -> String {
    let mut token = String::new();
    harness::worker_allocations(app, |addr| {
        let mut c = Client::connect(addr).expect("connect");
        let (status, body) = c
            .exchange(&post(
                "/api/oauth/token",
                Some(&format!("Basic {BASIC_SVC_A}")),
                "grant_type=client_credentials",
            ))
            .expect("a token response");
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(body).expect("JSON");
        token = v["access_token"].as_str().expect("access_token").to_owned();
    });
    token
}

fn assert_no_allocations(what: &str, extra: u64) {
    assert_eq!(
        extra, 0,
        "{what}: {extra} allocations for {N} warm requests (worker thread)"
    );
}

#[test]
fn the_counter_sees_a_worker_that_allocates() {
    // A worker's start-up allocates (its runtime, its connection state): a count of 0 in
    // the tests below is not the counter missing the worker thread.
    let app = app();
    let start_up = harness::worker_allocations(&app, |_| {});
    assert!(start_up > 0, "a worker's start-up allocates its runtime");
}

#[test]
fn health_allocates_nothing_per_request() {
    let app = app();
    assert_no_allocations(
        "GET /health",
        extra_allocations(&app, WARM, N, 200, &|_| get("/health", None)),
    );
}

/// Issuing allocates nothing per request. What remains is the table's own growth with the
/// number of live tokens: a token's expiry goes into its shard's timer-wheel slot for that
/// second (storage/src/wheel.rs), a `Vec` that grows by doubling on the wheel's first turn
/// and keeps its capacity after (about one allocation per 10 tokens here, at 64 shards and
/// a few hundred tokens a second; fewer the busier the second). A per-request allocation
/// would be at least one per request.
#[test]
fn client_credentials_with_basic_auth_allocates_nothing_per_request_beyond_table_growth() {
    let app = app();
    let auth = format!("Basic {BASIC_SVC_A}");
    let extra = extra_allocations(&app, WARM, N, 200, &|_| {
        post(
            "/api/oauth/token",
            Some(&auth),
            "grant_type=client_credentials",
        )
    });
    assert!(
        extra * 4 < N as u64,
        "client_credentials (Basic): {extra} allocations for {N} requests (worker thread)"
    );
}

#[test]
fn tokeninfo_allocates_nothing_per_request() {
    let app = app();
    let bearer = format!("Bearer {}", access_token(&app));
    assert_no_allocations(
        "tokeninfo",
        extra_allocations(&app, WARM, N, 200, &|_| {
            get("/api/oauth/tokeninfo", Some(&bearer))
        }),
    );
}

#[test]
fn introspection_with_basic_auth_allocates_nothing_per_request() {
    let app = app();
    let body = format!("token={}", access_token(&app));
    let auth = format!("Basic {BASIC_SVC_A}");
    assert_no_allocations(
        "introspect (Basic)",
        extra_allocations(&app, WARM, N, 200, &|_| {
            post("/api/oauth/introspect", Some(&auth), &body)
        }),
    );
}
