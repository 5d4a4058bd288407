//! `[store]`: where tokens live (`kind`), the write-behind every store shares (durability,
//! flush interval, queue, purge) and the settings of every shared store (revocation
//! propagation, negative cache, read-through limit). A shared store's own keys are a nested
//! table: `[store.cassandra]` in `cassandra.rs`, `[store.postgres]` and `[store.mysql]` in
//! `sql.rs`; each of those also turns this section into its driver's options
//! (`StoreConfig::cassandra_options`, `StoreConfig::sql_options`). Touches nothing outside
//! `[store]`.

use super::cassandra::CassandraConfig;
use super::error::ConfigError;
use super::server::check_secs;
use super::sql::{self, SqlConfig, SqlDialect};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The largest `store.expected_live_tokens` accepted.
pub const MAX_EXPECTED_LIVE_TOKENS: u64 = 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// Embedded RocksDB in `store.path`, written behind the table (the default).
    #[default]
    Rocksdb,
    /// Tokens live only in this process's memory; a restart forgets them.
    Memory,
    /// Apache Cassandra / ScyllaDB, shared by every node of a cluster (`[store.cassandra]`).
    Cassandra,
    /// PostgreSQL, shared by every node of a cluster (`[store.postgres]`).
    Postgres,
    /// MySQL 8 or MariaDB 10.11+, shared by every node of a cluster (`[store.mysql]`).
    Mysql,
}

impl StoreKind {
    /// Whether several nodes share the store (and so read through it, and poll its
    /// revocation log).
    pub fn is_shared(self) -> bool {
        match self {
            StoreKind::Rocksdb | StoreKind::Memory => false,
            StoreKind::Cassandra | StoreKind::Postgres | StoreKind::Mysql => true,
        }
    }

    /// As written in `store.kind`.
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Rocksdb => "rocksdb",
            StoreKind::Memory => "memory",
            StoreKind::Cassandra => "cassandra",
            StoreKind::Postgres => "postgres",
            StoreKind::Mysql => "mysql",
        }
    }

    /// The relational database this kind stores tokens in, if it is a SQL store.
    pub fn sql_dialect(self) -> Option<SqlDialect> {
        match self {
            StoreKind::Postgres => Some(SqlDialect::Postgres),
            StoreKind::Mysql => Some(SqlDialect::Mysql),
            StoreKind::Rocksdb | StoreKind::Memory | StoreKind::Cassandra => None,
        }
    }
}

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
    pub path: PathBuf,
    pub durability: DurabilityMode,
    /// In `async` mode, changes are written at least this often.
    pub flush_interval_ms: u64,
    /// Changes that may wait for the store; beyond this, writes answer 503.
    pub queue_capacity: usize,
    /// How often expired tokens are reclaimed (lookups reject them at once regardless).
    pub purge_interval_secs: u64,
    /// Live tokens the in-memory table has room for from start-up (0: none reserved), so
    /// a recovery or a fill to that size moves no record. Only saves work: the table grows
    /// past it in bounded steps, and lookups are as fast without it.
    pub expected_live_tokens: u64,
    /// How long a request waits for its changes to be durable (`sync` mode, revocations,
    /// codes) before it answers 503 `temporarily_unavailable`; its changes stay queued and
    /// are written once the store answers. Bounds the answer time when the store stalls.
    pub durable_wait_ms: u64,
    /// Delay added to every store write. Only for testing backpressure; keep 0.
    pub write_delay_ms: u64,
    /// Test only, like `server.test_panic_worker_after_ms`: a file naming a fault to inject
    /// into every store call (`ok`, `stall`, `stall N`, `error`, `error F`; see
    /// `tessera_storage::store::faults`), re-read every 100 ms so chaos tests can make the
    /// real store slow or unavailable at run time. Never set it in production.
    pub test_faults_file: Option<PathBuf>,
    // --- shared stores (kind = "cassandra", "postgres" or "mysql") ---
    /// A revocation on one node holds on every node within this time.
    pub revocation_propagation_ms: u64,
    /// How long a token the store does not know stays "unknown" without asking again.
    pub negative_cache_ms: u64,
    /// Read-through lookups in flight per node; beyond this a miss answers 503.
    pub read_through_limit: usize,
    /// Read-through lookups in flight per source address, so one client flooding made-up
    /// tokens (over any number of connections) cannot use up everyone's budget.
    pub read_through_limit_per_address: usize,
    /// `[store.cassandra]`, read when `kind = "cassandra"`.
    pub cassandra: CassandraConfig,
    /// `[store.postgres]`, read when `kind = "postgres"`.
    #[serde(deserialize_with = "sql::postgres_section")]
    pub postgres: SqlConfig,
    /// `[store.mysql]`, read when `kind = "mysql"`.
    #[serde(deserialize_with = "sql::mysql_section")]
    pub mysql: SqlConfig,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            kind: StoreKind::Rocksdb,
            path: PathBuf::from("data"),
            durability: DurabilityMode::Async,
            flush_interval_ms: 10,
            queue_capacity: 65_536,
            purge_interval_secs: 60,
            expected_live_tokens: 0,
            durable_wait_ms: 5_000,
            write_delay_ms: 0,
            test_faults_file: None,
            revocation_propagation_ms: 1_000,
            negative_cache_ms: 100,
            read_through_limit: 256,
            read_through_limit_per_address: 32,
            cassandra: CassandraConfig::default(),
            postgres: SqlConfig::defaults(SqlDialect::Postgres),
            mysql: SqlConfig::defaults(SqlDialect::Mysql),
        }
    }
}

impl StoreConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        check_secs("store.purge_interval_secs", self.purge_interval_secs)?;
        if self.kind == StoreKind::Rocksdb && self.path.as_os_str().is_empty() {
            return Err(ConfigError::new("store.path", "must name a directory"));
        }
        if !(1..=10_000).contains(&self.flush_interval_ms) {
            return Err(ConfigError::new(
                "store.flush_interval_ms",
                "must be between 1 and 10000",
            ));
        }
        // One request reserves room for up to 6 changes before it changes anything.
        if !(8..=16_777_216).contains(&self.queue_capacity) {
            return Err(ConfigError::new(
                "store.queue_capacity",
                "must be between 8 and 16777216",
            ));
        }
        check_range("store.durable_wait_ms", self.durable_wait_ms, 100..=600_000)?;
        // A billion records is ~110 GB of table: beyond that it is a typo, not a plan.
        check_range(
            "store.expected_live_tokens",
            self.expected_live_tokens,
            0..=MAX_EXPECTED_LIVE_TOKENS,
        )?;
        if self.write_delay_ms > 60_000 {
            return Err(ConfigError::new(
                "store.write_delay_ms",
                "must be at most 60000",
            ));
        }
        if self.test_faults_file.is_some() && self.kind == StoreKind::Memory {
            return Err(ConfigError::new(
                "store.test_faults_file",
                "needs a store to inject faults into; kind = \"memory\" has none",
            ));
        }
        if self.kind.is_shared() {
            self.validate_shared()?;
        }
        if self.kind == StoreKind::Cassandra {
            self.cassandra.validate()?;
            self.check_sync_consistency()?;
        }
        if let Some((dialect, section)) = self.sql() {
            section.validate(dialect)?;
        }
        Ok(())
    }

    /// The SQL store `kind` names and its section (`[store.postgres]` or `[store.mysql]`);
    /// `None` for the other kinds.
    pub fn sql(&self) -> Option<(SqlDialect, &SqlConfig)> {
        let dialect = self.kind.sql_dialect()?;
        let section = match dialect {
            SqlDialect::Postgres => &self.postgres,
            SqlDialect::Mysql => &self.mysql,
        };
        Some((dialect, section))
    }

    /// `sync` promises that an acknowledged change is durable in the store. A Cassandra
    /// write at ANY succeeds once the coordinator has kept it as a hint, without any
    /// replica holding it, so the two together would promise what they cannot keep.
    fn check_sync_consistency(&self) -> Result<(), ConfigError> {
        let any = self.cassandra.write_consistency.eq_ignore_ascii_case("ANY");
        if self.durability == DurabilityMode::Sync && any {
            return Err(ConfigError::new(
                "store.cassandra.write_consistency",
                "ANY cannot be used with store.durability = \"sync\": at ANY a write may be \
                 kept only as a hint on the coordinator, with no replica holding it, so an \
                 acknowledged change would not be durable; use ONE or stronger, or \
                 store.durability = \"async\"",
            ));
        }
        Ok(())
    }

    fn validate_shared(&self) -> Result<(), ConfigError> {
        for (key, v, range) in [
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
            check_range(key, v, range)?;
        }
        if self.read_through_limit == 0 {
            return Err(ConfigError::new(
                "store.read_through_limit",
                "must be at least 1",
            ));
        }
        if !(1..=self.read_through_limit).contains(&self.read_through_limit_per_address) {
            return Err(ConfigError::new(
                "store.read_through_limit_per_address",
                "must be at least 1 and at most store.read_through_limit",
            ));
        }
        Ok(())
    }
}

/// `v` within `range`, else an error naming `key` and the range.
pub(super) fn check_range(
    key: &str,
    v: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<(), ConfigError> {
    if range.contains(&v) {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            format!("must be between {} and {}", range.start(), range.end()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::load::err_at;
    use super::super::Config;
    use super::*;

    #[test]
    fn bad_values_name_their_key() {
        assert_eq!(Config::default().store.kind, StoreKind::Rocksdb);
        for (text, key) in [
            ("durability = \"fast\"", "store.durability"),
            ("queue_capacity = 0", "store.queue_capacity"),
            ("purge_interval_secs = 0", "store.purge_interval_secs"),
            ("path = \"\"", "store.path"),
            (
                "expected_live_tokens = 1000000001",
                "store.expected_live_tokens",
            ),
            ("expected_live_tokens = -1", "store.expected_live_tokens"),
        ] {
            err_at(&format!("[store]\n{text}\n"), key);
        }
    }

    #[test]
    fn expected_live_tokens_defaults_to_no_pre_size_and_takes_ten_million() {
        assert_eq!(Config::default().store.expected_live_tokens, 0);
        let c = Config::parse("[store]\nexpected_live_tokens = 10000000\n").expect("10 M");
        assert_eq!(c.store.expected_live_tokens, 10_000_000);
    }

    #[test]
    fn kind_names_are_the_spelling_the_file_uses() {
        for kind in [
            StoreKind::Rocksdb,
            StoreKind::Memory,
            StoreKind::Cassandra,
            StoreKind::Postgres,
            StoreKind::Mysql,
        ] {
            let c = Config::parse(&format!("[store]\nkind = \"{}\"\n", kind.name()))
                .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert_eq!(c.store.kind, kind);
            assert_eq!(
                kind.sql_dialect().map(SqlDialect::name),
                matches!(kind, StoreKind::Postgres | StoreKind::Mysql).then(|| kind.name())
            );
        }
    }

    #[test]
    fn shared_store_keys_are_checked_for_a_shared_store_only() {
        for (text, key) in [
            (
                "revocation_propagation_ms = 10",
                "store.revocation_propagation_ms",
            ),
            ("read_through_limit = 0", "store.read_through_limit"),
        ] {
            for kind in ["cassandra", "postgres", "mysql"] {
                err_at(&format!("[store]\nkind = \"{kind}\"\n{text}\n"), key);
            }
        }
        Config::parse("[store]\nkind = \"memory\"\nread_through_limit = 0\n")
            .expect("a store that is not shared ignores read_through_limit");
    }

    #[test]
    fn sync_durability_refuses_write_consistency_any() {
        let sync_any = "[store]\nkind = \"cassandra\"\ndurability = \"sync\"\n\
                        [store.cassandra]\nwrite_consistency = \"any\"\n";
        let e = err_at(sync_any, "store.cassandra.write_consistency");
        assert!(
            e.message.contains("store.durability") && e.message.contains("hint"),
            "{e}"
        );
        // The default (async, ONE/ANY) stays valid, and sync is fine with ONE.
        let c = Config::parse("[store]\nkind = \"cassandra\"\n").expect("the default");
        assert_eq!(c.store.durability, DurabilityMode::Async);
        assert_eq!(c.store.cassandra.write_consistency, "ANY");
        Config::parse(
            "[store]\nkind = \"cassandra\"\ndurability = \"sync\"\n\
             [store.cassandra]\nwrite_consistency = \"ONE\"\n",
        )
        .expect("sync with ONE");
    }
}
