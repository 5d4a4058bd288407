//! Typed configuration: the TOML file an operator writes, its defaults, and its validation.
//!
//! Every struct denies unknown keys and every default lives in its `Default` impl, so
//! `config/tessera.toml` (which spells out every key) must parse to exactly `Config::default()`
//! plus its clients and users — a test checks that. Errors always name the key they are
//! about (`server.listen`, `clients[1].default_scopes`), whether serde or [`Config::validate`]
//! found them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

pub use crate::oauth::types::{AuthMethod, GrantType, RefreshPolicy};

/// Response fields that a client's metadata must not shadow (tokeninfo and introspection
/// put metadata names at the top level of the JSON object).
pub const RESERVED_METADATA_NAMES: &[&str] = &[
    "active",
    "audience",
    "client_id",
    "error",
    "error_description",
    "exp",
    "expires_in",
    "iat",
    "scope",
    "token_type",
    "user_id",
    "username",
];

pub use crate::oauth::token_gen::{MAX_TOKEN_LENGTH, MIN_TOKEN_LENGTH};

/// A configuration problem, always tied to the key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
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

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub tokens: TokensConfig,
    pub log: LogConfig,
    pub clients: Vec<ClientConfig>,
    pub users: Vec<UserConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DriverKind {
    /// io_uring where the kernel allows it, else epoll.
    #[default]
    Auto,
    IoUring,
    Epoll,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Worker threads, each a single-threaded runtime with its own listener; 0 = one per core.
    pub workers: usize,
    pub max_body_bytes: usize,
    /// An idle keep-alive connection is closed after this long.
    pub keepalive_timeout_secs: u64,
    /// A request must arrive whole within this long of its first byte, else 408.
    pub request_timeout_secs: u64,
    pub max_connections_per_worker: usize,
    /// On SIGTERM/SIGINT, in-flight requests get this long to finish.
    pub shutdown_grace_secs: u64,
    pub driver: DriverKind,
    /// Pin worker N to core N.
    pub pin_cores: bool,
    /// The realm in `WWW-Authenticate` challenges.
    pub realm: String,
    /// Threads that verify argon2id passwords, so workers never stall on them; 0 = half the cores.
    pub password_hash_threads: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: 0,
            max_body_bytes: 64 * 1024,
            keepalive_timeout_secs: 60,
            request_timeout_secs: 10,
            max_connections_per_worker: 10_000,
            shutdown_grace_secs: 10,
            driver: DriverKind::Auto,
            pin_cores: false,
            realm: "tessera".to_owned(),
            password_hash_threads: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// Embedded RocksDB in `store.path`, written behind the table (the default).
    #[default]
    Rocksdb,
    /// Tokens live only in this process's memory; a restart forgets them.
    Memory,
    /// Apache Cassandra / ScyllaDB, shared by every node of a cluster.
    Cassandra,
}

/// CQL consistency level names accepted for `store.read_consistency` and
/// `store.write_consistency`.
pub use tessera_storage::store::CONSISTENCY_LEVELS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DurabilityMode {
    /// Respond at once; the change is written within `flush_interval_ms`.
    #[default]
    Async,
    /// Respond once the change is in a synced WAL (group commit).
    Sync,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub kind: StoreKind,
    /// RocksDB data directory, relative to the working directory.
    pub path: std::path::PathBuf,
    pub durability: DurabilityMode,
    /// In `async` mode, changes are written at least this often.
    pub flush_interval_ms: u64,
    /// Changes that may wait for the store; beyond this, writes answer 503.
    pub queue_capacity: usize,
    /// How often expired tokens are reclaimed (lookups reject them at once regardless).
    pub purge_interval_secs: u64,
    /// Delay added to every store write. Only for testing backpressure; keep 0.
    pub write_delay_ms: u64,
    // --- kind = "cassandra" ---
    /// `host:port` of one or more nodes; the driver discovers the rest.
    pub contact_points: Vec<String>,
    pub keyspace: String,
    /// Replication of the keyspace `tessera migrate` creates (a CQL map literal).
    pub replication: String,
    /// Datacenter whose nodes the driver prefers; empty: any.
    pub local_datacenter: String,
    /// Empty: no authentication.
    pub username: String,
    pub password: String,
    pub read_consistency: String,
    pub write_consistency: String,
    pub request_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// Create the keyspace and tables at start (as `tessera migrate` does).
    pub create_schema: bool,
    /// A revocation on one node holds on every node within this time.
    pub revocation_propagation_ms: u64,
    /// How long a token the store does not know stays "unknown" without asking again.
    pub negative_cache_ms: u64,
    /// Read-through lookups in flight per node; beyond this a miss is answered as unknown.
    pub read_through_limit: usize,
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
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            kind: StoreKind::Rocksdb,
            path: std::path::PathBuf::from("data"),
            durability: DurabilityMode::Async,
            flush_interval_ms: 10,
            queue_capacity: 65_536,
            purge_interval_secs: 60,
            write_delay_ms: 0,
            contact_points: vec!["127.0.0.1:9042".to_owned()],
            keyspace: "tessera".to_owned(),
            replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}".to_owned(),
            local_datacenter: String::new(),
            username: String::new(),
            password: String::new(),
            read_consistency: "ONE".to_owned(),
            write_consistency: "ANY".to_owned(),
            request_timeout_ms: 2_000,
            connect_timeout_ms: 5_000,
            create_schema: false,
            revocation_propagation_ms: 1_000,
            negative_cache_ms: 100,
            read_through_limit: 256,
            tls: false,
            tls_ca_file: String::new(),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            tls_verify: true,
            write_batching: "unlogged".to_owned(),
        }
    }
}

impl StoreConfig {
    fn validate_cassandra(&self) -> Result<(), ConfigError> {
        if self.contact_points.is_empty() {
            return Err(ConfigError::new(
                "store.contact_points",
                "name at least one host:port",
            ));
        }
        for (i, p) in self.contact_points.iter().enumerate() {
            let port_ok = p
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                return Err(ConfigError::new(
                    format!("store.contact_points[{i}]"),
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
                "store.keyspace",
                "must be 1-48 letters, digits or _, starting with a letter",
            ));
        }
        if !self.replication.trim_start().starts_with('{') {
            return Err(ConfigError::new(
                "store.replication",
                "must be a CQL map, e.g. {'class': 'NetworkTopologyStrategy', 'dc1': 3}",
            ));
        }
        for (key, level) in [
            ("store.read_consistency", &self.read_consistency),
            ("store.write_consistency", &self.write_consistency),
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
                "store.read_consistency",
                "ANY is for writes only; Cassandra refuses reads at ANY (use ONE or LOCAL_ONE)",
            ));
        }
        if self.username.is_empty() != self.password.is_empty() {
            return Err(ConfigError::new(
                "store.password",
                "username and password go together",
            ));
        }
        for (key, v, range) in [
            (
                "store.request_timeout_ms",
                self.request_timeout_ms,
                1..=600_000,
            ),
            (
                "store.connect_timeout_ms",
                self.connect_timeout_ms,
                1..=600_000,
            ),
            (
                "store.revocation_propagation_ms",
                self.revocation_propagation_ms,
                50..=600_000,
            ),
            (
                "store.negative_cache_ms",
                self.negative_cache_ms,
                0..=60_000,
            ),
        ] {
            if !range.contains(&v) {
                return Err(ConfigError::new(
                    key,
                    format!("must be between {} and {}", range.start(), range.end()),
                ));
            }
        }
        if self.read_through_limit == 0 {
            return Err(ConfigError::new(
                "store.read_through_limit",
                "must be at least 1",
            ));
        }
        if tessera_storage::store::WriteBatching::parse(&self.write_batching).is_none() {
            return Err(ConfigError::new(
                "store.write_batching",
                "must be \"concurrent\", \"unlogged\" or \"unlogged:N\" with N from 1 to 256",
            ));
        }
        if self.tls_cert_file.is_empty() != self.tls_key_file.is_empty() {
            return Err(ConfigError::new(
                "store.tls_key_file",
                "tls_cert_file and tls_key_file go together",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    pub access_token_ttl_secs: u32,
    pub access_token_length: usize,
    pub token_type: String,
    pub refresh_token_ttl_secs: u32,
    pub refresh_token_length: usize,
    pub refresh_policy: RefreshPolicy,
}

impl Default for TokensConfig {
    fn default() -> Self {
        TokensConfig {
            access_token_ttl_secs: 3600,
            access_token_length: 54,
            token_type: "Bearer".to_owned(),
            refresh_token_ttl_secs: 43_200,
            refresh_token_length: 46,
            refresh_policy: RefreshPolicy::Rotate,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter (`info`, `tessera=debug`); `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub id: String,
    /// A plain secret (development); hashed at load and then forgotten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// A hash from `tessera hash-secret`.
    #[serde(default)]
    pub secret_hash: Option<String>,
    #[serde(default)]
    pub auth_method: AuthMethod,
    pub grant_types: Vec<GrantType>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Granted when a request names no scope; absent = all of `scopes`.
    #[serde(default)]
    pub default_scopes: Option<Vec<String>>,
    #[serde(default)]
    pub refresh_policy: Option<RefreshPolicy>,
    #[serde(default)]
    pub access_token_ttl_secs: Option<u32>,
    #[serde(default)]
    pub access_token_length: Option<usize>,
    #[serde(default)]
    pub refresh_token_ttl_secs: Option<u32>,
    #[serde(default)]
    pub refresh_token_length: Option<usize>,
    /// Name/value pairs stored with every token issued to this client.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub username: String,
    #[serde(default)]
    pub password: Option<String>,
    /// An argon2id PHC string (`tessera hash-secret --argon2`).
    #[serde(default)]
    pub password_hash: Option<String>,
}

impl Config {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                "",
                format!("cannot read config file {}: {e}", path.display()),
            )
        })?;
        Config::parse(&text)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::new(text);
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." { String::new() } else { key };
            ConfigError::new(key, e.into_inner().message().trim().to_owned())
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot: ranges, references between keys, uniqueness.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        if s.workers > 1024 {
            return Err(ConfigError::new("server.workers", "at most 1024"));
        }
        if !(1..=16 * 1024 * 1024).contains(&s.max_body_bytes) {
            return Err(ConfigError::new(
                "server.max_body_bytes",
                "must be between 1 and 16777216",
            ));
        }
        for (key, v) in [
            ("server.keepalive_timeout_secs", s.keepalive_timeout_secs),
            ("server.request_timeout_secs", s.request_timeout_secs),
            ("server.shutdown_grace_secs", s.shutdown_grace_secs),
            ("store.purge_interval_secs", self.store.purge_interval_secs),
        ] {
            if v == 0 || v > 86_400 {
                return Err(ConfigError::new(key, "must be between 1 and 86400"));
            }
        }
        let st = &self.store;
        if st.kind == StoreKind::Rocksdb && st.path.as_os_str().is_empty() {
            return Err(ConfigError::new("store.path", "must name a directory"));
        }
        if !(1..=10_000).contains(&st.flush_interval_ms) {
            return Err(ConfigError::new(
                "store.flush_interval_ms",
                "must be between 1 and 10000",
            ));
        }
        // One request reserves room for up to 6 changes before it changes anything.
        if !(8..=16_777_216).contains(&st.queue_capacity) {
            return Err(ConfigError::new(
                "store.queue_capacity",
                "must be between 8 and 16777216",
            ));
        }
        if st.write_delay_ms > 60_000 {
            return Err(ConfigError::new(
                "store.write_delay_ms",
                "must be at most 60000",
            ));
        }
        if st.kind == StoreKind::Cassandra {
            st.validate_cassandra()?;
        }
        if s.max_connections_per_worker == 0 {
            return Err(ConfigError::new(
                "server.max_connections_per_worker",
                "must be at least 1",
            ));
        }
        if s.realm.is_empty()
            || !s
                .realm
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        {
            return Err(ConfigError::new(
                "server.realm",
                "must be printable ASCII without quotes or backslashes",
            ));
        }
        let t = &self.tokens;
        check_length("tokens.access_token_length", t.access_token_length)?;
        check_length("tokens.refresh_token_length", t.refresh_token_length)?;
        check_ttl("tokens.access_token_ttl_secs", t.access_token_ttl_secs)?;
        check_ttl("tokens.refresh_token_ttl_secs", t.refresh_token_ttl_secs)?;
        if t.token_type.is_empty()
            || !t
                .token_type
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(ConfigError::new(
                "tokens.token_type",
                "must be a non-empty token such as \"Bearer\"",
            ));
        }
        let mut ids = std::collections::HashSet::new();
        for (i, c) in self.clients.iter().enumerate() {
            c.validate(&format!("clients[{i}]"))?;
            if !ids.insert(c.id.as_str()) {
                return Err(ConfigError::new(
                    format!("clients[{i}].id"),
                    format!("duplicate client id {:?}", c.id),
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            let key = format!("users[{i}]");
            if u.username.is_empty() {
                return Err(ConfigError::new(
                    format!("{key}.username"),
                    "must not be empty",
                ));
            }
            if !names.insert(u.username.as_str()) {
                return Err(ConfigError::new(
                    format!("{key}.username"),
                    format!("duplicate username {:?}", u.username),
                ));
            }
            match (&u.password, &u.password_hash) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::new(
                        format!("{key}.password_hash"),
                        "give either password or password_hash, not both",
                    ))
                }
                (None, None) => {
                    return Err(ConfigError::new(
                        format!("{key}.password"),
                        "a user needs password or password_hash",
                    ))
                }
                (None, Some(h)) => {
                    crate::oauth::secret::PasswordHash::parse_argon2(h)
                        .map_err(|m| ConfigError::new(format!("{key}.password_hash"), m))?;
                }
                (Some(_), None) => {}
            }
        }
        Ok(())
    }

    /// Worker threads to run: the configured number, or one per core.
    pub fn worker_count(&self) -> usize {
        match self.server.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

impl Config {
    /// Checks a client that does not come from this file (one kept in a shared store),
    /// naming it `key` in errors.
    pub fn validate_client(&self, c: &ClientConfig, key: &str) -> Result<(), ConfigError> {
        c.validate(key)
    }
}

impl ClientConfig {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let k = |field: &str| format!("{key}.{field}");
        if self.id.is_empty() || self.id.chars().any(char::is_control) {
            return Err(ConfigError::new(
                k("id"),
                "must be non-empty without control characters",
            ));
        }
        match (self.auth_method, &self.secret, &self.secret_hash) {
            (AuthMethod::None, None, None) => {}
            (AuthMethod::None, _, _) => {
                return Err(ConfigError::new(
                    k("secret"),
                    "a public client (auth_method = \"none\") has no secret",
                ))
            }
            (_, Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    k("secret_hash"),
                    "give either secret or secret_hash, not both",
                ))
            }
            (_, None, None) => {
                return Err(ConfigError::new(
                    k("secret"),
                    "a confidential client needs secret or secret_hash",
                ))
            }
            (_, None, Some(h)) => {
                crate::oauth::secret::SecretHash::parse(h)
                    .map_err(|m| ConfigError::new(k("secret_hash"), m))?;
            }
            (_, Some(s), None) if s.is_empty() => {
                return Err(ConfigError::new(k("secret"), "must not be empty"))
            }
            (_, Some(_), None) => {}
        }
        if self.grant_types.is_empty() {
            return Err(ConfigError::new(
                k("grant_types"),
                "must name at least one grant type",
            ));
        }
        // RFC 6749 §4.4: the client credentials grant is for confidential clients only.
        if self.auth_method == AuthMethod::None
            && self.grant_types.contains(&GrantType::ClientCredentials)
        {
            return Err(ConfigError::new(
                k("grant_types"),
                "client_credentials needs a confidential client (RFC 6749 §4.4), not auth_method = \"none\"",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, s) in self.scopes.iter().enumerate() {
            if !crate::oauth::scope::is_scope_token(s) {
                return Err(ConfigError::new(
                    format!("{key}.scopes[{i}]"),
                    format!("{s:?} is not a valid scope token (RFC 6749 §3.3)"),
                ));
            }
            if !seen.insert(s.as_str()) {
                return Err(ConfigError::new(
                    format!("{key}.scopes[{i}]"),
                    format!("duplicate scope {s:?}"),
                ));
            }
        }
        if let Some(defaults) = &self.default_scopes {
            if let Some(bad) = defaults.iter().find(|d| !self.scopes.contains(d)) {
                return Err(ConfigError::new(
                    k("default_scopes"),
                    format!("{bad:?} is not one of the client's scopes"),
                ));
            }
        }
        if let Some(n) = self.access_token_length {
            check_length(&k("access_token_length"), n)?;
        }
        if let Some(n) = self.refresh_token_length {
            check_length(&k("refresh_token_length"), n)?;
        }
        if let Some(n) = self.access_token_ttl_secs {
            check_ttl(&k("access_token_ttl_secs"), n)?;
        }
        if let Some(n) = self.refresh_token_ttl_secs {
            check_ttl(&k("refresh_token_ttl_secs"), n)?;
        }
        for name in self.metadata.keys() {
            if name.is_empty() || RESERVED_METADATA_NAMES.contains(&name.as_str()) {
                return Err(ConfigError::new(
                    format!("{key}.metadata.{name}"),
                    "metadata names must be non-empty and must not shadow a response field",
                ));
            }
        }
        Ok(())
    }
}

fn check_length(key: &str, n: usize) -> Result<(), ConfigError> {
    if (MIN_TOKEN_LENGTH..=MAX_TOKEN_LENGTH).contains(&n) {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            format!("must be between {MIN_TOKEN_LENGTH} (128 bits, RFC 6749 §10.10) and {MAX_TOKEN_LENGTH}"),
        ))
    }
}

fn check_ttl(key: &str, n: u32) -> Result<(), ConfigError> {
    // Ten years keeps `now + ttl` far inside u32 seconds.
    if (1..=315_360_000).contains(&n) {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            "must be between 1 and 315360000 seconds",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ConfigError {
        match Config::parse(text) {
            Ok(_) => panic!("expected an error for {text}"),
            Err(e) => e,
        }
    }

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(Config::parse("").ok(), Some(Config::default()));
    }

    #[test]
    fn example_config_parses_and_its_settings_equal_the_defaults() {
        let text = include_str!("../config/tessera.toml");
        let c = Config::parse(text).unwrap_or_else(|e| panic!("config/tessera.toml: {e}"));
        let defaults = Config::default();
        assert_eq!(c.server, defaults.server);
        assert_eq!(c.store, defaults.store);
        assert_eq!(c.tokens, defaults.tokens);
        assert_eq!(c.log, defaults.log);
        assert!(!c.clients.is_empty() && !c.users.is_empty());
    }

    #[test]
    fn cassandra_example_documents_every_store_key_with_its_default() {
        let text = include_str!("../config/cassandra.toml");
        let c = Config::parse(text).unwrap_or_else(|e| panic!("config/cassandra.toml: {e}"));
        assert_eq!(
            c.store,
            StoreConfig {
                kind: StoreKind::Cassandra,
                ..StoreConfig::default()
            }
        );
        // Every key of [store] appears in the file (the RocksDB-only `path` aside).
        let table: toml::Table = toml::from_str(text).expect("toml");
        let store = table["store"].as_table().expect("[store]");
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
    }

    #[test]
    fn read_consistency_any_is_refused_naming_the_key() {
        let e = err("[store]\nkind = \"cassandra\"\nread_consistency = \"ANY\"\n");
        assert_eq!(e.key, "store.read_consistency", "{e}");
        let e = err("[store]\nkind = \"cassandra\"\nwrite_consistency = \"SOME\"\n");
        assert_eq!(e.key, "store.write_consistency", "{e}");
        let e = err("[store]\nkind = \"cassandra\"\nkeyspace = \"x; DROP\"\n");
        assert_eq!(e.key, "store.keyspace", "{e}");
        let e = err("[store]\nkind = \"cassandra\"\ncontact_points = [\"nohost\"]\n");
        assert_eq!(e.key, "store.contact_points[0]", "{e}");
    }

    #[test]
    fn write_batching_accepts_the_documented_modes_only() {
        for ok in ["concurrent", "unlogged", "unlogged:1", "unlogged:256"] {
            Config::parse(&format!(
                "[store]\nkind = \"cassandra\"\nwrite_batching = \"{ok}\"\n"
            ))
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "logged",
            "unlogged:0",
            "unlogged:300",
            "unlogged:",
            "Concurrent",
        ] {
            let e = err(&format!(
                "[store]\nkind = \"cassandra\"\nwrite_batching = \"{bad}\"\n"
            ));
            assert_eq!(e.key, "store.write_batching", "{bad}: {e}");
        }
    }

    #[test]
    fn unknown_key_is_named_with_its_table() {
        let e = err("[server]\nlisen = \"127.0.0.1:1\"\n");
        assert_eq!(e.key, "server.lisen", "{e}");
    }

    #[test]
    fn bad_value_in_a_client_names_the_client_index() {
        let e = err(
            "[[clients]]\nid = \"a\"\nsecret = \"s\"\ngrant_types = [\"client_credentials\"]\n\
             [[clients]]\nid = \"b\"\nsecret = \"s\"\ngrant_types = [\"warp_drive\"]\n",
        );
        assert!(e.key.starts_with("clients[1].grant_types"), "{e}");
    }

    #[test]
    fn default_scopes_outside_scopes_is_rejected() {
        let e = err(
            "[[clients]]\nid = \"a\"\nsecret = \"s\"\ngrant_types = [\"client_credentials\"]\n\
             scopes = [\"read\"]\ndefault_scopes = [\"write\"]\n",
        );
        assert_eq!(e.key, "clients[0].default_scopes");
    }

    #[test]
    fn public_client_cannot_use_client_credentials() {
        let e = err("[[clients]]\nid = \"a\"\nauth_method = \"none\"\ngrant_types = [\"client_credentials\"]\n");
        assert_eq!(e.key, "clients[0].grant_types");
    }

    #[test]
    fn short_tokens_are_rejected() {
        assert_eq!(
            err("[tokens]\naccess_token_length = 16\n").key,
            "tokens.access_token_length"
        );
    }

    #[test]
    fn metadata_cannot_shadow_response_fields() {
        let e = err(
            "[[clients]]\nid = \"a\"\nsecret = \"s\"\ngrant_types = [\"client_credentials\"]\n\
             metadata = { scope = \"x\" }\n",
        );
        assert_eq!(e.key, "clients[0].metadata.scope");
    }

    #[test]
    fn duplicate_client_ids_are_rejected() {
        let c = "[[clients]]\nid = \"a\"\nsecret = \"s\"\ngrant_types = [\"client_credentials\"]\n";
        assert_eq!(err(&format!("{c}{c}")).key, "clients[1].id");
    }

    #[test]
    fn rocksdb_is_the_default_store() {
        assert_eq!(Config::default().store.kind, StoreKind::Rocksdb);
        assert_eq!(
            err("[store]\ndurability = \"fast\"\n").key,
            "store.durability"
        );
        assert_eq!(
            err("[store]\nqueue_capacity = 0\n").key,
            "store.queue_capacity"
        );
    }

    #[test]
    fn bad_listen_address_names_the_key() {
        assert_eq!(err("[server]\nlisten = \"nowhere\"\n").key, "server.listen");
    }
}
