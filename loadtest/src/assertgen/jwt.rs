//! JWT bearer assertions (RFC 7523 §3) as compact JWS (RFC 7515 §7.1), signed RS256
//! (RSASSA-PKCS1-v1_5 with SHA-256) or ES256 (ECDSA P-256, the signature as the raw
//! `r || s` of RFC 7518 §3.4). Pure computation over a key the caller loaded.

use base64::Engine;
use openssl::ec::EcKey;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Alg {
    #[value(name = "RS256", alias = "rs256")]
    Rs256,
    #[value(name = "ES256", alias = "es256")]
    Es256,
}

impl Alg {
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }
}

/// What every assertion of a run shares.
#[derive(Debug, Clone)]
pub struct Template {
    pub alg: Alg,
    pub kid: Option<String>,
    pub issuer: String,
    pub subject: String,
    pub audience: String,
}

/// Signs assertions of one template with one key; one per generating thread.
pub struct JwtSigner {
    /// `BASE64URL(header).`
    head: String,
    /// `{"iss":…,"sub":…,"aud":…,` with the strings JSON-escaped once.
    claims_head: String,
    alg: Alg,
    key: PKey<Private>,
    /// The same key as an EC key, for ES256.
    ec: Option<EcKey<Private>>,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("JwtSigner")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

impl JwtSigner {
    pub fn new(t: &Template, key: PKey<Private>) -> Result<JwtSigner, String> {
        let ec = match t.alg {
            Alg::Rs256 => {
                key.rsa()
                    .map_err(|_| "RS256 needs an RSA key (--key)".to_string())?;
                None
            }
            Alg::Es256 => {
                let ec = key
                    .ec_key()
                    .map_err(|_| "ES256 needs a P-256 EC key (--key)".to_string())?;
                if ec.group().curve_name() != Some(openssl::nid::Nid::X9_62_PRIME256V1) {
                    return Err("ES256 needs a P-256 key (--key)".into());
                }
                Some(ec)
            }
        };
        let mut header = serde_json::json!({ "alg": t.alg.name(), "typ": "JWT" });
        if let Some(kid) = &t.kid {
            header["kid"] = kid.as_str().into();
        }
        let q = |s: &str| serde_json::Value::from(s).to_string();
        Ok(JwtSigner {
            head: format!("{}.", b64().encode(header.to_string())),
            claims_head: format!(
                "{{\"iss\":{},\"sub\":{},\"aud\":{},",
                q(&t.issuer),
                q(&t.subject),
                q(&t.audience)
            ),
            alg: t.alg,
            key,
            ec,
        })
    }

    /// One compact JWS with `iat` = `now`, `exp` = `now + lifetime` and `jti`, appended to
    /// `out`.
    pub fn sign_into(
        &self,
        out: &mut Vec<u8>,
        jti: &str,
        now: u64,
        lifetime: u64,
    ) -> Result<(), String> {
        let claims = format!(
            "{}\"iat\":{now},\"exp\":{},\"jti\":{}}}",
            self.claims_head,
            now + lifetime,
            serde_json::Value::from(jti)
        );
        let start = out.len();
        out.extend_from_slice(self.head.as_bytes());
        let mut encoded = String::with_capacity(claims.len() * 4 / 3 + 4);
        b64().encode_string(claims, &mut encoded);
        out.extend_from_slice(encoded.as_bytes());
        let signature = self.sign(&out[start..])?;
        out.push(b'.');
        encoded.clear();
        b64().encode_string(signature, &mut encoded);
        out.extend_from_slice(encoded.as_bytes());
        Ok(())
    }

    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, String> {
        let err = |e: openssl::error::ErrorStack| format!("{} signature: {e}", self.alg.name());
        match &self.ec {
            None => {
                let mut signer = Signer::new(MessageDigest::sha256(), &self.key).map_err(err)?;
                signer.update(input).map_err(err)?;
                signer.sign_to_vec().map_err(err)
            }
            Some(ec) => {
                let digest = openssl::sha::sha256(input);
                let sig = EcdsaSig::sign(&digest, ec).map_err(err)?;
                let mut raw = sig.r().to_vec_padded(32).map_err(err)?;
                raw.extend_from_slice(&sig.s().to_vec_padded(32).map_err(err)?);
                Ok(raw)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::sign::Verifier;

    fn template(alg: Alg) -> Template {
        Template {
            alg,
            kid: Some("k1".into()),
            issuer: "svc-jwt".into(),
            subject: "svc-jwt".into(),
            audience: "https://as.example/api/oauth/token".into(),
        }
    }

    fn parts(jws: &[u8]) -> (serde_json::Value, serde_json::Value, Vec<u8>, usize) {
        let text = std::str::from_utf8(jws).expect("ASCII");
        let mut it = text.split('.');
        let mut next = || b64().decode(it.next().expect("part")).expect("base64url");
        let header = serde_json::from_slice(&next()).expect("header JSON");
        let claims = serde_json::from_slice(&next()).expect("claims JSON");
        let sig = next();
        let signed_len = text.rfind('.').expect("two dots");
        (header, claims, sig, signed_len)
    }

    #[test]
    fn rs256_assertion_verifies_and_carries_the_rfc7523_claims() {
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).expect("rsa")).expect("key");
        let signer = JwtSigner::new(&template(Alg::Rs256), key.clone()).expect("signer");
        let mut out = Vec::new();
        signer.sign_into(&mut out, "j-1", 1000, 240).expect("sign");
        let (header, claims, sig, signed) = parts(&out);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], "k1");
        assert_eq!(claims["iss"], "svc-jwt");
        assert_eq!(claims["sub"], "svc-jwt");
        assert_eq!(claims["aud"], "https://as.example/api/oauth/token");
        assert_eq!(
            (claims["iat"].as_u64(), claims["exp"].as_u64()),
            (Some(1000), Some(1240))
        );
        assert_eq!(claims["jti"], "j-1");
        let mut v = Verifier::new(MessageDigest::sha256(), &key).expect("verifier");
        v.update(&out[..signed]).expect("update");
        assert!(v.verify(&sig).expect("verify"));
    }

    #[test]
    fn es256_signature_is_raw_r_and_s_rfc7518_3_4() {
        let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
            .expect("group");
        let ec = EcKey::generate(&group).expect("ec");
        let key = PKey::from_ec_key(ec.clone()).expect("key");
        let signer = JwtSigner::new(&template(Alg::Es256), key).expect("signer");
        let mut out = b"previous\n".to_vec();
        signer.sign_into(&mut out, "j-2", 5, 60).expect("sign");
        let (_, _, sig, signed) = parts(&out[9..]);
        assert_eq!(sig.len(), 64);
        let r = openssl::bn::BigNum::from_slice(&sig[..32]).expect("r");
        let s = openssl::bn::BigNum::from_slice(&sig[32..]).expect("s");
        let sig = EcdsaSig::from_private_components(r, s).expect("sig");
        let digest = openssl::sha::sha256(&out[9..9 + signed]);
        assert!(sig.verify(&digest, &ec).expect("verify"));
    }

    #[test]
    fn a_key_of_the_wrong_type_is_refused() {
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(1024).expect("rsa")).expect("key");
        assert!(JwtSigner::new(&template(Alg::Es256), key).is_err());
    }
}
