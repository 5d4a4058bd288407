//! Heap allocations per request on a warm worker thread, per scenario (issue 17), counted
//! by a per-thread counting allocator on the worker thread only. The measuring harness is
//! the `zero_alloc` test's (tests/zero_alloc/harness.rs), which asserts 0 for the hot paths.
//!
//!     cargo run --release -p tessera-bench --bin allocs [-- N]

#[path = "../../../tests/zero_alloc/harness.rs"]
mod harness;

use harness::{app, extra_allocations, get, post, Client, BASIC_SVC_A};
use std::sync::Arc;
use tessera::state::App;

const WARM: usize = 200;

/// The `i`th request of a scenario.
type Request<'a> = Box<dyn Fn(usize) -> Vec<u8> + Sync + 'a>;

/// `count` access tokens issued to svc-a.
fn access_tokens(app: &Arc<App>, count: usize) -> Vec<String> {
    let request = post(
        "/api/oauth/token",
        Some(&format!("Basic {BASIC_SVC_A}")),
        "grant_type=client_credentials",
    );
    let mut tokens = Vec::with_capacity(count);
    harness::worker_allocations(app, |addr| {
        let mut c = Client::connect(addr).expect("connect");
        for _ in 0..count {
            let (_, body) = c.exchange(&request).expect("a token response");
            let text = String::from_utf8_lossy(body);
            let token = text
                .split("\"access_token\":\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .expect("an access_token");
            tokens.push(token.to_owned());
        }
    });
    tokens
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let app = app();
    let basic = format!("Basic {BASIC_SVC_A}");
    let token = access_tokens(&app, 1).remove(0);
    let bearer = format!("Bearer {token}");
    let introspect_body = format!("token={token}");
    // Each revocation needs a live token of its own: the warm-up, up to four runs of
    // `WARM` and three of `WARM + n`.
    let revocable = access_tokens(&app, 4 * WARM + 3 * (WARM + n));
    let scenarios: Vec<(&str, Request<'_>)> = vec![
        ("health", Box::new(|_| get("/health", None))),
        (
            "client_credentials (Basic)",
            Box::new(|_| {
                post(
                    "/api/oauth/token",
                    Some(&basic),
                    "grant_type=client_credentials",
                )
            }),
        ),
        (
            "client_credentials (body)",
            Box::new(|_| {
                post(
                    "/api/oauth/token",
                    None,
                    "grant_type=client_credentials&client_id=svc-post&client_secret=post-secret-for-dev-only",
                )
            }),
        ),
        (
            "tokeninfo (Bearer)",
            Box::new(|_| get("/api/oauth/tokeninfo", Some(&bearer))),
        ),
        (
            "introspect (Basic)",
            Box::new(|_| post("/api/oauth/introspect", Some(&basic), &introspect_body)),
        ),
        (
            "revoke (Basic)",
            Box::new(|i| {
                let token = revocable.get(i).map_or("", String::as_str);
                post("/api/oauth/revoke", Some(&basic), &format!("token={token}"))
            }),
        ),
    ];
    println!("allocations per request on the worker thread, {n} warm requests per scenario");
    for (name, request) in &scenarios {
        let extra = extra_allocations(&app, WARM, n, 200, request.as_ref());
        println!(
            "{name:<30} {:>8.3}   ({extra} for {n})",
            extra as f64 / n as f64
        );
    }
}
