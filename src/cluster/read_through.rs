//! Read-through on a table miss, for stores shared by several nodes.
//!
//! A token issued by another node is not in this node's table. On a miss the worker asks
//! the store ([`SharedStore::lookup`]): the query runs on the store's own thread and the
//! answer comes back on a oneshot channel the worker task awaits, so the worker keeps
//! serving other connections meanwhile. A found token is put into the table (with its
//! grant link), so the next lookup is a plain table hit.
//!
//! Two guards keep floods of unknown tokens away from the store: a negative cache (a key
//! the store did not know is not asked about again for `negative_cache_ms`) and a limit on
//! lookups in flight (`read_through_limit`; beyond it a miss is answered as unknown).
//!
//! A third guard keeps removals removed: what this node revoked or used up is remembered
//! from the moment it leaves the table until the write-behind has written the removal to
//! the store (the flusher tells us, [`WriteObserver`]), however long that takes — a
//! backlog after an outage included — and for `revocation_propagation_ms` after that, for
//! reads that were already in flight.

use crate::oauth::clients::Clients;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use tessera_storage::store::{Mutation, SharedStore};
use tessera_storage::writer::WriteObserver;
use tessera_storage::{GrantId, Symbols, TokenKey, TokenRecord, TokenTable};
use tracing::debug;

const SHARDS: usize = 16;
/// Keys per negative-cache shard; a full shard is emptied (the cache is an optimisation,
/// not a record of anything).
const SHARD_CAPACITY: usize = 4096;

/// A token or grant this node removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Removed {
    Key(TokenKey),
    Grant(GrantId),
}

/// What is remembered of one removal.
#[derive(Debug, Clone, Copy, Default)]
struct Removal {
    /// Removals of this key or grant queued for the store and not written yet.
    unwritten: u32,
    /// After the last was written: remembered until then (ms), for reads in flight.
    until_ms: u64,
}

impl Removal {
    fn holds(&self, now_ms: u64) -> bool {
        self.unwritten > 0 || self.until_ms > now_ms
    }
}

/// One shard of the removal memory.
#[derive(Debug)]
struct RemovedShard {
    map: HashMap<Removed, Removal>,
    /// Size at which the next sweep of finished entries runs; doubling it after each sweep
    /// keeps sweeping at amortised O(1) per removal, however many entries stay unwritten.
    sweep_at: usize,
}

impl RemovedShard {
    fn new() -> RemovedShard {
        RemovedShard {
            map: HashMap::new(),
            sweep_at: SHARD_CAPACITY,
        }
    }
}

#[derive(Debug)]
pub struct ReadThrough {
    negative: [Mutex<HashMap<TokenKey, u64>>; SHARDS],
    negative_ms: u64,
    /// Tokens and grants this node removed and the store may not know of yet. The store
    /// learns of a removal only when the write-behind flushes it; until then a read-through
    /// would find the token there and put it back (a revoked token valid again, a used-up
    /// refresh token usable twice).
    removed: [Mutex<RemovedShard>; SHARDS],
    /// How long a written removal is still remembered (`revocation_propagation_ms`).
    removed_ms: u64,
    in_flight: AtomicUsize,
    limit: usize,
}

impl ReadThrough {
    pub fn new(negative_ms: u64, removed_ms: u64, limit: usize) -> ReadThrough {
        ReadThrough {
            negative: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            negative_ms,
            removed: std::array::from_fn(|_| Mutex::new(RemovedShard::new())),
            removed_ms,
            limit,
            in_flight: AtomicUsize::new(0),
        }
    }

    fn removed_shard(&self, what: &Removed) -> &Mutex<RemovedShard> {
        let bits = match what {
            Removed::Key(k) => k.shard_bits(),
            Removed::Grant(g) => g.0,
        };
        &self.removed[(bits as usize) % SHARDS]
    }

    /// Remembers that this node removed `what` and queued the removal for the store, so a
    /// read-through does not bring it back before the store has it. Every call must be
    /// followed by the removal's change reaching the write-behind (see [`WriteObserver`]).
    pub fn removed_here(&self, what: Removed) {
        let mut shard = self.removed_shard(&what).lock();
        if shard.map.len() >= shard.sweep_at {
            let now_ms = crate::clock::now_millis();
            shard.map.retain(|_, r| r.holds(now_ms));
            shard.sweep_at = (shard.map.len() * 2).max(SHARD_CAPACITY);
        }
        shard.map.entry(what).or_default().unwritten += 1;
    }

    /// The store now holds one removal of `what`.
    fn removal_written(&self, what: Removed, now_ms: u64) {
        if let Some(r) = self.removed_shard(&what).lock().map.get_mut(&what) {
            r.unwritten = r.unwritten.saturating_sub(1);
            r.until_ms = now_ms + self.removed_ms;
        }
    }

    fn was_removed_here(&self, what: Removed, now_ms: u64) -> bool {
        self.removed_shard(&what)
            .lock()
            .map
            .get(&what)
            .is_some_and(|r| r.holds(now_ms))
    }

    fn shard(&self, key: &TokenKey) -> &Mutex<HashMap<TokenKey, u64>> {
        &self.negative[(key.shard_bits() as usize) % SHARDS]
    }

    fn known_unknown(&self, key: &TokenKey, now_ms: u64) -> bool {
        let mut shard = self.shard(key).lock();
        match shard.get(key) {
            Some(&until) if until > now_ms => true,
            Some(_) => {
                shard.remove(key);
                false
            }
            None => false,
        }
    }

    fn remember_unknown(&self, key: &TokenKey, now_ms: u64) {
        if self.negative_ms == 0 {
            return;
        }
        let mut shard = self.shard(key).lock();
        if shard.len() >= SHARD_CAPACITY {
            shard.clear();
        }
        shard.insert(*key, now_ms + self.negative_ms);
    }

    /// Forgets that `key` was unknown (this node just learnt it exists).
    pub fn forget(&self, key: &TokenKey) {
        self.shard(key).lock().remove(key);
    }
}

impl WriteObserver for ReadThrough {
    /// Runs on the flusher thread after each written batch.
    fn written(&self, batch: &[Mutation]) {
        let now_ms = crate::clock::now_millis();
        for m in batch {
            match m {
                Mutation::Put { .. } => {}
                Mutation::Delete { key, .. } => self.removal_written(Removed::Key(*key), now_ms),
                Mutation::DeleteGrant { grant } => {
                    self.removal_written(Removed::Grant(*grant), now_ms)
                }
            }
        }
    }
}

/// Where a lookup reads: this node's table, and the shared store behind it (with this
/// node's read-through state) when there is one.
#[derive(Debug, Clone, Copy)]
pub struct Tokens<'a> {
    pub table: &'a TokenTable,
    pub shared: Option<(&'a dyn SharedStore, &'a ReadThrough)>,
    pub syms: &'a Symbols,
}

/// The live record of `key`: from this node's table, or else from the shared store. A
/// token of a client missing from `clients` (removed) is as good as unknown.
pub async fn lookup(
    tokens: Tokens<'_>,
    clients: &Clients,
    key: &TokenKey,
    now: u32,
) -> Option<TokenRecord> {
    if let Some(record) = tokens.table.get(key, now) {
        return Some(record);
    }
    let (shared, rt) = tokens.shared?;
    let now_ms = crate::clock::now_millis();
    if rt.known_unknown(key, now_ms) || rt.was_removed_here(Removed::Key(*key), now_ms) {
        return None;
    }
    if rt.in_flight.fetch_add(1, Ordering::Relaxed) >= rt.limit {
        rt.in_flight.fetch_sub(1, Ordering::Relaxed);
        debug!("read-through limit reached; answering a miss as unknown");
        return None;
    }
    let answer = shared.lookup(*key, now).await;
    rt.in_flight.fetch_sub(1, Ordering::Relaxed);
    let token = match answer {
        Ok(Ok(Some(token))) => token,
        Ok(Ok(None)) => {
            rt.remember_unknown(key, crate::clock::now_millis());
            return None;
        }
        Ok(Err(e)) => {
            debug!(error = %e, "read-through failed; answering as unknown");
            return None;
        }
        Err(_) => return None,
    };
    // Removed here, by itself or with its grant, while the store has not seen it yet (or
    // while this read was in flight)? Then it stays removed.
    let now_ms = crate::clock::now_millis();
    if rt.was_removed_here(Removed::Key(*key), now_ms)
        || rt.was_removed_here(Removed::Grant(token.grant), now_ms)
    {
        return None;
    }
    // A token of a client this node does not know (removed) is as good as unknown.
    clients.get(&token.client)?;
    let syms = tokens.syms;
    let record = TokenRecord {
        grant: token.grant,
        client: syms.clients.intern(&token.client),
        user: token.user.as_deref().map(|u| syms.users.intern(u)),
        scope: syms.scopes.intern(&token.scope),
        meta: token.meta.as_deref().map(|m| syms.meta.intern(m)),
        issued_at: token.issued_at,
        expires_at: token.expires_at,
        kind: token.kind,
    };
    // Revoked here while the read was in flight? Then the revocation log has it too, and
    // the cluster thread removes it again within the propagation window.
    tokens.table.restore(*key, record);
    record.is_live(now).then_some(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_cache_remembers_an_unknown_key_for_its_lifetime_only() {
        let rt = ReadThrough::new(100, 1_000, 8);
        let k = TokenKey::of(b"made-up");
        assert!(!rt.known_unknown(&k, 1_000));
        rt.remember_unknown(&k, 1_000);
        assert!(rt.known_unknown(&k, 1_050));
        assert!(
            !rt.known_unknown(&k, 1_100),
            "expired entries are asked about again"
        );
        rt.remember_unknown(&k, 2_000);
        rt.forget(&k);
        assert!(!rt.known_unknown(&k, 2_001));
    }

    #[test]
    fn negative_cache_stays_bounded_under_a_flood_of_distinct_keys() {
        let rt = ReadThrough::new(60_000, 1_000, 8);
        for i in 0..(SHARDS * SHARD_CAPACITY * 3) as u64 {
            rt.remember_unknown(&TokenKey::of(&i.to_le_bytes()), 0);
        }
        let held: usize = rt.negative.iter().map(|s| s.lock().len()).sum();
        assert!(held <= SHARDS * SHARD_CAPACITY, "{held}");
    }

    #[test]
    fn a_removal_is_remembered_until_written_however_long_that_takes() {
        let rt = ReadThrough::new(100, 1_000, 8);
        let k = Removed::Key(TokenKey::of(b"revoked"));
        rt.removed_here(k);
        // An outage: the removal waits in the write-behind far beyond the window.
        let much_later = crate::clock::now_millis() + 3_600_000;
        assert!(rt.was_removed_here(k, much_later));
        let now = crate::clock::now_millis();
        rt.written(&[Mutation::Delete {
            key: TokenKey::of(b"revoked"),
            issued_at: 0,
        }]);
        assert!(
            rt.was_removed_here(k, now + 999),
            "kept for reads in flight"
        );
        assert!(!rt.was_removed_here(k, now + 1_000 + 1_000));
    }

    #[test]
    fn a_key_removed_twice_is_remembered_until_both_removals_are_written() {
        let rt = ReadThrough::new(100, 0, 8);
        let g = GrantId(7);
        rt.removed_here(Removed::Grant(g));
        rt.removed_here(Removed::Grant(g));
        rt.written(&[Mutation::DeleteGrant { grant: g }]);
        let later = crate::clock::now_millis() + 10;
        assert!(rt.was_removed_here(Removed::Grant(g), later));
        rt.written(&[Mutation::DeleteGrant { grant: g }]);
        assert!(!rt.was_removed_here(Removed::Grant(g), later));
    }

    #[test]
    fn removal_memory_sweeps_written_entries_and_keeps_unwritten_ones() {
        let rt = ReadThrough::new(100, 0, 8);
        let n = (SHARDS * SHARD_CAPACITY * 4) as u64;
        for i in 0..n {
            let key = TokenKey::of(&i.to_le_bytes());
            rt.removed_here(Removed::Key(key));
            if i % 2 == 0 {
                rt.written(&[Mutation::Delete { key, issued_at: 0 }]);
            }
        }
        let held: usize = rt.removed.iter().map(|s| s.lock().map.len()).sum();
        assert!(held < n as usize, "written entries were swept: {held}");
        let later = crate::clock::now_millis() + 10;
        for i in (1..n).step_by(2) {
            let key = TokenKey::of(&i.to_le_bytes());
            assert!(rt.was_removed_here(Removed::Key(key), later), "lost {i}");
        }
    }

    #[test]
    fn zero_lifetime_disables_the_negative_cache() {
        let rt = ReadThrough::new(0, 1_000, 8);
        let k = TokenKey::of(b"x");
        rt.remember_unknown(&k, 5);
        assert!(!rt.known_unknown(&k, 5));
    }
}
