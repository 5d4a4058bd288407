//! The TokenTable: every live token of this node, in N shards behind short locks.
//!
//! Shards are chosen by key bits, each `{ map: key → record, wheel: expiry schedule }`
//! behind its own `parking_lot::Mutex`. A second set of shards holds the grant links
//! (grant id → its refresh token and access tokens) so that revoking a refresh token can
//! revoke what was issued under it (RFC 7009 §2.1).
//!
//! Locking rules, which keep every critical section short and deadlock-free:
//! - at most one token shard lock is held at a time;
//! - a grant shard lock may be taken first and a token shard lock inside it, never the
//!   other way round;
//! - nothing in here blocks, allocates on the lookup path, or does I/O.
//!
//! Issuing under a grant is "insert the record, then link it": if the grant was revoked in
//! between, the link fails and the caller removes what it inserted. So a token issued
//! concurrently with a revocation of its grant never survives it.

use crate::key::TokenKey;
use crate::record::{GrantId, TokenKind, TokenRecord};
use crate::shard::ShardMap;
use crate::wheel::{Swept, TimerWheel};
use crate::Sym;
use parking_lot::Mutex;

/// Slots per shard wheel: one per second, a turn of about 17 minutes.
const WHEEL_SLOTS: usize = 1024;
/// Expired entries reclaimed per lock hold during a purge: each is a map removal that
/// may shrink a sub-map or undo a split (see [`crate::shard`]), so this bounds how long a
/// request can wait for the purge.
const PURGE_BATCH: usize = 512;
/// Splits per lock hold when [`TokenTable::reserve`] pre-sizes a table in use.
const RESERVE_BATCH: usize = 8;

/// Pads a shard to its own cache line pair so two cores working on neighbouring shards
/// do not slow each other down.
#[repr(align(128))]
#[derive(Debug)]
struct Padded<T>(T);

#[derive(Debug)]
struct Shard {
    /// Grows and shrinks a sub-map at a time: no operation rehashes the whole shard.
    map: ShardMap<TokenKey, TokenRecord>,
    wheel: TimerWheel,
}

/// The tokens of one grant. Access tokens are kept with their expiry so the list can be
/// pruned without touching the token shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub client: Sym,
    pub refresh: Option<TokenKey>,
    pub access: Vec<(TokenKey, u32)>,
}

/// Grant links grow with refresh-token traffic as tokens do with issuance, so they split
/// the same bounded way.
#[derive(Debug)]
struct GrantShard {
    map: ShardMap<GrantId, Grant>,
    /// Grants created without a refresh token (a read-through access token, restored
    /// before or without its refresh token). No refresh expiry will ever remove them, so
    /// the purge looks at these and drops each once its access tokens have all expired.
    /// May name grants that have since gained a refresh token or gone: the purge checks.
    refreshless: Vec<GrantId>,
}

/// What [`TokenTable::revoke`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// No live token under that key.
    NotFound,
    /// The token belongs to another client; nothing changed.
    NotOwner,
    /// The token is gone, and so are `cascaded` access tokens of its grant. `issued_at` is
    /// the revoked token's, so its delete can be ordered after its put in a store that
    /// orders writes by timestamp.
    Revoked {
        kind: TokenKind,
        grant: GrantId,
        issued_at: u32,
        cascaded: usize,
    },
}

/// What one purge pass reclaimed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PurgeStats {
    /// Access tokens and used markers.
    pub access: usize,
    pub refresh: usize,
    pub grants: usize,
    /// Records that are not tokens: sessions and consents (and codes, never in the table
    /// on the server).
    pub other: usize,
}

/// What [`TokenTable::growth`] reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GrowthStats {
    /// Sub-maps over all shards (see [`crate::shard`]).
    pub sub_maps: usize,
    /// Records the sub-maps have room for without growing.
    pub capacity: usize,
    /// The most entries a single split or merge has moved: the bound on the work one
    /// growth step does under a shard lock.
    pub max_moved: usize,
}

#[derive(Debug)]
pub struct TokenTable {
    shards: Box<[Padded<Mutex<Shard>>]>,
    grants: Box<[Padded<Mutex<GrantShard>>]>,
    mask: usize,
}

impl TokenTable {
    /// A table of `shards` shards (rounded up to a power of two) whose wheels start at `now`.
    pub fn new(shards: usize, now: u32) -> TokenTable {
        TokenTable::with_expected(shards, now, 0)
    }

    /// Like [`TokenTable::new`], with room for `expected` records from the start (0: none),
    /// so filling it to that size (a start-up recovery) splits and rehashes nothing. Only
    /// saves work: the table grows past it in bounded steps all the same.
    pub fn with_expected(shards: usize, now: u32, expected: usize) -> TokenTable {
        let n = shards.max(1).next_power_of_two();
        let shift = n.trailing_zeros();
        let per_shard = expected.div_ceil(n);
        TokenTable {
            shards: (0..n)
                .map(|_| {
                    Padded(Mutex::new(Shard {
                        map: ShardMap::with_expected(shift, per_shard),
                        wheel: TimerWheel::new(WHEEL_SLOTS, now),
                    }))
                })
                .collect(),
            grants: (0..n)
                .map(|_| {
                    Padded(Mutex::new(GrantShard {
                        map: ShardMap::new(shift),
                        refreshless: Vec::new(),
                    }))
                })
                .collect(),
            mask: n - 1,
        }
    }

    /// Pre-sizes a table that may be in use for `expected` records in all: splits its
    /// shards' maps a few sub-maps per lock hold, so requests keep being served meanwhile.
    /// For a recovery that learns the count only after the table was built.
    pub fn reserve(&self, expected: usize) {
        let per_shard = expected.div_ceil(self.shards.len());
        for shard in self.shards.iter() {
            while !shard.0.lock().map.reserve_step(per_shard, RESERVE_BATCH) {}
        }
    }

    #[inline]
    fn shard(&self, key: &TokenKey) -> &Mutex<Shard> {
        &self.shards[self.shard_index(key)].0
    }

    #[inline]
    fn shard_index(&self, key: &TokenKey) -> usize {
        (key.shard_bits() as usize) & self.mask
    }

    #[inline]
    fn grant_shard(&self, grant: GrantId) -> &Mutex<GrantShard> {
        // Grant ids are random, so their low bits spread evenly.
        &self.grants[(grant.0 as usize) & self.mask].0
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Stores `record` under `key`, replacing whatever was there.
    pub fn insert(&self, key: TokenKey, record: TokenRecord) {
        let mut shard = self.shard(&key).lock();
        shard.map.insert(key, record);
        shard.wheel.insert(key, record.expires_at);
    }

    /// Stores `record` under `key` unless a live record is already there: `true` when it
    /// was stored. The single-use step of a one-time value that has no record of its own
    /// (an assertion's `jti`): of concurrent callers with one key, exactly one stores it.
    pub fn insert_if_vacant(&self, key: TokenKey, record: TokenRecord, now: u32) -> bool {
        let mut shard = self.shard(&key).lock();
        if shard.map.get(&key).is_some_and(|r| r.is_live(now)) {
            return false;
        }
        shard.map.insert(key, record);
        shard.wheel.insert(key, record.expires_at);
        true
    }

    /// The live record under `key`. An expired record is invisible at once, whether or
    /// not the purge has reclaimed it yet.
    #[inline]
    pub fn get(&self, key: &TokenKey, now: u32) -> Option<TokenRecord> {
        let shard = self.shard(key).lock();
        shard.map.get(key).copied().filter(|r| r.is_live(now))
    }

    /// Removes and returns the record under `key` if it is live and `take` accepts it.
    /// This is the single-use step of refresh-token rotation: of two concurrent callers,
    /// exactly one gets the record.
    pub fn remove_if(
        &self,
        key: &TokenKey,
        now: u32,
        take: impl FnOnce(&TokenRecord) -> bool,
    ) -> Option<TokenRecord> {
        let mut shard = self.shard(key).lock();
        match shard.map.get(key) {
            Some(r) if r.is_live(now) && take(r) => shard.map.remove(key),
            _ => None,
        }
    }

    /// Removes the record under `key`, live or not.
    pub fn remove(&self, key: &TokenKey) -> Option<TokenRecord> {
        self.shard(key).lock().map.remove(key)
    }

    /// Starts a grant: records its refresh token (if any) and first access token. Both
    /// records must already be inserted.
    pub fn open_grant(
        &self,
        grant: GrantId,
        client: Sym,
        refresh: Option<TokenKey>,
        access: (TokenKey, u32),
    ) {
        let mut shard = self.grant_shard(grant).lock();
        if refresh.is_none() {
            shard.refreshless.push(grant);
        }
        shard.map.insert(
            grant,
            Grant {
                client,
                refresh,
                access: vec![access],
            },
        );
    }

    /// Adds an already inserted access token to `grant`, and, when `new_refresh` is given,
    /// makes it the grant's refresh token (rotation). Returns `false` if the grant is gone
    /// (revoked or expired): the caller must then remove the records it inserted.
    pub fn link(
        &self,
        grant: GrantId,
        access: (TokenKey, u32),
        new_refresh: Option<TokenKey>,
        now: u32,
    ) -> bool {
        let mut shard = self.grant_shard(grant).lock();
        let Some(g) = shard.map.get_mut(&grant) else {
            return false;
        };
        // Keep the list proportional to the access tokens still alive.
        if g.access.len() >= 8 && g.access.len().is_power_of_two() {
            g.access.retain(|&(_, exp)| exp > now);
        }
        g.access.push(access);
        if let Some(r) = new_refresh {
            g.refresh = Some(r);
        }
        true
    }

    /// Ends a grant without revoking its access tokens (the `none` refresh policy: the
    /// refresh token is used up, its access tokens live out their lifetime).
    pub fn close_grant(&self, grant: GrantId) -> Option<Grant> {
        self.grant_shard(grant).lock().map.remove(&grant)
    }

    /// The grant's current links, for inspection and tests.
    pub fn grant(&self, grant: GrantId) -> Option<Grant> {
        self.grant_shard(grant).lock().map.get(&grant).cloned()
    }

    /// Revokes the token under `key` on behalf of `client` (RFC 7009 §2.1): an access token
    /// alone; a refresh token together with its grant's access tokens.
    pub fn revoke(&self, key: &TokenKey, client: Sym, now: u32) -> RevokeOutcome {
        let removed = {
            let mut shard = self.shard(key).lock();
            match shard.map.get(key) {
                None => return RevokeOutcome::NotFound,
                Some(r) if !r.is_live(now) => return RevokeOutcome::NotFound,
                // A used refresh token is no token to revoke; its memory stays for reuse
                // detection. Codes, sessions and consents are no tokens either: a client
                // cannot end a login or a consent by presenting its key (RFC 7009 §2.2
                // answers 200 all the same).
                Some(r) if !r.kind.is_token() => return RevokeOutcome::NotFound,
                Some(r) if { r.client } != client => return RevokeOutcome::NotOwner,
                Some(_) => shard.map.remove(key),
            }
        };
        let Some(record) = removed else {
            return RevokeOutcome::NotFound;
        };
        let cascaded = match record.kind {
            TokenKind::Refresh => self.revoke_grant(record.grant),
            _ => 0,
        };
        RevokeOutcome::Revoked {
            kind: record.kind,
            grant: record.grant,
            issued_at: record.issued_at,
            cascaded,
        }
    }

    /// Removes a grant and every access token linked to it. Returns how many access
    /// tokens were removed.
    pub fn revoke_grant(&self, grant: GrantId) -> usize {
        if grant.is_none() {
            return 0;
        }
        let Some(g) = self.close_grant(grant) else {
            return 0;
        };
        if let Some(r) = g.refresh {
            self.remove(&r);
        }
        g.access
            .iter()
            .filter(|(k, _)| self.remove(k).is_some())
            .count()
    }

    /// Reclaims every record that expired at or before `now`, shard by shard, in batches
    /// of at most [`PURGE_BATCH`] per lock hold. Expired refresh tokens take their grant
    /// links with them.
    pub fn purge_expired(&self, now: u32) -> PurgeStats {
        let mut stats = PurgeStats::default();
        let mut dead_grants = Vec::new();
        for shard in self.shards.iter() {
            loop {
                let mut guard = shard.0.lock();
                let Shard { map, wheel } = &mut *guard;
                let finished = wheel.sweep(now, PURGE_BATCH, |key| {
                    // The map may have moved on: revoked, rotated, or re-inserted later.
                    if let Some(r) = map.get(&key) {
                        if r.is_live(now) {
                            return Swept::Lives(r.expires_at);
                        }
                        match r.kind {
                            // A used refresh token's grant belongs to its successor.
                            TokenKind::Access | TokenKind::Used => stats.access += 1,
                            TokenKind::Code | TokenKind::Session | TokenKind::Consent => {
                                stats.other += 1
                            }
                            TokenKind::Refresh => {
                                stats.refresh += 1;
                                if !r.grant.is_none() {
                                    dead_grants.push((r.grant, key));
                                }
                            }
                        }
                        map.remove(&key);
                    }
                    Swept::Done
                });
                // Memory comes back sub-map by sub-map as `remove` empties them.
                drop(guard);
                if finished {
                    break;
                }
            }
        }
        for (grant, refresh) in dead_grants {
            let mut shard = self.grant_shard(grant).lock();
            // Only if that refresh token is still the grant's: a rotation may have replaced it.
            if shard.map.get(&grant).and_then(|g| g.refresh) == Some(refresh) {
                shard.map.remove(&grant);
                stats.grants += 1;
            }
        }
        for shard in self.grants.iter() {
            stats.grants += Self::prune_refreshless(&shard.0, now);
        }
        stats
    }

    /// Drops the refresh-less grants of one grant shard whose access tokens have all
    /// expired at `now`, at most [`PURGE_BATCH`] looked at per lock hold. Returns how many
    /// were dropped.
    fn prune_refreshless(shard: &Mutex<GrantShard>, now: u32) -> usize {
        let mut dropped = 0;
        let mut i = 0;
        loop {
            let mut guard = shard.lock();
            let GrantShard { map, refreshless } = &mut *guard;
            let mut budget = PURGE_BATCH;
            while budget > 0 && i < refreshless.len() {
                budget -= 1;
                let id = refreshless[i];
                let settled = match map.get_mut(&id) {
                    // Gone (revoked, closed) or now ended by its refresh token's expiry.
                    None => true,
                    Some(g) if g.refresh.is_some() => true,
                    Some(g) => {
                        g.access.retain(|&(_, exp)| exp > now);
                        if g.access.is_empty() {
                            map.remove(&id);
                            dropped += 1;
                            true
                        } else {
                            false
                        }
                    }
                };
                if settled {
                    // The last entry moves here and is looked at next.
                    refreshless.swap_remove(i);
                } else {
                    i += 1;
                }
            }
            if i >= refreshless.len() {
                if refreshless.capacity() > 64 && refreshless.len() < refreshless.capacity() / 4 {
                    refreshless.shrink_to(refreshless.len() * 2);
                }
                return dropped;
            }
        }
    }

    /// Puts back a record read from a store — at start-up, or by a read-through of a token
    /// another node issued — re-linking it to its grant. At start-up, call
    /// [`TokenTable::finish_restore`] when every record is back. A grant this creates
    /// without a refresh token is dropped by the purge once its access tokens have expired.
    pub fn restore(&self, key: TokenKey, record: TokenRecord) {
        self.insert(key, record);
        self.link_restored(key, record);
    }

    /// [`TokenTable::restore`] of every record of `batch`, taking each shard's lock once
    /// for all of its records (start-up recovery). Back to back under one lock, the
    /// inserts' cache misses overlap; a lock per record fences each one off, which made
    /// inserting, not reading the store, most of a 10 M-token recovery. `batch` is left
    /// empty; its allocation is kept for the next batch. Keep batches to a few thousand
    /// records: each shard's lock is held for its share.
    pub fn restore_batch(&self, batch: &mut Vec<(TokenKey, TokenRecord)>) {
        // Counting sort by shard: two passes over the batch, no comparisons.
        let mut starts = vec![0usize; self.shards.len() + 1];
        for (key, _) in batch.iter() {
            starts[self.shard_index(key) + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut next = starts.clone();
        let mut sorted: Vec<Option<(TokenKey, TokenRecord)>> = vec![None; batch.len()];
        for &(key, record) in batch.iter() {
            let slot = &mut next[self.shard_index(&key)];
            sorted[*slot] = Some((key, record));
            *slot += 1;
        }
        let put = |shard: &mut Shard, records: &[Option<(TokenKey, TokenRecord)>]| {
            // Every record's home slot first, all the cache misses at once; the inserts
            // then find their slots in the cache (10 M records: a fifth to a third faster).
            let mut seen = false;
            for (key, _) in records.iter().flatten() {
                seen ^= shard.map.warm(key);
            }
            std::hint::black_box(seen);
            for &(key, record) in records.iter().flatten() {
                shard.map.insert(key, record);
                shard.wheel.insert(key, record.expires_at);
            }
        };
        // Threads restoring batches at once would otherwise sweep the shards in the same
        // order, each queueing behind the other's lock: start where this batch's first
        // record lands (a random shard) and come back to shards that are busy.
        let n = self.shards.len();
        let first = batch.first().map_or(0, |(key, _)| self.shard_index(key));
        let mut busy = Vec::new();
        for i in (0..n).map(|j| (first + j) % n) {
            let records = &sorted[starts[i]..starts[i + 1]];
            if records.is_empty() {
                continue;
            }
            match self.shards[i].0.try_lock() {
                Some(mut shard) => put(&mut shard, records),
                None => busy.push(i),
            }
        }
        for i in busy {
            put(
                &mut self.shards[i].0.lock(),
                &sorted[starts[i]..starts[i + 1]],
            );
        }
        for (key, record) in batch.drain(..) {
            self.link_restored(key, record);
        }
    }

    /// The grant-link half of [`TokenTable::restore`].
    fn link_restored(&self, key: TokenKey, record: TokenRecord) {
        // A used refresh token no longer belongs to its grant (its successor does), and
        // what is not a token (a code, a session, a consent) never did: revoking the grant
        // is about its tokens.
        if record.grant.is_none() || !record.kind.is_token() {
            return;
        }
        let mut guard = self.grant_shard(record.grant).lock();
        let GrantShard { map, refreshless } = &mut *guard;
        if map.get(&{ record.grant }).is_none() {
            // Until its refresh token comes back too, only the purge can remove it.
            refreshless.push(record.grant);
            map.insert(
                record.grant,
                Grant {
                    client: record.client,
                    refresh: None,
                    access: Vec::new(),
                },
            );
        }
        let Some(g) = map.get_mut(&{ record.grant }) else {
            return;
        };
        match record.kind {
            TokenKind::Refresh => g.refresh = Some(key),
            TokenKind::Access => g.access.push((key, record.expires_at)),
            TokenKind::Used | TokenKind::Code | TokenKind::Session | TokenKind::Consent => {}
        }
    }

    /// Drops grants that came back without a refresh token: nothing can revoke through
    /// them, so their links only cost memory. Returns how many grants remain.
    pub fn finish_restore(&self) -> usize {
        self.grants
            .iter()
            .map(|s| {
                let mut shard = s.0.lock();
                shard.map.retain(|_, g| g.refresh.is_some());
                shard.refreshless.clear();
                shard.map.len()
            })
            .sum()
    }

    /// How the shards' maps have grown, for the growth bench and tests.
    pub fn growth(&self) -> GrowthStats {
        let mut g = GrowthStats::default();
        for shard in self.shards.iter() {
            let s = shard.0.lock();
            g.sub_maps += s.map.sub_maps();
            g.capacity += s.map.capacity();
            g.max_moved = g.max_moved.max(s.map.max_moved());
        }
        g
    }

    /// Records held, including expired ones the purge has not reclaimed yet.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.0.lock().map.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Grants with a live link set.
    pub fn grant_count(&self) -> usize {
        self.grants.iter().map(|s| s.0.lock().map.len()).sum()
    }

    /// Visits every live record (for snapshots and store recovery checks), one shard lock
    /// at a time.
    pub fn for_each_live(&self, now: u32, mut f: impl FnMut(&TokenKey, &TokenRecord)) {
        for shard in self.shards.iter() {
            let guard = shard.0.lock();
            for (k, r) in guard.map.iter().filter(|(_, r)| r.is_live(now)) {
                f(k, r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const NOW: u32 = 1_000_000;

    fn client(n: u32) -> Sym {
        Sym::from_index(n)
    }

    fn rec(kind: TokenKind, c: u32, grant: u64, ttl: u32) -> TokenRecord {
        TokenRecord {
            grant: GrantId(grant),
            client: client(c),
            user: None,
            scope: Sym::from_index(0),
            meta: None,
            issued_at: NOW,
            expires_at: NOW + ttl,
            kind,
        }
    }

    fn key(name: &str) -> TokenKey {
        TokenKey::of(name.as_bytes())
    }

    #[test]
    fn a_used_refresh_token_is_remembered_outside_its_grant_and_purged_at_its_expiry() {
        let t = TokenTable::new(4, NOW);
        // Restored from a store: the used marker joins no grant.
        t.restore(key("used"), rec(TokenKind::Used, 1, 42, 100));
        t.restore(key("r2"), rec(TokenKind::Refresh, 1, 42, 500));
        assert_eq!(
            t.grant(GrantId(42)).and_then(|g| g.refresh),
            Some(key("r2"))
        );
        // RFC 7009 revocation does not touch it (it is no token), nor its grant.
        assert_eq!(
            t.revoke(&key("used"), client(1), NOW),
            RevokeOutcome::NotFound
        );
        assert!(t.get(&key("r2"), NOW).is_some());
        // Its expiry takes only the marker; the grant belongs to the live refresh token.
        t.purge_expired(NOW + 100);
        assert!(t.get(&key("used"), NOW + 100).is_none());
        assert!(t.grant(GrantId(42)).is_some());
    }

    #[test]
    fn rfc7009_2_2_codes_sessions_and_consents_are_not_revocable_tokens() {
        let t = TokenTable::new(4, NOW);
        for kind in [TokenKind::Code, TokenKind::Session, TokenKind::Consent] {
            let name = format!("{kind:?}");
            t.insert(key(&name), rec(kind, 1, 0, 600));
            // Even by the client it names (a consent's): not found, so the endpoint's 200
            // says nothing, and the record stays.
            assert_eq!(
                t.revoke(&key(&name), client(1), NOW),
                RevokeOutcome::NotFound,
                "{kind:?}"
            );
            assert!(t.get(&key(&name), NOW).is_some(), "{kind:?} stays");
        }
    }

    #[test]
    fn restored_codes_sessions_and_consents_join_no_grant() {
        let t = TokenTable::new(4, NOW);
        t.restore(key("code"), rec(TokenKind::Code, 1, 77, 600));
        t.restore(key("consent"), rec(TokenKind::Consent, 1, 78, 600));
        assert!(t.grant(GrantId(77)).is_none());
        assert!(t.grant(GrantId(78)).is_none());
        // Revoking a grant of the same id leaves them alone.
        t.restore(key("r"), rec(TokenKind::Refresh, 1, 77, 600));
        assert_eq!(t.revoke_grant(GrantId(77)), 0);
        assert!(t.get(&key("code"), NOW).is_some());
    }

    #[test]
    fn a_batch_restore_leaves_what_restoring_one_record_at_a_time_does() {
        let records: Vec<(TokenKey, TokenRecord)> = (0..2000u32)
            .map(|i| {
                let kind = [
                    TokenKind::Access,
                    TokenKind::Refresh,
                    TokenKind::Used,
                    TokenKind::Session,
                    TokenKind::Consent,
                ][(i % 5) as usize];
                let grant = if kind == TokenKind::Session {
                    0
                } else {
                    u64::from(i % 37)
                };
                (key(&format!("t{i}")), rec(kind, i % 3, grant, 100 + i % 7))
            })
            .collect();
        let one_by_one = TokenTable::new(16, NOW);
        for &(k, r) in &records {
            one_by_one.restore(k, r);
        }
        let batched = TokenTable::new(16, NOW);
        let mut batch = Vec::new();
        for chunk in records.chunks(300) {
            batch.extend_from_slice(chunk);
            batched.restore_batch(&mut batch);
            assert!(batch.is_empty(), "the batch is consumed");
        }
        let contents = |t: &TokenTable| {
            let mut all = Vec::new();
            t.for_each_live(NOW, |k, r| all.push((*k, *r)));
            all.sort_by_key(|(k, _)| *k);
            all
        };
        assert_eq!(contents(&batched), contents(&one_by_one));
        assert_eq!(contents(&batched).len(), 2000);
        for g in 0..37 {
            // Same links in the same order: a batch links its records in batch order.
            assert_eq!(
                batched.grant(GrantId(g)),
                one_by_one.grant(GrantId(g)),
                "grant {g}"
            );
        }
        assert_eq!(batched.finish_restore(), one_by_one.finish_restore());
        // The wheels hold every record too: the purge reclaims them all.
        let later = NOW + 200;
        assert_eq!(
            batched.purge_expired(later),
            one_by_one.purge_expired(later)
        );
        assert_eq!((batched.len(), one_by_one.len()), (0, 0));
    }

    #[test]
    fn a_batch_restore_fills_free_shards_before_waiting_for_a_busy_one() {
        let t = TokenTable::new(4, NOW);
        let records: Vec<(TokenKey, TokenRecord)> = (0..200)
            .map(|i| (key(&format!("b{i}")), rec(TokenKind::Access, 1, 0, 100)))
            .collect();
        let held = t.shards[0].0.lock();
        std::thread::scope(|s| {
            let restoring = s.spawn(|| t.restore_batch(&mut records.clone()));
            // Every other shard gets its records while shard 0 is held (a batch that waited
            // for shard 0 first would never get here).
            while (1..4).any(|i| t.shards[i].0.lock().map.is_empty()) {
                std::thread::yield_now();
            }
            drop(held);
            restoring.join().expect("restore");
        });
        assert!(records.iter().all(|(k, _)| t.get(k, NOW).is_some()));
        assert_eq!(t.len(), 200);
    }

    #[test]
    fn purge_reclaims_expired_sessions_and_consents_and_counts_them_apart() {
        let t = TokenTable::new(4, NOW);
        t.insert(key("s-old"), rec(TokenKind::Session, 0, 0, 10));
        t.insert(key("c-old"), rec(TokenKind::Consent, 1, 0, 10));
        t.insert(key("s-new"), rec(TokenKind::Session, 0, 0, 100));
        t.insert(key("c-new"), rec(TokenKind::Consent, 1, 0, 100));
        let stats = t.purge_expired(NOW + 10);
        assert_eq!(
            stats,
            PurgeStats {
                other: 2,
                ..PurgeStats::default()
            }
        );
        assert_eq!(t.len(), 2);
        assert!(t.get(&key("s-new"), NOW + 10).is_some());
        assert!(t.get(&key("c-new"), NOW + 10).is_some());
    }

    #[test]
    fn insert_then_get_returns_the_record_until_it_expires() {
        let t = TokenTable::new(4, NOW);
        let r = rec(TokenKind::Access, 1, 0, 60);
        t.insert(key("a"), r);
        assert_eq!(t.get(&key("a"), NOW), Some(r));
        assert_eq!(t.get(&key("a"), NOW + 59), Some(r));
        assert_eq!(t.get(&key("a"), NOW + 60), None);
        assert_eq!(t.get(&key("b"), NOW), None);
    }

    #[test]
    fn purge_reclaims_expired_records_and_keeps_live_ones() {
        let t = TokenTable::new(4, NOW);
        for i in 0..1000 {
            t.insert(key(&format!("short{i}")), rec(TokenKind::Access, 1, 0, 10));
            t.insert(key(&format!("long{i}")), rec(TokenKind::Access, 1, 0, 5000));
        }
        assert_eq!(t.purge_expired(NOW + 9), PurgeStats::default());
        assert_eq!(t.len(), 2000);
        let stats = t.purge_expired(NOW + 10);
        assert_eq!(stats.access, 1000);
        assert_eq!(t.len(), 1000);
        assert!(t.get(&key("long5"), NOW + 10).is_some());
    }

    #[test]
    fn purge_more_than_a_batch_in_one_shard() {
        let t = TokenTable::new(1, NOW);
        for i in 0..(PURGE_BATCH * 2 + 7) {
            t.insert(key(&format!("t{i}")), rec(TokenKind::Access, 1, 0, 1));
        }
        assert_eq!(t.purge_expired(NOW + 1).access, PURGE_BATCH * 2 + 7);
        assert!(t.is_empty());
    }

    #[test]
    fn rfc7009_revoking_refresh_token_revokes_access_tokens_of_its_grant() {
        let t = TokenTable::new(4, NOW);
        let g = GrantId(77);
        t.insert(key("r1"), rec(TokenKind::Refresh, 1, 77, 500));
        t.insert(key("a1"), rec(TokenKind::Access, 1, 77, 100));
        t.open_grant(g, client(1), Some(key("r1")), (key("a1"), NOW + 100));
        // A rotation: new refresh token and a second access token in the same grant.
        assert!(t
            .remove_if(&key("r1"), NOW, |r| r.kind == TokenKind::Refresh)
            .is_some());
        t.insert(key("r2"), rec(TokenKind::Refresh, 1, 77, 500));
        t.insert(key("a2"), rec(TokenKind::Access, 1, 77, 100));
        assert!(t.link(g, (key("a2"), NOW + 100), Some(key("r2")), NOW));
        t.insert(key("other"), rec(TokenKind::Access, 1, 0, 100));

        assert_eq!(
            t.revoke(&key("r2"), client(1), NOW),
            RevokeOutcome::Revoked {
                kind: TokenKind::Refresh,
                grant: g,
                issued_at: NOW,
                cascaded: 2
            }
        );
        assert_eq!(t.get(&key("a1"), NOW), None);
        assert_eq!(t.get(&key("a2"), NOW), None);
        assert!(t.get(&key("other"), NOW).is_some());
        assert_eq!(t.grant_count(), 0);
        // The grant is gone: a late link (a refresh racing the revocation) is refused.
        assert!(!t.link(g, (key("a3"), NOW + 100), None, NOW));
    }

    #[test]
    fn revoking_an_access_token_leaves_its_refresh_token() {
        let t = TokenTable::new(4, NOW);
        t.insert(key("r"), rec(TokenKind::Refresh, 1, 5, 500));
        t.insert(key("a"), rec(TokenKind::Access, 1, 5, 100));
        t.open_grant(GrantId(5), client(1), Some(key("r")), (key("a"), NOW + 100));
        assert!(matches!(
            t.revoke(&key("a"), client(1), NOW),
            RevokeOutcome::Revoked {
                kind: TokenKind::Access,
                grant: GrantId(5),
                cascaded: 0,
                ..
            }
        ));
        assert!(t.get(&key("r"), NOW).is_some());
    }

    #[test]
    fn rfc7009_another_clients_token_is_not_revoked() {
        let t = TokenTable::new(4, NOW);
        t.insert(key("a"), rec(TokenKind::Access, 1, 0, 100));
        assert_eq!(t.revoke(&key("a"), client(2), NOW), RevokeOutcome::NotOwner);
        assert!(t.get(&key("a"), NOW).is_some());
        assert_eq!(
            t.revoke(&key("zzz"), client(1), NOW),
            RevokeOutcome::NotFound
        );
    }

    #[test]
    fn expired_refresh_token_purge_drops_its_grant() {
        let t = TokenTable::new(2, NOW);
        t.insert(key("r"), rec(TokenKind::Refresh, 1, 9, 20));
        t.insert(key("a"), rec(TokenKind::Access, 1, 9, 10));
        t.open_grant(GrantId(9), client(1), Some(key("r")), (key("a"), NOW + 10));
        let stats = t.purge_expired(NOW + 20);
        assert_eq!((stats.access, stats.refresh, stats.grants), (1, 1, 1));
        assert_eq!(t.grant_count(), 0);
    }

    #[test]
    fn concurrent_rotation_hands_the_refresh_token_to_exactly_one_caller() {
        let t = Arc::new(TokenTable::new(8, NOW));
        for round in 0..200 {
            let k = key(&format!("r{round}"));
            t.insert(k, rec(TokenKind::Refresh, 1, 0, 100));
            let winners: usize = (0..2)
                .map(|_| {
                    let t = Arc::clone(&t);
                    std::thread::spawn(move || t.remove_if(&k, NOW, |_| true).is_some())
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| usize::from(h.join().unwrap_or(false)))
                .sum();
            assert_eq!(winners, 1);
        }
    }

    #[test]
    fn grant_access_list_is_pruned_as_it_grows() {
        let t = TokenTable::new(2, NOW);
        let g = GrantId(3);
        t.open_grant(g, client(1), None, (key("a0"), NOW + 1));
        for i in 1..100u32 {
            assert!(t.link(g, (key(&format!("a{i}")), NOW + 1), None, NOW + 5));
        }
        let links = t.grant(g).map(|g| g.access.len()).unwrap_or(0);
        assert!(links < 100, "expired links were kept: {links}");
    }

    #[test]
    fn purge_drops_a_restored_refreshless_grant_once_its_access_tokens_expired() {
        // A read-through of access tokens whose refresh token this node never saw.
        let t = TokenTable::new(2, NOW);
        t.restore(key("a1"), rec(TokenKind::Access, 1, 11, 10));
        t.restore(key("a2"), rec(TokenKind::Access, 1, 11, 30));
        t.restore(key("b1"), rec(TokenKind::Access, 1, 12, 10));
        t.restore(key("b2"), rec(TokenKind::Refresh, 1, 12, 500));
        assert_eq!(t.grant_count(), 2);
        // One access token of grant 11 is still alive: the grant keeps it revocable.
        t.purge_expired(NOW + 10);
        assert_eq!(t.grant(GrantId(11)).map(|g| g.access.len()), Some(1));
        let stats = t.purge_expired(NOW + 30);
        assert_eq!(stats.grants, 1);
        assert_eq!(t.grant(GrantId(11)), None);
        // A grant whose refresh token came back too lives as long as that token.
        assert!(t.grant(GrantId(12)).is_some());
        assert_eq!(t.grant_count(), 1);
        assert_eq!(t.purge_expired(NOW + 500).grants, 1);
        assert_eq!(t.grant_count(), 0);
        assert!(t.grants.iter().all(|s| s.0.lock().refreshless.is_empty()));
    }

    #[test]
    fn purge_of_many_refreshless_grants_spans_several_lock_holds() {
        let t = TokenTable::new(1, NOW);
        let n = PURGE_BATCH * 2 + 3;
        for i in 0..n {
            t.restore(
                key(&format!("a{i}")),
                rec(TokenKind::Access, 1, i as u64 + 1, 5),
            );
        }
        assert_eq!(t.grant_count(), n);
        assert_eq!(t.purge_expired(NOW + 5).grants, n);
        assert_eq!(t.grant_count(), 0);
    }

    #[test]
    fn purge_gives_a_bursts_memory_back() {
        let t = TokenTable::new(2, NOW);
        let empty = t.growth();
        let n = crate::shard::SPLIT_LOAD * 400;
        for i in 0..n {
            t.insert(key(&format!("t{i}")), rec(TokenKind::Access, 1, 0, 1));
        }
        let full = t.growth();
        assert!(full.sub_maps >= 400, "{full:?}");
        assert_eq!(t.purge_expired(NOW + 1).access, n);
        assert!(t.is_empty());
        let after = t.growth();
        assert_eq!(
            after.sub_maps, empty.sub_maps,
            "the burst's directory was kept"
        );
        assert!(
            after.capacity < full.capacity / 100,
            "{after:?} vs {full:?}"
        );
    }

    #[test]
    fn grant_links_split_like_tokens_and_every_grant_still_revokes_its_tokens() {
        // One grant shard, grown far past one sub-map: each grant keeps its links.
        let t = TokenTable::new(1, NOW);
        let n = crate::shard::SPLIT_LOAD as u64 * 20;
        for g in 1..=n {
            let (r, a) = (key(&format!("r{g}")), key(&format!("a{g}")));
            t.insert(r, rec(TokenKind::Refresh, 1, g, 500));
            t.insert(a, rec(TokenKind::Access, 1, g, 100));
            t.open_grant(GrantId(g), client(1), Some(r), (a, NOW + 100));
        }
        assert_eq!(t.grant_count(), n as usize);
        assert!(
            t.grants[0].0.lock().map.sub_maps() > 1,
            "grants never split"
        );
        for g in (1..=n).step_by(3) {
            assert_eq!(t.revoke_grant(GrantId(g)), 1, "grant {g}");
            assert_eq!(t.get(&key(&format!("a{g}")), NOW), None);
        }
        for g in (2..=n).step_by(3) {
            assert_eq!(
                t.grant(GrantId(g)).and_then(|x| x.refresh),
                Some(key(&format!("r{g}"))),
                "grant {g}"
            );
        }
    }

    #[test]
    fn a_pre_sized_table_fills_without_moving_a_record() {
        let n = 100_000;
        let t = TokenTable::with_expected(8, NOW, n);
        // Shards fill unevenly by chance (about ±1 % here): stay below the pre-size.
        let n = n * 9 / 10;
        for i in 0..n {
            t.insert(key(&format!("t{i}")), rec(TokenKind::Access, 1, 0, 60));
        }
        assert_eq!(t.growth().max_moved, 0);
        assert_eq!(t.len(), n);
        assert!(t.get(&key("t77"), NOW).is_some());
    }

    #[test]
    fn reserving_a_table_in_use_keeps_every_record() {
        let t = TokenTable::new(2, NOW);
        for i in 0..10_000 {
            t.insert(key(&format!("t{i}")), rec(TokenKind::Access, 1, 0, 60));
        }
        let before = t.growth().sub_maps;
        t.reserve(1_000_000);
        assert!(t.growth().sub_maps >= 1_000_000 / crate::shard::SPLIT_LOAD);
        assert!(t.growth().sub_maps > before);
        for i in 0..10_000 {
            assert!(t.get(&key(&format!("t{i}")), NOW).is_some(), "t{i}");
        }
    }

    #[test]
    fn records_stay_findable_while_revocations_and_purges_run_between_splits() {
        let t = TokenTable::new(1, NOW);
        let n = crate::shard::SPLIT_LOAD * 64;
        for i in 0..n {
            // Every third record expires at once, every fifth is revoked straight away.
            let ttl = if i % 3 == 0 { 1 } else { 600 };
            t.insert(key(&format!("t{i}")), rec(TokenKind::Access, 1, 0, ttl));
            if i % 5 == 0 {
                assert!(matches!(
                    t.revoke(&key(&format!("t{i}")), client(1), NOW),
                    RevokeOutcome::Revoked { .. }
                ));
            }
            if i % 1000 == 999 {
                // The clock moves on with each purge: an insert already due waits for the
                // next second's sweep (see the wheel).
                let now = NOW + 1 + (i / 1000) as u32;
                t.purge_expired(now);
                for j in (0..=i).step_by(7) {
                    let want = j % 3 != 0 && j % 5 != 0;
                    let got = t.get(&key(&format!("t{j}")), now).is_some();
                    assert_eq!(got, want, "t{j} after {i} inserts");
                }
            }
        }
        t.purge_expired(NOW + 100);
        let live = (0..n).filter(|j| j % 3 != 0 && j % 5 != 0).count();
        assert_eq!(t.len(), live);
        let mut seen = 0;
        t.for_each_live(NOW + 100, |_, _| seen += 1);
        assert_eq!(seen, live);
        assert!(t.growth().sub_maps > 16);
    }

    #[test]
    fn single_use_holds_across_splits_with_threads_racing() {
        // One shard, so the filler's inserts split the very sub-maps the racers use.
        let t = Arc::new(TokenTable::new(1, NOW));
        let rounds = 2_000;
        for r in 0..rounds {
            t.insert(key(&format!("r{r}")), rec(TokenKind::Refresh, 1, 0, 100));
        }
        let filler = {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                for i in 0..200_000 {
                    t.insert(key(&format!("f{i}")), rec(TokenKind::Access, 1, 0, 100));
                }
            })
        };
        let racers: Vec<_> = (0..3)
            .map(|_| {
                let t = Arc::clone(&t);
                std::thread::spawn(move || {
                    let mut won = (0usize, 0usize);
                    for r in 0..rounds {
                        if t.remove_if(&key(&format!("r{r}")), NOW, |_| true).is_some() {
                            won.0 += 1;
                        }
                        let jti = rec(TokenKind::Used, 1, 0, 100);
                        if t.insert_if_vacant(key(&format!("j{r}")), jti, NOW) {
                            won.1 += 1;
                        }
                    }
                    won
                })
            })
            .collect();
        let (mut taken, mut stored) = (0, 0);
        for h in racers {
            let (a, b) = h.join().unwrap_or((usize::MAX, 0));
            taken += a;
            stored += b;
        }
        assert!(filler.join().is_ok());
        assert_eq!(
            taken, rounds,
            "a refresh token was handed out twice or never"
        );
        assert_eq!(stored, rounds, "a one-time value was stored twice or never");
        assert!(t.growth().sub_maps > 100);
    }
}
