//! Builds the [`Issuers`] registry from `[[assertion_issuers]]`: reads each issuer's key or
//! certificate files (validated at start-up) and names its `jwks_uri` in the key cache.
//! May touch the configuration types, `oauth::issuers` and the key cache; reads files.

use super::keys::KeyCache;
use crate::config::{read_saml_trust, AssertionIssuerConfig, IssuerKind, KeySources};
use crate::oauth::issuers::{Issuer, IssuerTrust, Issuers};
use tracing::warn;

pub fn build(issuers: &[AssertionIssuerConfig], keys: &KeyCache) -> Issuers {
    let list = issuers
        .iter()
        .filter_map(|is| {
            let trust = match is.kind {
                IssuerKind::Jwt => {
                    let sources = KeySources {
                        jwks_file: is.jwks_file.as_deref(),
                        public_key_files: &is.public_key_files,
                        jwks_uri: is.jwks_uri.as_deref(),
                    };
                    IssuerTrust::Jwt(keys.keys(&is.id, sources)?)
                }
                IssuerKind::Saml => match read_saml_trust(&is.certificate_files, is.allow_sha1) {
                    Ok(trust) => IssuerTrust::Saml(std::sync::Arc::new(trust)),
                    Err((_, message)) => {
                        // Validation read the same files moments ago.
                        warn!(issuer = %is.id, %message, "SAML issuer left out");
                        return None;
                    }
                },
            };
            Some(Issuer::new(&is.id, &is.issuer, trust, &is.clients))
        })
        .collect();
    Issuers::new(list)
}
