//! The keys of the assertion benchmarks (`tessera-loadtest gen-keys`): an RSA 2048 and a
//! P-256 signing key with the JWKS a client registers for them (`jwks_file`), and a SAML
//! identity provider's RSA key with its self-signed certificate (`certificate_files`).
//! Also reads a PEM signing key back for `gen-assertions`. Writes only into the directory
//! it is given.

use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};
use std::path::Path;

/// Key ids in the JWKS; `gen-assertions --kid` puts the matching one in each JWS header.
pub const RS256_KID: &str = "bench-rs256";
pub const ES256_KID: &str = "bench-es256";

fn ssl(what: &'static str) -> impl Fn(openssl::error::ErrorStack) -> String {
    move |e| format!("{what}: {e}")
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes into `dir`: `rs256.pem`, `es256.pem` (PKCS#8 private keys), `rs256.pub.pem`,
/// `es256.pub.pem`, `jwks.json` (both public keys, kids `bench-rs256` / `bench-es256`),
/// `saml.key` (PKCS#8) and `saml.crt` (self-signed, a year).
pub fn generate(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let rsa = Rsa::generate(2048).map_err(ssl("RSA key"))?;
    let (n, e) = (rsa.n().to_vec(), rsa.e().to_vec());
    let rs = PKey::from_rsa(rsa).map_err(ssl("RSA key"))?;
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(ssl("P-256"))?;
    let ec = EcKey::generate(&group).map_err(ssl("P-256 key"))?;
    let (mut x, mut y) = (
        BigNum::new().map_err(ssl("bignum"))?,
        BigNum::new().map_err(ssl("bignum"))?,
    );
    let mut ctx = BigNumContext::new().map_err(ssl("bignum"))?;
    ec.public_key()
        .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
        .map_err(ssl("P-256 point"))?;
    let (x, y) = (
        x.to_vec_padded(32).map_err(ssl("P-256 x"))?,
        y.to_vec_padded(32).map_err(ssl("P-256 y"))?,
    );
    let es = PKey::from_ec_key(ec).map_err(ssl("P-256 key"))?;
    for (name, key) in [("rs256", &rs), ("es256", &es)] {
        let private = key.private_key_to_pem_pkcs8().map_err(ssl("PEM"))?;
        write(dir, &format!("{name}.pem"), &private)?;
        let public = key.public_key_to_pem().map_err(ssl("PEM"))?;
        write(dir, &format!("{name}.pub.pem"), &public)?;
    }
    let jwks = serde_json::json!({ "keys": [
        { "kty": "RSA", "kid": RS256_KID, "use": "sig", "alg": "RS256",
          "n": b64url(&n), "e": b64url(&e) },
        { "kty": "EC", "kid": ES256_KID, "use": "sig", "alg": "ES256", "crv": "P-256",
          "x": b64url(&x), "y": b64url(&y) },
    ]});
    write(dir, "jwks.json", format!("{jwks:#}\n").as_bytes())?;

    let idp =
        PKey::from_rsa(Rsa::generate(2048).map_err(ssl("RSA key"))?).map_err(ssl("RSA key"))?;
    write(
        dir,
        "saml.key",
        &idp.private_key_to_pem_pkcs8().map_err(ssl("PEM"))?,
    )?;
    write(dir, "saml.crt", &self_signed(&idp)?)?;
    Ok(())
}

/// A self-signed X.509 v3 certificate for `key`, valid from now for a year, as PEM.
fn self_signed(key: &PKey<Private>) -> Result<Vec<u8>, String> {
    let e = ssl("certificate");
    let mut name = X509NameBuilder::new().map_err(&e)?;
    name.append_entry_by_text("CN", "tessera bench idp")
        .map_err(&e)?;
    let name = name.build();
    let mut serial = BigNum::new().map_err(&e)?;
    serial
        .rand(64, openssl::bn::MsbOption::MAYBE_ZERO, false)
        .map_err(&e)?;
    let mut cert = X509::builder().map_err(&e)?;
    cert.set_version(2).map_err(&e)?;
    let serial = serial.to_asn1_integer().map_err(&e)?;
    cert.set_serial_number(&serial).map_err(&e)?;
    cert.set_subject_name(&name).map_err(&e)?;
    cert.set_issuer_name(&name).map_err(&e)?;
    cert.set_pubkey(key).map_err(&e)?;
    let from = openssl::asn1::Asn1Time::days_from_now(0).map_err(&e)?;
    let to = openssl::asn1::Asn1Time::days_from_now(365).map_err(&e)?;
    cert.set_not_before(&from).map_err(&e)?;
    cert.set_not_after(&to).map_err(&e)?;
    cert.sign(key, MessageDigest::sha256()).map_err(&e)?;
    cert.build().to_pem().map_err(&e)
}

/// A PEM private key (PKCS#8 or the traditional RSA / EC forms).
pub fn load_private(path: &Path) -> Result<PKey<Private>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("--key {}: {e}", path.display()))?;
    PKey::private_key_from_pem(&pem)
        .map_err(|e| format!("--key {}: not a PEM private key: {e}", path.display()))
}

/// The base64 DER of the first certificate of a PEM file (the SAML `X509Certificate`).
pub fn load_cert_b64(path: &Path) -> Result<String, String> {
    use base64::Engine;
    let pem = std::fs::read(path).map_err(|e| format!("--cert {}: {e}", path.display()))?;
    let cert = X509::from_pem(&pem)
        .map_err(|e| format!("--cert {}: not a PEM certificate: {e}", path.display()))?;
    let der = cert.to_der().map_err(ssl("certificate"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(der))
}
