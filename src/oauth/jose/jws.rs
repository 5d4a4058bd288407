//! Compact JWS (RFC 7515 §7.1) decoding and signature verification (RFC 7518 §3) for
//! assertions. [`decode`] parses strictly and checks the header; the result is NOT verified
//! until [`Jwt::verify`] (public keys) or [`Jwt::verify_hs256`] (a shared secret) says so.
//! Uses OpenSSL for the signatures; no I/O.
//!
//! Decoding refuses: more than [`MAX_COMPACT_LEN`] bytes; anything but three non-empty
//! segments of canonical base64url without padding; a header or payload that is not a JSON
//! object or repeats a member name; a header without `alg`, with `alg: none` or an unknown
//! `alg`, with `crit` (no extension is understood, RFC 7515 §4.1.11), with a key or a key
//! reference (`jwk`, `jku`, `x5u`: a token cannot name its own trust), or with `enc`/`zip`
//! (JWE, compression). `x5c`, `x5t`, `typ` and `cty` are ignored: a certificate in the
//! token is never used as a key.
//!
//! Verification: PKCS#1 v1.5 (RS*), PSS with MGF1 of the same digest and a salt of the
//! digest's length (PS*, RFC 7518 §3.5), ECDSA with the JWS `R || S` form of the signature,
//! exactly twice the curve's size (ES*, §3.4), Ed25519 (RFC 8037 §3.1), HMAC-SHA256 compared
//! in constant time (HS256, only through [`Jwt::verify_hs256`]).

use super::claims::Claims;
use super::json::{parse_object, JsonError};
use super::keys::{KeyKind, KeySet, Keys, VerifyKey};
use super::{JwsAlg, JwtError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Signer, Verifier};
use serde_json::{Map, Value};
use std::fmt;

/// Longest compact JWS accepted, in bytes. An RSA-4096 signature is 683 characters; 16 KiB
/// leaves ample room for claims while bounding the work an anonymous request can cause.
pub const MAX_COMPACT_LEN: usize = 16 * 1024;
/// Longest `kid`, in bytes.
pub const MAX_KID_LEN: usize = 256;
/// Shortest HS256 secret: RFC 7518 §3.2 wants a key at least as long as the hash output.
pub const MIN_HS256_SECRET: usize = 32;

/// A decoded, NOT verified, compact JWS.
pub struct Jwt<'a> {
    /// `base64url(header) "." base64url(payload)`: what the signature covers.
    signing_input: &'a str,
    alg: JwsAlg,
    kid: Option<String>,
    claims: Claims,
    signature: Vec<u8>,
}

impl fmt::Debug for Jwt<'_> {
    /// No token text: an unused assertion in a log could be replayed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwt")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// Decodes a compact JWS and checks its header (see the module doc). Verifies nothing.
pub fn decode(compact: &str) -> Result<Jwt<'_>, JwtError> {
    if compact.len() > MAX_COMPACT_LEN {
        return Err(JwtError::TooLong);
    }
    let mut parts = compact.split('.');
    let (Some(header_b64), Some(payload_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    if header_b64.is_empty() || payload_b64.is_empty() {
        return Err(JwtError::Malformed);
    }
    let header = object(header_b64, JwtError::BadHeader)?;
    let (alg, kid) = check_header(&header)?;
    let payload = object(payload_b64, JwtError::BadPayload)?;
    let claims = Claims::from_object(&payload)?;
    let signature = b64(sig_b64)?;
    if signature.is_empty() {
        return Err(JwtError::Malformed);
    }
    Ok(Jwt {
        signing_input: &compact[..header_b64.len() + 1 + payload_b64.len()],
        alg,
        kid,
        claims,
        signature,
    })
}

/// Canonical base64url without padding (the engine refuses `=` and non-zero trailing bits,
/// so each byte string has exactly one accepted encoding).
fn b64(segment: &str) -> Result<Vec<u8>, JwtError> {
    B64URL.decode(segment).map_err(|_| JwtError::Malformed)
}

fn object(segment: &str, not_object: JwtError) -> Result<Map<String, Value>, JwtError> {
    parse_object(&b64(segment)?).map_err(|e| match e {
        JsonError::Duplicate => JwtError::DuplicateMember,
        JsonError::NotObject => not_object,
    })
}

fn check_header(header: &Map<String, Value>) -> Result<(JwsAlg, Option<String>), JwtError> {
    if header.contains_key("crit") {
        return Err(JwtError::CritRefused);
    }
    if ["jwk", "jku", "x5u"]
        .iter()
        .any(|m| header.contains_key(*m))
    {
        return Err(JwtError::KeyInHeader);
    }
    if header.contains_key("enc") || header.contains_key("zip") {
        return Err(JwtError::NotJws);
    }
    let alg = match header.get("alg") {
        None => return Err(JwtError::MissingAlg),
        Some(Value::String(name)) if name.eq_ignore_ascii_case("none") => {
            return Err(JwtError::AlgNone)
        }
        Some(Value::String(name)) => JwsAlg::from_name(name).ok_or(JwtError::UnsupportedAlg)?,
        Some(_) => return Err(JwtError::UnsupportedAlg),
    };
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) if kid.len() <= MAX_KID_LEN => Some(kid.clone()),
        Some(_) => return Err(JwtError::BadKid),
    };
    Ok((alg, kid))
}

impl<'a> Jwt<'a> {
    /// The claims, NOT verified: only to choose the keys (by `iss`) before [`Jwt::verify`].
    pub fn claims_unverified(&self) -> &Claims {
        &self.claims
    }

    pub fn alg(&self) -> JwsAlg {
        self.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The claims, once a key of `keys` fitting the header's `alg` (and `kid`) verifies the
    /// signature: the fixed keys first, then the `jwks_uri`'s. Never HS256.
    ///
    /// Asks the `jwks_uri` for an early refresh when the assertion names a `kid` none of
    /// its keys has, or names none and nothing verified: the issuer may have rotated.
    pub fn verify(&self, keys: &Keys) -> Result<&Claims, JwtError> {
        if self.alg == JwsAlg::HS256 {
            return Err(JwtError::AlgNotForKeys);
        }
        let mut tried = 0;
        if self.verifies_with(&keys.fixed, &mut tried) {
            return Ok(&self.claims);
        }
        if let Some(remote) = &keys.remote {
            let set = remote.keys();
            if self.verifies_with(&set, &mut tried) {
                return Ok(&self.claims);
            }
            if self.kid.as_deref().is_none_or(|kid| !set.has_kid(kid)) {
                remote.request_refresh();
            }
        }
        Err(if tried == 0 {
            JwtError::NoKey
        } else {
            JwtError::BadSignature
        })
    }

    /// Whether a candidate key of `set` verifies the signature; counts the candidates tried.
    fn verifies_with(&self, set: &KeySet, tried: &mut usize) -> bool {
        set.candidates(self.alg, self.kid.as_deref()).any(|key| {
            *tried += 1;
            verify_signature(
                self.alg,
                key,
                self.signing_input.as_bytes(),
                &self.signature,
            )
        })
    }

    /// The claims, once HMAC-SHA256 with `secret` (`client_secret_jwt`) verifies the
    /// signature. Refuses every other algorithm and secrets shorter than
    /// [`MIN_HS256_SECRET`] bytes.
    pub fn verify_hs256(&self, secret: &[u8]) -> Result<&Claims, JwtError> {
        if self.alg != JwsAlg::HS256 {
            return Err(JwtError::AlgNotForKeys);
        }
        if secret.len() < MIN_HS256_SECRET {
            return Err(JwtError::WeakSecret);
        }
        let mac = PKey::hmac(secret)
            .and_then(|key| {
                let mut signer = Signer::new(MessageDigest::sha256(), &key)?;
                signer.sign_oneshot_to_vec(self.signing_input.as_bytes())
            })
            .map_err(|_| JwtError::BadSignature)?;
        // memcmp::eq wants equal lengths; the length of a MAC is no secret.
        if mac.len() == self.signature.len() && openssl::memcmp::eq(&mac, &self.signature) {
            Ok(&self.claims)
        } else {
            Err(JwtError::BadSignature)
        }
    }
}

/// Whether `signature` is `key`'s JWS signature of `input` with `alg`. The caller has
/// checked that the key fits the algorithm ([`VerifyKey::fits`]); this checks again, so a
/// mismatch can never verify. Any OpenSSL error counts as "does not verify".
fn verify_signature(alg: JwsAlg, key: &VerifyKey, input: &[u8], signature: &[u8]) -> bool {
    if !key.fits(alg) {
        return false;
    }
    let pkey = key.pkey();
    let outcome = match alg {
        JwsAlg::RS256 | JwsAlg::RS384 | JwsAlg::RS512 => {
            Verifier::new(digest(alg), pkey).and_then(|mut v| {
                v.set_rsa_padding(Padding::PKCS1)?;
                v.verify_oneshot(signature, input)
            })
        }
        JwsAlg::PS256 | JwsAlg::PS384 | JwsAlg::PS512 => {
            Verifier::new(digest(alg), pkey).and_then(|mut v| {
                v.set_rsa_padding(Padding::PKCS1_PSS)?;
                v.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
                v.set_rsa_mgf1_md(digest(alg))?;
                v.verify_oneshot(signature, input)
            })
        }
        JwsAlg::ES256 | JwsAlg::ES384 => {
            let half = if key.kind() == KeyKind::P256 { 32 } else { 48 };
            let Some(der) = ecdsa_der(signature, half) else {
                return false;
            };
            Verifier::new(digest(alg), pkey).and_then(|mut v| v.verify_oneshot(&der, input))
        }
        JwsAlg::EdDSA => {
            if signature.len() != 64 {
                return false;
            }
            Verifier::new_without_digest(pkey).and_then(|mut v| v.verify_oneshot(signature, input))
        }
        JwsAlg::HS256 => return false,
    };
    outcome.unwrap_or(false)
}

fn digest(alg: JwsAlg) -> MessageDigest {
    match alg {
        JwsAlg::RS384 | JwsAlg::PS384 | JwsAlg::ES384 => MessageDigest::sha384(),
        JwsAlg::RS512 | JwsAlg::PS512 => MessageDigest::sha512(),
        _ => MessageDigest::sha256(),
    }
}

/// The DER `ECDSA-Sig-Value` of a JWS `R || S` signature, each half `half` bytes
/// (RFC 7518 §3.4); `None` for any other length or a zero component.
fn ecdsa_der(raw: &[u8], half: usize) -> Option<Vec<u8>> {
    if raw.len() != 2 * half {
        return None;
    }
    let (r, s) = raw.split_at(half);
    let r = BigNum::from_slice(r).ok()?;
    let s = BigNum::from_slice(s).ok()?;
    EcdsaSig::from_private_components(r, s).ok()?.to_der().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::jose::testkeys::{self, TestKey};
    use crate::oauth::jose::{check_claims, RemoteKeys, TimeRules};
    use std::sync::Arc;

    const AUD: &str = "https://as.example/api/oauth/token";
    const NOW: u64 = 1_700_000_000;
    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn claims() -> Value {
        testkeys::claims(NOW, AUD)
    }

    /// Fixed keys: every test key's public JWK, without kid or alg.
    fn all_keys() -> Keys {
        let jwks = serde_json::json!({"keys": [
            testkeys::jwk(TestKey::Rsa, None, None),
            testkeys::jwk(TestKey::P256, None, None),
            testkeys::jwk(TestKey::P384, None, None),
            testkeys::jwk(TestKey::Ed25519, None, None),
        ]});
        Keys::new(
            KeySet::from_jwks(jwks.to_string().as_bytes()).expect("jwks"),
            None,
        )
    }

    fn keys_of(jwks: &[Value]) -> Keys {
        let doc = serde_json::json!({ "keys": jwks });
        Keys::new(
            KeySet::from_jwks(doc.to_string().as_bytes()).expect("jwks"),
            None,
        )
    }

    fn verify(token: &str, keys: &Keys) -> Result<Claims, JwtError> {
        decode(token)?.verify(keys).cloned()
    }

    /// Replaces one segment (0, 1, 2) of a compact JWS.
    fn with_segment(token: &str, index: usize, segment: &str) -> String {
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[index] = segment;
        parts.join(".")
    }

    #[test]
    fn rfc7518_3_every_asymmetric_alg_round_trips() {
        let keys = all_keys();
        for alg in JwsAlg::ALL {
            if alg == JwsAlg::HS256 {
                continue;
            }
            let token = testkeys::token(&claims(), alg, testkeys::key_for(alg), None);
            let jwt = decode(&token).expect("decode");
            assert_eq!(jwt.alg(), alg);
            let c = jwt.verify(&keys).unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!((c.iss.as_str(), c.sub.as_str()), ("partner-x", "alice"));
            let rules = TimeRules {
                now: NOW,
                skew: 60,
                max_lifetime: 300,
            };
            assert_eq!(check_claims(c, &[AUD], rules), Ok(()));
        }
    }

    #[test]
    fn rfc7518_3_2_hs256_round_trips_with_the_secret() {
        let token = testkeys::hs256_token(&claims(), SECRET);
        let jwt = decode(&token).expect("decode");
        assert_eq!(
            jwt.verify_hs256(SECRET).map(|c| c.sub.as_str()),
            Ok("alice")
        );
        let mut wrong = SECRET.to_vec();
        wrong[0] ^= 1;
        assert_eq!(jwt.verify_hs256(&wrong), Err(JwtError::BadSignature));
    }

    #[test]
    fn rfc7518_3_2_short_hs256_secret_refused() {
        let short = &SECRET[..31];
        let token = testkeys::hs256_token(&claims(), short);
        assert_eq!(
            decode(&token).expect("decode").verify_hs256(short),
            Err(JwtError::WeakSecret)
        );
    }

    #[test]
    fn hs256_never_verified_by_verify() {
        let token = testkeys::hs256_token(&claims(), SECRET);
        assert_eq!(verify(&token, &all_keys()), Err(JwtError::AlgNotForKeys));
    }

    #[test]
    fn public_key_algs_never_verified_by_verify_hs256() {
        let token = testkeys::token(&claims(), JwsAlg::RS256, TestKey::Rsa, None);
        assert_eq!(
            decode(&token).expect("decode").verify_hs256(SECRET),
            Err(JwtError::AlgNotForKeys)
        );
    }

    /// The classic key confusion: HS256 keyed with the bytes of the RSA public key's PEM,
    /// which a naive library would take as the HMAC secret.
    #[test]
    fn rs_hs_key_confusion_hs256_signed_with_public_key_pem_refused() {
        let pem = testkeys::public_pem(TestKey::Rsa);
        let token = testkeys::hs256_token(&claims(), &pem);
        let keys = Keys::new(KeySet::from_pem(&pem).expect("pem"), None);
        assert_eq!(verify(&token, &keys), Err(JwtError::AlgNotForKeys));
        assert_eq!(verify(&token, &all_keys()), Err(JwtError::AlgNotForKeys));
    }

    #[test]
    fn tampered_payload_refused() {
        for alg in [JwsAlg::RS256, JwsAlg::PS256, JwsAlg::ES256, JwsAlg::EdDSA] {
            let token = testkeys::token(&claims(), alg, testkeys::key_for(alg), None);
            let mut evil = claims();
            evil["sub"] = "admin".into();
            let tampered = with_segment(&token, 1, &B64URL.encode(evil.to_string()));
            assert_eq!(
                verify(&tampered, &all_keys()),
                Err(JwtError::BadSignature),
                "{alg}"
            );
        }
    }

    #[test]
    fn tampered_header_refused() {
        let token = testkeys::token(&claims(), JwsAlg::RS256, TestKey::Rsa, None);
        let header = serde_json::json!({"alg":"RS256","typ":"JWT","x":1});
        let tampered = with_segment(&token, 0, &B64URL.encode(header.to_string()));
        assert_eq!(verify(&tampered, &all_keys()), Err(JwtError::BadSignature));
    }

    #[test]
    fn wrong_key_refused() {
        let token = testkeys::token(&claims(), JwsAlg::RS256, TestKey::Rsa2, None);
        assert_eq!(verify(&token, &all_keys()), Err(JwtError::BadSignature));
    }

    #[test]
    fn rfc7518_3_6_alg_none_refused_in_any_case() {
        for none in ["none", "None", "NONE", "nOnE"] {
            let header = serde_json::json!({"alg": none});
            let input = testkeys::signing_input(&header, &claims());
            for token in [format!("{input}."), format!("{input}.AAAA")] {
                assert_eq!(decode(&token).err(), Some(JwtError::AlgNone), "{none}");
            }
        }
    }

    #[test]
    fn rfc7515_4_1_1_missing_or_unknown_alg_refused() {
        let cases = [
            (serde_json::json!({"typ":"JWT"}), JwtError::MissingAlg),
            (serde_json::json!({"alg":"rs256"}), JwtError::UnsupportedAlg),
            (serde_json::json!({"alg":"ES512"}), JwtError::UnsupportedAlg),
            (serde_json::json!({"alg":"HS512"}), JwtError::UnsupportedAlg),
            (
                serde_json::json!({"alg":"ES256K"}),
                JwtError::UnsupportedAlg,
            ),
            (
                serde_json::json!({"alg":["RS256"]}),
                JwtError::UnsupportedAlg,
            ),
            (serde_json::json!({"alg":null}), JwtError::UnsupportedAlg),
        ];
        for (header, err) in cases {
            let token = format!("{}.AAAA", testkeys::signing_input(&header, &claims()));
            assert_eq!(decode(&token).err(), Some(err), "{header}");
        }
    }

    #[test]
    fn es256_with_a_p384_key_refused() {
        // Signed by the P-384 key with SHA-256, labelled ES256.
        let p384 = testkeys::private(TestKey::P384);
        let header = serde_json::json!({"alg":"ES256"});
        let input = testkeys::signing_input(&header, &claims());
        let mut signer = Signer::new(MessageDigest::sha256(), p384).expect("signer");
        let der = signer.sign_oneshot_to_vec(input.as_bytes()).expect("sign");
        let sig = EcdsaSig::from_der(&der).expect("der");
        let mut raw = sig.r().to_vec_padded(48).expect("r");
        raw.extend(sig.s().to_vec_padded(48).expect("s"));
        let token = format!("{input}.{}", B64URL.encode(&raw));
        let p384_only = keys_of(&[testkeys::jwk(TestKey::P384, None, None)]);
        assert_eq!(verify(&token, &p384_only), Err(JwtError::NoKey));
        assert_eq!(verify(&token, &all_keys()), Err(JwtError::BadSignature));
        // And the other way: ES384 against a P-256-only set.
        let token = testkeys::token(&claims(), JwsAlg::ES384, TestKey::P384, None);
        let p256_only = keys_of(&[testkeys::jwk(TestKey::P256, None, None)]);
        assert_eq!(verify(&token, &p256_only), Err(JwtError::NoKey));
    }

    #[test]
    fn algorithm_substitution_across_key_types_refused() {
        // An RSA key never verifies ES/EdDSA, an EC key never RS/PS.
        let rsa_only = keys_of(&[testkeys::jwk(TestKey::Rsa, None, None)]);
        let token = testkeys::token(&claims(), JwsAlg::ES256, TestKey::P256, None);
        assert_eq!(verify(&token, &rsa_only), Err(JwtError::NoKey));
        let ec_only = keys_of(&[testkeys::jwk(TestKey::P256, None, None)]);
        let token = testkeys::token(&claims(), JwsAlg::RS256, TestKey::Rsa, None);
        assert_eq!(verify(&token, &ec_only), Err(JwtError::NoKey));
        // PKCS#1 v1.5 signature presented as PS256.
        let rs = testkeys::token(&claims(), JwsAlg::RS256, TestKey::Rsa, None);
        let header = B64URL.encode(r#"{"alg":"PS256"}"#);
        let ps = with_segment(&rs, 0, &header);
        assert_eq!(verify(&ps, &rsa_only), Err(JwtError::BadSignature));
    }

    #[test]
    fn rfc7518_3_4_ecdsa_signature_of_wrong_length_or_der_refused() {
        let token = testkeys::token(&claims(), JwsAlg::ES256, TestKey::P256, None);
        let sig = B64URL
            .decode(token.rsplit('.').next().unwrap_or_default())
            .expect("b64");
        let keys = all_keys();
        let mut longer = sig.clone();
        longer.push(0);
        for bad in [&sig[..63], &longer[..], &[0u8; 64][..]] {
            let t = with_segment(&token, 2, &B64URL.encode(bad));
            assert_eq!(verify(&t, &keys), Err(JwtError::BadSignature));
        }
        // The DER form OpenSSL produces is not the JWS form.
        let r = BigNum::from_slice(&sig[..32]).expect("r");
        let s = BigNum::from_slice(&sig[32..]).expect("s");
        let der = EcdsaSig::from_private_components(r, s)
            .and_then(|e| e.to_der())
            .expect("der");
        let t = with_segment(&token, 2, &B64URL.encode(der));
        assert_eq!(verify(&t, &keys), Err(JwtError::BadSignature));
    }

    #[test]
    fn rfc7515_4_1_4_kid_narrows_the_keys_tried() {
        let keys = keys_of(&[
            testkeys::jwk(TestKey::Rsa, Some("a"), None),
            testkeys::jwk(TestKey::Rsa2, Some("b"), None),
        ]);
        let by_b = testkeys::token(&claims(), JwsAlg::RS256, TestKey::Rsa2, Some("b"));
        assert!(verify(&by_b, &keys).is_ok());
        // Signed by b's key but naming a: only a is tried.
        let named_a = testkeys::token(&claims(), JwsAlg::RS256, TestKey::Rsa2, Some("a"));
        assert_eq!(verify(&named_a, &keys), Err(JwtError::BadSignature));
        let named_c = testkeys::token(&claims(), JwsAlg::RS256, TestKey::Rsa2, Some("c"));
        assert_eq!(verify(&named_c, &keys), Err(JwtError::NoKey));
        // Without kid every fitting key is tried.
        let no_kid = testkeys::token(&claims(), JwsAlg::RS256, TestKey::Rsa2, None);
        assert!(verify(&no_kid, &keys).is_ok());
    }

    #[test]
    fn pem_keys_without_kid_match_any_kid() {
        let keys = Keys::new(
            KeySet::from_pem(&testkeys::public_pem(TestKey::P256)).expect("pem"),
            None,
        );
        let token = testkeys::token(&claims(), JwsAlg::ES256, TestKey::P256, Some("k1"));
        assert!(verify(&token, &keys).is_ok());
    }

    #[test]
    fn rfc7517_4_4_jwk_alg_must_equal_header_alg() {
        let keys = keys_of(&[testkeys::jwk(TestKey::Rsa, None, Some(JwsAlg::RS256))]);
        let rs384 = testkeys::token(&claims(), JwsAlg::RS384, TestKey::Rsa, None);
        assert_eq!(verify(&rs384, &keys), Err(JwtError::NoKey));
        let ps256 = testkeys::token(&claims(), JwsAlg::PS256, TestKey::Rsa, None);
        assert_eq!(verify(&ps256, &keys), Err(JwtError::NoKey));
        let rs256 = testkeys::token(&claims(), JwsAlg::RS256, TestKey::Rsa, None);
        assert!(verify(&rs256, &keys).is_ok());
    }

    #[test]
    fn rfc7515_4_1_11_crit_refused() {
        for crit in [
            serde_json::json!(["exp"]),
            serde_json::json!([]),
            serde_json::json!(null),
        ] {
            let header = serde_json::json!({"alg":"RS256","crit":crit,"exp":1});
            let token =
                testkeys::token_with_header(&header, &claims(), JwsAlg::RS256, TestKey::Rsa);
            assert_eq!(decode(&token).err(), Some(JwtError::CritRefused));
        }
    }

    #[test]
    fn rfc7515_4_1_2_to_4_1_5_keys_in_header_refused() {
        let embedded = testkeys::jwk(TestKey::Rsa2, None, None);
        for (name, value) in [
            ("jwk", embedded),
            ("jku", "https://evil.example/jwks".into()),
            ("x5u", "https://evil.example/cert".into()),
        ] {
            let mut header = serde_json::json!({"alg":"RS256"});
            header[name] = value;
            let token =
                testkeys::token_with_header(&header, &claims(), JwsAlg::RS256, TestKey::Rsa2);
            assert_eq!(decode(&token).err(), Some(JwtError::KeyInHeader), "{name}");
        }
    }

    #[test]
    fn x5c_in_header_is_never_the_key() {
        let cert = testkeys::certificate_pem(TestKey::Rsa2);
        let header = serde_json::json!({"alg":"RS256","x5c":[String::from_utf8_lossy(&cert)]});
        let token = testkeys::token_with_header(&header, &claims(), JwsAlg::RS256, TestKey::Rsa2);
        assert_eq!(verify(&token, &all_keys()), Err(JwtError::BadSignature));
    }

    #[test]
    fn jwe_and_compressed_headers_refused() {
        for header in [
            serde_json::json!({"alg":"RS256","enc":"A128GCM"}),
            serde_json::json!({"alg":"RS256","zip":"DEF"}),
        ] {
            let token =
                testkeys::token_with_header(&header, &claims(), JwsAlg::RS256, TestKey::Rsa);
            assert_eq!(decode(&token).err(), Some(JwtError::NotJws));
        }
    }

    #[test]
    fn bad_kid_refused() {
        for kid in [serde_json::json!(1), "k".repeat(MAX_KID_LEN + 1).into()] {
            let header = serde_json::json!({"alg":"RS256","kid":kid});
            let token =
                testkeys::token_with_header(&header, &claims(), JwsAlg::RS256, TestKey::Rsa);
            assert_eq!(decode(&token).err(), Some(JwtError::BadKid));
        }
    }

    #[test]
    fn rfc7515_5_2_duplicate_members_refused() {
        let header = B64URL.encode(r#"{"alg":"RS256","alg":"none"}"#);
        let token = testkeys::token(&claims(), JwsAlg::RS256, TestKey::Rsa, None);
        assert_eq!(
            decode(&with_segment(&token, 0, &header)).err(),
            Some(JwtError::DuplicateMember)
        );
        let payload =
            B64URL.encode(r#"{"iss":"partner-x","sub":"alice","sub":"admin","aud":"a","exp":1}"#);
        assert_eq!(
            decode(&with_segment(&token, 1, &payload)).err(),
            Some(JwtError::DuplicateMember)
        );
    }

    #[test]
    fn rfc7515_7_1_malformed_segments_refused() {
        let token = testkeys::token(&claims(), JwsAlg::RS256, TestKey::Rsa, None);
        let (input, sig) = token.rsplit_once('.').unwrap_or_default();
        let (header, payload) = input.split_once('.').unwrap_or_default();
        let cases = [
            String::new(),
            ".".into(),
            "..".into(),
            "...".into(),
            input.into(),
            format!("{token}."),
            format!("{token}.{sig}"),
            format!(".{payload}.{sig}"),
            format!("{header}..{sig}"),
            format!("{input}."),
            format!("{header}=.{payload}.{sig}"),
            format!("{input}.{sig}="),
            format!("{header}.{payload}+.{sig}"),
            format!("{input}.{}", sig.replace('-', "+").replace('_', "/")),
            format!(" {token}"),
            format!("{token}\n"),
        ];
        for bad in &cases {
            let got = decode(bad).err();
            assert!(
                matches!(got, Some(JwtError::Malformed | JwtError::BadSignature)),
                "{bad:?}: {got:?}"
            );
        }
        // Not a JSON object, once decoded.
        let not_json = B64URL.encode("[1,2]");
        assert_eq!(
            decode(&with_segment(&token, 0, &not_json)).err(),
            Some(JwtError::BadHeader)
        );
        assert_eq!(
            decode(&with_segment(&token, 1, &not_json)).err(),
            Some(JwtError::BadPayload)
        );
        let not_utf8 = B64URL.encode([0xff, 0xfe, b'{', b'}']);
        assert_eq!(
            decode(&with_segment(&token, 1, &not_utf8)).err(),
            Some(JwtError::BadPayload)
        );
    }

    #[test]
    fn non_canonical_base64_trailing_bits_refused() {
        // A 32-byte HS256 MAC is 43 base64url characters whose last carries 2 unused bits:
        // flipping them decodes to the same bytes in a lax decoder.
        let token = testkeys::hs256_token(&claims(), SECRET);
        let (input, sig) = token.rsplit_once('.').unwrap_or_default();
        let last = sig.chars().last().unwrap_or('A');
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let idx = alphabet.find(last).unwrap_or(0);
        let flipped = alphabet.chars().nth(idx ^ 1).unwrap_or('A');
        let malleable = format!("{input}.{}{flipped}", &sig[..sig.len() - 1]);
        assert_eq!(decode(&malleable).err(), Some(JwtError::Malformed));
    }

    #[test]
    fn huge_input_refused_before_parsing() {
        let huge = "a".repeat(MAX_COMPACT_LEN + 1);
        assert_eq!(decode(&huge).err(), Some(JwtError::TooLong));
        let mut claims = claims();
        claims["pad"] = "x".repeat(MAX_COMPACT_LEN).into();
        let token = testkeys::token(&claims, JwsAlg::ES256, TestKey::P256, None);
        assert_eq!(decode(&token).err(), Some(JwtError::TooLong));
    }

    #[test]
    fn claims_errors_surface_from_decode() {
        let mut c = claims();
        c.as_object_mut().map(|m| m.remove("exp"));
        let token = testkeys::token(&c, JwsAlg::ES256, TestKey::P256, None);
        assert_eq!(
            decode(&token).err(),
            Some(JwtError::MissingClaim(crate::oauth::jose::ClaimName::Exp))
        );
    }

    #[test]
    fn no_keys_at_all_is_no_key() {
        let token = testkeys::token(&claims(), JwsAlg::RS256, TestKey::Rsa, None);
        assert_eq!(verify(&token, &Keys::default()), Err(JwtError::NoKey));
    }

    #[test]
    fn remote_keys_verify_and_unknown_kid_requests_refresh() {
        let remote = Arc::new(RemoteKeys::new("https://idp.example/jwks"));
        let keys = Keys::new(KeySet::empty(), Some(Arc::clone(&remote)));
        let token = testkeys::token(&claims(), JwsAlg::ES256, TestKey::P256, Some("new"));
        assert_eq!(verify(&token, &keys), Err(JwtError::NoKey));
        assert!(
            remote.take_refresh_request(),
            "unknown kid asks for a refresh"
        );
        let doc = serde_json::json!({"keys":[testkeys::jwk(TestKey::P256, Some("new"), None)]});
        remote.replace(KeySet::from_jwks(doc.to_string().as_bytes()).expect("jwks"));
        assert!(verify(&token, &keys).is_ok());
        assert!(!remote.refresh_requested());
        // A known kid with a bad signature is no reason to refetch.
        let forged = with_segment(&token, 2, &B64URL.encode([7u8; 64]));
        assert_eq!(verify(&forged, &keys), Err(JwtError::BadSignature));
        assert!(!remote.refresh_requested());
    }

    #[test]
    fn fixed_keys_tried_before_remote() {
        let remote = Arc::new(RemoteKeys::new("https://idp.example/jwks"));
        let keys = Keys::new(
            KeySet::from_pem(&testkeys::public_pem(TestKey::Ed25519)).expect("pem"),
            Some(Arc::clone(&remote)),
        );
        let token = testkeys::token(&claims(), JwsAlg::EdDSA, TestKey::Ed25519, None);
        assert!(verify(&token, &keys).is_ok());
        assert!(!remote.refresh_requested());
    }

    #[test]
    fn errors_never_echo_the_token() {
        let token = testkeys::token(&claims(), JwsAlg::RS256, TestKey::Rsa2, None);
        let err = verify(&token, &all_keys()).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("the assertion's signature does not verify")
        );
        let jwt = decode(&token).expect("decode");
        let debug = format!("{jwt:?}");
        assert!(
            !debug.contains(&token[..20])
                && !debug.contains(token.rsplit('.').next().unwrap_or(""))
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn b64_of(bytes: Vec<u8>) -> String {
            B64URL.encode(bytes)
        }

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(
                    |f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
                ),
                ".{0,12}".prop_map(Value::from),
                prop_oneof![
                    Just("RS256"),
                    Just("none"),
                    Just("HS256"),
                    Just("ES256"),
                    Just("EdDSA")
                ]
                .prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 24, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    prop::collection::btree_map(
                        prop_oneof![
                            Just("alg".to_owned()),
                            Just("kid".to_owned()),
                            Just("iss".to_owned()),
                            Just("sub".to_owned()),
                            Just("aud".to_owned()),
                            Just("exp".to_owned()),
                            Just("nbf".to_owned()),
                            Just("iat".to_owned()),
                            Just("jti".to_owned()),
                            Just("crit".to_owned()),
                            ".{0,6}"
                        ],
                        inner,
                        0..8
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn decode_never_panics_on_arbitrary_strings(s in ".{0,400}") {
                let _ = decode(&s);
            }

            #[test]
            fn decode_refuses_arbitrary_base64url_segments(
                a in prop::collection::vec(any::<u8>(), 0..64),
                b in prop::collection::vec(any::<u8>(), 0..64),
                c in prop::collection::vec(any::<u8>(), 0..64),
            ) {
                let token = format!("{}.{}.{}", b64_of(a), b64_of(b), b64_of(c));
                prop_assert!(decode(&token).is_err());
            }

            #[test]
            fn decode_and_verify_never_panic_on_random_json(
                header in json_value(), payload in json_value(),
                sig in prop::collection::vec(any::<u8>(), 0..128),
            ) {
                let token = format!(
                    "{}.{}.{}",
                    B64URL.encode(header.to_string()),
                    B64URL.encode(payload.to_string()),
                    B64URL.encode(sig),
                );
                if let Ok(jwt) = decode(&token) {
                    // Random bytes never verify.
                    prop_assert!(jwt.verify(&all_keys()).is_err());
                    prop_assert!(jwt.verify_hs256(SECRET).is_err());
                }
            }

            #[test]
            fn verified_token_with_any_flipped_byte_refused(
                alg_index in 0usize..9, pos in any::<prop::sample::Index>(), bit in 0u8..8,
            ) {
                let alg = JwsAlg::ALL[alg_index];
                let token = testkeys::token(&claims(), alg, testkeys::key_for(alg), None);
                let mut bytes = token.into_bytes();
                let i = pos.index(bytes.len());
                bytes[i] ^= 1 << bit;
                if let Ok(s) = String::from_utf8(bytes) {
                    if let Ok(jwt) = decode(&s) {
                        prop_assert!(jwt.verify(&all_keys()).is_err());
                    }
                }
            }

            #[test]
            fn key_parsers_never_panic_on_arbitrary_input(
                bytes in prop::collection::vec(any::<u8>(), 0..512),
                jwk in json_value(),
            ) {
                let _ = KeySet::from_pem(&bytes);
                let _ = KeySet::from_jwks(&bytes);
                let doc = serde_json::json!({"keys": [jwk]});
                let _ = KeySet::from_jwks(doc.to_string().as_bytes());
                let mut pem = b"-----BEGIN PUBLIC KEY-----\n".to_vec();
                pem.extend(&bytes);
                pem.extend(b"\n-----END PUBLIC KEY-----\n");
                prop_assert!(KeySet::from_pem(&pem).is_err());
            }
        }
    }
}
