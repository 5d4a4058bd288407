//! Typed configuration: the TOML file an operator writes, its defaults, and its validation.
//!
//! Every struct denies unknown keys and every default lives in its `Default` impl, so
//! `config/tessera.toml` (which spells out every key) must parse to exactly `Config::default()`
//! plus its clients and users — a test checks that. Errors always name the key they are
//! about (`server.listen`, `clients[1].default_scopes`), whether serde or [`Config::validate`]
//! found them.
//!
//! One file per section; each checks only its own keys:
//!
//! - `mod.rs`: [`Config`], the root, and the re-exports the rest of the crate uses.
//! - `error.rs`: [`ConfigError`] and [`Deprecated`].
//! - `load.rs`: [`Config::load`], [`Config::parse`] and [`Config::validate`], which runs the
//!   sections' checks in turn.
//! - `server.rs`: `[server]` ([`ServerConfig`], [`DriverKind`]) and `[log]` ([`LogConfig`],
//!   [`LogFormat`]).
//! - `store.rs`: `[store]` ([`StoreConfig`]): the store kind, the write-behind, and the keys
//!   every shared store reads.
//! - `cassandra.rs`: `[store.cassandra]` ([`CassandraConfig`]), the driver options built from
//!   it, and the flat `[store]` spelling of its keys that older files use (accepted, moved
//!   into `[store.cassandra]` before deserializing, reported as [`Deprecated`]).
//! - `sql.rs`: `[store.postgres]` and `[store.mysql]` ([`SqlConfig`]), the driver options
//!   built from them, and their flat `[store]` spelling (accepted when `kind` names a SQL
//!   store, moved into its section before deserializing, not deprecated).
//! - `tokens.rs`: `[tokens]` ([`TokensConfig`]) and the token length bounds.
//! - `authorize.rs`: `[authorize]` ([`AuthorizeConfig`]): codes, login sessions, consent.
//! - `admin.rs`: `[admin]` ([`AdminConfig`]): the admin listener, its token hash and TLS.
//! - `security.rs`: `[security]` ([`SecurityConfig`]): the brute-force guard's limits.
//! - `clients.rs`: `[[clients]]` and `[[users]]` ([`ClientConfig`], [`UserConfig`]).
//! - `oidc.rs`: `[oidc]` ([`OidcConfig`]): issuer, ID-token lifetime, signing key files.
//! - `assertions.rs`: `[assertions]` and `[[assertion_issuers]]`: the JWT and SAML bearer
//!   grants' rules and trusted issuers, and the key sources clients and issuers list.
//!
//! `config` uses `oauth::types` (shared enums), `oauth::secret` / `oauth::scope` (to check
//! secrets and scopes) and `oauth::jose` / `oauth::saml` (to read key and certificate files
//! as the server will), and no other part of the server.

mod admin;
mod assertions;
mod authorize;
mod cassandra;
mod clients;
mod error;
mod load;
mod oidc;
mod security;
mod server;
mod sql;
mod store;
mod tokens;

use serde::Deserialize;

pub use self::admin::{AdminConfig, AdminTlsConfig};
pub use self::assertions::{
    read_saml_trust, AssertionIssuerConfig, AssertionsConfig, IssuerKind, KeySources,
    MAX_ASSERTION_LIFETIME_SECS, MAX_CLOCK_SKEW_SECS,
};
pub use self::authorize::AuthorizeConfig;
pub use self::cassandra::{CassandraConfig, CONSISTENCY_LEVELS};
pub use self::clients::{
    weak_secret_warning, ClientConfig, UserConfig, MIN_SECRET_LENGTH, RESERVED_METADATA_NAMES,
};
pub use self::error::{ConfigError, Deprecated};
pub use self::oidc::{
    read_signing_key, signing_alg_of, OidcConfig, MAX_ID_TOKEN_TTL_SECS, MIN_RSA_BITS,
};
pub use self::security::{RateLimitConfig, SecurityConfig, MAX_LOCKOUT_SECS};
pub use self::server::{DriverKind, LogConfig, LogFormat, ServerConfig, TlsConfig, TlsVersion};
pub use self::sql::{SqlConfig, SqlDialect};
pub use self::store::{DurabilityMode, StoreConfig, StoreKind};
pub use self::tokens::{TokensConfig, MAX_TOKEN_LENGTH, MIN_TOKEN_LENGTH};
pub use crate::oauth::types::{AuthMethod, ConsentMode, GrantType, RefreshPolicy, SigningAlg};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub tokens: TokensConfig,
    pub security: SecurityConfig,
    pub authorize: AuthorizeConfig,
    pub log: LogConfig,
    pub admin: AdminConfig,
    pub oidc: OidcConfig,
    pub assertions: AssertionsConfig,
    pub assertion_issuers: Vec<AssertionIssuerConfig>,
    pub clients: Vec<ClientConfig>,
    pub users: Vec<UserConfig>,
}

impl Config {
    /// Worker threads to run: the configured number, or one per core.
    pub fn worker_count(&self) -> usize {
        match self.server.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(Config::parse("").ok(), Some(Config::default()));
    }

    #[test]
    fn example_config_parses_and_its_settings_equal_the_defaults() {
        let text = include_str!("../../config/tessera.toml");
        let (c, deprecated) = Config::parse_with_warnings(text)
            .unwrap_or_else(|e| panic!("config/tessera.toml: {e}"));
        assert!(deprecated.is_empty(), "{deprecated:?}");
        let defaults = Config::default();
        assert_eq!(c.server, defaults.server);
        assert_eq!(c.store, defaults.store);
        assert_eq!(c.tokens, defaults.tokens);
        assert_eq!(c.security, defaults.security);
        assert_eq!(c.authorize, defaults.authorize);
        assert_eq!(c.log, defaults.log);
        assert_eq!(c.oidc, defaults.oidc);
        assert_eq!(c.assertions, defaults.assertions);
        assert!(!c.clients.is_empty() && !c.users.is_empty());
    }

    /// Checks that the example `file` (its `text`) for store `kind` parses without warnings
    /// to `expected`, and writes every key of `[store]` (but the RocksDB-only `path` and
    /// the test-only `write_delay_ms`) and of `[store.<section>]`, so an operator reads
    /// every key with its default there. Other kinds' sections are not its business.
    fn example_documents_every_store_key(file: &str, text: &str, section: &str) -> Config {
        let (c, deprecated) =
            Config::parse_with_warnings(text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(deprecated.is_empty(), "{file}: {deprecated:?}");
        let table: toml::Table = toml::from_str(text).expect("toml");
        let store = table["store"].as_table().expect("[store]");
        let nested = store[section].as_table().expect("the store's own section");
        let defaults = toml::Table::try_from(StoreConfig::default()).expect("serialize");
        let sections = ["cassandra", "postgres", "mysql"];
        for key in defaults.keys().filter(|k| {
            !["path", "write_delay_ms"].contains(&k.as_str())
                && (*k == section || !sections.contains(&k.as_str()))
        }) {
            assert!(store.contains_key(key), "{file} lacks store.{key}");
        }
        for key in defaults[section].as_table().expect("section").keys() {
            assert!(
                nested.contains_key(key),
                "{file} lacks store.{section}.{key}"
            );
        }
        c
    }

    #[test]
    fn cassandra_example_documents_every_store_key_with_its_default() {
        let c = example_documents_every_store_key(
            "config/cassandra.toml",
            include_str!("../../config/cassandra.toml"),
            "cassandra",
        );
        assert_eq!(
            c.store,
            StoreConfig {
                kind: StoreKind::Cassandra,
                ..StoreConfig::default()
            }
        );
    }

    #[test]
    fn sql_examples_document_every_store_key_with_its_default() {
        for (file, text, kind, url) in [
            (
                "config/postgres.toml",
                include_str!("../../config/postgres.toml"),
                StoreKind::Postgres,
                "postgres://tessera:tessera-secret@127.0.0.1:55432/tessera",
            ),
            (
                "config/mysql.toml",
                include_str!("../../config/mysql.toml"),
                StoreKind::Mysql,
                "mysql://tessera:tessera-secret@127.0.0.1:53306/tessera",
            ),
        ] {
            let c = example_documents_every_store_key(file, text, kind.name());
            // Every value is the default but the URL, which points at the test server of
            // tests/services/<kind>.sh.
            let mut expected = StoreConfig {
                kind,
                ..StoreConfig::default()
            };
            let section = match kind {
                StoreKind::Postgres => &mut expected.postgres,
                _ => &mut expected.mysql,
            };
            section.url = url.into();
            assert_eq!(c.store, expected, "{file}");
        }
    }
}
