//! Start-up: open the configured store, load the clients and users kept in it, rebuild
//! the token table from it, and start the write-behind and the password-hash pool — the
//! [`App`] the workers then share. Runs once, before any listener accepts.

use crate::cluster::read_through::ReadThrough;
use crate::codes::CodeTable;
use crate::config::{Config, DurabilityMode, SecurityConfig, StoreKind, MAX_LOCKOUT_SECS};
use crate::guard::{Guard, Policy};
use crate::http::admission::AddressTable;
use crate::metrics::Metrics;
use crate::ratelimit::{AddressLimiter, Rate};
use crate::registry::password_pool::PasswordPool;
use crate::registry::Registry;
use crate::state::App;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tessera_storage::recovery::Parallelism;
use tessera_storage::store::{Store, StoreError, StoredToken};
use tessera_storage::writer::{Durability, WriteBehind, WriterConfig};
use tessera_storage::{Symbols, TokenTable};
use tracing::info;

/// Metrics slots for clients kept in a shared store, beyond the configuration's.
const STORED_CLIENT_METRICS: usize = 1024;

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    Store(StoreError),
    Io(std::io::Error),
    /// The OpenID Connect signing keys could not be loaded or created.
    Keys(crate::oidc::OidcError),
    /// An operator's page template could not be loaded.
    Pages(crate::pages::PagesError),
    /// `[server.tls]`'s certificate or key cannot be used.
    Tls(crate::tls::TlsError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Store(e) => write!(f, "{e}"),
            StartError::Io(e) => write!(f, "{e}"),
            StartError::Keys(e) => write!(f, "OpenID Connect signing keys: {e}"),
            StartError::Pages(e) => write!(f, "{e}"),
            StartError::Tls(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl App {
    /// Builds the shared state for `workers` worker threads from a validated config: opens
    /// the store, rebuilds the table from it, starts the write-behind and the password pool.
    pub fn new(config: Config, workers: usize) -> Result<App, StartError> {
        // Before the store opens: a bad certificate should not cost a table rebuild.
        let tls = match &config.server.tls {
            Some(files) => Some(crate::tls::load(files).map_err(StartError::Tls)?),
            None => None,
        };
        let admin_tls = match &config.admin.tls {
            Some(files) => Some(crate::tls::load_admin(files).map_err(StartError::Tls)?),
            None => None,
        };
        let syms = Arc::new(Symbols::default());
        let store = with_faults(open_store(&config)?, &config)?;
        // Where clients and users made at run time are kept: the store, or (kind =
        // "memory") a memory store of its own, gone at exit like the tokens.
        let directory: Arc<dyn Store> = match &store {
            Some(s) => Arc::clone(s),
            None => Arc::new(tessera_storage::store::memory::MemoryStore::new()),
        };
        // Clients and users kept in the store count from the start: their tokens are
        // recovered like everyone's.
        let dir = crate::manage::directory::Directory::of(directory.as_ref());
        let stored_clients =
            crate::cluster::sync::stored_clients(&config, dir).map_err(StartError::Store)?;
        let stored_users = crate::cluster::sync::stored_users(dir).map_err(StartError::Store)?;
        let registry = Registry::new(&config, &stored_clients, &stored_users, Arc::clone(&syms));
        let hash_threads = match config.server.password_hash_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get().div_ceil(2)),
            n => n,
        };
        // Enough shards that two workers rarely meet on one lock.
        let now = crate::clock::now_secs();
        // Validation caps it at 10⁹, which fits a usize on every target Tessera builds for.
        let expected = usize::try_from(config.store.expected_live_tokens).unwrap_or(usize::MAX);
        let table = TokenTable::with_expected((workers * 16).max(64), now, expected);
        let codes = CodeTable::new();
        if let Some(store) = &store {
            let clients = registry.clients();
            let keep = |client: &str| clients.get(client).is_some();
            // Live authorization codes go back into the code table, not the token table.
            let mut restore_code = |key, stored: StoredToken| {
                if let Some(code) = crate::codes::from_stored(&stored, &syms) {
                    // Recovered codes were within the cap when issued.
                    let _ = codes.insert(key, code);
                }
            };
            // With `[store] expected_live_tokens` the table was sized above, and recovery
            // inserts without splitting a sub-map; without it, recovery grows the table
            // through the same bounded splits as issuance.
            let stats = tessera_storage::recovery::recover_with(
                store.as_ref(),
                &table,
                &syms,
                now,
                // No listener is open yet: start-up has every core to itself.
                Parallelism::Cores,
                &keep,
                &mut restore_code,
            )
            .map_err(|e| {
                // Refusing to start beats serving with tokens silently missing; say where.
                StartError::Store(StoreError::Open {
                    path: store_location(&config),
                    reason: format!("recovery failed: {e}"),
                })
            })?;
            info!(
                store = store.name(),
                restored = stats.restored,
                skipped_unknown_client = stats.skipped,
                codes = stats.codes,
                grants = stats.grants,
                threads = stats.threads,
                took_ms = stats.took.as_millis() as u64,
                "token table rebuilt from the store"
            );
        }
        // Built before the writer, which tells it when removals have reached the store.
        let read_through = store.as_ref().and_then(|s| s.shared()).map(|_| {
            Arc::new(ReadThrough::new(
                config.store.negative_cache_ms,
                config.store.revocation_propagation_ms,
                config.store.read_through_limit,
                config.store.read_through_limit_per_address,
            ))
        });
        let writer = match &store {
            None => None,
            Some(store) => Some(
                WriteBehind::start_observed(
                    Arc::clone(store),
                    Arc::clone(&syms),
                    writer_config(&config, workers),
                    read_through
                        .clone()
                        .map(|rt| rt as Arc<dyn tessera_storage::writer::WriteObserver>),
                )
                .map_err(StartError::Io)?,
            ),
        };
        let metrics = Metrics::new(workers, config.clients.len() + STORED_CLIENT_METRICS);
        let a = &config.authorize;
        let pages =
            crate::pages::Pages::load(a.login_template.as_deref(), a.consent_template.as_deref())
                .map_err(StartError::Pages)?;
        // Generated on the first start and kept in the store, so every node signs with and
        // publishes the same keys.
        let keys = crate::oidc::keys::load_or_create(store.as_deref(), &config, u64::from(now))
            .map_err(StartError::Keys)?;
        let issuer = config.issuer();
        let discovery = crate::oidc::discovery::documents(&config, &issuer);
        let issuers = crate::registry::issuers::build(&config.assertion_issuers, registry.keys());
        let assertions = crate::state::Assertions::new(&config, &issuer, issuers);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".to_owned());
        // Port 0 (the kernel picks one) does not tell two nodes of one host apart: they
        // would write one heartbeat entry and the peers list would show one node. The
        // process id does.
        let node_name = if config.server.listen.port() == 0 {
            format!("{host}/{} pid {}", config.server.listen, std::process::id())
        } else {
            format!("{host}/{}", config.server.listen)
        };
        Ok(App {
            node_name,
            tls,
            admin_tls,
            passwords: PasswordPool::start(hash_threads).map_err(StartError::Io)?,
            guard: Guard::new(guard_policy(&config.security)),
            addresses: Arc::new(AddressTable::new(config.server.max_connections_per_address)),
            address_limits: config
                .security
                .rate_limit_per_address
                .map(|l| AddressLimiter::new(Rate::new(l.per_second, l.burst))),
            config,
            table,
            registry,
            read_through,
            syms,
            store,
            directory,
            writer,
            metrics,
            purged_total: AtomicU64::new(0),
            codes,
            pages,
            issuer,
            discovery,
            keys: arc_swap::ArcSwap::from_pointee(keys),
            assertions,
        })
    }
}

/// The guard's limits from `[security]`, in milliseconds.
fn guard_policy(s: &SecurityConfig) -> Policy {
    Policy {
        limit: s.failed_auth_limit,
        address_limit: s.failed_auth_limit_per_address,
        window_ms: s.failed_auth_window_secs * 1000,
        lockout_ms: s.lockout_secs * 1000,
        max_lockout_ms: MAX_LOCKOUT_SECS * 1000,
    }
}

fn open_store(config: &Config) -> Result<Option<Arc<dyn Store>>, StartError> {
    // The SQL stores, whose options come from whichever section `kind` names.
    #[cfg(feature = "sql")]
    if let Some(opts) = config.store.sql_options() {
        // Checks the schema version: a database `tessera migrate` has not prepared, or one
        // of another version, is refused here rather than failing on the first write.
        let store =
            tessera_storage::store::sql::SqlStore::open(&opts).map_err(StartError::Store)?;
        info!(database = %opts.redacted_url(), "SQL store opened");
        return Ok(Some(Arc::new(store)));
    }
    match config.store.kind {
        StoreKind::Memory => Ok(None),
        #[cfg(feature = "rocksdb")]
        StoreKind::Rocksdb => {
            let store = tessera_storage::store::rocks::RocksStore::open(&config.store.path)
                .map_err(StartError::Store)?;
            Ok(Some(Arc::new(store)))
        }
        #[cfg(not(feature = "rocksdb"))]
        StoreKind::Rocksdb => Err(StartError::Store(StoreError::Open {
            path: config.store.path.display().to_string(),
            reason:
                "this build of Tessera has no RocksDB support (built without the `rocksdb` feature)"
                    .to_owned(),
        })),
        #[cfg(feature = "cassandra")]
        StoreKind::Cassandra => {
            use tessera_storage::store::cassandra::CassandraStore;
            let opts = config.store.cassandra_options();
            if config.store.cassandra.create_schema {
                let n = CassandraStore::migrate(&opts, &config.store.cassandra.replication)
                    .map_err(StartError::Store)?;
                info!(statements = n, keyspace = %opts.keyspace, "schema applied");
            }
            let store = CassandraStore::open(&opts).map_err(StartError::Store)?;
            Ok(Some(Arc::new(store)))
        }
        #[cfg(not(feature = "cassandra"))]
        StoreKind::Cassandra => Err(StartError::Store(StoreError::Open {
            path: config.store.cassandra.keyspace.clone(),
            reason: "this build of Tessera has no Cassandra support (built without the `cassandra` feature)"
                .to_owned(),
        })),
        // With the `sql` feature these were opened above.
        StoreKind::Postgres | StoreKind::Mysql => Err(StartError::Store(no_sql_support(config))),
    }
}

/// Test only (`store.test_faults_file`): the store behind the fault injector, so chaos
/// tests can stall it or make it fail at run time.
fn with_faults(
    store: Option<Arc<dyn Store>>,
    config: &Config,
) -> Result<Option<Arc<dyn Store>>, StartError> {
    match (store, &config.store.test_faults_file) {
        (Some(store), Some(file)) => {
            let faulty = tessera_storage::store::faults::FaultyStore::start(store, file)
                .map_err(StartError::Io)?;
            Ok(Some(Arc::new(faulty)))
        }
        (store, _) => Ok(store),
    }
}

/// Where the configured store is, for errors: RocksDB's directory, the Cassandra keyspace,
/// or the SQL database's URL without its password.
fn store_location(config: &Config) -> String {
    #[cfg(feature = "sql")]
    if let Some(opts) = config.store.sql_options() {
        return opts.redacted_url();
    }
    match config.store.kind {
        StoreKind::Cassandra => format!("keyspace {}", config.store.cassandra.keyspace),
        StoreKind::Postgres | StoreKind::Mysql => format!("store.{}.url", config.store.kind.name()),
        StoreKind::Rocksdb | StoreKind::Memory => config.store.path.display().to_string(),
    }
}

/// The error for a SQL `store.kind` in a build without the `sql` feature.
pub(crate) fn no_sql_support(config: &Config) -> StoreError {
    StoreError::Open {
        path: format!("store.kind = \"{}\"", config.store.kind.name()),
        reason: "this build of Tessera has no PostgreSQL or MySQL support (built without the `sql` feature)"
            .to_owned(),
    }
}

/// Each of the `workers` gets a write-behind lane of its own (see `tessera_storage::writer`).
fn writer_config(config: &Config, workers: usize) -> WriterConfig {
    let s = &config.store;
    WriterConfig {
        durability: match s.durability {
            DurabilityMode::Async => Durability::Async,
            DurabilityMode::Sync => Durability::Sync,
        },
        flush_interval: Duration::from_millis(s.flush_interval_ms),
        queue_capacity: s.queue_capacity,
        write_delay: Duration::from_millis(s.write_delay_ms),
        drain_timeout: Duration::from_secs(config.server.shutdown_grace_secs),
        lanes: workers,
    }
}
