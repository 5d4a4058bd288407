//! SAML 2.0 bearer assertions (RFC 7522 §3) with an enveloped XML signature: exclusive
//! canonicalisation, RSA-SHA256, SHA-256 digest, the `Reference` pointing at the
//! `Assertion`'s `ID`. Pure computation over a key the caller loaded.
//!
//! Why no XML library: the assertion is written already in its exclusive canonical form
//! (Exclusive XML Canonicalization 1.0 over Canonical XML 1.0 §2: no XML declaration, no
//! whitespace between elements, each namespace declared once where it is first used,
//! attributes in canonical order, empty elements as start and end tag, the canonical
//! escapes). So the digest is the SHA-256 of the bytes written minus the `Signature`
//! element (the enveloped-signature transform), and the signature is over the
//! `SignedInfo` bytes exactly as they appear, which is what any verifier's canonicaliser
//! computes again. The bench checks one assertion of every file with `xmlsec1 --verify`
//! when xmlsec1 is installed, so a mistake here shows up as a failed check, not as a
//! server bug. This signs ~3 k assertions a second per core (RSA 2048 dominates), where a
//! process per assertion (`xmlsec1 --sign`) manages a few hundred.

use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;

const SAML_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

/// What every assertion of a run shares.
#[derive(Debug, Clone)]
pub struct Template {
    /// The `Issuer` entity id (a configured `kind = "saml"` issuer).
    pub issuer: String,
    /// `Audience`, and the bearer `SubjectConfirmationData/@Recipient`: the token endpoint.
    pub audience: String,
    /// The `NameID`: the token's user.
    pub name_id: String,
    /// Base64 DER of the signing certificate for `KeyInfo`, as identity providers send it
    /// (the server must not trust it: it uses its configured certificates).
    pub cert_b64: Option<String>,
}

pub struct SamlSigner {
    template: Template,
    key: PKey<Private>,
}

impl std::fmt::Debug for SamlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("SamlSigner")
            .field("issuer", &self.template.issuer)
            .finish_non_exhaustive()
    }
}

impl SamlSigner {
    pub fn new(template: Template, key: PKey<Private>) -> Result<SamlSigner, String> {
        key.rsa()
            .map_err(|_| "SAML assertions are signed RSA-SHA256: --key must be an RSA key")?;
        Ok(SamlSigner { template, key })
    }

    /// The signed assertion `id` (an NCName), issued at `now`, valid for `lifetime`
    /// seconds (`Conditions` and the bearer confirmation), as XML.
    pub fn assertion(&self, id: &str, now: u64, lifetime: u64) -> Result<String, String> {
        let t = &self.template;
        let (now_s, until) = (utc(now), utc(now + lifetime));
        let id_attr = attr(id);
        let audience_attr = attr(&t.audience);
        let open = format!(
            "<saml:Assertion xmlns:saml=\"{SAML_NS}\" ID=\"{id_attr}\" IssueInstant=\"{now_s}\" \
             Version=\"2.0\">"
        );
        let issuer = format!("<saml:Issuer>{}</saml:Issuer>", text(&t.issuer));
        let rest = format!(
            "<saml:Subject>\
             <saml:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified\">{}</saml:NameID>\
             <saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">\
             <saml:SubjectConfirmationData NotOnOrAfter=\"{until}\" Recipient=\"{audience_attr}\">\
             </saml:SubjectConfirmationData></saml:SubjectConfirmation></saml:Subject>\
             <saml:Conditions NotBefore=\"{now_s}\" NotOnOrAfter=\"{until}\">\
             <saml:AudienceRestriction><saml:Audience>{}</saml:Audience></saml:AudienceRestriction>\
             </saml:Conditions>\
             <saml:AuthnStatement AuthnInstant=\"{now_s}\"><saml:AuthnContext>\
             <saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified</saml:AuthnContextClassRef>\
             </saml:AuthnContext></saml:AuthnStatement></saml:Assertion>",
            text(&t.name_id),
            text(&t.audience),
        );
        // The enveloped-signature transform drops the Signature; what is left is canonical.
        let mut hasher = openssl::sha::Sha256::new();
        for part in [&open, &issuer, &rest] {
            hasher.update(part.as_bytes());
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let digest = b64.encode(hasher.finish());
        // Canonical as the apex of its own canonicalisation: it declares `ds` itself (a
        // redundant declaration inside `Signature`, which leaves the parsed document the
        // same), so these are the very bytes a verifier hashes.
        let signed_info = format!(
            "<ds:SignedInfo xmlns:ds=\"{DS_NS}\">\
             <ds:CanonicalizationMethod Algorithm=\"{EXC_C14N}\"></ds:CanonicalizationMethod>\
             <ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\">\
             </ds:SignatureMethod>\
             <ds:Reference URI=\"#{id_attr}\"><ds:Transforms>\
             <ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\">\
             </ds:Transform>\
             <ds:Transform Algorithm=\"{EXC_C14N}\"></ds:Transform></ds:Transforms>\
             <ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"></ds:DigestMethod>\
             <ds:DigestValue>{digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>"
        );
        let err = |e: openssl::error::ErrorStack| format!("RSA-SHA256 signature: {e}");
        let mut signer = Signer::new(MessageDigest::sha256(), &self.key).map_err(err)?;
        signer.update(signed_info.as_bytes()).map_err(err)?;
        let signature = b64.encode(signer.sign_to_vec().map_err(err)?);
        let key_info = t.cert_b64.as_ref().map_or_else(String::new, |cert| {
            format!(
                "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate>\
                 </ds:X509Data></ds:KeyInfo>"
            )
        });
        Ok(format!(
            "{open}{issuer}<ds:Signature xmlns:ds=\"{DS_NS}\">{signed_info}\
             <ds:SignatureValue>{signature}</ds:SignatureValue>{key_info}</ds:Signature>{rest}"
        ))
    }
}

/// Character data in canonical form (Canonical XML 1.0 §2.3).
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// An attribute value in canonical form (Canonical XML 1.0 §2.3); also how it must be
/// written in the document so that parsing gives the same value back.
fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// `xs:dateTime` in UTC for Unix seconds: `2026-11-29T22:39:00Z`.
pub fn utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's `civil_from_days`).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::sign::Verifier;

    #[test]
    fn utc_dates_are_xs_datetime() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_795_912_340), "2026-11-29T00:32:20Z");
    }

    #[test]
    fn canonical_escapes_of_text_and_attributes() {
        assert_eq!(text("a&b<c>d\"e\r"), "a&amp;b&lt;c&gt;d\"e&#xD;");
        assert_eq!(attr("a&b<c>d\"e\t\n"), "a&amp;b&lt;c>d&quot;e&#x9;&#xA;");
    }

    #[test]
    fn digest_covers_the_assertion_without_its_signature_and_signed_info_is_signed() {
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).expect("rsa")).expect("key");
        let signer = SamlSigner::new(
            Template {
                issuer: "https://idp.example".into(),
                audience: "https://as.example/api/oauth/token?a=1&b=2".into(),
                name_id: "alice".into(),
                cert_b64: Some("Q0VSVA==".into()),
            },
            key.clone(),
        )
        .expect("signer");
        let xml = signer.assertion("_a1", 1_000_000, 240).expect("sign");
        assert!(xml.contains("ID=\"_a1\""));
        assert!(xml.contains("<saml:Audience>https://as.example/api/oauth/token?a=1&amp;b=2<"));
        assert!(xml.contains("NotOnOrAfter=\"1970-01-12T13:50:40Z\""));
        let sig_start = xml.find("<ds:Signature ").expect("signature");
        let sig_end = xml.find("</ds:Signature>").expect("end") + "</ds:Signature>".len();
        let unsigned = format!("{}{}", &xml[..sig_start], &xml[sig_end..]);
        let b64 = base64::engine::general_purpose::STANDARD;
        let digest = b64.encode(openssl::sha::sha256(unsigned.as_bytes()));
        assert!(xml.contains(&format!("<ds:DigestValue>{digest}</ds:DigestValue>")));
        let si_start = xml.find("<ds:SignedInfo").expect("SignedInfo");
        let si_end = xml.find("</ds:SignedInfo>").expect("end") + "</ds:SignedInfo>".len();
        let sv = &xml[xml.find("<ds:SignatureValue>").expect("value") + 19..]
            .split('<')
            .next()
            .expect("text");
        let mut v = Verifier::new(MessageDigest::sha256(), &key).expect("verifier");
        v.update(&xml.as_bytes()[si_start..si_end]).expect("update");
        assert!(v.verify(&b64.decode(sv).expect("base64")).expect("verify"));
    }
}
