//! The embedded RocksDB backend: the default store.
//!
//! Layout, in column families:
//! - `tokens`: token key (16 bytes) → [`codec`] record.
//! - `expiry`: expiry second (u32 big-endian) ‖ token key → grant id (u64 LE). Sorted by
//!   time, so the purge reads exactly the expired prefix and never scans live tokens.
//! - `grants`: grant id (u64 big-endian) ‖ token key → expiry (u32 LE). The cascade of
//!   RFC 7009 §2.1 is one prefix range.
//! - `default`: `schema_version` → 1, and the settings ([`Store::setting`]) under
//!   `setting\0` ‖ name → value (UTF-8). Token keys live only in `tokens`, so no token
//!   can collide with a setting; `schema_version` has no NUL, so it cannot either.
//!
//! A batch is one atomic `WriteBatch`; `durable` sets `sync` on it, so it returns after the
//! WAL is fsynced — many requests share that one fsync (group commit, see
//! [`crate::writer`]). Without `durable` the WAL is still written before `apply` returns,
//! so acknowledged data survives the process being killed; only a machine crash can lose
//! what was not synced.

use super::codec;
use super::{KeyRange, Mutation, Store, StoreError, StoredToken, TokenView};
use crate::key::TokenKey;
use crate::record::GrantId;
use parking_lot::Mutex;
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, MemtableFactory, Options, ReadOptions,
    SliceTransform, WriteBatch, WriteOptions, DB,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const TOKENS: &str = "tokens";
const EXPIRY: &str = "expiry";
const GRANTS: &str = "grants";
const SCHEMA_KEY: &[u8] = b"schema_version";
/// Before a setting's name in `default`.
const SETTING_PREFIX: &[u8] = b"setting\0";
const SCHEMA_VERSION: u8 = 1;
/// Read-ahead of the start-up scan: it reads each SST file front to back once, so large
/// reads replace one small read per 4 KiB block.
const SCAN_READAHEAD: usize = 2 << 20;

/// Which memtables `grants` and `expiry` write into (`tokens` always gets a vector).
///
/// A vector memtable makes an insert an append, sorted once when the memtable is flushed.
/// The skiplist spent ~2 µs of cache misses per insert on random token keys — 60 % of the
/// flusher's time, on the cores the workers need — so `tokens`, iterated only by the
/// start-up scan, keeps the vector.
///
/// A vector memtable pays on reads instead: every iterator over it copies and sorts it
/// first. `grants` and `expiry` are iterated while they are written: every `DeleteGrant`
/// of a batch (a revoked refresh token's cascade) seeks its grant's prefix in `grants`
/// (`grant_keys`, on the flusher), and the purge reads the expired prefix of `expiry`. With
/// a vector, each cascade sorted a copy of the whole `grants` memtable — a batch with a few
/// hundred revocations took seconds (`bench/src/bin/rocks-revoke-mix.rs`, RESULTS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memtables {
    pub grants: Memtable,
    pub expiry: Memtable,
}

/// One column family's memtable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memtable {
    /// Append, sort on flush and on every iterator.
    Vector,
    /// RocksDB's default: ordered at insert, iterators seek directly.
    SkipList,
    /// For `grants` only: one small skiplist per hash bucket of the grant id (its 8-byte
    /// prefix). Inserts search a short list; a cascade's prefix seek goes straight to its
    /// bucket. Not for `expiry`, whose purge reads a range across prefixes.
    PrefixHash,
}

impl Memtables {
    /// What Tessera used before: vectors everywhere (kept for the benchmark).
    pub const VECTOR: Memtables = Memtables {
        grants: Memtable::Vector,
        expiry: Memtable::Vector,
    };
}

impl Default for Memtables {
    /// A prefix hash for `grants`, a skiplist for `expiry`. Measured in one run against the
    /// other choices (`rocks-revoke-mix`, 100 000 grants, 25 % revocations, RESULTS.md):
    /// with vectors a batch with ~256 cascades took 10–12 s; this choice took 3.4–3.8 ms
    /// (p50) and took the mix ~1.6× faster than skiplists for both. A vector for `expiry`
    /// would write faster still, but made the purge of 215 000 expired tokens 5× slower
    /// (it sorts the memtable for every batch of 10 000).
    fn default() -> Memtables {
        Memtables {
            grants: Memtable::PrefixHash,
            expiry: Memtable::SkipList,
        }
    }
}

#[derive(Debug)]
pub struct RocksStore {
    db: DB,
    path: PathBuf,
    /// Makes [`Store::put_setting_if`]'s read and write one step. The directory is
    /// locked to this process, so a lock inside it is enough.
    settings: Mutex<()>,
}

fn io(e: rocksdb::Error) -> StoreError {
    StoreError::Io {
        backend: "rocksdb",
        message: e.into_string(),
    }
}

impl RocksStore {
    /// Opens (creating if needed) the store in directory `path`. Every failure names the
    /// path and says what is wrong with it.
    pub fn open(path: &Path) -> Result<RocksStore, StoreError> {
        RocksStore::open_with(path, Memtables::default())
    }

    /// [`RocksStore::open`] with a choice of memtables (for benchmarks; the server uses
    /// the default).
    pub fn open_with(path: &Path, memtables: Memtables) -> Result<RocksStore, StoreError> {
        let shown = path.display().to_string();
        let open_err = |reason: String| StoreError::Open {
            path: shown.clone(),
            reason,
        };
        if path.exists() && !path.is_dir() {
            return Err(open_err("it exists and is not a directory".to_owned()));
        }
        std::fs::create_dir_all(path)
            .map_err(|e| open_err(format!("cannot create the directory: {e}")))?;

        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.increase_parallelism(2);
        opts.set_max_background_jobs(2);
        // Two threads write (the flusher; the purge, in `purge_expired`) and RocksDB
        // queues their writes one after the other: the vector memtable of `tokens` cannot
        // take concurrent memtable writes.
        opts.set_allow_concurrent_memtable_write(false);
        let cf = |name: &str| {
            let mut o = Options::default();
            o.set_compression_type(DBCompressionType::Lz4);
            let memtable = match name {
                GRANTS => memtables.grants,
                EXPIRY if memtables.expiry == Memtable::PrefixHash => Memtable::SkipList,
                EXPIRY => memtables.expiry,
                _ => Memtable::Vector,
            };
            match memtable {
                Memtable::Vector => o.set_memtable_factory(MemtableFactory::Vector),
                // RocksDB's default; the crate has no variant naming it.
                Memtable::SkipList => {}
                Memtable::PrefixHash => {
                    o.set_prefix_extractor(SliceTransform::create_fixed_prefix(8));
                    o.set_memtable_factory(MemtableFactory::HashSkipList {
                        bucket_count: 1 << 18,
                        height: 4,
                        branching_factor: 4,
                    });
                }
            }
            o.set_allow_concurrent_memtable_write(false);
            ColumnFamilyDescriptor::new(name, o)
        };
        let db = DB::open_cf_descriptors(&opts, path, [cf(TOKENS), cf(EXPIRY), cf(GRANTS)])
            .map_err(|e| {
                let msg = e.into_string();
                if msg.contains("lock") || msg.contains("LOCK") {
                    open_err(format!(
                        "it is locked by another process (is another Tessera using it?): {msg}"
                    ))
                } else if msg.contains("Corruption") || msg.contains("corrupt") {
                    open_err(format!("the data is corrupt: {msg}"))
                } else {
                    open_err(msg)
                }
            })?;
        match db.get(SCHEMA_KEY).map_err(|e| open_err(e.into_string()))? {
            None => db
                .put(SCHEMA_KEY, [SCHEMA_VERSION])
                .map_err(|e| open_err(e.into_string()))?,
            Some(v) if v.as_slice() == [SCHEMA_VERSION] => {}
            Some(v) => {
                return Err(open_err(format!(
                    "schema version {:?} is newer than this Tessera understands ({SCHEMA_VERSION})",
                    v
                )))
            }
        }
        Ok(RocksStore {
            db,
            path: path.to_owned(),
            settings: Mutex::new(()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cf(&self, name: &str) -> Result<&ColumnFamily, StoreError> {
        self.db.cf_handle(name).ok_or_else(|| StoreError::Io {
            backend: "rocksdb",
            message: format!("column family {name} is missing"),
        })
    }
}

fn expiry_key(expires_at: u32, key: &TokenKey) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..4].copy_from_slice(&expires_at.to_be_bytes());
    k[4..].copy_from_slice(key.as_bytes());
    k
}

fn grant_key(grant: GrantId, key: &TokenKey) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&grant.0.to_be_bytes());
    k[8..].copy_from_slice(key.as_bytes());
    k
}

fn setting_key(name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(SETTING_PREFIX.len() + name.len());
    k.extend_from_slice(SETTING_PREFIX);
    k.extend_from_slice(name.as_bytes());
    k
}

fn token_key_at(bytes: &[u8], offset: usize) -> Option<TokenKey> {
    let b: [u8; 16] = bytes.get(offset..offset + 16)?.try_into().ok()?;
    Some(TokenKey::from_bytes(b))
}

impl Store for RocksStore {
    fn name(&self) -> &'static str {
        "rocksdb"
    }

    fn apply(&self, batch: &[Mutation], durable: bool) -> Result<(), StoreError> {
        let (tokens, expiry, grants) = (self.cf(TOKENS)?, self.cf(EXPIRY)?, self.cf(GRANTS)?);
        let mut wb = WriteBatch::default();
        let mut value = Vec::with_capacity(128);
        // Tokens put by this batch, by grant: a DeleteGrant later in the batch must see them.
        let mut pending: HashMap<GrantId, Vec<TokenKey>> = HashMap::new();
        for m in batch {
            match m {
                Mutation::Put { key, token } => {
                    value.clear();
                    codec::encode(token, &mut value);
                    wb.put_cf(tokens, key.as_bytes(), &value);
                    wb.put_cf(
                        expiry,
                        expiry_key(token.expires_at, key),
                        token.grant.0.to_le_bytes(),
                    );
                    if !token.grant.is_none() {
                        wb.put_cf(
                            grants,
                            grant_key(token.grant, key),
                            token.expires_at.to_le_bytes(),
                        );
                        pending.entry(token.grant).or_default().push(*key);
                    }
                }
                // The expiry and grant index entries stay until the purge reaches them.
                Mutation::Delete { key, .. } => wb.delete_cf(tokens, key.as_bytes()),
                Mutation::DeleteGrant { grant } => {
                    let mut keys = self.grant_keys(*grant)?;
                    keys.extend(pending.remove(grant).unwrap_or_default());
                    for k in keys {
                        wb.delete_cf(tokens, k.as_bytes());
                        wb.delete_cf(grants, grant_key(*grant, &k));
                    }
                }
            }
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(durable);
        self.db.write_opt(wb, &wo).map_err(io)
    }

    fn get(&self, key: &TokenKey, now: u32) -> Result<Option<StoredToken>, StoreError> {
        let Some(bytes) = self
            .db
            .get_pinned_cf(self.cf(TOKENS)?, key.as_bytes())
            .map_err(io)?
        else {
            return Ok(None);
        };
        let view = codec::decode(&bytes)?;
        Ok(view.is_live(now).then(|| view.to_owned_token()))
    }

    fn grant_tokens(&self, grant: GrantId, now: u32) -> Result<Vec<TokenKey>, StoreError> {
        let tokens = self.cf(TOKENS)?;
        let mut live = Vec::new();
        for k in self.grant_keys(grant)? {
            if let Some(bytes) = self.db.get_pinned_cf(tokens, k.as_bytes()).map_err(io)? {
                if codec::expires_at(&bytes).is_some_and(|e| now < e) {
                    live.push(k);
                }
            }
        }
        Ok(live)
    }

    fn scan_live(
        &self,
        now: u32,
        visit: &mut dyn FnMut(TokenKey, TokenView<'_>),
    ) -> Result<u64, StoreError> {
        self.scan_live_range(now, KeyRange::ALL, visit)
    }

    fn scan_live_range(
        &self,
        now: u32,
        range: KeyRange,
        visit: &mut dyn FnMut(TokenKey, TokenView<'_>),
    ) -> Result<u64, StoreError> {
        let mut ro = ReadOptions::default();
        // A one-off full scan should not push hot blocks out of the cache.
        ro.fill_cache(false);
        // Bounds let RocksDB skip the files and blocks of other ranges entirely, so
        // threads scanning neighbouring ranges share no work.
        ro.set_iterate_lower_bound(range.lower_bound().to_vec());
        if let Some(upper) = range.upper_bound() {
            ro.set_iterate_upper_bound(upper.to_vec());
        }
        ro.set_readahead_size(SCAN_READAHEAD);
        let mut it = self.db.raw_iterator_cf_opt(self.cf(TOKENS)?, ro);
        it.seek_to_first();
        let mut n = 0;
        while it.valid() {
            if let (Some(k), Some(v)) = (it.key(), it.value()) {
                let view = codec::decode(v)?;
                if view.is_live(now) {
                    if let Some(key) = token_key_at(k, 0) {
                        visit(key, view);
                        n += 1;
                    }
                }
            }
            it.next();
        }
        it.status().map_err(io)?;
        Ok(n)
    }

    /// Each range has its own iterator and the key space splits by first byte, so the
    /// ranges read disjoint blocks.
    fn parallel_scan(&self) -> bool {
        true
    }

    fn purge_expired(&self, now: u32, limit: usize) -> Result<usize, StoreError> {
        let (tokens, expiry, grants) = (self.cf(TOKENS)?, self.cf(EXPIRY)?, self.cf(GRANTS)?);
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(now.saturating_add(1).to_be_bytes().to_vec());
        ro.fill_cache(false);
        let mut it = self.db.raw_iterator_cf_opt(expiry, ro);
        it.seek_to_first();
        let mut wb = WriteBatch::default();
        let mut n = 0;
        while it.valid() && n < limit {
            if let (Some(k), Some(v)) = (it.key(), it.value()) {
                if let Some(key) = token_key_at(k, 4) {
                    wb.delete_cf(expiry, k);
                    wb.delete_cf(tokens, key.as_bytes());
                    let grant = GrantId(v.try_into().map(u64::from_le_bytes).unwrap_or(0));
                    if !grant.is_none() {
                        wb.delete_cf(grants, grant_key(grant, &key));
                    }
                    n += 1;
                }
            }
            it.next();
        }
        it.status().map_err(io)?;
        drop(it);
        if n > 0 {
            self.db.write(wb).map_err(io)?;
        }
        Ok(n)
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let Some(bytes) = self.db.get_pinned(setting_key(name)).map_err(io)? else {
            return Ok(None);
        };
        std::str::from_utf8(&bytes)
            .map(|v| Some(v.to_owned()))
            .map_err(|e| StoreError::Corrupt {
                message: format!("setting {name:?} is not UTF-8: {e}"),
            })
    }

    fn put_setting_if(
        &self,
        name: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StoreError> {
        let _cas = self.settings.lock();
        if self.setting(name)?.as_deref() != expected {
            return Ok(false);
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db
            .put_opt(setting_key(name), value.as_bytes(), &wo)
            .map_err(io)?;
        Ok(true)
    }
}

impl RocksStore {
    /// Every token key indexed under `grant`, live or not.
    fn grant_keys(&self, grant: GrantId) -> Result<Vec<TokenKey>, StoreError> {
        let mut ro = ReadOptions::default();
        let upper = grant.0.checked_add(1).map(u64::to_be_bytes);
        if let Some(upper) = upper {
            ro.set_iterate_upper_bound(upper.to_vec());
        }
        ro.set_prefix_same_as_start(true);
        let mut it = self.db.raw_iterator_cf_opt(self.cf(GRANTS)?, ro);
        it.seek(grant.0.to_be_bytes());
        let mut keys = Vec::new();
        while it.valid() {
            match it.key() {
                Some(k) if k.starts_with(&grant.0.to_be_bytes()) => {
                    if let Some(key) = token_key_at(k, 8) {
                        keys.push(key);
                    }
                }
                _ => break,
            }
            it.next();
        }
        it.status().map_err(io)?;
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{self, key, token, NOW};
    use crate::record::TokenKind;

    fn tempdir(name: &str) -> PathBuf {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("tessera-rocks-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn rocksdb_store_passes_the_conformance_suite() {
        let mut dirs = Vec::new();
        conformance::run_all(&mut || {
            let dir = tempdir("conformance");
            dirs.push(dir.clone());
            Box::new(RocksStore::open(&dir).expect("open"))
        });
        for d in dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    #[test]
    fn settings_survive_reopening() {
        let dir = tempdir("settings");
        {
            let s = RocksStore::open(&dir).expect("open");
            assert!(s.put_setting_if("a", None, "1").expect("cas"));
        }
        let s = RocksStore::open(&dir).expect("reopen");
        assert_eq!(s.setting("a").expect("read").as_deref(), Some("1"));
        drop(s);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn data_survives_reopening() {
        let dir = tempdir("reopen");
        {
            let s = RocksStore::open(&dir).expect("open");
            s.apply(
                &[Mutation::Put {
                    key: key("k"),
                    token: token(TokenKind::Access, 0, 60),
                }],
                true,
            )
            .expect("put");
        }
        let s = RocksStore::open(&dir).expect("reopen");
        assert!(s.get(&key("k"), NOW).expect("get").is_some());
        drop(s);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_file_in_place_of_the_directory_is_a_clear_error() {
        let dir = tempdir("file");
        std::fs::write(&dir, b"not a directory").expect("write");
        let e = RocksStore::open(&dir).expect_err("must fail");
        assert!(e.to_string().contains("not a directory"), "{e}");
        assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
        let _ = std::fs::remove_file(dir);
    }

    #[test]
    fn a_directory_in_use_is_a_clear_error() {
        let dir = tempdir("locked");
        let _first = RocksStore::open(&dir).expect("open");
        let e = RocksStore::open(&dir).expect_err("second open must fail");
        assert!(e.to_string().contains("locked"), "{e}");
        drop(_first);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn corrupt_data_is_a_clear_error() {
        let dir = tempdir("corrupt");
        drop(RocksStore::open(&dir).expect("open"));
        for entry in std::fs::read_dir(&dir).expect("dir").flatten() {
            if entry.file_name().to_string_lossy().starts_with("MANIFEST") {
                std::fs::write(entry.path(), b"garbage garbage garbage").expect("corrupt");
            }
        }
        let e = RocksStore::open(&dir).expect_err("must fail");
        assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
