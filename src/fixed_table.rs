//! A fixed-size, sharded, set-associative table of small `Copy` slots: the memory of the
//! brute-force guard ([`crate::guard`]) and of the per-address rate limit
//! ([`crate::ratelimit::AddressLimiter`]).
//!
//! The table is the mechanism only: where a key lives, the locks, and how many slots are in
//! use. What a slot holds, which slot a new key evicts, and every decision stay with the
//! module that owns the table. It touches nothing but its own memory — no I/O, no clock, no
//! logging.
//!
//! # Memory: fixed, allocated once
//!
//! [`SHARDS`] shards of `sets_per_shard` sets (a power of two) of [`WAYS`] slots:
//! `SHARDS × sets_per_shard × WAYS × size_of::<S>()` bytes, all allocated by
//! [`FixedTable::with_sets`] and never grown — a new key takes a slot of its set, evicting
//! one if the set is full. Nothing is allocated after that, and nothing under a lock.
//!
//! # Keys
//!
//! A key is a *tag*: a keyed SipHash of whatever identifies it ([`FixedTable::tag`]), with
//! the low bit set so that it is never 0 — a slot whose [`Slot::tag`] is 0 is empty. The
//! hash key is random per process, so no one can aim keys at one set. The tag's top 6 bits
//! choose the shard, its bits from 1 up the set.
//!
//! # Concurrency
//!
//! Each shard is a `parking_lot` mutex over its slots, cache-line aligned, with a count of
//! the slots in use that is read without the lock; a critical section sees one set of
//! [`WAYS`] slots.

use parking_lot::Mutex;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Shards of the table; a power of two.
pub const SHARDS: usize = 64;
/// Slots per set: how many keys that hash to one set are kept at once.
pub const WAYS: usize = 8;

/// What a table holds: a small `Copy` value whose default is the empty slot.
pub trait Slot: Copy + Default {
    /// The tag of the key the slot holds; 0 when empty. Set only by
    /// [`Set::get_or_insert_with`] and cleared only by [`Set::remove`], so that the table's
    /// count of slots in use stays exact.
    fn tag(&self) -> u64;
}

/// One shard: its slots behind a lock, and how many are in use (read without the lock).
#[derive(Debug)]
#[repr(align(64))]
struct Shard<S> {
    used: AtomicUsize,
    slots: Mutex<Box<[S]>>,
}

/// The table: `SHARDS × sets_per_shard × WAYS` slots, shared by every worker.
#[derive(Debug)]
pub struct FixedTable<S> {
    hasher: RandomState,
    shards: Box<[Shard<S>]>,
    sets_per_shard: usize,
}

/// The set of one key, locked: the key's slot, if any, and the hooks to add or drop it.
#[derive(Debug)]
pub struct Set<'a, S> {
    tag: u64,
    slots: &'a mut [S],
    used: &'a AtomicUsize,
}

impl<S: Slot> FixedTable<S> {
    /// A table of `SHARDS × sets_per_shard × WAYS` empty slots (`sets_per_shard` rounded up
    /// to a power of two).
    pub fn with_sets(sets_per_shard: usize) -> FixedTable<S> {
        let sets_per_shard = sets_per_shard.max(1).next_power_of_two();
        let shards = (0..SHARDS)
            .map(|_| Shard {
                used: AtomicUsize::new(0),
                slots: Mutex::new(vec![S::default(); sets_per_shard * WAYS].into_boxed_slice()),
            })
            .collect();
        FixedTable {
            hasher: RandomState::new(),
            shards,
            sets_per_shard,
        }
    }

    /// The most slots the table ever holds.
    pub fn capacity(&self) -> usize {
        SHARDS * self.sets_per_shard * WAYS
    }

    /// Slots in use now (never more than [`FixedTable::capacity`]).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.used.load(Ordering::Relaxed))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tag of `key`: its keyed hash, never 0.
    pub fn tag(&self, key: &impl Hash) -> u64 {
        self.hasher.hash_one(key) | 1
    }

    /// Runs `f` on the set of `tag`, under its shard's lock.
    pub fn with_set<R>(&self, tag: u64, f: impl FnOnce(&mut Set<'_, S>) -> R) -> R {
        let (shard, range) = self.place(tag);
        let mut slots = shard.slots.lock();
        f(&mut Set {
            tag,
            slots: &mut slots[range],
            used: &shard.used,
        })
    }

    /// Like [`FixedTable::with_set`], but `None` without taking the lock when `tag`'s shard
    /// holds nothing at all.
    pub fn with_set_if_any<R>(&self, tag: u64, f: impl FnOnce(&mut Set<'_, S>) -> R) -> Option<R> {
        if self.place(tag).0.used.load(Ordering::Relaxed) == 0 {
            return None;
        }
        Some(self.with_set(tag, f))
    }

    /// The shard and the slot range of the set `tag` belongs to.
    fn place(&self, tag: u64) -> (&Shard<S>, std::ops::Range<usize>) {
        let shard = &self.shards[(tag >> 58) as usize % SHARDS];
        let set = (tag >> 1) as usize & (self.sets_per_shard - 1);
        (shard, set * WAYS..(set + 1) * WAYS)
    }
}

impl<S: Slot> Set<'_, S> {
    /// The key's slot, if the set holds it.
    pub fn get(&mut self) -> Option<&mut S> {
        let tag = self.tag;
        self.slots.iter_mut().find(|s| s.tag() == tag)
    }

    /// The key's slot; when the set does not hold it, the slot `victim` picks among the set's
    /// [`WAYS`] (empty or not) is replaced by `new(tag)`.
    pub fn get_or_insert_with(
        &mut self,
        victim: impl FnOnce(&[S]) -> usize,
        new: impl FnOnce(u64) -> S,
    ) -> &mut S {
        let tag = self.tag;
        let i = match self.slots.iter().position(|s| s.tag() == tag) {
            Some(i) => i,
            None => {
                let i = victim(self.slots);
                if self.slots[i].tag() == 0 {
                    self.used.fetch_add(1, Ordering::Relaxed);
                }
                self.slots[i] = new(tag);
                i
            }
        };
        &mut self.slots[i]
    }

    /// Empties the key's slot, if the set holds it.
    pub fn remove(&mut self) {
        let tag = self.tag;
        if let Some(slot) = self.slots.iter_mut().find(|s| s.tag() == tag) {
            *slot = S::default();
            self.used.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hasher};

    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    struct Cell {
        tag: u64,
        value: u32,
    }

    impl Slot for Cell {
        fn tag(&self) -> u64 {
            self.tag
        }
    }

    /// The tag of shard `shard`, set `set`, told apart by `n` (bits 16..).
    fn tag(shard: u64, set: u64, n: u64) -> u64 {
        shard << 58 | n << 16 | set << 1 | 1
    }

    fn insert(t: &FixedTable<Cell>, tag: u64, value: u32) {
        t.with_set(tag, |set| {
            let victim = |s: &[Cell]| s.iter().position(|c| c.tag == 0).unwrap_or(0);
            set.get_or_insert_with(victim, |tag| Cell { tag, value });
        });
    }

    fn value(t: &FixedTable<Cell>, tag: u64) -> Option<u32> {
        t.with_set(tag, |set| set.get().map(|c| c.value))
    }

    #[test]
    fn sets_per_shard_is_rounded_up_to_a_power_of_two() {
        assert_eq!(
            FixedTable::<Cell>::with_sets(3).capacity(),
            SHARDS * 4 * WAYS
        );
        assert_eq!(FixedTable::<Cell>::with_sets(0).capacity(), SHARDS * WAYS);
        assert_eq!(FixedTable::<Cell>::with_sets(128).capacity(), 65_536);
    }

    #[test]
    fn tags_are_keyed_hashes_never_0() {
        let (t, u) = (
            FixedTable::<Cell>::with_sets(1),
            FixedTable::<Cell>::with_sets(1),
        );
        assert_eq!(t.tag(&("a", 1u8)), t.tag(&("a", 1u8)));
        assert_ne!(t.tag(&"a"), t.tag(&"b"));
        assert_ne!(t.tag(&"a"), u.tag(&"a"), "the hash key is per table");
        assert!((0..1000u32).all(|i| t.tag(&i) & 1 == 1));
        // The same hash as feeding the parts one after another (what guard and ratelimit did).
        let mut h = t.hasher.build_hasher();
        "a".hash(&mut h);
        1u8.hash(&mut h);
        assert_eq!(t.tag(&("a", 1u8)), h.finish() | 1);
    }

    #[test]
    fn a_key_sees_only_its_own_set() {
        let t = FixedTable::<Cell>::with_sets(4);
        // Same shard and set, different keys: the set holds both.
        insert(&t, tag(5, 2, 1), 10);
        insert(&t, tag(5, 2, 2), 20);
        t.with_set(tag(5, 2, 3), |set| {
            assert_eq!(set.slots.len(), WAYS);
            assert_eq!(set.slots[0].value, 10);
            assert_eq!(set.slots[1].value, 20);
        });
        // Another set of that shard, and the same set of another shard, are empty.
        t.with_set(tag(5, 3, 1), |set| {
            assert!(set.slots.iter().all(|c| c.tag == 0))
        });
        t.with_set(tag(6, 2, 1), |set| {
            assert!(set.slots.iter().all(|c| c.tag == 0))
        });
        // Set bits above sets_per_shard wrap around: set 6 of 4 is set 2.
        t.with_set(tag(5, 6, 9), |set| assert_eq!(set.slots[1].value, 20));
        assert_eq!(value(&t, tag(5, 2, 2)), Some(20));
        assert_eq!(value(&t, tag(5, 2, 3)), None);
    }

    #[test]
    fn used_counts_slots_taken_and_freed() {
        let t = FixedTable::<Cell>::with_sets(1);
        assert!(t.is_empty());
        insert(&t, tag(0, 0, 1), 1);
        insert(&t, tag(0, 0, 1), 2); // the same key: found, not inserted again
        insert(&t, tag(9, 0, 1), 3);
        assert_eq!(t.len(), 2);
        assert_eq!(value(&t, tag(0, 0, 1)), Some(1));
        t.with_set(tag(0, 0, 1), |set| set.remove());
        t.with_set(tag(0, 0, 1), |set| set.remove()); // not there: nothing to free
        assert_eq!(t.len(), 1);
        assert_eq!(value(&t, tag(0, 0, 1)), None);
    }

    #[test]
    fn an_empty_shard_is_skipped_without_its_lock() {
        let t = FixedTable::<Cell>::with_sets(1);
        assert_eq!(t.with_set_if_any(tag(1, 0, 1), |_| ()), None);
        insert(&t, tag(1, 0, 1), 7);
        assert_eq!(
            t.with_set_if_any(tag(1, 0, 2), |set| set.get().is_some()),
            Some(false)
        );
        assert_eq!(t.with_set_if_any(tag(2, 0, 1), |_| ()), None);
    }

    #[test]
    fn a_full_set_evicts_the_slot_the_victim_hook_picks() {
        let t = FixedTable::<Cell>::with_sets(1);
        for n in 0..WAYS as u64 {
            insert(&t, tag(3, 0, n), n as u32);
        }
        assert_eq!(t.len(), WAYS);
        let new = tag(3, 0, 100);
        t.with_set(new, |set| {
            let slot = set.get_or_insert_with(
                |s| {
                    assert_eq!(s.len(), WAYS);
                    (0..s.len()).max_by_key(|&i| s[i].value).unwrap_or(0)
                },
                |tag| Cell { tag, value: 99 },
            );
            assert_eq!(
                *slot,
                Cell {
                    tag: new,
                    value: 99
                }
            );
        });
        // The largest value went; the count did not change, the other keys stayed.
        assert_eq!(t.len(), WAYS);
        assert_eq!(value(&t, tag(3, 0, WAYS as u64 - 1)), None);
        assert_eq!(value(&t, tag(3, 0, 0)), Some(0));
        // A key already there is never handed to the hook.
        t.with_set(new, |set| {
            set.get_or_insert_with(
                |_| panic!("evicted for a key it holds"),
                |_| Cell::default(),
            )
            .value += 1;
        });
        assert_eq!(value(&t, new), Some(100));
    }
}
