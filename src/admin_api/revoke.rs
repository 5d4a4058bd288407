//! Revoking what belongs to a removed client or user, or one grant, on behalf of the
//! admin API.
//!
//! With a shared store the store does it ([`SharedStore::revoke_owned`]: a scan, deletes
//! and the revocation log every node reads), like `tessera client remove`; it runs again
//! after [`crate::manage::settle`] on a thread of its own, for tokens a node issued before
//! it reloaded its registry. With a store of one node (RocksDB, memory) the table is the
//! whole truth: it is scanned here and the deletes go through the write-behind, durably,
//! before the caller answers.
//!
//! [`SharedStore::revoke_owned`]: tessera_storage::store::SharedStore::revoke_owned

use super::{blocking, reply};
use crate::http::Reply;
use crate::oauth::tokens::TokenOps;
use crate::state::App;
use std::sync::Arc;
use std::time::Duration;
use tessera_storage::store::{OwnedTokens, Owner};
use tessera_storage::writer::Change;
use tessera_storage::{GrantId, Sym, TokenKey, TokenKind, TokenRecord};

/// Changes queued per write-behind reservation while revoking a large owner.
const CHUNK: usize = 256;

/// Why a revocation did not complete; the caller may retry it.
#[derive(Debug)]
pub enum Failure {
    Store(String),
    Cancelled,
}

impl Failure {
    pub fn into_reply(self, body: &mut Vec<u8>) -> Reply {
        match self {
            Failure::Store(m) => {
                tracing::warn!(error = %m, "admin API: revocation did not complete");
                reply::error(
                    body,
                    503,
                    "temporarily_unavailable",
                    "the store could not complete the revocation; retry",
                )
            }
            Failure::Cancelled => reply::cancelled(body),
        }
    }
}

/// Revokes `which` records of `owner`; returns the access and refresh tokens revoked.
pub async fn owned(app: &Arc<App>, owner: Owner<'_>, which: OwnedTokens) -> Result<u64, Failure> {
    let (client, name) = match owner {
        Owner::Client(id) => (true, id.to_owned()),
        Owner::User(n) => (false, n.to_owned()),
    };
    if app.shared_store().is_some() {
        let a = Arc::clone(app);
        let n = name.clone();
        let first = blocking(move || shared_pass(&a, client, &n, which))
            .await
            .ok_or(Failure::Cancelled)?
            .map_err(Failure::Store)?;
        // Again once every node has reloaded and written behind what it issued before.
        let a = Arc::clone(app);
        let _ = std::thread::Builder::new()
            .name("tessera-admin-revoke".to_owned())
            .spawn(move || {
                std::thread::sleep(crate::manage::settle(&a.config));
                match shared_pass(&a, client, &name, which) {
                    Ok(n) => tracing::info!(owner = %name, revoked = n, "second revocation pass"),
                    Err(e) => {
                        tracing::warn!(owner = %name, error = %e, "second revocation pass failed")
                    }
                }
            });
        return Ok(first);
    }
    local(app, client, &name, which).await
}

fn shared_pass(app: &App, client: bool, name: &str, which: OwnedTokens) -> Result<u64, String> {
    let Some(shared) = app.shared_store() else {
        return Ok(0);
    };
    let owner = if client {
        Owner::Client(name)
    } else {
        Owner::User(name)
    };
    shared
        .revoke_owned(owner, which, crate::clock::now_secs())
        .map_err(|e| e.to_string())
}

/// What a one-node revocation does with a record of the owner (the rules of
/// [`OwnedTokens::revoke_record`], on the table): `None` leaves it; `Some(counted)`
/// removes it, counting access and refresh tokens.
fn doomed(kind: TokenKind, which: OwnedTokens) -> Option<bool> {
    match (kind, which) {
        (TokenKind::Used, _) | (TokenKind::Consent, OwnedTokens::RefreshGrants) => None,
        (TokenKind::Access, OwnedTokens::RefreshGrants) => None,
        (TokenKind::Code | TokenKind::Session | TokenKind::Consent, _) => Some(false),
        (TokenKind::Access | TokenKind::Refresh, _) => Some(true),
    }
}

/// The one-node revocation: the table and the code table scanned for the owner's records,
/// their deletes written durably.
async fn local(
    app: &Arc<App>,
    client: bool,
    name: &str,
    which: OwnedTokens,
) -> Result<u64, Failure> {
    let sym = if client {
        app.syms.clients.get(name)
    } else {
        app.syms.users.get(name)
    };
    // A name never interned has no tokens in the table.
    let Some(sym) = sym else {
        return Ok(0);
    };
    let a = Arc::clone(app);
    let records = blocking(move || matching(&a, client, sym, which))
        .await
        .ok_or(Failure::Cancelled)?;
    let codes = app.codes.remove_where(|c| {
        if client {
            c.client == sym
        } else {
            c.user == sym
        }
    });
    let mut counted = 0u64;
    let mut changes: Vec<Change> = codes
        .into_iter()
        .map(|(key, issued_at)| Change::Delete { key, issued_at })
        .collect();
    for (key, record) in records {
        let Some(counts) = doomed(record.kind, which) else {
            continue;
        };
        if app.table.remove(&key).is_none() {
            continue;
        }
        counted += u64::from(counts);
        changes.push(Change::Delete {
            key,
            issued_at: record.issued_at,
        });
        if record.kind == TokenKind::Refresh && !record.grant.is_none() {
            counted += app.table.revoke_grant(record.grant) as u64;
            changes.push(Change::DeleteGrant {
                grant: record.grant,
            });
        }
    }
    write(app, changes).await?;
    Ok(counted)
}

/// The live records of the owner, copied out of the table (a shard's lock at a time).
fn matching(app: &App, client: bool, sym: Sym, which: OwnedTokens) -> Vec<(TokenKey, TokenRecord)> {
    let mut out = Vec::new();
    app.table.for_each_live(crate::clock::now_secs(), |key, r| {
        let (owner, user) = (r.client, r.user);
        let owns = if client {
            owner == sym
        } else {
            user == Some(sym)
        };
        if owns && doomed(r.kind, which).is_some() {
            out.push((*key, *r));
        }
    });
    out
}

/// Queues `changes` for the store in chunks and waits until they are durable.
async fn write(app: &App, changes: Vec<Change>) -> Result<(), Failure> {
    let Some(writer) = &app.writer else {
        return Ok(());
    };
    let wait = Duration::from_millis(app.config.store.durable_wait_ms);
    for chunk in changes.chunks(CHUNK) {
        let mut permit = loop {
            match writer.reserve(chunk.len()) {
                Ok(p) => break p,
                // A full queue drains at the store's pace; the admin call can wait a little.
                Err(_) => monoio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        permit.require_durable();
        for change in chunk {
            permit.push(change.clone());
        }
        if let Some(ack) = permit.finish() {
            match monoio::time::timeout(wait, ack).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => return Err(Failure::Store(e.to_string())),
                Ok(Err(_)) => return Err(Failure::Store("the store writer stopped".to_owned())),
                Err(_) => {
                    return Err(Failure::Store(
                        "the store did not answer in time".to_owned(),
                    ))
                }
            }
        }
    }
    Ok(())
}

/// Revokes every token of `grant` (from the audit log's `grant_id`), on every node: the
/// table's links here, the store's grant index and revocation log for the rest.
pub async fn grant(app: &App, grant: GrantId) -> Result<u64, Failure> {
    let mut writes = app
        .begin_writes()
        .map_err(|e| Failure::Store(e.to_string()))?;
    let n = writes.revoke_grant(grant);
    writes
        .commit()
        .await
        .map_err(|e| Failure::Store(e.to_string()))?;
    Ok(n as u64)
}
