//! The PostgreSQL and MySQL / MariaDB backend (sqlx), for several Tessera nodes that share
//! one relational database, with the behaviour of the Cassandra store.
//!
//! Threads: the driver's pool runs on a current-thread tokio runtime on its own thread
//! (`tessera-sql`). The synchronous [`Store`] calls (flusher, purge, recovery, CLI) hand
//! their future to that runtime and wait on a channel; [`SharedStore::lookup`],
//! [`SharedStore::claim_use`] and [`SharedStore::used`] do not wait at all — the answer goes
//! back on a oneshot channel whose waker is the worker task's. No worker thread ever blocks
//! on the database. Every operation is bounded by `request_timeout`.
//!
//! Layout (`config/sql/<dialect>/oauth-server.sql`): one table per record kind (access and
//! refresh tokens, authorization codes, sessions, consents) with the same columns, keyed by
//! the token's hash and indexed on expiry and grant; `used_tokens` (the single-use claims);
//! `revocations` (the log the other nodes poll); `clients`, `users`, `settings`; `leases`
//! (which node purges); `schema_version`.
//!
//! One code path serves both databases: [`on_pool!`] runs the same body once per driver,
//! monomorphised for each, and [`Sql`] holds a statement's text per dialect. Where the
//! databases differ in kind, not just in spelling (the single-use claim, bounded deletes),
//! the file that does the job says so.
//!
//! # Files, by job
//!
//! - this file: [`SqlStore`], the runtime thread, `open`, and the [`Store`] and
//!   [`SharedStore`] impls, which hand each call to the file that does the job;
//! - `options`: [`SqlOptions`], connecting (URL, TLS, pool, session settings);
//! - `schema`: the schema files, `schema_version`, [`SqlStore::migrate`] and the check at
//!   open;
//! - `tables`: the token tables, the columns they share, and the `Sql` text helper;
//! - `writes`: a write-behind batch as a few multi-row statements in one transaction;
//! - `reads`: token reads, a grant's keys, the recovery scan;
//! - `single_use`: the conditional claim of a used refresh token or code, and the reuse
//!   check;
//! - `revocations`: reading the revocation log;
//! - `purge`: the lease and the bounded deletes of expired rows;
//! - `records`: the clients and users kept in the database, and the shared settings;
//! - `owners`: revoking every token of a client or user.
//!
//! This file touches no table itself. `tables` and `options` are leaves; `owners` uses
//! `reads` (the scan) and `writes` (the deletes); nothing else uses another job's file.

mod options;
mod owners;
mod purge;
mod reads;
mod records;
mod revocations;
mod schema;
mod single_use;
mod tables;
mod writes;

pub use options::SqlOptions;
pub use schema::{schema_text, Migrated, SCHEMA_VERSION};

use super::{
    Claim, Lookup, Mutation, OwnedTokens, Owner, Revocation, SharedStore, SqlDialect, Store,
    StoreError, StoredToken, TokenView, Used,
};
use crate::key::TokenKey;
use crate::record::GrantId;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The connection pool, one variant per driver.
pub(super) enum Pool {
    Postgres(sqlx::PgPool),
    Mysql(sqlx::MySqlPool),
}

/// Runs `$body` with `$p` bound to the pool of whichever driver this is, and `$d` to its
/// [`SqlDialect`]: the body is compiled once per driver, so the same source serves both.
/// The body is an async block of its own (awaited here), so `?` inside it returns from the
/// body with the driver's error, not from the caller.
macro_rules! on_pool {
    ($pool:expr, $p:ident, $d:ident => $body:expr) => {
        match $pool {
            $crate::store::sql::Pool::Postgres($p) => {
                #[allow(unused_variables)]
                let $d = $crate::store::SqlDialect::Postgres;
                async { $body }.await
            }
            $crate::store::sql::Pool::Mysql($p) => {
                #[allow(unused_variables)]
                let $d = $crate::store::SqlDialect::Mysql;
                async { $body }.await
            }
        }
    };
}
pub(super) use on_pool;

pub(super) struct Inner {
    pool: Pool,
    dialect: SqlDialect,
    st: tables::Statements,
    request_timeout: Duration,
    /// This process's name in the `leases` table.
    node: String,
}

/// The SQL store. Cheap to share (`Arc` inside).
pub struct SqlStore {
    inner: Arc<Inner>,
    runtime: tokio::runtime::Handle,
    /// Ends the runtime thread when the store is dropped.
    _stop: tokio::sync::oneshot::Sender<()>,
    target: String,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

fn backend(dialect: SqlDialect) -> &'static str {
    match dialect {
        SqlDialect::Postgres => "postgres",
        SqlDialect::Mysql => "mysql",
    }
}

impl Inner {
    /// A driver error as a retryable store error.
    fn err(&self, e: impl fmt::Display) -> StoreError {
        StoreError::Io {
            backend: backend(self.dialect),
            message: e.to_string(),
        }
    }

    /// `fut`, or an error once `request_timeout` has passed.
    async fn timed<T>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.timed_times(1, fut).await
    }

    /// `fut`, or an error once `times` × `request_timeout` has passed: for work that grows
    /// with its input (a write-behind batch), so a large batch is not refused for its size
    /// alone and then retried, unchanged, for ever.
    async fn timed_times<T>(
        &self,
        times: u32,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let limit = self.request_timeout.saturating_mul(times.max(1));
        match tokio::time::timeout(limit, fut).await {
            Ok(result) => result,
            Err(_) => Err(self.err(format_args!(
                "no answer within {} ms (request_timeout_ms × {times})",
                limit.as_millis()
            ))),
        }
    }
}

fn open_err(opts: &SqlOptions, reason: impl fmt::Display) -> StoreError {
    StoreError::Open {
        path: opts.redacted_url(),
        reason: reason.to_string(),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Starts the driver's runtime thread (`tessera-sql`).
fn start_runtime() -> Result<(tokio::runtime::Handle, tokio::sync::oneshot::Sender<()>), String> {
    super::driver::start_runtime("tessera-sql")
}

/// Runs `fut` on the driver's runtime and waits for it on this (non-worker) thread.
fn block_on<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    super::driver::block_on(runtime, "sql", fut)
}

/// A name for this process in the `leases` table, unique among the nodes.
fn node_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".to_owned());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{host}/{}/{nanos:08x}", std::process::id())
}

impl SqlStore {
    /// Connects, and checks that the database holds the schema this build serves (created
    /// by [`SqlStore::migrate`] or by hand from the schema file).
    pub fn open(opts: &SqlOptions) -> Result<SqlStore, StoreError> {
        let (runtime, stop) = start_runtime().map_err(|e| open_err(opts, e))?;
        let o = opts.clone();
        let inner = block_on(&runtime, async move {
            let pool = tokio::time::timeout(o.connect_timeout, options::connect(&o))
                .await
                .map_err(|_| {
                    open_err(
                        &o,
                        format_args!(
                            "no connection within connect_timeout_ms ({} ms)",
                            o.connect_timeout.as_millis()
                        ),
                    )
                })?
                .map_err(|e| open_err(&o, e))?;
            schema::check_version(&pool, o.dialect)
                .await
                .map_err(|e| open_err(&o, e))?;
            Ok(Inner {
                pool,
                dialect: o.dialect,
                st: tables::Statements::new(o.dialect),
                request_timeout: o.request_timeout,
                node: node_name(),
            })
        })?;
        Ok(SqlStore {
            inner: Arc::new(inner),
            runtime,
            _stop: stop,
            target: opts.redacted_url(),
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

    /// Runs `f` on the runtime and sends its answer on a oneshot channel: for the calls a
    /// worker task awaits.
    fn answer<T: Send + 'static>(
        &self,
        f: impl FnOnce(Arc<Inner>) -> std::pin::Pin<Box<dyn Future<Output = T> + Send>>,
    ) -> futures_channel::oneshot::Receiver<T> {
        let (tx, rx) = futures_channel::oneshot::channel();
        let fut = f(Arc::clone(&self.inner));
        self.runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx
    }
}

impl Store for SqlStore {
    fn name(&self) -> &'static str {
        backend(self.inner.dialect)
    }

    /// `durable` needs nothing extra: a batch returns once its transaction committed, and
    /// a commit is the durability the database offers (its own `synchronous_commit` /
    /// `innodb_flush_log_at_trx_commit` settings decide what that means).
    fn apply(&self, batch: &[Mutation], _durable: bool) -> Result<(), StoreError> {
        let batch = batch.to_vec();
        self.run(move |inner| Box::pin(async move { inner.apply(&batch).await }))
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

    fn purge_expired(&self, now: u32, limit: usize) -> Result<usize, StoreError> {
        self.run(move |inner| Box::pin(async move { inner.purge_expired(now, limit).await }))
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let name = name.to_owned();
        self.run(move |inner| Box::pin(async move { inner.setting(&name).await }))
    }

    fn put_setting_if(
        &self,
        name: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StoreError> {
        let (name, expected, value) = (
            name.to_owned(),
            expected.map(str::to_owned),
            value.to_owned(),
        );
        self.run(move |inner| {
            Box::pin(async move {
                inner
                    .put_setting_if(&name, expected.as_deref(), &value)
                    .await
            })
        })
    }

    fn shared(&self) -> Option<&dyn SharedStore> {
        Some(self)
    }
}

impl SharedStore for SqlStore {
    fn lookup(&self, key: TokenKey, now: u32) -> Lookup {
        self.answer(move |inner| Box::pin(async move { inner.get(key, now).await }))
    }

    fn claim_use(&self, key: TokenKey, grant: GrantId, ttl_secs: u32) -> Claim {
        self.answer(move |inner| {
            Box::pin(async move { inner.claim_use(key, grant, ttl_secs).await })
        })
    }

    fn used(&self, key: TokenKey) -> Used {
        self.answer(move |inner| Box::pin(async move { inner.used(key).await }))
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
        self.run(|inner| Box::pin(async move { inner.list_specs(records::Admin::Clients).await }))
    }

    fn put_client(&self, id: &str, spec: &str) -> Result<(), StoreError> {
        let (id, spec) = (id.to_owned(), spec.to_owned());
        self.run(move |inner| {
            Box::pin(async move { inner.put_spec(records::Admin::Clients, &id, &spec).await })
        })
    }

    fn create_client(&self, id: &str, spec: &str) -> Result<bool, StoreError> {
        let (id, spec) = (id.to_owned(), spec.to_owned());
        self.run(move |inner| {
            Box::pin(async move { inner.create_spec(records::Admin::Clients, &id, &spec).await })
        })
    }

    fn replace_client(&self, id: &str, old: &str, new: &str) -> Result<bool, StoreError> {
        let (id, old, new) = (id.to_owned(), old.to_owned(), new.to_owned());
        self.run(move |inner| {
            Box::pin(async move {
                inner
                    .replace_spec(records::Admin::Clients, &id, &old, &new)
                    .await
            })
        })
    }

    fn remove_client(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.run(move |inner| {
            Box::pin(async move { inner.remove_spec(records::Admin::Clients, &id).await })
        })
    }

    fn users(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.run(|inner| Box::pin(async move { inner.list_specs(records::Admin::Users).await }))
    }

    fn put_user(&self, username: &str, spec: &str) -> Result<(), StoreError> {
        let (name, spec) = (username.to_owned(), spec.to_owned());
        self.run(move |inner| {
            Box::pin(async move { inner.put_spec(records::Admin::Users, &name, &spec).await })
        })
    }

    fn create_user(&self, username: &str, spec: &str) -> Result<bool, StoreError> {
        let (name, spec) = (username.to_owned(), spec.to_owned());
        self.run(move |inner| {
            Box::pin(async move { inner.create_spec(records::Admin::Users, &name, &spec).await })
        })
    }

    fn replace_user(&self, username: &str, old: &str, new: &str) -> Result<bool, StoreError> {
        let (name, old, new) = (username.to_owned(), old.to_owned(), new.to_owned());
        self.run(move |inner| {
            Box::pin(async move {
                inner
                    .replace_spec(records::Admin::Users, &name, &old, &new)
                    .await
            })
        })
    }

    fn remove_user(&self, username: &str) -> Result<bool, StoreError> {
        let name = username.to_owned();
        self.run(move |inner| {
            Box::pin(async move { inner.remove_spec(records::Admin::Users, &name).await })
        })
    }
}

#[cfg(test)]
mod tests;
