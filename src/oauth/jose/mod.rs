//! JOSE for assertions (issue 13): decoding and verifying the compact JWS that a client or a
//! trusted issuer presents — the JWT bearer grant (RFC 7523 §2.1) and JWT client
//! authentication (RFC 7523 §2.2, `private_key_jwt` / `client_secret_jwt`) — and checking its
//! registered claims (RFC 7519 §4.1).
//!
//! Pure: no I/O, no clock, no configuration. It may use OpenSSL, serde_json, base64 and
//! `arc_swap`/`parking_lot` for [`RemoteKeys`]' shared state; the fetching of a `jwks_uri`
//! lives in `crate::registry::jwks_fetch`, which only calls [`RemoteKeys::replace`].
//!
//! - [`jws`]: [`decode`] (strict compact parsing, header rules) and [`Jwt::verify`] /
//!   [`Jwt::verify_hs256`] (signature checks).
//! - [`keys`]: [`KeySet`] (JWKS and PEM keys), [`RemoteKeys`] (a `jwks_uri`'s current set),
//!   [`Keys`] (what one client or issuer is verified with).
//! - [`claims`]: [`Claims`] and [`check_claims`] (expiry, not-before, lifetime, audience).
//! - [`json`]: JSON parsing that refuses repeated member names.
//!
//! The attacks this layer is built against: `alg: none`; RS/HS key confusion (a public key
//! used as an HMAC secret: [`Jwt::verify`] never accepts HS256, and [`Jwt::verify_hs256`]
//! never accepts anything else); algorithm substitution (each key only verifies the
//! algorithms its type and curve fit, and a JWK's own `alg` must match); keys carried or
//! pointed to by the token itself (`jwk`, `jku`, `x5u`, `x5c`: never used); `crit`
//! extensions we would silently ignore; repeated JSON members that two parsers read
//! differently; oversized input; and non-canonical base64 or signatures (malleability).
//! No error description echoes any part of the token.

pub mod claims;
pub mod json;
pub mod jws;
pub mod keys;

#[cfg(test)]
pub(crate) mod testkeys;

pub use claims::{check_claims, Claims, TimeRules};
pub use jws::{decode, Jwt};
pub use keys::{KeyError, KeySet, Keys, RemoteKeys};

use std::fmt;

/// The JWS algorithms (RFC 7518 §3.1) this server verifies. HS256 exists only for
/// `client_secret_jwt` ([`Jwt::verify_hs256`]); [`Jwt::verify`] refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlg {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    /// ECDSA with P-256 and SHA-256 only.
    ES256,
    /// ECDSA with P-384 and SHA-384 only.
    ES384,
    /// Ed25519 only (RFC 8037); Ed448 is not supported.
    EdDSA,
    HS256,
}

impl JwsAlg {
    /// The `alg` name, case-sensitive as RFC 7515 §4.1.1 requires.
    pub fn from_name(name: &str) -> Option<JwsAlg> {
        Some(match name {
            "RS256" => JwsAlg::RS256,
            "RS384" => JwsAlg::RS384,
            "RS512" => JwsAlg::RS512,
            "PS256" => JwsAlg::PS256,
            "PS384" => JwsAlg::PS384,
            "PS512" => JwsAlg::PS512,
            "ES256" => JwsAlg::ES256,
            "ES384" => JwsAlg::ES384,
            "EdDSA" => JwsAlg::EdDSA,
            "HS256" => JwsAlg::HS256,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JwsAlg::RS256 => "RS256",
            JwsAlg::RS384 => "RS384",
            JwsAlg::RS512 => "RS512",
            JwsAlg::PS256 => "PS256",
            JwsAlg::PS384 => "PS384",
            JwsAlg::PS512 => "PS512",
            JwsAlg::ES256 => "ES256",
            JwsAlg::ES384 => "ES384",
            JwsAlg::EdDSA => "EdDSA",
            JwsAlg::HS256 => "HS256",
        }
    }

    /// Every algorithm, for tests and documentation.
    pub const ALL: [JwsAlg; 10] = [
        JwsAlg::RS256,
        JwsAlg::RS384,
        JwsAlg::RS512,
        JwsAlg::PS256,
        JwsAlg::PS384,
        JwsAlg::PS512,
        JwsAlg::ES256,
        JwsAlg::ES384,
        JwsAlg::EdDSA,
        JwsAlg::HS256,
    ];
}

impl fmt::Display for JwsAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered claim, to say which one is missing or malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimName {
    Iss,
    Sub,
    Aud,
    Exp,
    Nbf,
    Iat,
    Jti,
}

impl ClaimName {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimName::Iss => "iss",
            ClaimName::Sub => "sub",
            ClaimName::Aud => "aud",
            ClaimName::Exp => "exp",
            ClaimName::Nbf => "nbf",
            ClaimName::Iat => "iat",
            ClaimName::Jti => "jti",
        }
    }
}

/// Why an assertion was refused. [`JwtError::description`] is safe to send to the client as
/// an `error_description`: it names the failed check and never echoes the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// Longer than [`jws::MAX_COMPACT_LEN`].
    TooLong,
    /// Not three non-empty base64url (no padding, canonical) segments.
    Malformed,
    /// The JOSE header is not a JSON object.
    BadHeader,
    /// The payload is not a JSON object.
    BadPayload,
    /// A JSON object in the header or payload repeats a member name.
    DuplicateMember,
    /// The header has no `alg`.
    MissingAlg,
    /// `alg: none` (in any letter case).
    AlgNone,
    /// An `alg` this server does not verify.
    UnsupportedAlg,
    /// HS256 where keys are expected, or a public-key algorithm where a shared secret is.
    AlgNotForKeys,
    /// The header has `crit` (RFC 7515 §4.1.11): no extension is understood here.
    CritRefused,
    /// The header carries or points to a key (`jwk`, `jku`, `x5u`).
    KeyInHeader,
    /// `enc` or `zip`: a JWE or a compressed payload.
    NotJws,
    /// `kid` is not a string of at most [`jws::MAX_KID_LEN`] bytes.
    BadKid,
    /// No registered key fits the algorithm (and `kid`).
    NoKey,
    /// No candidate key verifies the signature.
    BadSignature,
    /// The HMAC secret is shorter than [`jws::MIN_HS256_SECRET`] bytes.
    WeakSecret,
    MissingClaim(ClaimName),
    /// Wrong type, empty, too long, negative or not finite.
    InvalidClaim(ClaimName),
    Expired,
    NotYetValid,
    IssuedInFuture,
    LifetimeTooLong,
    AudienceMismatch,
}

impl JwtError {
    /// A description for the client (`error_description`) and the logs.
    pub fn description(&self) -> &'static str {
        match self {
            JwtError::TooLong => "the assertion is too long",
            JwtError::Malformed => {
                "the assertion is not a compact JWS (three base64url parts without padding)"
            }
            JwtError::BadHeader => "the assertion's JOSE header is not a JSON object",
            JwtError::BadPayload => "the assertion's payload is not a JSON object",
            JwtError::DuplicateMember => "the assertion repeats a JSON member name",
            JwtError::MissingAlg => "the assertion's header has no alg",
            JwtError::AlgNone => "the assertion is not signed (alg none)",
            JwtError::UnsupportedAlg => "the assertion's signing algorithm is not supported",
            JwtError::AlgNotForKeys => {
                "the assertion's signing algorithm does not fit the keys registered for its issuer"
            }
            JwtError::CritRefused => {
                "the assertion's header has critical extensions (crit), which are not supported"
            }
            JwtError::KeyInHeader => {
                "the assertion's header carries or points to a key (jwk, jku, x5u), which is never trusted"
            }
            JwtError::NotJws => "the assertion is encrypted or compressed, which is not supported",
            JwtError::BadKid => "the assertion's kid is not a short string",
            JwtError::NoKey => {
                "no key registered for the assertion's issuer fits its algorithm and kid"
            }
            JwtError::BadSignature => "the assertion's signature does not verify",
            JwtError::WeakSecret => {
                "the client's secret is too short for client_secret_jwt (at least 32 bytes)"
            }
            JwtError::MissingClaim(c) => match c {
                ClaimName::Iss => "the assertion has no iss claim",
                ClaimName::Sub => "the assertion has no sub claim",
                ClaimName::Aud => "the assertion has no aud claim",
                ClaimName::Exp => "the assertion has no exp claim",
                ClaimName::Nbf => "the assertion has no nbf claim",
                ClaimName::Iat => "the assertion has no iat claim",
                ClaimName::Jti => "the assertion has no jti claim",
            },
            JwtError::InvalidClaim(c) => match c {
                ClaimName::Iss => "the assertion's iss claim is not a non-empty short string",
                ClaimName::Sub => "the assertion's sub claim is not a non-empty short string",
                ClaimName::Aud => "the assertion's aud claim is not a string or an array of strings",
                ClaimName::Exp => "the assertion's exp claim is not a valid NumericDate",
                ClaimName::Nbf => "the assertion's nbf claim is not a valid NumericDate",
                ClaimName::Iat => "the assertion's iat claim is not a valid NumericDate",
                ClaimName::Jti => "the assertion's jti claim is not a non-empty short string",
            },
            JwtError::Expired => "the assertion has expired",
            JwtError::NotYetValid => "the assertion is not valid yet (nbf)",
            JwtError::IssuedInFuture => "the assertion was issued in the future (iat)",
            JwtError::LifetimeTooLong => "the assertion's lifetime is longer than allowed",
            JwtError::AudienceMismatch => {
                "the assertion's audience does not include this token endpoint"
            }
        }
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for JwtError {}
