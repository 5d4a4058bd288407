//! Compact JWS signing (RFC 7515 §7.1) with a [`SigningKey`]: header `alg`, `kid`,
//! `typ: "JWT"`; RS256 = RSASSA-PKCS1-v1_5 with SHA-256, ES256 = ECDSA P-256 with SHA-256
//! in the JWS form of the signature (R and S, 32 bytes each, RFC 7518 §3.4), not the DER
//! OpenSSL produces. Uses OpenSSL, which signs RSA with blinding (constant time); no I/O.

use super::keys::SigningKey;
use super::OidcError;
use crate::config::SigningAlg;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use openssl::bn::BigNumRef;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::sign::Signer;

/// Bytes of each of R and S in an ES256 signature (the P-256 order's size).
const ES256_HALF: i32 = 32;

/// `base64url(header) "." base64url(payload) "." base64url(signature)` of `payload` (the
/// claims' JSON) signed by `key`.
pub fn sign_compact(key: &SigningKey, payload: &[u8]) -> Result<String, OidcError> {
    let header = serde_json::json!({
        "alg": key.alg().as_str(),
        "kid": key.kid(),
        "typ": "JWT",
    })
    .to_string();
    let mut out = String::with_capacity(
        (header.len() + payload.len()) * 4 / 3 + 8 + key.pkey().size() * 4 / 3,
    );
    B64URL.encode_string(header.as_bytes(), &mut out);
    out.push('.');
    B64URL.encode_string(payload, &mut out);
    let signature = sign(key, out.as_bytes())?;
    out.push('.');
    B64URL.encode_string(&signature, &mut out);
    Ok(out)
}

/// The JWS signature of `input` (the ASCII signing input) by `key`.
fn sign(key: &SigningKey, input: &[u8]) -> Result<Vec<u8>, OidcError> {
    // PKCS#1 v1.5 is OpenSSL's default padding for an RSA key.
    let mut signer = Signer::new(MessageDigest::sha256(), key.pkey())?;
    signer.update(input)?;
    let signature = signer.sign_to_vec()?;
    match key.alg() {
        SigningAlg::RS256 => Ok(signature),
        SigningAlg::ES256 => {
            let der = EcdsaSig::from_der(&signature)?;
            let mut raw = padded(der.r())?;
            raw.extend_from_slice(&padded(der.s())?);
            Ok(raw)
        }
    }
}

fn padded(n: &BigNumRef) -> Result<Vec<u8>, OidcError> {
    Ok(n.to_vec_padded(ES256_HALF)?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::oidc::keys::tests::test_keys;
    use crate::oidc::keys::PublicJwk;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use openssl::pkey::{PKey, Public};
    use openssl::rsa::Rsa;
    use openssl::sign::Verifier;

    /// The public key a relying party builds from the JWK members alone.
    fn public_key_of(jwk: &PublicJwk) -> PKey<Public> {
        let bn = |s: &str| BigNum::from_slice(&B64URL.decode(s).expect("base64url")).expect("bn");
        match jwk {
            PublicJwk::Rsa { n, e } => {
                PKey::from_rsa(Rsa::from_public_components(bn(n), bn(e)).expect("rsa"))
                    .expect("pkey")
            }
            PublicJwk::Ec { x, y } => {
                let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("p256");
                let ec = EcKey::from_public_key_affine_coordinates(&group, &bn(x), &bn(y))
                    .expect("point");
                PKey::from_ec_key(ec).expect("pkey")
            }
        }
    }

    /// Verifies a compact JWS against `jwk` as a relying party would (RFC 7515 §5.2) and
    /// returns its header and payload; panics if it does not verify.
    pub(crate) fn verify(jws: &str, jwk: &PublicJwk) -> (serde_json::Value, serde_json::Value) {
        let (header, payload, ok) = check(jws, jwk);
        assert!(ok, "signature does not verify: {jws}");
        (header, payload)
    }

    fn check(jws: &str, jwk: &PublicJwk) -> (serde_json::Value, serde_json::Value, bool) {
        let mut parts = jws.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            panic!("not three parts: {jws}")
        };
        let header: serde_json::Value =
            serde_json::from_slice(&B64URL.decode(h).expect("header b64")).expect("header");
        let payload: serde_json::Value =
            serde_json::from_slice(&B64URL.decode(p).expect("payload b64")).expect("payload");
        let sig = B64URL.decode(s).expect("sig b64");
        let input = format!("{h}.{p}");
        let key = public_key_of(jwk);
        let ok = match header["alg"].as_str() {
            Some("RS256") => {
                let mut v = Verifier::new(MessageDigest::sha256(), &key).expect("verifier");
                v.verify_oneshot(&sig, input.as_bytes()).expect("verify")
            }
            Some("ES256") => {
                assert_eq!(sig.len(), 64, "ES256 signature is R || S");
                let r = BigNum::from_slice(&sig[..32]).expect("r");
                let s = BigNum::from_slice(&sig[32..]).expect("s");
                let der = EcdsaSig::from_private_components(r, s)
                    .and_then(|e| e.to_der())
                    .expect("der");
                let mut v = Verifier::new(MessageDigest::sha256(), &key).expect("verifier");
                v.verify_oneshot(&der, input.as_bytes()).expect("verify")
            }
            other => panic!("alg {other:?}"),
        };
        (header, payload, ok)
    }

    #[test]
    fn rs256_and_es256_signatures_verify_with_the_jwk_alone() {
        let payload = br#"{"sub":"alice"}"#;
        for alg in SigningAlg::ALL {
            let key = test_keys().active(alg).expect("key");
            let jws = sign_compact(key, payload).expect("sign");
            let (header, claims) = verify(&jws, key.public_jwk());
            assert_eq!(
                header,
                serde_json::json!({"alg": alg.as_str(), "kid": key.kid(), "typ": "JWT"})
            );
            assert_eq!(claims, serde_json::json!({"sub": "alice"}));
        }
    }

    #[test]
    fn es256_signatures_are_64_bytes_whatever_the_size_of_r_and_s() {
        // R or S has a leading zero byte about once in 128 signatures: sign enough that the
        // padding is exercised, and check every length.
        let key = test_keys().active(SigningAlg::ES256).expect("key");
        for i in 0..300 {
            let jws = sign_compact(key, format!("{{\"n\":{i}}}").as_bytes()).expect("sign");
            let sig = jws.rsplit('.').next().expect("sig");
            assert_eq!(B64URL.decode(sig).expect("b64").len(), 64);
            if i % 50 == 0 {
                verify(&jws, key.public_jwk());
            }
        }
    }

    #[test]
    fn a_changed_payload_fails_verification() {
        let key = test_keys().active(SigningAlg::RS256).expect("key");
        let jws = sign_compact(key, br#"{"sub":"alice"}"#).expect("sign");
        let mut parts: Vec<&str> = jws.split('.').collect();
        let forged = B64URL.encode(br#"{"sub":"mallory"}"#);
        parts[1] = &forged;
        let forged = parts.join(".");
        assert!(!check(&forged, key.public_jwk()).2);
    }
}
