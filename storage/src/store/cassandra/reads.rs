//! Token reads: one token by key (for [`crate::store::Store::get`] and the non-blocking
//! read-through lookup), the token keys linked to a grant, and the full scan of both token
//! tables that start-up recovery runs.
//!
//! Touches the token tables and the `grants` links, reading only.

use super::{err, CassandraStore, Inner};
use crate::key::TokenKey;
use crate::record::GrantId;
use crate::store::{codec, StoreError, StoredToken, TokenView};
use futures_util::StreamExt;
use std::sync::Arc;

/// One row of a grant's partition in `grants`.
pub(super) struct GrantLink {
    pub(super) key: TokenKey,
    pub(super) expires: i64,
    /// The row's write timestamp (µs).
    pub(super) written_us: i64,
}

impl Inner {
    pub(super) async fn get(
        &self,
        key: TokenKey,
        now: u32,
    ) -> Result<Option<StoredToken>, StoreError> {
        let k = key.as_bytes().as_slice();
        let (a, r) = tokio::join!(
            self.session.execute_unpaged(&self.st.get[0], (k,)),
            self.session.execute_unpaged(&self.st.get[1], (k,)),
        );
        for result in [a, r] {
            let rows = result.map_err(err)?.into_rows_result().map_err(err)?;
            if let Some((record,)) = rows.maybe_first_row::<(Vec<u8>,)>().map_err(err)? {
                let view = codec::decode(&record)?;
                if view.is_live(now) {
                    return Ok(Some(view.to_owned_token()));
                }
            }
        }
        Ok(None)
    }

    /// The links of `grant`: each token's key, expiry and the link's write timestamp
    /// (µs; that of the token's put), which a grant delete must come after.
    pub(super) async fn grant_keys(&self, grant: GrantId) -> Result<Vec<GrantLink>, StoreError> {
        let mut rows = self
            .session
            .execute_iter(self.st.select_grant.clone(), (grant.0 as i64,))
            .await
            .map_err(err)?
            .rows_stream::<(Vec<u8>, i64, Option<i64>)>()
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await {
            let (key, expires, written) = row.map_err(err)?;
            if let Ok(bytes) = <[u8; 16]>::try_from(key.as_slice()) {
                out.push(GrantLink {
                    key: TokenKey::from_bytes(bytes),
                    expires,
                    written_us: written.unwrap_or(0),
                });
            }
        }
        Ok(out)
    }

    /// The keys of the live tokens of `grant`.
    pub(super) async fn grant_tokens(
        &self,
        grant: GrantId,
        now: u32,
    ) -> Result<Vec<TokenKey>, StoreError> {
        let mut live = Vec::new();
        for link in self.grant_keys(grant).await? {
            // The link may outlive a token deleted on its own: check the token.
            if link.expires > i64::from(now) && self.get(link.key, now).await?.is_some() {
                live.push(link.key);
            }
        }
        Ok(live)
    }
}

impl CassandraStore {
    /// [`crate::store::Store::scan_live`]: every live token of both token tables, `visit`ed
    /// on the calling thread.
    pub(super) fn scan_tokens(
        &self,
        now: u32,
        visit: &mut dyn FnMut(TokenKey, TokenView<'_>),
    ) -> Result<u64, StoreError> {
        // Pages come over a channel so `visit` runs on this thread, not the driver's.
        let (tx, rx) =
            std::sync::mpsc::sync_channel::<Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError>>(4);
        let inner = Arc::clone(&self.inner);
        self.runtime.spawn(async move {
            for table in 0..2 {
                let pager = match inner
                    .session
                    .execute_iter(inner.st.scan[table].clone(), ())
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(err(e)));
                        return;
                    }
                };
                let mut rows = match pager.rows_stream::<(Vec<u8>, Vec<u8>)>() {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = tx.send(Err(err(e)));
                        return;
                    }
                };
                let mut page = Vec::with_capacity(1024);
                while let Some(row) = rows.next().await {
                    match row {
                        Ok(r) => page.push(r),
                        Err(e) => {
                            let _ = tx.send(Err(err(e)));
                            return;
                        }
                    }
                    if page.len() == 1024 && tx.send(Ok(std::mem::take(&mut page))).is_err() {
                        return;
                    }
                }
                if !page.is_empty() && tx.send(Ok(page)).is_err() {
                    return;
                }
            }
        });
        let mut n = 0;
        for page in rx {
            for (key, record) in page? {
                let Ok(bytes) = <[u8; 16]>::try_from(key.as_slice()) else {
                    continue;
                };
                let view = codec::decode(&record)?;
                if view.is_live(now) {
                    visit(TokenKey::from_bytes(bytes), view);
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}
