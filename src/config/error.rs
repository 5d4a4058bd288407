//! What loading a configuration reports: [`ConfigError`], a problem tied to the key it is
//! about, and [`Deprecated`], a key still accepted under an old name.
//!
//! Plain data with no knowledge of any section; every other file of `config` uses it.

use std::fmt;

/// A configuration problem, always tied to the key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// A key written under its old name (`store.keyspace`): accepted, and read as `new`
/// (`store.cassandra.keyspace`). `tessera check-config` and `tessera serve` warn about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deprecated {
    pub old: String,
    pub new: String,
}

impl fmt::Display for Deprecated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is deprecated; use {}", self.old, self.new)
    }
}
