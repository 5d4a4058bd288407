//! Token reads: one token by key (for [`crate::store::Store::get`] and the non-blocking
//! read-through lookup; one statement over every token table), the live keys of a grant,
//! and the full scan that start-up recovery and owner revocation run.
//!
//! Touches the token tables, reading only.

use super::tables::{key_of, token_from_row, union_binds};
use super::{on_pool, Inner, SqlStore};
use crate::key::TokenKey;
use crate::record::GrantId;
use crate::store::{StoreError, StoredToken, TokenView};
use futures_util::StreamExt;
use sqlx::Row;
use std::sync::Arc;

/// Rows per page handed from the runtime to the scanning thread.
const PAGE: usize = 1024;

impl Inner {
    pub(super) async fn get(
        &self,
        key: TokenKey,
        now: u32,
    ) -> Result<Option<StoredToken>, StoreError> {
        let k = key.as_bytes().as_slice();
        let now = i64::from(now);
        let binds = union_binds(self.dialect);
        self.timed(async {
            let found: Result<Option<StoredToken>, sqlx::Error> = on_pool!(&self.pool, p, _d => {
                let mut q = sqlx::query(&self.st.get);
                for _ in 0..binds {
                    q = q.bind(k).bind(now);
                }
                match q.fetch_optional(p).await? {
                    Some(row) => Ok(token_from_row(&row)?.map(|(_, t)| t)),
                    None => Ok(None),
                }
            });
            found.map_err(|e| self.err(e))
        })
        .await
    }

    pub(super) async fn grant_tokens(
        &self,
        grant: GrantId,
        now: u32,
    ) -> Result<Vec<TokenKey>, StoreError> {
        let (g, now) = (grant.0 as i64, i64::from(now));
        let binds = union_binds(self.dialect);
        self.timed(async {
            let keys: Result<Vec<TokenKey>, sqlx::Error> = on_pool!(&self.pool, p, _d => {
                let mut q = sqlx::query(&self.st.grant_keys);
                for _ in 0..binds {
                    q = q.bind(g).bind(now);
                }
                let rows = q.fetch_all(p).await?;
                let mut keys = Vec::with_capacity(rows.len());
                for row in &rows {
                    let bytes: &[u8] = row.try_get(0)?;
                    keys.extend(key_of(bytes));
                }
                Ok(keys)
            });
            keys.map_err(|e| self.err(e))
        })
        .await
    }
}

impl SqlStore {
    /// [`crate::store::Store::scan_live`]: every live record of every token table,
    /// `visit`ed on the calling thread. Not bounded by `request_timeout` (it reads
    /// everything); each page must arrive within it.
    pub(super) fn scan_tokens(
        &self,
        now: u32,
        visit: &mut dyn FnMut(TokenKey, TokenView<'_>),
    ) -> Result<u64, StoreError> {
        // Pages come over a channel so `visit` runs on this thread, not the runtime's.
        let (tx, rx) =
            std::sync::mpsc::sync_channel::<Result<Vec<(TokenKey, StoredToken)>, StoreError>>(4);
        let inner = Arc::clone(&self.inner);
        self.runtime.spawn(async move {
            let scanned: Result<(), sqlx::Error> = on_pool!(&inner.pool, p, _d => async {
                for sql in &inner.st.scan {
                    let mut rows = sqlx::query(sql).bind(i64::from(now)).fetch(p);
                    let mut page = Vec::with_capacity(PAGE);
                    while let Some(row) = rows.next().await {
                        page.extend(token_from_row(&row?)?);
                        if page.len() == PAGE && tx.send(Ok(std::mem::take(&mut page))).is_err() {
                            return Ok(());
                        }
                    }
                    if !page.is_empty() && tx.send(Ok(page)).is_err() {
                        return Ok(());
                    }
                }
                Ok(())
            }
            .await);
            if let Err(e) = scanned {
                let _ = tx.send(Err(inner.err(e)));
            }
        });
        let mut n = 0;
        for page in rx {
            for (key, token) in page? {
                if token.is_live(now) {
                    visit(key, token.view());
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}
