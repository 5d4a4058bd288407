//! The state every worker shares: configuration, registries, the token table, interners,
//! the store and its write-behind, the password-hash pool and metrics. Built once at
//! start-up — including the table's recovery from the store — then only read (the table,
//! interners and writer synchronise internally).

use crate::config::{Config, DurabilityMode, StoreKind};
use crate::metrics::Metrics;
use crate::oauth::clients::Clients;
use crate::oauth::password_pool::PasswordPool;
use crate::oauth::users::Users;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tessera_storage::store::{Store, StoreError};
use tessera_storage::writer::{Durability, WriteBehind, WriterConfig};
use tessera_storage::{Symbols, TokenTable};
use tracing::info;

#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub table: TokenTable,
    pub clients: Clients,
    pub users: Users,
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
        let clients = Clients::from_config(&config, &syms.clients, &syms.scopes, &syms.meta);
        let users = Users::from_config(&config, &syms.users);
        let hash_threads = match config.server.password_hash_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get().div_ceil(2)),
            n => n,
        };
        // Enough shards that two workers rarely meet on one lock.
        let now = crate::clock::now_secs();
        let table = TokenTable::new((workers * 16).max(64), now);
        let store = open_store(&config)?;
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
        let writer = match &store {
            None => None,
            Some(store) => Some(
                WriteBehind::start(Arc::clone(store), Arc::clone(&syms), writer_config(&config))
                    .map_err(StartError::Io)?,
            ),
        };
        let metrics = Metrics::new(workers, clients.len());
        Ok(App {
            passwords: PasswordPool::start(hash_threads).map_err(StartError::Io)?,
            config,
            table,
            clients,
            users,
            syms,
            store,
            writer,
            metrics,
            purged_total: AtomicU64::new(0),
        })
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
    }
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
