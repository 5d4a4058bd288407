//! The XML signature check proper: xmlsec (through samael) verifies the one Reference with
//! one of the configured certificates and hands back the bytes it verified. Touches samael
//! (libxmlsec1, libxml2, OpenSSL) and `std`; nothing else.
//!
//! Only ever called on documents that passed [`super::precheck`], so xmlsec never sees a
//! Reference it would fetch, a transform beyond enveloped-signature + exclusive c14n, or a
//! second signature. The output used is xmlsec's *pre-digest* buffer in
//! `ReduceMode::PreDigest`: the canonical bytes that were actually hashed for the one
//! Reference, i.e. exactly the signed Assertion (minus its Signature). The caller parses
//! those bytes, not the input, so nothing unsigned can be read.
//!
//! Keys: each configured certificate is tried on its own (a call per certificate), because
//! xmlsec reports a key of the wrong type (EC certificate, RSA signature) as an error that
//! would end samael's loop over several certificates early. The signing key is always the
//! certificate's: samael sets it on the context before verifying, and xmlsec then ignores
//! `KeyInfo` (it consults `KeyInfo` only through a keys manager, and none is set).
//!
//! Threads: libxmlsec1 has a global initialisation, which samael runs once behind a mutex
//! the first time a key is loaded; but samael parses the document (libxml2) *before* that.
//! `init` runs the whole initialisation once, under a `std::sync::Once`, before the first
//! verification, so concurrent first calls from the crypto pool never race libxml2's
//! parser set-up. After that each call uses its own document and context.
//!
//! xmlsec writes its own error lines to stderr when a signature fails (its default error
//! callback; samael offers no way to replace it and this crate forbids `unsafe`): lines
//! such as `func=xmlSecOpenSSLEvpSignatureVerify ... error=18:data do not match`, which
//! name the failed step, never key material or document content.

use std::sync::Once;

use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, CryptoProvider, ReduceMode, XmlSec,
};

use super::SamlError;

/// The SHA-2 signature algorithms (with their digests) samael enforces itself. SHA-1 has no
/// entry in samael's list: when the issuer allows SHA-1 the list is left off and the
/// pre-check's (which admits RSA-SHA1 and the SHA-1 digest besides these) is the filter.
const SHA2: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

static INIT: Once = Once::new();

/// Initialises libxml2 and libxmlsec1 (once, on whichever thread comes first).
fn init(certificate: &[u8]) {
    INIT.call_once(|| {
        // Loading a key is what makes samael run xmlsec's global initialisation; its parse
        // of the tiny document before that initialises libxml2's parser, on this one
        // thread. The verification then fails quietly (no Signature to find); a real
        // certificate, because a key that fails to load would print xmlsec errors.
        let _ =
            XmlSec::verify_signed_xml("<a/>", &CertificateDer::from(certificate.to_vec()), None);
    });
}

/// The verified pre-digest XML of `xml`'s one Reference, or why not.
pub(super) fn signed_predigest(
    xml: &str,
    certificates: &[Vec<u8>],
    uses_sha1: bool,
) -> Result<String, SamlError> {
    if let Some(first) = certificates.first() {
        init(first);
    }
    let allowed = if uses_sha1 { None } else { Some(&SHA2[..]) };
    for cert in certificates {
        let cert = [CertificateDer::from(cert.clone())];
        if let Ok(predigest) = XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
            xml,
            &cert,
            ReduceMode::PreDigest,
            allowed,
        ) {
            return Ok(predigest);
        }
    }
    Err(SamlError::Signature)
}
