//! Rate limits (issue 15): token buckets per client and per source address.
//!
//! Every decision is a plain function of the bucket's state and the time, passed in as an
//! argument (nanoseconds on a monotonic clock), so the tests drive it with a clock of their
//! own. The module knows nothing of HTTP, OAuth or metrics; the endpoints ask it and answer
//! 429 themselves (`crate::endpoints::rate_limit`).
//!
//! # The bucket: GCRA
//!
//! A bucket of `burst` tokens refilled at `per_second` is kept as one number, its
//! *theoretical arrival time* (TAT) — the generic cell rate algorithm of ATM networks, which
//! is exactly a token bucket: a request at `now` conforms when `TAT − now ≤ (burst − 1) ×
//! interval`, and then moves the TAT one `interval` (`1 s / per_second`) further. A bucket
//! is therefore a single `u64`, updated with one compare-and-swap ([`Bucket`]): no lock, no
//! background refill, and an exact wait for `Retry-After` (`TAT − now − tolerance`). A
//! refused request does not move the TAT, so a client over its limit is still served at its
//! rate. The time only ever enters through `max(TAT, now)`, so a clock read that goes
//! backwards (two workers reading it in turn) can only make a decision stricter, never
//! grant extra tokens.
//!
//! Hand-written rather than the `governor` crate, which implements the same algorithm: its
//! clock is an object it reads itself (time is not an argument), and its keyed limiters
//! keep every key in a map that grows with the number of keys — the per-address table
//! below must not.
//!
//! # Per client
//!
//! One [`Bucket`] per client id, shared by every worker. The registry owns them by id
//! (`crate::registry::clients::ClientIndices`) and hands the same `Arc` to every rebuilt
//! client registry, so a bucket survives the registry being swapped when the clients kept
//! in a shared store are reloaded; a changed limit applies to the same TAT at once.
//!
//! # Per address: fixed memory, whatever the traffic
//!
//! [`AddressLimiter`] is a table allocated once ([`crate::fixed_table`]), like the
//! brute-force guard's (`crate::guard`): [`SHARDS`] shards of `sets` sets of [`WAYS`] slots
//! of 16 bytes (by default 64 × 256 × 8 = 131,072 addresses, 2 MiB). An address is keyed by
//! a keyed SipHash of its network: an IPv4 address whole, an IPv6 address by its /64 — the
//! prefix one subscriber or host is normally given, so one host cannot dodge the limit by
//! walking its own /64 (an IPv4-mapped IPv6 address counts as its IPv4 address). A new key
//! takes a slot whose bucket is full again (it holds nothing a fresh bucket would not),
//! else evicts the slot nearest to full (the smallest TAT). A flood of new addresses
//! therefore only evicts buckets like its own, each one request in; an evicted address
//! starts again with a full bucket — the table fails open, by at most one burst per
//! eviction, rather than grow. Each shard is a mutex held for a lookup in one set of
//! [`WAYS`] slots.

use crate::fixed_table::{self, FixedTable};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use crate::fixed_table::{SHARDS, WAYS};

const NANOS_PER_SEC: u64 = 1_000_000_000;
/// The highest `per_second` a limit may have (an interval of 1 µs).
pub const MAX_PER_SECOND: u32 = 1_000_000;
/// The largest `burst` a limit may have.
pub const MAX_BURST: u32 = 1_000_000;

/// Sets per shard of the server's table (64 × 256 × 8 = 131,072 addresses).
pub const DEFAULT_SETS_PER_SHARD: usize = 256;

/// A limit in the bucket's units: nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Time one token takes to come back: `1 s / per_second`.
    interval: u64,
    /// How far the TAT may run ahead of now: `(burst − 1) × interval`.
    tolerance: u64,
}

impl Rate {
    /// `per_second` tokens a second, at most `burst` at once (both at least 1).
    pub fn new(per_second: u32, burst: u32) -> Rate {
        let interval = (NANOS_PER_SEC / u64::from(per_second.max(1))).max(1);
        Rate {
            interval,
            tolerance: interval.saturating_mul(u64::from(burst.max(1)) - 1),
        }
    }
}

/// What a bucket said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the limit: the next token comes in this many seconds (rounded up, at least 1).
    Limited {
        retry_after_secs: u32,
    },
}

impl Verdict {
    fn limited(wait_ns: u64) -> Verdict {
        Verdict::Limited {
            retry_after_secs: u32::try_from(wait_ns.div_ceil(NANOS_PER_SEC).max(1))
                .unwrap_or(u32::MAX),
        }
    }
}

/// One GCRA step: the new TAT when a request at `now` conforms, else how long (ns) until
/// it would.
fn step(tat: u64, rate: Rate, now: u64) -> Result<u64, u64> {
    let tat = tat.max(now);
    let ahead = tat - now;
    if ahead > rate.tolerance {
        Err(ahead - rate.tolerance)
    } else {
        Ok(tat.saturating_add(rate.interval))
    }
}

/// One token bucket that any number of threads take from without a lock. Alone on its
/// cache line, so busy buckets of different clients do not slow each other down.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Bucket {
    /// The theoretical arrival time; 0 (or anything ≤ now) is a full bucket.
    tat: AtomicU64,
}

impl Bucket {
    /// Takes a token at `now` if `rate` allows one.
    pub fn check(&self, rate: Rate, now: u64) -> Verdict {
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let next = match step(tat, rate, now) {
                Ok(next) => next,
                Err(wait) => return Verdict::limited(wait),
            };
            // Relaxed is enough: the TAT is the only state, and no other memory is
            // published through it.
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Verdict::Allowed,
                Err(current) => tat = current,
            }
        }
    }
}

/// A client's limit and its bucket (shared with the client's other registry versions).
#[derive(Clone, Debug)]
pub struct ClientLimit {
    pub rate: Rate,
    pub bucket: Arc<Bucket>,
}

impl ClientLimit {
    pub fn check(&self, now: u64) -> Verdict {
        self.bucket.check(self.rate, now)
    }
}

/// One address's network, hashed: what the address table is indexed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressKey {
    /// The keyed hash; never 0 (0 marks an empty slot).
    tag: u64,
}

/// One entry: 16 bytes.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    tag: u64,
    tat: u64,
}

impl fixed_table::Slot for Slot {
    fn tag(&self) -> u64 {
        self.tag
    }
}

/// The per-address limit: a fixed-size table of buckets shared by every worker.
#[derive(Debug)]
pub struct AddressLimiter {
    rate: Rate,
    table: FixedTable<Slot>,
}

impl AddressLimiter {
    /// The server's table: [`SHARDS`] × [`DEFAULT_SETS_PER_SHARD`] × [`WAYS`] addresses.
    pub fn new(rate: Rate) -> AddressLimiter {
        AddressLimiter::with_sets(rate, DEFAULT_SETS_PER_SHARD)
    }

    /// A table of `SHARDS × sets_per_shard × WAYS` addresses (`sets_per_shard` rounded up
    /// to a power of two); tests use small ones.
    pub fn with_sets(rate: Rate, sets_per_shard: usize) -> AddressLimiter {
        AddressLimiter {
            rate,
            table: FixedTable::with_sets(sets_per_shard),
        }
    }

    /// The most addresses the table holds at once.
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// Addresses held now (never more than [`AddressLimiter::capacity`]).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The key of `address`: the IPv4 address, or the /64 of an IPv6 one.
    pub fn key(&self, address: IpAddr) -> AddressKey {
        let network = match address {
            IpAddr::V4(a) => (4u8, u128::from(a.to_bits())),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => (4u8, u128::from(v4.to_bits())),
                None => (6u8, a.to_bits() & !u128::from(u64::MAX)),
            },
        };
        AddressKey {
            tag: self.table.tag(&network),
        }
    }

    /// Takes a token from `key`'s bucket at `now` if the limit allows one.
    pub fn check(&self, key: AddressKey, now: u64) -> Verdict {
        self.table.with_set(key.tag, |set| {
            let slot = set.get_or_insert_with(|set| victim(set, now), |tag| Slot { tag, tat: 0 });
            match step(slot.tat, self.rate, now) {
                Ok(next) => {
                    slot.tat = next;
                    Verdict::Allowed
                }
                Err(wait) => Verdict::limited(wait),
            }
        })
    }
}

/// The slot of `set` a new address takes: an empty one or one whose bucket is full again,
/// else the one nearest to full.
fn victim(set: &[Slot], now: u64) -> usize {
    if let Some(i) = set.iter().position(|s| s.tag == 0 || s.tat <= now) {
        return i;
    }
    (0..set.len()).min_by_key(|&i| set[i].tat).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const SEC: u64 = NANOS_PER_SEC;
    const MS: u64 = SEC / 1000;

    /// Takes `n` tokens at `now`; returns how many were allowed.
    fn take(b: &Bucket, rate: Rate, n: u32, now: u64) -> u32 {
        (0..n)
            .filter(|_| b.check(rate, now) == Verdict::Allowed)
            .count() as u32
    }

    #[test]
    fn a_full_bucket_allows_the_burst_at_once_then_refuses() {
        let (b, rate) = (Bucket::default(), Rate::new(10, 20));
        assert_eq!(take(&b, rate, 20, SEC), 20);
        assert!(matches!(b.check(rate, SEC), Verdict::Limited { .. }));
    }

    #[test]
    fn after_the_burst_requests_are_allowed_at_the_steady_rate() {
        let (b, rate) = (Bucket::default(), Rate::new(10, 5));
        assert_eq!(take(&b, rate, 5, SEC), 5);
        // One token every 100 ms, however many ask.
        let mut allowed = 0;
        for tick in 1..=100 {
            allowed += take(&b, rate, 3, SEC + tick * 10 * MS);
        }
        assert_eq!(allowed, 10);
    }

    #[test]
    fn an_idle_bucket_refills_up_to_the_burst_and_no_further() {
        let (b, rate) = (Bucket::default(), Rate::new(10, 5));
        assert_eq!(take(&b, rate, 5, SEC), 5);
        assert_eq!(take(&b, rate, 5, SEC + 200 * MS), 2);
        // An hour idle refills the bucket once: the burst, not 36,000 tokens.
        assert_eq!(take(&b, rate, 10, 3600 * SEC), 5);
    }

    #[test]
    fn retry_after_is_the_wait_for_the_next_token_rounded_up_to_whole_seconds() {
        let (b, rate) = (Bucket::default(), Rate::new(1, 3));
        assert_eq!(take(&b, rate, 3, 10 * SEC), 3);
        assert_eq!(
            b.check(rate, 10 * SEC),
            Verdict::Limited {
                retry_after_secs: 1
            }
        );
        // A slow limit: one token every 4 s; 2.5 s left is 3 s to wait.
        let (slow, one_per_4s) = (Bucket::default(), Rate::new(1, 1));
        let one_per_4s = Rate {
            interval: 4 * SEC,
            ..one_per_4s
        };
        assert_eq!(take(&slow, one_per_4s, 1, 10 * SEC), 1);
        assert_eq!(
            slow.check(one_per_4s, 11_500 * MS),
            Verdict::Limited {
                retry_after_secs: 3
            }
        );
        assert_eq!(slow.check(one_per_4s, 14 * SEC), Verdict::Allowed);
    }

    #[test]
    fn a_wait_shorter_than_a_second_is_still_retry_after_1() {
        let (b, rate) = (Bucket::default(), Rate::new(1000, 1));
        assert_eq!(b.check(rate, SEC), Verdict::Allowed);
        assert_eq!(
            b.check(rate, SEC),
            Verdict::Limited {
                retry_after_secs: 1
            }
        );
    }

    #[test]
    fn a_clock_going_backwards_never_grants_extra_tokens_nor_panics() {
        let (b, rate) = (Bucket::default(), Rate::new(10, 5));
        assert_eq!(take(&b, rate, 5, 100 * SEC), 5);
        // An earlier reading (another worker's clock read before this one's) is stricter.
        assert!(matches!(b.check(rate, 99 * SEC), Verdict::Limited { .. }));
        assert!(matches!(b.check(rate, 0), Verdict::Limited { .. }));
        // And time resumes where it was.
        assert_eq!(take(&b, rate, 5, 100 * SEC + 100 * MS), 1);
    }

    #[test]
    fn limits_at_the_maxima_do_not_overflow() {
        let rate = Rate::new(MAX_PER_SECOND, MAX_BURST);
        let b = Bucket::default();
        assert_eq!(take(&b, rate, 1000, u64::MAX - SEC), 1000);
        let slow = Rate::new(1, MAX_BURST);
        assert_eq!(take(&b, slow, 3, u64::MAX), 3);
    }

    #[test]
    fn threads_sharing_a_bucket_never_take_more_than_the_burst_plus_the_refill() {
        let rate = Rate::new(1000, 50);
        let b = Bucket::default();
        let allowed = AtomicU64::new(0);
        // 4 threads × 500 requests over 100 ms of injected time: at most 50 + 100.
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (b, allowed) = (&b, &allowed);
                s.spawn(move || {
                    for i in 0..500u64 {
                        let now = SEC + (i * 200 + t) * 1000;
                        if b.check(rate, now) == Verdict::Allowed {
                            allowed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        let allowed = allowed.into_inner();
        assert!(allowed <= 50 + 100, "{allowed} allowed");
        assert!(allowed >= 100, "{allowed} allowed: the refill was lost");
    }

    #[test]
    fn threads_at_one_instant_take_exactly_the_burst() {
        let rate = Rate::new(1, 64);
        let b = Bucket::default();
        let allowed = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                let (b, allowed) = (&b, &allowed);
                s.spawn(move || {
                    let n = take(b, rate, 1000, 5 * SEC);
                    allowed.fetch_add(u64::from(n), Ordering::Relaxed);
                });
            }
        });
        assert_eq!(allowed.into_inner(), 64);
    }

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn each_address_has_its_own_bucket() {
        let t = AddressLimiter::with_sets(Rate::new(1, 2), 4);
        let (a, b) = (t.key(A), t.key(B));
        assert_eq!(t.check(a, SEC), Verdict::Allowed);
        assert_eq!(t.check(a, SEC), Verdict::Allowed);
        assert!(matches!(t.check(a, SEC), Verdict::Limited { .. }));
        assert_eq!(t.check(b, SEC), Verdict::Allowed);
        assert_eq!(t.check(a, 2 * SEC), Verdict::Allowed);
    }

    #[test]
    fn ipv6_addresses_share_the_bucket_of_their_64_and_mapped_ipv4_is_ipv4() {
        let t = AddressLimiter::with_sets(Rate::new(1, 1), 4);
        let host = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last));
        assert_eq!(t.key(host(1)), t.key(host(0xffff)));
        let other_64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
        assert_ne!(t.key(host(1)), t.key(other_64));
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(t.key(mapped), t.key(A));
        assert_ne!(t.key(A), t.key(B));
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_addresses_and_a_limited_one_is_kept() {
        let t = AddressLimiter::with_sets(Rate::new(1, 10), 2);
        let cap = t.capacity();
        assert_eq!(cap, SHARDS * 2 * WAYS);
        // An address that emptied its bucket: 10 s of refill ahead of it.
        let target = t.key(A);
        for _ in 0..10 {
            assert_eq!(t.check(target, SEC), Verdict::Allowed);
        }
        // New addresses, one request each, over 50 ms.
        for i in 0..50 * cap as u32 {
            let flood = IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 + i));
            t.check(t.key(flood), SEC + u64::from(i) * 1000);
            if i % 97 == 0 {
                assert!(t.len() <= cap, "{} entries, capacity {cap}", t.len());
            }
        }
        assert_eq!(t.len(), cap);
        assert!(
            matches!(t.check(target, SEC + 60 * MS), Verdict::Limited { .. }),
            "the flood evicted the limited address"
        );
    }

    #[test]
    fn an_entry_is_16_bytes_so_the_default_table_is_2_mib() {
        assert_eq!(std::mem::size_of::<Slot>(), 16);
        assert_eq!(SHARDS * DEFAULT_SETS_PER_SHARD * WAYS * 16, 2 << 20);
    }
}
