//! Token generation and keying: what every issuance pays before touching the table.
//!
//! - `baseline/fill_bytes_54`: the thread-local CSPRNG filling 54 bytes, nothing else — the
//!   floor that `generate/54` is reported against.
//! - `generate/54`, `generate/46`: a CSPRNG token string of the default access / refresh
//!   length (thread-local ChaCha, 64-symbol alphabet).
//! - `key_of/54`: SHA-256 of a token, truncated to the 16-byte table key (every lookup).
//! - `secret/hmac_verify`: checking a client secret against its `$hmac-sha256$` hash (every
//!   client-authenticated request).
//!
//! Run: `cargo bench -p tessera-bench --no-default-features --bench tokens`.
//! Last figures (2026-11-23, 2-vCPU EPYC): generate/54 158 ns (1.42× fill_bytes_54 at 111 ns),
//! key_of/54 99 ns, secret/hmac_verify 343 ns. Table: `bench/RESULTS.md`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tessera::oauth::secret::SecretHash;
use tessera::oauth::token_gen::TokenBuf;
use tessera_storage::TokenKey;

fn tokens(c: &mut Criterion) {
    c.bench_function("baseline/fill_bytes_54", |b| {
        b.iter(|| {
            let mut buf = [0u8; 54];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut buf);
            black_box(buf)
        })
    });
    let mut g = c.benchmark_group("generate");
    for len in [54usize, 46] {
        g.bench_function(len.to_string(), |b| {
            b.iter(|| TokenBuf::generate(black_box(len)))
        });
    }
    g.finish();

    let token = TokenBuf::generate(54);
    c.bench_function("key_of/54", |b| {
        b.iter(|| TokenKey::of(black_box(token.as_bytes())))
    });

    let hash = SecretHash::new(b"plain-secret-for-dev");
    c.bench_function("secret/hmac_verify", |b| {
        b.iter(|| hash.verify(black_box(b"plain-secret-for-dev")))
    });
}

criterion_group!(benches, tokens);
criterion_main!(benches);
