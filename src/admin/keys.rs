//! `tessera keys list` and `tessera keys rotate [--alg RS256|ES256]`: the OpenID Connect
//! signing keys kept in the configured store (RocksDB, or a shared store: Cassandra,
//! PostgreSQL or MySQL). The key work is `oidc::keys`; this file opens the store, calls it
//! and prints.
//!
//! A RocksDB store belongs to one process: with the server running, its lock refuses the
//! command (stop the server; it signs with the new key when it starts). A shared store is
//! opened beside the running nodes, and a rotation reaches them when they next read the
//! keys.

use super::{fail, load};
use crate::config::{Config, SigningAlg, StoreKind};
use crate::oidc::keys::{self, KeySet, SigningKey};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use tessera_storage::store::Store;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the ID-token signing keys: kid, algorithm, creation time, and whether the key
    /// signs (active) or is only published until the tokens it signed have expired.
    List {
        #[arg(long)]
        config: PathBuf,
    },
    /// Generate a new signing key that signs from now on; the key it replaces stays in the
    /// JWKS until every ID token it signed has expired.
    Rotate {
        #[arg(long)]
        config: PathBuf,
        /// RS256 or ES256.
        #[arg(long, default_value = "RS256", value_parser = parse_alg)]
        alg: SigningAlg,
    },
}

fn parse_alg(s: &str) -> Result<SigningAlg, String> {
    SigningAlg::parse(s).ok_or_else(|| format!("{s:?}: use RS256 or ES256"))
}

pub fn keys(cmd: KeysCommand) -> ExitCode {
    match cmd {
        KeysCommand::List { config } => list(&config),
        KeysCommand::Rotate { config, alg } => rotate(&config, alg),
    }
}

fn list(path: &Path) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !config.oidc.signing_key_files.is_empty() {
        let set = match KeySet::from_files(&config.oidc.signing_key_files) {
            Ok(s) => s,
            Err(e) => return fail(2, e),
        };
        print_keys(&set, |key| {
            let signs = set.active(key.alg()).map(SigningKey::kid) == Some(key.kid());
            if signs {
                "active (file)"
            } else {
                "published (file)"
            }
            .to_owned()
        });
        return ExitCode::SUCCESS;
    }
    let store = match open_store(&config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match keys::read_from_store(store.as_ref()) {
        Ok(Some((_, set))) => {
            print_keys(&set, |key| state(&set, key));
            ExitCode::SUCCESS
        }
        Ok(None) => {
            println!(
                "no signing keys in the store yet: `tessera serve` creates them on its first \
                 start (or run `tessera keys rotate`)"
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, e),
    }
}

fn rotate(path: &Path, alg: SigningAlg) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !config.oidc.signing_key_files.is_empty() {
        return fail(2, crate::oidc::OidcError::KeysFromFiles);
    }
    let store = match open_store(&config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let now = u64::from(crate::clock::now_secs());
    match keys::rotate_in_store(store.as_ref(), &config, alg, now) {
        Ok((set, kid)) => {
            println!("{alg} key {kid} signs from now on");
            for key in set.keys() {
                if key.alg() == alg && key.kid() != kid {
                    println!("previous {alg} key {}: {}", key.kid(), state(&set, key));
                }
            }
            if config.store.kind.is_shared() {
                println!(
                    "running nodes sign with it once they re-read the keys \
                     (within store.revocation_propagation_ms)"
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, e),
    }
}

/// `active`, or `retiring until <date>`.
fn state(set: &KeySet, key: &SigningKey) -> String {
    match key.retire_at() {
        None if set.active(key.alg()).map(SigningKey::kid) == Some(key.kid()) => {
            "active".to_owned()
        }
        None => "published".to_owned(),
        Some(t) => format!("retiring until {}", date(t)),
    }
}

/// Tab-separated: kid, alg, created, state.
fn print_keys(set: &KeySet, state: impl Fn(&SigningKey) -> String) {
    for key in set.keys() {
        let created = match key.created_at() {
            0 => "-".to_owned(),
            t => date(t),
        };
        println!("{}\t{}\t{}\t{}", key.kid(), key.alg(), created, state(key));
    }
}

fn date(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Opens the configured store for the key commands: RocksDB (refused while a server holds
/// it) or a shared store (Cassandra, PostgreSQL, MySQL); a memory store keeps no keys.
fn open_store(config: &Config) -> Result<Arc<dyn Store>, ExitCode> {
    match config.store.kind {
        StoreKind::Memory => Err(fail(
            2,
            "store.kind = \"memory\" keeps no signing keys (each start generates its own); \
             use a rocksdb or shared (cassandra, postgres, mysql) store, or [oidc] \
             signing_key_files",
        )),
        StoreKind::Cassandra | StoreKind::Postgres | StoreKind::Mysql => super::open_shared(config),
        #[cfg(feature = "rocksdb")]
        StoreKind::Rocksdb => {
            match tessera_storage::store::rocks::RocksStore::open(&config.store.path) {
                Ok(s) => Ok(Arc::new(s)),
                Err(e) => {
                    let text = e.to_string();
                    if text.to_ascii_lowercase().contains("lock") {
                        Err(fail(
                            1,
                            format_args!(
                                "{text}\n  a running Tessera server holds this RocksDB store \
                                 (one process at a time): stop it, run the command, start it \
                                 again"
                            ),
                        ))
                    } else {
                        Err(fail(1, text))
                    }
                }
            }
        }
        #[allow(unreachable_patterns)]
        _ => Err(fail(
            2,
            "this build of Tessera has no support for the configured store.kind",
        )),
    }
}
