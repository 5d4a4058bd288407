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
//! - `server.rs`: `[server]` ([`ServerConfig`], [`DriverKind`]) and `[log]` ([`LogConfig`]).
//! - `store.rs`: `[store]` ([`StoreConfig`]): the store kind, the write-behind, and the keys
//!   every shared store reads.
//! - `cassandra.rs`: `[store.cassandra]` ([`CassandraConfig`]), the driver options built from
//!   it, and the flat `[store]` spelling of its keys that older files use (accepted, moved
//!   into `[store.cassandra]` before deserializing, reported as [`Deprecated`]).
//! - `tokens.rs`: `[tokens]` ([`TokensConfig`]) and the token length bounds.
//! - `authorize.rs`: `[authorize]` ([`AuthorizeConfig`]): codes, login sessions, consent.
//! - `security.rs`: `[security]` ([`SecurityConfig`]): the brute-force guard's limits.
//! - `clients.rs`: `[[clients]]` and `[[users]]` ([`ClientConfig`], [`UserConfig`]).
//! - `oidc.rs`: `[oidc]` ([`OidcConfig`]): issuer, ID-token lifetime, signing key files.
//! - `assertions.rs`: `[assertions]` and `[[assertion_issuers]]`: the JWT and SAML bearer
//!   grants' rules and trusted issuers, and the key sources clients and issuers list.
//!
//! `config` uses `oauth::types` (shared enums), `oauth::secret` / `oauth::scope` (to check
//! secrets and scopes) and `oauth::jose` / `oauth::saml` (to read key and certificate files
//! as the server will), and no other part of the server.

mod assertions;
mod authorize;
mod cassandra;
mod clients;
mod error;
mod load;
mod oidc;
mod security;
mod server;
mod store;
mod tokens;

use serde::Deserialize;

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
pub use self::security::{SecurityConfig, MAX_LOCKOUT_SECS};
pub use self::server::{DriverKind, LogConfig, ServerConfig};
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

    #[test]
    fn cassandra_example_documents_every_store_key_with_its_default() {
        let text = include_str!("../../config/cassandra.toml");
        let (c, deprecated) = Config::parse_with_warnings(text)
            .unwrap_or_else(|e| panic!("config/cassandra.toml: {e}"));
        assert!(deprecated.is_empty(), "{deprecated:?}");
        assert_eq!(
            c.store,
            StoreConfig {
                kind: StoreKind::Cassandra,
                ..StoreConfig::default()
            }
        );
        // Every key of [store] and [store.cassandra] appears in the file (the RocksDB-only
        // `path` and the test-only `write_delay_ms` aside).
        let table: toml::Table = toml::from_str(text).expect("toml");
        let store = table["store"].as_table().expect("[store]");
        let nested = store["cassandra"].as_table().expect("[store.cassandra]");
        let defaults = toml::Table::try_from(StoreConfig::default()).expect("serialize");
        for key in defaults
            .keys()
            .filter(|k| *k != "path" && *k != "write_delay_ms")
        {
            assert!(
                store.contains_key(key),
                "config/cassandra.toml lacks store.{key}"
            );
        }
        for key in defaults["cassandra"].as_table().expect("cassandra").keys() {
            assert!(
                nested.contains_key(key),
                "config/cassandra.toml lacks store.cassandra.{key}"
            );
        }
    }
}
