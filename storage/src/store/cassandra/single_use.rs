//! Single-use tokens across the cluster: the lightweight-transaction claim of a used
//! refresh token and the check that recognises a later reuse (`used_tokens`).
//!
//! Touches only the `used_tokens` table, on the store's runtime.

use super::{err, Inner};
use crate::key::TokenKey;
use crate::record::GrantId;
use crate::store::StoreError;
use scylla::response::query_result::QueryResult;
use scylla::value::{CqlValue, Row};

impl Inner {
    /// `true` when this `INSERT ... IF NOT EXISTS` was applied: the first use of `key`.
    pub(super) async fn claim_use(
        &self,
        key: TokenKey,
        grant: GrantId,
        ttl_secs: u32,
    ) -> Result<bool, StoreError> {
        // A TTL of 0 would keep the row for ever; an expired token is refused before this.
        // Cassandra counts the TTL from the write's second rounded down, so one more second
        // keeps the use at least `ttl_secs`.
        let ttl = i32::try_from(ttl_secs.max(1).saturating_add(1)).unwrap_or(i32::MAX);
        let result = self
            .session
            .execute_unpaged(
                &self.st.claim_use,
                (key.as_bytes().as_slice(), grant.0 as i64, ttl),
            )
            .await
            .map_err(err)?;
        applied(result)
    }

    /// The grant of `key` if its use is remembered.
    pub(super) async fn used(&self, key: TokenKey) -> Result<Option<GrantId>, StoreError> {
        let rows = self
            .session
            .execute_unpaged(&self.st.select_used, (key.as_bytes().as_slice(),))
            .await
            .map_err(err)?
            .into_rows_result()
            .map_err(err)?;
        Ok(rows
            .maybe_first_row::<(Option<i64>,)>()
            .map_err(err)?
            .map(|(grant,)| GrantId(grant.unwrap_or(0) as u64)))
    }
}

/// Whether a conditional statement (a lightweight transaction) was applied: the
/// `[applied]` column of its answer.
pub(super) fn applied(result: QueryResult) -> Result<bool, StoreError> {
    let rows = result.into_rows_result().map_err(err)?;
    // The first column of a conditional statement's row is `[applied]`; a refused one
    // also carries the existing row, so the row is read untyped.
    match rows.maybe_first_row::<Row>().map_err(err)? {
        Some(row) => match row.columns.first() {
            Some(Some(CqlValue::Boolean(applied))) => Ok(*applied),
            other => Err(StoreError::Io {
                backend: "cassandra",
                message: format!("unexpected answer to a conditional statement: {other:?}"),
            }),
        },
        None => Err(StoreError::Io {
            backend: "cassandra",
            message: "no answer to a conditional statement".to_owned(),
        }),
    }
}
