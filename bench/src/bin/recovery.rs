//! Recovery benchmark: how long start-up takes to rebuild the TokenTable from RocksDB.
//!
//! Fills a fresh RocksDB store with N client_credentials-style tokens (one client, one
//! scope, metadata, like production traffic), closes it, reopens it and times
//! `tessera_storage::recovery::recover` into an empty table — exactly what `tessera serve`
//! does before it opens its listener. Also reports the process's resident memory before
//! and after, i.e. what the table costs per token.
//!
//! Run: `cargo run --release -p tessera-bench --bin recovery -- --tokens 1000000 --dir /tmp/tessera-recovery`
//! Figures: `bench/RESULTS.md`.

use std::sync::Arc;
use std::time::Instant;
use tessera_bench::arg;
use tessera_storage::recovery::recover;
use tessera_storage::store::rocks::RocksStore;
use tessera_storage::store::{Mutation, Store, Token};
use tessera_storage::{GrantId, Symbols, TokenKey, TokenKind, TokenTable};

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

fn main() {
    let tokens: u64 = arg("--tokens", "1000000").parse().unwrap_or(1_000_000);
    let dir = std::path::PathBuf::from(arg("--dir", "/tmp/tessera-recovery"));
    let _ = std::fs::remove_dir_all(&dir);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32);

    let fill_started = Instant::now();
    {
        let store = match RocksStore::open(&dir) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("recovery bench: {e}");
                std::process::exit(1);
            }
        };
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
                    expires_at: now + 3600,
                },
            });
            if batch.len() == 10_000 {
                if let Err(e) = store.apply(&batch, false) {
                    eprintln!("recovery bench: fill failed: {e}");
                    std::process::exit(1);
                }
                batch.clear();
            }
        }
        if let Err(e) = store.apply(&batch, true) {
            eprintln!("recovery bench: fill failed: {e}");
            std::process::exit(1);
        }
    }
    let fill = fill_started.elapsed();

    let store = match RocksStore::open(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("recovery bench: {e}");
            std::process::exit(1);
        }
    };
    let symbols = Symbols::default();
    let table = TokenTable::new(64, now);
    let rss_before = rss_bytes();
    let stats = match recover(&store, &table, &symbols, now, &|_| true, &mut |_, _| {}) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("recovery bench: {e}");
            std::process::exit(1);
        }
    };
    let rss_after = rss_bytes();
    let secs = stats.took.as_secs_f64();
    println!(
        "tokens={tokens} fill_s={:.1} recover_s={secs:.2} recover_per_s={:.0} restored={} rss_before_mib={} rss_after_mib={} table_bytes_per_token={:.0}",
        fill.as_secs_f64(),
        stats.restored as f64 / secs.max(1e-9),
        stats.restored,
        rss_before >> 20,
        rss_after >> 20,
        rss_after.saturating_sub(rss_before) as f64 / tokens.max(1) as f64,
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
