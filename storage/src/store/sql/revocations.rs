//! Reading the revocation log the other nodes poll (`revocations`): the entries written
//! after a moment, oldest first. (They are written by `super::writes`, in the transaction
//! of the deletes they announce.)
//!
//! Touches the `revocations` table, reading only.

use super::tables::key_of;
use super::{on_pool, Inner};
use crate::record::GrantId;
use crate::store::{Revocation, Revoked, SqlDialect, StoreError};
use sqlx::Row;

/// Most entries read per poll; a poll that gets this many reads again from the last one.
const MAX_ENTRIES: i64 = 100_000;

impl Inner {
    pub(super) async fn revocations_since(
        &self,
        since_ms: u64,
    ) -> Result<Vec<Revocation>, StoreError> {
        let since = i64::try_from(since_ms).unwrap_or(i64::MAX);
        self.timed(async {
            let read: Result<Vec<Revocation>, sqlx::Error> = on_pool!(&self.pool, p, d => {
                let sql = match d {
                    SqlDialect::Postgres => {
                        "SELECT at_ms, token_hash, grant_id FROM revocations \
                         WHERE at_ms > $1 ORDER BY at_ms LIMIT $2"
                    }
                    SqlDialect::Mysql => {
                        "SELECT at_ms, token_hash, grant_id FROM revocations \
                         WHERE at_ms > ? ORDER BY at_ms LIMIT ?"
                    }
                };
                let rows = sqlx::query(sql).bind(since).bind(MAX_ENTRIES).fetch_all(p).await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    let at: i64 = row.try_get(0)?;
                    let key: Option<&[u8]> = row.try_get(1)?;
                    let grant: Option<i64> = row.try_get(2)?;
                    let revoked = match (key.and_then(key_of), grant) {
                        (Some(k), _) => Revoked::Token(k),
                        (None, Some(g)) => Revoked::Grant(GrantId(g as u64)),
                        (None, None) => continue,
                    };
                    out.push(Revocation {
                        at_ms: at.max(0) as u64,
                        revoked,
                    });
                }
                Ok(out)
            });
            read.map_err(|e| self.err(e))
        })
        .await
    }
}
