//! SAML 2.0 bearer grant (RFC 7522 §2.1, §3): a signed SAML assertion from a trusted
//! identity provider traded for an access token.
//!
//! The client authenticates as usual; the assertion's `<Issuer>` must be a configured SAML
//! issuer (`[[assertion_issuers]]`, kind `saml`) that lists the client. Steps, around the
//! I/O the endpoint does:
//! 1. [`trust_for`] picks the issuer's certificates by the unverified `<Issuer>`, read by
//!    the strict pre-parse (`oauth::saml::issuer_of`);
//! 2. the endpoint runs `oauth::saml::verify` (XML signature, on the crypto pool) with
//!    those certificates only;
//! 3. [`check`] holds the verified assertion to §3 — audience, bearer confirmation with
//!    the token endpoint as recipient, validity window — and yields its one-time `ID`;
//! 4. the endpoint uses the `ID` up store-wide, then [`grant`] issues the tokens for the
//!    `NameID`.

use crate::oauth::clients::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::grants::jwt_bearer::{issue, MAX_SUBJECT_BYTES};
use crate::oauth::issue::Issued;
use crate::oauth::issuers::Issuers;
use crate::oauth::once::OneTime;
use crate::oauth::params::Params;
use crate::oauth::saml::{check_conditions, Assertion, Rules, Trust};
use crate::oauth::scope;
use crate::oauth::tokens::TokenOps;
use std::sync::Arc;
use tessera_storage::Interner;

/// The certificates that must have signed an assertion claiming `issuer`, presented by
/// `client`.
pub fn trust_for<'c>(
    issuer: &str,
    client: &Client,
    issuers: &'c Issuers,
) -> Result<&'c Arc<Trust>, OAuthError> {
    issuers
        .saml_trust(issuer, &client.id)
        .map_err(|e| e.into_error("the assertion's Issuer is not a trusted SAML issuer"))
}

/// Holds a verified assertion to RFC 7522 §3 and returns the one-time value of its `ID`,
/// remembered until it expires (plus the clock skew).
pub fn check(
    assertion: &Assertion,
    rules: Rules<'_>,
    max_lifetime: u64,
) -> Result<OneTime, OAuthError> {
    check_conditions(assertion, rules)
        .map_err(|e| OAuthError::invalid_grant(format!("assertion refused: {e}")))?;
    if assertion.name_id.is_empty() || assertion.name_id.len() > MAX_SUBJECT_BYTES {
        return Err(OAuthError::invalid_grant(format!(
            "assertion refused: its NameID must have 1 to {MAX_SUBJECT_BYTES} bytes"
        )));
    }
    let expires = assertion.expires_at().unwrap_or(rules.now);
    // The gateway's "within five minutes", as for JWTs: an assertion usable for longer than
    // `max_lifetime` after it was issued is refused (and its ID need not be remembered
    // for longer).
    if expires.saturating_sub(assertion.issue_instant) > max_lifetime.saturating_add(rules.skew) {
        return Err(OAuthError::invalid_grant(
            "assertion refused: it is valid for longer than the largest lifetime accepted",
        ));
    }
    let until = expires.saturating_add(rules.skew);
    Ok(OneTime::saml(&assertion.issuer, &assertion.id, until))
}

/// Issues the tokens for the assertion's `NameID`.
pub fn grant<O: TokenOps + ?Sized>(
    ops: &mut O,
    scopes: &Interner,
    users: &Interner,
    client: &Client,
    params: &Params<'_>,
    name_id: &str,
    now: u32,
) -> Result<Issued, OAuthError> {
    let scope = scope::for_client(scopes, client, params.scope.as_deref())?;
    Ok(issue(ops, client, scope, Some(users.intern(name_id)), now))
}
