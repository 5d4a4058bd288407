//! JWT bearer grant (RFC 7523 §2.1, §3): a signed JWT traded for an access token.
//!
//! The assertion is signed either by the client itself (`iss` is its id, verified with the
//! keys it registered — the gateway's way) or by a trusted external issuer
//! (`[[assertion_issuers]]`, kind `jwt`) that lists the client. Steps, around the I/O the
//! endpoint does:
//! 1. [`keys_for`] picks the keys by the unverified `iss` (nothing of the assertion is
//!    trusted before the signature is checked);
//! 2. [`verify`] checks the signature and the claims of §3 — audience, `exp`, `nbf`,
//!    `iat`, lifetime, `jti` — and yields the subject and the one-time `jti`;
//! 3. the endpoint uses the `jti` up store-wide (a replay fails on every node);
//! 4. [`grant`] issues the tokens: `sub` becomes the token's user, or — when `sub` is the
//!    client's own id — the token is the client's, as with client credentials.
//!
//! Every refusal of the assertion is `invalid_grant` (§3.1) with a description naming the
//! check that failed and never echoing the assertion; an issuer that does not list the
//! client is `unauthorized_client`.

use crate::oauth::clients::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::issue::{mint_access, mint_refresh, Claims, Issued, RefreshOut};
use crate::oauth::issuers::Issuers;
use crate::oauth::jose::{check_claims, Claims as JwtClaims, Jwt, Keys, TimeRules};
use crate::oauth::once::OneTime;
use crate::oauth::params::Params;
use crate::oauth::scope;
use crate::oauth::token_gen::grant_id;
use crate::oauth::tokens::TokenOps;
use crate::oauth::types::GrantType;
use tessera_storage::{GrantId, Interner, Sym};

/// The longest `sub` (or SAML `NameID`) accepted, in bytes: it becomes a user name, interned
/// for the life of the process.
pub const MAX_SUBJECT_BYTES: usize = 256;

/// What the assertion must satisfy besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The token endpoint URL (`[assertions] audience`): `aud` must contain it (§3 item 3).
    pub audience: &'a str,
    pub time: TimeRules,
}

/// A verified assertion: whom it is about and the `jti` to use up.
#[derive(Debug)]
pub struct Verified<'j> {
    pub subject: &'j str,
    /// `iss` and `sub` are both the client: a token for the client itself.
    pub client_itself: bool,
    pub once: OneTime,
}

/// The keys that must have signed an assertion claiming issuer `iss` presented by
/// `client`: the client's own when `iss` is its id, else those of the trusted issuer
/// `iss` if it lists the client.
pub fn keys_for<'c>(
    iss: &str,
    client: &'c Client,
    issuers: &'c Issuers,
) -> Result<&'c Keys, OAuthError> {
    if iss == &*client.id {
        return client.keys.as_deref().ok_or_else(|| {
            OAuthError::invalid_grant(
                "the assertion is issued by the client, which has registered no keys",
            )
        });
    }
    issuers
        .jwt_keys(iss, &client.id)
        .map(|keys| &**keys)
        .map_err(|e| {
            e.into_error("the assertion's issuer (iss) is neither this client nor a trusted issuer")
        })
}

/// Checks the signature with `keys` and the claims against `rules`.
pub fn verify<'j>(
    jwt: &'j Jwt<'_>,
    keys: &Keys,
    rules: Rules<'_>,
) -> Result<Verified<'j>, OAuthError> {
    let claims = jwt
        .verify(keys)
        .map_err(|e| OAuthError::invalid_grant(format!("assertion refused: {e}")))?;
    check(claims, rules)
}

/// The claims of an assertion whose signature verified, against `rules` (RFC 7523 §3).
pub fn check<'j>(claims: &'j JwtClaims, rules: Rules<'_>) -> Result<Verified<'j>, OAuthError> {
    check_claims(claims, &[rules.audience], rules.time)
        .map_err(|e| OAuthError::invalid_grant(format!("assertion refused: {e}")))?;
    let Some(jti) = claims.jti.as_deref() else {
        return Err(OAuthError::invalid_grant(
            "assertion refused: it has no jti, so a replay could not be recognised",
        ));
    };
    if claims.sub.len() > MAX_SUBJECT_BYTES {
        return Err(OAuthError::invalid_grant(format!(
            "assertion refused: its sub is longer than {MAX_SUBJECT_BYTES} bytes"
        )));
    }
    Ok(Verified {
        subject: &claims.sub,
        // Only the client's own assertion about itself makes a client token: a trusted
        // issuer's user who happens to share the client's name gets a user token.
        client_itself: claims.iss == claims.sub,
        once: OneTime::jwt(&claims.iss, jti, claims.exp.saturating_add(rules.time.skew)),
    })
}

/// Issues the tokens for a verified assertion: for its subject as the token's user, or —
/// when the client asserted itself (`iss` = `sub` = its id) — for the client. A refresh
/// token comes with a user token when the client may use the refresh_token grant.
pub fn grant<O: TokenOps + ?Sized>(
    ops: &mut O,
    scopes: &Interner,
    users: &Interner,
    client: &Client,
    params: &Params<'_>,
    verified: &Verified<'_>,
    now: u32,
) -> Result<Issued, OAuthError> {
    let scope = scope::for_client(scopes, client, params.scope.as_deref())?;
    let itself = verified.client_itself && verified.subject == &*client.id;
    let user = (!itself).then(|| users.intern(verified.subject));
    Ok(issue(ops, client, scope, user, now))
}

/// Mints an access token for `user` (or the client itself), with a refresh token when the
/// client may refresh and there is a user. Shared with the SAML bearer grant.
pub fn issue<O: TokenOps + ?Sized>(
    ops: &mut O,
    client: &Client,
    scope: Sym,
    user: Option<Sym>,
    now: u32,
) -> Issued {
    let t = client.tokens;
    if user.is_none() || !client.allows(GrantType::RefreshToken) {
        let access = mint_access(
            ops,
            Claims::new(client, user, scope, GrantId::NONE),
            &t,
            now,
        );
        return Issued::new(access, &t, None, scope);
    }
    let grant = GrantId(grant_id());
    let claims = Claims::new(client, user, scope, grant);
    let refresh = mint_refresh(ops, claims, &t, now);
    let access = mint_access(ops, claims, &t, now);
    // Nobody holds either token until the response goes out, so no revocation can race this.
    ops.open_grant(grant, client.sym, Some(refresh.key), access.link());
    Issued::new(access, &t, Some(RefreshOut::New(refresh.token)), scope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::grants::testing::*;
    use crate::oauth::issuers::{Issuer, IssuerTrust};
    use crate::oauth::jose::KeySet;
    use std::sync::Arc;
    use tessera_storage::{TokenKey, TokenKind};

    fn issuers() -> Issuers {
        let keys = Arc::new(Keys::new(KeySet::empty(), None));
        Issuers::new(vec![Issuer::new(
            "corp",
            "https://idp.example",
            IssuerTrust::Jwt(keys),
            &["app".to_owned()],
        )])
    }

    #[test]
    fn rfc7523_3_the_client_s_own_assertion_needs_registered_keys() {
        let w = World::new();
        let c = w.confidential(&[GrantType::JwtBearer]);
        let e = keys_for("app", &c, &issuers()).expect_err("no keys");
        assert_eq!(e.code.as_str(), "invalid_grant");
        assert!(e.description.contains("no keys"), "{}", e.description);
    }

    #[test]
    fn rfc7523_3_a_trusted_issuer_must_list_the_client() {
        let w = World::new();
        let app = w.confidential(&[GrantType::JwtBearer]);
        assert!(keys_for("https://idp.example", &app, &issuers()).is_ok());
        let other = w.client(
            "other",
            crate::oauth::types::AuthMethod::ClientSecretBasic,
            &[GrantType::JwtBearer],
        );
        let e = keys_for("https://idp.example", &other, &issuers()).expect_err("not listed");
        assert!(e.description.contains("not trusted for this client"));
        let e = keys_for("https://evil.example", &app, &issuers()).expect_err("unknown");
        assert!(e
            .description
            .contains("neither this client nor a trusted issuer"));
    }

    #[test]
    fn rfc7523_3_sub_becomes_the_user_and_the_client_id_makes_a_client_token() {
        let mut w = World::new();
        let c = w.confidential(&[GrantType::JwtBearer, GrantType::RefreshToken]);
        let users = Interner::new();
        let issued = grant(
            &mut w.ops,
            &w.scopes,
            &users,
            &c,
            &params(""),
            &about("alice", true),
            NOW,
        )
        .expect("issued");
        assert!(issued.refresh.is_some(), "a user token may be refreshed");
        let r = w
            .ops
            .lookup(&TokenKey::of(issued.access.as_bytes()), NOW)
            .expect("stored");
        assert_eq!(r.kind, TokenKind::Access);
        assert_eq!(
            r.user.map(|u| users.with(u, str::to_owned)).as_deref(),
            Some("alice")
        );
        let own = grant(
            &mut w.ops,
            &w.scopes,
            &users,
            &c,
            &params(""),
            &about("app", true),
            NOW,
        )
        .expect("own");
        assert!(own.refresh.is_none(), "a client token has no refresh token");
        let r = w
            .ops
            .lookup(&TokenKey::of(own.access.as_bytes()), NOW)
            .expect("stored");
        assert_eq!({ r.user }, None);
        // A trusted issuer's user named like the client is a user, not the client.
        let named = grant(
            &mut w.ops,
            &w.scopes,
            &users,
            &c,
            &params(""),
            &about("app", false),
            NOW,
        )
        .expect("named");
        let r = w
            .ops
            .lookup(&TokenKey::of(named.access.as_bytes()), NOW)
            .expect("stored");
        assert!({ r.user }.is_some());
    }

    fn about(subject: &'static str, client_itself: bool) -> Verified<'static> {
        Verified {
            subject,
            client_itself,
            once: OneTime::jwt("i", "j", 1),
        }
    }

    #[test]
    fn rfc6749_3_3_scope_beyond_the_client_is_invalid_scope() {
        let mut w = World::new();
        let c = w.confidential(&[GrantType::JwtBearer]);
        let users = Interner::new();
        let e = grant(
            &mut w.ops,
            &w.scopes,
            &users,
            &c,
            &params("scope=delete"),
            &about("a", false),
            NOW,
        )
        .expect_err("refused");
        assert_eq!(e.code.as_str(), "invalid_scope");
        assert!(w.ops.log.is_empty());
    }
}
