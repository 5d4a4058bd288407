//! The JWT verification keys of clients and assertion issuers, as configured: key files read
//! when a registry is built (at start-up, and when the clients kept in a shared store
//! change — never on a worker), and one [`RemoteKeys`] per `jwks_uri`, shared by every
//! client and issuer naming it and kept across registry rebuilds so its fetched keys and
//! refresh state survive. The fetching itself is [`super::jwks_fetch`]'s thread.
//!
//! May touch the configuration types and `oauth::jose`; reads key files.

use crate::config::{ClientConfig, KeySources};
use crate::oauth::jose::{KeySet, Keys, RemoteKeys};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tracing::warn;

#[derive(Debug, Default)]
pub struct KeyCache {
    remotes: Mutex<HashMap<String, Arc<RemoteKeys>>>,
}

impl KeyCache {
    pub fn new() -> KeyCache {
        KeyCache::default()
    }

    /// The keys `sources` name, `None` when they name none. A file that cannot be read is
    /// logged and left out: configuration validation refuses such a file at start-up, so
    /// this only happens to a file changed or removed since (or a stored client's).
    pub fn keys(&self, owner: &str, sources: KeySources<'_>) -> Option<Arc<Keys>> {
        if sources.is_empty() {
            return None;
        }
        let fixed = match sources.read_files() {
            Ok(set) => set,
            Err((field, message)) => {
                warn!(owner, field, %message, "JWT key file unusable; its keys are left out");
                KeySet::empty()
            }
        };
        let remote = sources.jwks_uri.map(|uri| self.remote(uri));
        Some(Arc::new(Keys::new(fixed, remote)))
    }

    /// A client's keys (`jwks_file`, `public_key_files`, `jwks_uri`).
    pub fn client_keys(&self, c: &ClientConfig) -> Option<Arc<Keys>> {
        self.keys(&c.id, c.key_sources())
    }

    /// The one [`RemoteKeys`] of `uri`.
    pub fn remote(&self, uri: &str) -> Arc<RemoteKeys> {
        Arc::clone(
            self.remotes
                .lock()
                .entry(uri.to_owned())
                .or_insert_with(|| Arc::new(RemoteKeys::new(uri))),
        )
    }

    /// Every `jwks_uri` named so far, for the fetcher.
    pub fn remotes(&self) -> Vec<Arc<RemoteKeys>> {
        self.remotes.lock().values().cloned().collect()
    }
}
