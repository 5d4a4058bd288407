//! The brute-force guard (RFC 6749 §4.3.2, §10.10): failed authentications counted per
//! (identity, source address) and per address, and the lockouts they lead to.
//!
//! The endpoints ask [`Guard::check`] *before* verifying anything — a locked identity costs
//! no hash and is refused even with the right credentials — and report the outcome with
//! [`Guard::failed`] or [`Guard::succeeded`]. Every decision takes the time as an argument
//! (milliseconds), so the tests drive it with a clock of their own. The guard knows nothing
//! of HTTP or OAuth; logging and metrics are the caller's.
//!
//! # Sliding window: two buckets
//!
//! Each entry keeps the failures of the current window-long bucket and of the previous one,
//! and estimates the failures in the last window as `previous × (share of the previous
//! bucket still inside the window) + current` — the approximation of Cloudflare's and
//! nginx's rate limiters. Chosen over a ring of timestamps because an entry stays the same
//! 32 bytes whatever the limit (a ring would need `limit` timestamps per entry, 400 bytes at
//! the default of 100 per address), and every update is O(1). The estimate assumes the
//! previous bucket's failures were spread evenly; a burst at its very end is forgotten a
//! little early, a burst at its start a little late — at most one window's difference,
//! which does not matter for a limit meant to make guessing slow.
//!
//! # Lockouts
//!
//! When the estimate reaches the limit the entry is locked for `lockout`, doubled for each
//! lockout in a row (capped at [`Policy::max_lockout_ms`]), and its counts start again. A
//! lockout is "in a row" when the identity fails again often enough within one window of
//! the previous lockout's end; an entry that stays quiet for that window is forgotten, and
//! a success forgets it at once.
//!
//! # Memory: fixed, whatever the traffic
//!
//! Entries live in a table allocated once ([`crate::fixed_table`]): [`SHARDS`] shards of
//! `sets` sets of [`WAYS`] slots each (by default 64 × 128 × 8 = 65,536 slots of 32 bytes,
//! 2 MiB). A key is a keyed SipHash of (identity, address) — the identity string itself is
//! never stored — and maps to one set; a new key takes an empty or forgotten slot of its
//! set, else evicts the slot worth least: unlocked before locked, then the fewest failures,
//! then the oldest. An attacker cycling random identities therefore only evicts entries
//! like the ones it creates (one failure each), not a locked one, and cannot grow memory at
//! all; it also trips the per-address limit after `failed_auth_limit_per_address` failures.
//! The hash key is random per process, so no one can aim keys at one set. Two keys with the
//! same 64 bits would share an entry: with at most 2^16 entries live, a chance below 2^-32.
//!
//! # Concurrency
//!
//! Each shard is a `parking_lot` mutex over its slots, cache-line aligned; a critical
//! section scans one set of [`WAYS`] slots. A shard with no entries at all is skipped
//! without taking its lock, so on a server with no failures a check is a hash and an
//! atomic load.

use crate::fixed_table::{self, FixedTable};
use std::net::IpAddr;

pub use crate::fixed_table::{SHARDS, WAYS};
/// Sets per shard of the server's guard (64 × 128 × 8 = 65,536 entries).
pub const DEFAULT_SETS_PER_SHARD: usize = 128;

/// Who failed to authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Identity<'a> {
    /// A presented client id (known or not).
    Client(&'a str),
    /// A presented username in the password grant (known or not).
    User(&'a str),
    /// Every failure from the address, whatever the identity.
    Address,
}

impl Identity<'_> {
    /// What the identity is, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Identity::Client(_) => "client",
            Identity::User(_) => "user",
            Identity::Address => "address",
        }
    }

    /// The presented name (empty for [`Identity::Address`]).
    pub fn name(&self) -> &str {
        match self {
            Identity::Client(n) | Identity::User(n) => n,
            Identity::Address => "",
        }
    }
}

/// The limits, in the guard's units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Failures of one identity from one address in the window that lock it out.
    pub limit: u32,
    /// Failures from one address in the window, any identity, that lock the address out.
    pub address_limit: u32,
    pub window_ms: u64,
    /// The first lockout.
    pub lockout_ms: u64,
    /// The longest lockout, however many in a row.
    pub max_lockout_ms: u64,
}

/// One (identity, address), hashed: what the table is indexed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    /// The keyed hash; never 0 (0 marks an empty slot).
    tag: u64,
    per_address: bool,
}

/// What [`Guard::check`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead; `tracked` says whether the key has failures to forget on success.
    Open { tracked: bool },
    /// Refuse: locked out for this many more seconds (rounded up, at least 1).
    Locked { retry_after_secs: u32 },
}

/// What [`Guard::failed`] did with a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Counted; the key is still below its limit.
    Counted,
    /// This failure reached the limit: the key is locked out for `lockout_secs`, the
    /// `in_a_row`-th lockout in a row.
    LockedOut { lockout_secs: u32, in_a_row: u32 },
}

/// One entry: 32 bytes.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// The key's hash; 0 = empty.
    tag: u64,
    /// When the current bucket began.
    bucket_start: u64,
    /// Locked while `now < locked_until`; 0 when never locked.
    locked_until: u64,
    prev: u16,
    curr: u16,
    /// Lockouts in a row so far.
    streak: u8,
}

impl fixed_table::Slot for Slot {
    fn tag(&self) -> u64 {
        self.tag
    }
}

impl Slot {
    fn new(tag: u64, now: u64) -> Slot {
        Slot {
            tag,
            bucket_start: now,
            ..Slot::default()
        }
    }

    /// Moves the buckets forward so that `now` falls in the current one.
    fn roll(&mut self, window: u64, now: u64) {
        let elapsed = now.saturating_sub(self.bucket_start);
        if elapsed < window {
            return;
        }
        if elapsed < 2 * window {
            self.prev = self.curr;
            self.bucket_start += window;
        } else {
            self.prev = 0;
            self.bucket_start = now;
        }
        self.curr = 0;
    }

    /// Failures in the window ending at `now`, times `window` (exact, no rounding):
    /// `prev × (window − elapsed) + curr × window`. Call after [`Slot::roll`].
    fn weighted(&self, window: u64, now: u64) -> u64 {
        let elapsed = now.saturating_sub(self.bucket_start).min(window);
        u64::from(self.prev) * (window - elapsed) + u64::from(self.curr) * window
    }

    fn is_locked(&self, now: u64) -> bool {
        now < self.locked_until
    }

    /// Nothing left to remember: not locked, no failures in the window, and a window has
    /// passed since the last lockout ended (so the next one would not be "in a row").
    fn is_forgettable(&self, window: u64, now: u64) -> bool {
        self.tag == 0
            || (self.weighted(window, now) == 0 && now >= self.locked_until.saturating_add(window))
    }

    /// Eviction order: the smallest goes first.
    fn worth(&self, window: u64, now: u64) -> (bool, u8, u64, u64) {
        (
            self.is_locked(now),
            self.streak,
            self.weighted(window, now),
            self.bucket_start,
        )
    }
}

/// The guard: a fixed-size table of failure counts and lockouts, shared by every worker.
#[derive(Debug)]
pub struct Guard {
    policy: Policy,
    table: FixedTable<Slot>,
}

impl Guard {
    /// The server's guard: [`SHARDS`] × [`DEFAULT_SETS_PER_SHARD`] × [`WAYS`] entries.
    pub fn new(policy: Policy) -> Guard {
        Guard::with_sets(policy, DEFAULT_SETS_PER_SHARD)
    }

    /// A guard of `SHARDS × sets_per_shard × WAYS` entries (`sets_per_shard` rounded up to a
    /// power of two); tests use small ones.
    pub fn with_sets(policy: Policy, sets_per_shard: usize) -> Guard {
        Guard {
            policy,
            table: FixedTable::with_sets(sets_per_shard),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The most entries the guard ever holds.
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// Entries in use now (never more than [`Guard::capacity`]).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The key of `identity` seen from `address`.
    pub fn key(&self, identity: Identity<'_>, address: IpAddr) -> Key {
        Key {
            tag: self.table.tag(&(identity, address)),
            per_address: identity == Identity::Address,
        }
    }

    /// Whether `key` may try to authenticate now.
    pub fn check(&self, key: Key, now: u64) -> Verdict {
        let window = self.policy.window_ms;
        let verdict = self.table.with_set_if_any(key.tag, |set| {
            let slot = set.get()?;
            if slot.is_locked(now) {
                let left = slot.locked_until - now;
                return Some(Verdict::Locked {
                    retry_after_secs: u32::try_from(left.div_ceil(1000).max(1)).unwrap_or(u32::MAX),
                });
            }
            slot.roll(window, now);
            if slot.is_forgettable(window, now) {
                set.remove();
                return None;
            }
            Some(Verdict::Open { tracked: true })
        });
        verdict
            .flatten()
            .unwrap_or(Verdict::Open { tracked: false })
    }

    /// Counts a failed authentication of `key`; locks it out when it reaches its limit.
    pub fn failed(&self, key: Key, now: u64) -> Failure {
        let p = &self.policy;
        let limit = if key.per_address {
            p.address_limit
        } else {
            p.limit
        };
        self.table.with_set(key.tag, |set| {
            let slot = set.get_or_insert_with(
                |set| victim(set, p.window_ms, now),
                |tag| Slot::new(tag, now),
            );
            count_failure(slot, p, limit, now)
        })
    }

    /// Forgets `key`'s failures (and its lockout streak) after it authenticated.
    pub fn succeeded(&self, key: Key) {
        self.table.with_set(key.tag, |set| set.remove());
    }
}

/// Counts a failure in `slot`, locking it out when it reaches `limit`.
fn count_failure(slot: &mut Slot, p: &Policy, limit: u32, now: u64) -> Failure {
    if slot.is_locked(now) {
        // Checked before another worker's failure locked it: the lockout already
        // answers for this attempt, and must not start the next window early.
        return Failure::Counted;
    }
    slot.roll(p.window_ms, now);
    slot.curr = slot.curr.saturating_add(1);
    if slot.weighted(p.window_ms, now) < u64::from(limit) * p.window_ms {
        return Failure::Counted;
    }
    let lockout = p
        .lockout_ms
        .saturating_mul(1 << u32::from(slot.streak).min(20))
        .min(p.max_lockout_ms);
    slot.streak = slot.streak.saturating_add(1);
    slot.locked_until = now + lockout;
    slot.prev = 0;
    slot.curr = 0;
    slot.bucket_start = now;
    Failure::LockedOut {
        lockout_secs: u32::try_from(lockout.div_ceil(1000)).unwrap_or(u32::MAX),
        in_a_row: u32::from(slot.streak),
    }
}

/// The slot of `set` a new key takes: an empty or forgettable one, else the one worth least.
fn victim(set: &[Slot], window: u64, now: u64) -> usize {
    if let Some(i) = set.iter().position(|s| s.is_forgettable(window, now)) {
        return i;
    }
    (0..set.len())
        .min_by_key(|&i| set[i].worth(window, now))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const SEC: u64 = 1000;
    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    fn policy() -> Policy {
        Policy {
            limit: 3,
            address_limit: 10,
            window_ms: 60 * SEC,
            lockout_ms: 60 * SEC,
            max_lockout_ms: 3600 * SEC,
        }
    }

    fn guard() -> Guard {
        Guard::with_sets(policy(), 4)
    }

    /// Fails `key` `n` times at `now`; returns the last outcome.
    fn fail(g: &Guard, key: Key, n: u32, now: u64) -> Failure {
        let mut last = Failure::Counted;
        for _ in 0..n {
            last = g.failed(key, now);
        }
        last
    }

    fn locked_for(g: &Guard, key: Key, now: u64) -> Option<u32> {
        match g.check(key, now) {
            Verdict::Locked { retry_after_secs } => Some(retry_after_secs),
            Verdict::Open { .. } => None,
        }
    }

    #[test]
    fn failures_below_the_limit_leave_the_identity_open_but_tracked() {
        let g = guard();
        let k = g.key(Identity::Client("svc"), A);
        assert_eq!(g.check(k, 0), Verdict::Open { tracked: false });
        assert_eq!(fail(&g, k, 2, 0), Failure::Counted);
        assert_eq!(g.check(k, 0), Verdict::Open { tracked: true });
    }

    #[test]
    fn the_limit_th_failure_in_the_window_locks_the_identity_out() {
        let g = guard();
        let k = g.key(Identity::User("alice"), A);
        g.failed(k, 0);
        g.failed(k, 20 * SEC);
        assert_eq!(
            g.failed(k, 40 * SEC),
            Failure::LockedOut {
                lockout_secs: 60,
                in_a_row: 1
            }
        );
        assert_eq!(locked_for(&g, k, 40 * SEC), Some(60));
    }

    #[test]
    fn retry_after_is_the_lockout_time_left_rounded_up() {
        let g = guard();
        let k = g.key(Identity::Client("svc"), A);
        fail(&g, k, 3, 1_000);
        assert_eq!(locked_for(&g, k, 1_000), Some(60));
        assert_eq!(locked_for(&g, k, 31_500), Some(30));
        assert_eq!(locked_for(&g, k, 60_999), Some(1));
        assert_eq!(locked_for(&g, k, 61_000), None);
    }

    #[test]
    fn failures_older_than_the_window_stop_counting() {
        let g = guard();
        let k = g.key(Identity::Client("svc"), A);
        fail(&g, k, 2, 0);
        // Two windows later both buckets are empty: two more failures stay below 3.
        assert_eq!(fail(&g, k, 2, 120 * SEC), Failure::Counted);
        // Half a window after a bucket of 2, half of them still count: 1 + 2 = 3.
        let k2 = g.key(Identity::Client("other"), A);
        fail(&g, k2, 2, 0);
        assert_eq!(fail(&g, k2, 1, 90 * SEC), Failure::Counted);
        assert!(matches!(
            fail(&g, k2, 1, 90 * SEC),
            Failure::LockedOut { .. }
        ));
    }

    #[test]
    fn sliding_window_weighs_the_previous_bucket_by_its_share_still_inside() {
        let mut s = Slot::new(1, 0);
        s.curr = 4;
        s.roll(60 * SEC, 75 * SEC);
        assert_eq!((s.prev, s.curr, s.bucket_start), (4, 0, 60 * SEC));
        // 15 s into the new bucket, 45/60 of the previous one is inside the window: 3.
        assert_eq!(s.weighted(60 * SEC, 75 * SEC), 3 * 60 * SEC);
    }

    #[test]
    fn lockouts_in_a_row_double_and_are_capped_at_an_hour() {
        let g = guard();
        let k = g.key(Identity::Client("svc"), A);
        let mut now = 0;
        let mut lengths = Vec::new();
        for _ in 0..9 {
            let Failure::LockedOut { lockout_secs, .. } = fail(&g, k, 3, now) else {
                panic!("not locked out");
            };
            lengths.push(lockout_secs);
            now += u64::from(lockout_secs) * SEC;
            assert_eq!(locked_for(&g, k, now - 1), Some(1));
        }
        assert_eq!(lengths, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    }

    #[test]
    fn a_quiet_window_after_a_lockout_or_a_success_starts_the_doubling_again() {
        let g = guard();
        let k = g.key(Identity::Client("svc"), A);
        fail(&g, k, 3, 0);
        // The lockout ended at 60 s; nothing until a window later: forgotten.
        assert_eq!(g.check(k, 121 * SEC), Verdict::Open { tracked: false });
        assert_eq!(
            fail(&g, k, 3, 121 * SEC),
            Failure::LockedOut {
                lockout_secs: 60,
                in_a_row: 1
            }
        );
        let now = 181 * SEC;
        fail(&g, k, 2, now);
        g.succeeded(k);
        assert_eq!(g.check(k, now), Verdict::Open { tracked: false });
        assert!(matches!(
            fail(&g, k, 3, now),
            Failure::LockedOut {
                lockout_secs: 60,
                ..
            }
        ));
    }

    #[test]
    fn other_identities_and_other_addresses_are_unaffected() {
        let g = guard();
        let locked = g.key(Identity::Client("svc"), A);
        fail(&g, locked, 3, 0);
        assert!(locked_for(&g, locked, 0).is_some());
        for other in [
            g.key(Identity::Client("svc"), B),
            g.key(Identity::Client("svc2"), A),
            g.key(Identity::User("svc"), A),
            g.key(Identity::Address, A),
        ] {
            assert_eq!(g.check(other, 0), Verdict::Open { tracked: false });
        }
    }

    #[test]
    fn spraying_many_identities_from_one_address_locks_the_address() {
        let g = guard();
        let address = g.key(Identity::Address, A);
        for i in 0..9 {
            let name = format!("user{i}");
            let k = g.key(Identity::User(&name), A);
            assert_eq!(g.failed(k, 0), Failure::Counted);
            assert_eq!(g.failed(address, 0), Failure::Counted);
        }
        assert!(matches!(g.failed(address, 0), Failure::LockedOut { .. }));
        assert_eq!(locked_for(&g, address, 0), Some(60));
        assert_eq!(
            g.check(g.key(Identity::Address, B), 0),
            Verdict::Open { tracked: false }
        );
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_random_identities() {
        let g = Guard::with_sets(policy(), 2);
        let cap = g.capacity();
        assert_eq!(cap, SHARDS * 2 * WAYS);
        // A locked identity the flood must not evict.
        let target = g.key(Identity::User("alice"), A);
        fail(&g, target, 3, 0);
        for i in 0..50 * cap {
            let name = format!("random-{i}");
            g.failed(g.key(Identity::User(&name), B), (i % 1000) as u64);
            if i % 97 == 0 {
                assert!(g.len() <= cap, "{} entries, capacity {cap}", g.len());
            }
        }
        assert_eq!(g.len(), cap);
        assert_eq!(locked_for(&g, target, 1000), Some(59));
    }

    #[test]
    fn an_entry_is_32_bytes_so_the_default_table_is_2_mib() {
        assert_eq!(std::mem::size_of::<Slot>(), 32);
        assert_eq!(SHARDS * DEFAULT_SETS_PER_SHARD * WAYS, 65_536);
    }

    #[test]
    fn a_failure_racing_into_a_lockout_neither_extends_nor_restarts_it() {
        let g = guard();
        let k = g.key(Identity::Client("svc"), A);
        fail(&g, k, 3, 0);
        assert_eq!(fail(&g, k, 5, 10 * SEC), Failure::Counted);
        assert_eq!(locked_for(&g, k, 10 * SEC), Some(50));
        assert_eq!(g.check(k, 60 * SEC), Verdict::Open { tracked: true });
        assert_eq!(fail(&g, k, 2, 60 * SEC), Failure::Counted);
    }

    #[test]
    fn a_success_forgets_the_failures_and_frees_the_entry() {
        let g = guard();
        let k = g.key(Identity::Client("svc"), A);
        fail(&g, k, 2, 0);
        assert_eq!(g.len(), 1);
        g.succeeded(k);
        assert_eq!(g.len(), 0);
        assert_eq!(fail(&g, k, 2, 0), Failure::Counted);
    }
}
