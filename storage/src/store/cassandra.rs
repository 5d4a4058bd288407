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
//! (key → [`codec`] record, written `USING TTL` the token's remaining life, so Cassandra
//! expires tokens by itself), `grants` (grant → its token keys, one partition per grant for
//! the RFC 7009 cascade), `revocations` (the log the other nodes poll), `clients`, `users`.
//!
//! Order inside a batch: the writes of one batch run concurrently, so each carries an
//! explicit, increasing write timestamp (`USING TIMESTAMP`). Cassandra keeps the write with
//! the highest timestamp, which makes the outcome that of applying the batch in order — a
//! delete after a put wins, a put after a grant's partition delete survives. A grant
//! delete's key set is read first and includes the puts earlier in the same batch.
//!
//! How the writes travel ([`WriteBatching`]): grouped into CQL `UNLOGGED BATCH`es of a few
//! statements (the default: fewer requests, though the coordinator fans each batch out), or
//! each as its own prepared statement, all in flight at once (token-aware: every write goes
//! straight to a replica of its partition, which may win on large clusters).
//! `bench/src/bin/cassandra-writes.rs` measures both; `bench/RESULTS.md` has the figures
//! behind the default.

use super::codec;
pub use super::WriteBatching;
use super::{
    Lookup, Mutation, Revocation, Revoked, SharedStore, Store, StoreError, StoredToken, TokenView,
};
use crate::key::TokenKey;
use crate::record::{GrantId, TokenKind};
use futures_util::StreamExt;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Consistency levels, named as in CQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Any,
    One,
    Two,
    Three,
    Quorum,
    All,
    LocalQuorum,
    EachQuorum,
    LocalOne,
}

impl Level {
    /// Parses a CQL level name (case-insensitive).
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_uppercase().as_str() {
            "ANY" => Level::Any,
            "ONE" => Level::One,
            "TWO" => Level::Two,
            "THREE" => Level::Three,
            "QUORUM" => Level::Quorum,
            "ALL" => Level::All,
            "LOCAL_QUORUM" => Level::LocalQuorum,
            "EACH_QUORUM" => Level::EachQuorum,
            "LOCAL_ONE" => Level::LocalOne,
            _ => return None,
        })
    }

    fn driver(self) -> Consistency {
        match self {
            Level::Any => Consistency::Any,
            Level::One => Consistency::One,
            Level::Two => Consistency::Two,
            Level::Three => Consistency::Three,
            Level::Quorum => Consistency::Quorum,
            Level::All => Consistency::All,
            Level::LocalQuorum => Consistency::LocalQuorum,
            Level::EachQuorum => Consistency::EachQuorum,
            Level::LocalOne => Consistency::LocalOne,
        }
    }
}

/// TLS to the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// CA bundle (PEM) to verify the nodes against; the system's roots when absent.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Verify the nodes' certificates (leave on outside tests).
    pub verify: bool,
}

/// How to reach the cluster; built by the server from `[store.cassandra]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CassandraOptions {
    pub contact_points: Vec<String>,
    pub keyspace: String,
    pub local_datacenter: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: Option<TlsOptions>,
    pub read_consistency: Level,
    pub write_consistency: Level,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub write_batching: WriteBatching,
}

/// The schema, with `{keyspace}` and `{replication}` still to fill in.
pub const SCHEMA: &str = include_str!("../../../config/cassandra/oauth-server.cql");

/// The schema's statements for `keyspace` with `replication` (a CQL map literal).
pub fn schema_statements(keyspace: &str, replication: &str) -> Vec<String> {
    let text: String = SCHEMA
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.replace("{keyspace}", keyspace)
                .replace("{replication}", replication)
        })
        .collect()
}

/// A keyspace name CQL accepts unquoted.
pub fn valid_keyspace(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 48
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Which prepared write a [`Pending`] runs.
#[derive(Debug, Clone, Copy)]
enum Which {
    Put(usize),
    Link,
    Delete(usize),
    DeleteGrant,
    Log,
}

impl Which {
    fn of(self, st: &Statements) -> &PreparedStatement {
        match self {
            Which::Put(t) => &st.put[t],
            Which::Link => &st.link,
            Which::Delete(t) => &st.delete[t],
            Which::DeleteGrant => &st.delete_grant,
            Which::Log => &st.log_revocation,
        }
    }
}

/// One write of a batch, waiting to be sent.
struct Pending {
    which: Which,
    values: Box<dyn SerializeRow + Send + Sync>,
}

impl Pending {
    fn new(which: Which, values: impl SerializeRow + Send + Sync + 'static) -> Pending {
        Pending {
            which,
            values: Box::new(values),
        }
    }
}

const KIND_ACCESS: i8 = 1;
const KIND_REFRESH: i8 = 2;
const TAG_TOKEN: u8 = 1;
const TAG_GRANT: u8 = 2;
const BUCKET_MS: u64 = 60_000;
/// Least time given to one schema statement of [`CassandraStore::migrate`].
const SCHEMA_TIMEOUT: Duration = Duration::from_secs(30);

struct Statements {
    put: [PreparedStatement; 2],
    link: PreparedStatement,
    delete: [PreparedStatement; 2],
    delete_grant: PreparedStatement,
    select_grant: PreparedStatement,
    get: [PreparedStatement; 2],
    scan: [PreparedStatement; 2],
    log_revocation: PreparedStatement,
    revocations: PreparedStatement,
    clients: PreparedStatement,
    put_client: PreparedStatement,
    get_client: PreparedStatement,
    delete_client: PreparedStatement,
    users: PreparedStatement,
    put_user: PreparedStatement,
    get_user: PreparedStatement,
    delete_user: PreparedStatement,
}

struct Inner {
    session: Session,
    st: Statements,
    batching: WriteBatching,
    write_consistency: Consistency,
    /// The last write timestamp handed out (µs), so timestamps only increase.
    last_ts: AtomicI64,
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

/// Starts the driver's runtime thread.
fn start_runtime() -> Result<(tokio::runtime::Handle, tokio::sync::oneshot::Sender<()>), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the driver runtime: {e}"))?;
    let handle = rt.handle().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("tessera-cassandra".into())
        .spawn(move || {
            // Drives the driver's I/O until the store is dropped.
            let _ = rt.block_on(stopped);
        })
        .map_err(|e| format!("cannot start the driver thread: {e}"))?;
    Ok((handle, stop))
}

/// Runs `fut` on the driver's runtime and waits for it on this (non-worker) thread.
fn block_on<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().map_err(|_| err("the driver runtime stopped"))?
}

async fn connect(opts: &CassandraOptions) -> Result<Session, String> {
    let profile = ExecutionProfile::builder()
        .consistency(opts.read_consistency.driver())
        .request_timeout(Some(opts.request_timeout))
        .build()
        .into_handle();
    let mut builder = SessionBuilder::new()
        .known_nodes(&opts.contact_points)
        .connection_timeout(opts.connect_timeout)
        .default_execution_profile_handle(profile);
    if let Some(dc) = &opts.local_datacenter {
        builder = builder.prefer_datacenter(dc.clone());
    }
    if let (Some(user), Some(password)) = (&opts.username, &opts.password) {
        builder = builder.user(user.clone(), password.clone());
    }
    if let Some(tls) = &opts.tls {
        builder = builder.tls_context(Some(tls_context(tls)?));
    }
    let session = builder.build().await.map_err(|e| e.to_string())?;
    if let Some(dc) = &opts.local_datacenter {
        check_datacenter(&session, dc)?;
    }
    Ok(session)
}

/// Refuses a `local_datacenter` the cluster does not have: the driver would accept it and
/// then fail every `LOCAL_*` request with an empty query plan, long after start-up.
fn check_datacenter(session: &Session, dc: &str) -> Result<(), String> {
    let state = session.get_cluster_state();
    let mut known: Vec<&str> = state
        .get_nodes_info()
        .iter()
        .filter_map(|n| n.datacenter.as_deref())
        .collect();
    if known.contains(&dc) {
        return Ok(());
    }
    known.sort_unstable();
    known.dedup();
    Err(format!(
        "local_datacenter {dc:?} is not a datacenter of this cluster (its nodes are in: {})",
        if known.is_empty() {
            "none reported".to_owned()
        } else {
            known.join(", ")
        }
    ))
}

fn tls_context(tls: &TlsOptions) -> Result<openssl::ssl::SslContext, String> {
    use openssl::ssl::{SslContextBuilder, SslFiletype, SslMethod, SslVerifyMode};
    let mut b = SslContextBuilder::new(SslMethod::tls_client()).map_err(|e| e.to_string())?;
    if let Some(ca) = &tls.ca_file {
        b.set_ca_file(ca)
            .map_err(|e| format!("tls ca_file {}: {e}", ca.display()))?;
    } else {
        b.set_default_verify_paths().map_err(|e| e.to_string())?;
    }
    if let Some(cert) = &tls.cert_file {
        b.set_certificate_chain_file(cert)
            .map_err(|e| format!("tls cert_file {}: {e}", cert.display()))?;
    }
    if let Some(key) = &tls.key_file {
        b.set_private_key_file(key, SslFiletype::PEM)
            .map_err(|e| format!("tls key_file {}: {e}", key.display()))?;
    }
    b.set_verify(if tls.verify {
        SslVerifyMode::PEER
    } else {
        SslVerifyMode::NONE
    });
    Ok(b.build())
}

async fn prepare(
    session: &Session,
    cql: String,
    level: Level,
) -> Result<PreparedStatement, String> {
    let mut st = session.prepare(cql.as_str()).await.map_err(|e| {
        format!("{e} (preparing `{cql}`; has `tessera migrate` created the schema?)")
    })?;
    st.set_consistency(level.driver());
    Ok(st)
}

async fn prepare_all(session: &Session, opts: &CassandraOptions) -> Result<Statements, String> {
    let ks = &opts.keyspace;
    let (r, w) = (opts.read_consistency, opts.write_consistency);
    let tables = ["access_tokens", "refresh_tokens"];
    let mut put = Vec::new();
    let mut delete = Vec::new();
    let mut get = Vec::new();
    let mut scan = Vec::new();
    for t in tables {
        put.push(
            prepare(
                session,
                format!("INSERT INTO {ks}.{t} (key, grant_id, client, record) VALUES (?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?"),
                w,
            )
            .await?,
        );
        delete.push(
            prepare(
                session,
                format!("DELETE FROM {ks}.{t} USING TIMESTAMP ? WHERE key = ?"),
                w,
            )
            .await?,
        );
        get.push(
            prepare(
                session,
                format!("SELECT record FROM {ks}.{t} WHERE key = ?"),
                r,
            )
            .await?,
        );
        let mut s = prepare(session, format!("SELECT key, record FROM {ks}.{t}"), r).await?;
        s.set_page_size(5_000);
        scan.push(s);
    }
    let two = |v: Vec<PreparedStatement>| -> Result<[PreparedStatement; 2], String> {
        v.try_into().map_err(|_| "statement count".to_string())
    };
    Ok(Statements {
        put: two(put)?,
        delete: two(delete)?,
        get: two(get)?,
        scan: two(scan)?,
        link: prepare(
            session,
            format!("INSERT INTO {ks}.grants (grant_id, key, kind, expires_at) VALUES (?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?"),
            w,
        )
        .await?,
        delete_grant: prepare(
            session,
            format!("DELETE FROM {ks}.grants USING TIMESTAMP ? WHERE grant_id = ?"),
            w,
        )
        .await?,
        select_grant: prepare(
            session,
            format!("SELECT key, kind, expires_at FROM {ks}.grants WHERE grant_id = ?"),
            r,
        )
        .await?,
        log_revocation: prepare(
            session,
            format!("INSERT INTO {ks}.revocations (bucket, at, target) VALUES (?, ?, ?)"),
            w,
        )
        .await?,
        revocations: prepare(
            session,
            format!("SELECT at, target FROM {ks}.revocations WHERE bucket = ? AND at > ?"),
            r,
        )
        .await?,
        clients: prepare(session, format!("SELECT id, spec FROM {ks}.clients"), r).await?,
        put_client: prepare(
            session,
            format!("INSERT INTO {ks}.clients (id, spec, updated_at) VALUES (?, ?, toTimestamp(now()))"),
            write_for_admin(w),
        )
        .await?,
        get_client: prepare(session, format!("SELECT id FROM {ks}.clients WHERE id = ?"), r).await?,
        delete_client: prepare(
            session,
            format!("DELETE FROM {ks}.clients WHERE id = ?"),
            write_for_admin(w),
        )
        .await?,
        users: prepare(session, format!("SELECT username, spec FROM {ks}.users"), r).await?,
        put_user: prepare(
            session,
            format!("INSERT INTO {ks}.users (username, spec, updated_at) VALUES (?, ?, toTimestamp(now()))"),
            write_for_admin(w),
        )
        .await?,
        get_user: prepare(
            session,
            format!("SELECT username FROM {ks}.users WHERE username = ?"),
            r,
        )
        .await?,
        delete_user: prepare(
            session,
            format!("DELETE FROM {ks}.users WHERE username = ?"),
            write_for_admin(w),
        )
        .await?,
    })
}

/// Administrative writes (clients, users) are rare and must not live only in a hint:
/// `ANY` becomes `ONE` for them.
fn write_for_admin(level: Level) -> Level {
    if level == Level::Any {
        Level::One
    } else {
        level
    }
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
                last_ts: AtomicI64::new(0),
            })
        })?;
        Ok(CassandraStore {
            inner: Arc::new(inner),
            runtime,
            _stop: stop,
            keyspace: opts.keyspace.clone(),
        })
    }

    /// Creates the keyspace and tables (idempotent) with `replication` (a CQL map literal,
    /// e.g. `{'class': 'SimpleStrategy', 'replication_factor': 1}`).
    pub fn migrate(opts: &CassandraOptions, replication: &str) -> Result<usize, StoreError> {
        if !valid_keyspace(&opts.keyspace) {
            return Err(open_err(
                opts,
                "the keyspace name must be letters, digits and _",
            ));
        }
        let (runtime, _stop) = start_runtime().map_err(|e| open_err(opts, e))?;
        let o = opts.clone();
        let statements = schema_statements(&opts.keyspace, replication);
        block_on(&runtime, async move {
            let session = connect(&o).await.map_err(|e| open_err(&o, e))?;
            let n = statements.len();
            for cql in statements {
                // Schema changes wait for the whole cluster and can take seconds on a busy
                // one; the data request timeout is sized for token reads and writes.
                let mut st = scylla::statement::Statement::new(cql.as_str());
                st.set_request_timeout(Some(o.request_timeout.max(SCHEMA_TIMEOUT)));
                session
                    .query_unpaged(st, &[])
                    .await
                    .map_err(|e| open_err(&o, format!("{e} (in `{cql}`)")))?;
            }
            session
                .await_schema_agreement()
                .await
                .map_err(|e| open_err(&o, e))?;
            Ok(n)
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

impl Inner {
    /// `n` increasing write timestamps (µs), starting after every earlier one.
    fn timestamps(&self, n: usize) -> i64 {
        let now = (now_ms() * 1000) as i64;
        let mut last = self.last_ts.load(Ordering::Relaxed);
        loop {
            let start = now.max(last + 1);
            match self.last_ts.compare_exchange_weak(
                last,
                start + n as i64,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return start,
                Err(seen) => last = seen,
            }
        }
    }

    async fn get(&self, key: TokenKey, now: u32) -> Result<Option<StoredToken>, StoreError> {
        let k = key.as_bytes().as_slice();
        let (a, r) = tokio::join!(
            self.session.execute_unpaged(&self.st.get[0], (k,)),
            self.session.execute_unpaged(&self.st.get[1], (k,)),
        );
        for result in [a, r] {
            let rows = result.map_err(err)?.into_rows_result().map_err(err)?;
            if let Some((record,)) = rows.maybe_first_row::<(Vec<u8>,)>().map_err(err)? {
                let view = codec::decode(&record)?;
                if view.is_live(now) {
                    return Ok(Some(view.to_owned_token()));
                }
            }
        }
        Ok(None)
    }

    async fn grant_keys(&self, grant: GrantId) -> Result<Vec<(TokenKey, i8, i64)>, StoreError> {
        let mut rows = self
            .session
            .execute_iter(self.st.select_grant.clone(), (grant.0 as i64,))
            .await
            .map_err(err)?
            .rows_stream::<(Vec<u8>, i8, i64)>()
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await {
            let (key, kind, expires) = row.map_err(err)?;
            if let Ok(bytes) = <[u8; 16]>::try_from(key.as_slice()) {
                out.push((TokenKey::from_bytes(bytes), kind, expires));
            }
        }
        Ok(out)
    }

    async fn apply(self: Arc<Self>, batch: Vec<Mutation>) -> Result<(), StoreError> {
        // Phase 1: the key sets of the grant deletes.
        let mut grant_sets: HashMap<GrantId, HashSet<TokenKey>> = HashMap::new();
        for m in &batch {
            if let Mutation::DeleteGrant { grant } = m {
                if !grant_sets.contains_key(grant) {
                    let keys = self.grant_keys(*grant).await?;
                    grant_sets.insert(*grant, keys.into_iter().map(|(k, _, _)| k).collect());
                }
            }
        }
        // Phase 2: every write, concurrently, each with its place in the batch as timestamp.
        let base = self.timestamps(batch.len());
        let real_now = real_now_secs();
        let at = now_ms();
        let bucket = (at / BUCKET_MS) as i64;
        let mut writes: Vec<Pending> = Vec::with_capacity(batch.len() * 2);
        let mut puts_so_far: Vec<(GrantId, TokenKey)> = Vec::new();
        for (i, m) in batch.iter().enumerate() {
            let ts = base + i as i64;
            match m {
                Mutation::Put { key, token } => {
                    let ttl = token.expires_at.saturating_sub(real_now);
                    if ttl == 0 {
                        continue; // Already dead by the wall clock: nothing to keep.
                    }
                    let ttl = ttl.min(i32::MAX as u32) as i32;
                    let mut record = Vec::with_capacity(96);
                    codec::encode(token, &mut record);
                    let (table, kind) = match token.kind {
                        TokenKind::Access => (0, KIND_ACCESS),
                        TokenKind::Refresh => (1, KIND_REFRESH),
                    };
                    let k = key.as_bytes().to_vec();
                    let grant = token.grant.0 as i64;
                    let client = token.client.to_string();
                    writes.push(Pending::new(
                        Which::Put(table),
                        (k.clone(), grant, client, record, ttl, ts),
                    ));
                    if !token.grant.is_none() {
                        let expires = i64::from(token.expires_at);
                        writes.push(Pending::new(
                            Which::Link,
                            (grant, k, kind, expires, ttl, ts),
                        ));
                        puts_so_far.push((token.grant, *key));
                    }
                }
                Mutation::Delete { key } => {
                    delete_token(&mut writes, key, ts);
                    writes.push(log(bucket, at, Revoked::Token(*key)));
                }
                Mutation::DeleteGrant { grant } => {
                    let mut keys: HashSet<TokenKey> =
                        grant_sets.get(grant).cloned().unwrap_or_default();
                    keys.extend(
                        puts_so_far
                            .iter()
                            .filter(|(g, _)| g == grant)
                            .map(|(_, k)| *k),
                    );
                    for key in &keys {
                        delete_token(&mut writes, key, ts);
                    }
                    writes.push(Pending::new(Which::DeleteGrant, (ts, grant.0 as i64)));
                    writes.push(log(bucket, at, Revoked::Grant(*grant)));
                }
            }
        }
        self.send(&writes).await
    }

    /// Sends `writes` the configured way and waits for every acknowledgement.
    async fn send(&self, writes: &[Pending]) -> Result<(), StoreError> {
        let results = match self.batching {
            WriteBatching::Concurrent => {
                futures_util::future::join_all(writes.iter().map(|w| {
                    self.session
                        .execute_unpaged(w.which.of(&self.st), &w.values)
                }))
                .await
            }
            WriteBatching::Unlogged(size) => {
                let batches: Vec<(Batch, Vec<&(dyn SerializeRow + Send + Sync)>)> = writes
                    .chunks(size.max(1))
                    .map(|chunk| {
                        let mut batch = Batch::new(BatchType::Unlogged);
                        batch.set_consistency(self.write_consistency);
                        for w in chunk {
                            batch.append_statement(w.which.of(&self.st).clone());
                        }
                        (batch, chunk.iter().map(|w| &*w.values).collect())
                    })
                    .collect();
                futures_util::future::join_all(
                    batches
                        .iter()
                        .map(|(batch, values)| self.session.batch(batch, values)),
                )
                .await
            }
        };
        for result in results {
            result.map_err(err)?;
        }
        Ok(())
    }
}

/// The revocation-log entry for `revoked`, at `at` (ms) in `bucket`.
fn log(bucket: i64, at: u64, revoked: Revoked) -> Pending {
    let mut target = Vec::with_capacity(17);
    match revoked {
        Revoked::Token(k) => {
            target.push(TAG_TOKEN);
            target.extend_from_slice(k.as_bytes());
        }
        Revoked::Grant(g) => {
            target.push(TAG_GRANT);
            target.extend_from_slice(&g.0.to_be_bytes());
        }
    }
    Pending::new(Which::Log, (bucket, at as i64, target))
}

/// Deletes `key` from both token tables (a delete does not say which kind it was).
fn delete_token(writes: &mut Vec<Pending>, key: &TokenKey, ts: i64) {
    for table in 0..2 {
        writes.push(Pending::new(
            Which::Delete(table),
            (ts, key.as_bytes().to_vec()),
        ));
    }
}

impl Inner {
    async fn revocations_since(&self, since_ms: u64) -> Result<Vec<Revocation>, StoreError> {
        let now = now_ms();
        let mut out = Vec::new();
        let first = since_ms / BUCKET_MS;
        // A bucket past our own clock too, for nodes whose clocks run ahead.
        let last = now / BUCKET_MS + 1;
        for bucket in first..=last.max(first) {
            let mut rows = self
                .session
                .execute_iter(
                    self.st.revocations.clone(),
                    (bucket as i64, since_ms as i64),
                )
                .await
                .map_err(err)?
                .rows_stream::<(i64, Vec<u8>)>()
                .map_err(err)?;
            while let Some(row) = rows.next().await {
                let (at, target) = row.map_err(err)?;
                let revoked = match (target.first(), target.get(1..)) {
                    (Some(&TAG_TOKEN), Some(rest)) => match <[u8; 16]>::try_from(rest) {
                        Ok(b) => Revoked::Token(TokenKey::from_bytes(b)),
                        Err(_) => continue,
                    },
                    (Some(&TAG_GRANT), Some(rest)) => match <[u8; 8]>::try_from(rest) {
                        Ok(b) => Revoked::Grant(GrantId(u64::from_be_bytes(b))),
                        Err(_) => continue,
                    },
                    _ => continue,
                };
                out.push(Revocation {
                    at_ms: at.max(0) as u64,
                    revoked,
                });
            }
        }
        Ok(out)
    }

    async fn pairs(&self, st: &PreparedStatement) -> Result<Vec<(String, String)>, StoreError> {
        let mut rows = self
            .session
            .execute_iter(st.clone(), ())
            .await
            .map_err(err)?
            .rows_stream::<(String, Option<String>)>()
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await {
            let (id, spec) = row.map_err(err)?;
            out.push((id, spec.unwrap_or_default()));
        }
        Ok(out)
    }

    async fn exists(&self, st: &PreparedStatement, id: &str) -> Result<bool, StoreError> {
        let rows = self
            .session
            .execute_unpaged(st, (id,))
            .await
            .map_err(err)?
            .into_rows_result()
            .map_err(err)?;
        Ok(rows.rows_num() > 0)
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
        self.run(move |inner| {
            Box::pin(async move {
                let mut live = Vec::new();
                for (key, _, expires) in inner.grant_keys(grant).await? {
                    // The link may outlive a token deleted on its own: check the token.
                    if expires > i64::from(now) && inner.get(key, now).await?.is_some() {
                        live.push(key);
                    }
                }
                Ok(live)
            })
        })
    }

    fn scan_live(
        &self,
        now: u32,
        visit: &mut dyn FnMut(TokenKey, TokenView<'_>),
    ) -> Result<u64, StoreError> {
        // Pages come over a channel so `visit` runs on this thread, not the driver's.
        let (tx, rx) =
            std::sync::mpsc::sync_channel::<Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError>>(4);
        let inner = Arc::clone(&self.inner);
        self.runtime.spawn(async move {
            for table in 0..2 {
                let pager = match inner
                    .session
                    .execute_iter(inner.st.scan[table].clone(), ())
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(err(e)));
                        return;
                    }
                };
                let mut rows = match pager.rows_stream::<(Vec<u8>, Vec<u8>)>() {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = tx.send(Err(err(e)));
                        return;
                    }
                };
                let mut page = Vec::with_capacity(1024);
                while let Some(row) = rows.next().await {
                    match row {
                        Ok(r) => page.push(r),
                        Err(e) => {
                            let _ = tx.send(Err(err(e)));
                            return;
                        }
                    }
                    if page.len() == 1024 && tx.send(Ok(std::mem::take(&mut page))).is_err() {
                        return;
                    }
                }
                if !page.is_empty() && tx.send(Ok(page)).is_err() {
                    return;
                }
            }
        });
        let mut n = 0;
        for page in rx {
            for (key, record) in page? {
                let Ok(bytes) = <[u8; 16]>::try_from(key.as_slice()) else {
                    continue;
                };
                let view = codec::decode(&record)?;
                if view.is_live(now) {
                    visit(TokenKey::from_bytes(bytes), view);
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    fn purge_expired(&self, _now: u32, _limit: usize) -> Result<usize, StoreError> {
        Ok(0)
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

    fn revocations_since(&self, since_ms: u64) -> Result<Vec<Revocation>, StoreError> {
        self.run(move |inner| Box::pin(async move { inner.revocations_since(since_ms).await }))
    }

    fn clients(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.list_specs(Admin::Clients)
    }

    fn put_client(&self, id: &str, spec: &str) -> Result<(), StoreError> {
        self.put_spec(Admin::Clients, id, spec)
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

    fn remove_user(&self, username: &str) -> Result<bool, StoreError> {
        self.remove_spec(Admin::Users, username)
    }
}

/// The two administrative tables: same shape (name → JSON spec), same operations.
#[derive(Debug, Clone, Copy)]
enum Admin {
    Clients,
    Users,
}

impl Statements {
    /// (list, put, get one, delete) for `table`.
    fn admin(
        &self,
        table: Admin,
    ) -> (
        &PreparedStatement,
        &PreparedStatement,
        &PreparedStatement,
        &PreparedStatement,
    ) {
        match table {
            Admin::Clients => (
                &self.clients,
                &self.put_client,
                &self.get_client,
                &self.delete_client,
            ),
            Admin::Users => (
                &self.users,
                &self.put_user,
                &self.get_user,
                &self.delete_user,
            ),
        }
    }
}

impl CassandraStore {
    fn list_specs(&self, table: Admin) -> Result<Vec<(String, String)>, StoreError> {
        self.run(move |inner| Box::pin(async move { inner.pairs(inner.st.admin(table).0).await }))
    }

    fn put_spec(&self, table: Admin, name: &str, spec: &str) -> Result<(), StoreError> {
        let (name, spec) = (name.to_owned(), spec.to_owned());
        self.run(move |inner| {
            Box::pin(async move {
                inner
                    .session
                    .execute_unpaged(inner.st.admin(table).1, (&name, &spec))
                    .await
                    .map(|_| ())
                    .map_err(err)
            })
        })
    }

    /// Whether there was such an entry.
    fn remove_spec(&self, table: Admin, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.run(move |inner| {
            Box::pin(async move {
                let (_, _, get, delete) = inner.st.admin(table);
                let existed = inner.exists(get, &name).await?;
                inner
                    .session
                    .execute_unpaged(delete, (&name,))
                    .await
                    .map_err(err)?;
                Ok(existed)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    //! Against the real Cassandra that `tests/services/cassandra.sh start` runs (address in
    //! `TESSERA_CASSANDRA`, default 127.0.0.1:9042). Each test uses its own keyspace.
    use super::*;
    use crate::conformance;

    fn options(keyspace: &str) -> CassandraOptions {
        CassandraOptions {
            contact_points: vec![
                std::env::var("TESSERA_CASSANDRA").unwrap_or_else(|_| "127.0.0.1:9042".into())
            ],
            keyspace: keyspace.into(),
            local_datacenter: None,
            username: None,
            password: None,
            tls: None,
            read_consistency: Level::One,
            write_consistency: Level::Any,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            write_batching: WriteBatching::default(),
        }
    }

    const REPLICATION: &str = "{'class': 'SimpleStrategy', 'replication_factor': 1}";

    /// A fresh keyspace per store, so every conformance check starts empty.
    fn fresh(prefix: &str, n: &mut u32) -> CassandraStore {
        fresh_with(prefix, n, WriteBatching::default())
    }

    fn fresh_with(prefix: &str, n: &mut u32, batching: WriteBatching) -> CassandraStore {
        *n += 1;
        let ks = format!("{prefix}_{}_{n}", std::process::id());
        let opts = CassandraOptions {
            write_batching: batching,
            ..options(&ks)
        };
        CassandraStore::migrate(&opts, REPLICATION).unwrap_or_else(|e| {
            panic!("{e}\n(is Cassandra running? `bash tests/services/cassandra.sh start`)")
        });
        CassandraStore::open(&opts).unwrap_or_else(|e| panic!("{e}"))
    }

    fn drop_keyspace(prefix: &str) {
        // Best effort: leave the server tidy for the next run.
        let opts = options("system");
        if let Ok((rt, _stop)) = start_runtime() {
            let pid = std::process::id();
            let prefix = prefix.to_owned();
            let _ = block_on(&rt, async move {
                let session = connect(&opts).await.map_err(err)?;
                let rows = session
                    .query_unpaged("SELECT keyspace_name FROM system_schema.keyspaces", &[])
                    .await
                    .map_err(err)?
                    .into_rows_result()
                    .map_err(err)?;
                let names: Vec<String> = rows
                    .rows::<(String,)>()
                    .map_err(err)?
                    .filter_map(Result::ok)
                    .map(|(n,)| n)
                    .filter(|n| n.starts_with(&format!("{prefix}_{pid}_")))
                    .collect();
                for n in names {
                    let _ = session
                        .query_unpaged(format!("DROP KEYSPACE IF EXISTS {n}"), &[])
                        .await;
                }
                Ok(())
            });
        }
    }

    #[test]
    fn cassandra_store_passes_the_conformance_suite_with_concurrent_writes() {
        let mut n = 0;
        conformance::run_all(&mut || {
            Box::new(fresh_with("conf", &mut n, WriteBatching::Concurrent))
        });
        drop_keyspace("conf");
    }

    #[test]
    fn cassandra_store_passes_the_conformance_suite_with_unlogged_batches() {
        let mut n = 0;
        // Batches of 3 statements, so the suite's batches span several CQL batches.
        conformance::run_all(&mut || {
            Box::new(fresh_with("confu", &mut n, WriteBatching::Unlogged(3)))
        });
        drop_keyspace("confu");
    }

    #[test]
    fn write_batching_names_parse_as_the_config_documents() {
        assert_eq!(
            WriteBatching::parse("concurrent"),
            Some(WriteBatching::Concurrent)
        );
        assert_eq!(
            WriteBatching::parse("unlogged"),
            Some(WriteBatching::Unlogged(WriteBatching::UNLOGGED_STATEMENTS))
        );
        assert_eq!(
            WriteBatching::parse("unlogged:64"),
            Some(WriteBatching::Unlogged(64))
        );
        for bad in [
            "",
            "logged",
            "unlogged:0",
            "unlogged:257",
            "unlogged:x",
            "concurrent:2",
        ] {
            assert_eq!(WriteBatching::parse(bad), None, "{bad:?}");
        }
        for mode in [WriteBatching::Concurrent, WriteBatching::Unlogged(5)] {
            assert_eq!(WriteBatching::parse(&mode.to_string()), Some(mode));
        }
    }

    #[test]
    fn revocation_log_records_deleted_tokens_and_grants_for_other_nodes() {
        let mut n = 0;
        let store = fresh("revlog", &mut n);
        let since = now_ms().saturating_sub(1);
        let k = conformance::key("gone");
        store
            .apply(
                &[
                    Mutation::Put {
                        key: k,
                        token: conformance::token(TokenKind::Access, 5, 600),
                    },
                    Mutation::Delete { key: k },
                    Mutation::DeleteGrant { grant: GrantId(5) },
                ],
                false,
            )
            .expect("apply");
        let log = store.revocations_since(since).expect("poll");
        let revoked: Vec<Revoked> = log.iter().map(|r| r.revoked).collect();
        assert!(revoked.contains(&Revoked::Token(k)), "{log:?}");
        assert!(revoked.contains(&Revoked::Grant(GrantId(5))), "{log:?}");
        assert!(log.iter().all(|r| r.at_ms > since));
        drop_keyspace("revlog");
    }

    #[test]
    fn read_through_lookup_answers_on_a_channel() {
        let mut n = 0;
        let store = fresh("lookup", &mut n);
        let k = conformance::key("rt");
        let t = conformance::token(TokenKind::Refresh, 11, 600);
        store
            .apply(
                &[Mutation::Put {
                    key: k,
                    token: t.clone(),
                }],
                false,
            )
            .expect("put");
        let found = futures_executor_block(store.lookup(k, conformance::NOW));
        assert_eq!(found, Some(t));
        let missing =
            futures_executor_block(store.lookup(conformance::key("none"), conformance::NOW));
        assert_eq!(missing, None);
        drop_keyspace("lookup");
    }

    #[test]
    fn clients_and_users_are_kept_by_id() {
        let mut n = 0;
        let store = fresh("admin", &mut n);
        store.put_client("svc-x", r#"{"id":"svc-x"}"#).expect("put");
        assert_eq!(
            store.clients().expect("list"),
            vec![("svc-x".to_string(), r#"{"id":"svc-x"}"#.to_string())]
        );
        assert!(store.remove_client("svc-x").expect("remove"));
        assert!(!store.remove_client("svc-x").expect("remove again"));
        store
            .put_user("ann", r#"{"password_hash":"x"}"#)
            .expect("user");
        assert_eq!(store.users().expect("users").len(), 1);
        assert!(store.remove_user("ann").expect("remove user"));
        drop_keyspace("admin");
    }

    #[test]
    fn ttl_expires_tokens_in_the_store_itself() {
        let mut n = 0;
        let store = fresh("ttl", &mut n);
        let now = real_now_secs();
        let k = conformance::key("short");
        let t = StoredToken {
            issued_at: now,
            expires_at: now + 2,
            ..conformance::token(TokenKind::Access, 0, 2)
        };
        store
            .apply(&[Mutation::Put { key: k, token: t }], false)
            .expect("put");
        assert!(store.get(&k, now).expect("get").is_some());
        std::thread::sleep(Duration::from_millis(3_500));
        // Asked about a moment before expiry, the row is gone all the same: Cassandra's TTL
        // removed it, not Tessera's filter.
        assert_eq!(store.get(&k, now).expect("get"), None);
        assert_eq!(store.purge_expired(now + 10, 100).expect("purge"), 0);
        drop_keyspace("ttl");
    }

    fn futures_executor_block(rx: Lookup) -> Option<StoredToken> {
        // A plain thread may block on a oneshot by polling it with a no-op waker.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(rx).expect("answer").expect("lookup")
    }

    #[test]
    fn schema_statements_fill_in_keyspace_and_replication() {
        let s = schema_statements("ks1", REPLICATION);
        assert!(s[0].starts_with("CREATE KEYSPACE IF NOT EXISTS ks1"));
        assert!(s[0].contains("SimpleStrategy"));
        assert!(s
            .iter()
            .all(|x| !x.contains('{') || x.contains("replication")));
        assert!(s.iter().any(|x| x.contains("ks1.revocations")));
        assert!(valid_keyspace("tessera_1"));
        assert!(!valid_keyspace("x; DROP"));
        assert!(!valid_keyspace("1abc"));
    }
}
