//! Revoking every token of a client or a user ([`SharedStore::revoke_owned`]): a full scan
//! of both token tables, then the matching tokens' deletes through the ordinary write path.
//! The owner's codes, sessions and consents (in the same tables) go the same way.
//!
//! Cost: one read of every live token row (paged, as start-up recovery reads them; the
//! owner is inside the record, so no index can narrow it), and two deletes plus a log
//! entry per matching token (for a refresh token also its grant's links and partition).
//! The keys found are held in memory (about 40 bytes each) until they are deleted. Meant
//! for rare administrative changes, never the request path.
//!
//! Going through [`Inner::apply`] (`super::writes`) gives the deletes what a revocation on a
//! node gets: write timestamps after the tokens' puts whatever the clocks, a level that is
//! never a hint, the grant cascade over its stored links, and revocation-log entries that
//! make running nodes drop the tokens from memory.
//!
//! Touches the token tables (reading, then deleting), `grants` and `revocations` (through
//! `super::writes`).
//!
//! [`SharedStore::revoke_owned`]: crate::store::SharedStore::revoke_owned

use super::CassandraStore;
use crate::store::{OwnedTokens, Owner, Store, StoreError};
use std::collections::HashSet;

/// Mutations per write-behind-sized batch handed to [`Store::apply`]: bounds the requests
/// in flight at once, like a flush of the write-behind.
const CHUNK: usize = 512;

impl CassandraStore {
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
