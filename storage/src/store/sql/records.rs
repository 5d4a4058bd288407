//! The clients and users kept in the database (`tessera client add|remove`, `tessera user
//! add|remove`), read by every node, and the shared settings (the OpenID Connect signing
//! keys), written only by compare-and-set.
//!
//! Touches `clients`, `users` and `settings`.

use super::tables::{placeholders, text};
use super::{now_ms, on_pool, Inner};
use crate::store::{SqlDialect, StoreError};
use sqlx::Row;

/// Which administrative table.
#[derive(Debug, Clone, Copy)]
pub(super) enum Admin {
    Clients,
    Users,
}

impl Admin {
    fn table(self) -> &'static str {
        match self {
            Admin::Clients => "clients",
            Admin::Users => "users",
        }
    }

    fn id_column(self) -> &'static str {
        match self {
            Admin::Clients => "id",
            Admin::Users => "username",
        }
    }
}

impl Inner {
    pub(super) async fn list_specs(
        &self,
        which: Admin,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.timed(async {
            let read: Result<Vec<(String, String)>, sqlx::Error> = on_pool!(&self.pool, p, d => {
                let id = which.id_column();
                let sql = format!(
                    "SELECT {}, {} FROM {} ORDER BY {id}",
                    text(d, id),
                    text(d, "spec"),
                    which.table(),
                );
                let rows = sqlx::query(&sql).fetch_all(p).await?;
                rows.iter()
                    .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)))
                    .collect()
            });
            read.map_err(|e| self.err(e))
        })
        .await
    }

    pub(super) async fn put_spec(
        &self,
        which: Admin,
        id: &str,
        spec: &str,
    ) -> Result<(), StoreError> {
        let (table, col) = (which.table(), which.id_column());
        let at = now_ms() as i64;
        self.timed(async {
            let done: Result<(), sqlx::Error> = on_pool!(&self.pool, p, d => {
                let sql = match d {
                    SqlDialect::Postgres => format!(
                        "INSERT INTO {table} ({col}, spec, updated_at_ms) VALUES ($1, $2, $3) \
                         ON CONFLICT ({col}) DO UPDATE SET spec = EXCLUDED.spec, \
                         updated_at_ms = EXCLUDED.updated_at_ms"
                    ),
                    SqlDialect::Mysql => format!(
                        "INSERT INTO {table} ({col}, spec, updated_at_ms) VALUES (?, ?, ?) \
                         ON DUPLICATE KEY UPDATE spec = VALUES(spec), updated_at_ms = VALUES(updated_at_ms)"
                    ),
                };
                sqlx::query(&sql).bind(id).bind(spec).bind(at).execute(p).await.map(|_| ())
            });
            done.map_err(|e| self.err(e))
        })
        .await
    }

    /// Stores `spec` under `id` unless there is a record: the primary key decides, so of
    /// creators racing on any nodes exactly one inserts.
    pub(super) async fn create_spec(
        &self,
        which: Admin,
        id: &str,
        spec: &str,
    ) -> Result<bool, StoreError> {
        let (table, col) = (which.table(), which.id_column());
        let at = now_ms() as i64;
        self.timed(async {
            let done: Result<u64, sqlx::Error> = on_pool!(&self.pool, p, d => {
                let sql = match d {
                    SqlDialect::Postgres => format!(
                        "INSERT INTO {table} ({col}, spec, updated_at_ms) VALUES ($1, $2, $3) \
                         ON CONFLICT ({col}) DO NOTHING"
                    ),
                    SqlDialect::Mysql => format!(
                        "INSERT IGNORE INTO {table} ({col}, spec, updated_at_ms) VALUES (?, ?, ?)"
                    ),
                };
                sqlx::query(&sql).bind(id).bind(spec).bind(at).execute(p).await.map(|r| r.rows_affected())
            });
            done.map(|n| n == 1).map_err(|e| self.err(e))
        })
        .await
    }

    /// Replaces the spec of `id` with `new` if it is still `old`: the row's lock decides,
    /// so an update racing a removal or another update on any node finds the row gone or
    /// changed and writes nothing. `updated_at_ms` always moves (`GREATEST`), so MariaDB,
    /// which counts changed rather than matched rows, counts the row even when `new` is
    /// `old` within one millisecond.
    pub(super) async fn replace_spec(
        &self,
        which: Admin,
        id: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE {} SET spec = ?, updated_at_ms = GREATEST(updated_at_ms + 1, ?) \
             WHERE {} = ? AND spec = ?",
            which.table(),
            which.id_column()
        );
        let at = now_ms() as i64;
        self.timed(async {
            let done: Result<bool, sqlx::Error> = on_pool!(&self.pool, p, d => {
                let sql = placeholders(d, &sql);
                Ok(sqlx::query(&sql)
                    .bind(new)
                    .bind(at)
                    .bind(id)
                    .bind(old)
                    .execute(p)
                    .await?
                    .rows_affected()
                    == 1)
            });
            done.map_err(|e| self.err(e))
        })
        .await
    }

    /// Whether there was such a record.
    pub(super) async fn remove_spec(&self, which: Admin, id: &str) -> Result<bool, StoreError> {
        let sql = format!(
            "DELETE FROM {} WHERE {} = ?",
            which.table(),
            which.id_column()
        );
        self.timed(async {
            let done: Result<bool, sqlx::Error> = on_pool!(&self.pool, p, d => {
                let sql = placeholders(d, &sql);
                Ok(sqlx::query(&sql).bind(id).execute(p).await?.rows_affected() > 0)
            });
            done.map_err(|e| self.err(e))
        })
        .await
    }

    pub(super) async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.timed(async {
            let read: Result<Option<String>, sqlx::Error> = on_pool!(&self.pool, p, d => {
                let sql = placeholders(
                    d,
                    &format!("SELECT {} FROM settings WHERE name = ?", text(d, "value")),
                );
                match sqlx::query(&sql).bind(name).fetch_optional(p).await? {
                    Some(row) => Ok(Some(row.try_get::<String, _>(0)?)),
                    None => Ok(None),
                }
            });
            read.map_err(|e| self.err(e))
        })
        .await
    }

    /// Compare-and-set: a plain insert when `expected` is `None` (the primary key lets
    /// exactly one of racing inserts in), else an update conditional on the current value
    /// (the row lock serialises racing updates; the first changes the value, so the others
    /// match nothing). Rows are counted as matched, not changed, by both drivers.
    pub(super) async fn put_setting_if(
        &self,
        name: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StoreError> {
        self.timed(async {
            let done: Result<bool, sqlx::Error> = on_pool!(&self.pool, p, d => {
                match expected {
                    None => {
                        let sql = placeholders(
                            d,
                            "INSERT INTO settings (name, value, revision) VALUES (?, ?, 1)",
                        );
                        match sqlx::query(&sql).bind(name).bind(value).execute(p).await {
                            Ok(_) => Ok(true),
                            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
                            Err(e) => Err(e),
                        }
                    }
                    Some(expected) => {
                        let sql = placeholders(
                            d,
                            "UPDATE settings SET value = ?, revision = revision + 1 \
                             WHERE name = ? AND value = ?",
                        );
                        let n = sqlx::query(&sql)
                            .bind(value)
                            .bind(name)
                            .bind(expected)
                            .execute(p)
                            .await?
                            .rows_affected();
                        Ok(n == 1)
                    }
                }
            });
            done.map_err(|e| self.err(e))
        })
        .await
    }
}
