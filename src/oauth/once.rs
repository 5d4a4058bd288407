//! One-time values that have no record of their own — an assertion's `jti` (RFC 7523 §3
//! item 7) or a SAML assertion's `ID` (RFC 7522 §3 item 8) — as the key and lifetime under
//! which the store remembers their use, so a replay fails on every node.
//!
//! Touches only storage keys. The key is a hash in its own domain (a prefix and the
//! issuer, length-delimited), so one issuer's `jti` never collides with another's, nor
//! with the key of a token the server minted (those are alphanumeric, without NUL bytes).

use tessera_storage::TokenKey;

/// A one-time value to use up: its key, and the second until which its use is remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OneTime {
    pub key: TokenKey,
    pub until: u32,
}

impl OneTime {
    /// A JWT's `jti` from `issuer`, remembered until `until`.
    pub fn jwt(issuer: &str, jti: &str, until: u64) -> OneTime {
        OneTime::of(b"tessera\0jwt-jti\0", issuer, jti, until)
    }

    /// A SAML assertion's `ID` from `issuer`, remembered until `until`.
    pub fn saml(issuer: &str, id: &str, until: u64) -> OneTime {
        OneTime::of(b"tessera\0saml-id\0", issuer, id, until)
    }

    fn of(domain: &[u8], issuer: &str, value: &str, until: u64) -> OneTime {
        let mut bytes = Vec::with_capacity(domain.len() + 8 + issuer.len() + value.len());
        bytes.extend_from_slice(domain);
        bytes.extend_from_slice(&(issuer.len() as u64).to_be_bytes());
        bytes.extend_from_slice(issuer.as_bytes());
        bytes.extend_from_slice(value.as_bytes());
        OneTime {
            key: TokenKey::of(&bytes),
            until: u32::try_from(until).unwrap_or(u32::MAX),
        }
    }

    /// Seconds the use must be remembered from `now` (at least one).
    pub fn ttl(&self, now: u32) -> u32 {
        self.until.saturating_sub(now).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_jti_from_two_issuers_or_kinds_is_two_values() {
        let a = OneTime::jwt("https://a", "1", 10);
        assert_eq!(a, OneTime::jwt("https://a", "1", 10));
        assert_ne!(a.key, OneTime::jwt("https://b", "1", 10).key);
        assert_ne!(a.key, OneTime::saml("https://a", "1", 10).key);
        // Length-delimited: the boundary between issuer and value cannot move.
        assert_ne!(
            OneTime::jwt("ab", "c", 1).key,
            OneTime::jwt("a", "bc", 1).key
        );
    }
}
