//! One sub-map of a [`ShardMap`](crate::shard::ShardMap): an open-addressing hash map
//! whose entries sit in a single array, found by linear probing in Robin Hood order.
//!
//! Why not `std::collections::HashMap`: with 10 M live tokens nearly every lookup misses
//! the caches, and a SwissTable lookup is two dependent misses inside the sub-map — its
//! control bytes, then the slot they point to (they sit kilobytes apart, so usually on
//! different pages too). Here the key is in the slot: a lookup goes straight to the key's
//! home slot, and the few slots after it are at addresses that do not depend on what was
//! loaded, so the CPU fetches them in parallel. One miss instead of two.
//!
//! Robin Hood order (on insert, an entry further from its home slot takes the place of
//! one nearer to its own) keeps probe sequences short and uniform, and lets a lookup of an
//! absent key stop as soon as it passes where the key would be. Removal shifts the
//! following entries back one slot, so there are no tombstones and a sub-map that empties
//! is as fast as a fresh one.
//!
//! The home slot is the key's hash scaled onto the capacity (multiply and shift), so the
//! capacity need not be a power of two: a sub-map grows by half instead of doubling, and
//! splits give each half room for what it holds plus a third. Together that keeps about
//! two thirds of the slots in use, against about half for a doubling map.
//!
//! Touches nothing but its own array; no `unsafe`: empty slots are `None`, which costs no
//! space for records with a niche (see `record_stays_compact`).

use crate::key::KeyHashBuilder;
use std::fmt;
use std::hash::{BuildHasher, Hash};

/// At most 7 of 8 slots hold an entry, so probe sequences stay a few slots long and every
/// probe sequence ends at an empty slot.
const MAX_LOAD_NUM: usize = 7;
const MAX_LOAD_DEN: usize = 8;
/// The smallest array a sub-map with entries gets.
const MIN_SLOTS: usize = 8;

pub struct SubMap<K, V> {
    slots: Box<[Option<(K, V)>]>,
    len: usize,
}

impl<K, V> Default for SubMap<K, V> {
    fn default() -> Self {
        SubMap {
            slots: Box::new([]),
            len: 0,
        }
    }
}

/// Slots needed to hold `n` entries within the load limit (at least one empty).
fn slots_for(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    (n * MAX_LOAD_DEN)
        .div_ceil(MAX_LOAD_NUM)
        .max(n + 1)
        .max(MIN_SLOTS)
}

/// The home slot of `hash` in an array of `slots` (> 0) slots. Uses the hash's low 32 bits
/// (a token key's first bytes, a grant id's high half: both independent of the bits that
/// chose the shard and the sub-map), multiplied by the golden ratio so that keys differing
/// only in low bits still land far apart, then scaled onto the array.
#[inline]
fn home(hash: u64, slots: usize) -> usize {
    let mixed = (hash as u32).wrapping_mul(0x9E37_79B9);
    ((u64::from(mixed) * slots as u64) >> 32) as usize
}

impl<K: Eq + Hash, V> SubMap<K, V> {
    /// An empty sub-map with room for `n` entries without growing.
    pub fn with_capacity(n: usize) -> Self {
        SubMap {
            slots: empty_slots(slots_for(n)),
            len: 0,
        }
    }

    #[inline]
    fn hash(key: &K) -> u64 {
        KeyHashBuilder::default().hash_one(key)
    }

    /// How far the entry at `i` sits from its home slot.
    #[inline]
    fn distance(&self, i: usize, key: &K) -> usize {
        let h = home(Self::hash(key), self.slots.len());
        if i >= h {
            i - h
        } else {
            i + self.slots.len() - h
        }
    }

    #[inline]
    fn find(&self, key: &K) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let n = self.slots.len();
        let mut i = home(Self::hash(key), n);
        let mut d = 0;
        loop {
            let (k, _) = self.slots[i].as_ref()?;
            if k == key {
                return Some(i);
            }
            // Our key would have displaced this entry: it is not here.
            if self.distance(i, k) < d {
                return None;
            }
            i += 1;
            if i == n {
                i = 0;
            }
            d += 1;
        }
    }

    /// Reads the key's home slot and nothing else: a batch of inserts calls this for every
    /// key first, so that their cache misses are in flight together (see
    /// `TokenTable::restore_batch`). Inserting one by one waits for each miss in turn: an
    /// insert's probe loop ends on what it loaded, so the CPU cannot run ahead of it.
    #[inline]
    pub fn warm(&self, key: &K) -> bool {
        let n = self.slots.len();
        n != 0 && self.slots[home(Self::hash(key), n)].is_some()
    }

    #[inline]
    pub fn get(&self, key: &K) -> Option<&V> {
        let i = self.find(key)?;
        self.slots[i].as_ref().map(|(_, v)| v)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = self.find(key)?;
        self.slots[i].as_mut().map(|(_, v)| v)
    }

    /// Stores `value` under `key`, returning what was there. Grows the array by half when
    /// it is full.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(i) = self.find(&key) {
            return self.slots[i]
                .as_mut()
                .map(|(_, v)| std::mem::replace(v, value));
        }
        self.reserve(1);
        self.place(key, value);
        None
    }

    /// Stores an entry whose key the caller knows is absent (a split or a merge moving
    /// entries between sub-maps): no search first.
    pub fn insert_unique(&mut self, key: K, value: V) {
        self.reserve(1);
        self.place(key, value);
    }

    /// Puts an entry whose key is not in the map, with room for it.
    fn place(&mut self, key: K, value: V) {
        let n = self.slots.len();
        let mut i = home(Self::hash(&key), n);
        let mut carry = (key, value);
        let mut d = 0;
        loop {
            let resident = match &self.slots[i] {
                None => {
                    self.slots[i] = Some(carry);
                    self.len += 1;
                    return;
                }
                Some((k, _)) => self.distance(i, k),
            };
            if resident < d {
                if let Some(entry) = self.slots[i].as_mut() {
                    std::mem::swap(entry, &mut carry);
                }
                d = resident;
            }
            i += 1;
            if i == n {
                i = 0;
            }
            d += 1;
        }
    }

    /// Removes and returns the value under `key`; the entries after it move back a slot.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let mut i = self.find(key)?;
        let (_, value) = self.slots[i].take()?;
        self.len -= 1;
        let n = self.slots.len();
        loop {
            let next = if i + 1 == n { 0 } else { i + 1 };
            match &self.slots[next] {
                Some((k, _)) if self.distance(next, k) > 0 => {
                    self.slots[i] = self.slots[next].take();
                    i = next;
                }
                _ => return Some(value),
            }
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entries the array has room for without growing.
    pub fn capacity(&self) -> usize {
        (self.slots.len() * MAX_LOAD_NUM / MAX_LOAD_DEN).min(self.slots.len().saturating_sub(1))
    }

    /// Makes room for `additional` more entries: at least half again the current array.
    pub fn reserve(&mut self, additional: usize) {
        let want = self.len + additional;
        if want > self.capacity() {
            let n = self.slots.len();
            self.resize(slots_for(want).max(n + n / 2));
        }
    }

    /// Gives memory back down to room for `min` entries (never fewer than it holds).
    pub fn shrink_to(&mut self, min: usize) {
        let n = slots_for(min.max(self.len));
        if n < self.slots.len() {
            self.resize(n);
        }
    }

    fn resize(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.slots, empty_slots(slots));
        self.len = 0;
        for (k, v) in old.into_vec().into_iter().flatten() {
            self.place(k, v);
        }
    }

    /// Keeps only the entries `keep` accepts, rebuilding the array: for start-up, not for
    /// a sub-map in use (it allocates).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let fresh = empty_slots(self.slots.len());
        let old = std::mem::replace(&mut self.slots, fresh);
        self.len = 0;
        for (k, mut v) in old.into_vec().into_iter().flatten() {
            if keep(&k, &mut v) {
                self.place(k, v);
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots.iter().flatten().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }

    /// Moves every entry of `other` in; no key may be in both.
    pub fn extend_unique(&mut self, other: SubMap<K, V>) {
        self.reserve(other.len);
        for (k, v) in other {
            self.place(k, v);
        }
    }
}

impl<K, V> IntoIterator for SubMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Option<(K, V)>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.slots.into_vec().into_iter().flatten()
    }
}

/// Sizes only: a sub-map of a table holds hundreds of entries.
impl<K, V> fmt::Debug for SubMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubMap")
            .field("len", &self.len)
            .field("slots", &self.slots.len())
            .finish()
    }
}

fn empty_slots<T>(n: usize) -> Box<[Option<T>]> {
    std::iter::repeat_with(|| None).take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::TokenKey;
    use crate::record::GrantId;
    use std::collections::HashMap;

    /// Reproducible uniform draws: the map hash of a token key already is one.
    fn draw(step: u64, which: u64) -> u64 {
        key(step << 1 | which).map_hash()
    }

    fn key(n: u64) -> TokenKey {
        TokenKey::of(&n.to_le_bytes())
    }

    /// Every lookup agrees with `std`'s map, and no probe sequence is broken.
    fn agrees<K: Eq + Hash + Copy + std::fmt::Debug>(
        m: &SubMap<K, u64>,
        model: &HashMap<K, u64>,
        probes: impl Iterator<Item = K>,
    ) {
        assert_eq!(m.len(), model.len());
        assert_eq!(m.iter().count(), model.len());
        for (k, v) in model {
            assert_eq!(m.get(k), Some(v), "{k:?} lost");
        }
        for k in probes {
            assert_eq!(m.get(&k), model.get(&k), "{k:?}");
        }
        assert!(m.len() <= m.capacity() && m.capacity() < m.slots.len().max(1));
    }

    #[test]
    fn random_inserts_replacements_and_removals_agree_with_std() {
        let mut m = SubMap::default();
        let mut model = HashMap::new();
        for step in 0..60_000u64 {
            // Keys from a small range so replacements and removals of present keys are common.
            let k = key(draw(step, 0) % 700);
            match draw(step, 1) % 10 {
                0..=4 => assert_eq!(m.insert(k, step), model.insert(k, step)),
                5..=7 => assert_eq!(m.remove(&k), model.remove(&k)),
                8 => {
                    if let Some(v) = m.get_mut(&k) {
                        *v += 1;
                    }
                    if let Some(v) = model.get_mut(&k) {
                        *v += 1;
                    }
                }
                _ => {
                    if m.capacity() > 64 && m.len() < m.capacity() / 4 {
                        m.shrink_to(m.len() * 2);
                    }
                }
            }
            if step % 997 == 0 {
                agrees(&m, &model, (0..800).map(key));
            }
        }
        agrees(&m, &model, (0..800).map(key));
    }

    #[test]
    fn grant_ids_spread_over_the_slots_like_token_keys() {
        // Grant ids of one sub-map share their low bits (they chose the shard and the
        // sub-map); the home slot must not depend on those. Random ids are the real case;
        // counting ones are the worst.
        let mut m = SubMap::default();
        let mut model = HashMap::new();
        for i in 0..5_000u64 {
            let id = GrantId((i << 32) | 0x5a5a);
            m.insert(id, i);
            model.insert(id, i);
        }
        agrees(&m, &model, std::iter::empty());
        let longest = (0..m.slots.len())
            .filter_map(|i| m.slots[i].as_ref().map(|(k, _)| m.distance(i, k)))
            .max();
        assert!(longest < Some(64), "probe sequence of {longest:?}");
    }

    #[test]
    fn removing_everything_leaves_no_trace_and_shrinking_keeps_what_is_left() {
        let mut m = SubMap::with_capacity(300);
        let slots = m.slots.len();
        for i in 0..300 {
            assert_eq!(m.insert(key(i), i), None);
        }
        assert_eq!(m.slots.len(), slots, "grew before its capacity");
        for i in 0..290 {
            assert_eq!(m.remove(&key(i)), Some(i));
        }
        m.shrink_to(20);
        assert!(m.slots.len() < slots / 4);
        for i in 290..300 {
            assert_eq!(m.get(&key(i)), Some(&i));
        }
        for i in 290..300 {
            assert_eq!(m.remove(&key(i)), Some(i));
        }
        assert!(m.is_empty());
        assert!(m.slots.iter().all(Option::is_none));
        assert_eq!(m.get(&key(1)), None);
    }

    #[test]
    fn retain_extend_unique_and_into_iter_keep_every_entry_once() {
        let mut a = SubMap::default();
        let mut b = SubMap::default();
        for i in 0..400 {
            a.insert(key(i), i);
            b.insert(key(i + 400), i + 400);
        }
        a.retain(|_, v| *v % 2 == 0);
        assert_eq!(a.len(), 200);
        a.extend_unique(b);
        assert_eq!(a.len(), 600);
        let mut all: Vec<u64> = a.into_iter().map(|(_, v)| v).collect();
        all.sort_unstable();
        let want: Vec<u64> = (0..400).filter(|v| v % 2 == 0).chain(400..800).collect();
        assert_eq!(all, want);
    }

    #[test]
    fn a_full_array_grows_by_half_not_double() {
        let mut m = SubMap::with_capacity(256);
        let before = m.slots.len();
        for i in 0..=256 {
            m.insert(key(i), i);
        }
        let after = m.slots.len();
        assert!(
            after >= before + before / 2 && after < before * 2,
            "{before} → {after}"
        );
    }
}
