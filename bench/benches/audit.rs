//! What an audit event costs when its target is filtered out (issue 16), against the floor
//! of one relaxed atomic `fetch_add` in the same run. The subscriber is the one `tessera
//! serve` installs (`EnvFilter` as the global default, JSON lines; here into
//! `io::sink`), with `[log] level = "info,tessera::audit=off"`.
//!
//! - `audit_off/baseline_atomic_fetch_add`: one uncontended relaxed `fetch_add`.
//! - `audit_off/token_issued`: the event every token response writes (client_credentials'
//!   hot path), filtered out.
//! - `audit_off/all_nine`: every audit function once, filtered out.
//!
//! The cost with the target on is measured end to end, where the write to stderr is:
//! `bench/audit.sh`. That they allocate nothing filtered out is a test: `tests/audit_cost`.
//!
//! Run: `cargo bench -p tessera-bench --no-default-features --bench audit`.
//! Figures: `bench/RESULTS.md`, "Audit events".

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use tessera::audit;
use tessera::guard::Identity;
use tessera::oauth::issue::Issued;
use tessera::oauth::token_gen::TokenBuf;
use tessera::oauth::types::GrantType;
use tessera_storage::{GrantId, Symbols, TokenKind};

fn filtered_out(c: &mut Criterion) {
    // As src/cli.rs builds it for `[log] format = "json"`.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "info,tessera::audit=off",
        ))
        .with_writer(std::io::sink)
        .json()
        .flatten_event(true)
        .init();
    let syms = Symbols::default();
    let issued = Issued {
        access: TokenBuf::generate(54),
        expires_in: 3600,
        refresh: None,
        scope: syms.scopes.intern("read write"),
        user: Some(syms.users.intern("alice")),
        grant: GrantId(7),
    };
    let peer = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

    let mut g = c.benchmark_group("audit_off");
    let counter = AtomicU64::new(0);
    g.bench_function("baseline_atomic_fetch_add", |b| {
        b.iter(|| black_box(counter.fetch_add(1, Ordering::Relaxed)))
    });
    g.bench_function("token_issued", |b| {
        b.iter(|| {
            audit::token_issued(
                &syms,
                black_box(peer),
                black_box("svc-a"),
                GrantType::ClientCredentials,
                black_box(&issued),
            )
        })
    });
    g.bench_function("all_nine", |b| {
        b.iter(|| {
            let peer = black_box(peer);
            audit::token_issued(&syms, peer, "svc-a", GrantType::Password, &issued);
            audit::token_revoked(peer, "svc-a", TokenKind::Refresh, GrantId(7), 2);
            audit::refresh_token_reuse(peer, "svc-a", GrantId(7));
            audit::code_reuse(peer, "web", GrantId(8));
            audit::client_auth_failed(peer, Some("svc-a"));
            audit::user_login_failed(peer, "alice");
            audit::lockout(peer, Identity::Client("svc-a"), 30, 1);
            audit::admin_change("create", "client", "svc-new", peer);
            audit::admin_auth_failed(peer, true);
        })
    });
    g.finish();
}

criterion_group!(benches, filtered_out);
criterion_main!(benches);
