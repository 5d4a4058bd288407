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
//! lookups in flight, per node (`read_through_limit`) and per source address
//! (`read_through_limit_per_address`). A connection serves one request at a time, so one
//! connection holds at most one slot, and one address at most its share: a client
//! flooding made-up tokens cannot use up everyone else's budget.
//!
//! "Cannot tell" is never "unknown": a lookup the store does not answer (an error, a
//! timeout, the in-flight limit reached) is [`Unavailable`], which endpoints answer with
//! 503 `temporarily_unavailable` and `Retry-After`. Clients drop refresh tokens on
//! `invalid_grant`; a store blip must not log everyone out.
//!
//! A third guard keeps removals removed: what this node revoked or used up is remembered
//! from the moment it leaves the table until the write-behind has written the removal to
//! the store (the flusher tells us, [`WriteObserver`]), however long that takes — a
//! backlog after an outage included — and for `revocation_propagation_ms` after that, for
//! reads that were already in flight.

use crate::oauth::clients::Clients;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use tessera_storage::store::{Mutation, SharedStore, StoredToken};
use tessera_storage::writer::WriteObserver;
use tessera_storage::{GrantId, Symbols, TokenKey, TokenKind, TokenRecord, TokenTable};
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
    /// Lookups in flight by source address; an entry lives only while it is non-zero.
    by_address: [Mutex<HashMap<IpAddr, u32>>; SHARDS],
    address_limit: u32,
}

impl ReadThrough {
    pub fn new(
        negative_ms: u64,
        removed_ms: u64,
        limit: usize,
        address_limit: usize,
    ) -> ReadThrough {
        ReadThrough {
            by_address: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            address_limit: u32::try_from(address_limit).unwrap_or(u32::MAX),
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

    fn address_shard(&self, peer: IpAddr) -> &Mutex<HashMap<IpAddr, u32>> {
        let bits = match peer {
            IpAddr::V4(a) => u64::from(u32::from(a)),
            IpAddr::V6(a) => {
                let o = a.octets();
                u64::from_le_bytes([o[8], o[9], o[10], o[11], o[12], o[13], o[14], o[15]])
            }
        };
        &self.by_address[(bits as usize) % SHARDS]
    }

    /// A slot for one lookup in flight from `peer`, or `None` at `read_through_limit` or
    /// at `read_through_limit_per_address` for that address.
    fn admit(&self, peer: IpAddr) -> Option<Slot<'_>> {
        {
            let mut shard = self.address_shard(peer).lock();
            let n = shard.entry(peer).or_insert(0);
            if *n >= self.address_limit {
                return None;
            }
            *n += 1;
        }
        if self.in_flight.fetch_add(1, Ordering::Relaxed) >= self.limit {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            self.release_address(peer);
            return None;
        }
        Some(Slot { rt: self, peer })
    }

    fn release_address(&self, peer: IpAddr) {
        let mut shard = self.address_shard(peer).lock();
        if let Some(n) = shard.get_mut(&peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                shard.remove(&peer);
            }
        }
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

/// The store could not say whether a token exists (error, timeout, or this node's
/// read-through limit reached). Never to be answered as "invalid".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

impl From<Unavailable> for crate::oauth::OAuthError {
    fn from(_: Unavailable) -> Self {
        crate::oauth::OAuthError::temporarily_unavailable(
            "the token store cannot answer right now; retry shortly",
        )
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

/// The live record of `key`: from this node's table, or else from the shared store;
/// `Ok(None)` when it is certainly not live here, [`Unavailable`] when the store cannot
/// tell. A token of a client missing from `clients` (removed) is as good as unknown.
pub async fn lookup(
    tokens: Tokens<'_>,
    clients: &Clients,
    peer: IpAddr,
    key: &TokenKey,
    now: u32,
) -> Result<Option<TokenRecord>, Unavailable> {
    if let Some(record) = tokens.table.get(key, now) {
        return Ok(Some(record));
    }
    let Some(token) = fetch(tokens, peer, key, now).await? else {
        return Ok(None);
    };
    // An authorization code is never put in the table (see `crate::codes`).
    if token.kind == TokenKind::Code {
        return Ok(None);
    }
    // A token of a client this node does not know (removed) is as good as unknown. A login
    // session belongs to no client.
    if token.kind != TokenKind::Session && clients.get(&token.client).is_none() {
        return Ok(None);
    }
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
    Ok(record.is_live(now).then_some(record))
}

/// The record of `key` in the shared store, with this node's read-through rules: the
/// negative cache, the per-node and per-address admission, and removals made here that
/// the store has not seen yet. `Ok(None)` without a shared store.
async fn fetch(
    tokens: Tokens<'_>,
    peer: IpAddr,
    key: &TokenKey,
    now: u32,
) -> Result<Option<StoredToken>, Unavailable> {
    let Some((shared, rt)) = tokens.shared else {
        // The table is the whole truth without a shared store.
        return Ok(None);
    };
    let now_ms = crate::clock::now_millis();
    if rt.known_unknown(key, now_ms) || rt.was_removed_here(Removed::Key(*key), now_ms) {
        return Ok(None);
    }
    let Some(_slot) = rt.admit(peer) else {
        debug!("read-through limit reached; answering 503");
        return Err(Unavailable);
    };
    let token = match shared.lookup(*key, now).await {
        Ok(Ok(Some(token))) => token,
        Ok(Ok(None)) => {
            rt.remember_unknown(key, crate::clock::now_millis());
            return Ok(None);
        }
        Ok(Err(e)) => {
            debug!(error = %e, "read-through failed; answering 503");
            return Err(Unavailable);
        }
        Err(_) => {
            debug!("the store dropped a read-through; answering 503");
            return Err(Unavailable);
        }
    };
    // Removed here, by itself or with its grant, while the store has not seen it yet (or
    // while this read was in flight)? Then it stays removed.
    let now_ms = crate::clock::now_millis();
    if rt.was_removed_here(Removed::Key(*key), now_ms)
        || rt.was_removed_here(Removed::Grant(token.grant), now_ms)
    {
        return Ok(None);
    }
    Ok(Some(token))
}

/// An authorization code another node issued, read from the shared store (never put in
/// this node's table). `Ok(None)` without a shared store, or when the store has no live
/// code under `key`.
pub async fn fetch_code(
    tokens: Tokens<'_>,
    peer: IpAddr,
    key: &TokenKey,
    now: u32,
) -> Result<Option<StoredToken>, Unavailable> {
    Ok(fetch(tokens, peer, key, now)
        .await?
        .filter(|t| t.kind == TokenKind::Code && t.is_live(now)))
}

/// The grant of `key` if the shared store remembers it as a used single-use token (a
/// refresh token presented again: a replay). Admitted like a lookup — per node and per
/// source address — since every made-up refresh token asks it; `Unavailable` when the
/// store cannot tell. Without a shared store, the table's used markers are the whole truth.
pub async fn used(
    tokens: Tokens<'_>,
    peer: IpAddr,
    key: &TokenKey,
) -> Result<Option<GrantId>, Unavailable> {
    let Some((shared, rt)) = tokens.shared else {
        return Ok(None);
    };
    let Some(_slot) = rt.admit(peer) else {
        debug!("read-through limit reached; answering 503");
        return Err(Unavailable);
    };
    match shared.used(*key).await {
        Ok(Ok(grant)) => Ok(grant),
        Ok(Err(e)) => {
            debug!(error = %e, "reuse check failed; answering 503");
            Err(Unavailable)
        }
        Err(_) => Err(Unavailable),
    }
}

/// One read-through in flight; frees its slots (node and address) when dropped, also when
/// the request's task is dropped mid-await.
struct Slot<'a> {
    rt: &'a ReadThrough,
    peer: IpAddr,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.rt.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.rt.release_address(self.peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_storage::store::{StoreError, StoredToken};

    #[test]
    fn negative_cache_remembers_an_unknown_key_for_its_lifetime_only() {
        let rt = ReadThrough::new(100, 1_000, 8, 8);
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
        let rt = ReadThrough::new(60_000, 1_000, 8, 8);
        for i in 0..(SHARDS * SHARD_CAPACITY * 3) as u64 {
            rt.remember_unknown(&TokenKey::of(&i.to_le_bytes()), 0);
        }
        let held: usize = rt.negative.iter().map(|s| s.lock().len()).sum();
        assert!(held <= SHARDS * SHARD_CAPACITY, "{held}");
    }

    #[test]
    fn a_removal_is_remembered_until_written_however_long_that_takes() {
        let rt = ReadThrough::new(100, 1_000, 8, 8);
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
        let rt = ReadThrough::new(100, 0, 8, 8);
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
        let rt = ReadThrough::new(100, 0, 8, 8);
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

    /// A shared store whose read-through answers are scripted: `Some(answer)` is sent at
    /// once, `None` is a lookup that never completes (its sender is kept).
    type Answer = Result<Option<StoredToken>, StoreError>;

    #[derive(Debug, Default)]
    struct Scripted {
        answers: Mutex<Vec<Option<Answer>>>,
        pending: Mutex<Vec<futures_channel::oneshot::Sender<Answer>>>,
    }

    impl SharedStore for Scripted {
        fn lookup(&self, _key: TokenKey, _now: u32) -> tessera_storage::store::Lookup {
            let (tx, rx) = futures_channel::oneshot::channel();
            match self.answers.lock().pop() {
                Some(Some(answer)) => {
                    let _ = tx.send(answer);
                }
                Some(None) => self.pending.lock().push(tx),
                // Nothing scripted: the store went away (its thread dropped the sender).
                None => drop(tx),
            }
            rx
        }
        // Read-through never claims; a dropped answer would show up as "cannot tell".
        fn claim_use(
            &self,
            _key: TokenKey,
            _grant: GrantId,
            _ttl: u32,
        ) -> tessera_storage::store::Claim {
            futures_channel::oneshot::channel().1
        }
        fn used(&self, _key: TokenKey) -> tessera_storage::store::Used {
            futures_channel::oneshot::channel().1
        }
        fn revocations_since(
            &self,
            _since_ms: u64,
        ) -> Result<Vec<tessera_storage::store::Revocation>, StoreError> {
            Ok(Vec::new())
        }
        fn revoke_owned(
            &self,
            _owner: tessera_storage::store::Owner<'_>,
            _which: tessera_storage::store::OwnedTokens,
            _now: u32,
        ) -> Result<u64, StoreError> {
            Ok(0)
        }
        fn clients(&self) -> Result<Vec<(String, String)>, StoreError> {
            Ok(Vec::new())
        }
        fn put_client(&self, _id: &str, _spec: &str) -> Result<(), StoreError> {
            Ok(())
        }
        fn create_client(&self, _id: &str, _spec: &str) -> Result<bool, StoreError> {
            Ok(false)
        }
        fn replace_client(&self, _id: &str, _old: &str, _new: &str) -> Result<bool, StoreError> {
            Ok(false)
        }
        fn remove_client(&self, _id: &str) -> Result<bool, StoreError> {
            Ok(false)
        }
        fn users(&self) -> Result<Vec<(String, String)>, StoreError> {
            Ok(Vec::new())
        }
        fn put_user(&self, _username: &str, _spec: &str) -> Result<(), StoreError> {
            Ok(())
        }
        fn create_user(&self, _username: &str, _spec: &str) -> Result<bool, StoreError> {
            Ok(false)
        }
        fn replace_user(
            &self,
            _username: &str,
            _old: &str,
            _new: &str,
        ) -> Result<bool, StoreError> {
            Ok(false)
        }
        fn remove_user(&self, _username: &str) -> Result<bool, StoreError> {
            Ok(false)
        }
    }

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    /// The node side of a read-through test: an empty table, interners, no clients.
    #[derive(Debug)]
    struct Fixture {
        table: TokenTable,
        syms: Symbols,
        clients: Clients,
    }

    impl Default for Fixture {
        fn default() -> Self {
            Fixture {
                table: TokenTable::new(4, 0),
                syms: Symbols::default(),
                clients: Clients::new(Vec::new()),
            }
        }
    }

    impl Fixture {
        fn tokens<'a>(&'a self, store: &'a Scripted, rt: &'a ReadThrough) -> Tokens<'a> {
            Tokens {
                table: &self.table,
                shared: Some((store, rt)),
                syms: &self.syms,
            }
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    fn io_error() -> StoreError {
        StoreError::Io {
            backend: "scripted",
            message: "timed out".into(),
        }
    }

    #[test]
    fn a_store_that_cannot_answer_is_unavailable_never_unknown() {
        let rt = ReadThrough::new(60_000, 1_000, 8, 8);
        let (f, store) = (Fixture::default(), Scripted::default());
        let (tokens, clients) = (f.tokens(&store, &rt), &f.clients);
        // An error, then a dropped answer: both "cannot tell".
        store.answers.lock().push(Some(Err(io_error())));
        let key = TokenKey::of(b"issued-elsewhere");
        assert_eq!(
            block_on(lookup(tokens, clients, PEER, &key, 1)),
            Err(Unavailable)
        );
        assert_eq!(
            block_on(lookup(tokens, clients, PEER, &key, 1)),
            Err(Unavailable)
        );
        // Neither was remembered as unknown: the next answer is asked for again.
        store.answers.lock().push(Some(Ok(None)));
        assert_eq!(block_on(lookup(tokens, clients, PEER, &key, 1)), Ok(None));
        assert!(rt.known_unknown(&key, crate::clock::now_millis()));
        assert_eq!(rt.in_flight.load(Ordering::Relaxed), 0, "every slot freed");
    }

    #[test]
    fn a_session_read_through_enters_the_table_and_a_code_never_does() {
        let rt = ReadThrough::new(60_000, 1_000, 8, 8);
        let (f, store) = (Fixture::default(), Scripted::default());
        let (tokens, clients) = (f.tokens(&store, &rt), &f.clients);
        let record = |kind, client: &str| StoredToken {
            kind,
            grant: GrantId(if kind == TokenKind::Code { 7 } else { 0 }),
            client: std::sync::Arc::from(client),
            user: Some(std::sync::Arc::from("alice")),
            scope: std::sync::Arc::from(""),
            meta: (kind == TokenKind::Code).then(|| std::sync::Arc::from(r#"{"nonce":"n"}"#)),
            issued_at: 1,
            expires_at: 100,
        };
        // A session belongs to no client, so knowing no client does not hide it.
        store
            .answers
            .lock()
            .push(Some(Ok(Some(record(TokenKind::Session, "")))));
        let session = TokenKey::of(b"session-cookie");
        let found = block_on(lookup(tokens, clients, PEER, &session, 1)).expect("answer");
        assert_eq!(found.map(|r| r.kind), Some(TokenKind::Session));
        assert!(f.table.get(&session, 1).is_some());
        // A code is not a token: unknown here, not in the table, nothing interned.
        store
            .answers
            .lock()
            .push(Some(Ok(Some(record(TokenKind::Code, "svc-a")))));
        let code = TokenKey::of(b"code");
        assert_eq!(block_on(lookup(tokens, clients, PEER, &code, 1)), Ok(None));
        assert!(f.table.get(&code, 1).is_none());
        assert!(f.syms.meta.get(r#"{"nonce":"n"}"#).is_none());
        // A consent of a client this node does not know is as good as unknown.
        store
            .answers
            .lock()
            .push(Some(Ok(Some(record(TokenKind::Consent, "svc-a")))));
        let consent = TokenKey::of(b"consent");
        assert_eq!(
            block_on(lookup(tokens, clients, PEER, &consent, 1)),
            Ok(None)
        );
    }

    #[test]
    fn read_through_limit_reached_is_unavailable_and_slots_are_freed() {
        let rt = ReadThrough::new(0, 1_000, 1, 1);
        let (f, store) = (Fixture::default(), Scripted::default());
        let (tokens, clients) = (f.tokens(&store, &rt), &f.clients);
        block_on(async {
            // One lookup hangs in the store and holds the only slot.
            store.answers.lock().push(None);
            let stuck_key = TokenKey::of(b"slow");
            let mut stuck = Box::pin(lookup(tokens, clients, PEER, &stuck_key, 1));
            let polled = futures_poll_once(stuck.as_mut()).await;
            assert!(polled.is_none(), "the first lookup waits for the store");
            let other = lookup(tokens, clients, PEER, &TokenKey::of(b"other"), 1).await;
            assert_eq!(other, Err(Unavailable), "no slot left: 503, not unknown");
            // Dropping the waiting request (its connection went away) frees the slot.
            drop(stuck);
        });
        assert_eq!(rt.in_flight.load(Ordering::Relaxed), 0);
        store.answers.lock().push(Some(Ok(None)));
        assert_eq!(
            block_on(lookup(tokens, clients, PEER, &TokenKey::of(b"other"), 1)),
            Ok(None)
        );
    }

    #[test]
    fn one_address_cannot_use_up_the_read_through_budget_of_the_others() {
        // Room for 4 lookups on the node, 1 per address.
        let rt = ReadThrough::new(0, 1_000, 4, 1);
        let (f, store) = (Fixture::default(), Scripted::default());
        let (tokens, clients) = (f.tokens(&store, &rt), &f.clients);
        let flooder = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
        let other = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));
        block_on(async {
            store.answers.lock().push(None);
            let k1 = TokenKey::of(b"made-up-1");
            let mut first = Box::pin(lookup(tokens, clients, flooder, &k1, 1));
            assert!(futures_poll_once(first.as_mut()).await.is_none());
            // The flooder's second lookup, on another connection, gets no slot ...
            let k2 = TokenKey::of(b"made-up-2");
            assert_eq!(
                lookup(tokens, clients, flooder, &k2, 1).await,
                Err(Unavailable)
            );
            // ... while everyone else still reads through.
            store.answers.lock().push(Some(Ok(None)));
            assert_eq!(
                lookup(tokens, clients, other, &TokenKey::of(b"real"), 1).await,
                Ok(None)
            );
            drop(first);
        });
        assert_eq!(rt.in_flight.load(Ordering::Relaxed), 0);
        let held: usize = rt.by_address.iter().map(|s| s.lock().len()).sum();
        assert_eq!(held, 0, "per-address counters are dropped at zero");
    }

    #[test]
    fn the_reuse_check_is_admitted_like_a_lookup_and_cannot_tell_is_unavailable() {
        let key = TokenKey::of(b"refresh");
        let rt = ReadThrough::new(0, 1_000, 4, 1);
        let (f, store) = (Fixture::default(), Scripted::default());
        let alone = Tokens {
            shared: None,
            ..f.tokens(&store, &rt)
        };
        assert_eq!(block_on(used(alone, PEER, &key)), Ok(None));
        let (tokens, clients) = (f.tokens(&store, &rt), &f.clients);
        // The scripted store drops every reuse check: the store cannot tell.
        assert_eq!(block_on(used(tokens, PEER, &key)), Err(Unavailable));
        block_on(async {
            store.answers.lock().push(None);
            let other_key = TokenKey::of(b"x");
            let mut stuck = Box::pin(lookup(tokens, clients, PEER, &other_key, 1));
            assert!(futures_poll_once(stuck.as_mut()).await.is_none());
            // This address's only slot is taken: no store round trip for it.
            assert_eq!(used(tokens, PEER, &key).await, Err(Unavailable));
            drop(stuck);
        });
        assert_eq!(rt.in_flight.load(Ordering::Relaxed), 0);
    }

    /// Polls `f` once: its output if ready, `None` if it is pending.
    async fn futures_poll_once<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }

    #[test]
    fn without_a_shared_store_a_miss_is_certainly_unknown() {
        let f = Fixture::default();
        let tokens = Tokens {
            table: &f.table,
            shared: None,
            syms: &f.syms,
        };
        assert_eq!(
            block_on(lookup(tokens, &f.clients, PEER, &TokenKey::of(b"x"), 1)),
            Ok(None)
        );
    }

    #[test]
    fn zero_lifetime_disables_the_negative_cache() {
        let rt = ReadThrough::new(0, 1_000, 8, 8);
        let k = TokenKey::of(b"x");
        rt.remember_unknown(&k, 5);
        assert!(!rt.known_unknown(&k, 5));
    }
}
