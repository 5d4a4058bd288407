//! The versioned binary encoding of a stored token.
//!
//! Version 1:
//! ```text
//! u8 version=1 | u8 kind | u64 grant | u32 issued_at | u32 expires_at | u8 flags
//! | str client | str scope | [str user if flags&1] | [str meta if flags&2]
//! ```
//! integers little-endian, `str` = u16 length + UTF-8 bytes. A newer Tessera adds a version
//! and keeps decoding every older one; an older Tessera refuses a newer record with a clear
//! error instead of misreading it.

use super::{StoreError, Token, TokenView};
use crate::record::{GrantId, TokenKind};

pub const VERSION: u8 = 1;
const HAS_USER: u8 = 1;
const HAS_META: u8 = 2;

/// Appends the encoding of `token` to `out`. Strings longer than 65535 bytes are cut (the
/// server never produces them: ids, usernames and scopes are bounded by its limits).
pub fn encode<S: AsRef<str>>(token: &Token<S>, out: &mut Vec<u8>) {
    out.push(VERSION);
    out.push(token.kind as u8);
    out.extend_from_slice(&token.grant.0.to_le_bytes());
    out.extend_from_slice(&token.issued_at.to_le_bytes());
    out.extend_from_slice(&token.expires_at.to_le_bytes());
    let flags = if token.user.is_some() { HAS_USER } else { 0 }
        | if token.meta.is_some() { HAS_META } else { 0 };
    out.push(flags);
    put_str(out, token.client.as_ref());
    put_str(out, token.scope.as_ref());
    if let Some(u) = &token.user {
        put_str(out, u.as_ref());
    }
    if let Some(m) = &token.meta {
        put_str(out, m.as_ref());
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_le_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

/// Decodes a record, borrowing its strings from `bytes`.
pub fn decode(bytes: &[u8]) -> Result<TokenView<'_>, StoreError> {
    let mut r = Reader { bytes, pos: 0 };
    match r.u8()? {
        1 => {}
        v => {
            return Err(StoreError::Corrupt {
                message: format!(
                    "record version {v} is not one this Tessera understands (newest: {VERSION})"
                ),
            })
        }
    }
    let k = r.u8()?;
    let kind = TokenKind::from_u8(k).ok_or_else(|| corrupt(&format!("unknown token kind {k}")))?;
    let grant = GrantId(u64::from_le_bytes(r.array()?));
    let issued_at = u32::from_le_bytes(r.array()?);
    let expires_at = u32::from_le_bytes(r.array()?);
    let flags = r.u8()?;
    let client = r.str()?;
    let scope = r.str()?;
    let user = if flags & HAS_USER != 0 {
        Some(r.str()?)
    } else {
        None
    };
    let meta = if flags & HAS_META != 0 {
        Some(r.str()?)
    } else {
        None
    };
    Ok(Token {
        kind,
        grant,
        client,
        user,
        scope,
        meta,
        issued_at,
        expires_at,
    })
}

/// Just the expiry of an encoded record, without decoding its strings.
pub fn expires_at(bytes: &[u8]) -> Option<u32> {
    let b: [u8; 4] = bytes.get(14..18)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

fn corrupt(message: &str) -> StoreError {
    StoreError::Corrupt {
        message: message.to_owned(),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| corrupt("record truncated"))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        self.take(N)?
            .try_into()
            .map_err(|_| corrupt("record truncated"))
    }

    fn str(&mut self) -> Result<&'a str, StoreError> {
        let len = u16::from_le_bytes(self.array()?) as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| corrupt("string is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::CODE_META;

    fn sample() -> TokenView<'static> {
        Token {
            kind: TokenKind::Refresh,
            grant: GrantId(0xdead_beef_1234),
            client: "svc-a",
            user: Some("ålice"),
            scope: "read write",
            meta: Some(r#"{"department":"Engineering"}"#),
            issued_at: 1_700_000_000,
            expires_at: 1_700_043_200,
        }
    }

    #[test]
    fn round_trips_every_field() {
        let mut out = Vec::new();
        encode(&sample(), &mut out);
        assert_eq!(decode(&out).expect("decode"), sample());
        assert_eq!(expires_at(&out), Some(1_700_043_200));
        let bare = Token {
            user: None,
            meta: None,
            ..sample()
        };
        out.clear();
        encode(&bare, &mut out);
        assert_eq!(decode(&out).expect("decode"), bare);
    }

    #[test]
    fn a_used_refresh_token_round_trips_with_its_grant() {
        let used = Token {
            kind: TokenKind::Used,
            ..sample()
        };
        let mut out = Vec::new();
        encode(&used, &mut out);
        assert_eq!(decode(&out).expect("decode"), used);
    }

    #[test]
    fn codes_sessions_and_consents_round_trip() {
        let code = Token {
            kind: TokenKind::Code,
            meta: Some(CODE_META),
            ..sample()
        };
        let session = Token {
            kind: TokenKind::Session,
            grant: GrantId::NONE,
            client: "",
            scope: "",
            meta: None,
            ..sample()
        };
        let consent = Token {
            kind: TokenKind::Consent,
            grant: GrantId::NONE,
            meta: None,
            ..sample()
        };
        for t in [code, session, consent] {
            let mut out = Vec::new();
            encode(&t, &mut out);
            assert_eq!(decode(&out).expect("decode"), t);
        }
    }

    #[test]
    fn an_unknown_kind_is_refused() {
        let mut out = Vec::new();
        encode(&sample(), &mut out);
        out[1] = 7;
        assert!(matches!(decode(&out), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn version_1_bytes_stay_readable() {
        // Written by version 1 of the encoder; must decode the same in every later Tessera.
        let v1: &[u8] = &[
            1, 1, 7, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0, 0, 0, 1, 0, b'c', 2, 0, b'r',
            b'w',
        ];
        let t = decode(v1).expect("decode");
        assert_eq!(
            (t.kind, t.grant, t.issued_at, t.expires_at),
            (TokenKind::Access, GrantId(7), 16, 32)
        );
        assert_eq!((t.client, t.scope, t.user, t.meta), ("c", "rw", None, None));
    }

    #[test]
    fn newer_versions_and_garbage_are_refused_not_misread() {
        assert!(matches!(decode(&[2, 1]), Err(StoreError::Corrupt { .. })));
        assert!(decode(&[]).is_err());
        let mut out = Vec::new();
        encode(&sample(), &mut out);
        for cut in 0..out.len() {
            assert!(decode(&out[..cut]).is_err(), "cut {cut}");
        }
    }
}
