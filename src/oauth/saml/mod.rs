//! SAML 2.0 assertions for the SAML bearer grant (RFC 7522): decoding the `assertion`
//! parameter, a strict pre-check of the unauthenticated XML, the XML signature check with
//! the issuer's configured certificates (xmlsec through samael), and the conditions of
//! RFC 7522 §3. No I/O, no configuration, no store: the caller picks the issuer's
//! [`Trust`] (from [`issuer_of`]), runs [`verify()`] off the worker threads (it costs a few
//! hundred microseconds of CPU), then [`check_conditions`] and the replay check of
//! [`Assertion::id`] until [`Assertion::expires_at`].
//!
//! Files (private modules; the API is re-exported here):
//! - `decode`: base64url of the parameter to bytes;
//! - `precheck`: the shape an assertion must have before xmlsec sees it (one Assertion,
//!   one Signature referencing it by ID, allowed algorithms and transforms only, no DTD);
//! - `verify`: xmlsec verifies and returns the bytes it verified;
//! - `assertion`: [`Assertion`] read from those bytes, [`check_conditions`];
//! - `time`: `xs:dateTime`; `error`: [`SamlError`].

mod assertion;
mod decode;
mod error;
mod precheck;
mod time;
mod verify;

#[cfg(test)]
mod tests;

pub use assertion::{check_conditions, Assertion, Confirmation, Rules};
pub use decode::decode_assertion_param;
pub use error::SamlError;

/// Largest assertion accepted, decoded (real ones are 4–10 KiB).
pub const MAX_ASSERTION_BYTES: usize = 64 * 1024;

/// The certificates a `kind = "saml"` issuer signs with, and whether it may use SHA-1.
#[derive(Clone, PartialEq, Eq)]
pub struct Trust {
    /// DER X.509 certificates (`certificate_files`): the only keys a signature is checked
    /// with; a certificate inside the message is never used.
    pub certificates: Vec<Vec<u8>>,
    /// Accept RSA-SHA1 signatures and SHA-1 digests (`allow_sha1`).
    pub allow_sha1: bool,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("certificates", &self.certificates.len())
            .field("allow_sha1", &self.allow_sha1)
            .finish()
    }
}

impl Trust {
    /// Every `CERTIFICATE` of the given PEM file contents (each file holds one or more).
    /// Refused when a file holds none, or one that does not parse.
    pub fn from_pem(pem_files_contents: &[&[u8]], allow_sha1: bool) -> Result<Trust, SamlError> {
        let mut certificates = Vec::new();
        for pem in pem_files_contents {
            let stack =
                openssl::x509::X509::stack_from_pem(pem).map_err(|_| SamlError::Certificate)?;
            if stack.is_empty() {
                return Err(SamlError::Certificate);
            }
            for cert in stack {
                certificates.push(cert.to_der().map_err(|_| SamlError::Certificate)?);
            }
        }
        if certificates.is_empty() {
            return Err(SamlError::Certificate);
        }
        Ok(Trust {
            certificates,
            allow_sha1,
        })
    }
}

/// The `Issuer` of an assertion, to pick its [`Trust`]: UNVERIFIED, but only after the
/// whole pre-check passed (so a document [`verify`] would refuse on shape is refused here
/// too, without a signature check). Cheap: no xmlsec.
pub fn issuer_of(xml: &[u8]) -> Result<String, SamlError> {
    precheck::precheck(xml).map(|c| c.issuer)
}

/// Pre-checks `xml`, verifies its signature with `trust`'s certificates, and reads the
/// assertion from the verified bytes only. CPU-heavy (xmlsec, RSA): run it on a pool, not
/// on a worker. Safe to call from several threads at once. Conditions (time, audience,
/// recipient) are [`check_conditions`]'s.
pub fn verify(xml: &[u8], trust: &Trust) -> Result<Assertion, SamlError> {
    let checked = precheck::precheck(xml)?;
    if checked.uses_sha1 && !trust.allow_sha1 {
        return Err(SamlError::Sha1Refused);
    }
    if trust.certificates.is_empty() {
        return Err(SamlError::Signature);
    }
    let text = precheck::as_text(xml)?;
    let predigest = verify::signed_predigest(text, &trust.certificates, checked.uses_sha1)?;
    assertion::read_verified(&predigest, &checked)
}

// The lead runs `verify` on a thread pool and sends results back to a worker.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Trust>();
    send_sync::<Assertion>();
    send_sync::<SamlError>();
};
