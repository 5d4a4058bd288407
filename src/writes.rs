//! Table changes made by one request, and their way to the store: the server's
//! [`TokenOps`].
//!
//! Grants and revocation change the [`TokenTable`] only through [`Writes`], which records
//! each change for the write-behind flusher. [`Writes::begin`] reserves queue room *before*
//! anything changes, so a store that is not keeping up turns into a clean 503 rather than a
//! change that is in memory but can never be written. [`Writes::commit`] hands the changes
//! over — always, also when the grant failed after changing something (a used-up refresh
//! token stays used up) — and in `sync` mode waits until they are durable.
//!
//! Only a newly minted token's put ([`TokenOps::insert_minted`]) is pushed as fresh, on the
//! worker's own write-behind lane, and before the token enters the table; every other
//! change goes in order through the shared channel (the module doc of
//! `tessera_storage::writer` says why that order is safe).
//!
//! A revocation waits until it is durable in every mode ([`TokenOps::revoke`] and
//! [`TokenOps::revoke_grant`] mark the request): its 200 is the client's assurance that the stolen token will not come back
//! after a crash. Issuance in `async` mode does not wait.

use crate::cluster::read_through::{ReadThrough, Removed};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::tokens::TokenOps;
use std::time::Duration;
use tessera_storage::store::StoredToken;
use tessera_storage::writer::{Change, Permit, WriteBehind};
use tessera_storage::{GrantId, RevokeOutcome, Sym, TokenKey, TokenKind, TokenRecord, TokenTable};

/// The most changes one request makes: a failed rotation uses the old refresh token up
/// (its delete and its used marker), inserts a new pair, then removes the pair again.
const MAX_CHANGES: usize = 6;

#[derive(Debug)]
pub struct Writes<'a> {
    table: &'a TokenTable,
    permit: Option<Permit<'a>>,
    changed: bool,
    /// A revocation: commit waits until durable, also in `async` mode.
    durable: bool,
    /// With a shared store: told of every removal, so read-through does not undo it.
    read_through: Option<&'a ReadThrough>,
    /// The longest commit waits for durability (`store.durable_wait_ms`).
    durable_wait: Duration,
}

impl<'a> Writes<'a> {
    /// Starts a request's changes on `table`, queued for `writer` (none: memory only);
    /// `temporarily_unavailable` (503) when the store's queue is full.
    pub fn begin(
        table: &'a TokenTable,
        writer: Option<&'a WriteBehind>,
        read_through: Option<&'a ReadThrough>,
        durable_wait: Duration,
    ) -> Result<Writes<'a>, OAuthError> {
        let permit = match writer {
            None => None,
            Some(w) => Some(w.reserve(MAX_CHANGES).map_err(|_| {
                OAuthError::temporarily_unavailable(
                    "the token store is not keeping up; retry shortly",
                )
            })?),
        };
        Ok(Writes {
            table,
            permit,
            changed: false,
            durable: false,
            read_through,
            durable_wait,
        })
    }

    /// Queues `change` in order with every change before it: the default for every change.
    fn record(&mut self, change: Change) {
        self.changed = true;
        if let Some(p) = &mut self.permit {
            p.push(change);
        }
    }

    /// Queues the put of a key nobody knows yet (see [`Permit::push_fresh`]); call it before
    /// the key enters a table, so nothing that depends on the put is pushed before it.
    fn record_fresh(&mut self, change: Change) {
        self.changed = true;
        if let Some(p) = &mut self.permit {
            p.push_fresh(change);
        }
    }

    fn removed_here(&self, what: Removed) {
        if let Some(rt) = self.read_through {
            rt.removed_here(what);
        }
    }

    /// `removed` was the record under `key`.
    fn removed(&mut self, key: &TokenKey, removed: &TokenRecord) {
        self.removed_here(Removed::Key(*key));
        self.record(Change::Delete {
            key: *key,
            issued_at: removed.issued_at,
        });
    }

    /// This request's changes must be durable before its answer goes out, in every
    /// durability mode: a login session or an authorization code another node may be
    /// asked about the moment the browser follows the response.
    pub fn require_durable(&mut self) {
        self.durable = true;
    }

    /// Stores a record that is not kept in the table (an authorization code, see
    /// `crate::codes`), durably.
    ///
    /// Not pushed as fresh, though the code is new: it enters the code table before this
    /// put, and an administrator's revocation by user or client, which walks that table,
    /// may delete it in between — the delete must then stay behind the put.
    pub fn put_stored(&mut self, key: TokenKey, token: StoredToken) {
        self.durable = true;
        self.record(Change::PutStored { key, token });
    }

    /// Records that the single-use `key` (an authorization code) was used: its store record
    /// becomes a used marker carrying `used.grant` until `used.expires_at`, here and in the
    /// store, durably — so a second use is recognised as one after a restart too.
    pub fn mark_used(&mut self, key: TokenKey, used: TokenRecord) {
        self.durable = true;
        let used = TokenRecord {
            kind: TokenKind::Used,
            ..used
        };
        self.table.insert(key, used);
        self.record(Change::Put { key, record: used });
    }

    /// Uses the one-time `key` (an assertion's `jti`) on this node: `false` when it was
    /// used before and is still remembered. The used marker (`used`, made a
    /// [`TokenKind::Used`] record) is kept until `used.expires_at` and written durably, so
    /// the value stays used after a restart. Without a shared store this is the single-use
    /// step; with one, the store's claim is.
    pub fn use_once(&mut self, key: TokenKey, used: TokenRecord, now: u32) -> bool {
        let used = TokenRecord {
            kind: TokenKind::Used,
            ..used
        };
        if !self.table.insert_if_vacant(key, used, now) {
            return false;
        }
        self.durable = true;
        self.record(Change::Put { key, record: used });
        true
    }

    /// Hands the changes to the flusher; in `sync` mode, or for a revocation, waits until
    /// they are durable — at most `store.durable_wait_ms`: a stalled store (a hung fsync,
    /// a database that accepts connections and never answers) must not hold the client
    /// without bound. Past it the answer is 503 and the changes stay queued, to be written
    /// when the store answers, exactly as when the store fails.
    ///
    /// A revocation waits even when it changed nothing: retried after a 503, it finds the
    /// token already gone from the table while the delete is still queued, and its 200
    /// must not come before that delete is durable. The acknowledgement covers everything
    /// queued before it.
    pub async fn commit(self) -> Result<(), OAuthError> {
        let Some(mut permit) = self.permit.filter(|_| self.changed || self.durable) else {
            // Nothing changed (a refused grant): nothing to write or wait for.
            return Ok(());
        };
        if self.durable {
            permit.require_durable();
        }
        let Some(ack) = permit.finish() else {
            return Ok(());
        };
        let Ok(answer) = monoio::time::timeout(self.durable_wait, ack).await else {
            tracing::debug!("durable write not answered in time");
            return Err(OAuthError::temporarily_unavailable(
                "the token store is not answering; retry shortly",
            ));
        };
        match answer {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "durable write failed");
                Err(OAuthError::temporarily_unavailable(
                    "the token store is unavailable; retry shortly",
                ))
            }
            Err(_) => Err(OAuthError::new(
                ErrorCode::ServerError,
                "the token store writer stopped",
            )),
        }
    }
}

/// Grant links are not written: recovery rebuilds them from the records.
impl TokenOps for Writes<'_> {
    fn lookup(&self, key: &TokenKey, now: u32) -> Option<TokenRecord> {
        self.table.get(key, now)
    }

    fn insert(&mut self, key: TokenKey, record: TokenRecord) {
        self.table.insert(key, record);
        self.record(Change::Put { key, record });
    }

    /// The one fresh put of a request: a new token's key was never held by anything, so
    /// its put may travel on the worker's lane. Queued before the table has it: whatever
    /// learns of the token (a revocation, a grant revocation that finds it linked) pushes
    /// its own change after this one.
    fn insert_minted(&mut self, key: TokenKey, record: TokenRecord) {
        self.record_fresh(Change::Put { key, record });
        self.table.insert(key, record);
    }

    fn consume_if(
        &mut self,
        key: &TokenKey,
        now: u32,
        take: &dyn Fn(&TokenRecord) -> bool,
    ) -> Option<TokenRecord> {
        let removed = self.table.remove_if(key, now, take);
        if let Some(record) = &removed {
            self.removed(key, record);
            // Remembered as used until it would have expired, in the table and the store,
            // so a replay is recognised also after a restart (RFC 9700 §4.14.2).
            let used = TokenRecord {
                kind: TokenKind::Used,
                ..*record
            };
            self.table.insert(*key, used);
            self.record(Change::Put {
                key: *key,
                record: used,
            });
        }
        removed
    }

    fn discard(&mut self, key: &TokenKey) {
        if let Some(record) = self.table.remove(key) {
            self.removed(key, &record);
        }
    }

    fn open_grant(
        &mut self,
        grant: GrantId,
        client: Sym,
        refresh: Option<TokenKey>,
        access: (TokenKey, u32),
    ) {
        self.table.open_grant(grant, client, refresh, access);
    }

    fn join_grant(
        &mut self,
        grant: GrantId,
        access: (TokenKey, u32),
        refresh: Option<TokenKey>,
        now: u32,
    ) -> bool {
        self.table.link(grant, access, refresh, now)
    }

    fn close_grant(&mut self, grant: GrantId) {
        self.table.close_grant(grant);
    }

    /// Durable before commit returns, like every revocation (refresh reuse revokes this way).
    fn revoke_grant(&mut self, grant: GrantId) -> usize {
        self.durable = true;
        let held = self.table.revoke_grant(grant);
        if !grant.is_none() {
            self.removed_here(Removed::Grant(grant));
            self.record(Change::DeleteGrant { grant });
        }
        held
    }

    /// A revoked refresh token also deletes its grant's tokens from the store, including
    /// any another node wrote. The request's commit waits until the revocation is durable,
    /// whatever the outcome (see [`Writes::commit`]).
    fn revoke(&mut self, key: &TokenKey, client: Sym, now: u32) -> RevokeOutcome {
        self.durable = true;
        let outcome = self.table.revoke(key, client, now);
        if let RevokeOutcome::Revoked {
            kind,
            grant,
            issued_at,
            ..
        } = outcome
        {
            self.removed_here(Removed::Key(*key));
            self.record(Change::Delete {
                key: *key,
                issued_at,
            });
            if kind == TokenKind::Refresh && !grant.is_none() {
                self.removed_here(Removed::Grant(grant));
                self.record(Change::DeleteGrant { grant });
            }
        }
        outcome
    }
}
