//! Who the server knows: clients, resource owners, and the threads that check passwords.
//!
//! - [`clients`]: builds the [`Clients`] registry from configuration and stored clients.
//! - [`users`]: the resource-owner registry.
//! - [`password_pool`]: argon2id verification off the worker threads.
//!
//! [`Registry`] holds the current registries. They are replaced whole when the clients and
//! users kept in a shared store change (`crate::cluster::sync`), and read without a lock:
//! workers keep an `arc_swap::Cache` of the client registry (see `crate::service`).

pub mod clients;
pub mod jwks_fetch;
pub mod password_pool;
pub mod users;

use crate::config::{ClientConfig, Config, UserConfig};
use crate::oauth::clients::Clients;
use arc_swap::ArcSwap;
use clients::ClientIndices;
use parking_lot::Mutex;
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
        let clients = clients::build(config, stored_clients, &mut indices, &syms);
        let users = Users::build(config, stored_users, &syms.users, None);
        Registry {
            clients: Arc::new(ArcSwap::from_pointee(clients)),
            client_indices: Mutex::new(indices),
            users: ArcSwap::from_pointee(users),
            syms,
        }
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
    /// read from the shared store.
    pub fn install_stored(&self, config: &Config, clients: &[ClientConfig], users: &[UserConfig]) {
        let built = {
            let mut indices = self.client_indices.lock();
            clients::build(config, clients, &mut indices, &self.syms)
        };
        self.clients.store(Arc::new(built));
        let decoy = Arc::clone(&self.users.load().decoy);
        let users = Users::build(config, users, &self.syms.users, Some(decoy));
        self.users.store(Arc::new(users));
    }
}
