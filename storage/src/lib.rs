//! Tessera's token storage: what a token is once issued, and where it lives on a node.
//!
//! # Layout
//!
//! - [`key`]: [`TokenKey`], the SHA-256-derived key a token is stored under. The raw token
//!   never reaches this crate's data structures.
//! - [`record`]: [`TokenRecord`], a fixed-size, `Copy` record (40 bytes) with interned
//!   client, user, scope and metadata symbols.
//! - [`intern`]: [`Interner`], string ↔ [`Sym`] tables so records stay small.
//! - [`wheel`]: [`TimerWheel`], a hashed timing wheel of expiry seconds that lets the purge
//!   reclaim expired records without scanning the table.
//! - [`table`]: [`TokenTable`], N shards of `key → record` behind short `parking_lot`
//!   locks, plus the grant links that make revoking a refresh token cascade to the access
//!   tokens of its grant.
//!
//! This crate does no I/O and knows nothing about HTTP or OAuth wire formats: it is the
//! in-memory source of truth that the server's endpoints read and write.

pub mod intern;
pub mod key;
pub mod record;
pub mod table;
pub mod wheel;

pub use intern::{Interner, Sym};
pub use key::TokenKey;
pub use record::{GrantId, TokenKind, TokenRecord};
pub use table::{Grant, PurgeStats, RevokeOutcome, TokenTable};
pub use wheel::TimerWheel;
