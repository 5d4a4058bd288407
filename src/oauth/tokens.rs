//! The token operations a grant needs, as a trait, so the grants decide without knowing
//! where tokens live.
//!
//! The server implements [`TokenOps`] over this node's token table and its write-behind
//! (`crate::writes::Writes`): every change is both applied to the table and queued for the
//! store. Tests implement it over a plain in-memory table ([`memory::MemoryTokens`]) and
//! read back what a grant changed.
//!
//! This module may touch only token records and keys; it knows no table, store or I/O.

use tessera_storage::{GrantId, RevokeOutcome, Sym, TokenKey, TokenRecord};

/// What grants and revocation may do to tokens. Every method is synchronous and cheap: the
/// caller has already done whatever I/O the request needed (a read-through from a shared
/// store, a password check) before the decision runs.
pub trait TokenOps {
    /// The live (unexpired, unrevoked) record under `key`.
    fn lookup(&self, key: &TokenKey, now: u32) -> Option<TokenRecord>;

    /// Stores a record under `key`, which may hold one already (a session, a consent).
    fn insert(&mut self, key: TokenKey, record: TokenRecord);

    /// Stores a newly minted token: `key` comes from fresh random bytes, so nothing ever
    /// held it and nobody knows it before this call. The server's write-behind may then
    /// send the put on the worker's own lane (`tessera_storage::writer`). Defaults to
    /// [`TokenOps::insert`], which is always correct.
    fn insert_minted(&mut self, key: TokenKey, record: TokenRecord) {
        self.insert(key, record);
    }

    /// Removes the live record under `key` if `take` accepts it, and returns it. This is
    /// the single-use step (a refresh token under `rotate` or `none`): of concurrent
    /// consumers of one key, exactly one gets the record. The key then holds a
    /// [`TokenKind::Used`](tessera_storage::TokenKind::Used) record until the token's
    /// expiry, so presenting it again is recognised as a replay.
    fn consume_if(
        &mut self,
        key: &TokenKey,
        now: u32,
        take: &dyn Fn(&TokenRecord) -> bool,
    ) -> Option<TokenRecord>;

    /// Removes a token this request minted, when the request fails after minting it.
    fn discard(&mut self, key: &TokenKey);

    /// Starts a grant with its first tokens (both already inserted). Nobody holds them
    /// before the response goes out, so nothing can revoke the grant meanwhile.
    fn open_grant(
        &mut self,
        grant: GrantId,
        client: Sym,
        refresh: Option<TokenKey>,
        access: (TokenKey, u32),
    );

    /// Adds an inserted access token (and, on rotation, the new refresh token) to an open
    /// grant. `false` when the grant was revoked meanwhile: the caller must discard what it
    /// minted, so a token issued concurrently with a revocation never survives it.
    fn join_grant(
        &mut self,
        grant: GrantId,
        access: (TokenKey, u32),
        refresh: Option<TokenKey>,
        now: u32,
    ) -> bool;

    /// Ends a grant without revoking its access tokens (no refresh token is left to revoke
    /// them by).
    fn close_grant(&mut self, grant: GrantId);

    /// RFC 7009 §2.1: revokes the token under `key` on behalf of `client`; a refresh
    /// token takes its grant's access tokens with it.
    fn revoke(&mut self, key: &TokenKey, client: Sym, now: u32) -> RevokeOutcome;

    /// Revokes a whole grant — its refresh token and every access token — wherever they
    /// were issued (RFC 9700 §4.14.2: a used refresh token presented again). Returns how
    /// many of its tokens this node held.
    fn revoke_grant(&mut self, grant: GrantId) -> usize;
}

/// An in-memory [`TokenOps`] for unit tests of the decisions: a real token table (pure
/// memory, no store) plus a log of the changes a decision made.
#[cfg(test)]
pub mod memory {
    use super::TokenOps;
    use tessera_storage::{GrantId, RevokeOutcome, Sym, TokenKey, TokenRecord, TokenTable};

    /// One change a decision asked for.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Op {
        Insert(TokenKey),
        Consume(TokenKey),
        Discard(TokenKey),
        OpenGrant(GrantId),
        JoinGrant(GrantId),
        CloseGrant(GrantId),
        Revoke(TokenKey),
        RevokeGrant(GrantId),
    }

    #[derive(Debug)]
    pub struct MemoryTokens {
        pub table: TokenTable,
        pub log: Vec<Op>,
    }

    impl MemoryTokens {
        pub fn new(now: u32) -> MemoryTokens {
            MemoryTokens {
                table: TokenTable::new(4, now),
                log: Vec::new(),
            }
        }
    }

    impl TokenOps for MemoryTokens {
        fn lookup(&self, key: &TokenKey, now: u32) -> Option<TokenRecord> {
            self.table.get(key, now)
        }

        fn insert(&mut self, key: TokenKey, record: TokenRecord) {
            self.log.push(Op::Insert(key));
            self.table.insert(key, record);
        }

        fn consume_if(
            &mut self,
            key: &TokenKey,
            now: u32,
            take: &dyn Fn(&TokenRecord) -> bool,
        ) -> Option<TokenRecord> {
            let r = self.table.remove_if(key, now, take);
            if let Some(record) = r {
                self.log.push(Op::Consume(*key));
                let used = TokenRecord {
                    kind: tessera_storage::TokenKind::Used,
                    ..record
                };
                self.table.insert(*key, used);
            }
            r
        }

        fn discard(&mut self, key: &TokenKey) {
            self.log.push(Op::Discard(*key));
            self.table.remove(key);
        }

        fn open_grant(
            &mut self,
            grant: GrantId,
            client: Sym,
            refresh: Option<TokenKey>,
            access: (TokenKey, u32),
        ) {
            self.log.push(Op::OpenGrant(grant));
            self.table.open_grant(grant, client, refresh, access);
        }

        fn join_grant(
            &mut self,
            grant: GrantId,
            access: (TokenKey, u32),
            refresh: Option<TokenKey>,
            now: u32,
        ) -> bool {
            self.log.push(Op::JoinGrant(grant));
            self.table.link(grant, access, refresh, now)
        }

        fn close_grant(&mut self, grant: GrantId) {
            self.log.push(Op::CloseGrant(grant));
            self.table.close_grant(grant);
        }

        fn revoke(&mut self, key: &TokenKey, client: Sym, now: u32) -> RevokeOutcome {
            self.log.push(Op::Revoke(*key));
            self.table.revoke(key, client, now)
        }

        fn revoke_grant(&mut self, grant: GrantId) -> usize {
            self.log.push(Op::RevokeGrant(grant));
            self.table.revoke_grant(grant)
        }
    }
}
