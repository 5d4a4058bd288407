//! The ID token (OpenID Connect Core §2): its claims, built from what the authorization
//! decided, and signed with the key set's signing key for the client's algorithm. Pure:
//! inputs in, a compact JWS out; the caller chooses the user claims the scopes allow.

use super::jws::sign_compact;
use super::keys::KeySet;
use super::OidcError;
use crate::config::SigningAlg;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Claim names Tessera sets itself (and JWT/OIDC claims it never sets but that a user
/// claim must not fake): a user claim of one of these names is left out.
const PROTOCOL_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "c_hash",
    "azp",
    "acr",
    "amr",
    "jti",
    "nbf",
    "sid",
];

/// What an ID token says. Times are seconds since the Unix epoch.
#[derive(Debug, Clone, Copy)]
pub struct IdTokenClaims<'a> {
    /// `iss`: the issuer identifier.
    pub issuer: &'a str,
    /// `sub`: the user (the username: subject type `public`).
    pub subject: &'a str,
    /// `aud` and `azp`: the client the token is for.
    pub client_id: &'a str,
    /// `iat`.
    pub issued_at: u64,
    /// `exp`: `issued_at + [oidc] id_token_ttl_secs`.
    pub expires_at: u64,
    /// `auth_time`: when the user logged in (the session's start).
    pub auth_time: u64,
    /// `nonce`: the authorization request's, when it had one (OIDC Core §3.1.2.1).
    pub nonce: Option<&'a str>,
    /// The access token issued with this ID token, for `at_hash` (OIDC Core §3.1.3.6,
    /// §3.2.2.10); `None` when none is (`response_type=id_token`).
    pub access_token: Option<&'a str>,
    /// User claims (`name`, `email`, …), already filtered by the granted scopes. A name
    /// that is a protocol claim (`sub`, `iss`, …) is ignored.
    pub user_claims: &'a [(&'a str, &'a str)],
}

/// `at_hash`: the left half of the SHA-256 of the access token's ASCII, base64url
/// (OIDC Core §3.1.3.6; RS256 and ES256 both hash with SHA-256).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    B64URL.encode(&digest[..digest.len() / 2])
}

/// The claims' JSON object.
pub fn claims_json(claims: &IdTokenClaims<'_>) -> String {
    let mut map = Map::new();
    for (name, value) in claims.user_claims {
        if !PROTOCOL_CLAIMS.contains(name) {
            map.insert((*name).to_owned(), Value::from(*value));
        }
    }
    map.insert("iss".to_owned(), Value::from(claims.issuer));
    map.insert("sub".to_owned(), Value::from(claims.subject));
    map.insert("aud".to_owned(), Value::from(claims.client_id));
    map.insert("azp".to_owned(), Value::from(claims.client_id));
    map.insert("exp".to_owned(), Value::from(claims.expires_at));
    map.insert("iat".to_owned(), Value::from(claims.issued_at));
    map.insert("auth_time".to_owned(), Value::from(claims.auth_time));
    if let Some(nonce) = claims.nonce {
        map.insert("nonce".to_owned(), Value::from(nonce));
    }
    if let Some(token) = claims.access_token {
        map.insert("at_hash".to_owned(), Value::from(at_hash(token)));
    }
    Value::Object(map).to_string()
}

/// The ID token for `claims`, signed by the signing key of `alg` in `keys`.
/// [`OidcError::NoSigningKey`] when the set has none (key files without a key of that
/// algorithm).
pub fn sign_id_token(
    keys: &KeySet,
    alg: SigningAlg,
    claims: &IdTokenClaims<'_>,
) -> Result<String, OidcError> {
    let key = keys.active(alg).ok_or(OidcError::NoSigningKey(alg))?;
    sign_compact(key, claims_json(claims).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::jws::tests::verify;
    use crate::oidc::keys::tests::test_keys;
    use serde_json::json;

    fn claims<'a>(user_claims: &'a [(&'a str, &'a str)]) -> IdTokenClaims<'a> {
        IdTokenClaims {
            issuer: "https://auth.example.com",
            subject: "alice",
            client_id: "web-app",
            issued_at: 1_700_000_000,
            expires_at: 1_700_000_060,
            auth_time: 1_699_999_000,
            nonce: Some("n-0S6_WzA2Mj"),
            access_token: Some("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            user_claims,
        }
    }

    #[test]
    fn at_hash_is_the_left_half_of_sha256_base64url_oidc_core_3_1_3_6() {
        // The example of OpenID Connect Core Appendix A.3 (RS256 → SHA-256).
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn id_token_carries_the_required_claims_and_verifies_oidc_core_2() {
        let user = [("name", "Alice Liddell"), ("email", "alice@example.com")];
        for alg in SigningAlg::ALL {
            let token = sign_id_token(test_keys(), alg, &claims(&user)).expect("sign");
            let key = test_keys().active(alg).expect("key");
            let (header, payload) = verify(&token, key.public_jwk());
            assert_eq!(header["alg"], alg.as_str());
            assert_eq!(header["kid"], key.kid());
            assert_eq!(
                payload,
                json!({
                    "iss": "https://auth.example.com",
                    "sub": "alice",
                    "aud": "web-app",
                    "azp": "web-app",
                    "exp": 1_700_000_060,
                    "iat": 1_700_000_000,
                    "auth_time": 1_699_999_000,
                    "nonce": "n-0S6_WzA2Mj",
                    "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
                    "name": "Alice Liddell",
                    "email": "alice@example.com",
                })
            );
        }
    }

    #[test]
    fn nonce_and_at_hash_only_when_given() {
        let c = IdTokenClaims {
            nonce: None,
            access_token: None,
            ..claims(&[])
        };
        let payload: Value = serde_json::from_str(&claims_json(&c)).expect("json");
        assert!(payload.get("nonce").is_none());
        assert!(payload.get("at_hash").is_none());
        assert_eq!(payload["sub"], "alice");
    }

    #[test]
    fn user_claims_cannot_replace_protocol_claims() {
        let user = [
            ("sub", "mallory"),
            ("iss", "https://evil"),
            ("aud", "x"),
            ("name", "A"),
        ];
        let payload: Value = serde_json::from_str(&claims_json(&claims(&user))).expect("json");
        assert_eq!(payload["sub"], "alice");
        assert_eq!(payload["iss"], "https://auth.example.com");
        assert_eq!(payload["aud"], "web-app");
        assert_eq!(payload["name"], "A");
    }

    #[test]
    fn no_key_for_the_algorithm_is_an_error() {
        let rsa_only = KeySet::default();
        assert!(matches!(
            sign_id_token(&rsa_only, SigningAlg::ES256, &claims(&[])),
            Err(OidcError::NoSigningKey(SigningAlg::ES256))
        ));
    }
}
