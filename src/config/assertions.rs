//! `[assertions]` ([`AssertionsConfig`]) and `[[assertion_issuers]]`
//! ([`AssertionIssuerConfig`]): the rules every JWT or SAML assertion is held to (audience,
//! clock skew, longest lifetime) and the external identity providers whose assertions the
//! JWT bearer (RFC 7523) and SAML 2.0 bearer (RFC 7522) grants accept. Also the key
//! sources a client may list (`jwks_file`, `public_key_files`, `jwks_uri`), checked here so
//! clients and issuers share one set of rules.
//!
//! Key and certificate files are read at validation with the same parsers the server uses
//! (`oauth::jose`, `oauth::saml`), so `tessera check-config` refuses a file the server could
//! not use. Touches nothing outside these sections except the client ids issuers name.

use super::error::ConfigError;
use crate::oauth::{jose, saml};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The longest `assertions.max_lifetime_secs`: an assertion is a one-time proof, and its
/// `jti` is remembered (store-wide) until it expires.
pub const MAX_ASSERTION_LIFETIME_SECS: u32 = 86_400;
/// The largest `assertions.clock_skew_secs`.
pub const MAX_CLOCK_SKEW_SECS: u32 = 600;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssertionsConfig {
    /// The audience every assertion must name (JWT `aud`, SAML `Audience` and bearer
    /// `Recipient`); `None`: the token endpoint URL, `{issuer}/api/oauth/token`.
    pub audience: Option<String>,
    /// Clocks may disagree by this much when `exp`, `nbf`, `iat`, `NotBefore` and
    /// `NotOnOrAfter` are checked.
    pub clock_skew_secs: u32,
    /// An assertion valid for longer than this (from `iat`, or from now) is refused: the
    /// gateway's "within five minutes".
    pub max_lifetime_secs: u32,
    /// How often the keys at each `jwks_uri` are fetched again (sooner, at most every 10 s,
    /// when an assertion names a key id no cached key has).
    pub jwks_refresh_secs: u32,
}

impl Default for AssertionsConfig {
    fn default() -> Self {
        AssertionsConfig {
            audience: None,
            clock_skew_secs: 60,
            max_lifetime_secs: 300,
            jwks_refresh_secs: 300,
        }
    }
}

/// Whose assertions an issuer makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssuerKind {
    /// JWTs for the JWT bearer grant (RFC 7523).
    Jwt,
    /// SAML 2.0 assertions for the SAML bearer grant (RFC 7522).
    Saml,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AssertionIssuerConfig {
    /// A name for logs and errors.
    pub id: String,
    pub kind: IssuerKind,
    /// The JWT `iss` or the SAML `<Issuer>` entity id, compared exactly.
    pub issuer: String,
    /// kind = "jwt": PEM public keys or certificates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub public_key_files: Vec<PathBuf>,
    /// kind = "jwt": a JWKS document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<PathBuf>,
    /// kind = "jwt": a JWKS fetched (off the workers) and refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// kind = "saml": PEM X.509 certificates; a signature by any other key (including one
    /// the message carries) is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_files: Vec<PathBuf>,
    /// kind = "saml": accept RSA-SHA1 signatures and SHA-1 digests (refused by default).
    #[serde(default)]
    pub allow_sha1: bool,
    /// The clients that may present this issuer's assertions.
    pub clients: Vec<String>,
}

impl AssertionsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(a) = &self.audience {
            if a.is_empty() || a.bytes().any(|b| !b.is_ascii_graphic()) {
                return Err(ConfigError::new(
                    "assertions.audience",
                    "must be a non-empty URI without spaces or control characters",
                ));
            }
        }
        if self.clock_skew_secs > MAX_CLOCK_SKEW_SECS {
            return Err(ConfigError::new(
                "assertions.clock_skew_secs",
                format!("must be at most {MAX_CLOCK_SKEW_SECS}"),
            ));
        }
        if !(1..=MAX_ASSERTION_LIFETIME_SECS).contains(&self.max_lifetime_secs) {
            return Err(ConfigError::new(
                "assertions.max_lifetime_secs",
                format!("must be between 1 and {MAX_ASSERTION_LIFETIME_SECS}"),
            ));
        }
        if !(30..=86_400).contains(&self.jwks_refresh_secs) {
            return Err(ConfigError::new(
                "assertions.jwks_refresh_secs",
                "must be between 30 and 86400",
            ));
        }
        Ok(())
    }

    /// The audience assertions must name when the server's issuer is `issuer`.
    pub fn audience_for(&self, issuer: &str) -> String {
        match &self.audience {
            Some(a) => a.clone(),
            None => format!("{issuer}/api/oauth/token"),
        }
    }
}

/// Checks every issuer: unique ids and issuer strings per kind, the key material its kind
/// needs (and none of the other kind's), readable files.
pub(super) fn validate_issuers(issuers: &[AssertionIssuerConfig]) -> Result<(), ConfigError> {
    let mut ids = HashSet::new();
    let mut names = HashSet::new();
    for (i, is) in issuers.iter().enumerate() {
        let key = |field: &str| format!("assertion_issuers[{i}].{field}");
        if is.id.is_empty() || !ids.insert(is.id.as_str()) {
            return Err(ConfigError::new(key("id"), "must be non-empty and unique"));
        }
        if is.issuer.is_empty() || is.issuer.chars().any(char::is_control) {
            return Err(ConfigError::new(
                key("issuer"),
                "must be non-empty without control characters",
            ));
        }
        if !names.insert((is.kind, is.issuer.as_str())) {
            return Err(ConfigError::new(
                key("issuer"),
                format!(
                    "another {:?} issuer has the same issuer {:?}",
                    is.kind, is.issuer
                ),
            ));
        }
        if is.clients.is_empty() {
            return Err(ConfigError::new(
                key("clients"),
                "must name at least one client allowed to present its assertions",
            ));
        }
        match is.kind {
            IssuerKind::Jwt => {
                if !is.certificate_files.is_empty() || is.allow_sha1 {
                    return Err(ConfigError::new(
                        key("certificate_files"),
                        "certificate_files and allow_sha1 are for kind = \"saml\"; a JWT issuer lists public_key_files, jwks_file or jwks_uri",
                    ));
                }
                let sources = KeySources {
                    jwks_file: is.jwks_file.as_deref(),
                    public_key_files: &is.public_key_files,
                    jwks_uri: is.jwks_uri.as_deref(),
                };
                if sources.is_empty() {
                    return Err(ConfigError::new(
                        key("public_key_files"),
                        "a JWT issuer needs public_key_files, jwks_file or jwks_uri",
                    ));
                }
                sources.check(&format!("assertion_issuers[{i}]"))?;
            }
            IssuerKind::Saml => {
                if !is.public_key_files.is_empty()
                    || is.jwks_file.is_some()
                    || is.jwks_uri.is_some()
                {
                    return Err(ConfigError::new(
                        key("public_key_files"),
                        "a SAML issuer is trusted through certificate_files only",
                    ));
                }
                if is.certificate_files.is_empty() {
                    return Err(ConfigError::new(
                        key("certificate_files"),
                        "a SAML issuer needs at least one certificate",
                    ));
                }
                read_saml_trust(&is.certificate_files, is.allow_sha1).map_err(|(at, m)| {
                    ConfigError::new(key(&format!("certificate_files[{at}]")), m)
                })?;
            }
        }
    }
    Ok(())
}

/// Where a client's or an issuer's JWT verification keys come from.
#[derive(Debug, Clone, Copy)]
pub struct KeySources<'a> {
    pub jwks_file: Option<&'a Path>,
    pub public_key_files: &'a [PathBuf],
    pub jwks_uri: Option<&'a str>,
}

impl KeySources<'_> {
    pub fn is_empty(&self) -> bool {
        self.jwks_file.is_none() && self.public_key_files.is_empty() && self.jwks_uri.is_none()
    }

    /// Reads the files (so a bad one fails `check-config`) and checks the URI; `key` is
    /// the configuration path of the owner (`clients[2]`).
    pub fn check(&self, key: &str) -> Result<(), ConfigError> {
        self.read_files()
            .map_err(|(field, m)| ConfigError::new(format!("{key}.{field}"), m))?;
        if let Some(uri) = self.jwks_uri {
            let ok = (uri.starts_with("https://") || uri.starts_with("http://"))
                && uri.bytes().all(|b| b.is_ascii_graphic());
            if !ok {
                return Err(ConfigError::new(
                    format!("{key}.jwks_uri"),
                    "must be an absolute https:// (or http://) URL",
                ));
            }
        }
        Ok(())
    }

    /// The keys of the files (not of `jwks_uri`), or the field and message of the first
    /// file that cannot be used.
    pub fn read_files(&self) -> Result<jose::KeySet, (String, String)> {
        let mut keys = jose::KeySet::empty();
        if let Some(path) = self.jwks_file {
            let bytes = std::fs::read(path).map_err(|e| {
                (
                    "jwks_file".to_owned(),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let set = jose::KeySet::from_jwks(&bytes)
                .map_err(|e| ("jwks_file".to_owned(), format!("{}: {e}", path.display())))?;
            if set.is_empty() {
                return Err((
                    "jwks_file".to_owned(),
                    format!("{} holds no usable signature key", path.display()),
                ));
            }
            keys.extend(set);
        }
        for (i, path) in self.public_key_files.iter().enumerate() {
            let field = format!("public_key_files[{i}]");
            let bytes = std::fs::read(path).map_err(|e| {
                (
                    field.clone(),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let set = jose::KeySet::from_pem(&bytes)
                .map_err(|e| (field.clone(), format!("{}: {e}", path.display())))?;
            if set.is_empty() {
                return Err((
                    field,
                    format!("{} holds no usable public key", path.display()),
                ));
            }
            keys.extend(set);
        }
        Ok(keys)
    }
}

/// The SAML trust of `files`, or the index and message of the file that cannot be used.
pub fn read_saml_trust(
    files: &[PathBuf],
    allow_sha1: bool,
) -> Result<saml::Trust, (usize, String)> {
    let mut contents = Vec::with_capacity(files.len());
    for (i, path) in files.iter().enumerate() {
        let bytes =
            std::fs::read(path).map_err(|e| (i, format!("cannot read {}: {e}", path.display())))?;
        contents.push(bytes);
    }
    let refs: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
    saml::Trust::from_pem(&refs, allow_sha1).map_err(|e| (0, e.to_string()))
}
