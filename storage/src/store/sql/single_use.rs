//! Single-use keys across the cluster: the conditional claim that consumes a refresh token
//! or an authorization code (or records an assertion's id), and the check that recognises
//! a later reuse (`used_tokens`).
//!
//! The claim inserts the key into `used_tokens` and, in the same statement or transaction,
//! deletes the token it names. The primary key decides: of concurrent claims on any nodes
//! exactly one inserts (the others wait for its commit, then find the key). A remembered
//! use that has expired is taken over, so an id may be used again once its window passed.
//! - PostgreSQL: one statement, `INSERT ... ON CONFLICT DO UPDATE ... WHERE expired
//!   RETURNING` feeding `DELETE ... RETURNING` of the token rows.
//! - MySQL: one transaction at READ COMMITTED: a locked read of the remembered use, the
//!   insert (or the takeover of an expired use), the deletes, the commit. A deadlock
//!   between racing claims (not expected; see `claim_mysql`) is retried.
//!
//! Touches `used_tokens`, `refresh_tokens` and `authorization_codes`.

use super::tables::SINGLE_USE_TABLES;
use super::{on_pool, Inner, Pool};
use crate::key::TokenKey;
use crate::record::GrantId;
use crate::store::StoreError;
use sqlx::{Executor, Row};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Whole seconds now, rounded down: a remembered use is expired once this reaches its
/// `expires_at`.
fn now_secs() -> i64 {
    since_epoch().as_secs() as i64
}

/// The `expires_at` of a use claimed at `now` to be remembered `ttl_secs` (at least one):
/// rounded up, because the check reads the clock rounded down. Rounded down too, a use
/// claimed at 10.9 s for one second would expire at 11.0 s, a tenth of a second later.
fn remembered_until(now: Duration, ttl_secs: u32) -> i64 {
    let started = now.as_secs() as i64 + i64::from(now.subsec_nanos() > 0);
    started + i64::from(ttl_secs.max(1))
}

/// The PostgreSQL claim, one statement: the key inserted (or an expired use taken over),
/// and only then the token deleted from the tables of [`SINGLE_USE_TABLES`]. Binds: key,
/// grant, remembered until, now.
const CLAIM_POSTGRES: &str = "WITH claimed AS (\
       INSERT INTO used_tokens (token_hash, grant_id, expires_at) VALUES ($1, $2, $3) \
       ON CONFLICT (token_hash) DO UPDATE SET grant_id = EXCLUDED.grant_id, \
         expires_at = EXCLUDED.expires_at WHERE used_tokens.expires_at <= $4 \
       RETURNING token_hash), \
     a AS (DELETE FROM refresh_tokens WHERE token_hash IN (SELECT token_hash FROM claimed) RETURNING 1), \
     b AS (DELETE FROM authorization_codes WHERE token_hash IN (SELECT token_hash FROM claimed) RETURNING 1) \
     SELECT CAST(count(*) AS int8) FROM claimed";

/// MySQL's "deadlock found; try restarting the transaction".
const MYSQL_DEADLOCK: &str = "40001";

/// How often a MySQL claim that lost a deadlock is tried again.
const DEADLOCK_RETRIES: usize = 3;

impl Inner {
    /// `true` when this claim used `key` first.
    pub(super) async fn claim_use(
        &self,
        key: TokenKey,
        grant: GrantId,
        ttl_secs: u32,
    ) -> Result<bool, StoreError> {
        let k = key.as_bytes().as_slice();
        let g = grant.0 as i64;
        let clock = since_epoch();
        let now = clock.as_secs() as i64;
        let until = remembered_until(clock, ttl_secs);
        self.timed(async {
            let claimed = match &self.pool {
                Pool::Postgres(p) => sqlx::query(CLAIM_POSTGRES)
                    .bind(k)
                    .bind(g)
                    .bind(until)
                    .bind(now)
                    .fetch_one(p)
                    .await
                    .and_then(|row| row.try_get::<i64, _>(0))
                    .map(|n| n == 1),
                Pool::Mysql(p) => {
                    let mut attempt = 0;
                    loop {
                        match claim_mysql(p, k, g, until, now).await {
                            Err(sqlx::Error::Database(e))
                                if e.code().as_deref() == Some(MYSQL_DEADLOCK)
                                    && attempt < DEADLOCK_RETRIES =>
                            {
                                attempt += 1;
                            }
                            other => break other,
                        }
                    }
                }
            };
            claimed.map_err(|e| self.err(e))
        })
        .await
    }

    /// The grant of `key` if its use is remembered.
    pub(super) async fn used(&self, key: TokenKey) -> Result<Option<GrantId>, StoreError> {
        let k = key.as_bytes().as_slice();
        let now = now_secs();
        self.timed(async {
            let found: Result<Option<GrantId>, sqlx::Error> = on_pool!(&self.pool, p, d => {
                let sql = match d {
                    crate::store::SqlDialect::Postgres => {
                        "SELECT grant_id FROM used_tokens WHERE token_hash = $1 AND expires_at > $2"
                    }
                    crate::store::SqlDialect::Mysql => {
                        "SELECT grant_id FROM used_tokens WHERE token_hash = ? AND expires_at > ?"
                    }
                };
                match sqlx::query(sql).bind(k).bind(now).fetch_optional(p).await? {
                    Some(row) => Ok(Some(GrantId(row.try_get::<i64, _>(0)? as u64))),
                    None => Ok(None),
                }
            });
            found.map_err(|e| self.err(e))
        })
        .await
    }
}

/// One MySQL claim transaction: a locked read of the key's remembered use, then either an
/// insert (no use yet), a takeover (the use expired) or nothing (used). Reading with
/// `FOR UPDATE` first takes the row's exclusive lock at once: inserting first and updating
/// on a duplicate would take a shared lock and then ask for an exclusive one, which two
/// racing claims deadlock on.
async fn claim_mysql(
    pool: &sqlx::MySqlPool,
    key: &[u8],
    grant: i64,
    until: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let remembered =
        sqlx::query("SELECT expires_at FROM used_tokens WHERE token_hash = ? FOR UPDATE")
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
    let claimed = match remembered {
        Some(row) if row.try_get::<i64, _>(0)? > now => false,
        Some(_) => {
            sqlx::query("UPDATE used_tokens SET grant_id = ?, expires_at = ? WHERE token_hash = ?")
                .bind(grant)
                .bind(until)
                .bind(key)
                .execute(&mut *tx)
                .await?;
            true
        }
        // At READ COMMITTED the read locks no gap, so a racing claim may insert first: its
        // row then makes this insert a duplicate, and that claim won.
        None => match sqlx::query(
            "INSERT INTO used_tokens (token_hash, grant_id, expires_at) VALUES (?, ?, ?)",
        )
        .bind(key)
        .bind(grant)
        .bind(until)
        .execute(&mut *tx)
        .await
        {
            Ok(_) => true,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => false,
            Err(e) => return Err(e),
        },
    };
    if claimed {
        for table in SINGLE_USE_TABLES {
            let sql = format!("DELETE FROM {table} WHERE token_hash = ?");
            tx.execute(sqlx::query(&sql).bind(key)).await?;
        }
    }
    tx.commit().await?;
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_use_is_remembered_at_least_its_ttl_whatever_the_fraction_of_the_second() {
        let whole = Duration::from_secs(10);
        assert_eq!(remembered_until(whole, 1), 11);
        // Claimed at 10.9 s: held to 12, so 11.0 s (read as 11) still finds it.
        assert_eq!(remembered_until(whole + Duration::from_millis(900), 1), 12);
        assert_eq!(remembered_until(whole + Duration::from_nanos(1), 60), 71);
        // A zero TTL would forget the use at once.
        assert_eq!(remembered_until(whole, 0), 11);
    }

    #[test]
    fn the_postgres_claim_consumes_from_every_single_use_table() {
        for table in SINGLE_USE_TABLES {
            assert!(
                CLAIM_POSTGRES.contains(&format!("DELETE FROM {table} WHERE")),
                "{table}"
            );
        }
    }
}
