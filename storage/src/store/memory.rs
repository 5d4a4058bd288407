//! The reference backend: the `Store` contract in the plainest code, held in memory.
//! It exists so the conformance suite has an obviously-correct implementation to agree
//! with; the server's `kind = "memory"` does not write behind at all.

use super::{Mutation, Store, StoreError, StoredToken, TokenView};
use crate::key::TokenKey;
use crate::record::GrantId;
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    tokens: BTreeMap<TokenKey, StoredToken>,
    grants: BTreeMap<GrantId, BTreeSet<TokenKey>>,
    settings: BTreeMap<String, String>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl Inner {
    fn remove(&mut self, key: &TokenKey) {
        if let Some(t) = self.tokens.remove(key) {
            if let Some(set) = self.grants.get_mut(&t.grant) {
                set.remove(key);
            }
        }
    }
}

impl Store for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn apply(&self, batch: &[Mutation], _durable: bool) -> Result<(), StoreError> {
        let mut inner = self.inner.lock();
        for m in batch {
            match m {
                Mutation::Put { key, token } => {
                    if !token.grant.is_none() {
                        inner.grants.entry(token.grant).or_default().insert(*key);
                    }
                    inner.tokens.insert(*key, token.clone());
                }
                Mutation::Delete { key, .. } => inner.remove(key),
                Mutation::DeleteGrant { grant } => {
                    for key in inner.grants.remove(grant).unwrap_or_default() {
                        inner.tokens.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }

    fn get(&self, key: &TokenKey, now: u32) -> Result<Option<StoredToken>, StoreError> {
        Ok(self
            .inner
            .lock()
            .tokens
            .get(key)
            .filter(|t| t.is_live(now))
            .cloned())
    }

    fn grant_tokens(&self, grant: GrantId, now: u32) -> Result<Vec<TokenKey>, StoreError> {
        let inner = self.inner.lock();
        let keys = inner
            .grants
            .get(&grant)
            .map(|s| s.iter().copied().collect::<Vec<_>>())
            .unwrap_or_default();
        Ok(keys
            .into_iter()
            .filter(|k| inner.tokens.get(k).is_some_and(|t| t.is_live(now)))
            .collect())
    }

    fn scan_live(
        &self,
        now: u32,
        visit: &mut dyn FnMut(TokenKey, TokenView<'_>),
    ) -> Result<u64, StoreError> {
        let inner = self.inner.lock();
        let mut n = 0;
        for (k, t) in inner.tokens.iter().filter(|(_, t)| t.is_live(now)) {
            visit(*k, t.view());
            n += 1;
        }
        Ok(n)
    }

    fn purge_expired(&self, now: u32, limit: usize) -> Result<usize, StoreError> {
        let mut inner = self.inner.lock();
        let expired: Vec<TokenKey> = inner
            .tokens
            .iter()
            .filter(|(_, t)| !t.is_live(now))
            .map(|(k, _)| *k)
            .take(limit)
            .collect();
        for k in &expired {
            inner.remove(k);
        }
        Ok(expired.len())
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.inner.lock().settings.get(name).cloned())
    }

    fn put_setting_if(
        &self,
        name: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock();
        if inner.settings.get(name).map(String::as_str) != expected {
            return Ok(false);
        }
        inner.settings.insert(name.to_owned(), value.to_owned());
        Ok(true)
    }
}
