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

use crate::app::App;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use tessera_storage::{GrantId, TokenKey, TokenRecord};
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

#[derive(Debug)]
pub struct ReadThrough {
    negative: [Mutex<HashMap<TokenKey, u64>>; SHARDS],
    negative_ms: u64,
    /// Tokens and grants this node removed lately. The store learns of a removal only when
    /// the write-behind flushes it; until then a read-through would find the token there
    /// and put it back (a revoked token valid again, a used-up refresh token usable twice).
    /// Kept for `removed_ms` (`revocation_propagation_ms`, the time a removal is given to
    /// reach the store).
    removed: [Mutex<HashMap<Removed, u64>>; SHARDS],
    removed_ms: u64,
    in_flight: AtomicUsize,
    limit: usize,
}

impl ReadThrough {
    pub fn new(negative_ms: u64, removed_ms: u64, limit: usize) -> ReadThrough {
        ReadThrough {
            negative: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            negative_ms,
            removed: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            removed_ms,
            limit,
            in_flight: AtomicUsize::new(0),
        }
    }

    fn removed_shard(&self, what: &Removed) -> &Mutex<HashMap<Removed, u64>> {
        let bits = match what {
            Removed::Key(k) => k.shard_bits(),
            Removed::Grant(g) => g.0,
        };
        &self.removed[(bits as usize) % SHARDS]
    }

    /// Remembers that this node removed `what`, so a read-through does not bring it back
    /// from a store the removal has not reached yet.
    pub fn removed_here(&self, what: Removed) {
        let now_ms = crate::clock::now_millis();
        let mut shard = self.removed_shard(&what).lock();
        if shard.len() >= SHARD_CAPACITY {
            shard.retain(|_, until| *until > now_ms);
        }
        shard.insert(what, now_ms + self.removed_ms);
    }

    fn was_removed_here(&self, what: Removed, now_ms: u64) -> bool {
        self.removed_shard(&what)
            .lock()
            .get(&what)
            .is_some_and(|&until| until > now_ms)
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

/// The live record of `key`: from this node's table, or else from the shared store.
pub async fn lookup(app: &App, key: &TokenKey, now: u32) -> Option<TokenRecord> {
    if let Some(record) = app.table.get(key, now) {
        return Some(record);
    }
    let shared = app.store.as_ref()?.shared()?;
    let rt = app.read_through.as_ref()?;
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
    app.clients().get(&token.client)?;
    let syms = &app.syms;
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
    app.table.restore(*key, record);
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
    fn zero_lifetime_disables_the_negative_cache() {
        let rt = ReadThrough::new(0, 1_000, 8);
        let k = TokenKey::of(b"x");
        rt.remember_unknown(&k, 5);
        assert!(!rt.known_unknown(&k, 5));
    }
}
