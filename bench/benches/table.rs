//! The TokenTable: insert, lookup and revoke, alone and with a second thread contending.
//!
//! - `table/baseline_std_hashmap_get`: a lock-free `std::collections::HashMap` lookup among 1 M
//!   entries with the same key type — the floor the table's lookup is compared with.
//! - `table/insert`: store one access-token record (shard lock, map insert, wheel insert).
//! - `table/get_hit`, `table/get_miss`: look a key up among 1 M live records.
//! - `table/insert_then_revoke`: issue and revoke one token.
//! - `table_contended/get_hit`: the lookup while another thread does lookups and inserts
//!   on the same table without pause (two cores, as in production).
//!
//! Run: `cargo bench -p tessera-bench --no-default-features --bench table`.
//! Last figures (2026-11-23, 2-vCPU EPYC): get_hit 553 ns vs std HashMap 559 ns (0.99×),
//! contended get_hit 717 ns (1.28×), get_miss 55 ns. Table: `bench/RESULTS.md`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tessera_storage::{GrantId, Sym, TokenKey, TokenKind, TokenRecord, TokenTable};

const NOW: u32 = 1_800_000_000;

fn record() -> TokenRecord {
    TokenRecord {
        grant: GrantId::NONE,
        client: Sym::from_index(0),
        user: None,
        scope: Sym::from_index(0),
        meta: None,
        issued_at: NOW,
        expires_at: NOW + 3600,
        kind: TokenKind::Access,
    }
}

fn key(i: u64) -> TokenKey {
    TokenKey::of(&i.to_le_bytes())
}

fn filled(n: u64) -> (TokenTable, Vec<TokenKey>) {
    let table = TokenTable::new(64, NOW);
    let keys: Vec<TokenKey> = (0..n).map(key).collect();
    for k in &keys {
        table.insert(*k, record());
    }
    (table, keys)
}

fn table(c: &mut Criterion) {
    let mut g = c.benchmark_group("table");
    {
        let table = TokenTable::new(64, NOW);
        let mut i = 0u64;
        g.bench_function("insert", |b| {
            b.iter(|| {
                i += 1;
                table.insert(key(i), record());
            })
        });
    }
    let (table, keys) = filled(1_000_000);
    let plain: std::collections::HashMap<TokenKey, TokenRecord> =
        keys.iter().map(|k| (*k, record())).collect();
    let mut i = 0usize;
    g.bench_function("baseline_std_hashmap_get", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            black_box(plain.get(&keys[i]).copied())
        })
    });
    drop(plain);
    g.bench_function("get_hit", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            black_box(table.get(&keys[i], NOW))
        })
    });
    let missing = key(u64::MAX);
    g.bench_function("get_miss", |b| {
        b.iter(|| black_box(table.get(&missing, NOW)))
    });
    let mut j = 10_000_000u64;
    g.bench_function("insert_then_revoke", |b| {
        b.iter(|| {
            j += 1;
            let k = key(j);
            table.insert(k, record());
            black_box(table.revoke(&k, Sym::from_index(0), NOW))
        })
    });
    g.finish();

    // A second thread hammers the same table while the measured thread looks up.
    let table = Arc::new(table);
    let stop = Arc::new(AtomicBool::new(false));
    let noise = {
        let (table, stop) = (Arc::clone(&table), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut n = 20_000_000u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                table.insert(key(n), record());
                black_box(table.get(&key(n / 2), NOW));
            }
        })
    };
    let mut g = c.benchmark_group("table_contended");
    let mut i = 0usize;
    g.bench_function("get_hit", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            black_box(table.get(&keys[i], NOW))
        })
    });
    g.finish();
    stop.store(true, Ordering::Relaxed);
    let _ = noise.join();
}

criterion_group!(benches, table);
criterion_main!(benches);
