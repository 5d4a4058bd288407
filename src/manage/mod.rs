//! Managing clients and users at run time: the one implementation behind the admin API
//! (`crate::admin_api`) and the `tessera client` / `tessera user` commands
//! (`crate::admin`).
//!
//! - [`directory`]: where they are kept (a shared store's tables, or a one-node store's
//!   settings).
//! - [`clients`]: the RFC 7591 / 7592 client metadata, its translation to and from
//!   [`crate::config::ClientConfig`], and create / replace / remove / rotate.
//! - [`users`]: resource owners — create (the password hashed with argon2id), replace,
//!   remove.
//!
//! Plain blocking functions over a [`directory::Directory`] and the validated
//! [`crate::config::Config`]: callers run them off the worker threads (the admin API on
//! its blocking pool, the CLI on its own thread). Revoking the tokens of what was removed
//! is the caller's next step (the store's `revoke_owned`, or the admin API's table scan
//! for a one-node store).

pub mod clients;
pub mod directory;
pub mod users;

use crate::config::Config;
use std::fmt;
use std::time::Duration;
use tessera_storage::store::StoreError;

/// How long until every node has reloaded a client or user change and written behind the
/// tokens it issued before: a reload comes within `revocation_propagation_ms` plus one
/// poll (a quarter of it), a token issued before it reaches the store within
/// `flush_interval_ms` (+ `write_delay_ms`), and a second for the requests in flight.
/// A node whose write-behind is backed up (a database outage) can take longer. Removals
/// revoke once at once and once after this.
pub fn settle(config: &Config) -> Duration {
    let store = &config.store;
    let propagation = store.revocation_propagation_ms;
    Duration::from_millis(
        propagation + propagation / 4 + store.flush_interval_ms + store.write_delay_ms + 1_000,
    )
}

/// Attempts of [`update`] before it gives up (only concurrent changes of one entry contend).
const UPDATE_ATTEMPTS: usize = 8;

/// Reads the entry `name`, has `change` make its new spec from the one read, and writes it
/// only if the entry is still what was read (a compare-and-set in the store); reads again
/// when another change came first. A removal that came first is [`ManageError::NotFound`]:
/// a change must never bring a removed client or user back, nor silently undo another.
pub(crate) fn update<T>(
    dir: directory::Directory<'_>,
    kind: directory::Kind,
    name: &str,
    missing: impl Fn() -> ManageError,
    mut change: impl FnMut(&str) -> Result<(T, String), ManageError>,
) -> Result<T, ManageError> {
    for _ in 0..UPDATE_ATTEMPTS {
        let old = dir.get(kind, name)?.ok_or_else(&missing)?;
        let (value, new) = change(&old)?;
        if dir.replace(kind, name, &old, &new)? {
            return Ok(value);
        }
    }
    Err(ManageError::Store(StoreError::Io {
        backend: "directory",
        message: format!("{name:?} changed under every attempt; retry"),
    }))
}

/// Why a management call failed. The admin API turns it into its JSON error, the CLI into
/// a message and an exit code.
#[derive(Debug)]
pub enum ManageError {
    /// The request is wrong: `code` is RFC 7591 §3.2.2's (`invalid_client_metadata`,
    /// `invalid_redirect_uri`) or `invalid_request`.
    Invalid {
        code: &'static str,
        message: String,
    },
    NotFound(String),
    /// Already exists, or defined in the configuration file (read-only here).
    Conflict(String),
    /// The store could not answer: retry.
    Store(StoreError),
    /// A bug or a broken host (hashing failed): not the caller's fault.
    Internal(String),
}

impl ManageError {
    pub fn invalid(message: impl Into<String>) -> ManageError {
        ManageError::Invalid {
            code: "invalid_client_metadata",
            message: message.into(),
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> ManageError {
        ManageError::Invalid {
            code: "invalid_request",
            message: message.into(),
        }
    }
}

impl From<StoreError> for ManageError {
    fn from(e: StoreError) -> ManageError {
        ManageError::Store(e)
    }
}

impl fmt::Display for ManageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManageError::Invalid { message, .. } => f.write_str(message),
            ManageError::NotFound(m) | ManageError::Conflict(m) => f.write_str(m),
            ManageError::Store(e) => write!(f, "{e}"),
            ManageError::Internal(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ManageError {}

/// Where a client or user is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The configuration file: read-only at run time.
    Config,
    /// The store's directory: managed by the admin API and the CLI.
    Store,
}
