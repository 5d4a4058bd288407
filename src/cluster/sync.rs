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

use crate::app::App;
use crate::config::{ClientConfig, Config, UserConfig};
use crate::shutdown::Shutdown;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tessera_storage::store::{Revoked, SharedStore, StoreError};
use tracing::{debug, info, warn};

/// How far before the newest entry seen each poll reads again.
const CLOCK_SLACK_MS: u64 = 5_000;

/// Starts the thread if the store is shared.
pub fn start(app: &Arc<App>, shutdown: &Shutdown) -> std::io::Result<Option<JoinHandle<()>>> {
    if app.store.as_ref().and_then(|s| s.shared()).is_none() {
        return Ok(None);
    }
    let app = Arc::clone(app);
    let shutdown = shutdown.clone();
    std::thread::Builder::new()
        .name("tessera-cluster".to_owned())
        .spawn(move || run(&app, &shutdown))
        .map(Some)
}

fn run(app: &App, shutdown: &Shutdown) {
    let Some(shared) = app.store.as_ref().and_then(|s| s.shared()) else {
        return;
    };
    let propagation = Duration::from_millis(app.config.store.revocation_propagation_ms);
    let poll = propagation / 4;
    let started_ms = crate::clock::now_millis();
    // Revocations older than our start are already reflected in what recovery loaded.
    let mut newest_seen = started_ms;
    let mut last_reload = Instant::now();
    // Unknown, not "what start-up loaded": a client added between start-up's read and
    // this thread's first poll must not be taken as already installed. The first reload
    // therefore rebuilds the registries once.
    let mut last_specs: Option<Specs> = None;
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
                            if app.table.remove(&key).is_some() {
                                applied += 1;
                            }
                        }
                        Revoked::Grant(grant) => applied += app.table.revoke_grant(grant),
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
        if last_reload.elapsed() >= propagation {
            last_reload = Instant::now();
            match specs(shared) {
                Ok(now) if Some(&now) != last_specs.as_ref() => {
                    let clients = parse_clients(&app.config, &now.0);
                    let users = parse_users(&now.1);
                    info!(
                        clients = clients.len(),
                        users = users.len(),
                        "clients and users in the store changed; registries reloaded"
                    );
                    app.install_stored(&clients, &users);
                    last_specs = Some(now);
                }
                Ok(_) => {}
                Err(e) => debug!(error = %e, "cannot read clients and users from the store"),
            }
        }
    }
}

type Specs = (Vec<(String, String)>, Vec<(String, String)>);

fn specs(shared: &dyn SharedStore) -> Result<Specs, StoreError> {
    let mut clients = shared.clients()?;
    let mut users = shared.users()?;
    clients.sort();
    users.sort();
    Ok((clients, users))
}

/// The valid clients kept in the store; invalid ones are skipped with a warning.
pub fn stored_clients(
    config: &Config,
    shared: &dyn SharedStore,
) -> Result<Vec<ClientConfig>, StoreError> {
    Ok(parse_clients(config, &shared.clients()?))
}

pub fn stored_users(shared: &dyn SharedStore) -> Result<Vec<UserConfig>, StoreError> {
    Ok(parse_users(&shared.users()?))
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
