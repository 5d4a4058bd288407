//! What a verified assertion says ([`Assertion`], read from xmlsec's verified bytes only)
//! and whether it holds now ([`check_conditions`], RFC 7522 §3). Touches `roxmltree` and
//! `std`; no I/O, no clock (the caller passes `now`).

use roxmltree::Node;

use super::precheck::{elements, is, parse, whole_text, Checked, SAML_NS};
use super::time::parse_datetime;
use super::SamlError;

const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// A verified SAML 2.0 assertion: everything here was covered by the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// `ID`: single use, remembered until [`Assertion::expires_at`] (plus skew).
    pub id: String,
    /// `Issuer` entity id.
    pub issuer: String,
    /// `Subject/NameID`, the whole text (trimmed of XML whitespace): the token's user.
    pub name_id: String,
    /// Every `Conditions/AudienceRestriction/Audience`, flattened (for display and logs).
    pub audiences: Vec<String>,
    /// The `Audience`s of each `AudienceRestriction`: SAML core §2.5.1.4 wants the relying
    /// party in *each* restriction, which the flat list cannot tell.
    pub audience_restrictions: Vec<Vec<String>>,
    /// `Conditions/@NotBefore`, unix seconds.
    pub not_before: Option<u64>,
    /// `Conditions/@NotOnOrAfter`, unix seconds.
    pub not_on_or_after: Option<u64>,
    /// The bearer `SubjectConfirmation`s (other methods are left out).
    pub bearer: Vec<Confirmation>,
    /// `IssueInstant`, unix seconds.
    pub issue_instant: u64,
}

/// One bearer `SubjectConfirmation`'s `SubjectConfirmationData` (all `None` without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    pub recipient: Option<String>,
    pub not_before: Option<u64>,
    pub not_on_or_after: Option<u64>,
}

/// What [`check_conditions`] holds the assertion to.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// Unix seconds.
    pub now: u64,
    /// Clock skew allowed either way, seconds (`[assertions] clock_skew_secs`).
    pub skew: u64,
    /// `[assertions] audience`: must be in every `AudienceRestriction`.
    pub audience: &'a str,
    /// The token endpoint URL: the bearer confirmation's `Recipient`.
    pub recipient: &'a str,
}

impl Assertion {
    /// The last instant (exclusive, unix seconds, skew not added) at which
    /// [`check_conditions`] can accept this assertion: the `Conditions` `NotOnOrAfter` or
    /// the latest bearer confirmation's, whichever is earlier. Remember the ID for replay
    /// until `expires_at + skew`. `None` only for an assertion `check_conditions` refuses.
    pub fn expires_at(&self) -> Option<u64> {
        // The latest confirmation, not the earliest: the assertion stays usable as long as
        // any confirmation with the right Recipient is; a shorter TTL would let a replay in.
        let bearer = self.bearer.iter().filter_map(|c| c.not_on_or_after).max();
        match (self.not_on_or_after, bearer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// RFC 7522 §3 conditions (audience, bearer confirmation, validity window), with `skew`.
pub fn check_conditions(a: &Assertion, rules: Rules<'_>) -> Result<(), SamlError> {
    let Rules {
        now,
        skew,
        audience,
        recipient,
    } = rules;
    let too_early = |nb: Option<u64>| nb.is_some_and(|nb| now.saturating_add(skew) < nb);
    let too_late = |noa: u64| now >= noa.saturating_add(skew);
    if too_early(a.not_before) {
        return Err(SamlError::NotYetValid);
    }
    if a.not_on_or_after.is_some_and(too_late) {
        return Err(SamlError::Expired);
    }
    if a.audience_restrictions.is_empty()
        || !a
            .audience_restrictions
            .iter()
            .all(|r| r.iter().any(|aud| aud == audience))
    {
        return Err(SamlError::Audience);
    }
    // The most telling refusal when no confirmation fits: a confirmation for this endpoint
    // that fails on time says more than "wrong recipient".
    let mut refusal = if a.bearer.is_empty() {
        SamlError::NoBearer
    } else {
        SamlError::Recipient
    };
    for c in &a.bearer {
        if c.recipient.as_deref() != Some(recipient) {
            continue;
        }
        let Some(noa) = c.not_on_or_after else {
            refusal = SamlError::NoExpiry;
            continue;
        };
        if too_late(noa) {
            refusal = SamlError::Expired;
        } else if too_early(c.not_before) {
            refusal = SamlError::NotYetValid;
        } else {
            return Ok(());
        }
    }
    Err(refusal)
}

/// Reads the verified pre-digest XML; its root must be the Assertion the pre-check saw.
pub(super) fn read_verified(predigest: &str, checked: &Checked) -> Result<Assertion, SamlError> {
    const DIFFERS: SamlError =
        SamlError::Wrapping("signature wrapping: the signed content is not the Assertion read");
    let doc = parse(predigest).map_err(|_| DIFFERS)?;
    let root = doc.root_element();
    if !is(root, SAML_NS, "Assertion") || root.attribute("ID") != Some(checked.id.as_str()) {
        return Err(DIFFERS);
    }
    if root.attribute("Version") != Some("2.0") {
        return Err(SamlError::Structure("Assertion Version is not 2.0"));
    }
    let issue_instant = time(root, "IssueInstant", "IssueInstant is not an xs:dateTime")?
        .ok_or(SamlError::Structure("Assertion has no IssueInstant"))?;
    let issuer = one_child(root, "Issuer")?.ok_or(DIFFERS)?;
    let issuer = whole_text(issuer, "Issuer is empty")?;
    let subject = one_child(root, "Subject")?.ok_or(DIFFERS)?;
    let name_id = one_child(subject, "NameID")?.ok_or(DIFFERS)?;
    let name_id = whole_text(name_id, "NameID is empty")?;
    // The verified bytes must say what the pre-check read from the input: a difference
    // would mean the two parsers saw different documents.
    if issuer != checked.issuer || name_id != checked.name_id {
        return Err(DIFFERS);
    }

    let mut bearer = Vec::new();
    for sc in elements(subject).filter(|n| is(*n, SAML_NS, "SubjectConfirmation")) {
        if sc.attribute("Method") != Some(BEARER) {
            continue;
        }
        let mut data = elements(sc).filter(|n| is(*n, SAML_NS, "SubjectConfirmationData"));
        let confirmation = match (data.next(), data.next()) {
            (None, _) => Confirmation {
                recipient: None,
                not_before: None,
                not_on_or_after: None,
            },
            (Some(d), None) => Confirmation {
                recipient: d.attribute("Recipient").map(str::to_owned),
                not_before: time(
                    d,
                    "NotBefore",
                    "SubjectConfirmationData NotBefore is not an xs:dateTime",
                )?,
                not_on_or_after: time(
                    d,
                    "NotOnOrAfter",
                    "SubjectConfirmationData NotOnOrAfter is not an xs:dateTime",
                )?,
            },
            (Some(_), Some(_)) => {
                return Err(SamlError::Structure(
                    "SubjectConfirmation has more than one SubjectConfirmationData",
                ))
            }
        };
        bearer.push(confirmation);
    }

    let mut audiences = Vec::new();
    let mut audience_restrictions = Vec::new();
    let (mut not_before, mut not_on_or_after) = (None, None);
    if let Some(conditions) = one_child(root, "Conditions")? {
        not_before = time(
            conditions,
            "NotBefore",
            "Conditions NotBefore is not an xs:dateTime",
        )?;
        not_on_or_after = time(
            conditions,
            "NotOnOrAfter",
            "Conditions NotOnOrAfter is not an xs:dateTime",
        )?;
        for condition in elements(conditions) {
            if is(condition, SAML_NS, "AudienceRestriction") {
                let mut restriction = Vec::new();
                for aud in elements(condition) {
                    if !is(aud, SAML_NS, "Audience") {
                        return Err(SamlError::Structure(
                            "AudienceRestriction holds something else than Audience",
                        ));
                    }
                    restriction.push(whole_text(aud, "Audience is empty")?);
                }
                audiences.extend(restriction.iter().cloned());
                audience_restrictions.push(restriction);
            } else if !is(condition, SAML_NS, "OneTimeUse")
                && !is(condition, SAML_NS, "ProxyRestriction")
            {
                return Err(SamlError::UnknownCondition);
            }
        }
    }

    Ok(Assertion {
        id: checked.id.clone(),
        issuer,
        name_id,
        audiences,
        audience_restrictions,
        not_before,
        not_on_or_after,
        bearer,
        issue_instant,
    })
}

/// The one `saml:<name>` child of `node`, `None` when absent, refused when repeated.
fn one_child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Result<Option<Node<'a, 'i>>, SamlError> {
    let mut found = elements(node).filter(|n| is(*n, SAML_NS, name));
    match (found.next(), found.next()) {
        (first, None) => Ok(first),
        _ => Err(SamlError::Wrapping(
            "signature wrapping: an element that must be single is repeated",
        )),
    }
}

/// The time attribute `attr` of `node`, unix seconds; `bad` when it does not parse.
fn time(node: Node<'_, '_>, attr: &str, bad: &'static str) -> Result<Option<u64>, SamlError> {
    node.attribute(attr)
        .map(|v| parse_datetime(v).ok_or(SamlError::Time(bad)))
        .transpose()
}
