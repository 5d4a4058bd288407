//! The JWK Set (RFC 7517 §5) served at `jwks_uri`: the public half of every key of a
//! [`KeySet`] — the signing keys and the retiring ones, so tokens signed before a rotation
//! still verify. Members per key: `kty`, `use: "sig"`, `alg`, `kid`, and `n`/`e` (RSA) or
//! `crv`/`x`/`y` (EC). Pure: builds a string.

use super::keys::{KeySet, PublicJwk};
use serde_json::{json, Value};

/// The JWKS document of `keys`: `{"keys":[…]}`, public parts only.
pub fn jwks_json(keys: &KeySet) -> String {
    let keys: Vec<Value> = keys
        .keys()
        .iter()
        .map(|k| {
            let mut jwk = match k.public_jwk() {
                PublicJwk::Rsa { n, e } => json!({"kty": "RSA", "n": n, "e": e}),
                PublicJwk::Ec { x, y } => json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
            };
            jwk["use"] = json!("sig");
            jwk["alg"] = json!(k.alg().as_str());
            jwk["kid"] = json!(k.kid());
            jwk
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SigningAlg;
    use crate::oidc::jws::sign_compact;
    use crate::oidc::jws::tests::verify;
    use crate::oidc::keys::tests::test_keys;

    /// A relying party's reading of a JWK (RFC 7517 §4).
    fn jwk_of(v: &Value) -> PublicJwk {
        let s = |k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("{k} in {v}"))
                .to_owned()
        };
        match v["kty"].as_str() {
            Some("RSA") => PublicJwk::Rsa {
                n: s("n"),
                e: s("e"),
            },
            Some("EC") => {
                assert_eq!(v["crv"], "P-256");
                PublicJwk::Ec {
                    x: s("x"),
                    y: s("y"),
                }
            }
            other => panic!("kty {other:?}"),
        }
    }

    #[test]
    fn every_key_is_published_with_its_public_members_only() {
        let mut set = test_keys().clone();
        set.rotate(SigningAlg::RS256, 1_700_000_500, 60)
            .expect("rotate");
        let doc: Value = serde_json::from_str(&jwks_json(&set)).expect("json");
        let keys = doc["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 3, "the retiring key stays published");
        for (jwk, key) in keys.iter().zip(set.keys()) {
            assert_eq!(jwk["kid"], key.kid());
            assert_eq!(jwk["alg"], key.alg().as_str());
            assert_eq!(jwk["use"], "sig");
            let mut members: Vec<&str> = jwk
                .as_object()
                .expect("object")
                .keys()
                .map(String::as_str)
                .collect();
            members.sort_unstable();
            let want: &[&str] = match key.alg() {
                SigningAlg::RS256 => &["alg", "e", "kid", "kty", "n", "use"],
                SigningAlg::ES256 => &["alg", "crv", "kid", "kty", "use", "x", "y"],
            };
            // No "d", "p", "q", … : nothing private.
            assert_eq!(members, want);
            assert_eq!(jwk_of(jwk).thumbprint(), key.kid());
        }
    }

    #[test]
    fn a_token_verifies_with_the_jwk_found_by_its_kid() {
        let set = test_keys();
        let doc: Value = serde_json::from_str(&jwks_json(set)).expect("json");
        for alg in SigningAlg::ALL {
            let jws = sign_compact(set.active(alg).expect("key"), b"{}").expect("sign");
            let (header, _) = jws.split_once('.').expect("dot");
            let header: Value = serde_json::from_slice(
                &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header)
                    .expect("b64"),
            )
            .expect("json");
            let jwk = doc["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .find(|k| k["kid"] == header["kid"])
                .expect("kid published");
            verify(&jws, &jwk_of(jwk));
        }
    }
}
