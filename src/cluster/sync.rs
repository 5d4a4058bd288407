//! The `tessera-cluster` thread: keeps this node in step with the other nodes that share
//! the store.
//!
//! Revocations: every node logs what it revokes (a token key, or a whole grant) in the
//! store's revocation log as part of the same write-behind batch. This thread reads the
//! log every `revocation_propagation_ms / 4` and removes those tokens from this node's
//! table — also tokens it had only cached through read-through. A revocation therefore
//! holds on every node within flush interval + poll interval + one store round trip, well
//! inside `revocation_propagation_ms`. The log is read from a little before the newest
//! entry seen (`CLOCK_SLACK_MS`), so entries from a node whose clock lags, or whose write
//! landed late, are still picked up; applying an entry twice is harmless.
//!
//! Clients and users kept in the store (`tessera client add`, `tessera user add`) are
//! re-read every `revocation_propagation_ms`; when they changed, the registries are
//! rebuilt and swapped in, so every node serves a new client without a restart.

use crate::config::{ClientConfig, Config, UserConfig};
use crate::manage::directory::{Directory, Kind};
use crate::oidc::keys::KeySet;
use crate::registry::Registry;
use crate::shutdown::Shutdown;
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_storage::store::{Revoked, SharedStore, Store, StoreError};
use tessera_storage::TokenTable;
use tracing::{debug, info, warn};

/// How far before the newest entry seen each poll reads again.
const CLOCK_SLACK_MS: u64 = 5_000;

/// What the thread keeps in step: this node's table and registries, from the shared store.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    pub table: &'a TokenTable,
    pub store: &'a dyn Store,
    pub shared: &'a dyn SharedStore,
    pub config: &'a Config,
    pub registry: &'a Registry,
    /// The OpenID Connect signing keys: a rotation by another node or `tessera keys
    /// rotate` reaches this node within the reload interval.
    pub keys: &'a ArcSwap<KeySet>,
    /// This node's name in the store's list of peers (`crate::cluster::peers`).
    pub name: &'a str,
}

/// The thread's loop (`tessera-cluster`, started by `crate::server`); ends at shutdown.
pub fn run(node: &Node<'_>, shutdown: &Shutdown) {
    let Node {
        table,
        store,
        shared,
        config,
        registry,
        keys,
        name,
    } = *node;
    let mut last_heartbeat: Option<Instant> = None;
    let mut last_keys: Option<String> = None;
    let propagation = Duration::from_millis(config.store.revocation_propagation_ms);
    let poll = propagation / 4;
    let started_ms = crate::clock::now_millis();
    // Revocations older than our start are already reflected in what recovery loaded.
    let mut newest_seen = started_ms;
    let mut last_reload = Instant::now();
    // Unknown, not "what start-up loaded": a client added between start-up's read and
    // this thread's first poll must not be taken as already installed. The first reload
    // therefore rebuilds the registries once.
    let mut last_specs: Option<Specs> = None;
    // The number of this thread's last install (`Registry::installs`).
    let mut own_install = registry.installs();
    let mut failing = false;
    while !shutdown.is_triggered() {
        std::thread::park_timeout(poll);
        if shutdown.is_triggered() {
            return;
        }
        let since = newest_seen.saturating_sub(CLOCK_SLACK_MS);
        match shared.revocations_since(since) {
            Ok(entries) => {
                if failing {
                    info!("revocation log readable again");
                    failing = false;
                }
                let mut applied = 0usize;
                for e in &entries {
                    newest_seen = newest_seen.max(e.at_ms);
                    match e.revoked {
                        Revoked::Token(key) => {
                            if table.remove(&key).is_some() {
                                applied += 1;
                            }
                        }
                        Revoked::Grant(grant) => applied += table.revoke_grant(grant),
                    }
                }
                if applied > 0 {
                    debug!(applied, "revocations from other nodes applied");
                }
            }
            Err(e) => {
                if !failing {
                    warn!(error = %e, "cannot read the revocation log; retrying");
                    failing = true;
                }
            }
        }
        if last_heartbeat.is_none_or(|t| t.elapsed() >= super::peers::HEARTBEAT) {
            last_heartbeat = Some(Instant::now());
            if let Err(e) = super::peers::heartbeat(store, name, crate::clock::now_millis()) {
                debug!(error = %e, "cannot write this node's heartbeat to the store");
            }
        }
        if last_reload.elapsed() >= propagation {
            last_reload = Instant::now();
            // Someone else installed since this thread did (the admin API, right after its
            // change): what the registries hold is no longer `last_specs`, so compare with
            // nothing. Else a client made here and removed on another node within one
            // interval leaves the store as this thread last saw it, and the removed client
            // would be served here until the next change.
            if registry.installs() != own_install {
                last_specs = None;
            }
            match specs(Directory::Shared(shared)) {
                Ok(now) if Some(&now) != last_specs.as_ref() => {
                    let clients = parse_clients(config, &now.0);
                    let users = parse_users(&now.1);
                    info!(
                        clients = clients.len(),
                        users = users.len(),
                        "clients and users in the store changed; registries reloaded"
                    );
                    own_install = registry.install_stored(config, &clients, &users);
                    last_specs = Some(now);
                }
                Ok(_) => {}
                Err(e) => debug!(error = %e, "cannot read clients and users from the store"),
            }
            if config.oidc.signing_key_files.is_empty() {
                reload_keys(store, keys, &mut last_keys);
            }
        }
    }
}

/// Installs the store's signing keys when their document changed since `last`.
fn reload_keys(store: &dyn Store, keys: &ArcSwap<KeySet>, last: &mut Option<String>) {
    match crate::oidc::keys::read_from_store(store) {
        Ok(Some((text, set))) if last.as_deref() != Some(text.as_str()) => {
            if last.is_some() {
                info!(
                    keys = set.keys().len(),
                    "signing keys in the store changed; reloaded"
                );
            }
            keys.store(Arc::new(set));
            *last = Some(text);
        }
        Ok(_) => {}
        Err(e) => debug!(error = %e, "cannot read the signing keys from the store"),
    }
}

type Specs = (Vec<(String, String)>, Vec<(String, String)>);

fn specs(dir: Directory<'_>) -> Result<Specs, StoreError> {
    Ok((dir.list(Kind::Clients)?, dir.list(Kind::Users)?))
}

/// Reads the clients and users of `dir` and installs them in `registry` (the admin API
/// after a change, so this node serves it at once).
pub fn reload(config: &Config, dir: Directory<'_>, registry: &Registry) -> Result<(), StoreError> {
    let (clients, users) = specs(dir)?;
    registry.install_stored(
        config,
        &parse_clients(config, &clients),
        &parse_users(&users),
    );
    Ok(())
}

/// The valid clients kept in the store's directory (a shared store's tables, or a one-node
/// store's settings); invalid ones are skipped with a warning.
pub fn stored_clients(
    config: &Config,
    dir: Directory<'_>,
) -> Result<Vec<ClientConfig>, StoreError> {
    Ok(parse_clients(config, &dir.list(Kind::Clients)?))
}

/// The valid users kept in the store's directory; invalid ones are skipped with a warning.
pub fn stored_users(dir: Directory<'_>) -> Result<Vec<UserConfig>, StoreError> {
    Ok(parse_users(&dir.list(Kind::Users)?))
}

fn parse_clients(config: &Config, specs: &[(String, String)]) -> Vec<ClientConfig> {
    specs
        .iter()
        .filter_map(|(id, spec)| {
            let parsed = serde_json::from_str::<ClientConfig>(spec)
                .map_err(|e| e.to_string())
                .and_then(|c| {
                    if c.id != *id {
                        return Err(format!("spec names client {:?}", c.id));
                    }
                    config
                        .validate_client(&c, &format!("store client {id}"))
                        .map_err(|e| e.to_string())?;
                    Ok(c)
                });
            match parsed {
                Ok(c) => Some(c),
                Err(e) => {
                    warn!(client = %id, error = %e, "ignoring an invalid client in the store");
                    None
                }
            }
        })
        .collect()
}

fn parse_users(specs: &[(String, String)]) -> Vec<UserConfig> {
    specs
        .iter()
        .filter_map(
            |(name, spec)| match serde_json::from_str::<UserConfig>(spec) {
                Ok(u) if u.username == *name && u.password_hash.is_some() => Some(u),
                Ok(u) if u.username != *name => {
                    warn!(user = %name, spec_names = %u.username, "ignoring a user in the store whose spec names another user");
                    None
                }
                Ok(_) => {
                    warn!(user = %name, "ignoring a user in the store without a password_hash");
                    None
                }
                Err(e) => {
                    warn!(user = %name, error = %e, "ignoring an invalid user in the store");
                    None
                }
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str, json: &str) -> (String, String) {
        (id.to_owned(), json.to_owned())
    }

    #[test]
    fn stored_clients_that_are_invalid_or_misnamed_are_skipped_and_the_rest_kept() {
        let config = Config::default();
        let specs = [
            spec(
                "good",
                r#"{"id":"good","secret_hash":null,"auth_method":"none","grant_types":["password"]}"#,
            ),
            spec(
                "other",
                r#"{"id":"good","auth_method":"none","grant_types":["password"]}"#,
            ),
            spec("broken", "{not json"),
            spec(
                "bad-ttl",
                r#"{"id":"bad-ttl","auth_method":"none","grant_types":["password"],"access_token_ttl_secs":0}"#,
            ),
        ];
        let kept = parse_clients(&config, &specs);
        let ids: Vec<&str> = kept.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["good"]);
    }

    #[test]
    fn stored_users_need_their_own_name_and_a_password_hash() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        let specs = [
            spec(
                "alice",
                &format!(r#"{{"username":"alice","password_hash":"{hash}"}}"#),
            ),
            spec(
                "bob",
                &format!(r#"{{"username":"mallory","password_hash":"{hash}"}}"#),
            ),
            spec("carol", r#"{"username":"carol"}"#),
            spec("dave", "[]"),
        ];
        let kept = parse_users(&specs);
        let names: Vec<&str> = kept.iter().map(|u| u.username.as_str()).collect();
        assert_eq!(names, ["alice"]);
    }
}
