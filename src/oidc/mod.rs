//! OpenID Connect's cryptography and documents: the signing keys kept in the store or in
//! PEM files ([`keys`]), compact JWS signing ([`jws`]), the JWK Set ([`jwks`]), ID tokens
//! ([`id_token`]) and the discovery documents ([`discovery`]).
//!
//! Everything but [`keys::load_or_create`], [`keys::rotate_in_store`] and
//! [`keys::read_from_store`] is pure (inputs in, strings out); those three call the `Store`
//! trait's settings and block, so they run at start-up, in the CLI or on the cluster sync
//! thread, never on a worker. Signing uses OpenSSL (already linked for the Cassandra
//! driver's TLS): RSA private-key operations in constant time, unlike the pure-Rust `rsa`
//! crate (RUSTSEC-2023-0071). Uses `config` (`[oidc]`, clients' scopes), `oauth::secret`
//! (`Redacted`) and `tessera_storage`'s `Store`; nothing of the HTTP side.

pub mod discovery;
pub mod id_token;
pub mod jwks;
pub mod jws;
pub mod keys;

pub use self::discovery::{documents, Documents};
pub use self::id_token::{sign_id_token, IdTokenClaims};
pub use self::jwks::jwks_json;
pub use self::keys::{load_or_create, rotate_in_store, KeySet, SigningKey};
pub use crate::config::SigningAlg;

use std::fmt;
use tessera_storage::store::StoreError;

/// What can go wrong with the keys or signing.
#[derive(Debug)]
#[non_exhaustive]
pub enum OidcError {
    /// The key set has no signing key for this algorithm (key files give none): a client
    /// asking for it cannot get an ID token.
    NoSigningKey(SigningAlg),
    /// OpenSSL failed to generate, read or use a key.
    Crypto(String),
    /// The stored key set document cannot be used.
    BadDocument(String),
    /// A configured key file (`key`: `oidc.signing_key_files[N]`) cannot sign.
    KeyFile { key: String, message: String },
    /// The keys come from `[oidc] signing_key_files`: they are rotated by replacing files,
    /// not in the store.
    KeysFromFiles,
    /// Other nodes kept writing the key set while this one tried to.
    Contended,
    /// Reading or writing the store failed.
    Store(StoreError),
}

impl fmt::Display for OidcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OidcError::NoSigningKey(alg) => write!(f, "no {alg} signing key"),
            OidcError::Crypto(m) => write!(f, "signing key: {m}"),
            OidcError::BadDocument(m) => write!(f, "stored OIDC signing keys: {m}"),
            OidcError::KeyFile { key, message } => write!(f, "{key}: {message}"),
            OidcError::KeysFromFiles => f.write_str(
                "the signing keys come from oidc.signing_key_files: rotate by listing a new \
                 key file first (keep the old one listed until its ID tokens have expired)",
            ),
            OidcError::Contended => f.write_str("the stored signing keys kept changing; try again"),
            OidcError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for OidcError {}

impl From<openssl::error::ErrorStack> for OidcError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        OidcError::Crypto(e.to_string())
    }
}

impl From<StoreError> for OidcError {
    fn from(e: StoreError) -> Self {
        OidcError::Store(e)
    }
}
