//! One table shard's `key → value` map, grown and shrunk by linear hashing so that no
//! operation ever moves more than a few hundred entries.
//!
//! A single hash map grows by rehashing every entry at once; with millions of tokens that
//! is a pause of tens of milliseconds under the shard lock, and because the table's shards
//! fill evenly they would all pause within the same second. [`ShardMap`] instead keeps a
//! directory of small sub-maps addressed by key bits (Litwin's linear hashing: level `L`,
//! split pointer `p`). When the average sub-map passes [`SPLIT_LOAD`] entries, exactly one
//! sub-map — the one at `p` — is split by the next key bit into itself and a new sub-map
//! at the end of the directory. When the average falls below a quarter of that, the last
//! split is undone. A sub-map also grows on its own (by half: [`SubMap`]), but it is small,
//! so that is bounded too. A lookup costs one more shift and mask than a plain map.
//!
//! Why shards never grow all at once: each split moves one sub-map of one shard, and the
//! sub-maps' own resizes happen when each of them, by the chance of its keys, reaches
//! its threshold — spread over time rather than lined up.
//!
//! Sub-map indices come from the key's [`SplitKey::split_bits`] above the bits that chose
//! the shard; the sub-maps hash the key with bits independent of those
//! ([`TokenKey::map_hash`]; a grant id's hash is its value turned round), so keys of one
//! sub-map still spread over all of its slots. Token shards and grant shards both use it.
//!
//! Touches nothing but its own maps: callers hold the shard lock around every call.

use crate::key::TokenKey;
use crate::record::GrantId;
use crate::submap::SubMap;
use std::hash::Hash;

/// A key a [`ShardMap`] can split by: uniformly distributed bits, the lowest of which chose
/// the key's shard.
pub trait SplitKey: Copy + Eq + Hash {
    fn split_bits(&self) -> u64;
}

impl SplitKey for TokenKey {
    #[inline]
    fn split_bits(&self) -> u64 {
        self.shard_bits()
    }
}

/// Grant ids are random; the table picks a grant's shard by its lowest bits.
impl SplitKey for GrantId {
    #[inline]
    fn split_bits(&self) -> u64 {
        self.0
    }
}

/// Average entries per sub-map at which the next sub-map splits. A split moves one
/// sub-map (about `SPLIT_LOAD`..`2 × SPLIT_LOAD` entries) into two fresh ones, and a
/// sub-map's own resize rehashes a map of about that size: both a few microseconds.
/// Smaller would mean a bigger directory (one more cache miss per lookup, more headers).
pub const SPLIT_LOAD: usize = 128;
/// The average below which the last split is undone. A quarter of [`SPLIT_LOAD`], so a
/// table hovering at one size does not split and merge the same sub-map back and forth.
const MERGE_LOAD: usize = SPLIT_LOAD / 4;
/// Sub-maps with room for at most this many entries are never shrunk: not worth a rehash.
const MIN_SHRINK_CAPACITY: usize = 64;

#[derive(Debug)]
pub struct ShardMap<K, V> {
    /// `2^level + split` sub-maps; those before `split` (and their images at the end)
    /// are addressed with `level + 1` bits, the others with `level` bits.
    maps: Vec<SubMap<K, V>>,
    level: u32,
    split: usize,
    /// The key bits below this one chose the shard: sub-map bits start above them.
    shift: u32,
    len: usize,
    /// Merges never take the directory below this many sub-maps (the pre-size).
    floor: usize,
    /// The most entries one split or merge has moved, for tests and the growth bench.
    max_moved: usize,
}

impl<K: SplitKey, V> ShardMap<K, V> {
    /// An empty map for a shard chosen by the lowest `shift` bits of `shard_bits`.
    pub fn new(shift: u32) -> ShardMap<K, V> {
        ShardMap {
            maps: vec![SubMap::default()],
            level: 0,
            split: 0,
            shift,
            len: 0,
            floor: 1,
            max_moved: 0,
        }
    }

    /// An empty map with sub-maps and room for about `expected` entries, so filling it
    /// to that size splits nothing and rehashes nothing. It still grows past `expected`.
    pub fn with_expected(shift: u32, expected: usize) -> ShardMap<K, V> {
        let mut map = ShardMap::new(shift);
        let want = expected.div_ceil(SPLIT_LOAD).max(1);
        map.maps.reserve_exact(want - 1);
        while map.maps.len() < want {
            // Empty sub-maps: nothing to move.
            map.split_one();
        }
        map.floor = want;
        // A sub-map not yet split covers twice the key space of one that was. Each gets a
        // third more room than its share, as a split gives its halves: some get more than
        // their share by chance, and an array filled to its limit inserts slowly.
        let (level, split) = (map.level, map.split);
        let narrow = expected >> (level + 1);
        for (i, m) in map.maps.iter_mut().enumerate() {
            let wide = i >= split && i < (1 << level);
            let share = if wide { narrow * 2 } else { narrow };
            m.reserve(share + share / 3);
        }
        map
    }

    #[inline]
    fn index(&self, key: &K) -> usize {
        let bits = (key.split_bits() >> self.shift) as usize;
        let low = bits & ((1 << self.level) - 1);
        if low < self.split {
            bits & ((2 << self.level) - 1)
        } else {
            low
        }
    }

    #[inline]
    pub fn get(&self, key: &K) -> Option<&V> {
        self.maps[self.index(key)].get(key)
    }

    /// See [`SubMap::warm`].
    #[inline]
    pub fn warm(&self, key: &K) -> bool {
        self.maps[self.index(key)].warm(key)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = self.index(key);
        self.maps[i].get_mut(key)
    }

    /// Keeps only the entries `keep` accepts. Visits every entry at once: for start-up
    /// (before any request), not for a table in use. The directory stays as it is; later
    /// removals merge it down.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        for m in &mut self.maps {
            m.retain(|k, v| keep(k, v));
        }
        self.len = self.maps.iter().map(|m| m.len()).sum();
    }

    /// Stores `value` under `key`, returning what was there. May split one sub-map.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let i = self.index(&key);
        let old = self.maps[i].insert(key, value);
        if old.is_none() {
            self.len += 1;
            if self.len > self.maps.len() * SPLIT_LOAD {
                // One split per insert keeps the average at SPLIT_LOAD: each insert adds
                // one entry, each split one sub-map of room for SPLIT_LOAD.
                self.split_one();
            }
        }
        old
    }

    /// Removes and returns the value under `key`. May shrink its sub-map or undo one split.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.index(key);
        let m = &mut self.maps[i];
        let old = m.remove(key)?;
        self.len -= 1;
        // Give memory back as the purge empties a sub-map; bounded by the sub-map's size.
        if m.capacity() > MIN_SHRINK_CAPACITY && m.len() < m.capacity() / 4 {
            m.shrink_to(m.len() * 2);
        }
        if self.maps.len() > self.floor && self.len < self.maps.len() * MERGE_LOAD {
            self.merge_one();
        }
        Some(old)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every entry, sub-map by sub-map.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.maps.iter().flat_map(|m| m.iter())
    }

    /// Entries the sub-maps have room for without growing.
    pub fn capacity(&self) -> usize {
        self.maps.iter().map(|m| m.capacity()).sum()
    }

    pub fn sub_maps(&self) -> usize {
        self.maps.len()
    }

    /// The most entries a single split or merge of this map has moved.
    pub fn max_moved(&self) -> usize {
        self.max_moved
    }

    /// Raises the directory to room for `expected` entries by at most `budget` splits;
    /// `true` once it is there. Lets a caller pre-size a live shard a few splits per lock
    /// hold. Merges will not take the directory back below it.
    pub fn reserve_step(&mut self, expected: usize, budget: usize) -> bool {
        let want = expected.div_ceil(SPLIT_LOAD).max(1);
        self.floor = self.floor.max(want);
        for _ in 0..budget {
            if self.maps.len() >= want {
                return true;
            }
            self.split_one();
        }
        self.maps.len() >= want
    }

    /// Splits the sub-map at the split pointer by key bit `shift + level`: the entries with
    /// the bit clear stay at `split`, the others go to a new sub-map at `2^level + split`.
    fn split_one(&mut self) {
        let bit = 1usize << self.level;
        let shift = self.shift;
        let high = |k: &K| (k.split_bits() >> shift) as usize & bit != 0;
        let old = std::mem::take(&mut self.maps[self.split]);
        // Counted first so both halves get their size at once, with no rehash half-way and
        // no room kept for the half that left. Each keeps room for a third more than it
        // gets: both grow towards the next split, most with at most one resize on the way.
        let moved_up = old.keys().filter(|k| high(k)).count();
        let kept = old.len() - moved_up;
        let mut low = SubMap::with_capacity(kept + kept / 3);
        let mut up = SubMap::with_capacity(moved_up + moved_up / 3);
        self.max_moved = self.max_moved.max(old.len());
        for (k, v) in old {
            if high(&k) {
                up.insert_unique(k, v);
            } else {
                low.insert_unique(k, v);
            }
        }
        self.maps[self.split] = low;
        self.maps.push(up);
        self.split += 1;
        if self.split == bit {
            self.level += 1;
            self.split = 0;
        }
    }

    /// Undoes the last split: the last sub-map's entries go back into the one it came from.
    fn merge_one(&mut self) {
        if self.split == 0 {
            if self.level == 0 {
                return;
            }
            self.level -= 1;
            self.split = 1 << self.level;
        }
        self.split -= 1;
        let Some(donor) = self.maps.pop() else {
            return;
        };
        self.max_moved = self.max_moved.max(donor.len());
        let target = &mut self.maps[self.split];
        target.extend_unique(donor);
        if self.maps.capacity() > 64 && self.maps.len() < self.maps.capacity() / 4 {
            self.maps.shrink_to(self.maps.len() * 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> TokenKey {
        TokenKey::of(&n.to_le_bytes())
    }

    fn all_findable(m: &ShardMap<TokenKey, u64>, keys: impl Iterator<Item = u64>) {
        for n in keys {
            assert_eq!(
                m.get(&key(n)),
                Some(&n),
                "key {n} lost ({} sub-maps)",
                m.sub_maps()
            );
        }
    }

    #[test]
    fn every_key_is_findable_after_each_split_and_each_merge() {
        let mut m = ShardMap::new(2);
        let n = SPLIT_LOAD as u64 * 40;
        for i in 0..n {
            let before = m.sub_maps();
            assert_eq!(m.insert(key(i), i), None);
            if m.sub_maps() != before {
                all_findable(&m, 0..=i);
            }
        }
        assert!(m.sub_maps() >= 32, "{} sub-maps", m.sub_maps());
        assert_eq!(m.len(), n as usize);
        assert_eq!(m.iter().count(), n as usize);
        for i in 0..n {
            let before = m.sub_maps();
            assert_eq!(m.remove(&key(i)), Some(i));
            assert_eq!(m.remove(&key(i)), None);
            if m.sub_maps() != before {
                all_findable(&m, i + 1..n);
            }
        }
        assert!(m.is_empty());
        assert_eq!(m.sub_maps(), 1, "the burst's directory was kept");
        assert!(
            m.capacity() <= MIN_SHRINK_CAPACITY * 2,
            "kept {}",
            m.capacity()
        );
    }

    #[test]
    fn a_split_or_merge_moves_at_most_a_few_sub_maps_worth_of_entries() {
        let mut m = ShardMap::new(6);
        let n = 1_000_000u64;
        for i in 0..n {
            m.insert(key(i), i);
        }
        for i in 0..n {
            m.remove(&key(i));
        }
        // Unsplit sub-maps reach twice the average before their turn, plus chance.
        assert!(m.max_moved() > 0);
        assert!(
            m.max_moved() <= 3 * SPLIT_LOAD,
            "one step moved {} entries",
            m.max_moved()
        );
    }

    #[test]
    fn replacing_a_value_changes_neither_length_nor_directory() {
        let mut m = ShardMap::new(0);
        for i in 0..1000 {
            m.insert(key(i), i);
        }
        let dirs = m.sub_maps();
        assert_eq!(m.insert(key(5), 55), Some(5));
        assert_eq!((m.len(), m.sub_maps()), (1000, dirs));
        assert_eq!(m.get(&key(5)), Some(&55));
    }

    #[test]
    fn a_pre_sized_map_fills_to_its_size_without_a_split_and_keeps_its_directory() {
        let expected = SPLIT_LOAD * 100;
        let mut m = ShardMap::with_expected(3, expected);
        let dirs = m.sub_maps();
        assert_eq!(dirs, 100);
        for i in 0..expected as u64 {
            m.insert(key(i), i);
        }
        assert_eq!(m.sub_maps(), dirs);
        assert_eq!(m.max_moved(), 0, "filling to the pre-size moved entries");
        all_findable(&m, 0..expected as u64);
        for i in 0..expected as u64 {
            m.remove(&key(i));
        }
        assert_eq!(m.sub_maps(), dirs, "merged below the pre-size");
        // And it still grows past it.
        for i in 0..(expected * 3) as u64 {
            m.insert(key(i), i);
        }
        assert!(m.sub_maps() > dirs);
        all_findable(&m, 0..(expected * 3) as u64);
    }

    #[test]
    fn reserve_steps_split_a_filled_map_a_few_at_a_time() {
        let mut m = ShardMap::new(0);
        for i in 0..5_000 {
            m.insert(key(i), i);
        }
        let start = m.sub_maps();
        assert!(!m.reserve_step(SPLIT_LOAD * 200, 10));
        assert_eq!(m.sub_maps(), start + 10);
        while !m.reserve_step(SPLIT_LOAD * 200, 10) {}
        assert_eq!(m.sub_maps(), 200);
        all_findable(&m, 0..5_000);
    }
}
