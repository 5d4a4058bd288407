//! The schema: the keyspace and table DDL of `config/cassandra/oauth-server.cql`, filled in
//! for a keyspace and replication, and [`CassandraStore::migrate`] (`tessera migrate`, or
//! `store.create_schema` at start-up), which applies it.
//!
//! Touches only DDL (`CREATE KEYSPACE`, `CREATE TABLE`), through a session of its own; never
//! a row.

use super::options::connect;
use super::{block_on, open_err, start_runtime, CassandraOptions, CassandraStore};
use crate::store::StoreError;
use std::time::Duration;

/// The schema, with `{keyspace}` and `{replication}` still to fill in.
pub const SCHEMA: &str = include_str!("../../../../config/cassandra/oauth-server.cql");

/// The schema's statements for `keyspace` with `replication` (a CQL map literal).
pub fn schema_statements(keyspace: &str, replication: &str) -> Vec<String> {
    let text: String = SCHEMA
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.replace("{keyspace}", keyspace)
                .replace("{replication}", replication)
        })
        .collect()
}

/// A keyspace name CQL accepts unquoted.
pub fn valid_keyspace(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 48
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Least time given to one schema statement of [`CassandraStore::migrate`].
const SCHEMA_TIMEOUT: Duration = Duration::from_secs(30);

impl CassandraStore {
    /// Creates the keyspace and tables (idempotent) with `replication` (a CQL map literal,
    /// e.g. `{'class': 'SimpleStrategy', 'replication_factor': 1}`).
    pub fn migrate(opts: &CassandraOptions, replication: &str) -> Result<usize, StoreError> {
        if !valid_keyspace(&opts.keyspace) {
            return Err(open_err(
                opts,
                "the keyspace name must be letters, digits and _",
            ));
        }
        let (runtime, _stop) = start_runtime().map_err(|e| open_err(opts, e))?;
        let o = opts.clone();
        let statements = schema_statements(&opts.keyspace, replication);
        block_on(&runtime, async move {
            let session = connect(&o).await.map_err(|e| open_err(&o, e))?;
            let n = statements.len();
            for cql in statements {
                // Schema changes wait for the whole cluster and can take seconds on a busy
                // one; the data request timeout is sized for token reads and writes.
                let mut st = scylla::statement::Statement::new(cql.as_str());
                st.set_request_timeout(Some(o.request_timeout.max(SCHEMA_TIMEOUT)));
                session
                    .query_unpaged(st, &[])
                    .await
                    .map_err(|e| open_err(&o, format!("{e} (in `{cql}`)")))?;
            }
            session
                .await_schema_agreement()
                .await
                .map_err(|e| open_err(&o, e))?;
            Ok(n)
        })
    }
}
