//! The state every worker shares: configuration, registries, the token table, interners,
//! the password-hash pool and metrics. Built once at start-up, then only read (the table
//! and interners synchronise internally).

use crate::config::Config;
use crate::metrics::Metrics;
use crate::oauth::clients::Clients;
use crate::oauth::password_pool::PasswordPool;
use crate::oauth::users::Users;
use std::sync::atomic::AtomicU64;
use tessera_storage::{Interner, TokenTable};

/// Interned strings, by kind. Records refer to them by [`tessera_storage::Sym`].
#[derive(Debug, Default)]
pub struct Symbols {
    pub clients: Interner,
    pub users: Interner,
    pub scopes: Interner,
    /// Metadata sets, each an encoded JSON object.
    pub meta: Interner,
}

#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub table: TokenTable,
    pub clients: Clients,
    pub users: Users,
    pub syms: Symbols,
    pub passwords: PasswordPool,
    pub metrics: Metrics,
    /// Expired records reclaimed by the purge thread since start.
    pub purged_total: AtomicU64,
}

impl App {
    /// Builds the shared state for `workers` worker threads from a validated config.
    pub fn new(config: Config, workers: usize) -> std::io::Result<App> {
        let syms = Symbols::default();
        let clients = Clients::from_config(&config, &syms.clients, &syms.scopes, &syms.meta);
        let users = Users::from_config(&config, &syms.users);
        let hash_threads = match config.server.password_hash_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get().div_ceil(2)),
            n => n,
        };
        // Enough shards that two workers rarely meet on one lock.
        let table = TokenTable::new((workers * 16).max(64), crate::clock::now_secs());
        let metrics = Metrics::new(workers, clients.len());
        Ok(App {
            passwords: PasswordPool::start(hash_threads)?,
            config,
            table,
            clients,
            users,
            syms,
            metrics,
            purged_total: AtomicU64::new(0),
        })
    }
}
