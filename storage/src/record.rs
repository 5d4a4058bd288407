//! What the table keeps for one token: a small `Copy` record.
//!
//! Every variable-length field (client id, username, scope set, metadata) is an interned
//! [`Sym`], so a record is 33 bytes whatever the client sends, and tens of millions of live
//! tokens fit in a few GiB. Times are whole Unix seconds in a `u32` (good until 2106).

use crate::intern::Sym;

/// Identifies one authorization grant: the refresh token of a resource owner's grant and
/// every access token issued under it share one id, so revocation can cascade
/// (RFC 7009 §2.1). Zero means "issued without a grant" (client credentials).
///
/// Aligned to 4 bytes, not 8: the grant maps' slots carry no padding after it. Its value
/// is read by copy only (the compiler refuses a reference to the field of a packed struct;
/// nothing unsound is possible).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(C, packed(4))]
pub struct GrantId(pub u64);

/// The table picks a grant's shard and sub-map by the id's lowest bits, so within one
/// sub-map those bits are all alike; the hash maps' buckets come from the low bits of the
/// hash (and their tags from the top seven). Turning the id round gives both from bits
/// that choose nothing — until 2^25 sub-maps — instead of clustering a sub-map's grants
/// on a few buckets.
impl std::hash::Hash for GrantId {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let id = self.0;
        state.write_u64(id.rotate_right(32));
    }
}

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
    /// for anything. A redeemed authorization code leaves one too, so a second
    /// redemption is recognised (RFC 6749 §4.1.2).
    Used = 3,
    /// An authorization code (RFC 6749 §4.1.2), waiting to be redeemed. Not a token: never
    /// valid as one, and never in the table (its `meta` — redirect URI, PKCE challenge,
    /// nonce, auth_time — is unique per code, and the interner never forgets a string); it
    /// lives in the store and in the server's code table. Its `grant` is the grant every
    /// token issued from it will share.
    Code = 4,
    /// A browser login session (the `tessera_session` cookie's key). Not a token: it
    /// belongs to no client (`client` is ""); `user` is who logged in, `issued_at` the
    /// auth_time. Lives in the table like tokens.
    Session = 5,
    /// A user's consent to a client's scope (`scope`), remembered until it expires. Not a
    /// token; removed with its client or user. Lives in the table like tokens.
    Consent = 6,
}

impl TokenKind {
    /// Whether a record of this kind is an OAuth token a client holds (an access or a
    /// refresh token). Every other kind (a used marker, a code, a session, a consent) is
    /// invisible to tokeninfo, introspection, revocation and the refresh grant.
    #[inline]
    pub fn is_token(self) -> bool {
        matches!(self, TokenKind::Access | TokenKind::Refresh)
    }

    /// The kind whose [`TokenKind`] `as u8` value is `n` (as stored).
    pub fn from_u8(n: u8) -> Option<TokenKind> {
        Some(match n {
            1 => TokenKind::Access,
            2 => TokenKind::Refresh,
            3 => TokenKind::Used,
            4 => TokenKind::Code,
            5 => TokenKind::Session,
            6 => TokenKind::Consent,
            _ => return None,
        })
    }
}

/// Packed (1-byte aligned, 33 bytes): the table's slots are the 16-byte key and this record
/// side by side, 49 bytes instead of 52 with the record padded to 36 — about 5 bytes per
/// live token at the table's load (bench/RESULTS.md, "Memory per live token"). x86-64 and
/// AArch64 read unaligned fields at full speed. The cost is in the source: a field is read
/// by copy (`{ r.client } == sym`, or into a local first), because the compiler refuses a
/// reference to a packed field; nothing unsound is possible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed)]
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
        assert_eq!(std::mem::size_of::<TokenRecord>(), 33);
        // What one table slot costs: the key beside the record, without padding, and an
        // empty slot (`None`) in the record's niche, without a tag byte.
        assert_eq!(std::mem::size_of::<(crate::TokenKey, TokenRecord)>(), 49);
        assert_eq!(
            std::mem::size_of::<Option<(crate::TokenKey, TokenRecord)>>(),
            49
        );
    }

    #[test]
    fn only_access_and_refresh_tokens_are_tokens() {
        use TokenKind::*;
        for kind in [Access, Refresh] {
            assert!(kind.is_token(), "{kind:?}");
        }
        for kind in [Used, Code, Session, Consent] {
            assert!(!kind.is_token(), "{kind:?}");
        }
    }

    #[test]
    fn stored_kind_numbers_are_stable_and_round_trip() {
        use TokenKind::*;
        let all = [Access, Refresh, Used, Code, Session, Consent];
        for (n, kind) in (1u8..).zip(all) {
            assert_eq!(kind as u8, n);
            assert_eq!(TokenKind::from_u8(n), Some(kind));
        }
        assert_eq!(TokenKind::from_u8(0), None);
        assert_eq!(TokenKind::from_u8(7), None);
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
