//! [`SamlError`]: every way a SAML assertion can be refused, one variant per failed check.
//!
//! The descriptions go to the client in `error_description` (as `invalid_grant`), so they
//! name the check and never echo any part of the assertion (no IDs, names or values).
//! Touches nothing but `std`.

use std::fmt;

/// Why an assertion (or a trust configuration) was refused.
///
/// Variants carrying a `&'static str` hold the full description of the structural check
/// that failed; the string is a constant of this module, never input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamlError {
    /// The `assertion` parameter is not base64url (or base64).
    Encoding,
    /// The `assertion` parameter holds a space (a `+` of standard base64 sent unescaped).
    Space,
    /// Larger than [`super::MAX_ASSERTION_BYTES`].
    TooLarge,
    /// Not well-formed XML in UTF-8.
    Malformed,
    /// A DTD, entity or other markup declaration.
    Dtd,
    /// The XML declaration names an encoding other than UTF-8.
    DeclaredEncoding,
    /// A processing instruction inside the document.
    ProcessingInstruction,
    /// The root element is not a SAML 2.0 `Assertion` (a `Response`, another namespace, ...).
    NotAnAssertion,
    /// No `ds:Signature` at all.
    Unsigned,
    /// A signature-wrapping shape (second Assertion, Reference to another ID, Object, ...).
    Wrapping(&'static str),
    /// A transform, canonicalisation or key-info form this server does not run.
    SignatureForm(&'static str),
    /// SignatureMethod or DigestMethod outside the allowed algorithms.
    Algorithm,
    /// RSA-SHA1 or a SHA-1 digest, and the issuer does not set `allow_sha1`.
    Sha1Refused,
    /// The signature does not verify with any configured certificate of the issuer.
    Signature,
    /// A required element or attribute is missing or malformed (the text names it).
    Structure(&'static str),
    /// An XML comment inside `NameID` (or `Issuer`): refused rather than read in part.
    CommentInNameId,
    /// `NameID` (or `Issuer`) holds a child element instead of text only.
    ElementInNameId,
    /// A time attribute is not an `xs:dateTime` (the text names it).
    Time(&'static str),
    /// `[assertions] audience` is not in (every) `AudienceRestriction`.
    Audience,
    /// No bearer `SubjectConfirmation` at all.
    NoBearer,
    /// No bearer `SubjectConfirmationData` has `Recipient` = the token endpoint.
    Recipient,
    /// The bearer `SubjectConfirmationData` has no `NotOnOrAfter` (RFC 7522 §3).
    NoExpiry,
    /// Past `NotOnOrAfter` (of `Conditions` or of the bearer confirmation), skew allowed.
    Expired,
    /// Before `NotBefore` (of `Conditions` or of the bearer confirmation), skew allowed.
    NotYetValid,
    /// A `Condition` this server does not understand (SAML core §2.5.1: indeterminate).
    UnknownCondition,
    /// The `Issuer` is not a configured `kind = "saml"` issuer (for the caller's use).
    UnknownIssuer,
    /// The issuer is configured but not for this client (for the caller's use).
    IssuerNotAllowed,
    /// `Trust::from_pem`: no X.509 certificate, or one that does not parse.
    Certificate,
    /// The XML signature library could not be set up.
    Library,
}

impl SamlError {
    /// What failed, for `error_description`: a constant, never part of the assertion.
    pub fn description(&self) -> &'static str {
        match self {
            SamlError::Encoding => "assertion is not base64url",
            SamlError::Space => {
                "assertion contains a space (a '+' of base64 sent without percent-encoding?)"
            }
            SamlError::TooLarge => "assertion is too large",
            SamlError::Malformed => "assertion is not well-formed UTF-8 XML",
            SamlError::Dtd => "assertion contains a DTD or entity declaration",
            SamlError::DeclaredEncoding => "assertion declares an encoding other than UTF-8",
            SamlError::ProcessingInstruction => "assertion contains a processing instruction",
            SamlError::NotAnAssertion => "root element is not a SAML 2.0 Assertion",
            SamlError::Unsigned => "assertion is not signed",
            SamlError::Wrapping(what) => what,
            SamlError::SignatureForm(what) => what,
            SamlError::Algorithm => "signature or digest algorithm not allowed",
            SamlError::Sha1Refused => "SHA-1 signature or digest refused for this issuer",
            SamlError::Signature => "signature does not verify with the issuer's certificates",
            SamlError::Structure(what) => what,
            SamlError::CommentInNameId => "XML comment inside NameID or Issuer",
            SamlError::ElementInNameId => "element inside NameID or Issuer",
            SamlError::Time(what) => what,
            SamlError::Audience => "assertion audience is not this token endpoint",
            SamlError::NoBearer => "no bearer SubjectConfirmation",
            SamlError::Recipient => {
                "bearer SubjectConfirmationData Recipient is not this token endpoint"
            }
            SamlError::NoExpiry => "bearer SubjectConfirmationData has no NotOnOrAfter",
            SamlError::Expired => "assertion expired",
            SamlError::NotYetValid => "assertion not yet valid",
            SamlError::UnknownCondition => {
                "assertion has a condition this server does not understand"
            }
            SamlError::UnknownIssuer => "unknown SAML issuer",
            SamlError::IssuerNotAllowed => "SAML issuer not allowed for this client",
            SamlError::Certificate => "no usable X.509 certificate in PEM",
            SamlError::Library => "XML signature library unavailable",
        }
    }
}

impl fmt::Display for SamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for SamlError {}
