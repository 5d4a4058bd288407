//! What the table keeps for one token: a small `Copy` record.
//!
//! Every variable-length field (client id, username, scope set, metadata) is an interned
//! [`Sym`], so a record is 40 bytes whatever the client sends, and tens of millions of live
//! tokens fit in a few GiB. Times are whole Unix seconds in a `u32` (good until 2106).

use crate::intern::Sym;

/// Identifies one authorization grant: the refresh token of a resource owner's grant and
/// every access token issued under it share one id, so revocation can cascade
/// (RFC 7009 §2.1). Zero means "issued without a grant" (client credentials).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantId(pub u64);

impl GrantId {
    pub const NONE: GrantId = GrantId(0);

    pub fn is_none(self) -> bool {
        self.0 == 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TokenKind {
    Access = 1,
    Refresh = 2,
    /// A refresh token used up (rotated out, or consumed under the `none` policy), kept
    /// under its key until it would have expired so that presenting it again is
    /// recognised as a replay (RFC 9700 §4.14.2). It carries its grant; it is never valid
    /// for anything.
    Used = 3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub grant: GrantId,
    pub client: Sym,
    /// The resource owner, for tokens issued through the password grant.
    pub user: Option<Sym>,
    /// The granted scope set, interned as its canonical space-separated string.
    pub scope: Sym,
    /// The client's name/value metadata at issuance, interned as a JSON object.
    pub meta: Option<Sym>,
    pub issued_at: u32,
    pub expires_at: u32,
    pub kind: TokenKind,
}

impl TokenRecord {
    /// A token is live strictly before its expiry second.
    #[inline]
    pub fn is_live(&self, now: u32) -> bool {
        now < self.expires_at
    }

    /// Seconds of life left at `now` (0 once expired).
    #[inline]
    pub fn seconds_left(&self, now: u32) -> u32 {
        self.expires_at.saturating_sub(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_stays_compact() {
        assert!(std::mem::size_of::<TokenRecord>() <= 40);
    }

    #[test]
    fn expiry_is_exclusive() {
        let r = TokenRecord {
            grant: GrantId::NONE,
            client: Sym::from_index(0),
            user: None,
            scope: Sym::from_index(0),
            meta: None,
            issued_at: 100,
            expires_at: 160,
            kind: TokenKind::Access,
        };
        assert!(r.is_live(159));
        assert!(!r.is_live(160));
        assert_eq!(r.seconds_left(100), 60);
        assert_eq!(r.seconds_left(200), 0);
    }
}
