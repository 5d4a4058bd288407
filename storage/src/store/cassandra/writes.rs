//! The write path: one write-behind batch ([`Mutation`]s from the flusher) turned into CQL
//! writes, each with an explicit `USING TIMESTAMP`, then sent as unlogged batches or one
//! request each ([`WriteBatching`]). See the module's doc for why.
//!
//! Write timestamps do not depend on nodes' clocks agreeing. A token key is put once and
//! after that only deleted, so every delete must win over the put, wherever each was
//! written:
//! - a put (token row and grant link) is timestamped from the token itself:
//!   [`put_timestamp`] of its `issued_at`, the same on every node;
//! - a delete of a token is timestamped at least [`after_put`] of that: from the
//!   `issued_at` the deleting node holds in its record ([`Mutation::Delete`]), or for a
//!   grant's tokens from the write timestamps of the grant's links (read first);
//! - otherwise deletes take this node's write clock, increasing within and across flushes
//!   (`store.cassandra.test_clock_offset_ms` shifts that clock, for tests only).
//!
//! Touches the token tables, the `grants` links (read first for a grant delete's key set,
//! through [`Inner::grant_keys`]) and the `revocations` log (entries from [`revocations`]).

use super::reads::GrantLink;
use super::revocations::{self, BUCKET_MS};
use super::statements::Statements;
use super::{err, now_ms, real_now_secs, Inner, WriteBatching};
use crate::key::TokenKey;
use crate::record::{GrantId, TokenKind};
use crate::store::{codec, Mutation, Revoked, StoreError};
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Which prepared write a [`Pending`] runs.
#[derive(Debug, Clone, Copy)]
enum Which {
    Put(usize),
    Link,
    Delete(usize),
    DeleteGrant,
    Log,
}

impl Which {
    /// A delete or a revocation-log entry: written at no less than `ONE`.
    fn is_removal(self) -> bool {
        matches!(self, Which::Delete(_) | Which::DeleteGrant | Which::Log)
    }

    fn of(self, st: &Statements) -> &PreparedStatement {
        match self {
            Which::Put(t) => &st.put[t],
            Which::Link => &st.link,
            Which::Delete(t) => &st.delete[t],
            Which::DeleteGrant => &st.delete_grant,
            Which::Log => &st.log_revocation,
        }
    }
}

/// One write of a batch, waiting to be sent.
struct Pending {
    which: Which,
    values: Box<dyn SerializeRow + Send + Sync>,
}

impl Pending {
    fn new(which: Which, values: impl SerializeRow + Send + Sync + 'static) -> Pending {
        Pending {
            which,
            values: Box::new(values),
        }
    }
}

/// The write timestamp (µs) of a token's put: its `issued_at`, whichever node writes it.
fn put_timestamp(issued_at: u32) -> i64 {
    i64::from(issued_at) * 1_000_000
}

/// The least timestamp of a delete of a row put at `put_us`: a second later, so it also
/// wins over rows written before puts were timestamped by `issued_at` (then by the
/// writing node's clock at the flush, normally well within a second of issuance).
fn after_put(put_us: i64) -> i64 {
    put_us + 1_000_000
}

impl Inner {
    /// `n` increasing write timestamps (µs) from this node's write clock, starting after
    /// every earlier one.
    fn timestamps(&self, n: usize) -> i64 {
        let now = (now_ms() as i64 + self.test_clock_offset_ms) * 1000;
        let mut last = self.last_ts.load(Ordering::Relaxed);
        loop {
            let start = now.max(last + 1);
            match self.last_ts.compare_exchange_weak(
                last,
                start + n as i64,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return start,
                Err(seen) => last = seen,
            }
        }
    }

    pub(super) async fn apply(self: Arc<Self>, batch: Vec<Mutation>) -> Result<(), StoreError> {
        // Phase 1: the key sets of the grant deletes, with the timestamps of their puts.
        let mut grant_sets: HashMap<GrantId, Vec<GrantLink>> = HashMap::new();
        for m in &batch {
            if let Mutation::DeleteGrant { grant } = m {
                if !grant_sets.contains_key(grant) {
                    grant_sets.insert(*grant, self.grant_keys(*grant).await?);
                }
            }
        }
        // Phase 2: every write, concurrently. Deletes take their place in the batch on this
        // node's clock as timestamp, raised above the put of what they delete.
        let base = self.timestamps(batch.len());
        let real_now = real_now_secs();
        let at = now_ms();
        let bucket = (at / BUCKET_MS) as i64;
        let mut writes: Vec<Pending> = Vec::with_capacity(batch.len() * 2);
        let mut puts_so_far: Vec<(GrantId, TokenKey, i64)> = Vec::new();
        for (i, m) in batch.iter().enumerate() {
            let ts = base + i as i64;
            match m {
                Mutation::Put { key, token } => {
                    let ttl = token.expires_at.saturating_sub(real_now);
                    if ttl == 0 {
                        continue; // Already dead by the wall clock: nothing to keep.
                    }
                    let ttl = ttl.min(i32::MAX as u32) as i32;
                    let mut record = Vec::with_capacity(96);
                    codec::encode(token, &mut record);
                    // Records that are not tokens share the token tables (the record says
                    // its kind), each with the tokens of like lifetime, so a table's rows
                    // expire at similar ages: codes (minutes) with access tokens, sessions
                    // and consents (hours, days) with refresh tokens.
                    let table = match token.kind {
                        TokenKind::Access | TokenKind::Code => 0,
                        TokenKind::Refresh | TokenKind::Session | TokenKind::Consent => 1,
                        // Cassandra remembers used refresh tokens (and redeemed codes) in
                        // `used_tokens`, written by the lightweight-transaction claim
                        // before the use.
                        TokenKind::Used => continue,
                    };
                    let kind = token.kind as u8 as i8;
                    let k = key.as_bytes().to_vec();
                    let grant = token.grant.0 as i64;
                    let client = token.client.to_string();
                    let put_ts = put_timestamp(token.issued_at);
                    writes.push(Pending::new(
                        Which::Put(table),
                        (k.clone(), grant, client, record, ttl, put_ts),
                    ));
                    if !token.grant.is_none() {
                        let expires = i64::from(token.expires_at);
                        writes.push(Pending::new(
                            Which::Link,
                            (grant, k, kind, expires, ttl, put_ts),
                        ));
                        puts_so_far.push((token.grant, *key, put_ts));
                    }
                }
                Mutation::Delete { key, issued_at } => {
                    let ts = ts.max(after_put(put_timestamp(*issued_at)));
                    delete_token(&mut writes, key, ts);
                    writes.push(log(bucket, at, Revoked::Token(*key)));
                }
                Mutation::DeleteGrant { grant } => {
                    // Each token after its own put; the partition after every link.
                    let mut keys: HashMap<TokenKey, i64> = HashMap::new();
                    let stored = grant_sets.get(grant).map_or(&[][..], Vec::as_slice);
                    let linked = stored.iter().map(|l| (l.key, l.written_us));
                    let batched = puts_so_far
                        .iter()
                        .filter(|(g, _, _)| g == grant)
                        .map(|(_, k, put_ts)| (*k, *put_ts));
                    for (key, put_ts) in linked.chain(batched) {
                        let at_least = keys.entry(key).or_insert(put_ts);
                        *at_least = (*at_least).max(put_ts);
                    }
                    let mut partition_ts = ts;
                    for (key, put_ts) in &keys {
                        let key_ts = ts.max(after_put(*put_ts));
                        partition_ts = partition_ts.max(key_ts);
                        delete_token(&mut writes, key, key_ts);
                    }
                    writes.push(Pending::new(
                        Which::DeleteGrant,
                        (partition_ts, grant.0 as i64),
                    ));
                    writes.push(log(bucket, at, Revoked::Grant(*grant)));
                }
            }
        }
        self.send(&writes).await
    }

    /// Sends `writes` the configured way and waits for every acknowledgement.
    async fn send(&self, writes: &[Pending]) -> Result<(), StoreError> {
        let results = match self.batching {
            WriteBatching::Concurrent => {
                futures_util::future::join_all(writes.iter().map(|w| {
                    self.session
                        .execute_unpaged(w.which.of(&self.st), &w.values)
                }))
                .await
            }
            WriteBatching::Unlogged(size) => {
                let batches: Vec<(Batch, Vec<&(dyn SerializeRow + Send + Sync)>)> = writes
                    .chunks(size.max(1))
                    .map(|chunk| {
                        let mut batch = Batch::new(BatchType::Unlogged);
                        // A batch's level overrides its statements': one holding a removal
                        // must not be acknowledged as a hint.
                        let removal = chunk.iter().any(|w| w.which.is_removal());
                        batch.set_consistency(if removal {
                            self.removal_consistency
                        } else {
                            self.write_consistency
                        });
                        for w in chunk {
                            batch.append_statement(w.which.of(&self.st).clone());
                        }
                        (batch, chunk.iter().map(|w| &*w.values).collect())
                    })
                    .collect();
                futures_util::future::join_all(
                    batches
                        .iter()
                        .map(|(batch, values)| self.session.batch(batch, values)),
                )
                .await
            }
        };
        for result in results {
            result.map_err(err)?;
        }
        Ok(())
    }
}

/// The revocation-log entry for `revoked`, at `at` (ms) in `bucket`.
fn log(bucket: i64, at: u64, revoked: Revoked) -> Pending {
    Pending::new(
        Which::Log,
        (bucket, at as i64, revocations::target(revoked)),
    )
}

/// Deletes `key` from both token tables (a delete does not say which kind it was).
fn delete_token(writes: &mut Vec<Pending>, key: &TokenKey, ts: i64) {
    for table in 0..2 {
        writes.push(Pending::new(
            Which::Delete(table),
            (ts, key.as_bytes().to_vec()),
        ));
    }
}
