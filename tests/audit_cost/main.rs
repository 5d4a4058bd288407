//! Audit events cost nothing when their target is filtered out (issue 16): with the
//! server's own subscriber set up as `tessera serve` does it (`EnvFilter` as the global
//! default, `[log] level = "info,tessera::audit=off"`), every function of `tessera::audit`
//! allocates nothing and writes nothing — tracing answers from its per-callsite cache before
//! any field is evaluated (no interner read, no formatting) — while an event the filter
//! keeps is written, so the subscriber under test is live.
//!
//! Its own test binary, with one test: it installs a counting global allocator (counting
//! every thread: the test harness's main thread only waits meanwhile) and a process-wide
//! tracing subscriber. What the
//! events cost in time is measured, not asserted: bench/audit.sh, bench/RESULTS.md.

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tessera::guard::Identity;
use tessera::oauth::issue::Issued;
use tessera::oauth::token_gen::TokenBuf;
use tessera::oauth::types::GrantType;
use tessera_storage::{GrantId, Symbols, TokenKind};

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes the subscriber wrote, and the lines that mention the audit target.
#[derive(Clone, Default)]
struct Sink {
    bytes: Arc<AtomicUsize>,
    audit_lines: Arc<AtomicUsize>,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes.fetch_add(buf.len(), Ordering::Relaxed);
        if buf.windows(14).any(|w| w == b"tessera::audit") {
            self.audit_lines.fetch_add(1, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every audit event once, with realistic arguments.
fn every_audit_event(syms: &Symbols, issued: &Issued, peer: IpAddr) {
    use tessera::audit;
    audit::token_issued(syms, peer, "svc-a", GrantType::Password, issued);
    audit::token_revoked(peer, "svc-a", TokenKind::Refresh, GrantId(7), 2);
    audit::refresh_token_reuse(peer, "svc-a", GrantId(7));
    audit::code_reuse(peer, "web", GrantId(8));
    audit::client_auth_failed(peer, Some("svc-a"));
    audit::user_login_failed(peer, "alice");
    audit::lockout(peer, Identity::Client("svc-a"), 30, 1);
    audit::admin_change("create", "client", "svc-new", peer);
    audit::admin_auth_failed(peer, true);
}

#[test]
fn filtered_out_audit_events_allocate_nothing_and_write_nothing() {
    let sink = Sink::default();
    let writer = sink.clone();
    // As `tessera serve` builds it (src/cli.rs), with the JSON format.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "info,tessera::audit=off",
        ))
        .with_writer(move || writer.clone())
        .json()
        .flatten_event(true)
        .try_init()
        .expect("the only subscriber of this test binary");

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

    // The first call of each callsite registers it (tracing's one-time interest cache).
    every_audit_event(&syms, &issued, peer);
    let region = Region::new(ALLOCATOR);
    for _ in 0..1000 {
        every_audit_event(&syms, &issued, peer);
    }
    let change = region.change();
    assert_eq!(
        (change.allocations, change.reallocations),
        (0, 0),
        "allocations by filtered-out events"
    );
    assert_eq!(sink.audit_lines.load(Ordering::Relaxed), 0);
    assert_eq!(sink.bytes.load(Ordering::Relaxed), 0);

    // The subscriber is live: an event the filter keeps is written (and allocates, so the
    // count above could have seen one).
    let region = Region::new(ALLOCATOR);
    tracing::info!(target: "tessera::server", peer = %peer, "still logging");
    assert!(sink.bytes.load(Ordering::Relaxed) > 0);
    assert!(region.change().allocations > 0);
}
