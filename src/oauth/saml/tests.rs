//! Tests of the SAML layer with assertions signed here by xmlsec itself (samael's
//! `sign_xml` over a template: the signing side is libxmlsec1, not code of ours), keys and
//! self-signed certificates made with OpenSSL. Named after the behaviour (RFC 7522 §3,
//! XML signature wrapping, ...). Touches the module's API, samael, openssl, proptest.

use std::sync::OnceLock;

use base64::Engine;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509Builder, X509NameBuilder};
use proptest::prelude::*;
use samael::crypto::{CryptoProvider, XmlSec};

use super::*;

const NOW: u64 = 1_700_000_000;
const ISSUER: &str = "https://idp.corp.example";
const TOKEN_ENDPOINT: &str = "https://as.example/api/oauth/token";
const USER: &str = "alice@corp.example";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

struct Signer {
    key: PKey<Private>,
    cert_der: Vec<u8>,
    cert_pem: Vec<u8>,
}

fn make_signer(key: PKey<Private>, cn: &str) -> Signer {
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", cn).expect("cn");
    let name = name.build();
    let mut b = X509Builder::new().expect("builder");
    b.set_version(2).expect("version");
    let serial = BigNum::from_u32(1)
        .and_then(|n| n.to_asn1_integer())
        .expect("serial");
    b.set_serial_number(&serial).expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("t"))
        .expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(365).expect("t"))
        .expect("na");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    let cert = b.build();
    Signer {
        key,
        cert_der: cert.to_der().expect("der"),
        cert_pem: cert.to_pem().expect("pem"),
    }
}

fn rsa(cn: &str) -> Signer {
    make_signer(
        PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey"),
        cn,
    )
}

/// The configured IdP.
fn idp() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| rsa("idp.corp.example"))
}

/// Somebody else: a valid signature, but not with a configured certificate.
fn attacker() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| rsa("idp.corp.example"))
}

fn ec_idp() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("group");
        let key = PKey::from_ec_key(EcKey::generate(&group).expect("ec")).expect("pkey");
        make_signer(key, "ec.corp.example")
    })
}

fn trust() -> Trust {
    Trust::from_pem(&[&idp().cert_pem], false).expect("trust")
}

fn rules() -> Rules<'static> {
    Rules {
        now: NOW,
        skew: 60,
        audience: TOKEN_ENDPOINT,
        recipient: TOKEN_ENDPOINT,
    }
}

/// Unix seconds to `xs:dateTime` (H. Hinnant's `civil_from_days`).
fn iso(t: u64) -> String {
    let days = i64::try_from(t / 86_400).expect("days");
    let secs = t % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// An assertion template; `xml()` writes it with an empty Signature for xmlsec to fill.
struct Tpl {
    id: &'static str,
    name_id: String,
    audience: &'static str,
    recipient: &'static str,
    not_before: u64,
    not_on_or_after: u64,
    bearer_not_on_or_after: Option<u64>,
    signature_method: &'static str,
    digest_method: &'static str,
    transforms: String,
    c14n: &'static str,
    key_info: String,
}

impl Default for Tpl {
    fn default() -> Self {
        Tpl {
            id: "_a75adf55-01d7-40cc-929f-dbd8372ebdfc",
            name_id: USER.to_owned(),
            audience: TOKEN_ENDPOINT,
            recipient: TOKEN_ENDPOINT,
            not_before: NOW - 10,
            not_on_or_after: NOW + 300,
            bearer_not_on_or_after: Some(NOW + 240),
            signature_method: RSA_SHA256,
            digest_method: SHA256,
            transforms: format!(
                r#"<ds:Transform Algorithm="{ENVELOPED}"/><ds:Transform Algorithm="{EXC_C14N}"/>"#
            ),
            c14n: EXC_C14N,
            key_info: String::new(),
        }
    }
}

impl Tpl {
    fn xml(&self) -> String {
        let bearer_noa = self
            .bearer_not_on_or_after
            .map(|t| format!(r#" NotOnOrAfter="{}""#, iso(t)))
            .unwrap_or_default();
        format!(
            r##"<saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" IssueInstant="{now}" Version="2.0">
  <saml2:Issuer>{ISSUER}</saml2:Issuer>
  <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
    <ds:SignedInfo>
      <ds:CanonicalizationMethod Algorithm="{c14n}"/>
      <ds:SignatureMethod Algorithm="{sm}"/>
      <ds:Reference URI="#{id}">
        <ds:Transforms>{transforms}</ds:Transforms>
        <ds:DigestMethod Algorithm="{dm}"/>
        <ds:DigestValue></ds:DigestValue>
      </ds:Reference>
    </ds:SignedInfo>
    <ds:SignatureValue></ds:SignatureValue>{key_info}
  </ds:Signature>
  <saml2:Subject>
    <saml2:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml2:NameID>
    <saml2:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
      <saml2:SubjectConfirmationData Recipient="{recipient}"{bearer_noa}/>
    </saml2:SubjectConfirmation>
  </saml2:Subject>
  <saml2:Conditions NotBefore="{nb}" NotOnOrAfter="{noa}">
    <saml2:AudienceRestriction>
      <saml2:Audience>{audience}</saml2:Audience>
    </saml2:AudienceRestriction>
  </saml2:Conditions>
  <saml2:AuthnStatement AuthnInstant="{now}">
    <saml2:AuthnContext>
      <saml2:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml2:AuthnContextClassRef>
    </saml2:AuthnContext>
  </saml2:AuthnStatement>
</saml2:Assertion>"##,
            id = self.id,
            now = iso(NOW),
            c14n = self.c14n,
            sm = self.signature_method,
            dm = self.digest_method,
            transforms = self.transforms,
            key_info = self.key_info,
            name_id = self.name_id,
            recipient = self.recipient,
            nb = iso(self.not_before),
            noa = iso(self.not_on_or_after),
            audience = self.audience,
        )
    }

    /// Signed by `signer` with xmlsec.
    fn signed_by(&self, signer: &Signer) -> String {
        let key = signer.key.private_key_to_der().expect("key der");
        XmlSec::sign_xml(self.xml(), &key).expect("xmlsec signs the template")
    }

    fn signed(&self) -> String {
        self.signed_by(idp())
    }
}

/// The document without its XML declaration, to be embedded in another one.
fn body(xml: &str) -> &str {
    match xml.find("?>") {
        Some(at) if xml.starts_with("<?xml") => xml.get(at + 2..).unwrap_or(xml).trim_start(),
        _ => xml,
    }
}

fn verify_str(xml: &str) -> Result<Assertion, SamlError> {
    verify(xml.as_bytes(), &trust())
}

/// Replaces the one occurrence of `from` (the test is wrong if there is none).
fn replace_once(xml: &str, from: &str, to: &str) -> String {
    assert_eq!(xml.matches(from).count(), 1, "{from} occurs once");
    xml.replacen(from, to, 1)
}

// ---- valid ----

#[test]
fn valid_assertion_verifies_and_meets_rfc7522_section_3() {
    let a = verify_str(&Tpl::default().signed()).expect("valid");
    assert_eq!(a.id, "_a75adf55-01d7-40cc-929f-dbd8372ebdfc");
    assert_eq!(a.issuer, ISSUER);
    assert_eq!(a.name_id, USER);
    assert_eq!(a.audiences, vec![TOKEN_ENDPOINT.to_owned()]);
    assert_eq!(a.not_before, Some(NOW - 10));
    assert_eq!(a.not_on_or_after, Some(NOW + 300));
    assert_eq!(a.issue_instant, NOW);
    assert_eq!(
        a.bearer,
        vec![Confirmation {
            recipient: Some(TOKEN_ENDPOINT.to_owned()),
            not_before: None,
            not_on_or_after: Some(NOW + 240),
        }]
    );
    assert_eq!(check_conditions(&a, rules()), Ok(()));
    assert_eq!(a.expires_at(), Some(NOW + 240));
}

#[test]
fn rfc7522_section_2_1_base64url_parameter_decodes_to_a_verifiable_assertion() {
    let xml = Tpl::default().signed();
    for engine in [
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::STANDARD,
    ] {
        let param = engine.encode(&xml);
        let bytes = decode_assertion_param(&param).expect("decodes");
        assert_eq!(
            verify(&bytes, &trust()).map(|a| a.name_id),
            Ok(USER.to_owned())
        );
    }
}

#[test]
fn issuer_of_reads_the_issuer_before_any_signature_check() {
    let xml = Tpl::default().signed_by(attacker());
    assert_eq!(issuer_of(xml.as_bytes()), Ok(ISSUER.to_owned()));
    assert_eq!(issuer_of(b"<x/>"), Err(SamlError::NotAnAssertion));
}

#[test]
fn ecdsa_p256_signature_verifies() {
    let tpl = Tpl {
        signature_method: ECDSA_SHA256,
        ..Tpl::default()
    };
    let xml = tpl.signed_by(ec_idp());
    let ec_trust = Trust::from_pem(&[&ec_idp().cert_pem], false).expect("trust");
    assert_eq!(
        verify(xml.as_bytes(), &ec_trust).map(|a| a.name_id),
        Ok(USER.to_owned())
    );
}

#[test]
fn any_configured_certificate_verifies_whatever_its_position_and_type() {
    let xml = Tpl::default().signed();
    let several = Trust::from_pem(
        &[&ec_idp().cert_pem, &attacker().cert_pem, &idp().cert_pem],
        false,
    )
    .expect("trust");
    assert_eq!(several.certificates.len(), 3);
    assert!(verify(xml.as_bytes(), &several).is_ok());
}

#[test]
fn verify_from_four_threads_at_once() {
    let xml = Tpl::default().signed();
    let trust = trust();
    let barrier = std::sync::Barrier::new(4);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                barrier.wait();
                for _ in 0..25 {
                    assert_eq!(
                        verify(xml.as_bytes(), &trust).map(|a| a.name_id),
                        Ok(USER.to_owned())
                    );
                    assert_eq!(
                        verify(xml.replace(USER, "bob@corp.example").as_bytes(), &trust),
                        Err(SamlError::Signature)
                    );
                }
            });
        }
    });
}

// ---- signature ----

#[test]
fn tampered_name_id_fails_the_signature() {
    let xml = replace_once(&Tpl::default().signed(), USER, "admin@corp.example");
    assert_eq!(verify_str(&xml), Err(SamlError::Signature));
}

#[test]
fn tampered_conditions_fail_the_signature() {
    let xml = Tpl::default().signed();
    let later = replace_once(&xml, &iso(NOW + 300), &iso(NOW + 86_400));
    assert_eq!(verify_str(&later), Err(SamlError::Signature));
}

#[test]
fn signed_by_another_certificate_is_refused() {
    let xml = Tpl::default().signed_by(attacker());
    assert_eq!(verify_str(&xml), Err(SamlError::Signature));
}

#[test]
fn certificate_inside_the_message_is_never_used_as_the_key() {
    let cert = base64::engine::general_purpose::STANDARD.encode(&attacker().cert_der);
    let tpl = Tpl {
        key_info: format!(
            "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
        ),
        ..Tpl::default()
    };
    let xml = tpl.signed_by(attacker());
    assert!(xml.contains(&cert[..40]));
    assert_eq!(verify_str(&xml), Err(SamlError::Signature));
    // The configured IdP may still send its certificate along.
    let idp_cert = base64::engine::general_purpose::STANDARD.encode(&idp().cert_der);
    let tpl = Tpl {
        key_info: format!(
            "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{idp_cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
        ),
        ..Tpl::default()
    };
    assert!(verify_str(&tpl.signed()).is_ok());
}

#[test]
fn unsigned_assertion_is_refused() {
    let xml = Tpl::default().xml();
    let start = xml.find("<ds:Signature").expect("sig");
    let end = xml.find("</ds:Signature>").expect("sig end") + "</ds:Signature>".len();
    let unsigned = format!("{}{}", &xml[..start], &xml[end..]);
    assert_eq!(verify_str(&unsigned), Err(SamlError::Unsigned));
    // The template's empty signature does not verify either.
    assert_eq!(verify_str(&xml), Err(SamlError::Signature));
}

#[test]
fn empty_trust_verifies_nothing() {
    let empty = Trust {
        certificates: Vec::new(),
        allow_sha1: false,
    };
    assert_eq!(
        verify(Tpl::default().signed().as_bytes(), &empty),
        Err(SamlError::Signature)
    );
}

#[test]
fn sha1_is_refused_unless_the_issuer_allows_it() {
    let rsa_sha1 = Tpl {
        signature_method: RSA_SHA1,
        digest_method: SHA1,
        ..Tpl::default()
    }
    .signed();
    let sha1_digest = Tpl {
        digest_method: SHA1,
        ..Tpl::default()
    }
    .signed();
    let allowing = Trust {
        allow_sha1: true,
        ..trust()
    };
    for xml in [&rsa_sha1, &sha1_digest] {
        assert_eq!(verify_str(xml), Err(SamlError::Sha1Refused));
        assert_eq!(
            verify(xml.as_bytes(), &allowing).map(|a| a.name_id),
            Ok(USER.to_owned())
        );
    }
    // allow_sha1 does not loosen the signature itself.
    let tampered = replace_once(&rsa_sha1, USER, "admin@corp.example");
    assert_eq!(
        verify(tampered.as_bytes(), &allowing),
        Err(SamlError::Signature)
    );
}

#[test]
fn other_algorithms_are_refused() {
    let xml = Tpl::default().signed();
    let md5 = replace_once(
        &xml,
        RSA_SHA256,
        "http://www.w3.org/2001/04/xmldsig-more#rsa-md5",
    );
    assert_eq!(verify_str(&md5), Err(SamlError::Algorithm));
    let hmac = replace_once(
        &xml,
        RSA_SHA256,
        "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
    );
    assert_eq!(verify_str(&hmac), Err(SamlError::Algorithm));
    let digest = replace_once(&xml, SHA256, "http://www.w3.org/2001/04/xmldsig-more#md5");
    assert_eq!(verify_str(&digest), Err(SamlError::Algorithm));
}

// ---- signature wrapping (XSW) ----

fn evil_assertion(inner: &str, signature: &str) -> String {
    format!(
        r#"<saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" ID="evil" IssueInstant="{now}" Version="2.0"><saml2:Issuer>{ISSUER}</saml2:Issuer>{signature}<saml2:Subject><saml2:NameID>admin@corp.example</saml2:NameID><saml2:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml2:SubjectConfirmationData Recipient="{TOKEN_ENDPOINT}" NotOnOrAfter="{noa}"/></saml2:SubjectConfirmation></saml2:Subject><saml2:Conditions><saml2:AudienceRestriction><saml2:Audience>{TOKEN_ENDPOINT}</saml2:Audience></saml2:AudienceRestriction></saml2:Conditions>{inner}</saml2:Assertion>"#,
        now = iso(NOW),
        noa = iso(NOW + 240),
    )
}

fn signature_of(xml: &str) -> &str {
    let start = xml.find("<ds:Signature").expect("sig");
    let end = xml.find("</ds:Signature>").expect("sig end") + "</ds:Signature>".len();
    &xml[start..end]
}

fn assert_wrapping(result: Result<Assertion, SamlError>) {
    assert!(
        matches!(result, Err(SamlError::Wrapping(_))),
        "expected a wrapping refusal, got {result:?}"
    );
}

#[test]
fn xsw_evil_assertion_wrapping_the_signed_one_is_refused() {
    let signed = Tpl::default().signed();
    // XSW3/4-like: the signed assertion inside Advice of an unsigned one.
    let xml = evil_assertion(
        &format!("<saml2:Advice>{}</saml2:Advice>", body(&signed)),
        "",
    );
    assert_wrapping(verify_str(&xml));
    // With the original Signature moved up to the evil root.
    let xml = evil_assertion(
        &format!("<saml2:Advice>{}</saml2:Advice>", body(&signed)),
        signature_of(&signed),
    );
    assert_wrapping(verify_str(&xml));
}

#[test]
fn xsw_evil_assertion_inside_the_signed_one_is_refused() {
    let signed = Tpl::default().signed();
    let evil = evil_assertion("", "");
    let xml = replace_once(
        &signed,
        "</saml2:Assertion>",
        &format!("<saml2:Advice>{evil}</saml2:Advice></saml2:Assertion>"),
    );
    assert_wrapping(verify_str(&xml));
}

#[test]
fn xsw_signature_referencing_another_id_is_refused() {
    let signed = Tpl::default().signed();
    let id = Tpl::default().id;
    // The root renamed: the Reference no longer points at it.
    let renamed = replace_once(&signed, &format!(r#"ID="{id}""#), r#"ID="evil""#);
    assert_wrapping(verify_str(&renamed));
    // An element somewhere else carrying the referenced ID.
    let decoy = evil_assertion(
        &format!(r#"<saml2:Statement ID="{id}"/>"#),
        signature_of(&signed),
    );
    assert_wrapping(verify_str(&decoy));
    // xml:id would be an ID to libxml2 as well.
    let xml_id = replace_once(&signed, "<saml2:Subject>", r#"<saml2:Subject xml:id="x1">"#);
    assert_wrapping(verify_str(&xml_id));
}

#[test]
fn xsw_signature_moved_into_object_is_refused() {
    let signed = Tpl::default().signed();
    let sig = signature_of(&signed);
    // XSW-style: the original assertion carried inside ds:Object of an evil one's Signature.
    let with_object = replace_once(
        sig,
        "</ds:Signature>",
        &format!("<ds:Object>{}</ds:Object></ds:Signature>", body(&signed)),
    );
    assert_wrapping(verify_str(&evil_assertion("", &with_object)));
    // Any ds:Object at all.
    let object_only = replace_once(
        &signed,
        "</ds:Signature>",
        "<ds:Object><x>y</x></ds:Object></ds:Signature>",
    );
    assert_wrapping(verify_str(&object_only));
}

#[test]
fn xsw_second_subject_is_refused() {
    let signed = Tpl::default().signed();
    let xml = replace_once(
        &signed,
        "<saml2:Conditions",
        "<saml2:Subject><saml2:NameID>admin@corp.example</saml2:NameID></saml2:Subject><saml2:Conditions",
    );
    assert_wrapping(verify_str(&xml));
    // Even when the IdP signed it that way.
    let tpl = Tpl {
        name_id: format!(
            "{USER}</saml2:NameID></saml2:Subject><saml2:Subject><saml2:NameID>{USER}"
        ),
        ..Tpl::default()
    };
    assert_wrapping(verify_str(&tpl.signed()));
}

#[test]
fn xsw_second_name_id_is_refused() {
    let signed = Tpl::default().signed();
    let xml = replace_once(
        &signed,
        "<saml2:SubjectConfirmation ",
        "<saml2:NameID>admin@corp.example</saml2:NameID><saml2:SubjectConfirmation ",
    );
    assert_wrapping(verify_str(&xml));
}

#[test]
fn xsw_response_wrapper_is_refused() {
    let signed = Tpl::default().signed();
    let xml = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="r1" Version="2.0" IssueInstant="{}">{}</samlp:Response>"#,
        iso(NOW),
        body(&signed)
    );
    assert_eq!(verify_str(&xml), Err(SamlError::NotAnAssertion));
}

#[test]
fn signature_outside_the_assertion_root_or_twice_is_refused() {
    let signed = Tpl::default().signed();
    let sig = signature_of(&signed).to_owned();
    let moved = replace_once(&signed, &sig, "");
    let moved = replace_once(
        &moved,
        "</saml2:Subject>",
        &format!("{sig}</saml2:Subject>"),
    );
    assert_wrapping(verify_str(&moved));
    let twice = replace_once(
        &signed,
        "</saml2:Assertion>",
        &format!("{sig}</saml2:Assertion>"),
    );
    assert_wrapping(verify_str(&twice));
}

#[test]
fn reference_uri_other_than_the_assertion_id_is_refused() {
    let signed = Tpl::default().signed();
    let id = Tpl::default().id;
    for uri in [
        "",
        "file:///etc/passwd",
        "http://evil.example/a.xml",
        "#xpointer(/)",
    ] {
        let xml = replace_once(
            &signed,
            &format!(r##"URI="#{id}""##),
            &format!(r#"URI="{uri}""#),
        );
        assert_wrapping(verify_str(&xml));
    }
    let two_refs = {
        let start = signed.find("<ds:Reference").expect("ref");
        let end = signed.find("</ds:Reference>").expect("ref end") + "</ds:Reference>".len();
        let reference = &signed[start..end];
        replace_once(&signed, reference, &format!("{reference}{reference}"))
    };
    assert_wrapping(verify_str(&two_refs));
}

// ---- transforms, c14n, parsing ----

#[test]
fn extra_xslt_transform_is_refused_before_xmlsec() {
    let signed = Tpl::default().signed();
    let xslt = r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"><xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"><xsl:template match="/"><xsl:copy-of select="document('file:///etc/passwd')"/></xsl:template></xsl:stylesheet></ds:Transform>"#;
    let xml = replace_once(
        &signed,
        "</ds:Transforms>",
        &format!("{xslt}</ds:Transforms>"),
    );
    assert!(matches!(verify_str(&xml), Err(SamlError::SignatureForm(_))));
    let xpath = replace_once(
        &signed,
        "</ds:Transforms>",
        r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>1</ds:XPath></ds:Transform></ds:Transforms>"#,
    );
    assert!(matches!(
        verify_str(&xpath),
        Err(SamlError::SignatureForm(_))
    ));
}

#[test]
fn c14n_with_comments_or_inclusive_is_refused() {
    let with_comments = Tpl {
        c14n: "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
        ..Tpl::default()
    };
    assert!(matches!(
        verify_str(&with_comments.signed()),
        Err(SamlError::SignatureForm(_))
    ));
    let inclusive = Tpl {
        transforms: format!(
            r#"<ds:Transform Algorithm="{ENVELOPED}"/><ds:Transform Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>"#
        ),
        ..Tpl::default()
    };
    assert!(matches!(
        verify_str(&inclusive.signed()),
        Err(SamlError::SignatureForm(_))
    ));
    let no_enveloped = Tpl {
        transforms: format!(r#"<ds:Transform Algorithm="{EXC_C14N}"/>"#),
        ..Tpl::default()
    };
    assert!(matches!(
        verify_str(&no_enveloped.xml()),
        Err(SamlError::SignatureForm(_))
    ));
}

#[test]
fn inclusive_namespaces_prefix_list_is_accepted() {
    let tpl = Tpl {
        transforms: format!(
            r#"<ds:Transform Algorithm="{ENVELOPED}"/><ds:Transform Algorithm="{EXC_C14N}"><ec:InclusiveNamespaces xmlns:ec="{EXC_C14N}" PrefixList="xs"/></ds:Transform>"#
        ),
        ..Tpl::default()
    };
    assert!(verify_str(&tpl.signed()).is_ok());
}

#[test]
fn comment_inside_name_id_is_refused_not_truncated() {
    // Exclusive c14n drops comments, so the signature still verifies after the comment is
    // added: a reader of the first text node would see "alice@corp.example".
    let tpl = Tpl {
        name_id: "alice@corp.example.evil.example".to_owned(),
        ..Tpl::default()
    };
    let signed = tpl.signed();
    assert!(verify_str(&signed).is_ok());
    let xml = replace_once(
        &signed,
        "alice@corp.example.evil.example",
        "alice@corp.example<!---->.evil.example",
    );
    assert_eq!(verify_str(&xml), Err(SamlError::CommentInNameId));
    assert_eq!(issuer_of(xml.as_bytes()), Err(SamlError::CommentInNameId));
    // Signed that way by the IdP: refused all the same.
    let tpl = Tpl {
        name_id: "alice@corp.example<!-- x -->.evil.example".to_owned(),
        ..Tpl::default()
    };
    assert_eq!(verify_str(&tpl.signed()), Err(SamlError::CommentInNameId));
    let element = replace_once(&signed, ".evil.example", "<b>.evil.example</b>");
    assert_eq!(verify_str(&element), Err(SamlError::ElementInNameId));
}

#[test]
fn doctype_and_external_entity_are_refused() {
    let signed = Tpl::default().signed();
    let body = body(&signed);
    for prologue in [
        r#"<!DOCTYPE saml2:Assertion [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>"#,
        "<!DOCTYPE saml2:Assertion>",
        r#"<!DOCTYPE saml2:Assertion SYSTEM "http://evil.example/a.dtd">"#,
    ] {
        let xml = format!("<?xml version=\"1.0\"?>\n{prologue}\n{body}");
        assert_eq!(verify_str(&xml), Err(SamlError::Dtd));
        assert_eq!(issuer_of(xml.as_bytes()), Err(SamlError::Dtd));
    }
    let entity_use = replace_once(body, USER, "&xxe;");
    assert_eq!(verify_str(&entity_use), Err(SamlError::Malformed));
}

#[test]
fn declared_encoding_other_than_utf8_is_refused() {
    let signed = Tpl::default().signed();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n{}",
        body(&signed)
    );
    assert_eq!(verify_str(&xml), Err(SamlError::DeclaredEncoding));
    let xml = format!(
        "<?xml version=\"1.0\" encoding='utf-8'?>\n{}",
        body(&signed)
    );
    assert!(verify_str(&xml).is_ok());
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n{}",
        body(&signed)
    );
    assert!(verify_str(&xml).is_ok());
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n{}",
        body(&signed)
    );
    assert_eq!(verify_str(&xml), Err(SamlError::DeclaredEncoding));
}

#[test]
fn processing_instruction_and_non_utf8_are_refused() {
    let signed = Tpl::default().signed();
    let pi = replace_once(&signed, "<saml2:Subject>", "<?evil x?><saml2:Subject>");
    assert_eq!(verify_str(&pi), Err(SamlError::ProcessingInstruction));
    let mut latin1 = signed.into_bytes();
    latin1.push(0xe9);
    assert_eq!(verify(&latin1, &trust()), Err(SamlError::Malformed));
}

#[test]
fn larger_than_the_cap_is_refused_before_parsing() {
    let big = vec![b' '; MAX_ASSERTION_BYTES + 1];
    assert_eq!(verify(&big, &trust()), Err(SamlError::TooLarge));
}

// ---- conditions (RFC 7522 §3) ----

fn verified(tpl: Tpl) -> Assertion {
    verify_str(&tpl.signed()).expect("signature verifies")
}

#[test]
fn wrong_audience_is_refused() {
    let a = verified(Tpl {
        audience: "https://other-as.example/token",
        ..Tpl::default()
    });
    assert_eq!(check_conditions(&a, rules()), Err(SamlError::Audience));
}

#[test]
fn audience_must_be_in_every_audience_restriction() {
    let mut a = verified(Tpl::default());
    a.audience_restrictions
        .push(vec!["https://other.example".to_owned()]);
    assert_eq!(check_conditions(&a, rules()), Err(SamlError::Audience));
    a.audience_restrictions.clear();
    assert_eq!(check_conditions(&a, rules()), Err(SamlError::Audience));
}

#[test]
fn wrong_recipient_is_refused() {
    let a = verified(Tpl {
        recipient: "https://other-as.example/token",
        ..Tpl::default()
    });
    assert_eq!(check_conditions(&a, rules()), Err(SamlError::Recipient));
}

#[test]
fn expired_is_refused_with_skew() {
    // Conditions NotOnOrAfter.
    let a = verified(Tpl {
        not_on_or_after: NOW - 61,
        ..Tpl::default()
    });
    assert_eq!(check_conditions(&a, rules()), Err(SamlError::Expired));
    let a = verified(Tpl {
        not_on_or_after: NOW - 59,
        ..Tpl::default()
    });
    assert_eq!(check_conditions(&a, rules()), Ok(()));
    // The bearer confirmation's NotOnOrAfter.
    let a = verified(Tpl {
        bearer_not_on_or_after: Some(NOW - 60),
        ..Tpl::default()
    });
    assert_eq!(check_conditions(&a, rules()), Err(SamlError::Expired));
}

#[test]
fn not_yet_valid_is_refused_with_skew() {
    let a = verified(Tpl {
        not_before: NOW + 61,
        ..Tpl::default()
    });
    assert_eq!(check_conditions(&a, rules()), Err(SamlError::NotYetValid));
    let a = verified(Tpl {
        not_before: NOW + 60,
        ..Tpl::default()
    });
    assert_eq!(check_conditions(&a, rules()), Ok(()));
}

#[test]
fn rfc7522_section_3_bearer_confirmation_needs_not_on_or_after() {
    let a = verified(Tpl {
        bearer_not_on_or_after: None,
        ..Tpl::default()
    });
    assert_eq!(check_conditions(&a, rules()), Err(SamlError::NoExpiry));
}

#[test]
fn no_bearer_confirmation_is_refused() {
    let xml = Tpl::default().xml().replace(
        "urn:oasis:names:tc:SAML:2.0:cm:bearer",
        "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key",
    );
    let key = idp().key.private_key_to_der().expect("der");
    let signed = XmlSec::sign_xml(xml, &key).expect("sign");
    let a = verify_str(&signed).expect("verifies");
    assert!(a.bearer.is_empty());
    assert_eq!(check_conditions(&a, rules()), Err(SamlError::NoBearer));
}

#[test]
fn expires_at_covers_every_confirmation_that_could_still_be_accepted() {
    let mut a = verified(Tpl::default());
    a.bearer.push(Confirmation {
        recipient: Some("https://elsewhere.example".to_owned()),
        not_before: None,
        not_on_or_after: Some(NOW + 100),
    });
    // The latest confirmation (NOW + 240), capped by Conditions (NOW + 300).
    assert_eq!(a.expires_at(), Some(NOW + 240));
    a.not_on_or_after = Some(NOW + 200);
    assert_eq!(a.expires_at(), Some(NOW + 200));
    a.not_on_or_after = None;
    a.bearer.clear();
    assert_eq!(a.expires_at(), None);
}

// ---- configuration, errors ----

#[test]
fn trust_from_pem_reads_every_certificate_and_refuses_none() {
    let both = [idp().cert_pem.clone(), attacker().cert_pem.clone()].concat();
    let t = Trust::from_pem(&[&both], true).expect("two certs");
    assert_eq!(
        t.certificates,
        vec![idp().cert_der.clone(), attacker().cert_der.clone()]
    );
    assert!(t.allow_sha1);
    assert_eq!(
        format!("{t:?}"),
        "Trust { certificates: 2, allow_sha1: true }"
    );
    assert_eq!(
        Trust::from_pem(&[b"nothing"], false),
        Err(SamlError::Certificate)
    );
    assert_eq!(Trust::from_pem(&[], false), Err(SamlError::Certificate));
}

#[test]
fn error_display_is_the_description() {
    for e in [
        SamlError::Signature,
        SamlError::Wrapping("signature wrapping: more than one Assertion"),
        SamlError::CommentInNameId,
        SamlError::Sha1Refused,
    ] {
        assert_eq!(e.to_string(), e.description());
    }
}

// ---- properties: no panic on any input ----

fn valid_xml() -> &'static str {
    static XML: OnceLock<String> = OnceLock::new();
    XML.get_or_init(|| Tpl::default().signed())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = issuer_of(&bytes);
        let _ = verify(&bytes, &trust());
        let _ = decode_assertion_param(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn decode_never_panics_on_base64ish_text(s in "[A-Za-z0-9+/=_\\- \r\n]{0,300}") {
        let _ = decode_assertion_param(&s);
    }

    #[test]
    fn datetime_round_trips(t in 0u64..253_402_300_799) {
        prop_assert_eq!(time::parse_datetime(&iso(t)), Some(t));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A mutated valid assertion never panics anything, and when it still verifies it
    /// says what the signed one said.
    #[test]
    fn mutated_valid_assertion_never_panics_nor_changes_meaning(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..6)
    ) {
        let mut bytes = valid_xml().as_bytes().to_vec();
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let at = at % bytes.len();
            match op {
                0 => bytes[at] = byte,
                1 => { bytes.remove(at); }
                _ => bytes.insert(at, byte),
            }
        }
        let _ = issuer_of(&bytes);
        if let Ok(a) = verify(&bytes, &trust()) {
            prop_assert_eq!(a.name_id, USER);
            prop_assert_eq!(a.issuer, ISSUER);
            prop_assert_eq!(a.not_on_or_after, Some(NOW + 300));
        }
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        let _ = decode_assertion_param(&encoded);
    }
}
