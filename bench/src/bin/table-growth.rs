//! Growth benchmark: the TokenTable filled from empty to N records, timing every insert.
//!
//! Inserts N access-token records (expiries spread as if issued at 100 k/s) into an empty
//! 64-shard table on one thread and reports the worst single insert, how many inserts took
//! longer than 10 µs / 100 µs / 1 ms, the most records one growth step moved, and the
//! process's resident memory per record. `--baseline` runs the same inserts into 64 plain
//! `std` hash maps (the table's layout before linear hashing, without its timer wheel) to
//! show the whole-map rehash pauses the table no longer has. `--expected N` pre-sizes the
//! table (`[store] expected_live_tokens`). `--lookups N` then times N lookups of random
//! inserted keys, one after the other (each waits for the one before, as requests do), and
//! reports the mean latency: what the table's size costs a tokeninfo request.
//!
//! Timings on a shared machine include preemptions: a worst insert near a scheduler tick
//! (1–4 ms) is the machine, `max_moved` is the table. Memory is exact.
//!
//! Build: `cargo build --release --workspace --bin table-growth`, then
//! `$CARGO_TARGET_DIR/release/table-growth --tokens 10000000 [--expected N] [--baseline]`.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use tessera_bench::arg;
use tessera_storage::key::KeyHashBuilder;
use tessera_storage::{GrantId, Sym, TokenKey, TokenKind, TokenRecord, TokenTable};

const NOW: u32 = 1_800_000_000;
const SHARDS: usize = 64;

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

fn record(i: u64) -> TokenRecord {
    let issued = NOW + (i / 100_000) as u32;
    TokenRecord {
        grant: GrantId::NONE,
        client: Sym::from_index(0),
        user: None,
        scope: Sym::from_index(1),
        meta: Some(Sym::from_index(2)),
        issued_at: issued,
        expires_at: issued + 3600,
        kind: TokenKind::Access,
    }
}

#[derive(Default)]
struct Pauses {
    worst: Duration,
    worst_at: u64,
    over_10us: u64,
    over_100us: u64,
    over_1ms: u64,
}

impl Pauses {
    fn record(&mut self, i: u64, took: Duration) {
        if took > self.worst {
            self.worst = took;
            self.worst_at = i;
        }
        self.over_10us += u64::from(took > Duration::from_micros(10));
        self.over_100us += u64::from(took > Duration::from_micros(100));
        self.over_1ms += u64::from(took > Duration::from_millis(1));
    }
}

fn main() {
    let tokens: u64 = arg("--tokens", "1000000").parse().unwrap_or(1_000_000);
    let expected: usize = arg("--expected", "0").parse().unwrap_or(0);
    let baseline = std::env::args().any(|a| a == "--baseline");
    let lookups: usize = arg("--lookups", "0").parse().unwrap_or(0);
    // Keys are SHA-256 of a counter, as tokens are of random bytes; made before the clock
    // starts would cost 16 B each in RSS, so each is made just before its timed insert.
    let rss_before = rss_bytes();
    let mut pauses = Pauses::default();
    let started = Instant::now();
    let slot = std::mem::size_of::<(TokenKey, TokenRecord)>();
    let (what, moved, sub_maps, rss_after, map_bytes, lookup_ns) = if baseline {
        let mut shards: Vec<HashMap<TokenKey, TokenRecord, KeyHashBuilder>> =
            (0..SHARDS).map(|_| HashMap::default()).collect();
        for i in 0..tokens {
            let k = TokenKey::of(&i.to_le_bytes());
            let r = record(i);
            let t = Instant::now();
            shards[(k.shard_bits() as usize) % SHARDS].insert(k, r);
            pauses.record(i, t.elapsed());
        }
        std::hint::black_box(&shards);
        // A SwissTable bucket is the entry and one control byte.
        let buckets: usize = shards.iter().map(|m| m.capacity() * 8 / 7).sum();
        let rss = rss_bytes();
        let ns = time_lookups(tokens, lookups, |k| {
            shards[(k.shard_bits() as usize) % SHARDS].get(k).copied()
        });
        ("std-hashmap", 0, SHARDS, rss, buckets * (slot + 1), ns)
    } else {
        let table = TokenTable::with_expected(SHARDS, NOW, expected);
        for i in 0..tokens {
            let k = TokenKey::of(&i.to_le_bytes());
            let r = record(i);
            let t = Instant::now();
            table.insert(k, r);
            pauses.record(i, t.elapsed());
        }
        let g = table.growth();
        std::hint::black_box(&table);
        let rss = rss_bytes();
        let ns = time_lookups(tokens, lookups, |k| table.get(k, NOW));
        // The sub-maps' slots are the entries themselves, at most 7 in 8 used.
        let slots = g.capacity * 8 / 7;
        ("tokentable", g.max_moved, g.sub_maps, rss, slots * slot, ns)
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "map={what} tokens={tokens} expected={expected} fill_s={secs:.1} worst_insert_us={} worst_at={} over_10us={} over_100us={} over_1ms={} max_moved={moved} sub_maps={sub_maps} rss_mib={} bytes_per_token={:.1} map_slots_bytes_per_token={:.1} lookups={lookups} lookup_ns={lookup_ns:.1}",
        pauses.worst.as_micros(),
        pauses.worst_at,
        pauses.over_10us,
        pauses.over_100us,
        pauses.over_1ms,
        rss_after >> 20,
        rss_after.saturating_sub(rss_before) as f64 / tokens.max(1) as f64,
        map_bytes as f64 / tokens.max(1) as f64,
    );
}

/// Mean nanoseconds per lookup over `n` lookups of inserted keys spread over the whole
/// table. Each lookup's key depends on the previous result, so the CPU cannot overlap their
/// cache misses: the latency one request sees, not the throughput of a batch. The keys are
/// made after the memory was measured, and before the clock starts (SHA-256 is not free).
fn time_lookups(tokens: u64, n: usize, get: impl Fn(&TokenKey) -> Option<TokenRecord>) -> f64 {
    if n == 0 || tokens == 0 {
        return 0.0;
    }
    // A stride coprime with most table sizes: keys from all over the table, in no order.
    let keys: Vec<TokenKey> = (0..n as u64)
        .map(|j| TokenKey::of(&(j.wrapping_mul(2_654_435_761) % tokens).to_le_bytes()))
        .collect();
    let mut found = 0u64;
    let started = Instant::now();
    for j in 0..n {
        // The next key's place depends on a field the last lookup loaded: a data
        // dependency, which branch prediction cannot speculate past.
        let i = j + (found & 1) as usize;
        let k = &keys[if i >= n { i - n } else { i }];
        found = found.wrapping_add(get(k).map_or(1, |r| u64::from(r.issued_at)));
    }
    let took = started.elapsed();
    std::hint::black_box(found);
    took.as_nanos() as f64 / n as f64
}
