//! Write-behind into Cassandra: concurrent prepared writes against unlogged batches.
//!
//! Applies the same kind of batches the flusher applies (`Store::apply`, one batch at a
//! time, `--batch` mutations each) to the real Cassandra of `tests/services/cassandra.sh`,
//! once per `store.cassandra.write_batching` mode and round, the modes' order rotating
//! each round so a noisy neighbour hits them alike. Half the tokens carry a grant (token +
//! grant link, like a password grant's), half do not (client_credentials). Prints tokens
//! per second for every mode and round, and each mode's median ratio to the first mode.
//!
//! Run (Cassandra started): `cargo run --release -p tessera-bench --bin cassandra-writes --
//! --tokens 40000 --batch 512 --rounds 5 --modes concurrent,unlogged:4,unlogged:16,unlogged:64`.
//! Figures: `bench/RESULTS.md`.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_bench::arg;
use tessera_storage::store::cassandra::{CassandraOptions, CassandraStore, Level, WriteBatching};
use tessera_storage::store::{Mutation, Store, Token};
use tessera_storage::{GrantId, TokenKey, TokenKind};

fn fail(message: String) -> ! {
    eprintln!("cassandra-writes: {message}");
    std::process::exit(1);
}

fn options(batching: WriteBatching) -> CassandraOptions {
    CassandraOptions {
        contact_points: vec![arg("--contact-point", "127.0.0.1:9042")],
        keyspace: arg("--keyspace", "tessera_bench_writes"),
        local_datacenter: None,
        username: None,
        password: None,
        tls: None,
        read_consistency: Level::One,
        write_consistency: Level::parse(&arg("--write-consistency", "ANY"))
            .unwrap_or_else(|| fail("unknown --write-consistency".into())),
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        write_batching: batching,
        test_clock_offset_ms: 0,
    }
}

fn now_secs() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// `n` fresh tokens in batches of `batch`, numbered from `first` (keys never repeat).
fn batches(first: u64, n: u64, batch: usize) -> Vec<Vec<Mutation>> {
    let client: Arc<str> = Arc::from("svc-a");
    let scope: Arc<str> = Arc::from("read write");
    let now = now_secs();
    let mut out = Vec::new();
    let mut current = Vec::with_capacity(batch);
    for i in first..first + n {
        current.push(Mutation::Put {
            key: TokenKey::of(&i.to_le_bytes()),
            token: Token {
                kind: TokenKind::Access,
                grant: if i % 2 == 0 {
                    GrantId(i + 1)
                } else {
                    GrantId::NONE
                },
                client: Arc::clone(&client),
                user: None,
                scope: Arc::clone(&scope),
                meta: None,
                issued_at: now,
                // Short-lived: Cassandra drops the bench's rows by itself (TTL).
                expires_at: now + 300,
            },
        });
        if current.len() == batch {
            out.push(std::mem::replace(&mut current, Vec::with_capacity(batch)));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let tokens: u64 = arg("--tokens", "40000").parse().unwrap_or(40_000);
    let batch: usize = arg("--batch", "512").parse().unwrap_or(512).max(1);
    let rounds: usize = arg("--rounds", "5").parse().unwrap_or(5).max(1);
    let modes: Vec<WriteBatching> = arg("--modes", "concurrent,unlogged:16")
        .split(',')
        .map(|m| {
            WriteBatching::parse(m.trim()).unwrap_or_else(|| fail(format!("unknown mode {m:?}")))
        })
        .collect();
    let replication = "{'class': 'SimpleStrategy', 'replication_factor': 1}";
    CassandraStore::migrate(&options(modes[0]), replication)
        .unwrap_or_else(|e| fail(format!("{e} (is Cassandra running?)")));
    let stores: Vec<CassandraStore> = modes
        .iter()
        .map(|&m| CassandraStore::open(&options(m)).unwrap_or_else(|e| fail(e.to_string())))
        .collect();

    // Warm-up: connections, prepared statements, the JIT on the server side.
    let mut next_key = u64::from(now_secs()) << 32;
    for store in &stores {
        for b in batches(next_key, 5_000, batch) {
            store
                .apply(&b, false)
                .unwrap_or_else(|e| fail(e.to_string()));
        }
        next_key += 5_000;
    }

    println!("tokens per round {tokens}, batch {batch}, rounds {rounds}");
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    for round in 0..rounds {
        for k in 0..modes.len() {
            let m = (round + k) % modes.len();
            let work = batches(next_key, tokens, batch);
            next_key += tokens;
            let started = Instant::now();
            for b in &work {
                stores[m]
                    .apply(b, false)
                    .unwrap_or_else(|e| fail(format!("{}: {e}", modes[m])));
            }
            let rate = tokens as f64 / started.elapsed().as_secs_f64();
            println!("round {round} {:<14} {:>9.0} tokens/s", modes[m], rate);
            rates[m].push(rate);
        }
    }
    let base = median(&mut rates[0].clone());
    println!("\nmode            median tokens/s  ratio to {}", modes[0]);
    for (m, r) in modes.iter().zip(rates.iter_mut()) {
        let med = median(r);
        println!("{:<15} {:>15.0}  {:>5.2}", m.to_string(), med, med / base);
    }
}
