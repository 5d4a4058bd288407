//! The purge of expired rows ([`crate::store::Store::purge_expired`]): one node at a time,
//! in bounded batches that never stall token writes.
//!
//! - One node: the `purge` row of `leases`, taken or renewed with one conditional UPDATE
//!   (free, expired, or already ours). Every node's purge thread tries each interval; the
//!   others find it held and skip the round. A node that dies mid-purge holds it at most
//!   [`LEASE_MS`].
//! - Bounded: each statement deletes at most [`CHUNK`] rows, each in its own short
//!   transaction, so no lock is held for long. PostgreSQL picks the rows with
//!   `FOR UPDATE SKIP LOCKED` (a row another transaction holds — a claim, a revocation —
//!   is left for the next round); MySQL deletes `ORDER BY expires_at LIMIT`, at READ
//!   COMMITTED (set on every connection), which locks the rows it deletes and no gaps, so
//!   new tokens (expiring in the future, at the index's far end) insert freely.
//!
//! Touches the token tables, `used_tokens` and `revocations` (expired rows only), and the
//! `purge` lease.

use super::tables::{placeholders, TOKEN_TABLES};
use super::{now_ms, on_pool, Inner};
use crate::store::{SqlDialect, StoreError};

/// Rows per delete statement.
const CHUNK: usize = 1000;

/// How long a node holds the purge lease without renewing it; renewed before every chunk.
const LEASE_MS: i64 = 60_000;

/// How long revocation-log entries are kept: far longer than any node's poll lag.
const REVOCATION_LOG_MS: i64 = 86_400_000;

/// The tables purged, with their expiry column and the bound it is compared with.
fn purged_tables(now: u32, now_ms: i64) -> Vec<(&'static str, &'static str, i64)> {
    let mut tables: Vec<(&str, &str, i64)> = TOKEN_TABLES
        .iter()
        .map(|t| (t.name, "expires_at", i64::from(now)))
        .collect();
    tables.push(("used_tokens", "expires_at", i64::from(now)));
    tables.push(("revocations", "at_ms", now_ms - REVOCATION_LOG_MS));
    tables
}

impl Inner {
    /// Deletes up to `limit` expired rows if this node holds (or takes) the purge lease;
    /// 0 when another node holds it.
    pub(super) async fn purge_expired(&self, now: u32, limit: usize) -> Result<usize, StoreError> {
        let mut deleted = 0;
        let at = now_ms() as i64;
        for (table, column, bound) in purged_tables(now, at) {
            loop {
                let want = (limit - deleted).min(CHUNK);
                if want == 0 {
                    return Ok(deleted);
                }
                if !self.take_lease().await? {
                    return Ok(deleted);
                }
                let n = self
                    .timed(async {
                        self.delete_expired(table, column, bound, want)
                            .await
                            .map_err(|e| self.err(e))
                    })
                    .await?;
                deleted += n;
                if n < want {
                    break;
                }
            }
        }
        Ok(deleted)
    }

    /// Takes or renews the `purge` lease: `true` when this node holds it now.
    async fn take_lease(&self) -> Result<bool, StoreError> {
        let at = now_ms() as i64;
        self.timed(async {
            let held: Result<bool, sqlx::Error> = on_pool!(&self.pool, p, d => {
                let sql = placeholders(
                    d,
                    "UPDATE leases SET holder = ?, until_ms = ? \
                     WHERE name = 'purge' AND (holder = ? OR until_ms < ?)",
                );
                let n = sqlx::query(&sql)
                    .bind(&self.node)
                    .bind(at + LEASE_MS)
                    .bind(&self.node)
                    .bind(at)
                    .execute(p)
                    .await?
                    .rows_affected();
                Ok(n == 1)
            });
            held.map_err(|e| self.err(e))
        })
        .await
    }

    /// Deletes up to `limit` rows of `table` whose `column` is at most `bound`.
    async fn delete_expired(
        &self,
        table: &str,
        column: &str,
        bound: i64,
        limit: usize,
    ) -> Result<usize, sqlx::Error> {
        let key = if table == "revocations" {
            "id"
        } else {
            "token_hash"
        };
        let limit = limit as i64;
        on_pool!(&self.pool, p, d => {
            let sql = match d {
                SqlDialect::Postgres => format!(
                    "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} \
                     WHERE {column} <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"
                ),
                SqlDialect::Mysql => format!(
                    "DELETE FROM {table} WHERE {column} <= ? ORDER BY {column} LIMIT ?"
                ),
            };
            let done = sqlx::query(&sql).bind(bound).bind(limit).execute(p).await?;
            Ok(done.rows_affected() as usize)
        })
    }
}
