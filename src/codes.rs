//! This node's authorization codes: a small sharded map from a code's key to its record,
//! kept apart from the token table.
//!
//! A code's bindings (PKCE challenge, nonce, redirect URI) are unique to it, and the token
//! table interns every string of its records for good; codes would make the interner grow
//! with every login. So codes live here with their strings owned, for at most
//! `authorize.code_ttl_secs`, and are purged when they expire.
//!
//! The store holds every code too (as a [`StoredToken`] of kind `Code`, its bindings as JSON
//! in `meta`), written durably before the redirect that carries it: after a restart
//! start-up recovery puts live codes back here, and with a shared store any node can read a
//! code another node issued. Without a shared store, [`CodeTable::take`] is the single-use
//! step; with one, the store's conditional consume is, and this table only spares a
//! redemption on the issuing node the read from the store.
//!
//! May touch: the code records of `oauth::grants::authorization_code`, storage keys and
//! records, the interners. No I/O.

use crate::oauth::grants::authorization_code::{Bindings, Code};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tessera_storage::store::StoredToken;
use tessera_storage::{Sym, Symbols, TokenKey, TokenKind};

const SHARDS: usize = 16;

/// Codes one user may have outstanding on one node. A browser flow has one at a time and
/// redeems it within seconds; the cap keeps a logged-in user who loops `prompt=none`
/// requests (each code up to ~1 KiB, kept `code_ttl_secs`) from growing this table
/// without bound.
pub const MAX_CODES_PER_USER: u32 = 1000;

#[derive(Debug)]
pub struct CodeTable {
    shards: Box<[Mutex<HashMap<TokenKey, Code>>]>,
    /// Outstanding codes per user (users are bounded by configuration and the store).
    per_user: Mutex<HashMap<Sym, u32>>,
}

/// The user has [`MAX_CODES_PER_USER`] codes outstanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyCodes;

impl Default for CodeTable {
    fn default() -> Self {
        CodeTable {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_user: Mutex::new(HashMap::new()),
        }
    }
}

impl CodeTable {
    pub fn new() -> CodeTable {
        CodeTable::default()
    }

    fn shard(&self, key: &TokenKey) -> &Mutex<HashMap<TokenKey, Code>> {
        &self.shards[(key.shard_bits() as usize) % SHARDS]
    }

    /// Keeps `code` (issued now) unless its user has too many outstanding.
    pub fn insert(&self, key: TokenKey, code: Code) -> Result<(), TooManyCodes> {
        {
            let mut per_user = self.per_user.lock();
            let n = per_user.entry(code.user).or_insert(0);
            if *n >= MAX_CODES_PER_USER {
                return Err(TooManyCodes);
            }
            *n += 1;
        }
        let user = code.user;
        if self.shard(&key).lock().insert(key, code).is_some() {
            // The same key twice (a recovered code, say): counted once.
            self.forget_one(user);
        }
        Ok(())
    }

    fn forget_one(&self, user: Sym) {
        let mut per_user = self.per_user.lock();
        if let Some(n) = per_user.get_mut(&user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_user.remove(&user);
            }
        }
    }

    /// The live code under `key`, copied out (the lock is held only for the copy).
    pub fn get(&self, key: &TokenKey, now: u32) -> Option<Code> {
        self.shard(key)
            .lock()
            .get(key)
            .filter(|c| now < c.expires_at)
            .cloned()
    }

    /// Removes the code under `key` and returns it: of any number of concurrent takers on
    /// this node, one gets it.
    pub fn take(&self, key: &TokenKey) -> Option<Code> {
        let code = self.shard(key).lock().remove(key)?;
        self.forget_one(code.user);
        Some(code)
    }

    /// Drops the codes that expired at or before `now`; returns how many. One shard's lock
    /// at a time, so redemptions wait for at most one shard's sweep.
    pub fn purge_expired(&self, now: u32) -> usize {
        let mut expired = Vec::new();
        for shard in self.shards.iter() {
            shard.lock().retain(|_, c| {
                let keep = now < c.expires_at;
                if !keep {
                    expired.push(c.user);
                }
                keep
            });
        }
        for user in &expired {
            self.forget_one(*user);
        }
        expired.len()
    }

    /// Removes every code `doomed` picks (a removed client's or user's); returns each
    /// removed code's key and issue time, for the store's deletes.
    pub fn remove_where(&self, doomed: impl Fn(&Code) -> bool) -> Vec<(TokenKey, u32)> {
        let mut removed = Vec::new();
        let mut users = Vec::new();
        for shard in self.shards.iter() {
            shard.lock().retain(|key, c| {
                let keep = !doomed(c);
                if !keep {
                    removed.push((*key, c.issued_at));
                    users.push(c.user);
                }
                keep
            });
        }
        for user in &users {
            self.forget_one(*user);
        }
        removed
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A code as the store keeps it.
pub fn to_stored(code: &Code, syms: &Symbols) -> StoredToken {
    let name = |i: &tessera_storage::Interner, sym| i.resolve(sym).unwrap_or_else(|| Arc::from(""));
    StoredToken {
        kind: TokenKind::Code,
        grant: code.grant,
        client: name(&syms.clients, code.client),
        user: Some(name(&syms.users, code.user)),
        scope: name(&syms.scopes, code.scope),
        meta: Some(Arc::from(code.bindings.to_json())),
        issued_at: code.issued_at,
        expires_at: code.expires_at,
    }
}

/// A code read back from the store (recovery, or another node's code); `None` when the
/// record is not a code or its bindings do not parse. Client, user and scope are interned:
/// those sets are bounded by configuration, unlike the bindings.
pub fn from_stored(token: &StoredToken, syms: &Symbols) -> Option<Code> {
    if token.kind != TokenKind::Code {
        return None;
    }
    let bindings = Bindings::from_json(token.meta.as_deref()?)?;
    Some(Code {
        client: syms.clients.intern(&token.client),
        user: syms.users.intern(token.user.as_deref()?),
        scope: syms.scopes.intern(&token.scope),
        grant: token.grant,
        issued_at: token.issued_at,
        expires_at: token.expires_at,
        bindings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_storage::GrantId;

    fn code(syms: &Symbols, expires_at: u32) -> Code {
        Code {
            client: syms.clients.intern("web"),
            user: syms.users.intern("alice"),
            scope: syms.scopes.intern("openid read"),
            grant: GrantId(7),
            issued_at: 100,
            expires_at,
            bindings: Bindings {
                redirect_uri: "https://app.example/cb".into(),
                redirect_uri_sent: true,
                code_challenge: Some("c".repeat(43).into()),
                code_challenge_method: Some("S256".into()),
                nonce: Some("n".into()),
                auth_time: 99,
            },
        }
    }

    #[test]
    fn a_code_is_taken_once() {
        let syms = Symbols::default();
        let t = CodeTable::new();
        let k = TokenKey::of(b"code");
        assert_eq!(t.insert(k, code(&syms, 700)), Ok(()));
        assert!(t.get(&k, 699).is_some());
        assert!(t.get(&k, 700).is_none(), "expired");
        assert!(t.take(&k).is_some());
        assert!(t.take(&k).is_none());
    }

    #[test]
    fn expired_codes_are_purged() {
        let syms = Symbols::default();
        let t = CodeTable::new();
        assert!(t.insert(TokenKey::of(b"a"), code(&syms, 200)).is_ok());
        assert!(t.insert(TokenKey::of(b"b"), code(&syms, 900)).is_ok());
        assert_eq!(t.purge_expired(200), 1);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_user_may_hold_a_bounded_number_of_codes_and_redeeming_frees_room() {
        let syms = Symbols::default();
        let t = CodeTable::new();
        for i in 0..MAX_CODES_PER_USER {
            assert!(t
                .insert(TokenKey::of(&i.to_le_bytes()), code(&syms, 700))
                .is_ok());
        }
        let one_more = TokenKey::of(b"one more");
        assert_eq!(t.insert(one_more, code(&syms, 700)), Err(TooManyCodes));
        assert!(t.take(&TokenKey::of(&0u32.to_le_bytes())).is_some());
        assert!(t.insert(one_more, code(&syms, 700)).is_ok());
        assert_eq!(t.purge_expired(700), MAX_CODES_PER_USER as usize);
        assert!(t.insert(TokenKey::of(b"after"), code(&syms, 900)).is_ok());
    }

    #[test]
    fn codes_round_trip_through_their_stored_form() {
        let syms = Symbols::default();
        let c = code(&syms, 700);
        let stored = to_stored(&c, &syms);
        assert_eq!(stored.kind, TokenKind::Code);
        assert_eq!(&*stored.client, "web");
        assert_eq!(from_stored(&stored, &syms), Some(c));
        let mut broken = stored.clone();
        broken.meta = Some(Arc::from("{"));
        assert_eq!(from_stored(&broken, &syms), None);
        let mut not_a_code = stored;
        not_a_code.kind = TokenKind::Access;
        assert_eq!(from_stored(&not_a_code, &syms), None);
    }
}
