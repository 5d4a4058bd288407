//! The strict look at the unauthenticated XML, before xmlsec is allowed to see it.
//! Touches `roxmltree` (read-only, refuses DTDs) and `std`; no I/O.
//!
//! Why: xmlsec runs whatever the message asks for: a Reference URI is resolved (a
//! `file://` or `http://` URI would be read), transforms run (XSLT, XPath), a `ds:Object`
//! can hold a second signed tree. And a valid signature over *some* element proves nothing
//! about the element we then read (signature wrapping, XSW1–XSW8). So the document must
//! have exactly the shape of one signed SAML assertion before any of that happens:
//!
//! - UTF-8, no DTD / entity / other `<!` declaration, no processing instruction, at most
//!   [`super::MAX_ASSERTION_BYTES`];
//! - the root is `saml:Assertion` (a bare assertion, never a `Response`), with an `ID`
//!   that is an NCName; no other element in the document is named `Assertion` or
//!   `EncryptedAssertion` (whatever its namespace), and no other element carries an `ID`
//!   or `xml:id` attribute (libxml2 would register it as an ID a Reference could target);
//! - exactly one `ds:Signature` (no other element named `Signature` either), a direct child
//!   of the root: `SignedInfo`, `SignatureValue`, optional `KeyInfo` (X509Data, KeyName or
//!   KeyValue only: it is never used as a key, the configured certificates are); no
//!   `ds:Object`, `Manifest` or `RetrievalMethod` anywhere;
//! - `SignedInfo`: exclusive c14n, an allowed SignatureMethod, exactly one Reference whose
//!   URI is `#` + the root's ID, whose transforms are exactly enveloped-signature then
//!   exclusive c14n (an `InclusiveNamespaces` prefix list allowed, nothing else), and whose
//!   DigestMethod is allowed;
//! - exactly one `Issuer` (child of the root), one `Subject` (child of the root) and one
//!   `NameID` (child of the Subject) in the whole document, no `BaseID`/`EncryptedID`;
//!   `Issuer` and `NameID` hold text only: a comment or an element inside is refused,
//!   never read in part.

use roxmltree::{Document, Node, ParsingOptions};

use super::{SamlError, MAX_ASSERTION_BYTES};

pub(super) const SAML_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub(super) const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
/// SignatureMethods accepted without `allow_sha1` (the same set is handed to samael).
const SIGNATURE_METHODS: [&str; 6] = [
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];
const DIGEST_METHODS: [&str; 3] = [
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];
/// More nodes than a 64 KiB document can hold: a backstop, the size cap is the limit.
const NODES_LIMIT: u32 = 40_000;

/// What the pre-check learnt from the (still unverified) document.
#[derive(Debug)]
pub(super) struct Checked {
    /// The root Assertion's `ID`, which the one Reference points at.
    pub id: String,
    pub issuer: String,
    pub name_id: String,
    /// RSA-SHA1 or a SHA-1 digest: allowed only with `Trust::allow_sha1`.
    pub uses_sha1: bool,
}

/// The input as text, after the byte-level refusals (size, UTF-8, `<!`, encoding).
pub(super) fn as_text(xml: &[u8]) -> Result<&str, SamlError> {
    if xml.len() > MAX_ASSERTION_BYTES {
        return Err(SamlError::TooLarge);
    }
    let text = std::str::from_utf8(xml).map_err(|_| SamlError::Malformed)?;
    // `<!` opens a comment, a CDATA section, or a declaration (DOCTYPE, ENTITY, ELEMENT,
    // ATTLIST): the last kind is refused outright, whatever the parser would make of it.
    let mut rest = text;
    while let Some(at) = rest.find("<!") {
        let after = rest.get(at + 2..).unwrap_or("");
        if !(after.starts_with("--") || after.starts_with("[CDATA[")) {
            return Err(SamlError::Dtd);
        }
        rest = after;
    }
    // libxml2 honours the declared encoding where roxmltree reads UTF-8: both must read the
    // same characters, so only UTF-8 may be declared.
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(decl) = body.strip_prefix("<?xml") {
        let end = decl.find("?>").ok_or(SamlError::Malformed)?;
        let decl = decl.get(..end).unwrap_or("");
        if let Some(at) = decl.find("encoding") {
            let after = decl.get(at + "encoding".len()..).unwrap_or("");
            let after = after
                .trim_start()
                .strip_prefix('=')
                .unwrap_or("")
                .trim_start();
            // The quoted value: up to the matching quote.
            let value = after
                .chars()
                .next()
                .filter(|q| *q == '"' || *q == '\'')
                .and_then(|q| after.get(1..).and_then(|v| v.split(q).next()))
                .unwrap_or("");
            if !value.eq_ignore_ascii_case("utf-8") {
                return Err(SamlError::DeclaredEncoding);
            }
        }
    }
    Ok(text)
}

/// Parses `text` strictly (no DTD) with roxmltree.
pub(super) fn parse(text: &str) -> Result<Document<'_>, SamlError> {
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => SamlError::Dtd,
        _ => SamlError::Malformed,
    })
}

/// The whole pre-check (see the module doc).
pub(super) fn precheck(xml: &[u8]) -> Result<Checked, SamlError> {
    let text = as_text(xml)?;
    let doc = parse(text)?;
    let root = doc.root_element();
    if !is(root, SAML_NS, "Assertion") {
        return Err(SamlError::NotAnAssertion);
    }
    let id = root
        .attribute("ID")
        .ok_or(SamlError::Structure("Assertion has no ID"))?;
    if !is_ncname(id) {
        return Err(SamlError::Structure("Assertion ID is not an NCName"));
    }

    let mut signature = None;
    let mut issuer = None;
    let mut subject = None;
    let mut name_id = None;
    for node in root.descendants() {
        if node.is_pi() {
            return Err(SamlError::ProcessingInstruction);
        }
        if !node.is_element() {
            continue;
        }
        for attr in node.attributes() {
            let xml_id = attr.namespace() == Some(XML_NS) && attr.name() == "id";
            // On the root only the plain `ID`: libxml2 finds `ID` whatever its namespace.
            let other_id = attr.name() == "ID" && (node != root || attr.namespace().is_some());
            if xml_id || other_id {
                return Err(SamlError::Wrapping(
                    "signature wrapping: an ID attribute besides the Assertion's",
                ));
            }
        }
        let name = node.tag_name().name();
        let ns = node.tag_name().namespace();
        match name {
            "Assertion" | "EncryptedAssertion" if node != root => {
                return Err(SamlError::Wrapping(
                    "signature wrapping: more than one Assertion",
                ))
            }
            "Signature" => {
                if signature.is_some() || ns != Some(DSIG_NS) {
                    return Err(SamlError::Wrapping(
                        "signature wrapping: more than one Signature element",
                    ));
                }
                if node.parent_element() != Some(root) {
                    return Err(SamlError::Wrapping(
                        "signature wrapping: Signature is not a child of the Assertion",
                    ));
                }
                signature = Some(node);
            }
            "Object" | "Manifest" | "RetrievalMethod" if ns == Some(DSIG_NS) => {
                return Err(SamlError::Wrapping(
                    "signature wrapping: ds:Object, Manifest or RetrievalMethod",
                ))
            }
            _ => {}
        }
        if ns == Some(SAML_NS) {
            match name {
                "Issuer" => {
                    if issuer.is_some() || node.parent_element() != Some(root) {
                        return Err(SamlError::Wrapping(
                            "signature wrapping: Issuer other than the Assertion's one",
                        ));
                    }
                    issuer = Some(node);
                }
                "Subject" => {
                    if subject.is_some() || node.parent_element() != Some(root) {
                        return Err(SamlError::Wrapping(
                            "signature wrapping: more than one Subject",
                        ));
                    }
                    subject = Some(node);
                }
                "NameID" => {
                    if name_id.is_some() {
                        return Err(SamlError::Wrapping(
                            "signature wrapping: more than one NameID",
                        ));
                    }
                    name_id = Some(node);
                }
                "BaseID" | "EncryptedID" => {
                    return Err(SamlError::Structure(
                        "Subject must identify the user by NameID",
                    ))
                }
                _ => {}
            }
        }
    }

    let signature = signature.ok_or(SamlError::Unsigned)?;
    let uses_sha1 = check_signature(signature, id)?;
    let issuer = issuer.ok_or(SamlError::Structure("Assertion has no Issuer"))?;
    let subject = subject.ok_or(SamlError::Structure("Assertion has no Subject"))?;
    let name_id = name_id.ok_or(SamlError::Structure("Subject has no NameID"))?;
    if name_id.parent_element() != Some(subject) {
        return Err(SamlError::Wrapping(
            "signature wrapping: NameID outside the Subject",
        ));
    }
    Ok(Checked {
        id: id.to_owned(),
        issuer: whole_text(issuer, "Issuer is empty")?,
        name_id: whole_text(name_id, "NameID is empty")?,
        uses_sha1,
    })
}

/// The text of a text-only element (`Issuer`, `NameID`, `Audience`), trimmed of XML
/// whitespace (pretty-printing). A comment or element inside is refused: a reader that
/// stops at the first text node would take `admin@corp<!---->.evil` for `admin@corp`.
pub(super) fn whole_text(node: Node<'_, '_>, empty: &'static str) -> Result<String, SamlError> {
    let mut text = String::new();
    for child in node.children() {
        if child.is_comment() {
            return Err(SamlError::CommentInNameId);
        }
        if child.is_element() {
            return Err(SamlError::ElementInNameId);
        }
        if child.is_pi() {
            return Err(SamlError::ProcessingInstruction);
        }
        if let Some(t) = child.text() {
            text.push_str(t);
        }
    }
    let trimmed = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
    if trimmed.is_empty() {
        return Err(SamlError::Structure(empty));
    }
    Ok(trimmed.to_owned())
}

/// Checks the one `ds:Signature`'s shape; `Ok(true)` when it uses SHA-1.
fn check_signature(signature: Node<'_, '_>, id: &str) -> Result<bool, SamlError> {
    let mut parts = elements(signature);
    let signed_info = parts
        .next()
        .filter(|n| is(*n, DSIG_NS, "SignedInfo"))
        .ok_or(SamlError::SignatureForm(
            "Signature must start with SignedInfo",
        ))?;
    if !parts
        .next()
        .is_some_and(|n| is(n, DSIG_NS, "SignatureValue"))
    {
        return Err(SamlError::SignatureForm("Signature has no SignatureValue"));
    }
    if let Some(key_info) = parts.next() {
        if !is(key_info, DSIG_NS, "KeyInfo") {
            return Err(SamlError::Wrapping(
                "signature wrapping: unexpected element in Signature",
            ));
        }
        for item in elements(key_info) {
            let known = ["X509Data", "KeyName", "KeyValue"]
                .iter()
                .any(|name| is(item, DSIG_NS, name));
            if !known {
                return Err(SamlError::SignatureForm(
                    "KeyInfo holds an unsupported element",
                ));
            }
        }
    }
    if parts.next().is_some() {
        return Err(SamlError::Wrapping(
            "signature wrapping: unexpected element in Signature",
        ));
    }

    let mut si = elements(signed_info);
    let c14n = si
        .next()
        .filter(|n| is(*n, DSIG_NS, "CanonicalizationMethod"))
        .ok_or(SamlError::SignatureForm(
            "SignedInfo has no CanonicalizationMethod",
        ))?;
    check_exc_c14n(
        c14n,
        "CanonicalizationMethod must be exclusive c14n without comments",
    )?;
    let method = si
        .next()
        .filter(|n| is(*n, DSIG_NS, "SignatureMethod"))
        .ok_or(SamlError::SignatureForm(
            "SignedInfo has no SignatureMethod",
        ))?;
    if elements(method).next().is_some() {
        return Err(SamlError::Algorithm);
    }
    let method = method.attribute("Algorithm").unwrap_or("");
    let sha1_signature = method == RSA_SHA1;
    if !sha1_signature && !SIGNATURE_METHODS.contains(&method) {
        return Err(SamlError::Algorithm);
    }
    let reference = si
        .next()
        .filter(|n| is(*n, DSIG_NS, "Reference"))
        .ok_or(SamlError::SignatureForm("SignedInfo has no Reference"))?;
    if si.next().is_some() {
        return Err(SamlError::Wrapping(
            "signature wrapping: more than one Reference",
        ));
    }
    let uri = reference.attribute("URI").unwrap_or("");
    if uri.strip_prefix('#') != Some(id) {
        return Err(SamlError::Wrapping(
            "signature wrapping: Reference URI is not #ID of the Assertion",
        ));
    }

    let mut r = elements(reference);
    let transforms =
        r.next()
            .filter(|n| is(*n, DSIG_NS, "Transforms"))
            .ok_or(SamlError::SignatureForm(
                "Reference must have transforms enveloped-signature and exclusive c14n",
            ))?;
    let mut t = elements(transforms);
    let enveloped = t.next().filter(|n| is(*n, DSIG_NS, "Transform"));
    let exc = t.next().filter(|n| is(*n, DSIG_NS, "Transform"));
    match (enveloped, exc, t.next()) {
        (Some(enveloped), Some(exc), None)
            if enveloped.attribute("Algorithm") == Some(ENVELOPED)
                && elements(enveloped).next().is_none() =>
        {
            check_exc_c14n(
                exc,
                "Reference must have transforms enveloped-signature and exclusive c14n",
            )?
        }
        _ => {
            return Err(SamlError::SignatureForm(
                "Reference must have transforms enveloped-signature and exclusive c14n",
            ))
        }
    }
    let digest = r
        .next()
        .filter(|n| is(*n, DSIG_NS, "DigestMethod"))
        .ok_or(SamlError::SignatureForm("Reference has no DigestMethod"))?;
    let digest = digest.attribute("Algorithm").unwrap_or("");
    let sha1_digest = digest == SHA1;
    if !sha1_digest && !DIGEST_METHODS.contains(&digest) {
        return Err(SamlError::Algorithm);
    }
    if !r.next().is_some_and(|n| is(n, DSIG_NS, "DigestValue")) || r.next().is_some() {
        return Err(SamlError::SignatureForm("Reference has no DigestValue"));
    }
    Ok(sha1_signature || sha1_digest)
}

/// Exclusive c14n without comments, with at most an `InclusiveNamespaces` prefix list.
fn check_exc_c14n(node: Node<'_, '_>, what: &'static str) -> Result<(), SamlError> {
    if node.attribute("Algorithm") != Some(EXC_C14N) {
        return Err(SamlError::SignatureForm(what));
    }
    let mut children = elements(node);
    if let Some(first) = children.next() {
        if !is(first, EXC_C14N, "InclusiveNamespaces") || elements(first).next().is_some() {
            return Err(SamlError::SignatureForm(what));
        }
    }
    if children.next().is_some() {
        return Err(SamlError::SignatureForm(what));
    }
    Ok(())
}

pub(super) fn is(node: Node<'_, '_>, ns: &str, local: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(ns) && node.tag_name().name() == local
}

pub(super) fn elements<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(|n| n.is_element())
}

/// XML NCName, restricted to ASCII (SAML IDs are generated tokens): a letter or `_`, then
/// letters, digits, `_`, `-`, `.`.
fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && s.len() <= 256
}
