//! Recovery benchmark: how long start-up takes to rebuild the TokenTable from RocksDB.
//!
//! Fills a fresh RocksDB store with N client_credentials-style tokens (one client, one
//! scope, metadata, like production traffic), closes it, reopens it and times
//! `tessera_storage::recovery::recover` into an empty table — exactly what `tessera serve`
//! does before it opens its listener. Also reports the process's resident memory before
//! and after, i.e. what the table costs per token.
//!
//! Filling 10 M tokens takes minutes while recovering them takes seconds, so `--reuse`
//! keeps the directory: the first run fills it, later runs with the same `--dir` and
//! `--tokens` only recover (the filled tokens live for 30 days). `--threads N` sets the
//! recovery's scan threads (0: one per core, as the server does; 1: the sequential scan);
//! `--scan-only` times the store's scan without building the table (to split the time
//! between RocksDB plus decoding and the table).
//!
//! Run: `cargo run --release -p tessera-bench --bin recovery -- --tokens 1000000 --dir /tmp/tessera-recovery`
//! Figures: `bench/RESULTS.md`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_bench::arg;
use tessera_storage::recovery::{recover_with, Parallelism};
use tessera_storage::store::rocks::RocksStore;
use tessera_storage::store::{KeyRange, Mutation, Store, Token};
use tessera_storage::{GrantId, Symbols, TokenKey, TokenKind, TokenTable};

/// Long enough that a kept directory stays live between runs of `--reuse`.
const TOKEN_LIFETIME_S: u32 = 30 * 24 * 3600;

/// Resident set size in bytes, from /proc/self/statm.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("recovery bench: {what}: {e}");
    std::process::exit(1);
}

/// Marks a directory as filled with `tokens` tokens, so `--reuse` can tell a complete fill
/// from one that was interrupted.
fn marker(dir: &Path) -> std::path::PathBuf {
    dir.join("BENCH_FILLED_TOKENS")
}

fn fill(dir: &Path, tokens: u64, now: u32) -> Duration {
    let started = Instant::now();
    let store = RocksStore::open(dir).unwrap_or_else(|e| fail("open", e));
    let client: Arc<str> = Arc::from("svc-a");
    let scope: Arc<str> = Arc::from("read write");
    let meta: Arc<str> = Arc::from(r#"{"department":"Engineering"}"#);
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..tokens {
        batch.push(Mutation::Put {
            key: TokenKey::of(&i.to_le_bytes()),
            token: Token {
                kind: TokenKind::Access,
                grant: GrantId::NONE,
                client: Arc::clone(&client),
                user: None,
                scope: Arc::clone(&scope),
                meta: Some(Arc::clone(&meta)),
                issued_at: now,
                expires_at: now + TOKEN_LIFETIME_S,
            },
        });
        if batch.len() == 10_000 {
            store
                .apply(&batch, false)
                .unwrap_or_else(|e| fail("fill", e));
            batch.clear();
        }
    }
    store
        .apply(&batch, true)
        .unwrap_or_else(|e| fail("fill", e));
    drop(store);
    std::fs::write(marker(dir), tokens.to_string()).unwrap_or_else(|e| fail("marker", e));
    started.elapsed()
}

fn main() {
    let tokens: u64 = arg("--tokens", "1000000").parse().unwrap_or(1_000_000);
    let dir = std::path::PathBuf::from(arg("--dir", "/tmp/tessera-recovery"));
    let threads: usize = arg("--threads", "0").parse().unwrap_or(0);
    let args: Vec<String> = std::env::args().collect();
    let reuse = args.iter().any(|a| a == "--reuse");
    let scan_only = args.iter().any(|a| a == "--scan-only");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32);

    let filled = std::fs::read_to_string(marker(&dir)).ok();
    let fill_s = if reuse && filled.as_deref() == Some(tokens.to_string().as_str()) {
        None
    } else {
        let _ = std::fs::remove_dir_all(&dir);
        Some(fill(&dir, tokens, now).as_secs_f64())
    };

    let store = RocksStore::open(&dir).unwrap_or_else(|e| fail("open", e));
    let parallelism = match threads {
        0 => Parallelism::Cores,
        n => Parallelism::Threads(n),
    };
    let symbols = Symbols::default();
    let table = TokenTable::new(64, now);
    // Not pre-sized, as `tessera serve` without `[store] expected_live_tokens`: recovery
    // grows the table through its bounded splits.
    let rss_before = rss_bytes();
    let (restored, secs) = if scan_only {
        let started = Instant::now();
        let n = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for range in KeyRange::split(parallelism.threads()) {
                let (store, n) = (&store, &n);
                scope.spawn(move || {
                    let visited = store
                        .scan_live_range(now, range, &mut |_, _| {})
                        .unwrap_or_else(|e| fail("scan", e));
                    n.fetch_add(visited, Ordering::Relaxed);
                });
            }
        });
        (n.into_inner(), started.elapsed().as_secs_f64())
    } else {
        let stats = recover_with(
            &store,
            &table,
            &symbols,
            now,
            parallelism,
            &|_| true,
            &mut |_, _| {},
        )
        .unwrap_or_else(|e| fail("recover", e));
        (stats.restored, stats.took.as_secs_f64())
    };
    let rss_after = rss_bytes();
    println!(
        "tokens={tokens} fill_s={} threads={} mode={} recover_s={secs:.2} recover_per_s={:.0} restored={restored} rss_before_mib={} rss_after_mib={} table_bytes_per_token={:.0}",
        fill_s.map_or("reused".to_owned(), |s| format!("{s:.1}")),
        parallelism.threads(),
        if scan_only { "scan-only" } else { "recover" },
        restored as f64 / secs.max(1e-9),
        rss_before >> 20,
        rss_after >> 20,
        rss_after.saturating_sub(rss_before) as f64 / restored.max(1) as f64,
    );
    drop(store);
    if !reuse {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
