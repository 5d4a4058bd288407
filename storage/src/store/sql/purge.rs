//! The purge of expired rows ([`crate::store::Store::purge_expired`]): one node at a time,
//! in bounded batches that never stall token writes.
//!
//! - One node: the `purge` row of `leases`, taken or renewed with one conditional UPDATE
//!   (free, expired, or already ours). Every node's purge thread tries each interval; the
//!   others find it held and skip the round. A node that dies mid-purge holds it at most
//!   [`LEASE_MS`].
//! - Bounded: each statement deletes at most [`CHUNK`] rows, each in its own short
//!   transaction, so no lock is held for long, and a chunk is followed by a pause as long
//!   as it took, so the purge leaves at least half the database's time to token writes.
//! - Never waiting: the rows are picked `FOR UPDATE SKIP LOCKED` (PostgreSQL in the
//!   delete's subquery; MySQL by a locked read, then the delete, in one transaction at READ
//!   COMMITTED, so no gap is locked and new tokens insert freely). A row another
//!   transaction holds — an insert not yet committed, a claim — is left for the next round.
//!   A purge that waited for locks would hold pooled connections the write-behind needs:
//!   measured, that stalled issuance (bench/RESULTS.md, "SQL purge").
//!
//! Touches the token tables, `used_tokens` and `revocations` (expired rows only), and the
//! `purge` lease.

use super::tables::{placeholders, TOKEN_TABLES};
use super::{now_ms, on_pool, Inner, Pool};
use crate::store::StoreError;
use sqlx::Row;

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
                let started = tokio::time::Instant::now();
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
                // As long again idle: the purge takes at most half of the database's time
                // away from token writes, however many rows have expired.
                tokio::time::sleep(started.elapsed()).await;
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

    /// Deletes up to `limit` rows of `table` whose `column` is at most `bound`, skipping
    /// rows another transaction holds (an insert not yet committed, a claim): the purge
    /// never waits for a lock, so it never holds a pooled connection the write-behind needs.
    async fn delete_expired(
        &self,
        table: &str,
        column: &str,
        bound: i64,
        limit: usize,
    ) -> Result<usize, sqlx::Error> {
        let limit = limit as i64;
        match &self.pool {
            Pool::Postgres(p) => {
                let key = if table == "revocations" {
                    "id"
                } else {
                    "token_hash"
                };
                let sql = format!(
                    "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} \
                     WHERE {column} <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"
                );
                let done = sqlx::query(&sql).bind(bound).bind(limit).execute(p).await?;
                Ok(done.rows_affected() as usize)
            }
            // MySQL cannot select from the table it deletes from in one statement: a locked
            // read picks the rows, then the delete takes exactly those, in one transaction.
            // The delete is driven from the picked keys (a derived table joined to the
            // primary key, `STRAIGHT_JOIN` so in that order): `WHERE key IN (...)` over a
            // small table is planned as a full scan, which waits for every locked row.
            Pool::Mysql(p) => {
                let key = if table == "revocations" {
                    "id"
                } else {
                    "token_hash"
                };
                let mut tx = p.begin().await?;
                let sql = format!(
                    "SELECT {key} FROM {table} WHERE {column} <= ? ORDER BY {column} LIMIT ? \
                     FOR UPDATE SKIP LOCKED"
                );
                let rows = sqlx::query(&sql)
                    .bind(bound)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                if !rows.is_empty() {
                    let mut q = sqlx::QueryBuilder::new("DELETE t FROM (");
                    for (i, row) in rows.iter().enumerate() {
                        q.push(if i == 0 {
                            "SELECT "
                        } else {
                            " UNION ALL SELECT "
                        });
                        if key == "id" {
                            q.push_bind(row.try_get::<i64, _>(0)?);
                        } else {
                            q.push_bind(row.try_get::<Vec<u8>, _>(0)?);
                        }
                        q.push(" AS k");
                    }
                    q.push(format!(
                        ") AS d STRAIGHT_JOIN {table} AS t ON t.{key} = d.k"
                    ));
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(rows.len())
            }
        }
    }
}
