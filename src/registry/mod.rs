//! Who the server knows: clients, resource owners, and the threads that check passwords.
//!
//! - [`clients`]: builds the [`Clients`] registry from configuration and stored clients.
//! - [`users`]: the resource-owner registry.
//! - [`password_pool`]: argon2id verification off the worker threads.
//! - [`keys`]: clients' and issuers' JWT keys; [`jwks_fetch`]: the thread that fetches
//!   `jwks_uri` documents; [`issuers`]: the `[[assertion_issuers]]` registry.
//!
//! [`Registry`] holds the current registries. They are replaced whole when the clients and
//! users kept in a shared store change (`crate::cluster::sync`), and read without a lock:
//! workers keep an `arc_swap::Cache` of the client registry (see `crate::service`).

pub mod clients;
pub mod issuers;
pub mod jwks_fetch;
pub mod keys;
pub mod password_pool;
pub mod users;

use crate::config::{ClientConfig, Config, UserConfig};
use crate::oauth::clients::Clients;
use arc_swap::ArcSwap;
use clients::ClientIndices;
use keys::KeyCache;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tessera_storage::Symbols;
use users::Users;

#[derive(Debug)]
pub struct Registry {
    /// Shared with every worker's `arc_swap::Cache`, hence the `Arc`.
    clients: Arc<ArcSwap<Clients>>,
    client_indices: Mutex<ClientIndices>,
    users: ArcSwap<Users>,
    syms: Arc<Symbols>,
    /// Shared by every rebuild, so fetched `jwks_uri` keys survive a client sync.
    keys: Arc<KeyCache>,
    /// How many times [`Registry::install_stored`] ran: the cluster thread skips a reload
    /// when the store's specs did not change since its own last install, which is only
    /// right if nobody else (the admin API, after a change) installed in between.
    installs: AtomicU64,
}

impl Registry {
    /// The registries of `config` plus the clients and users kept in a shared store.
    pub fn new(
        config: &Config,
        stored_clients: &[ClientConfig],
        stored_users: &[UserConfig],
        syms: Arc<Symbols>,
    ) -> Registry {
        let mut indices = ClientIndices::default();
        let keys = Arc::new(KeyCache::new());
        let clients = clients::build(config, stored_clients, &mut indices, &syms, &keys);
        let users = Users::build(config, stored_users, &syms.users, None);
        Registry {
            clients: Arc::new(ArcSwap::from_pointee(clients)),
            client_indices: Mutex::new(indices),
            users: ArcSwap::from_pointee(users),
            syms,
            keys,
            installs: AtomicU64::new(0),
        }
    }

    /// The key cache: issuers' keys are built through it, and the fetcher reads its
    /// `jwks_uri` list.
    pub fn keys(&self) -> &Arc<KeyCache> {
        &self.keys
    }

    /// The current client registry.
    pub fn clients(&self) -> Arc<Clients> {
        self.clients.load_full()
    }

    /// The swap cell itself, for a worker's `arc_swap::Cache`.
    pub fn clients_cell(&self) -> Arc<ArcSwap<Clients>> {
        Arc::clone(&self.clients)
    }

    pub fn users(&self) -> Arc<Users> {
        self.users.load_full()
    }

    /// Replaces the registries with the configuration's entries plus `clients` and `users`
    /// read from the shared store. Returns the number of this install (see
    /// [`Registry::installs`]).
    pub fn install_stored(
        &self,
        config: &Config,
        clients: &[ClientConfig],
        users: &[UserConfig],
    ) -> u64 {
        let built = {
            let mut indices = self.client_indices.lock();
            clients::build(config, clients, &mut indices, &self.syms, &self.keys)
        };
        self.clients.store(Arc::new(built));
        let decoy = Arc::clone(&self.users.load().decoy);
        let users = Users::build(config, users, &self.syms.users, Some(decoy));
        self.users.store(Arc::new(users));
        self.installs.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// How many installs of stored clients and users there have been.
    pub fn installs(&self) -> u64 {
        self.installs.load(Ordering::Acquire)
    }
}
