//! The rate limits' checks (issue 15), against the floor of one atomic read-modify-write.
//!
//! - `ratelimit/baseline_atomic_fetch_add`: one `fetch_add` on an uncontended `AtomicU64` —
//!   the least any shared counter costs.
//! - `ratelimit/clock_monotonic_nanos`: the clock read a check needs (`Instant::now`).
//! - `ratelimit/client_bucket`: a client's bucket check (GCRA: a load and a
//!   compare-and-swap), limit far above the rate, clock given as an argument.
//! - `ratelimit/address_key_and_check`: the per-address check: hash the address, lock its
//!   shard, find the slot, one GCRA step.
//! - `ratelimit_contended/client_bucket`: the client check while another thread checks the
//!   same bucket without pause (two workers serving one client, two cores).
//!
//! Run: `cargo bench -p tessera-bench --no-default-features --bench ratelimit`.
//! Figures: `bench/RESULTS.md`, "Rate limits".

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tessera::ratelimit::{AddressLimiter, Bucket, Rate, MAX_BURST, MAX_PER_SECOND};

fn far_above() -> Rate {
    Rate::new(MAX_PER_SECOND, MAX_BURST)
}

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("ratelimit");
    let counter = AtomicU64::new(0);
    g.bench_function("baseline_atomic_fetch_add", |b| {
        b.iter(|| black_box(counter.fetch_add(1, Ordering::Relaxed)))
    });
    g.bench_function("clock_monotonic_nanos", |b| {
        b.iter(|| black_box(tessera::clock::monotonic_nanos()))
    });
    let bucket = Bucket::default();
    let rate = far_above();
    // The clock advances 10 µs a check: 100 k checks a second, a tenth of the limit.
    let mut now = 1_000_000_000u64;
    g.bench_function("client_bucket", |b| {
        b.iter(|| {
            now += 10_000;
            black_box(bucket.check(rate, black_box(now)))
        })
    });
    let table = AddressLimiter::new(far_above());
    let address = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let mut now = 1_000_000_000u64;
    g.bench_function("address_key_and_check", |b| {
        b.iter(|| {
            now += 10_000;
            black_box(table.check(table.key(black_box(address)), now))
        })
    });
    g.finish();
}

fn contended(c: &mut Criterion) {
    let mut g = c.benchmark_group("ratelimit_contended");
    let bucket = Arc::new(Bucket::default());
    let stop = Arc::new(AtomicBool::new(false));
    let rate = far_above();
    let other = {
        let (bucket, stop) = (Arc::clone(&bucket), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                black_box(bucket.check(rate, tessera::clock::monotonic_nanos()));
            }
        })
    };
    g.bench_function("client_bucket", |b| {
        b.iter(|| black_box(bucket.check(rate, tessera::clock::monotonic_nanos())))
    });
    stop.store(true, Ordering::Relaxed);
    let _ = other.join();
    g.finish();
}

criterion_group!(benches, uncontended, contended);
criterion_main!(benches);
