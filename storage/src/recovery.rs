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
use crate::store::{Store, StoreError, StoredToken};
use crate::table::TokenTable;
use std::time::{Duration, Instant};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryStats {
    /// Records put back into the table.
    pub restored: u64,
    /// Live records skipped because `keep` refused them (e.g. their client is gone).
    pub skipped: u64,
    /// Live authorization codes handed to the `codes` sink.
    pub codes: u64,
    pub grants: usize,
    pub took: Duration,
}

/// Loads every live record of `store` into `table`, except authorization codes, which go
/// to `codes`. `keep(client_id)` decides whether the records of a client still belong (a
/// client removed from the configuration loses its tokens, codes and consents); it is
/// not asked about sessions, which belong to no client.
pub fn recover(
    store: &dyn Store,
    table: &TokenTable,
    symbols: &Symbols,
    now: u32,
    keep: &dyn Fn(&str) -> bool,
    codes: &mut dyn FnMut(TokenKey, StoredToken),
) -> Result<RecoveryStats, StoreError> {
    let started = Instant::now();
    let mut stats = RecoveryStats::default();
    // Consecutive records mostly share client, scope and metadata: a one-entry cache per
    // kind skips the interner's lock for them.
    let mut cache = Cache::default();
    store.scan_live(now, &mut |key, t| {
        if t.kind != TokenKind::Session && !keep(t.client) {
            stats.skipped += 1;
            return;
        }
        if t.kind == TokenKind::Code {
            codes(key, t.to_owned_token());
            stats.codes += 1;
            return;
        }
        let record = TokenRecord {
            grant: t.grant,
            client: cache.client.get(&symbols.clients, t.client),
            user: t.user.map(|u| symbols.users.intern(u)),
            scope: cache.scope.get(&symbols.scopes, t.scope),
            meta: t.meta.map(|m| cache.meta.get(&symbols.meta, m)),
            issued_at: t.issued_at,
            expires_at: t.expires_at,
            kind: t.kind,
        };
        table.restore(key, record);
        stats.restored += 1;
    })?;
    stats.grants = table.finish_restore();
    stats.took = started.elapsed();
    Ok(stats)
}

#[derive(Default)]
struct Cache {
    client: Last,
    scope: Last,
    meta: Last,
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
    use crate::store::Mutation;
    use crate::store::StoredToken;
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
}
