//! `[store.cassandra]`: the keys only the Cassandra store reads (cluster, keyspace,
//! authentication, TLS, consistency, timeouts, write batching), their defaults and checks,
//! the driver's options built from them (`StoreConfig::cassandra_options`), and the
//! compatibility with configurations that still write these keys flat in `[store]`
//! ([`lift_flat_keys`]). Touches `[store]` only to move those flat keys.

use super::error::{ConfigError, Deprecated};
use super::load::move_flat_keys;
use super::store::check_range;
#[cfg(feature = "cassandra")]
use super::store::StoreConfig;
use crate::oauth::secret::Redacted;
use serde::{Deserialize, Serialize};

/// CQL consistency level names accepted for `store.cassandra.read_consistency` and
/// `store.cassandra.write_consistency`.
pub use tessera_storage::store::CONSISTENCY_LEVELS;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CassandraConfig {
    /// `host:port` of one or more nodes; the driver discovers the rest.
    pub contact_points: Vec<String>,
    pub keyspace: String,
    /// Replication of the keyspace `tessera migrate` creates (a CQL map literal).
    pub replication: String,
    /// Datacenter whose nodes the driver prefers; empty: any.
    pub local_datacenter: String,
    /// Empty: no authentication.
    pub username: String,
    pub password: Redacted<String>,
    pub read_consistency: String,
    pub write_consistency: String,
    pub request_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// Create the keyspace and tables at start (as `tessera migrate` does).
    pub create_schema: bool,
    pub tls: bool,
    /// PEM CA bundle; empty: the system's roots.
    pub tls_ca_file: String,
    /// PEM client certificate and key, for mutual TLS; empty: none.
    pub tls_cert_file: String,
    pub tls_key_file: String,
    /// Verify the nodes' certificates. Turn off only for tests.
    pub tls_verify: bool,
    /// How write-behind batches travel: `concurrent` (one request per write, all in
    /// flight at once), `unlogged` or `unlogged:N` (CQL unlogged batches of N statements).
    pub write_batching: String,
    /// Milliseconds added to this node's Cassandra write clock, to test clock skew between
    /// nodes. Only for tests; keep 0.
    pub test_clock_offset_ms: i64,
}

impl Default for CassandraConfig {
    fn default() -> Self {
        CassandraConfig {
            contact_points: vec!["127.0.0.1:9042".to_owned()],
            keyspace: "tessera".to_owned(),
            replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}".to_owned(),
            local_datacenter: String::new(),
            username: String::new(),
            password: Redacted::default(),
            read_consistency: "ONE".to_owned(),
            write_consistency: "ANY".to_owned(),
            request_timeout_ms: 2_000,
            connect_timeout_ms: 5_000,
            create_schema: false,
            tls: false,
            tls_ca_file: String::new(),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            tls_verify: true,
            write_batching: "unlogged".to_owned(),
            test_clock_offset_ms: 0,
        }
    }
}

impl CassandraConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.contact_points.is_empty() {
            return Err(ConfigError::new(
                "store.cassandra.contact_points",
                "name at least one host:port",
            ));
        }
        for (i, p) in self.contact_points.iter().enumerate() {
            let port_ok = p
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                return Err(ConfigError::new(
                    format!("store.cassandra.contact_points[{i}]"),
                    "must be host:port",
                ));
            }
        }
        let ks = &self.keyspace;
        let ks_ok = !ks.is_empty()
            && ks.len() <= 48
            && ks.starts_with(|c: char| c.is_ascii_alphabetic())
            && ks.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ks_ok {
            return Err(ConfigError::new(
                "store.cassandra.keyspace",
                "must be 1-48 letters, digits or _, starting with a letter",
            ));
        }
        if !self.replication.trim_start().starts_with('{') {
            return Err(ConfigError::new(
                "store.cassandra.replication",
                "must be a CQL map, e.g. {'class': 'NetworkTopologyStrategy', 'dc1': 3}",
            ));
        }
        for (key, level) in [
            ("store.cassandra.read_consistency", &self.read_consistency),
            ("store.cassandra.write_consistency", &self.write_consistency),
        ] {
            if !CONSISTENCY_LEVELS.contains(&level.to_ascii_uppercase().as_str()) {
                return Err(ConfigError::new(
                    key,
                    format!("must be one of {}", CONSISTENCY_LEVELS.join(", ")),
                ));
            }
        }
        if self.read_consistency.eq_ignore_ascii_case("ANY") {
            return Err(ConfigError::new(
                "store.cassandra.read_consistency",
                "ANY is for writes only; Cassandra refuses reads at ANY (use ONE or LOCAL_ONE)",
            ));
        }
        if self.username.is_empty() != self.password.is_empty() {
            return Err(ConfigError::new(
                "store.cassandra.password",
                "username and password go together",
            ));
        }
        for (key, v) in [
            (
                "store.cassandra.request_timeout_ms",
                self.request_timeout_ms,
            ),
            (
                "store.cassandra.connect_timeout_ms",
                self.connect_timeout_ms,
            ),
        ] {
            check_range(key, v, 1..=600_000)?;
        }
        if tessera_storage::store::WriteBatching::parse(&self.write_batching).is_none() {
            return Err(ConfigError::new(
                "store.cassandra.write_batching",
                "must be \"concurrent\", \"unlogged\" or \"unlogged:N\" with N from 1 to 256",
            ));
        }
        if self.test_clock_offset_ms.unsigned_abs() > 86_400_000 {
            return Err(ConfigError::new(
                "store.cassandra.test_clock_offset_ms",
                "must be between -86400000 and 86400000 (a day); only for tests, keep 0",
            ));
        }
        if self.tls_cert_file.is_empty() != self.tls_key_file.is_empty() {
            return Err(ConfigError::new(
                "store.cassandra.tls_key_file",
                "tls_cert_file and tls_key_file go together",
            ));
        }
        Ok(())
    }
}

#[cfg(feature = "cassandra")]
impl StoreConfig {
    /// The driver's settings from `[store.cassandra]` (validated: names and levels are known).
    pub fn cassandra_options(&self) -> tessera_storage::store::cassandra::CassandraOptions {
        use std::time::Duration;
        use tessera_storage::store::cassandra::{
            CassandraOptions, Level, TlsOptions, WriteBatching,
        };
        let c = &self.cassandra;
        let opt = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        let path = |v: &str| (!v.is_empty()).then(|| std::path::PathBuf::from(v));
        CassandraOptions {
            contact_points: c.contact_points.clone(),
            keyspace: c.keyspace.clone(),
            local_datacenter: opt(&c.local_datacenter),
            username: opt(&c.username),
            password: opt(&c.password),
            tls: c.tls.then(|| TlsOptions {
                ca_file: path(&c.tls_ca_file),
                cert_file: path(&c.tls_cert_file),
                key_file: path(&c.tls_key_file),
                verify: c.tls_verify,
            }),
            read_consistency: Level::parse(&c.read_consistency).unwrap_or(Level::One),
            write_consistency: Level::parse(&c.write_consistency).unwrap_or(Level::Any),
            request_timeout: Duration::from_millis(c.request_timeout_ms),
            connect_timeout: Duration::from_millis(c.connect_timeout_ms),
            write_batching: WriteBatching::parse(&c.write_batching).unwrap_or_default(),
            test_clock_offset_ms: c.test_clock_offset_ms,
        }
    }
}

/// The keys of `[store.cassandra]` that configurations written before it existed give
/// flat in `[store]` (every key but those added later, `NESTED_ONLY` in the tests).
pub(super) const FLAT_KEYS: &[&str] = &[
    "contact_points",
    "keyspace",
    "replication",
    "local_datacenter",
    "username",
    "password",
    "read_consistency",
    "write_consistency",
    "request_timeout_ms",
    "connect_timeout_ms",
    "create_schema",
    "tls",
    "tls_ca_file",
    "tls_cert_file",
    "tls_key_file",
    "tls_verify",
    "write_batching",
];

/// Keys added to `[store.cassandra]` after it existed: they have no flat form.
#[cfg(test)]
pub(super) const NESTED_ONLY: &[&str] = &["test_clock_offset_ms"];

/// Moves each of [`FLAT_KEYS`] found in the parsed file's `[store]` into
/// `[store.cassandra]`, before the file is deserialized, and lists what it moved. A key
/// given both ways is refused, naming both spellings. Not called when `kind` names a SQL
/// store, whose sections share some of these keys (`sql::lift_flat_keys` moves them there).
pub(super) fn lift_flat_keys(root: &mut toml::Table) -> Result<Vec<Deprecated>, ConfigError> {
    let moved = move_flat_keys(root, "cassandra", FLAT_KEYS, |old, new| {
        format!("also given as {old}, its deprecated name; keep only {new}")
    })?;
    Ok(moved
        .into_iter()
        .map(|(old, new)| Deprecated { old, new })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::load::err_at;
    use super::super::Config;
    use super::*;

    #[test]
    fn bad_values_are_refused_naming_the_nested_key() {
        for (text, key) in [
            // A [store.cassandra] table, and the same keys dotted in [store].
            (
                "[store.cassandra]\nread_consistency = \"ANY\"",
                "store.cassandra.read_consistency",
            ),
            (
                "cassandra.write_consistency = \"SOME\"",
                "store.cassandra.write_consistency",
            ),
            (
                "cassandra.keyspace = \"x; DROP\"",
                "store.cassandra.keyspace",
            ),
            (
                "cassandra.contact_points = [\"nohost\"]",
                "store.cassandra.contact_points[0]",
            ),
            ("cassandra.username = \"u\"", "store.cassandra.password"),
            (
                "cassandra.tls_cert_file = \"c\"",
                "store.cassandra.tls_key_file",
            ),
            (
                "cassandra.connect_timeout_ms = 0",
                "store.cassandra.connect_timeout_ms",
            ),
        ] {
            err_at(&format!("[store]\nkind = \"cassandra\"\n{text}\n"), key);
        }
    }

    #[test]
    fn write_batching_accepts_the_documented_modes_only() {
        let text = |mode: &str| {
            format!("[store]\nkind = \"cassandra\"\ncassandra.write_batching = \"{mode}\"\n")
        };
        for ok in ["concurrent", "unlogged", "unlogged:1", "unlogged:256"] {
            Config::parse(&text(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "logged",
            "unlogged:0",
            "unlogged:300",
            "unlogged:",
            "Concurrent",
        ] {
            err_at(&text(bad), "store.cassandra.write_batching");
        }
    }

    #[test]
    fn flat_keys_are_every_nested_key_but_the_later_ones() {
        let nested = toml::Table::try_from(CassandraConfig::default()).expect("serialize");
        let mut flat: Vec<&str> = FLAT_KEYS.iter().chain(NESTED_ONLY).copied().collect();
        flat.sort_unstable();
        assert_eq!(flat, nested.keys().map(String::as_str).collect::<Vec<_>>());
        // A later key given flat is refused as unknown, not moved.
        err_at(
            "[store]\nkind = \"cassandra\"\ntest_clock_offset_ms = 5\n",
            "store.test_clock_offset_ms",
        );
    }

    #[cfg(feature = "cassandra")]
    #[test]
    fn cassandra_options_carry_the_nested_keys() {
        let c = Config::parse(
            "[store]\nkind = \"cassandra\"\n[store.cassandra]\nkeyspace = \"ks\"\n\
             local_datacenter = \"dc1\"\ntls = true\ntls_verify = false\nrequest_timeout_ms = 7\n",
        )
        .expect("parse");
        let o = c.store.cassandra_options();
        assert_eq!(o.keyspace, "ks");
        assert_eq!(o.local_datacenter.as_deref(), Some("dc1"));
        assert_eq!(o.username, None);
        assert!(o.tls.is_some_and(|t| !t.verify && t.ca_file.is_none()));
        assert_eq!(o.request_timeout, std::time::Duration::from_millis(7));
    }
}
