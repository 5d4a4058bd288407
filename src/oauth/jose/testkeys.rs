//! Test support: keys generated once per test binary, their JWK and PEM forms, and JWS
//! signing with OpenSSL, so the tests of this module build real assertions. Test-only.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use super::JwsAlg;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{RsaPssSaltlen, Signer};
use openssl::x509::{X509Builder, X509NameBuilder};
use serde_json::Value;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestKey {
    Rsa,
    /// A second RSA key: "the wrong key".
    Rsa2,
    P256,
    P384,
    Ed25519,
}

pub fn private(key: TestKey) -> &'static PKey<Private> {
    static KEYS: OnceLock<[PKey<Private>; 5]> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let ec = |nid| {
            let group = EcGroup::from_curve_name(nid).expect("group");
            PKey::from_ec_key(EcKey::generate(&group).expect("ec")).expect("pkey")
        };
        [
            PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey"),
            PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey"),
            ec(Nid::X9_62_PRIME256V1),
            ec(Nid::SECP384R1),
            PKey::generate_ed25519().expect("ed25519"),
        ]
    });
    match key {
        TestKey::Rsa => &keys[0],
        TestKey::Rsa2 => &keys[1],
        TestKey::P256 => &keys[2],
        TestKey::P384 => &keys[3],
        TestKey::Ed25519 => &keys[4],
    }
}

/// The key an algorithm is signed with in the round-trip tests.
pub fn key_for(alg: JwsAlg) -> TestKey {
    match alg {
        JwsAlg::ES256 => TestKey::P256,
        JwsAlg::ES384 => TestKey::P384,
        JwsAlg::EdDSA => TestKey::Ed25519,
        _ => TestKey::Rsa,
    }
}

/// The public JWK of `key`, with optional `kid` and `alg`.
pub fn jwk(key: TestKey, kid: Option<&str>, alg: Option<JwsAlg>) -> Value {
    let pkey = private(key);
    let b64 = |b: &[u8]| Value::from(B64URL.encode(b));
    let mut jwk = match key {
        TestKey::Rsa | TestKey::Rsa2 => {
            let rsa = pkey.rsa().expect("rsa");
            serde_json::json!({"kty":"RSA","n":b64(&rsa.n().to_vec()),"e":b64(&rsa.e().to_vec())})
        }
        TestKey::P256 | TestKey::P384 => {
            let (crv, len) = if key == TestKey::P256 {
                ("P-256", 32)
            } else {
                ("P-384", 48)
            };
            let ec = pkey.ec_key().expect("ec");
            let mut x = BigNum::new().expect("bn");
            let mut y = BigNum::new().expect("bn");
            let mut ctx = BigNumContext::new().expect("ctx");
            ec.public_key()
                .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
                .expect("coords");
            serde_json::json!({
                "kty":"EC","crv":crv,
                "x":b64(&x.to_vec_padded(len).expect("x")),
                "y":b64(&y.to_vec_padded(len).expect("y")),
            })
        }
        TestKey::Ed25519 => {
            serde_json::json!({"kty":"OKP","crv":"Ed25519","x":b64(&pkey.raw_public_key().expect("raw"))})
        }
    };
    if let Some(kid) = kid {
        jwk["kid"] = kid.into();
    }
    if let Some(alg) = alg {
        jwk["alg"] = alg.as_str().into();
    }
    jwk
}

pub fn rsa_jwk_of_bits(bits: u32) -> Value {
    let rsa = Rsa::generate(bits).expect("rsa");
    let b64 = |b: &[u8]| Value::from(B64URL.encode(b));
    serde_json::json!({"kty":"RSA","n":b64(&rsa.n().to_vec()),"e":b64(&rsa.e().to_vec())})
}

/// `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo).
pub fn public_pem(key: TestKey) -> Vec<u8> {
    private(key).public_key_to_pem().expect("pem")
}

/// `-----BEGIN PRIVATE KEY-----` (PKCS#8).
pub fn private_pem(key: TestKey) -> Vec<u8> {
    private(key).private_key_to_pem_pkcs8().expect("pem")
}

/// `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1) of [`TestKey::Rsa`].
pub fn rsa_pkcs1_pem() -> Vec<u8> {
    private(TestKey::Rsa)
        .rsa()
        .expect("rsa")
        .public_key_to_pem_pkcs1()
        .expect("pem")
}

/// A self-signed certificate of `key` (not Ed25519: it signs with SHA-256).
pub fn certificate_pem(key: TestKey) -> Vec<u8> {
    let pkey = private(key);
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "test").expect("cn");
    let name = name.build();
    let mut b = X509Builder::new().expect("x509");
    b.set_version(2).expect("version");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(pkey).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("t"))
        .expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(1).expect("t"))
        .expect("na");
    b.sign(pkey, MessageDigest::sha256()).expect("sign");
    b.build().to_pem().expect("pem")
}

/// The JWS signature (RFC 7518 §3) of `input` with `alg` by `key`.
pub fn sign(alg: JwsAlg, key: &PKey<Private>, input: &[u8]) -> Vec<u8> {
    let md = |bits| match bits {
        256 => MessageDigest::sha256(),
        384 => MessageDigest::sha384(),
        _ => MessageDigest::sha512(),
    };
    match alg {
        JwsAlg::RS256 | JwsAlg::RS384 | JwsAlg::RS512 => {
            let bits = digest_bits(alg);
            let mut s = Signer::new(md(bits), key).expect("signer");
            s.set_rsa_padding(Padding::PKCS1).expect("pad");
            s.sign_oneshot_to_vec(input).expect("sign")
        }
        JwsAlg::PS256 | JwsAlg::PS384 | JwsAlg::PS512 => {
            let bits = digest_bits(alg);
            let mut s = Signer::new(md(bits), key).expect("signer");
            s.set_rsa_padding(Padding::PKCS1_PSS).expect("pad");
            s.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
                .expect("salt");
            s.set_rsa_mgf1_md(md(bits)).expect("mgf1");
            s.sign_oneshot_to_vec(input).expect("sign")
        }
        JwsAlg::ES256 | JwsAlg::ES384 => {
            let (bits, len) = if alg == JwsAlg::ES256 {
                (256, 32)
            } else {
                (384, 48)
            };
            let mut s = Signer::new(md(bits), key).expect("signer");
            let der = s.sign_oneshot_to_vec(input).expect("sign");
            let sig = EcdsaSig::from_der(&der).expect("der");
            let mut raw = sig.r().to_vec_padded(len).expect("r");
            raw.extend(sig.s().to_vec_padded(len).expect("s"));
            raw
        }
        JwsAlg::EdDSA => {
            assert_eq!(key.id(), Id::ED25519);
            let mut s = Signer::new_without_digest(key).expect("signer");
            s.sign_oneshot_to_vec(input).expect("sign")
        }
        JwsAlg::HS256 => panic!("use hs256()"),
    }
}

fn digest_bits(alg: JwsAlg) -> u32 {
    match alg {
        JwsAlg::RS384 | JwsAlg::PS384 | JwsAlg::ES384 => 384,
        JwsAlg::RS512 | JwsAlg::PS512 => 512,
        _ => 256,
    }
}

pub fn hs256(secret: &[u8], input: &[u8]) -> Vec<u8> {
    let key = PKey::hmac(secret).expect("hmac");
    let mut s = Signer::new(MessageDigest::sha256(), &key).expect("signer");
    s.sign_oneshot_to_vec(input).expect("sign")
}

/// `b64(header).b64(claims)`.
pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    )
}

/// A compact JWS of `claims` under `header` signed with `alg` by `key`.
pub fn token_with_header(header: &Value, claims: &Value, alg: JwsAlg, key: TestKey) -> String {
    let input = signing_input(header, claims);
    let sig = sign(alg, private(key), input.as_bytes());
    format!("{input}.{}", B64URL.encode(sig))
}

/// A compact JWS with header `{"alg": alg, "typ": "JWT"}` (and `kid` if given).
pub fn token(claims: &Value, alg: JwsAlg, key: TestKey, kid: Option<&str>) -> String {
    let mut header = serde_json::json!({"alg": alg.as_str(), "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = kid.into();
    }
    token_with_header(&header, claims, alg, key)
}

/// A compact HS256 JWS.
pub fn hs256_token(claims: &Value, secret: &[u8]) -> String {
    let header = serde_json::json!({"alg": "HS256", "typ": "JWT"});
    let input = signing_input(&header, claims);
    let sig = hs256(secret, input.as_bytes());
    format!("{input}.{}", B64URL.encode(sig))
}

/// Claims that pass [`super::check_claims`] at `now` for audience `aud`.
pub fn claims(now: u64, aud: &str) -> Value {
    serde_json::json!({
        "iss": "partner-x", "sub": "alice", "aud": aud,
        "exp": now + 120, "iat": now, "jti": "jti-1",
    })
}
