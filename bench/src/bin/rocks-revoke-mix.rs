//! RocksDB memtables under a revoke-heavy write mix: how fast `Store::apply` takes the
//! flusher's batches with vector memtables everywhere (what Tessera used before) and with
//! memtables that iterate cheaply (skiplist, prefix hash) for the column families read
//! while they are written (`grants`, `expiry`).
//!
//! Each variant gets a fresh store in the same run. First `--grants` grants are issued
//! (a refresh token and an access token each, in batches of `--batch` changes, like the
//! flusher's). Then the timed mix: batches of `--batch` changes in which `--revoke-percent`
//! of the changes are revocations of an earlier grant (`Delete` of its refresh token and
//! `DeleteGrant`, as `/revoke` of a refresh token writes them) and the rest issue new
//! grants. A `DeleteGrant` makes the store seek the grant's prefix in `grants`
//! (`grant_keys`), which is where the memtable choice shows. The mix stops after
//! `--batches` batches or `--seconds` seconds per variant, whichever comes first, so the
//! whole run stays under two minutes. Last, the purge thread's part: every access token
//! has expired, and `purge_expired` reads the expired prefix of `expiry` in batches.
//!
//! Run: `cargo run --release -p tessera-bench --bin rocks-revoke-mix -- --grants 100000 --revoke-percent 25 --seconds 10 --batches 300`
//! Figures: `bench/RESULTS.md`.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_bench::arg;
use tessera_storage::store::rocks::{Memtable, Memtables, RocksStore};
use tessera_storage::store::{Mutation, Store, StoredToken, Token};
use tessera_storage::{GrantId, TokenKey, TokenKind};

struct Mix {
    grants: u64,
    batch: usize,
    revoke_percent: u64,
    batches: usize,
    limit: Duration,
    now: u32,
}

struct Outcome {
    fill: Duration,
    batches: usize,
    changes: u64,
    took: Duration,
    batch_times: Vec<Duration>,
    purged: usize,
    purge: Duration,
}

/// A small deterministic generator (xorshift64*), so both variants see the same mix.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn token(
    kind: TokenKind,
    grant: u64,
    client: &Arc<str>,
    scope: &Arc<str>,
    now: u32,
) -> StoredToken {
    Token {
        kind,
        grant: GrantId(grant),
        client: Arc::clone(client),
        user: Some(Arc::from("alice")),
        scope: Arc::clone(scope),
        meta: None,
        issued_at: now,
        expires_at: now
            + if kind == TokenKind::Refresh {
                86_400
            } else {
                3_600
            },
    }
}

/// Grant ids are random in Tessera; the refresh and access keys derive from the id here.
fn grant_id(n: u64) -> u64 {
    let mut r = Rng(n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    r.next() | 1
}

fn issue(batch: &mut Vec<Mutation>, n: u64, client: &Arc<str>, scope: &Arc<str>, now: u32) {
    let g = grant_id(n);
    for kind in [TokenKind::Refresh, TokenKind::Access] {
        batch.push(Mutation::Put {
            key: TokenKey::of(&[&g.to_le_bytes()[..], &[kind as u8]].concat()),
            token: token(kind, g, client, scope, now),
        });
    }
}

fn run(memtables: Memtables, dir: &std::path::Path, mix: &Mix) -> Result<Outcome, String> {
    let _ = std::fs::remove_dir_all(dir);
    let store = RocksStore::open_with(dir, memtables).map_err(|e| e.to_string())?;
    let client: Arc<str> = Arc::from("svc-a");
    let scope: Arc<str> = Arc::from("read write");
    let mut batch = Vec::with_capacity(mix.batch + 2);
    let started = Instant::now();
    for n in 0..mix.grants {
        issue(&mut batch, n, &client, &scope, mix.now);
        if batch.len() >= mix.batch {
            store.apply(&batch, false).map_err(|e| e.to_string())?;
            batch.clear();
        }
    }
    store.apply(&batch, false).map_err(|e| e.to_string())?;
    batch.clear();
    let fill = started.elapsed();

    let mut rng = Rng(0x5eed);
    let mut issued = mix.grants;
    let mut out = Outcome {
        fill,
        batches: 0,
        changes: 0,
        took: Duration::ZERO,
        batch_times: Vec::with_capacity(mix.batches),
        purged: 0,
        purge: Duration::ZERO,
    };
    while out.batches < mix.batches && out.took < mix.limit {
        while batch.len() < mix.batch {
            if rng.next() % 100 < mix.revoke_percent {
                let g = grant_id(rng.next() % issued);
                batch.push(Mutation::Delete {
                    key: TokenKey::of(
                        &[&g.to_le_bytes()[..], &[TokenKind::Refresh as u8]].concat(),
                    ),
                    // RocksDB ignores it (only Cassandra orders writes by it).
                    issued_at: mix.now,
                });
                batch.push(Mutation::DeleteGrant { grant: GrantId(g) });
            } else {
                issue(&mut batch, issued, &client, &scope, mix.now);
                issued += 1;
            }
        }
        let t = Instant::now();
        store.apply(&batch, false).map_err(|e| e.to_string())?;
        let took = t.elapsed();
        out.took += took;
        out.batch_times.push(took);
        out.changes += batch.len() as u64;
        out.batches += 1;
        batch.clear();
    }
    // The purge thread's part: every access token has expired an hour later; the purge
    // reads the expired prefix of `expiry` in batches of 10 000, as `server::purge_store`.
    let t = Instant::now();
    loop {
        let n = store
            .purge_expired(mix.now + 3_600, 10_000)
            .map_err(|e| e.to_string())?;
        out.purged += n;
        if n < 10_000 {
            break;
        }
    }
    out.purge = t.elapsed();
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
    Ok(out)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let num = |name: &str, default: &str| -> u64 { arg(name, default).parse().unwrap_or(0) };
    let mix = Mix {
        grants: num("--grants", "200000"),
        batch: num("--batch", "1024").max(2) as usize,
        revoke_percent: num("--revoke-percent", "25").min(100),
        batches: num("--batches", "2000") as usize,
        limit: Duration::from_secs(num("--seconds", "20")),
        now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32),
    };
    let dir = std::path::PathBuf::from(arg("--dir", "/tmp/tessera-rocks-revoke-mix"));
    println!("memtables: grants, expiry (tokens: vector)");
    println!(
        "grants {} then batches of {} changes, {} % revocations (Delete + DeleteGrant)",
        mix.grants, mix.batch, mix.revoke_percent
    );
    let mut rates = Vec::new();
    let both = |grants, expiry| Memtables { grants, expiry };
    for (name, memtables) in [
        ("vector, vector", Memtables::VECTOR),
        (
            "skiplist, skiplist",
            both(Memtable::SkipList, Memtable::SkipList),
        ),
        (
            "prefix-hash, vector",
            both(Memtable::PrefixHash, Memtable::Vector),
        ),
        (
            "prefix-hash, skiplist",
            both(Memtable::PrefixHash, Memtable::SkipList),
        ),
    ] {
        let mut o = match run(memtables, &dir, &mix) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("rocks-revoke-mix: {name}: {e}");
                std::process::exit(1);
            }
        };
        o.batch_times.sort_unstable();
        let rate = o.changes as f64 / o.took.as_secs_f64().max(1e-9);
        let fill_rate = (mix.grants * 2) as f64 / o.fill.as_secs_f64().max(1e-9);
        rates.push(rate);
        println!(
            "{name:<22} fill {:>6.2} s {:>8.0} puts/s | mix {:>5} batches {:>6.2} s {:>9.0} changes/s | batch p50 {:>8.2} ms p99 {:>8.2} ms | purge {} in {:.2} s",
            o.fill.as_secs_f64(),
            fill_rate,
            o.batches,
            o.took.as_secs_f64(),
            rate,
            percentile(&o.batch_times, 0.5).as_secs_f64() * 1e3,
            percentile(&o.batch_times, 0.99).as_secs_f64() * 1e3,
            o.purged,
            o.purge.as_secs_f64(),
        );
    }
    if let Some(&vector) = rates.first() {
        let ratios: Vec<String> = rates
            .iter()
            .map(|r| format!("{:.0}x", r / vector))
            .collect();
        println!("mix throughput vs vector, vector: {}", ratios.join(", "));
    }
}
