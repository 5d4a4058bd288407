//! Start-up recovery: rebuild the TokenTable from a store before the listener opens.
//!
//! Only live records come back (expired ones are skipped by the store's scan; revoked ones
//! were deleted). Strings are interned again, so the symbols of this process are rebuilt
//! from what was stored. Grant links are rebuilt from each record's grant id.
//!
//! Authorization codes ([`TokenKind::Code`]) do not go into the table: their metadata is
//! unique per code and the interner never forgets a string, so they go to the caller's
//! sink (the server's code table) with their strings as stored. Sessions belong to no
//! client and come back whatever `keep` says; every other record (tokens, consents,
//! codes) is dropped with its client.

use crate::intern::{Interner, Sym, Symbols};
use crate::key::TokenKey;
use crate::record::{TokenKind, TokenRecord};
use crate::store::{KeyRange, Store, StoreError, StoredToken, TokenView};
use crate::table::TokenTable;
use std::time::{Duration, Instant};

/// Threads a parallel recovery uses at most, whatever the core count: past this the
/// table's shard locks and the disk, not the cores, set the pace.
const MAX_THREADS: usize = 16;
/// Records restored together ([`TokenTable::restore_batch`]): ~64 per shard of a 64-shard
/// table, ~220 KiB of records.
const BATCH: usize = 4096;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryStats {
    /// Records put back into the table.
    pub restored: u64,
    /// Live records skipped because `keep` refused them (e.g. their client is gone).
    pub skipped: u64,
    /// Live authorization codes handed to the `codes` sink.
    pub codes: u64,
    pub grants: usize,
    /// Threads that scanned the store (1: sequential).
    pub threads: usize,
    pub took: Duration,
}

/// How many threads [`recover_with`] may scan the store with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parallelism {
    /// One per core (at most 16): what the server uses. Start-up has the machine to
    /// itself: no listener is open yet.
    Cores,
    /// Exactly this many (1: one sequential scan on the caller's thread).
    Threads(usize),
}

impl Parallelism {
    /// The thread count this stands for on this machine.
    pub fn threads(self) -> usize {
        match self {
            Parallelism::Cores => std::thread::available_parallelism().map_or(1, |n| n.get()),
            Parallelism::Threads(n) => n,
        }
        .clamp(1, MAX_THREADS)
    }
}

/// Loads every live record of `store` into `table`, except authorization codes, which go
/// to `codes`. `keep(client_id)` decides whether the records of a client still belong (a
/// client removed from the configuration loses its tokens, codes and consents); it is
/// not asked about sessions, which belong to no client. One sequential scan on the
/// caller's thread; [`recover_with`] can use several.
pub fn recover(
    store: &dyn Store,
    table: &TokenTable,
    symbols: &Symbols,
    now: u32,
    keep: &dyn Fn(&str) -> bool,
    codes: &mut dyn FnMut(TokenKey, StoredToken),
) -> Result<RecoveryStats, StoreError> {
    let started = Instant::now();
    let mut part = Part::new(table, symbols, keep);
    store.scan_live(now, &mut |key, t| part.visit(key, t, &mut *codes))?;
    Ok(part.finish(table, 1, started))
}

/// [`recover`] with up to `parallelism` threads when the store scans key ranges in
/// parallel ([`Store::parallel_scan`]); otherwise, or with one thread, exactly
/// [`recover`].
///
/// Each thread scans one [`KeyRange`] and restores what it reads into the shared table
/// (its shards have their own locks), interning through its own cache. The result is the
/// one a sequential recovery gives: the same records, grant links and symbols (their
/// numbers may differ, as they do between two processes; a grant's access tokens may be
/// linked in another order, and the server never writes two live refresh tokens or two
/// clients into one grant, whose order would matter), and the same codes, handed to
/// `codes` on the caller's thread in key order once every range has been read, so the
/// sink need not be `Send`. A failed range fails the recovery (the first failure in key
/// order is returned, after every thread has stopped).
pub fn recover_with(
    store: &dyn Store,
    table: &TokenTable,
    symbols: &Symbols,
    now: u32,
    parallelism: Parallelism,
    keep: &(dyn Fn(&str) -> bool + Sync),
    codes: &mut dyn FnMut(TokenKey, StoredToken),
) -> Result<RecoveryStats, StoreError> {
    let threads = parallelism.threads();
    if threads == 1 || !store.parallel_scan() {
        return recover(store, table, symbols, now, keep, codes);
    }
    let started = Instant::now();
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = KeyRange::split(threads)
            .into_iter()
            .map(|range| {
                scope.spawn(move || {
                    let mut part = Part::new(table, symbols, keep);
                    // Codes wait here for the caller's thread; they live minutes, so there
                    // are few of them next to the tokens.
                    let mut sunk = Vec::new();
                    store
                        .scan_live_range(now, range, &mut |key, t| {
                            part.visit(key, t, &mut |k, c| sunk.push((k, c)))
                        })
                        .map(|_| {
                            part.flush();
                            (part.stats, sunk)
                        })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect::<Vec<_>>()
    });
    let mut total = Part::new(table, symbols, keep);
    for result in results {
        let (stats, sunk) = result?;
        total.stats.restored += stats.restored;
        total.stats.skipped += stats.skipped;
        total.stats.codes += stats.codes;
        for (key, code) in sunk {
            codes(key, code);
        }
    }
    Ok(total.finish(table, threads, started))
}

/// One scan's worth of recovery: its interning cache and its counts.
struct Part<'a> {
    table: &'a TokenTable,
    symbols: &'a Symbols,
    keep: &'a dyn Fn(&str) -> bool,
    cache: Cache,
    stats: RecoveryStats,
    /// Records read but not yet in the table.
    batch: Vec<(TokenKey, TokenRecord)>,
}

impl<'a> Part<'a> {
    fn new(table: &'a TokenTable, symbols: &'a Symbols, keep: &'a dyn Fn(&str) -> bool) -> Self {
        Part {
            table,
            symbols,
            keep,
            cache: Cache::default(),
            stats: RecoveryStats::default(),
            batch: Vec::with_capacity(BATCH),
        }
    }

    fn visit(
        &mut self,
        key: TokenKey,
        t: TokenView<'_>,
        codes: &mut dyn FnMut(TokenKey, StoredToken),
    ) {
        if t.kind != TokenKind::Session && !self.cache.kept(self.keep, t.client) {
            self.stats.skipped += 1;
            return;
        }
        if t.kind == TokenKind::Code {
            codes(key, t.to_owned_token());
            self.stats.codes += 1;
            return;
        }
        let symbols = self.symbols;
        let record = TokenRecord {
            grant: t.grant,
            client: self.cache.client.get(&symbols.clients, t.client),
            user: t.user.map(|u| symbols.users.intern(u)),
            scope: self.cache.scope.get(&symbols.scopes, t.scope),
            meta: t.meta.map(|m| self.cache.meta.get(&symbols.meta, m)),
            issued_at: t.issued_at,
            expires_at: t.expires_at,
            kind: t.kind,
        };
        self.batch.push((key, record));
        if self.batch.len() == BATCH {
            self.table.restore_batch(&mut self.batch);
        }
        self.stats.restored += 1;
    }

    /// Restores what is still batched.
    fn flush(&mut self) {
        self.table.restore_batch(&mut self.batch);
    }

    /// Drops the grants that came back without a refresh token, once every part is done.
    fn finish(mut self, table: &TokenTable, threads: usize, started: Instant) -> RecoveryStats {
        self.flush();
        self.stats.grants = table.finish_restore();
        self.stats.threads = threads;
        self.stats.took = started.elapsed();
        self.stats
    }
}

/// Consecutive records mostly share client, scope and metadata: a one-entry cache per
/// field skips the interner's lock (and `keep`) for them.
#[derive(Default)]
struct Cache {
    /// The last client `keep` was asked about, and its answer.
    kept: Option<(String, bool)>,
    client: Last,
    scope: Last,
    meta: Last,
}

impl Cache {
    fn kept(&mut self, keep: &dyn Fn(&str) -> bool, client: &str) -> bool {
        match &self.kept {
            Some((last, kept)) if last == client => *kept,
            _ => {
                let kept = keep(client);
                self.kept = Some((client.to_owned(), kept));
                kept
            }
        }
    }
}

#[derive(Default)]
struct Last(Option<(String, Sym)>);

impl Last {
    fn get(&mut self, interner: &Interner, s: &str) -> Sym {
        match &self.0 {
            Some((name, sym)) if name == s => *sym,
            _ => {
                let sym = interner.intern(s);
                self.0 = Some((s.to_owned(), sym));
                sym
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{key, non_tokens, token, CODE_META, NOW};
    use crate::record::{GrantId, TokenKind};
    use crate::store::memory::MemoryStore;
    use crate::store::{KeyRange, Mutation, StoredToken, TokenView};
    use std::sync::Arc;

    #[test]
    fn recovery_restores_live_tokens_and_grant_links() {
        let store = MemoryStore::new();
        let mut other = token(TokenKind::Access, 0, 60);
        other.client = Arc::from("removed-client");
        store
            .apply(
                &[
                    Mutation::Put {
                        key: key("r"),
                        token: token(TokenKind::Refresh, 5, 600),
                    },
                    Mutation::Put {
                        key: key("a"),
                        token: token(TokenKind::Access, 5, 60),
                    },
                    Mutation::Put {
                        key: key("old"),
                        token: token(TokenKind::Access, 0, 1),
                    },
                    Mutation::Put {
                        key: key("gone"),
                        token: other,
                    },
                ],
                false,
            )
            .expect("fill");
        let table = TokenTable::new(4, NOW);
        let symbols = Symbols::default();
        let stats = recover(
            &store,
            &table,
            &symbols,
            NOW + 1,
            &|c| c == "svc-a",
            &mut |_, _| panic!("no codes stored"),
        )
        .expect("recover");
        assert_eq!((stats.restored, stats.skipped, stats.grants), (2, 1, 1));
        let a = table.get(&key("a"), NOW + 1).expect("restored");
        assert_eq!(symbols.clients.with(a.client, str::to_owned), "svc-a");
        assert!(table.get(&key("old"), NOW + 1).is_none());
        let g = table.grant(GrantId(5)).expect("grant rebuilt");
        assert_eq!(g.refresh, Some(key("r")));
        assert_eq!(g.access.len(), 1);
    }

    #[test]
    fn codes_go_to_the_sink_never_the_table_sessions_ignore_keep_consents_follow_their_client() {
        let store = MemoryStore::new();
        let [(_, code), (_, session), (_, consent)] = non_tokens(600);
        let gone = |t: &StoredToken| StoredToken {
            client: Arc::from("removed-client"),
            ..t.clone()
        };
        let puts = [
            ("code", code.clone()),
            ("gone code", gone(&code)),
            ("session", session),
            ("consent", consent),
            ("gone consent", gone(&non_tokens(600)[2].1)),
            ("expired code", non_tokens(1)[0].1.clone()),
        ];
        let batch: Vec<Mutation> = puts
            .iter()
            .map(|(name, token)| Mutation::Put {
                key: key(name),
                token: token.clone(),
            })
            .collect();
        store.apply(&batch, false).expect("fill");
        let table = TokenTable::new(4, NOW);
        let symbols = Symbols::default();
        let mut sunk = Vec::new();
        // Only svc-a is kept; sessions (client "") are kept without asking.
        let stats = recover(
            &store,
            &table,
            &symbols,
            NOW + 1,
            &|c| c == "svc-a",
            &mut |k, t| sunk.push((k, t)),
        )
        .expect("recover");
        assert_eq!(
            (stats.restored, stats.skipped, stats.codes),
            (2, 2, 1),
            "{stats:?}"
        );
        assert_eq!(sunk, vec![(key("code"), code)], "the live code, whole");
        assert!(
            table.get(&key("code"), NOW + 1).is_none(),
            "no code in the table"
        );
        assert!(
            symbols.meta.get(CODE_META).is_none(),
            "its bindings not interned"
        );
        assert_eq!(stats.grants, 0, "a code opens no grant");
        let s = table.get(&key("session"), NOW + 1).expect("session");
        assert_eq!(s.kind, TokenKind::Session);
        assert_eq!(
            symbols.users.with(s.user.expect("user"), str::to_owned),
            "alice"
        );
        assert!(table.get(&key("consent"), NOW + 1).is_some());
        assert!(table.get(&key("gone consent"), NOW + 1).is_none());
    }

    /// A memory store that claims parallel range scans (its ranges filter whole scans), so
    /// [`recover_with`] takes its parallel path without RocksDB; `failing` makes the scan
    /// of one range fail.
    #[derive(Debug, Default)]
    struct Ranged {
        inner: MemoryStore,
        failing: Option<KeyRange>,
    }

    impl Store for Ranged {
        fn name(&self) -> &'static str {
            "ranged"
        }
        fn apply(&self, batch: &[Mutation], durable: bool) -> Result<(), StoreError> {
            self.inner.apply(batch, durable)
        }
        fn get(&self, key: &TokenKey, now: u32) -> Result<Option<StoredToken>, StoreError> {
            self.inner.get(key, now)
        }
        fn grant_tokens(&self, grant: GrantId, now: u32) -> Result<Vec<TokenKey>, StoreError> {
            self.inner.grant_tokens(grant, now)
        }
        fn scan_live(
            &self,
            now: u32,
            visit: &mut dyn FnMut(TokenKey, TokenView<'_>),
        ) -> Result<u64, StoreError> {
            self.inner.scan_live(now, visit)
        }
        fn scan_live_range(
            &self,
            now: u32,
            range: KeyRange,
            visit: &mut dyn FnMut(TokenKey, TokenView<'_>),
        ) -> Result<u64, StoreError> {
            if self.failing == Some(range) {
                return Err(StoreError::Io {
                    backend: "ranged",
                    message: "injected".to_owned(),
                });
            }
            self.inner.scan_live_range(now, range, visit)
        }
        fn parallel_scan(&self) -> bool {
            true
        }
        fn purge_expired(&self, now: u32, limit: usize) -> Result<usize, StoreError> {
            self.inner.purge_expired(now, limit)
        }
        fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
            self.inner.setting(name)
        }
        fn put_setting_if(
            &self,
            name: &str,
            expected: Option<&str>,
            value: &str,
        ) -> Result<bool, StoreError> {
            self.inner.put_setting_if(name, expected, value)
        }
    }

    /// Every kind of record, several clients (one of them removed), users, scopes and
    /// metadata, grants with and without their refresh token, used markers, expired records.
    fn fill_mixed(store: &dyn Store) {
        let mut batch = Vec::new();
        for i in 0..3000u32 {
            // A grant has one client and one refresh token (the first 97 records give
            // every other grant its refresh token; the rest stay refreshless).
            let grant = u64::from(i % 97) + 1;
            let kind = match i % 11 {
                _ if i < 97 && i % 2 == 0 => TokenKind::Refresh,
                0 => TokenKind::Used,
                2 => TokenKind::Code,
                3 => TokenKind::Session,
                4 => TokenKind::Consent,
                _ => TokenKind::Access,
            };
            let owner = if matches!(kind, TokenKind::Consent) {
                u64::from(i)
            } else {
                grant
            };
            let client = ["svc-a", "svc-b", "removed-client"][(owner % 3) as usize];
            let mut t = token(kind, grant, if i % 13 == 0 { 1 } else { 600 });
            t.client = Arc::from(if kind == TokenKind::Session {
                ""
            } else {
                client
            });
            t.user = (i % 3 == 0).then(|| Arc::from(format!("user{}", i % 7).as_str()));
            t.scope = Arc::from(["read", "read write", "openid"][(i % 3) as usize]);
            t.meta = match kind {
                TokenKind::Code => Some(Arc::from(format!("{CODE_META}{i}").as_str())),
                _ => (i % 2 == 0).then(|| Arc::from(r#"{"department":"Engineering"}"#)),
            };
            if matches!(kind, TokenKind::Session | TokenKind::Consent) {
                t.grant = GrantId::NONE;
            }
            t.issued_at = NOW - i;
            batch.push(Mutation::Put {
                key: key(&format!("mixed{i}")),
                token: t,
            });
        }
        store.apply(&batch, false).expect("fill");
    }

    /// What a recovery left behind, with symbols spelled out (their numbers depend on the
    /// order strings were first seen in, as they do between two processes).
    #[derive(Debug, PartialEq)]
    struct Outcome {
        stats: (u64, u64, u64, usize),
        records: Vec<Restored>,
        grants: Vec<Linked>,
        codes: Vec<(TokenKey, StoredToken)>,
        interned: [usize; 4],
    }

    /// A restored record: key, client, scope, user, metadata, (grant, issued, expires, kind).
    type Restored = (
        TokenKey,
        String,
        String,
        Option<String>,
        Option<String>,
        (GrantId, u32, u32, TokenKind),
    );
    /// A grant's links: id, client, refresh token, access tokens (sorted).
    type Linked = (GrantId, String, Option<TokenKey>, Vec<(TokenKey, u32)>);

    fn outcome(store: &dyn Store, parallelism: Parallelism) -> (Outcome, usize) {
        let table = TokenTable::new(8, NOW);
        let symbols = Symbols::default();
        let mut codes = Vec::new();
        let stats = recover_with(
            store,
            &table,
            &symbols,
            NOW + 1,
            parallelism,
            &|c| c != "removed-client",
            &mut |k, t| codes.push((k, t)),
        )
        .expect("recover");
        let name = |i: &Interner, s: Sym| i.with(s, str::to_owned);
        let mut records = Vec::new();
        table.for_each_live(NOW + 1, |k, r| {
            records.push((
                *k,
                name(&symbols.clients, r.client),
                name(&symbols.scopes, r.scope),
                r.user.map(|u| name(&symbols.users, u)),
                r.meta.map(|m| name(&symbols.meta, m)),
                (r.grant, r.issued_at, r.expires_at, r.kind),
            ))
        });
        records.sort_by_key(|r| r.0);
        let grants = (1..=97)
            .filter_map(|g| {
                let grant = table.grant(GrantId(g))?;
                let mut access = grant.access.clone();
                // Threads link a grant's access tokens in the order they reach them.
                access.sort();
                Some((
                    GrantId(g),
                    name(&symbols.clients, grant.client),
                    grant.refresh,
                    access,
                ))
            })
            .collect();
        let interned = [
            symbols.clients.len(),
            symbols.users.len(),
            symbols.scopes.len(),
            symbols.meta.len(),
        ];
        let stats4 = (stats.restored, stats.skipped, stats.codes, stats.grants);
        (
            Outcome {
                stats: stats4,
                records,
                grants,
                codes,
                interned,
            },
            stats.threads,
        )
    }

    #[test]
    fn a_parallel_recovery_restores_exactly_what_a_sequential_one_does() {
        let store = Ranged::default();
        fill_mixed(&store);
        let (sequential, one) = outcome(&store.inner, Parallelism::Threads(4));
        assert_eq!(one, 1, "a store without range scans is read by one thread");
        assert!(sequential.stats.0 > 1000 && sequential.stats.1 > 0 && sequential.stats.2 > 0);
        assert!(sequential.stats.3 > 0, "{:?}", sequential.stats);
        assert!(sequential
            .records
            .iter()
            .any(|r| r.5 .3 == TokenKind::Session));
        for threads in [2, 3, 4, 16] {
            let (parallel, used) = outcome(&store, Parallelism::Threads(threads));
            assert_eq!(used, threads);
            assert_eq!(parallel, sequential, "{threads} threads");
        }
    }

    #[test]
    fn a_parallel_recovery_hands_codes_over_in_key_order_on_the_callers_thread() {
        let store = Ranged::default();
        fill_mixed(&store);
        let caller = std::thread::current().id();
        let mut seen = Vec::new();
        let table = TokenTable::new(8, NOW);
        recover_with(
            &store,
            &table,
            &Symbols::default(),
            NOW + 1,
            Parallelism::Threads(3),
            &|_| true,
            &mut |k, _| {
                assert_eq!(std::thread::current().id(), caller);
                seen.push(k);
            },
        )
        .expect("recover");
        assert!(seen.len() > 100);
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "key order");
    }

    #[test]
    fn a_failed_range_fails_the_whole_recovery() {
        let store = Ranged {
            failing: Some(KeyRange::split(4)[2]),
            ..Ranged::default()
        };
        fill_mixed(&store);
        let table = TokenTable::new(8, NOW);
        let e = recover_with(
            &store,
            &table,
            &Symbols::default(),
            NOW + 1,
            Parallelism::Threads(4),
            &|_| true,
            &mut |_, _| {},
        )
        .expect_err("one range failed");
        assert!(e.to_string().contains("injected"), "{e}");
    }

    #[cfg(feature = "rocksdb")]
    #[test]
    fn a_parallel_rocksdb_recovery_restores_exactly_what_a_sequential_one_does() {
        use crate::store::rocks::RocksStore;
        let dir = std::env::temp_dir().join(format!("tessera-recovery-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rocks = RocksStore::open(&dir).expect("open");
        fill_mixed(&rocks);
        let memory = MemoryStore::new();
        fill_mixed(&memory);
        let (sequential, _) = outcome(&memory, Parallelism::Threads(1));
        for threads in [1, 2, 5] {
            let (parallel, used) = outcome(&rocks, Parallelism::Threads(threads));
            assert_eq!(used, threads);
            assert_eq!(parallel, sequential, "{threads} threads");
        }
        drop(rocks);
        let _ = std::fs::remove_dir_all(dir);
    }
}
