//! The write path: one write-behind batch ([`Mutation`]s from the flusher) as a few
//! multi-row statements in one transaction — a round trip per table touched, not per
//! token — committed before [`crate::store::Store::apply`] returns.
//!
//! Order: a batch is applied as if in order, but run as "every delete, then every insert"
//! ([`Plan`]). That is the same thing because a token key is put once: a put followed in
//! the batch by a delete of its key or of its grant is left out (its row would be deleted
//! at once), and a put after a grant delete is inserted after it, as it should be.
//! Inserts skip a key already present (`ON CONFLICT DO NOTHING` / `ON DUPLICATE KEY`), so
//! a batch the flusher retries after a lost commit acknowledgement applies again cleanly.
//!
//! Touches the token tables and `revocations` (one entry per deleted token or grant, in the
//! same transaction as the delete, so no node learns of a revocation that was rolled back).

use super::tables::{table_of, Table, COLUMNS, TOKEN_TABLES};
use super::{now_ms, on_pool, Inner};
use crate::key::TokenKey;
use crate::record::GrantId;
use crate::store::{Mutation, SqlDialect, StoreError, StoredToken};
use std::collections::HashSet;

/// Most rows in one statement. Chunks are padded to a power of two (see [`padded`]) so
/// each connection prepares few distinct texts.
const MAX_ROWS: usize = 256;

/// Rows a write-behind batch may write per `request_timeout`: the flusher's batches reach
/// 8192 mutations after an outage, which a slow database may take seconds to write.
const ROWS_PER_TIMEOUT: usize = 1024;

/// A batch as the statements that apply it.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Plan<'a> {
    /// Keys deleted from every token table.
    pub deleted_keys: Vec<&'a TokenKey>,
    /// Grants whose tokens are deleted from every token table.
    pub deleted_grants: Vec<i64>,
    /// Revocation-log entries: a token's key or a grant.
    pub log: Vec<(Option<&'a TokenKey>, Option<i64>)>,
    /// Rows to insert, per [`TOKEN_TABLES`] entry.
    pub puts: [Vec<(&'a TokenKey, &'a StoredToken)>; 5],
}

impl<'a> Plan<'a> {
    pub(super) fn of(batch: &'a [Mutation]) -> Plan<'a> {
        let mut plan = Plan::default();
        // Walking backwards, the keys and grants deleted later in the batch are known when
        // a put is reached.
        let mut later_keys: HashSet<&TokenKey> = HashSet::new();
        let mut later_grants: HashSet<GrantId> = HashSet::new();
        for m in batch.iter().rev() {
            match m {
                Mutation::Put { key, token } => {
                    let deleted_later = later_keys.contains(key)
                        || (!token.grant.is_none() && later_grants.contains(&token.grant));
                    if let (false, Some(t)) = (deleted_later, table_of(token.kind)) {
                        plan.puts[t].push((key, token));
                    }
                }
                Mutation::Delete { key, .. } => {
                    if later_keys.insert(key) {
                        plan.deleted_keys.push(key);
                    }
                    plan.log.push((Some(key), None));
                }
                Mutation::DeleteGrant { grant } => {
                    if later_grants.insert(*grant) && !grant.is_none() {
                        plan.deleted_grants.push(grant.0 as i64);
                    }
                    plan.log.push((None, Some(grant.0 as i64)));
                }
            }
        }
        for rows in &mut plan.puts {
            rows.reverse();
        }
        plan.deleted_keys.reverse();
        plan.deleted_grants.reverse();
        plan.log.reverse();
        plan
    }

    pub(super) fn is_empty(&self) -> bool {
        self.log.is_empty() && self.puts.iter().all(Vec::is_empty)
    }
}

/// `items` in chunks of at most [`MAX_ROWS`], each padded to a power of two by repeating
/// its last item (harmless: a key twice in an `IN` list, a row inserted twice of which the
/// second is skipped, a revocation announced twice).
fn padded<T: Copy>(items: &[T]) -> impl Iterator<Item = Vec<T>> + '_ {
    items.chunks(MAX_ROWS).map(|chunk| {
        let mut v = chunk.to_vec();
        if let Some(&last) = chunk.last() {
            v.resize(chunk.len().next_power_of_two(), last);
        }
        v
    })
}

/// The clause that makes an insert skip an existing key.
fn skip_existing(d: SqlDialect) -> &'static str {
    match d {
        SqlDialect::Postgres => " ON CONFLICT (token_hash) DO NOTHING",
        SqlDialect::Mysql => " ON DUPLICATE KEY UPDATE token_hash = token_hash",
    }
}

impl Inner {
    pub(super) async fn apply(&self, batch: &[Mutation]) -> Result<(), StoreError> {
        let plan = Plan::of(batch);
        if plan.is_empty() {
            return Ok(());
        }
        let at_ms = now_ms() as i64;
        // One request_timeout per ROWS_PER_TIMEOUT rows written.
        let rows = plan.log.len() + plan.puts.iter().map(Vec::len).sum::<usize>();
        let times = u32::try_from(1 + rows / ROWS_PER_TIMEOUT).unwrap_or(u32::MAX);
        self.timed_times(times, async {
            self.run_plan(&plan, at_ms).await.map_err(|e| self.err(e))
        })
        .await
    }

    async fn run_plan(&self, plan: &Plan<'_>, at_ms: i64) -> Result<(), sqlx::Error> {
        on_pool!(&self.pool, p, d => {
            let mut tx = p.begin().await?;
            for Table { name, .. } in TOKEN_TABLES {
                for keys in padded(&plan.deleted_keys) {
                    let mut q = sqlx::QueryBuilder::new(format!(
                        "DELETE FROM {name} WHERE token_hash IN ("
                    ));
                    let mut list = q.separated(", ");
                    for k in keys {
                        list.push_bind(k.as_bytes().as_slice());
                    }
                    q.push(")");
                    q.build().execute(&mut *tx).await?;
                }
                for grants in padded(&plan.deleted_grants) {
                    let mut q = sqlx::QueryBuilder::new(format!(
                        "DELETE FROM {name} WHERE grant_id IN ("
                    ));
                    let mut list = q.separated(", ");
                    for g in grants {
                        list.push_bind(g);
                    }
                    q.push(")");
                    q.build().execute(&mut *tx).await?;
                }
            }
            for entries in padded(&plan.log) {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO revocations (at_ms, token_hash, grant_id) ",
                );
                q.push_values(entries, |mut row, (key, grant)| {
                    row.push_bind(at_ms)
                        .push_bind(key.map(|k| k.as_bytes().as_slice()))
                        .push_bind(grant);
                });
                q.build().execute(&mut *tx).await?;
            }
            for (table, rows) in TOKEN_TABLES.iter().zip(&plan.puts) {
                for rows in padded(rows) {
                    let mut q = sqlx::QueryBuilder::new(format!(
                        "INSERT INTO {} ({COLUMNS}) ",
                        table.name
                    ));
                    q.push_values(rows, |mut row, (key, t)| {
                        row.push_bind(key.as_bytes().as_slice())
                            .push_bind(t.grant.0 as i64)
                            .push_bind(&*t.client)
                            .push_bind(t.user.as_deref())
                            .push_bind(&*t.scope)
                            .push_bind(t.meta.as_deref())
                            .push_bind(i64::from(t.issued_at))
                            .push_bind(i64::from(t.expires_at));
                    });
                    q.push(skip_existing(d));
                    q.build().execute(&mut *tx).await?;
                }
            }
            tx.commit().await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TokenKind;
    use std::sync::Arc;

    fn put(n: u8, kind: TokenKind, grant: u64) -> Mutation {
        Mutation::Put {
            key: TokenKey::from_bytes([n; 16]),
            token: StoredToken {
                kind,
                grant: GrantId(grant),
                client: Arc::from("c"),
                user: None,
                scope: Arc::from(""),
                meta: None,
                issued_at: 1,
                expires_at: 2,
            },
        }
    }

    fn keys(rows: &[(&TokenKey, &StoredToken)]) -> Vec<u8> {
        rows.iter().map(|(k, _)| k.as_bytes()[0]).collect()
    }

    #[test]
    fn a_put_deleted_later_in_the_batch_is_left_out_and_a_put_after_a_grant_delete_kept() {
        let batch = vec![
            put(1, TokenKind::Access, 7),
            put(2, TokenKind::Refresh, 0),
            Mutation::Delete {
                key: TokenKey::from_bytes([2; 16]),
                issued_at: 1,
            },
            Mutation::DeleteGrant { grant: GrantId(7) },
            put(3, TokenKind::Access, 7),
            put(4, TokenKind::Used, 9),
            put(5, TokenKind::Code, 9),
        ];
        let plan = Plan::of(&batch);
        assert_eq!(keys(&plan.puts[0]), vec![3]);
        assert!(plan.puts[1].is_empty());
        assert_eq!(keys(&plan.puts[2]), vec![5]);
        assert_eq!(plan.deleted_grants, vec![7]);
        assert_eq!(plan.deleted_keys.len(), 1);
        assert_eq!(plan.log.len(), 2);
        assert!(!plan.is_empty());
    }

    #[test]
    fn only_used_markers_make_an_empty_plan() {
        let batch = vec![put(4, TokenKind::Used, 9)];
        assert!(Plan::of(&batch).is_empty());
    }

    #[test]
    fn chunks_are_padded_to_a_power_of_two_and_bounded() {
        let items: Vec<u32> = (0..600).collect();
        let sizes: Vec<usize> = padded(&items).map(|c| c.len()).collect();
        assert_eq!(sizes, vec![256, 256, 128]);
        let last = padded(&items).last().expect("a chunk");
        assert_eq!(last[87], 599);
        assert_eq!(last[127], 599);
        assert_eq!(padded(&[1u8; 0]).count(), 0);
    }
}
