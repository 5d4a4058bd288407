//! The state every worker shares: configuration, registries, the token table, interners,
//! the store and its write-behind, the password-hash pool and metrics. Built once at
//! start-up — including the table's recovery from the store — then only read (the table,
//! interners and writer synchronise internally).

use crate::cluster::read_through::ReadThrough;
use crate::config::{ClientConfig, Config, DurabilityMode, StoreKind, UserConfig};
use crate::metrics::Metrics;
use crate::oauth::clients::{ClientIndices, Clients};
use crate::oauth::password_pool::PasswordPool;
use crate::oauth::users::Users;
use arc_swap::ArcSwap;
use parking_lot::Mutex;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tessera_storage::store::{Store, StoreError};
use tessera_storage::writer::{Durability, WriteBehind, WriterConfig};
use tessera_storage::{Symbols, TokenTable};
use tracing::info;

/// Metrics slots for clients kept in a shared store, beyond the configuration's.
const STORED_CLIENT_METRICS: usize = 1024;

#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub table: TokenTable,
    /// The client registry. Replaced as a whole when the clients kept in a shared store
    /// change; workers keep their own reference and re-read it when `clients_generation`
    /// moves (see [`App::clients_generation`]).
    clients: ArcSwap<Clients>,
    clients_generation: AtomicU64,
    client_indices: Mutex<ClientIndices>,
    users: ArcSwap<Users>,
    /// Read-through to a shared store; `None` unless the store is shared.
    pub read_through: Option<Arc<ReadThrough>>,
    pub syms: Arc<Symbols>,
    /// The persistent store, if the configuration has one.
    pub store: Option<Arc<dyn Store>>,
    /// Carries table changes to `store`; `None` for `kind = "memory"`.
    pub writer: Option<WriteBehind>,
    pub passwords: PasswordPool,
    pub metrics: Metrics,
    /// Expired records reclaimed by the purge thread since start.
    pub purged_total: AtomicU64,
}

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    Store(StoreError),
    Io(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Store(e) => write!(f, "{e}"),
            StartError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl App {
    /// Builds the shared state for `workers` worker threads from a validated config: opens
    /// the store, rebuilds the table from it, starts the write-behind and the password pool.
    pub fn new(config: Config, workers: usize) -> Result<App, StartError> {
        let syms = Arc::new(Symbols::default());
        let store = open_store(&config)?;
        // Clients and users kept in a shared store count from the start: their tokens are
        // recovered like everyone's.
        let (stored_clients, stored_users) = match store.as_ref().and_then(|s| s.shared()) {
            Some(shared) => (
                crate::cluster::sync::stored_clients(&config, shared).map_err(StartError::Store)?,
                crate::cluster::sync::stored_users(shared).map_err(StartError::Store)?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        let mut indices = ClientIndices::default();
        let clients = Clients::build(
            &config,
            &stored_clients,
            &mut indices,
            &syms.clients,
            &syms.scopes,
            &syms.meta,
        );
        let users = Users::build(&config, &stored_users, &syms.users, None);
        let hash_threads = match config.server.password_hash_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get().div_ceil(2)),
            n => n,
        };
        // Enough shards that two workers rarely meet on one lock.
        let now = crate::clock::now_secs();
        let table = TokenTable::new((workers * 16).max(64), now);
        if let Some(store) = &store {
            let keep = |client: &str| clients.get(client).is_some();
            let stats =
                tessera_storage::recovery::recover(store.as_ref(), &table, &syms, now, &keep)
                    .map_err(|e| {
                        // Refusing to start beats serving with tokens silently missing; say where.
                        StartError::Store(StoreError::Open {
                            path: config.store.path.display().to_string(),
                            reason: format!("recovery failed: {e}"),
                        })
                    })?;
            info!(
                store = store.name(),
                restored = stats.restored,
                skipped_unknown_client = stats.skipped,
                grants = stats.grants,
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
            ))
        });
        let writer = match &store {
            None => None,
            Some(store) => Some(
                WriteBehind::start_observed(
                    Arc::clone(store),
                    Arc::clone(&syms),
                    writer_config(&config),
                    read_through
                        .clone()
                        .map(|rt| rt as Arc<dyn tessera_storage::writer::WriteObserver>),
                )
                .map_err(StartError::Io)?,
            ),
        };
        let metrics = Metrics::new(workers, config.clients.len() + STORED_CLIENT_METRICS);
        Ok(App {
            passwords: PasswordPool::start(hash_threads).map_err(StartError::Io)?,
            config,
            table,
            clients: ArcSwap::from_pointee(clients),
            clients_generation: AtomicU64::new(0),
            client_indices: Mutex::new(indices),
            users: ArcSwap::from_pointee(users),
            read_through,
            syms,
            store,
            writer,
            metrics,
            purged_total: AtomicU64::new(0),
        })
    }
}

impl App {
    /// The current client registry.
    pub fn clients(&self) -> Arc<Clients> {
        self.clients.load_full()
    }

    /// Moves whenever the client registry is replaced; a worker compares it with the
    /// generation of the registry it holds before each request (one relaxed load).
    pub fn clients_generation(&self) -> u64 {
        self.clients_generation.load(Ordering::Acquire)
    }

    pub fn users(&self) -> Arc<Users> {
        self.users.load_full()
    }

    /// Replaces the registries with the configuration's entries plus `clients` and `users`
    /// read from the shared store.
    pub fn install_stored(&self, clients: &[ClientConfig], users: &[UserConfig]) {
        let built = {
            let mut indices = self.client_indices.lock();
            Clients::build(
                &self.config,
                clients,
                &mut indices,
                &self.syms.clients,
                &self.syms.scopes,
                &self.syms.meta,
            )
        };
        self.clients.store(Arc::new(built));
        self.clients_generation.fetch_add(1, Ordering::AcqRel);
        let decoy = Arc::clone(&self.users.load().decoy);
        let users = Users::build(&self.config, users, &self.syms.users, Some(decoy));
        self.users.store(Arc::new(users));
    }
}

fn open_store(config: &Config) -> Result<Option<Arc<dyn Store>>, StartError> {
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
            let opts = cassandra_options(&config.store);
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
    }
}

/// The driver's settings from `[store]` (validated: names and levels are known).
#[cfg(feature = "cassandra")]
pub fn cassandra_options(
    s: &crate::config::StoreConfig,
) -> tessera_storage::store::cassandra::CassandraOptions {
    s.cassandra_options()
}

fn writer_config(config: &Config) -> WriterConfig {
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
    }
}
