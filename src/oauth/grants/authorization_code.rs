//! Authorization code grant (RFC 6749 §4.1) with PKCE (RFC 7636): minting a code at the
//! authorization endpoint, and redeeming it at the token endpoint, in pure steps:
//!
//! 1. [`mint`] makes the code and its [`Code`] record (bound to client, redirect URI, PKCE
//!    challenge, scope, nonce, user and `auth_time`); the endpoint writes it to the store
//!    before the redirect goes out.
//! 2. At the token endpoint the endpoint finds the record (this node's code table, or a
//!    read-through from a shared store), then [`check`]s it against the request.
//! 3. The endpoint claims the single use — the store's conditional consume — and a second
//!    use revokes the code's grant (RFC 6749 §4.1.2).
//! 4. [`issue`] mints the access token and, when the client may refresh, a refresh token,
//!    all under the code's grant, so that revocation reaches them.

use crate::oauth::clients::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::issue::{mint_access, mint_refresh, Claims, Issued, RefreshOut};
use crate::oauth::params::Params;
use crate::oauth::pkce;
use crate::oauth::token_gen::{grant_id, TokenBuf};
use crate::oauth::tokens::TokenOps;
use crate::oauth::types::GrantType;
use serde::{Deserialize, Serialize};
use tessera_storage::{GrantId, Sym, TokenKey};

/// An authorization code's record: who it is for and what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub client: Sym,
    pub user: Sym,
    pub scope: Sym,
    /// The grant every token issued from this code shares.
    pub grant: GrantId,
    pub issued_at: u32,
    pub expires_at: u32,
    pub bindings: Bindings,
}

/// What a code is bound to beyond the token record's fields: kept as JSON in the store
/// record's metadata field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bindings {
    /// The redirect URI the response went to.
    #[serde(rename = "r")]
    pub redirect_uri: Box<str>,
    /// Whether the authorization request named it (then the token request must too).
    #[serde(rename = "rs", default)]
    pub redirect_uri_sent: bool,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<Box<str>>,
    /// `S256` or `plain`.
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_method: Option<Box<str>>,
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<Box<str>>,
    #[serde(rename = "a")]
    pub auth_time: u32,
}

impl Bindings {
    pub fn to_json(&self) -> String {
        // A struct of strings and numbers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(json: &str) -> Option<Bindings> {
        serde_json::from_str(json).ok()
    }
}

/// A new code: the string for the redirect, the key it is stored under, its record.
#[derive(Debug)]
pub struct NewCode {
    pub code: TokenBuf,
    pub key: TokenKey,
    pub record: Code,
}

/// Step 1: a code of `length` characters living `ttl` seconds.
pub fn mint(
    client: &Client,
    user: Sym,
    scope: Sym,
    bindings: Bindings,
    (length, ttl): (usize, u32),
    now: u32,
) -> NewCode {
    let code = TokenBuf::generate(length);
    let key = TokenKey::of(code.as_bytes());
    NewCode {
        code,
        key,
        record: Code {
            client: client.sym,
            user,
            scope,
            grant: GrantId(grant_id()),
            issued_at: now,
            expires_at: now.saturating_add(ttl),
            bindings,
        },
    }
}

/// Step 2 (RFC 6749 §4.1.3, RFC 7636 §4.6): the code was issued to this client, has not
/// expired, the redirect URI is the one used, and the verifier answers the challenge. One
/// `invalid_grant` for every mismatch, so a caller learns nothing about which binding
/// failed beyond the description.
pub fn check(
    code: &Code,
    client: &Client,
    params: &Params<'_>,
    now: u32,
) -> Result<(), OAuthError> {
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the authorization_code grant",
        ));
    }
    if code.client != client.sym {
        return Err(OAuthError::invalid_grant(
            "authorization code was issued to another client",
        ));
    }
    if now >= code.expires_at {
        return Err(OAuthError::invalid_grant("authorization code has expired"));
    }
    let b = &code.bindings;
    match params.redirect_uri.as_deref() {
        Some(uri) if uri != &*b.redirect_uri => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request's",
            ))
        }
        None if b.redirect_uri_sent => {
            return Err(OAuthError::invalid_request(
                "redirect_uri is required: the authorization request included it (RFC 6749 section 4.1.3)",
            ))
        }
        _ => {}
    }
    let verifier = params.code_verifier.as_deref();
    match (&b.code_challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier given but the authorization request had no code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_request(
            "code_verifier is required (RFC 7636 section 4.5)",
        )),
        (Some(challenge), Some(verifier)) => {
            let method = b
                .code_challenge_method
                .as_deref()
                .and_then(pkce::Method::parse)
                .unwrap_or(pkce::Method::S256);
            if pkce::verify(method, challenge, verifier) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge (RFC 7636 section 4.6)",
                ))
            }
        }
    }
}

/// Step 4: tokens for a checked, claimed code, under its grant.
pub fn issue<O: TokenOps + ?Sized>(ops: &mut O, client: &Client, code: &Code, now: u32) -> Issued {
    let t = client.tokens;
    let claims = Claims::new(client, Some(code.user), code.scope, code.grant);
    let refresh = client
        .allows(GrantType::RefreshToken)
        .then(|| mint_refresh(ops, claims, &t, now));
    let access = mint_access(ops, claims, &t, now);
    // The grant links the tokens so that a second use of the code (or a revocation of the
    // refresh token) takes them all.
    ops.open_grant(
        code.grant,
        client.sym,
        refresh.as_ref().map(|r| r.key),
        access.link(),
    );
    Issued::new(
        access,
        &t,
        refresh.map(|r| RefreshOut::New(r.token)),
        code.scope,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::grants::testing::*;
    use crate::oauth::tokens::memory::Op;
    use tessera_storage::TokenKind;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn bindings(sent: bool) -> Bindings {
        Bindings {
            redirect_uri: "https://app.example/cb".into(),
            redirect_uri_sent: sent,
            code_challenge: Some(CHALLENGE.into()),
            code_challenge_method: Some("S256".into()),
            nonce: Some("n-0S6_WzA2Mj".into()),
            auth_time: NOW - 5,
        }
    }

    fn code_for(w: &World, client: &Client) -> NewCode {
        mint(
            client,
            w.user("alice"),
            w.scopes.intern("openid read"),
            bindings(true),
            (30, 600),
            NOW,
        )
    }

    #[test]
    fn codes_are_30_characters_and_bound_to_a_fresh_grant() {
        let w = World::new();
        let c = w.confidential(&[GrantType::AuthorizationCode]);
        let a = code_for(&w, &c);
        let b = code_for(&w, &c);
        assert_eq!(a.code.as_str().len(), 30);
        assert_eq!(a.key, TokenKey::of(a.code.as_bytes()));
        assert_eq!(a.record.expires_at, NOW + 600);
        assert_ne!(a.record.grant, b.record.grant);
        assert!(!a.record.grant.is_none());
    }

    #[test]
    fn bindings_round_trip_through_their_stored_json() {
        let mut b = bindings(false);
        b.nonce = Some("quote \" backslash \\ ü".into());
        assert_eq!(Bindings::from_json(&b.to_json()), Some(b));
        assert_eq!(Bindings::from_json("{not json"), None);
    }

    #[test]
    fn rfc6749_4_1_3_and_rfc7636_4_6_a_matching_request_passes() {
        let w = World::new();
        let c = w.confidential(&[GrantType::AuthorizationCode]);
        let code = code_for(&w, &c).record;
        let p = params_of(format!(
            "redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier={VERIFIER}"
        ));
        assert_eq!(check(&code, &c, &p, NOW), Ok(()));
    }

    #[test]
    fn rfc6749_4_1_3_every_binding_mismatch_is_refused() {
        let w = World::new();
        let c = w.confidential(&[GrantType::AuthorizationCode]);
        let code = code_for(&w, &c).record;
        let uri = "redirect_uri=https%3A%2F%2Fapp.example%2Fcb";
        for (body, error) in [
            (format!("code_verifier={VERIFIER}"), "invalid_request"),
            (
                format!("redirect_uri=https%3A%2F%2Fapp.example%2Fother&code_verifier={VERIFIER}"),
                "invalid_grant",
            ),
            (uri.to_owned(), "invalid_request"),
            (
                format!("{uri}&code_verifier={}", VERIFIER.replace('d', "D")),
                "invalid_grant",
            ),
        ] {
            let p = params_of(body.clone());
            assert_eq!(
                check(&code, &c, &p, NOW).err().map(|e| e.code.as_str()),
                Some(error),
                "{body}"
            );
        }
        let p = params_of(format!("{uri}&code_verifier={VERIFIER}"));
        assert!(check(&code, &c, &p, NOW + 600).is_err(), "expired");
        let other = w.client("other", c.auth_method, &[GrantType::AuthorizationCode]);
        assert_eq!(
            check(&code, &other, &p, NOW).err().map(|e| e.code.as_str()),
            Some("invalid_grant")
        );
    }

    #[test]
    fn issue_gives_access_and_refresh_tokens_under_the_codes_grant() {
        let mut w = World::new();
        let c = w.confidential(&[GrantType::AuthorizationCode, GrantType::RefreshToken]);
        let code = code_for(&w, &c).record;
        let issued = issue(&mut w.ops, &c, &code, NOW);
        assert!(issued.refresh.is_some());
        let key = TokenKey::of(issued.access.as_bytes());
        let access = w.ops.lookup(&key, NOW).expect("stored");
        assert_eq!(access.kind, TokenKind::Access);
        assert_eq!({ access.grant }, code.grant);
        assert_eq!({ access.user }, Some(w.user("alice")));
        assert!(w.ops.log.contains(&Op::OpenGrant(code.grant)));
        // The grant's revocation (a second use of the code) takes every token.
        let refresh = issued
            .refresh
            .as_ref()
            .map(|r| TokenKey::of(r.as_str().as_bytes()));
        assert!(w.ops.revoke_grant(code.grant) >= 1);
        assert!(w.ops.lookup(&key, NOW).is_none());
        assert!(refresh.is_some_and(|r| w.ops.lookup(&r, NOW).is_none()));
    }

    #[test]
    fn no_refresh_token_without_the_refresh_grant() {
        let mut w = World::new();
        let c = w.confidential(&[GrantType::AuthorizationCode]);
        let code = code_for(&w, &c).record;
        assert!(issue(&mut w.ops, &c, &code, NOW).refresh.is_none());
    }
}
