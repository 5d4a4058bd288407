//! The state every worker shares: configuration, registries, the token table, interners,
//! the store and its write-behind, the password-hash pool, the brute-force guard and
//! metrics. Built once at start-up by [`crate::startup`] — including the table's recovery
//! from the store — then only read (the table, interners, registries, guard and writer
//! synchronise internally).
//!
//! This module only holds and hands out; it opens nothing and starts no thread.

use crate::cluster::read_through::{ReadThrough, Tokens};
use crate::cluster::sync::Node;
use crate::config::Config;
use crate::guard::Guard;
use crate::metrics::Metrics;
use crate::oauth::clients::Clients;
use crate::oauth::OAuthError;
use crate::registry::password_pool::PasswordPool;
use crate::registry::users::Users;
use crate::registry::Registry;
use crate::writes::Writes;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tessera_storage::store::Store;
use tessera_storage::writer::WriteBehind;
use tessera_storage::{Symbols, TokenTable};

#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub table: TokenTable,
    /// Clients and users; replaced whole when those kept in a shared store change.
    pub registry: Registry,
    /// Read-through to a shared store; `None` unless the store is shared.
    pub read_through: Option<Arc<ReadThrough>>,
    pub syms: Arc<Symbols>,
    /// The persistent store, if the configuration has one.
    pub store: Option<Arc<dyn Store>>,
    /// Carries table changes to `store`; `None` for `kind = "memory"`.
    pub writer: Option<WriteBehind>,
    pub passwords: PasswordPool,
    /// Failed authentications and lockouts, per identity and address (`[security]`).
    pub guard: Guard,
    pub metrics: Metrics,
    /// Expired records reclaimed by the purge thread since start.
    pub purged_total: AtomicU64,
}

impl App {
    /// The current client registry.
    pub fn clients(&self) -> Arc<Clients> {
        self.registry.clients()
    }

    pub fn users(&self) -> Arc<Users> {
        self.registry.users()
    }

    /// Starts one request's token changes (503 when the store's queue is full).
    pub fn begin_writes(&self) -> Result<Writes<'_>, OAuthError> {
        Writes::begin(
            &self.table,
            self.writer.as_ref(),
            self.read_through.as_deref(),
        )
    }

    /// Where lookups read: the table, and the shared store behind it if there is one.
    pub fn tokens(&self) -> Tokens<'_> {
        let shared = self.store.as_ref().and_then(|s| s.shared());
        Tokens {
            table: &self.table,
            shared: shared.zip(self.read_through.as_deref()),
            syms: &self.syms,
        }
    }

    /// What the cluster thread keeps in step with the other nodes; `None` unless the store
    /// is shared.
    pub fn cluster_node(&self) -> Option<Node<'_>> {
        Some(Node {
            table: &self.table,
            shared: self.store.as_ref()?.shared()?,
            config: &self.config,
            registry: &self.registry,
        })
    }
}
