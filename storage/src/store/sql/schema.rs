//! The schema: the files `config/sql/<dialect>/oauth-server.sql`, the `schema_version`
//! table, [`SqlStore::migrate`] (`tessera migrate`) that creates or upgrades it, and the
//! check at [`SqlStore::open`] that refuses a schema this build does not serve.
//!
//! Versions: the schema file is always the whole current schema ([`SCHEMA_VERSION`]); a
//! change to it comes with an [`Upgrade`] from the version before, so `migrate` takes a
//! database from any older version to the current one, step by step. (Version 1 is the
//! first, so there is no upgrade yet; the mechanism is tested with upgrades of its own.)
//!
//! Touches DDL and `schema_version` only, on a connection of its own holding a
//! database-wide lock (PostgreSQL advisory lock, MySQL `GET_LOCK`), so two nodes running
//! `migrate` at once apply it once.

use super::{block_on, open_err, options, start_runtime, Pool, SqlOptions, SqlStore};
use crate::store::{SqlDialect, StoreError};
use sqlx::{Connection, Executor, Row};
use std::fmt;

/// The schema version this build creates and serves.
pub const SCHEMA_VERSION: u32 = 1;

const POSTGRES: &str = include_str!("../../../../config/sql/postgres/oauth-server.sql");
const MYSQL: &str = include_str!("../../../../config/sql/mysql/oauth-server.sql");

/// The schema file of `dialect`, as shipped in `config/sql/<dialect>/oauth-server.sql`.
pub fn schema_text(dialect: SqlDialect) -> &'static str {
    match dialect {
        SqlDialect::Postgres => POSTGRES,
        SqlDialect::Mysql => MYSQL,
    }
}

/// The statements of a schema text: comments dropped, split at `;`.
fn statements(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    code.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The DDL taking a database from `from` to `from + 1`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Upgrade {
    pub from: u32,
    pub postgres: &'static str,
    pub mysql: &'static str,
}

/// Every upgrade, oldest first. Empty while the schema is at its first version.
const UPGRADES: &[Upgrade] = &[];

/// What [`SqlStore::migrate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// The version found (`None`: a database without Tessera's tables).
    pub from: Option<u32>,
    pub to: u32,
}

impl fmt::Display for Migrated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.from {
            None => write!(f, "created at version {}", self.to),
            Some(v) if v == self.to => write!(f, "already at version {}", self.to),
            Some(v) => write!(f, "upgraded from version {v} to {}", self.to),
        }
    }
}

/// Why the database's schema cannot be served.
fn version_problem(found: Option<u32>, serves: u32) -> Option<String> {
    match found {
        None => Some(
            "the database has no Tessera schema (no schema_version table); run `tessera migrate \
             --config FILE`, or apply the dialect's oauth-server.sql from config/sql/"
                .to_owned(),
        ),
        Some(v) if v == serves => None,
        Some(v) if v < serves => Some(format!(
            "the database's schema is version {v} and this Tessera serves version {serves}; \
             run `tessera migrate --config FILE` to upgrade it"
        )),
        Some(v) => Some(format!(
            "the database's schema is version {v}, newer than version {serves} that this \
             Tessera serves; run a Tessera that knows version {v}"
        )),
    }
}

/// The version recorded in `schema_version`; `None` when there is no such table. A macro
/// rather than a function: `$conn` (a `&mut` connection or transaction, reborrowed twice)
/// is of a different driver in each arm of `on_pool!`.
macro_rules! read_version {
    ($conn:expr, $dialect:expr) => {
        async {
            let exists = match $dialect {
                SqlDialect::Postgres => {
                    "SELECT CAST(CASE WHEN to_regclass('schema_version') IS NULL THEN 0 ELSE 1 END AS int8)"
                }
                SqlDialect::Mysql => {
                    "SELECT COUNT(*) FROM information_schema.tables \
                     WHERE table_schema = DATABASE() AND table_name = 'schema_version'"
                }
            };
            let n: i64 = $conn.fetch_one(exists).await?.try_get(0)?;
            if n == 0 {
                return Ok::<Option<u32>, sqlx::Error>(None);
            }
            let version = match $dialect {
                SqlDialect::Postgres => {
                    "SELECT CAST(version AS int8) FROM schema_version WHERE id = 1"
                }
                SqlDialect::Mysql => {
                    "SELECT CAST(version AS SIGNED) FROM schema_version WHERE id = 1"
                }
            };
            let row = $conn.fetch_optional(version).await?;
            let v: i64 = match row {
                Some(r) => r.try_get(0)?,
                None => 0,
            };
            Ok(Some(v.clamp(0, i64::from(u32::MAX)) as u32))
        }
    };
}

/// At open: the database must hold exactly the schema this build serves.
pub(super) async fn check_version(pool: &Pool, dialect: SqlDialect) -> Result<(), String> {
    let found: Result<Option<u32>, sqlx::Error> = super::on_pool!(pool, p, _d => async {
        let mut conn = p.acquire().await?;
        read_version!(&mut *conn, dialect).await
    }.await);
    let found = found.map_err(|e| format!("cannot read schema_version: {e}"))?;
    match version_problem(found, SCHEMA_VERSION) {
        None => Ok(()),
        Some(problem) => Err(problem),
    }
}

/// Creates the schema in a database without one, or upgrades an older one with `upgrades`
/// to `target`, under a database-wide lock.
pub(super) async fn migrate_to(
    pool: &Pool,
    upgrades: &[Upgrade],
    target: u32,
) -> Result<Migrated, String> {
    let step = |what: &str, sql: &str, e: sqlx::Error| {
        let first = sql.lines().next().unwrap_or("");
        format!("{what}: {e} (in `{first}`)")
    };
    super::on_pool!(pool, p, d => {
        let mut conn = p.acquire().await.map_err(|e| e.to_string())?;
        let (lock, unlock) = match d {
            SqlDialect::Postgres => (
                "SELECT pg_advisory_lock(7302151413121013)",
                "SELECT pg_advisory_unlock(7302151413121013)",
            ),
            SqlDialect::Mysql => (
                "SELECT GET_LOCK('tessera_migrate', 120)",
                "SELECT RELEASE_LOCK('tessera_migrate')",
            ),
        };
        conn.execute(lock).await.map_err(|e| format!("cannot take the migration lock: {e}"))?;
        let result: Result<Migrated, String> = async {
            // PostgreSQL runs DDL in transactions: all of it or none. MySQL commits each
            // DDL statement by itself; every statement is idempotent, so a failed run is
            // finished by the next.
            let mut tx = conn.begin().await.map_err(|e| e.to_string())?;
            let found = read_version!(&mut *tx, d).await.map_err(|e| e.to_string())?;
            match found {
                None => {
                    for sql in statements(schema_text(d)) {
                        tx.execute(sql.as_str())
                            .await
                            .map_err(|e| step("creating the schema", &sql, e))?;
                    }
                }
                Some(v) if v > target => {
                    return Err(version_problem(Some(v), target).unwrap_or_default());
                }
                Some(v) => {
                    for up in upgrades.iter().filter(|u| u.from >= v && u.from < target) {
                        let text = match d {
                            SqlDialect::Postgres => up.postgres,
                            SqlDialect::Mysql => up.mysql,
                        };
                        for sql in statements(text) {
                            tx.execute(sql.as_str()).await.map_err(|e| {
                                step(&format!("upgrading from version {}", up.from), &sql, e)
                            })?;
                        }
                        let set = format!("UPDATE schema_version SET version = {} WHERE id = 1", up.from + 1);
                        tx.execute(set.as_str()).await.map_err(|e| e.to_string())?;
                    }
                }
            }
            tx.commit().await.map_err(|e| e.to_string())?;
            Ok(Migrated { from: found, to: target })
        }
        .await;
        // The lock is the connection's; it also ends when the connection closes.
        let _ = conn.execute(unlock).await;
        result
    })
}

impl SqlStore {
    /// Creates the schema (a database without one) or upgrades an older one to
    /// [`SCHEMA_VERSION`] (idempotent); refuses a newer one, naming both versions.
    pub fn migrate(opts: &SqlOptions) -> Result<Migrated, StoreError> {
        Self::migrate_with(opts, UPGRADES, SCHEMA_VERSION)
    }

    pub(super) fn migrate_with(
        opts: &SqlOptions,
        upgrades: &'static [Upgrade],
        target: u32,
    ) -> Result<Migrated, StoreError> {
        let (runtime, _stop) = start_runtime().map_err(|e| open_err(opts, e))?;
        let o = SqlOptions {
            pool_size: 1,
            ..opts.clone()
        };
        block_on(&runtime, async move {
            let pool = options::connect(&o).await.map_err(|e| open_err(&o, e))?;
            let done = migrate_to(&pool, upgrades, target)
                .await
                .map_err(|e| open_err(&o, e));
            super::on_pool!(&pool, p, _d => p.close().await);
            done
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_files_split_into_statements_without_comments() {
        for d in [SqlDialect::Postgres, SqlDialect::Mysql] {
            let st = statements(schema_text(d));
            assert!(st.len() >= 12, "{d:?}: {}", st.len());
            assert!(st.iter().all(|s| !s.contains("--")), "{d:?}");
            for table in [
                "access_tokens",
                "refresh_tokens",
                "authorization_codes",
                "used_tokens",
                "revocations",
                "clients",
                "users",
                "settings",
                "schema_version",
            ] {
                let create = format!("CREATE TABLE IF NOT EXISTS {table} (");
                assert!(st.iter().any(|s| s.starts_with(&create)), "{d:?} {table}");
            }
            assert!(
                schema_text(d).contains(&format!("Schema version {SCHEMA_VERSION}.")),
                "{d:?}: the file names its version"
            );
        }
    }

    #[test]
    fn a_schema_of_another_version_is_refused_naming_both() {
        assert_eq!(version_problem(Some(1), 1), None);
        let newer = version_problem(Some(99), 1).expect("refused");
        assert!(
            newer.contains("99") && newer.contains("version 1"),
            "{newer}"
        );
        let older = version_problem(Some(1), 2).expect("refused");
        assert!(
            older.contains("version 1") && older.contains("version 2"),
            "{older}"
        );
        assert!(older.contains("tessera migrate"), "{older}");
        let none = version_problem(None, 1).expect("refused");
        assert!(none.contains("tessera migrate"), "{none}");
    }
}
