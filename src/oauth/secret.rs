//! Hashing and verifying client secrets and resource-owner passwords.
//!
//! Two kinds of secret, two kinds of hash:
//! - Client secrets are meant to be long random strings, so a salted HMAC-SHA256
//!   (`$hmac-sha256$<salt>$<mac>`) is enough and costs about a microsecond to verify. A slow
//!   hash here is what makes other token servers slow, and buys nothing against a secret
//!   with 128+ bits of entropy.
//! - Resource-owner passwords are chosen by people, so they are argon2id PHC strings, and
//!   verifying one is sent to the password-hash pool (it takes milliseconds and must not
//!   stall a worker). Plain passwords in a development config are stored as HMAC hashes.
//!
//! All comparisons are constant time. Nothing here logs a secret.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

const HMAC_PREFIX: &str = "$hmac-sha256$";

/// A secret in plain text (a development client secret, a password, a database password)
/// on its way to being hashed or used. Reads like the value it wraps (`Deref`) and
/// (de)serializes as it, but its `Debug` is `<redacted>`, so no `{:?}` of a configuration
/// or state can print it.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(transparent)]
pub struct Redacted<T>(pub T);

impl<T> std::fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T> std::ops::Deref for Redacted<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl From<String> for Redacted<String> {
    fn from(s: String) -> Self {
        Redacted(s)
    }
}

impl From<&str> for Redacted<String> {
    fn from(s: &str) -> Self {
        Redacted(s.to_owned())
    }
}

/// A salted HMAC-SHA256 of a client secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash {
    salt: [u8; 16],
    mac: [u8; 32],
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

impl SecretHash {
    /// Hashes `secret` under a fresh random salt.
    pub fn new(secret: &[u8]) -> SecretHash {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        SecretHash {
            salt,
            mac: mac(&salt, secret),
        }
    }

    /// Parses the `$hmac-sha256$<salt>$<mac>` form written by `tessera hash-secret`.
    pub fn parse(text: &str) -> Result<SecretHash, String> {
        let rest = text.strip_prefix(HMAC_PREFIX).ok_or_else(|| {
            format!("expected a hash starting with {HMAC_PREFIX} (from `tessera hash-secret`)")
        })?;
        let (salt, mac) = rest
            .split_once('$')
            .ok_or_else(|| "expected $hmac-sha256$<salt>$<mac>".to_owned())?;
        let decode = |s: &str, what: &str| {
            B64.decode(s)
                .map_err(|e| format!("bad {what} encoding: {e}"))
        };
        let salt: [u8; 16] = decode(salt, "salt")?
            .try_into()
            .map_err(|_| "the salt must be 16 bytes".to_owned())?;
        let mac: [u8; 32] = decode(mac, "mac")?
            .try_into()
            .map_err(|_| "the mac must be 32 bytes".to_owned())?;
        Ok(SecretHash { salt, mac })
    }

    /// Constant-time check of `secret` against this hash.
    pub fn verify(&self, secret: &[u8]) -> bool {
        mac(&self.salt, secret).ct_eq(&self.mac).into()
    }
}

impl std::fmt::Display for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{HMAC_PREFIX}{}${}",
            B64.encode(self.salt),
            B64.encode(self.mac)
        )
    }
}

fn mac(salt: &[u8; 16], secret: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail; the fallback keeps it total.
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(salt) else {
        return [0; 32];
    };
    m.update(secret);
    m.finalize().into_bytes().into()
}

/// How a resource owner's password is stored.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordHash {
    /// An argon2id PHC string; verified on the password-hash pool.
    Argon2(String),
    /// A plain development password, hashed at load; verified inline.
    Fast(SecretHash),
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordHash::Argon2(_) => f.write_str("PasswordHash::Argon2(..)"),
            PasswordHash::Fast(_) => f.write_str("PasswordHash::Fast(..)"),
        }
    }
}

impl PasswordHash {
    /// Validates an argon2 PHC string.
    pub fn parse_argon2(text: &str) -> Result<PasswordHash, String> {
        let parsed = argon2::PasswordHash::new(text)
            .map_err(|e| format!("not an argon2 PHC string: {e}"))?;
        if !parsed.algorithm.as_str().starts_with("argon2") {
            return Err(format!(
                "expected an argon2id hash, found {}",
                parsed.algorithm
            ));
        }
        Ok(PasswordHash::Argon2(text.to_owned()))
    }

    /// True when verifying costs enough that it must run off the worker threads.
    pub fn is_slow(&self) -> bool {
        matches!(self, PasswordHash::Argon2(_))
    }

    pub fn verify(&self, password: &[u8]) -> bool {
        match self {
            PasswordHash::Fast(h) => h.verify(password),
            PasswordHash::Argon2(phc) => match argon2::PasswordHash::new(phc) {
                Ok(parsed) => Argon2::default().verify_password(password, &parsed).is_ok(),
                Err(_) => false,
            },
        }
    }
}

/// An argon2id hash of `password` with the crate's default (OWASP-recommended) parameters.
pub fn argon2id_hash(password: &[u8]) -> Result<String, String> {
    let mut salt_bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_hash_round_trips_through_its_text_form() {
        let h = SecretHash::new(b"s3cret");
        let parsed = SecretHash::parse(&h.to_string()).expect("parse");
        assert!(parsed.verify(b"s3cret"));
        assert!(!parsed.verify(b"s3cre"));
        assert!(!parsed.verify(b""));
    }

    #[test]
    fn same_secret_gets_different_salts() {
        assert_ne!(
            SecretHash::new(b"x").to_string(),
            SecretHash::new(b"x").to_string()
        );
    }

    #[test]
    fn malformed_hashes_are_rejected_with_a_reason() {
        for bad in [
            "",
            "plain",
            "$hmac-sha256$",
            "$hmac-sha256$AAAA$BBBB",
            "$hmac-sha256$!!$!!",
        ] {
            assert!(SecretHash::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn argon2id_hash_verifies_only_the_right_password() {
        let phc = argon2id_hash(b"hunter2").expect("hash");
        assert!(phc.starts_with("$argon2id$"));
        let h = PasswordHash::parse_argon2(&phc).expect("parse");
        assert!(h.is_slow());
        assert!(h.verify(b"hunter2"));
        assert!(!h.verify(b"hunter3"));
    }

    #[test]
    fn debug_output_hides_hashes() {
        assert_eq!(format!("{:?}", SecretHash::new(b"x")), "SecretHash(..)");
    }
}
