//! The key a token is stored under: the first 128 bits of SHA-256 of the token.
//!
//! Storing a hash instead of the token means a dump of the table (or, later, of a store)
//! hands out no usable token. 128 bits keep collisions out of reach (birthday bound 2^64)
//! while keeping records small. The bytes are uniformly distributed, so the table uses
//! them directly as hash values (see [`TokenKey::map_hash`] and [`TokenKey::shard_bits`]).

use sha2::{Digest, Sha256};
use std::fmt;

/// SHA-256 of a token, truncated to 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokenKey([u8; 16]);

impl TokenKey {
    /// The key of `token`.
    pub fn of(token: &[u8]) -> TokenKey {
        let digest = Sha256::digest(token);
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        TokenKey(key)
    }

    /// Rebuilds a key from its stored bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> TokenKey {
        TokenKey(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Hash value for the shard's hash map (the first 8 bytes).
    #[inline]
    pub fn map_hash(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(b)
    }

    /// Bits for shard selection, independent of [`TokenKey::map_hash`] (the last 8 bytes).
    #[inline]
    pub fn shard_bits(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[8..]);
        u64::from_le_bytes(b)
    }
}

impl std::hash::Hash for TokenKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.map_hash());
    }
}

/// Keys are not secrets, but printing only a prefix keeps logs short and makes it obvious
/// that a log line never carries a token.
impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenKey(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// A `Hasher` that passes through the `u64` a [`TokenKey`] writes: the key is already a
/// uniformly distributed cryptographic hash, so hashing it again would only cost time.
#[derive(Default, Clone, Copy, Debug)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    /// Only reached by keys other than [`TokenKey`] (grant ids write a `u64` too); a
    /// multiplicative mix keeps it correct for any input.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
}

pub type KeyHashBuilder = std::hash::BuildHasherDefault<KeyHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_token_same_key_different_token_different_key() {
        assert_eq!(TokenKey::of(b"abc"), TokenKey::of(b"abc"));
        assert_ne!(TokenKey::of(b"abc"), TokenKey::of(b"abd"));
    }

    #[test]
    fn key_is_sha256_prefix() {
        // SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 ...
        let k = TokenKey::of(b"abc");
        assert_eq!(&k.as_bytes()[..4], &[0xba, 0x78, 0x16, 0xbf]);
    }

    #[test]
    fn debug_never_prints_the_whole_key() {
        let s = format!("{:?}", TokenKey::of(b"secret-token"));
        assert!(s.len() < 24, "{s}");
    }
}
