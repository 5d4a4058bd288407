//! Start-up recovery: rebuild the TokenTable from a store before the listener opens.
//!
//! Only live records come back (expired ones are skipped by the store's scan; revoked ones
//! were deleted). Strings are interned again, so the symbols of this process are rebuilt
//! from what was stored. Grant links are rebuilt from each record's grant id.

use crate::intern::{Interner, Sym, Symbols};
use crate::record::TokenRecord;
use crate::store::{Store, StoreError};
use crate::table::TokenTable;
use std::time::{Duration, Instant};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryStats {
    /// Records put back into the table.
    pub restored: u64,
    /// Live records skipped because `keep` refused them (e.g. their client is gone).
    pub skipped: u64,
    pub grants: usize,
    pub took: Duration,
}

/// Loads every live record of `store` into `table`. `keep(client_id)` decides whether
/// tokens of a client still belong (a client removed from the configuration loses its
/// tokens).
pub fn recover(
    store: &dyn Store,
    table: &TokenTable,
    symbols: &Symbols,
    now: u32,
    keep: &dyn Fn(&str) -> bool,
) -> Result<RecoveryStats, StoreError> {
    let started = Instant::now();
    let mut stats = RecoveryStats::default();
    // Consecutive records mostly share client, scope and metadata: a one-entry cache per
    // kind skips the interner's lock for them.
    let mut cache = Cache::default();
    store.scan_live(now, &mut |key, t| {
        if !keep(t.client) {
            stats.skipped += 1;
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
    use crate::conformance::{key, token, NOW};
    use crate::record::{GrantId, TokenKind};
    use crate::store::memory::MemoryStore;
    use crate::store::Mutation;
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
        let stats = recover(&store, &table, &symbols, NOW + 1, &|c| c == "svc-a").expect("recover");
        assert_eq!((stats.restored, stats.skipped, stats.grants), (2, 1, 1));
        let a = table.get(&key("a"), NOW + 1).expect("restored");
        assert_eq!(symbols.clients.with(a.client, str::to_owned), "svc-a");
        assert!(table.get(&key("old"), NOW + 1).is_none());
        let g = table.grant(GrantId(5)).expect("grant rebuilt");
        assert_eq!(g.refresh, Some(key("r")));
        assert_eq!(g.access.len(), 1);
    }
}
