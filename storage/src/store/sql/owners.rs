//! Revoking every token of a client or a user ([`SharedStore::revoke_owned`]): a scan of
//! the token tables, then the matching records' deletes through the ordinary write path,
//! so each revocation is logged for the running nodes, in the transaction that deletes it.
//!
//! Meant for rare administrative changes (a client or user removed, a password changed),
//! never the request path: it reads every live row (the owner is a column without an
//! index: indexing it would cost every token insert).
//!
//! Touches the token tables (through `reads`, then `writes`) and `revocations`.
//!
//! [`SharedStore::revoke_owned`]: crate::store::SharedStore::revoke_owned

use super::SqlStore;
use crate::store::{OwnedTokens, Owner, Store, StoreError};
use std::collections::HashSet;

/// Mutations per batch handed to [`Store::apply`], like a flush of the write-behind.
const CHUNK: usize = 512;

impl SqlStore {
    pub(super) fn revoke_tokens_of(
        &self,
        owner: Owner<'_>,
        which: OwnedTokens,
        now: u32,
    ) -> Result<u64, StoreError> {
        let mut batch = Vec::new();
        let mut grants = HashSet::new();
        let mut matched = 0;
        self.scan_tokens(now, &mut |key, token| {
            if owner.owns(&token) && which.revoke_record(key, &token, &mut batch, &mut grants) {
                matched += 1;
            }
        })?;
        for chunk in batch.chunks(CHUNK) {
            self.apply(chunk, true)?;
        }
        Ok(matched)
    }
}
