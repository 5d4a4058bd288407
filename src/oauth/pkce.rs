//! Proof Key for Code Exchange (RFC 7636): checking a challenge when a code is requested and
//! the verifier when it is redeemed. Pure functions.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `code_challenge_method` (RFC 7636 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    S256,
    Plain,
}

impl Method {
    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "S256" => Some(Method::S256),
            "plain" => Some(Method::Plain),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::S256 => "S256",
            Method::Plain => "plain",
        }
    }
}

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`, and a challenge has the same form
/// (§4.2; an S256 challenge is 43 base64url characters).
pub fn well_formed(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6: whether `verifier` answers `challenge`. Compared in constant time, so the
/// time taken says nothing about how much of a guessed plain verifier was right.
pub fn verify(method: Method, challenge: &str, verifier: &str) -> bool {
    if !well_formed(verifier) {
        return false;
    }
    match method {
        Method::Plain => verifier.as_bytes().ct_eq(challenge.as_bytes()).into(),
        Method::S256 => {
            let encoded = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            encoded.as_bytes().ct_eq(challenge.as_bytes()).into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b_s256_example_verifies() {
        assert!(verify(Method::S256, CHALLENGE, VERIFIER));
        assert!(!verify(
            Method::S256,
            CHALLENGE,
            &VERIFIER.replace('d', "e")
        ));
        assert!(!verify(Method::S256, VERIFIER, VERIFIER));
    }

    #[test]
    fn rfc7636_4_6_plain_compares_the_verifier_itself() {
        assert!(verify(Method::Plain, VERIFIER, VERIFIER));
        assert!(!verify(Method::Plain, CHALLENGE, VERIFIER));
    }

    #[test]
    fn rfc7636_4_1_verifiers_are_43_to_128_unreserved_characters() {
        assert!(well_formed(&"a".repeat(43)));
        assert!(well_formed(&"~._-".repeat(32)));
        assert!(!well_formed(&"a".repeat(42)));
        assert!(!well_formed(&"a".repeat(129)));
        assert!(!well_formed(&format!("{}+", "a".repeat(43))));
        assert!(!verify(Method::Plain, "short", "short"));
    }
}
