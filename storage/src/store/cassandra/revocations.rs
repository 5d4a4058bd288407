//! The revocation log the other nodes poll (`revocations` table, minute buckets): how an
//! entry names a revoked token or grant ([`target`]) and its bucket ([`BUCKET_MS`]), and
//! reading the entries since a moment back ([`Inner::revocations_since`]).
//!
//! Reads the `revocations` table only. The entries are written by `super::writes`, in the
//! same batch as the deletes they announce; this file does not depend on it.

use super::{err, now_ms, Inner};
use crate::key::TokenKey;
use crate::record::GrantId;
use crate::store::{Revocation, Revoked, StoreError};
use futures_util::StreamExt;

const TAG_TOKEN: u8 = 1;
const TAG_GRANT: u8 = 2;
pub(super) const BUCKET_MS: u64 = 60_000;

/// The revocation-log `target` of `revoked`: a tag byte, then the token key or the grant id.
pub(super) fn target(revoked: Revoked) -> Vec<u8> {
    let mut target = Vec::with_capacity(17);
    match revoked {
        Revoked::Token(k) => {
            target.push(TAG_TOKEN);
            target.extend_from_slice(k.as_bytes());
        }
        Revoked::Grant(g) => {
            target.push(TAG_GRANT);
            target.extend_from_slice(&g.0.to_be_bytes());
        }
    }
    target
}

impl Inner {
    pub(super) async fn revocations_since(
        &self,
        since_ms: u64,
    ) -> Result<Vec<Revocation>, StoreError> {
        let now = now_ms();
        let mut out = Vec::new();
        let first = since_ms / BUCKET_MS;
        // A bucket past our own clock too, for nodes whose clocks run ahead.
        let last = now / BUCKET_MS + 1;
        for bucket in first..=last.max(first) {
            let mut rows = self
                .session
                .execute_iter(
                    self.st.revocations.clone(),
                    (bucket as i64, since_ms as i64),
                )
                .await
                .map_err(err)?
                .rows_stream::<(i64, Vec<u8>)>()
                .map_err(err)?;
            while let Some(row) = rows.next().await {
                let (at, target) = row.map_err(err)?;
                let revoked = match (target.first(), target.get(1..)) {
                    (Some(&TAG_TOKEN), Some(rest)) => match <[u8; 16]>::try_from(rest) {
                        Ok(b) => Revoked::Token(TokenKey::from_bytes(b)),
                        Err(_) => continue,
                    },
                    (Some(&TAG_GRANT), Some(rest)) => match <[u8; 8]>::try_from(rest) {
                        Ok(b) => Revoked::Grant(GrantId(u64::from_be_bytes(b))),
                        Err(_) => continue,
                    },
                    _ => continue,
                };
                out.push(Revocation {
                    at_ms: at.max(0) as u64,
                    revoked,
                });
            }
        }
        Ok(out)
    }
}
