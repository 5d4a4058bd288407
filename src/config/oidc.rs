//! `[oidc]` ([`OidcConfig`]): the OpenID Connect issuer, the ID-token lifetime and the
//! optional PEM files of the signing keys, and [`read_signing_key`], which tells whether a
//! key file can sign (and with which algorithm). Touches nothing outside `[oidc]` except
//! `server.listen`, the default issuer's authority.
//!
//! The key files are read at validation, so `tessera check-config` refuses a key that
//! could not sign rather than the first login finding out.

use super::error::ConfigError;
use super::{Config, SigningAlg};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The longest `oidc.id_token_ttl_secs`: an ID token is a proof of a login for the client
/// to check once, not a credential to keep (OIDC Core §3.1.3.7); a day is already generous,
/// and a retiring key stays in the JWKS this long after a rotation.
pub const MAX_ID_TOKEN_TTL_SECS: u32 = 86_400;

/// The smallest RSA modulus accepted for RS256 (RFC 7518 §3.3: 2048 bits or larger).
pub const MIN_RSA_BITS: u32 = 2048;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// The `iss` of ID tokens and discovery documents; `None`: `"http://" + server.listen`
    /// (see [`OidcConfig::issuer_for`]).
    pub issuer: Option<String>,
    /// Lifetime of an ID token (`exp - iat`).
    pub id_token_ttl_secs: u32,
    /// PEM private keys to sign with instead of the keys generated and kept in the store:
    /// RSA (2048 bits or more) signs RS256, EC P-256 signs ES256. Per algorithm the first
    /// file listed signs; the others are only published in the JWKS (an old key kept
    /// there until the ID tokens it signed have expired).
    pub signing_key_files: Vec<PathBuf>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            issuer: None,
            // The gateway's "Create ID Token" default.
            id_token_ttl_secs: 60,
            signing_key_files: Vec::new(),
        }
    }
}

impl OidcConfig {
    /// The issuer identifier when the server listens on `listen`: `oidc.issuer`, else
    /// `https://` (with `[server.tls]`) or `http://`, then `listen` (development: a real
    /// deployment names its public URL).
    pub fn issuer_for(&self, listen: SocketAddr, tls: bool) -> String {
        match &self.issuer {
            Some(issuer) => issuer.clone(),
            None if tls => format!("https://{listen}"),
            None => format!("http://{listen}"),
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(issuer) = &self.issuer {
            check_issuer(issuer).map_err(|m| ConfigError::new("oidc.issuer", m))?;
        }
        if !(1..=MAX_ID_TOKEN_TTL_SECS).contains(&self.id_token_ttl_secs) {
            return Err(ConfigError::new(
                "oidc.id_token_ttl_secs",
                format!("must be between 1 and {MAX_ID_TOKEN_TTL_SECS} seconds"),
            ));
        }
        for (i, path) in self.signing_key_files.iter().enumerate() {
            read_signing_key(path)
                .map_err(|m| ConfigError::new(format!("oidc.signing_key_files[{i}]"), m))?;
        }
        Ok(())
    }
}

impl Config {
    /// The issuer identifier (`iss`) of this configuration: see [`OidcConfig::issuer_for`].
    /// A server started on port 0 should use the bound address instead of this.
    pub fn issuer(&self) -> String {
        self.oidc
            .issuer_for(self.server.listen, self.server.tls.is_some())
    }
}

/// An issuer identifier must be an absolute http(s) URL without query or fragment (OIDC
/// Discovery §3, RFC 8414 §2) and, because relying parties compare `iss` as a string and
/// append `/.well-known/openid-configuration` to it, without a trailing slash.
fn check_issuer(issuer: &str) -> Result<(), String> {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .ok_or("must be an absolute URL starting with https:// (or http:// for development)")?;
    if issuer.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err("must not contain spaces, control or non-ASCII characters".to_owned());
    }
    if issuer.contains(['?', '#']) {
        return Err("must have no query or fragment (OpenID Connect Discovery §3)".to_owned());
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err("must name a host (and no user information)".to_owned());
    }
    if issuer.ends_with('/') {
        return Err("must not end with a slash: relying parties compare it as a string".to_owned());
    }
    Ok(())
}

/// Reads the PEM private key at `path` and says which algorithm it signs: an RSA key of
/// [`MIN_RSA_BITS`] or more → RS256, an EC key on P-256 → ES256. Any other key, an
/// encrypted one, or a file that holds no private key is refused with a message naming the
/// file and what was found.
pub fn read_signing_key(path: &Path) -> Result<(SigningAlg, PKey<Private>), String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    // A callback that supplies no passphrase: without one, OpenSSL would prompt on the
    // terminal for an encrypted key.
    let key = PKey::private_key_from_pem_callback(&pem, |_| Ok(0)).map_err(|e| {
        if pem.windows(9).any(|w| w == b"ENCRYPTED") {
            format!("{shown} is an encrypted key; give it unencrypted (readable by Tessera only)")
        } else {
            format!("{shown} holds no PEM private key that OpenSSL can read ({e})")
        }
    })?;
    let alg = signing_alg_of(&key).map_err(|m| format!("{shown}: {m}"))?;
    Ok((alg, key))
}

/// The algorithm `key` signs, or why it cannot sign ID tokens here.
pub fn signing_alg_of(key: &PKey<Private>) -> Result<SigningAlg, String> {
    match key.id() {
        Id::RSA if key.bits() >= MIN_RSA_BITS => Ok(SigningAlg::RS256),
        Id::RSA => Err(format!(
            "an RSA key of {} bits; RS256 needs at least {MIN_RSA_BITS}",
            key.bits()
        )),
        Id::EC => {
            let curve = key.ec_key().ok().and_then(|ec| ec.group().curve_name());
            match curve {
                Some(Nid::X9_62_PRIME256V1) => Ok(SigningAlg::ES256),
                other => Err(format!(
                    "an EC key on {}; ES256 needs P-256 (prime256v1)",
                    other
                        .and_then(|nid| nid.short_name().ok())
                        .unwrap_or("an unnamed curve")
                )),
            }
        }
        other => Err(format!(
            "a key of type {}; use an RSA key of {MIN_RSA_BITS} bits or more (RS256) or an EC \
             P-256 key (ES256)",
            Nid::from_raw(other.as_raw())
                .short_name()
                .unwrap_or("unknown")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::load::err_at;
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::rsa::Rsa;

    fn temp_pem(name: &str, pem: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tessera-oidc-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, pem).expect("write pem");
        path
    }

    fn config_with_key_file(path: &Path) -> String {
        format!(
            "[oidc]\nsigning_key_files = [{:?}]\n",
            path.display().to_string()
        )
    }

    #[test]
    fn defaults_issuer_from_the_listen_address() {
        let c = Config::default();
        assert_eq!(c.issuer(), "http://127.0.0.1:8080");
        assert_eq!(c.oidc.id_token_ttl_secs, 60);
        let c = Config::parse("[server]\nlisten = \"[::1]:9000\"\n").expect("parse");
        assert_eq!(c.issuer(), "http://[::1]:9000");
        let c =
            Config::parse("[oidc]\nissuer = \"https://auth.example.com/tenant\"\n").expect("parse");
        assert_eq!(c.issuer(), "https://auth.example.com/tenant");
    }

    #[test]
    fn issuer_must_be_an_absolute_url_without_query_fragment_or_trailing_slash() {
        for bad in [
            "auth.example.com",
            "ftp://auth.example.com",
            "https://",
            "https:///path",
            "https://auth.example.com/",
            "https://auth.example.com?x=1",
            "https://auth.example.com#top",
            "https://user@auth.example.com",
            "https://auth example.com",
        ] {
            err_at(&format!("[oidc]\nissuer = {bad:?}\n"), "oidc.issuer");
        }
        for good in ["https://auth.example.com", "http://localhost:8080/oauth"] {
            Config::parse(&format!("[oidc]\nissuer = {good:?}\n"))
                .unwrap_or_else(|e| panic!("{good}: {e}"));
        }
    }

    #[test]
    fn id_token_ttl_is_bounded() {
        err_at("[oidc]\nid_token_ttl_secs = 0\n", "oidc.id_token_ttl_secs");
        err_at(
            "[oidc]\nid_token_ttl_secs = 86401\n",
            "oidc.id_token_ttl_secs",
        );
        Config::parse("[oidc]\nid_token_ttl_secs = 86400\n").expect("a day");
    }

    #[test]
    fn key_files_rsa_2048_and_p256_are_accepted_with_their_algorithm() {
        let rsa = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
        let rsa_path = temp_pem("rsa2048.pem", &rsa.private_key_to_pem_pkcs8().expect("pem"));
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("p256");
        let ec = EcKey::generate(&group).expect("ec");
        // The traditional "EC PRIVATE KEY" form, as `openssl ecparam -genkey` writes it.
        let ec_path = temp_pem("p256.pem", &ec.private_key_to_pem().expect("pem"));
        assert_eq!(
            read_signing_key(&rsa_path).map(|k| k.0),
            Ok(SigningAlg::RS256)
        );
        assert_eq!(
            read_signing_key(&ec_path).map(|k| k.0),
            Ok(SigningAlg::ES256)
        );
        let text = format!(
            "[oidc]\nsigning_key_files = [{:?}, {:?}]\n",
            rsa_path.display().to_string(),
            ec_path.display().to_string()
        );
        let c = Config::parse(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.oidc.signing_key_files, [rsa_path, ec_path]);
    }

    #[test]
    fn key_files_that_cannot_sign_are_refused_naming_the_key() {
        let small = PKey::from_rsa(Rsa::generate(1024).expect("rsa")).expect("pkey");
        let p384 =
            EcKey::generate(&EcGroup::from_curve_name(Nid::SECP384R1).expect("p384")).expect("ec");
        let ed = PKey::generate_ed25519().expect("ed25519");
        let cases: [(&str, Vec<u8>, &str); 5] = [
            (
                "rsa1024.pem",
                small.private_key_to_pem_pkcs8().expect("pem"),
                "1024 bits",
            ),
            (
                "p384.pem",
                p384.private_key_to_pem().expect("pem"),
                "secp384r1",
            ),
            (
                "ed25519.pem",
                ed.private_key_to_pem_pkcs8().expect("pem"),
                "ED25519",
            ),
            (
                "public.pem",
                small.public_key_to_pem().expect("pem"),
                "no PEM private key",
            ),
            (
                "encrypted.pem",
                small
                    .private_key_to_pem_pkcs8_passphrase(
                        openssl::symm::Cipher::aes_128_cbc(),
                        b"pass",
                    )
                    .expect("pem"),
                "encrypted",
            ),
        ];
        for (name, pem, says) in cases {
            let path = temp_pem(name, &pem);
            let e = err_at(&config_with_key_file(&path), "oidc.signing_key_files[0]");
            assert!(e.message.contains(says), "{name}: {e}");
            assert!(e.message.contains(name), "{name}: {e}");
        }
        let missing = std::env::temp_dir().join("tessera-no-such-key.pem");
        let e = err_at(&config_with_key_file(&missing), "oidc.signing_key_files[0]");
        assert!(e.message.contains("cannot read"), "{e}");
    }
}
