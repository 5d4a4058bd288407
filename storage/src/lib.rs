//! Tessera's token storage: what a token is once issued, and where it lives on a node.
//!
//! # Layout
//!
//! - [`key`]: [`TokenKey`], the SHA-256-derived key a token is stored under. The raw token
//!   never reaches this crate's data structures.
//! - [`record`]: [`TokenRecord`], a fixed-size, `Copy` record (33 bytes, packed) with interned
//!   client, user, scope and metadata symbols.
//! - [`intern`]: [`Interner`], string ↔ [`Sym`] tables so records stay small.
//! - [`wheel`]: [`TimerWheel`], a hashed timing wheel of expiry seconds that lets the purge
//!   reclaim expired records without scanning the table.
//! - [`shard`]: [`shard::ShardMap`], one shard's map, grown and shrunk a small sub-map at a
//!   time (linear hashing) so no operation rehashes the whole shard.
//! - [`table`]: [`TokenTable`], N shards of `key → record` behind short `parking_lot`
//!   locks, plus the grant links that make revoking a refresh token cascade to the access
//!   tokens of its grant.
//!
//! - [`store`]: the backend-neutral [`store::Store`] trait, the versioned record codec, and
//!   one module per backend (memory reference, RocksDB, Cassandra, PostgreSQL / MySQL).
//! - [`writer`]: the write-behind flusher that carries table changes to a store.
//! - [`recovery`]: rebuilding the table from a store at start-up.
//! - [`conformance`]: the behaviour every store backend must show.
//!
//! The table and interners do no I/O ; store I/O happens only on the flusher, purge and start-up
//! threads. Nothing here knows about HTTP or OAuth wire formats.

pub mod conformance;
pub mod intern;
pub mod key;
pub mod record;
pub mod recovery;
pub mod shard;
pub mod store;
pub mod submap;
pub mod table;
pub mod wheel;
pub mod writer;

pub use intern::{Interner, Sym, Symbols};
pub use key::TokenKey;
pub use record::{GrantId, TokenKind, TokenRecord};
pub use table::{Grant, GrowthStats, PurgeStats, RevokeOutcome, TokenTable};
pub use wheel::{Swept, TimerWheel};
