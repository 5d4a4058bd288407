//! The Apache Cassandra / ScyllaDB backend (scylla driver), for several Tessera nodes that
//! share one store.
//!
//! Threads: the driver runs on a current-thread tokio runtime on its own thread
//! (`tessera-cassandra`). The synchronous [`Store`] calls (flusher, purge, recovery, CLI)
//! hand their future to that runtime and wait on a channel; [`SharedStore::lookup`] does
//! not wait at all — the answer goes back on a oneshot channel whose waker is the worker
//! task's. No worker thread ever blocks on Cassandra.
//!
//! Layout (`config/cassandra/oauth-server.cql`): `access_tokens` and `refresh_tokens`
//! (key → [`codec`](super::codec) record, written `USING TTL` the token's remaining life,
//! so Cassandra expires tokens by itself; codes go with access tokens, sessions and
//! consents with refresh tokens), `grants` (grant → its token keys, one partition
//! per grant for the RFC 7009 cascade), `revocations` (the log the other nodes poll),
//! `clients`, `users`, `settings` (small named values shared by the nodes, written by
//! lightweight transactions).
//!
//! Order: the writes of one batch run concurrently, and nodes' clocks disagree, so each
//! write carries an explicit write timestamp (`USING TIMESTAMP`) and Cassandra keeps the
//! one with the highest. A token key is put once and afterwards only deleted, so a delete
//! must win over the put wherever each was written: a put is timestamped from the token's
//! `issued_at` (the same on every node), a delete at least a second after that, and
//! otherwise on the deleting node's clock (see `writes`). A revocation by a node whose clock
//! lags the issuer's therefore still wins. A grant delete's key set is read first (with the
//! links' write timestamps) and includes the puts earlier in the same batch.
//!
//! How the writes travel ([`WriteBatching`]): grouped into CQL `UNLOGGED BATCH`es of a few
//! statements (the default: fewer requests, though the coordinator fans each batch out), or
//! each as its own prepared statement, all in flight at once (token-aware: every write goes
//! straight to a replica of its partition, which may win on large clusters).
//! `bench/src/bin/cassandra-writes.rs` measures both; `bench/RESULTS.md` has the figures
//! behind the default.
//!
//! # Files, by job
//!
//! - this file: [`CassandraStore`], the driver's runtime thread, `open`, and the [`Store`]
//!   and [`SharedStore`] impls, which only hand each call to the file that does the job;
//! - `options`: [`CassandraOptions`], [`Level`], [`TlsOptions`], connecting (TLS, login);
//! - `schema`: the keyspace and table DDL, [`CassandraStore::migrate`];
//! - `statements`: every data statement, prepared at `open`;
//! - `writes`: a write-behind batch as timestamped CQL writes, batched or concurrent;
//! - `reads`: token reads, grant links, the recovery scan;
//! - `revocations`: the revocation log;
//! - `single_use`: the lightweight-transaction claim of a used refresh token and the reuse
//!   check (`used_tokens`);
//! - `records`: the clients and users kept in the store;
//! - `settings`: the shared named values, compare-and-set by lightweight transaction;
//! - `owners`: revoking every token of a client or user (a scan, then the write path).
//!
//! This file touches no table itself. The others use its helpers (errors, clocks, the
//! runtime) and, among themselves, only in one direction: `options` and `statements` are
//! leaves, `writes` uses `reads` (a grant's keys) and `revocations` (the log entry's
//! encoding), `owners` uses `reads` (the scan) and `writes` (the deletes), `settings` uses
//! `single_use` (the answer of a conditional statement), and nothing uses `owners` or
//! `settings`.

mod options;
mod owners;
mod reads;
mod records;
mod revocations;
mod schema;
mod settings;
mod single_use;
mod statements;
mod writes;

pub use super::WriteBatching;
pub use options::{CassandraOptions, Level, TlsOptions};
pub use schema::{schema_statements, valid_keyspace, SCHEMA};

use super::{
    Claim, Lookup, Mutation, OwnedTokens, Owner, Revocation, SharedStore, Store, StoreError,
    StoredToken, TokenView, Used,
};
use crate::key::TokenKey;
use crate::record::GrantId;
use options::connect;
use records::Admin;
use scylla::client::session::Session;
use scylla::statement::Consistency;
use statements::{prepare_all, Statements};
use std::fmt;
use std::future::Future;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

struct Inner {
    session: Session,
    st: Statements,
    batching: WriteBatching,
    write_consistency: Consistency,
    /// For a CQL batch holding a removal: never `ANY` (see `statements::not_a_hint`).
    removal_consistency: Consistency,
    /// The last write timestamp handed out (µs), so timestamps only increase.
    last_ts: AtomicI64,
    /// Added to this node's write clock; tests only ([`CassandraOptions`]).
    test_clock_offset_ms: i64,
}

/// The Cassandra store. Cheap to share (`Arc` inside).
pub struct CassandraStore {
    inner: Arc<Inner>,
    runtime: tokio::runtime::Handle,
    /// Ends the runtime thread when the store is dropped.
    _stop: tokio::sync::oneshot::Sender<()>,
    keyspace: String,
}

impl fmt::Debug for CassandraStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CassandraStore")
            .field("keyspace", &self.keyspace)
            .finish_non_exhaustive()
    }
}

fn err(e: impl fmt::Display) -> StoreError {
    StoreError::Io {
        backend: "cassandra",
        message: e.to_string(),
    }
}

fn open_err(opts: &CassandraOptions, reason: impl fmt::Display) -> StoreError {
    StoreError::Open {
        path: format!(
            "cassandra://{}/{}",
            opts.contact_points.join(","),
            opts.keyspace
        ),
        reason: reason.to_string(),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn real_now_secs() -> u32 {
    (now_ms() / 1000) as u32
}

/// Starts the driver's runtime thread (`tessera-cassandra`).
fn start_runtime() -> Result<(tokio::runtime::Handle, tokio::sync::oneshot::Sender<()>), String> {
    super::driver::start_runtime("tessera-cassandra")
}

/// Runs `fut` on the driver's runtime and waits for it on this (non-worker) thread.
fn block_on<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    super::driver::block_on(runtime, "cassandra", fut)
}

impl CassandraStore {
    /// Connects and prepares every statement. The schema must exist (`tessera migrate`).
    pub fn open(opts: &CassandraOptions) -> Result<CassandraStore, StoreError> {
        let (runtime, stop) = start_runtime().map_err(|e| open_err(opts, e))?;
        let o = opts.clone();
        let inner = block_on(&runtime, async move {
            let session = connect(&o).await.map_err(|e| open_err(&o, e))?;
            let st = prepare_all(&session, &o)
                .await
                .map_err(|e| open_err(&o, e))?;
            Ok(Inner {
                session,
                st,
                batching: o.write_batching,
                write_consistency: o.write_consistency.driver(),
                removal_consistency: statements::not_a_hint(o.write_consistency).driver(),
                last_ts: AtomicI64::new(0),
                test_clock_offset_ms: o.test_clock_offset_ms,
            })
        })?;
        Ok(CassandraStore {
            inner: Arc::new(inner),
            runtime,
            _stop: stop,
            keyspace: opts.keyspace.clone(),
        })
    }

    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(
            Arc<Inner>,
        ) -> std::pin::Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>,
    ) -> Result<T, StoreError> {
        block_on(&self.runtime, f(Arc::clone(&self.inner)))
    }
}

impl Store for CassandraStore {
    fn name(&self) -> &'static str {
        "cassandra"
    }

    /// `durable` needs nothing extra: a write returns once acknowledged at the configured
    /// `write_consistency`, and that is the durability Cassandra offers.
    fn apply(&self, batch: &[Mutation], _durable: bool) -> Result<(), StoreError> {
        let batch = batch.to_vec();
        self.run(move |inner| Box::pin(inner.apply(batch)))
    }

    fn get(&self, key: &TokenKey, now: u32) -> Result<Option<StoredToken>, StoreError> {
        let key = *key;
        self.run(move |inner| Box::pin(async move { inner.get(key, now).await }))
    }

    fn grant_tokens(&self, grant: GrantId, now: u32) -> Result<Vec<TokenKey>, StoreError> {
        self.run(move |inner| Box::pin(async move { inner.grant_tokens(grant, now).await }))
    }

    fn scan_live(
        &self,
        now: u32,
        visit: &mut dyn FnMut(TokenKey, TokenView<'_>),
    ) -> Result<u64, StoreError> {
        self.scan_tokens(now, visit)
    }

    fn purge_expired(&self, _now: u32, _limit: usize) -> Result<usize, StoreError> {
        Ok(0)
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.read_setting(name)
    }

    fn put_setting_if(
        &self,
        name: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StoreError> {
        self.cas_setting(name, expected, value)
    }

    fn self_expiring(&self) -> bool {
        true
    }

    fn shared(&self) -> Option<&dyn SharedStore> {
        Some(self)
    }
}

impl SharedStore for CassandraStore {
    fn lookup(&self, key: TokenKey, now: u32) -> Lookup {
        let (tx, rx) = futures_channel::oneshot::channel();
        let inner = Arc::clone(&self.inner);
        self.runtime.spawn(async move {
            let _ = tx.send(inner.get(key, now).await);
        });
        rx
    }

    fn claim_use(&self, key: TokenKey, grant: GrantId, ttl_secs: u32) -> Claim {
        let (tx, rx) = futures_channel::oneshot::channel();
        let inner = Arc::clone(&self.inner);
        self.runtime.spawn(async move {
            let _ = tx.send(inner.claim_use(key, grant, ttl_secs).await);
        });
        rx
    }

    fn used(&self, key: TokenKey) -> Used {
        let (tx, rx) = futures_channel::oneshot::channel();
        let inner = Arc::clone(&self.inner);
        self.runtime.spawn(async move {
            let _ = tx.send(inner.used(key).await);
        });
        rx
    }

    fn revocations_since(&self, since_ms: u64) -> Result<Vec<Revocation>, StoreError> {
        self.run(move |inner| Box::pin(async move { inner.revocations_since(since_ms).await }))
    }

    fn revoke_owned(
        &self,
        owner: Owner<'_>,
        which: OwnedTokens,
        now: u32,
    ) -> Result<u64, StoreError> {
        self.revoke_tokens_of(owner, which, now)
    }

    fn clients(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.list_specs(Admin::Clients)
    }

    fn put_client(&self, id: &str, spec: &str) -> Result<(), StoreError> {
        self.put_spec(Admin::Clients, id, spec)
    }

    fn create_client(&self, id: &str, spec: &str) -> Result<bool, StoreError> {
        self.create_spec(Admin::Clients, id, spec)
    }

    fn replace_client(&self, id: &str, old: &str, new: &str) -> Result<bool, StoreError> {
        self.replace_spec(Admin::Clients, id, old, new)
    }

    fn remove_client(&self, id: &str) -> Result<bool, StoreError> {
        self.remove_spec(Admin::Clients, id)
    }

    fn users(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.list_specs(Admin::Users)
    }

    fn put_user(&self, username: &str, spec: &str) -> Result<(), StoreError> {
        self.put_spec(Admin::Users, username, spec)
    }

    fn create_user(&self, username: &str, spec: &str) -> Result<bool, StoreError> {
        self.create_spec(Admin::Users, username, spec)
    }

    fn replace_user(&self, username: &str, old: &str, new: &str) -> Result<bool, StoreError> {
        self.replace_spec(Admin::Users, username, old, new)
    }

    fn remove_user(&self, username: &str) -> Result<bool, StoreError> {
        self.remove_spec(Admin::Users, username)
    }
}

#[cfg(test)]
mod tests;
