//! The PostgreSQL and MySQL / MariaDB backend (sqlx), for several Tessera nodes that share
//! one relational database. (Work in progress: the API the server is wired to.)

mod options;

pub use options::SqlOptions;

use super::{
    Claim, Lookup, Mutation, OwnedTokens, Owner, Revocation, SharedStore, Store, StoreError,
    StoredToken, TokenView, Used,
};
use crate::key::TokenKey;
use crate::record::GrantId;
use std::fmt;

/// The schema version this build creates and serves.
pub const SCHEMA_VERSION: u32 = 1;

/// What [`SqlStore::migrate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// The version found (`None`: a database without Tessera's tables).
    pub from: Option<u32>,
    pub to: u32,
}

pub(super) enum Pool {
    Postgres(sqlx::PgPool),
    Mysql(sqlx::MySqlPool),
}

/// The SQL store.
pub struct SqlStore {
    target: String,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

fn todo_err() -> StoreError {
    StoreError::Io {
        backend: "sql",
        message: "not built yet".into(),
    }
}

impl SqlStore {
    pub fn open(opts: &SqlOptions) -> Result<SqlStore, StoreError> {
        let _ = opts;
        Err(todo_err())
    }
    pub fn migrate(opts: &SqlOptions) -> Result<Migrated, StoreError> {
        let _ = opts;
        Err(todo_err())
    }
}

impl Store for SqlStore {
    fn name(&self) -> &'static str {
        "sql"
    }
    fn apply(&self, _batch: &[Mutation], _durable: bool) -> Result<(), StoreError> {
        Err(todo_err())
    }
    fn get(&self, _key: &TokenKey, _now: u32) -> Result<Option<StoredToken>, StoreError> {
        Err(todo_err())
    }
    fn grant_tokens(&self, _grant: GrantId, _now: u32) -> Result<Vec<TokenKey>, StoreError> {
        Err(todo_err())
    }
    fn scan_live(
        &self,
        _now: u32,
        _visit: &mut dyn FnMut(TokenKey, TokenView<'_>),
    ) -> Result<u64, StoreError> {
        Err(todo_err())
    }
    fn purge_expired(&self, _now: u32, _limit: usize) -> Result<usize, StoreError> {
        Err(todo_err())
    }
    fn setting(&self, _name: &str) -> Result<Option<String>, StoreError> {
        Err(todo_err())
    }
    fn put_setting_if(
        &self,
        _name: &str,
        _expected: Option<&str>,
        _value: &str,
    ) -> Result<bool, StoreError> {
        Err(todo_err())
    }
    fn shared(&self) -> Option<&dyn SharedStore> {
        Some(self)
    }
}

impl SharedStore for SqlStore {
    fn lookup(&self, _key: TokenKey, _now: u32) -> Lookup {
        futures_channel::oneshot::channel().1
    }
    fn claim_use(&self, _key: TokenKey, _grant: GrantId, _ttl_secs: u32) -> Claim {
        futures_channel::oneshot::channel().1
    }
    fn used(&self, _key: TokenKey) -> Used {
        futures_channel::oneshot::channel().1
    }
    fn revocations_since(&self, _since_ms: u64) -> Result<Vec<Revocation>, StoreError> {
        Err(todo_err())
    }
    fn revoke_owned(
        &self,
        _owner: Owner<'_>,
        _which: OwnedTokens,
        _now: u32,
    ) -> Result<u64, StoreError> {
        Err(todo_err())
    }
    fn clients(&self) -> Result<Vec<(String, String)>, StoreError> {
        Err(todo_err())
    }
    fn put_client(&self, _id: &str, _spec: &str) -> Result<(), StoreError> {
        Err(todo_err())
    }
    fn remove_client(&self, _id: &str) -> Result<bool, StoreError> {
        Err(todo_err())
    }
    fn users(&self) -> Result<Vec<(String, String)>, StoreError> {
        Err(todo_err())
    }
    fn put_user(&self, _username: &str, _spec: &str) -> Result<(), StoreError> {
        Err(todo_err())
    }
    fn remove_user(&self, _username: &str) -> Result<bool, StoreError> {
        Err(todo_err())
    }
}
