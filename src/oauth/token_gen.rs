//! Token strings: CSPRNG bytes mapped onto a 64-symbol URL-safe alphabet.
//!
//! The alphabet has exactly 64 symbols, so each random byte's low six bits pick a symbol
//! with equal probability: no modulo bias, no rejection loop. A token of `n` characters
//! carries `6n` bits (54 → 324 bits). The generator is `rand`'s thread-local CSPRNG
//! (ChaCha, reseeded from the OS), one per worker thread, so generating takes no lock.
//! Tokens are built in a stack buffer and only ever leave it in the response.

use rand::RngCore;

/// Shortest token accepted: 22 characters of a 64-symbol alphabet carry 132 bits, above the
/// 128 bits RFC 6749 §10.10 asks for.
pub const MIN_TOKEN_LENGTH: usize = 22;
/// Longest token accepted (tokens are built in a fixed stack buffer).
pub const MAX_TOKEN_LENGTH: usize = 256;

/// A-Z a-z 0-9 - _ : unreserved in URLs (RFC 3986 §2.3), safe in forms and headers.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A freshly generated token, on the stack.
pub struct TokenBuf {
    bytes: [u8; MAX_TOKEN_LENGTH],
    len: usize,
}

impl TokenBuf {
    /// A new random token of `len` characters (clamped to the supported range).
    pub fn generate(len: usize) -> TokenBuf {
        let len = len.min(MAX_TOKEN_LENGTH);
        let mut bytes = [0u8; MAX_TOKEN_LENGTH];
        rand::rng().fill_bytes(&mut bytes[..len]);
        for b in &mut bytes[..len] {
            *b = ALPHABET[usize::from(*b & 63)];
        }
        TokenBuf { bytes, len }
    }

    pub fn as_str(&self) -> &str {
        // Every byte was taken from ALPHABET, which is ASCII.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Tokens are credentials: never print one by accident.
impl std::fmt::Debug for TokenBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenBuf({} chars)", self.len)
    }
}

/// A random non-zero grant id.
pub fn grant_id() -> u64 {
    rand::rng().next_u64() | 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn tokens_have_the_requested_length_and_alphabet() {
        for len in [22, 46, 54, 256] {
            let t = TokenBuf::generate(len);
            assert_eq!(t.as_str().len(), len);
            assert!(t.as_bytes().iter().all(|b| ALPHABET.contains(b)));
        }
    }

    #[test]
    fn tokens_do_not_repeat() {
        let set: HashSet<String> = (0..10_000)
            .map(|_| TokenBuf::generate(22).as_str().to_owned())
            .collect();
        assert_eq!(set.len(), 10_000);
    }

    #[test]
    fn every_symbol_is_used_about_equally() {
        // 64 symbols × ~1600 draws each: a biased mapping would leave some far off the mean.
        let mut counts = [0u32; 256];
        for _ in 0..2000 {
            for &b in TokenBuf::generate(54).as_bytes() {
                counts[usize::from(b)] += 1;
            }
        }
        let used: Vec<u32> = ALPHABET.iter().map(|&c| counts[usize::from(c)]).collect();
        let mean = 2000.0 * 54.0 / 64.0;
        for (i, &n) in used.iter().enumerate() {
            let dev = (f64::from(n) - mean).abs() / mean;
            assert!(
                dev < 0.15,
                "symbol {} used {n} times (mean {mean})",
                ALPHABET[i] as char
            );
        }
    }
}
