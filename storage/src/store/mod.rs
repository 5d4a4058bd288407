//! The `Store` trait: what a persistent backend must do, named without any backend's types.
//!
//! The in-memory [`crate::TokenTable`] is the source of truth for reads on a node; a store
//! is where its changes are written behind (by [`crate::writer`]) and where the table is
//! rebuilt from at start-up. Backends:
//! - [`memory::MemoryStore`]: the reference implementation, for the conformance suite.
//! - `rocks::RocksStore` (feature `rocksdb`, default): embedded RocksDB.
//! - `cassandra::CassandraStore` (feature `cassandra`, default): Apache Cassandra or
//!   ScyllaDB, shared by several Tessera nodes; it also implements [`SharedStore`].
//! - `sql::SqlStore` (feature `sql`, default): PostgreSQL or MySQL / MariaDB, shared by
//!   several nodes like Cassandra ([`SqlDialect`] says which).
//!
//! - [`faults::FaultyStore`]: test only, wraps any of them to inject stalls and errors
//!   (`store.test_faults_file`).
//!
//! Every backend passes [`crate::conformance`]. Records cross this boundary as
//! [`StoredToken`]s with their strings (client, user, scope, metadata) spelled out, because
//! interned symbols mean nothing outside one process.

#[cfg(feature = "cassandra")]
pub mod cassandra;
pub mod codec;
#[cfg(any(feature = "cassandra", feature = "sql"))]
mod driver;
pub mod faults;
pub mod memory;
#[cfg(feature = "rocksdb")]
pub mod rocks;
#[cfg(feature = "sql")]
pub mod sql;

use crate::key::TokenKey;
use crate::record::{GrantId, TokenKind};
use std::fmt;
use std::sync::Arc;

/// A token record with its strings, generic over how they are held: owned
/// (`Arc<str>`, on the write path) or borrowed from a store's bytes (`&str`, when reading).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<S> {
    pub kind: TokenKind,
    pub grant: GrantId,
    pub client: S,
    pub user: Option<S>,
    pub scope: S,
    pub meta: Option<S>,
    pub issued_at: u32,
    pub expires_at: u32,
}

/// A token as written to a store.
pub type StoredToken = Token<Arc<str>>;
/// A token as read from a store, borrowing its strings.
pub type TokenView<'a> = Token<&'a str>;

impl<S: AsRef<str>> Token<S> {
    pub fn is_live(&self, now: u32) -> bool {
        now < self.expires_at
    }

    /// Borrows the strings.
    pub fn view(&self) -> TokenView<'_> {
        Token {
            kind: self.kind,
            grant: self.grant,
            client: self.client.as_ref(),
            user: self.user.as_ref().map(AsRef::as_ref),
            scope: self.scope.as_ref(),
            meta: self.meta.as_ref().map(AsRef::as_ref),
            issued_at: self.issued_at,
            expires_at: self.expires_at,
        }
    }
}

impl TokenView<'_> {
    pub fn to_owned_token(&self) -> StoredToken {
        Token {
            kind: self.kind,
            grant: self.grant,
            client: Arc::from(self.client),
            user: self.user.map(Arc::from),
            scope: Arc::from(self.scope),
            meta: self.meta.map(Arc::from),
            issued_at: self.issued_at,
            expires_at: self.expires_at,
        }
    }
}

/// The token keys whose first byte is in `first..=last`: a slice of the key space for one
/// thread of a parallel scan. Keys are uniform (SHA-256), so equal spans of first bytes
/// hold about equal numbers of tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRange {
    first: u8,
    last: u8,
}

impl KeyRange {
    /// Every key.
    pub const ALL: KeyRange = KeyRange {
        first: 0,
        last: u8::MAX,
    };

    /// `parts` disjoint ranges (at least 1, at most 256) that cover every key, in key order.
    pub fn split(parts: usize) -> Vec<KeyRange> {
        let parts = parts.clamp(1, 256);
        (0..parts)
            .map(|i| KeyRange {
                first: (i * 256 / parts) as u8,
                last: ((i + 1) * 256 / parts - 1) as u8,
            })
            .collect()
    }

    pub fn contains(&self, key: &TokenKey) -> bool {
        (self.first..=self.last).contains(&key.as_bytes()[0])
    }

    /// The smallest key byte string in the range (a prefix of its first key).
    pub fn lower_bound(&self) -> [u8; 1] {
        [self.first]
    }

    /// The smallest byte string above the range, `None` for a range that runs to the end.
    pub fn upper_bound(&self) -> Option<[u8; 1]> {
        self.last.checked_add(1).map(|b| [b])
    }
}

/// One change to a store. A batch is applied in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    /// Store a token (issued, rotated in).
    Put { key: TokenKey, token: StoredToken },
    /// Remove a token (revoked, used up by a rotation). `issued_at` is the token's: a store
    /// that orders writes by timestamp (Cassandra) orders the delete after the token's put
    /// by it, whatever the clocks of the nodes that wrote them (a token key is put once).
    Delete { key: TokenKey, issued_at: u32 },
    /// Remove every token of a grant (RFC 7009 §2.1 cascade), including tokens put earlier
    /// in the same batch.
    DeleteGrant { grant: GrantId },
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be opened at `path` (not a directory, no permission, locked by
    /// another process, corrupt). Fatal at start-up.
    Open { path: String, reason: String },
    /// A read or write failed; the caller may retry.
    Io {
        backend: &'static str,
        message: String,
    },
    /// Stored bytes could not be decoded.
    Corrupt { message: String },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Open { path, reason } => write!(f, "cannot use store at {path}: {reason}"),
            StoreError::Io { backend, message } => write!(f, "{backend} store error: {message}"),
            StoreError::Corrupt { message } => write!(f, "corrupt stored record: {message}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// A persistent token store. Implementations are shared between the write-behind flusher,
/// the purge thread and start-up recovery; none of them runs on a worker thread.
pub trait Store: Send + Sync + fmt::Debug {
    /// A short name for logs and metrics (`"rocksdb"`).
    fn name(&self) -> &'static str;

    /// Applies `batch` in order, atomically where the backend can. With `durable`, returns
    /// only once the batch would survive a crash of the machine (WAL synced).
    fn apply(&self, batch: &[Mutation], durable: bool) -> Result<(), StoreError>;

    /// The live token under `key`.
    fn get(&self, key: &TokenKey, now: u32) -> Result<Option<StoredToken>, StoreError>;

    /// The keys of the live tokens of `grant`.
    fn grant_tokens(&self, grant: GrantId, now: u32) -> Result<Vec<TokenKey>, StoreError>;

    /// Calls `visit` for every live token; returns how many were visited.
    fn scan_live(
        &self,
        now: u32,
        visit: &mut dyn FnMut(TokenKey, TokenView<'_>),
    ) -> Result<u64, StoreError>;

    /// [`Store::scan_live`] restricted to the keys in `range`; returns how many were
    /// visited. Several ranges may be scanned at once from different threads. The default
    /// filters a whole scan, which is correct for every backend but only worth calling
    /// with [`KeyRange::ALL`] unless [`Store::parallel_scan`] says otherwise.
    fn scan_live_range(
        &self,
        now: u32,
        range: KeyRange,
        visit: &mut dyn FnMut(TokenKey, TokenView<'_>),
    ) -> Result<u64, StoreError> {
        let mut n = 0;
        self.scan_live(now, &mut |key, token| {
            if range.contains(&key) {
                visit(key, token);
                n += 1;
            }
        })?;
        Ok(n)
    }

    /// Whether scanning disjoint [`KeyRange`]s on several threads is faster than one
    /// [`Store::scan_live`] (the backend seeks straight to a range). Start-up recovery
    /// scans in parallel only then.
    fn parallel_scan(&self) -> bool {
        false
    }

    /// Deletes up to `limit` tokens that expired at or before `now`; returns how many. Call
    /// again while it returns `limit`.
    fn purge_expired(&self, now: u32, limit: usize) -> Result<usize, StoreError>;

    /// A small named value shared by every node of the store (the OpenID Connect signing
    /// keys): `None` when it was never set. Reads what the last successful
    /// [`Store::put_setting_if`] wrote, on any node (Cassandra: a serial read).
    ///
    /// Blocking: for start-up, the CLI and the cluster sync thread, never a worker.
    fn setting(&self, name: &str) -> Result<Option<String>, StoreError>;

    /// Compare-and-set: writes `value` under `name` only if the current value is `expected`
    /// (`None`: absent). `Ok(true)` when it wrote, `Ok(false)` when the current value was
    /// something else (it is left unchanged). Durable before it returns; linearizable
    /// across nodes (Cassandra: a lightweight transaction), so of any number of racing
    /// writers with the same `expected` exactly one wins.
    ///
    /// Blocking, like [`Store::setting`].
    fn put_setting_if(
        &self,
        name: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StoreError>;

    /// The store removes expired tokens by itself (a TTL on every row), so
    /// [`Store::purge_expired`] has nothing to do and returns 0.
    fn self_expiring(&self) -> bool {
        false
    }

    /// The cluster operations of a store that several nodes share; `None` for a store that
    /// belongs to one node.
    fn shared(&self) -> Option<&dyn SharedStore> {
        None
    }
}

/// CQL consistency level names (Cassandra / ScyllaDB stores), as the configuration spells
/// them. Here rather than in the backend so configuration checks work in every build.
pub const CONSISTENCY_LEVELS: &[&str] = &[
    "ANY",
    "ONE",
    "TWO",
    "THREE",
    "QUORUM",
    "ALL",
    "LOCAL_QUORUM",
    "EACH_QUORUM",
    "LOCAL_ONE",
];

/// How a write-behind batch's writes reach Cassandra (`store.cassandra.write_batching`).
/// Here rather than in the backend, like [`CONSISTENCY_LEVELS`], so configuration checks
/// parse it in every build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteBatching {
    /// Every write its own request, all in flight at once.
    Concurrent,
    /// CQL `UNLOGGED BATCH`es of at most this many statements, the batches in flight at
    /// once. Each token is its own partition, so a batch spans partitions: Cassandra warns
    /// above `unlogged_batch_across_partitions_warn_threshold` (10) and refuses batches
    /// above `batch_size_fail_threshold` (50 KiB), which bounds the size.
    Unlogged(usize),
}

/// Unlogged batches of 16: 1.3–2.4× the tokens per second of concurrent writes on the
/// single-node test cluster (`bench/RESULTS.md`), and 16 statements stay under
/// Cassandra's 5 KiB batch-size warning for ordinary tokens.
impl Default for WriteBatching {
    fn default() -> Self {
        WriteBatching::Unlogged(Self::UNLOGGED_STATEMENTS)
    }
}

impl WriteBatching {
    /// Statements per unlogged batch when the config does not say.
    pub const UNLOGGED_STATEMENTS: usize = 16;

    /// Parses `concurrent`, `unlogged` or `unlogged:N` (N statements per batch, 1..=256).
    pub fn parse(s: &str) -> Option<WriteBatching> {
        match s.split_once(':') {
            None if s == "concurrent" => Some(WriteBatching::Concurrent),
            None if s == "unlogged" => Some(WriteBatching::Unlogged(Self::UNLOGGED_STATEMENTS)),
            Some(("unlogged", n)) => match n.parse::<usize>() {
                Ok(n @ 1..=256) => Some(WriteBatching::Unlogged(n)),
                _ => None,
            },
            _ => None,
        }
    }
}

impl fmt::Display for WriteBatching {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteBatching::Concurrent => f.write_str("concurrent"),
            WriteBatching::Unlogged(n) => write!(f, "unlogged:{n}"),
        }
    }
}

/// Which relational database a SQL store speaks to (`store.kind = "postgres"` or
/// `"mysql"`). Here rather than in the backend, like [`CONSISTENCY_LEVELS`], so
/// configuration checks work in every build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlDialect {
    /// PostgreSQL 12 or later.
    Postgres,
    /// MySQL 8 or MariaDB 10.11 or later.
    Mysql,
}

impl SqlDialect {
    /// The `store.kind` naming it, which is also its schema directory
    /// (`config/sql/<name>/oauth-server.sql`).
    pub fn name(self) -> &'static str {
        match self {
            SqlDialect::Postgres => "postgres",
            SqlDialect::Mysql => "mysql",
        }
    }

    /// The URL schemes its driver accepts.
    pub fn schemes(self) -> &'static [&'static str] {
        match self {
            SqlDialect::Postgres => &["postgres", "postgresql"],
            SqlDialect::Mysql => &["mysql", "mariadb"],
        }
    }

    /// Whether `url` is `<scheme>://...` with one of [`SqlDialect::schemes`].
    pub fn accepts_url(self, url: &str) -> bool {
        url.split_once("://").is_some_and(|(scheme, rest)| {
            !rest.is_empty()
                && self
                    .schemes()
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(scheme))
        })
    }
}

/// A revoked token or grant, as logged for the other nodes of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Token(TokenKey),
    Grant(GrantId),
}

/// One entry of the revocation log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    /// When the revoking node wrote it (Unix milliseconds, that node's clock).
    pub at_ms: u64,
    pub revoked: Revoked,
}

/// Whose tokens [`SharedStore::revoke_owned`] revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// Every token issued to this client id, and its codes and consents.
    Client(&'a str),
    /// Every token issued on behalf of this resource owner (password grant and its
    /// refreshes, authorization codes), whichever client holds it, and the user's
    /// sessions, codes and consents.
    User(&'a str),
}

impl Owner<'_> {
    /// Whether the record is the owner's. A session belongs to no client (its `client` is
    /// ""), so no client owns one, whatever its id.
    pub fn owns(&self, token: &TokenView<'_>) -> bool {
        match *self {
            Owner::Client(id) => token.kind != TokenKind::Session && token.client == id,
            Owner::User(name) => token.user == Some(name),
        }
    }
}

/// Which of an owner's records [`SharedStore::revoke_owned`] removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnedTokens {
    /// Every access and refresh token, and the grant of each refresh token; every code,
    /// session and consent (a client or user removed).
    All,
    /// Every refresh token with its grant, so the access tokens issued under that grant
    /// go too (a password change: RFC 6819 §5.2.2.3); access tokens outside such a grant
    /// stay until they expire. Also the user's sessions (a changed password ends every
    /// login) and codes not yet redeemed (each would start a new grant); consents stay.
    RefreshGrants,
}

impl OwnedTokens {
    /// What revoking these records of an owner does with one of them (a record the owner
    /// [`Owner::owns`]): pushes its deletes onto `batch` — a refresh token with its grant,
    /// once per grant in `grants` — and says whether it counts as a matched token (access
    /// and refresh tokens count; codes, sessions and consents go uncounted). Shared by the
    /// stores' [`SharedStore::revoke_owned`], which feed `batch` to their write path.
    pub fn revoke_record(
        self,
        key: TokenKey,
        token: &TokenView<'_>,
        batch: &mut Vec<Mutation>,
        grants: &mut std::collections::HashSet<GrantId>,
    ) -> bool {
        let issued_at = token.issued_at;
        match (token.kind, self) {
            // Used markers are never stored as token rows; nothing to revoke in one.
            (TokenKind::Used, _) => false,
            // A password change ends the user's logins and the codes that would open new
            // grants, and leaves the consents (what the user agreed to, not who they are).
            (TokenKind::Consent, OwnedTokens::RefreshGrants) => false,
            (TokenKind::Code | TokenKind::Session | TokenKind::Consent, _) => {
                batch.push(Mutation::Delete { key, issued_at });
                false
            }
            (TokenKind::Access, OwnedTokens::RefreshGrants) => false,
            (TokenKind::Access, OwnedTokens::All) => {
                batch.push(Mutation::Delete { key, issued_at });
                true
            }
            (TokenKind::Refresh, _) => {
                // The token itself too: the delete must not depend on its grant's links.
                batch.push(Mutation::Delete { key, issued_at });
                if !token.grant.is_none() && grants.insert(token.grant) {
                    batch.push(Mutation::DeleteGrant { grant: token.grant });
                }
                true
            }
        }
    }
}

/// The answer to a read-through lookup.
pub type Lookup = futures_channel::oneshot::Receiver<Result<Option<StoredToken>, StoreError>>;

/// The answer to a single-use claim: `true` when this claim used the key first.
pub type Claim = futures_channel::oneshot::Receiver<Result<bool, StoreError>>;

/// The answer to a reuse check: the grant of a used key the store still remembers.
pub type Used = futures_channel::oneshot::Receiver<Result<Option<GrantId>, StoreError>>;

/// What a store shared by several nodes offers on top of [`Store`]: reads that do not
/// block the caller, the revocation log, and the clients and users managed in the store.
/// Clients and users cross this boundary as `(id, spec)` pairs: the spec is JSON the
/// server defines; the store only keeps it.
pub trait SharedStore: Send + Sync + fmt::Debug {
    /// Starts reading the live token under `key` (a miss in the node's table) and returns
    /// at once; the answer arrives on the channel, from the store's own thread.
    fn lookup(&self, key: TokenKey, now: u32) -> Lookup;

    /// Uses the single-use `key` (a refresh token of grant `grant`) once across every node
    /// sharing the store: `true` for the first claim, `false` for every later one, however
    /// many race on however many nodes (Cassandra: a lightweight transaction). The use is
    /// remembered for at least `ttl_secs` (the token's remaining life; up to a second
    /// more), so a later presentation is recognised as reuse ([`SharedStore::used`]).
    fn claim_use(&self, key: TokenKey, grant: GrantId, ttl_secs: u32) -> Claim;

    /// The grant of `key` if it was used (claimed) and is still remembered.
    fn used(&self, key: TokenKey) -> Used;

    /// Revocations logged after `since_ms` (Unix milliseconds), oldest first.
    fn revocations_since(&self, since_ms: u64) -> Result<Vec<Revocation>, StoreError>;

    /// Revokes the live tokens of `owner` (`which` of them) for every node: deletes them
    /// from the store (a refresh token with its whole grant) and logs each revocation, so
    /// running nodes drop them from memory within `revocation_propagation_ms`. Returns how
    /// many tokens matched (refresh tokens only, for [`OwnedTokens::RefreshGrants`]);
    /// codes, sessions and consents removed with them are not counted.
    ///
    /// A full scan of the token tables: for rare administrative changes (a client or user
    /// removed, a password changed), not for the request path. A token written after the
    /// scan passed its place is not seen; run it again once every node has stopped issuing
    /// to the owner.
    fn revoke_owned(
        &self,
        owner: Owner<'_>,
        which: OwnedTokens,
        now: u32,
    ) -> Result<u64, StoreError>;

    fn clients(&self) -> Result<Vec<(String, String)>, StoreError>;
    fn put_client(&self, id: &str, spec: &str) -> Result<(), StoreError>;
    /// Stores a new client: `false` (and nothing written) when `id` exists. Of creators
    /// racing on any nodes exactly one gets `true`.
    fn create_client(&self, id: &str, spec: &str) -> Result<bool, StoreError>;
    /// Replaces the spec of client `id` with `new` if it is still `old`: `false` (nothing
    /// written) when it is not — changed or removed since it was read. Decided by the
    /// store, so an update racing a removal on another node never brings the client back,
    /// and one racing another update never silently undoes it.
    fn replace_client(&self, id: &str, old: &str, new: &str) -> Result<bool, StoreError>;
    /// Whether there was such a client.
    fn remove_client(&self, id: &str) -> Result<bool, StoreError>;

    fn users(&self) -> Result<Vec<(String, String)>, StoreError>;
    fn put_user(&self, username: &str, spec: &str) -> Result<(), StoreError>;
    /// Stores a new user: `false` (and nothing written) when `username` exists.
    fn create_user(&self, username: &str, spec: &str) -> Result<bool, StoreError>;
    /// Replaces the spec of `username` with `new` if it is still `old` (as
    /// [`SharedStore::replace_client`]).
    fn replace_user(&self, username: &str, old: &str, new: &str) -> Result<bool, StoreError>;
    fn remove_user(&self, username: &str) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ranges_split_the_first_byte_into_disjoint_covering_spans() {
        for parts in [1, 2, 3, 5, 16, 255, 256, 1000] {
            let ranges = KeyRange::split(parts);
            assert_eq!(ranges.len(), parts.min(256));
            for byte in 0..=u8::MAX {
                let k = TokenKey::from_bytes([byte; 16]);
                let holders = ranges.iter().filter(|r| r.contains(&k)).count();
                assert_eq!(holders, 1, "{parts} parts, first byte {byte}");
            }
            // In key order, each range ending where the next begins.
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].upper_bound(), Some(pair[1].lower_bound()));
            }
            assert_eq!(ranges[0].lower_bound(), [0]);
            assert_eq!(ranges.last().and_then(KeyRange::upper_bound), None);
        }
        assert_eq!(KeyRange::split(0), vec![KeyRange::ALL]);
    }

    fn view(kind: TokenKind, client: &'static str, user: &'static str) -> TokenView<'static> {
        Token {
            kind,
            grant: GrantId::NONE,
            client,
            user: Some(user),
            scope: "",
            meta: None,
            issued_at: 0,
            expires_at: 10,
        }
    }

    #[test]
    fn a_session_belongs_to_its_user_and_to_no_client() {
        let session = view(TokenKind::Session, "", "alice");
        assert!(Owner::User("alice").owns(&session));
        assert!(!Owner::User("bob").owns(&session));
        assert!(!Owner::Client("").owns(&session));
    }

    #[test]
    fn consents_and_codes_belong_to_their_client_and_their_user() {
        for kind in [TokenKind::Consent, TokenKind::Code] {
            let record = view(kind, "svc-a", "alice");
            assert!(Owner::Client("svc-a").owns(&record), "{kind:?}");
            assert!(Owner::User("alice").owns(&record), "{kind:?}");
            assert!(!Owner::Client("svc-b").owns(&record), "{kind:?}");
        }
    }
}
