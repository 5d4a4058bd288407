//! Resource owner password credentials grant (RFC 6749 §4.3), in two steps around the one
//! piece of I/O it needs:
//! 1. [`request`] checks the parameters and the scope — a bad request should not cost a
//!    password hash;
//! 2. the endpoint looks the user up and awaits the password check on the password-hash
//!    pool (argon2id must not run on a worker), always checking a decoy hash for an unknown
//!    user so timing does not tell which usernames exist;
//! 3. [`grant`] issues the tokens for a verified user, or refuses.
//!
//! A refresh token is issued when the client may use the refresh_token grant; it and the
//! access token share a new grant.

use crate::oauth::clients::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::issue::{mint_access, mint_refresh, Claims, Issued, RefreshOut};
use crate::oauth::params::Params;
use crate::oauth::scope;
use crate::oauth::token_gen::grant_id;
use crate::oauth::tokens::TokenOps;
use crate::oauth::types::GrantType;
use tessera_storage::{GrantId, Interner, Sym};

/// A well-formed password request, waiting for its password check.
pub struct Login<'p> {
    pub username: &'p str,
    /// Never shown: `Debug` redacts it.
    pub password: &'p str,
    pub scope: Sym,
}

impl std::fmt::Debug for Login<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("scope", &self.scope)
            .finish()
    }
}

/// Step 1: the parameters and scope of a password request.
pub fn request<'p>(
    scopes: &Interner,
    client: &Client,
    params: &'p Params<'p>,
) -> Result<Login<'p>, OAuthError> {
    let username = Params::required(&params.username, "username")?;
    let password = Params::required(&params.password, "password")?;
    let scope = scope::for_client(scopes, client, params.scope.as_deref())?;
    Ok(Login {
        username,
        password,
        scope,
    })
}

/// Step 3: `user` is the resource owner whose password was verified, `None` when the
/// username is unknown or the password wrong (one answer for both, RFC 6749 §5.2).
pub fn grant<O: TokenOps + ?Sized>(
    ops: &mut O,
    client: &Client,
    scope: Sym,
    user: Option<Sym>,
    now: u32,
) -> Result<Issued, OAuthError> {
    let Some(user) = user else {
        return Err(OAuthError::invalid_grant(
            "invalid resource owner credentials",
        ));
    };
    let t = client.tokens;
    if !client.allows(GrantType::RefreshToken) {
        let access = mint_access(
            ops,
            Claims::new(client, Some(user), scope, GrantId::NONE),
            &t,
            now,
        );
        return Ok(Issued::new(access, &t, None, scope));
    }
    let grant = GrantId(grant_id());
    let claims = Claims::new(client, Some(user), scope, grant);
    let refresh = mint_refresh(ops, claims, &t, now);
    let access = mint_access(ops, claims, &t, now);
    // Nobody holds either token until the response goes out, so no revocation can race this.
    ops.open_grant(grant, client.sym, Some(refresh.key), access.link());
    Ok(Issued::new(
        access,
        &t,
        Some(RefreshOut::New(refresh.token)),
        scope,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::grants::testing::*;
    use crate::oauth::tokens::memory::Op;
    use tessera_storage::{TokenKey, TokenKind};

    #[test]
    fn rfc6749_4_3_2_username_and_password_are_required() {
        let w = World::new();
        let c = w.confidential(&[GrantType::Password]);
        for body in ["password=x", "username=alice", ""] {
            let p = params(body);
            let e = request(&w.scopes, &c, &p).expect_err(body);
            assert_eq!(e.code.as_str(), "invalid_request", "{body}");
        }
        let p = params("username=alice&password=pw&scope=read");
        let login = request(&w.scopes, &c, &p).expect("well-formed");
        assert_eq!((login.username, login.password), ("alice", "pw"));
        assert_eq!(w.scope(login.scope), "read");
    }

    #[test]
    fn rfc6749_3_3_a_bad_scope_is_refused_before_any_password_check() {
        let w = World::new();
        let c = w.confidential(&[GrantType::Password]);
        let p = params("username=alice&password=pw&scope=delete");
        let e = request(&w.scopes, &c, &p).expect_err("scope");
        assert_eq!(e.code.as_str(), "invalid_scope");
    }

    #[test]
    fn rfc6749_5_2_unverified_owner_is_invalid_grant_and_mints_nothing() {
        let mut w = World::new();
        let c = w.confidential(&[GrantType::Password, GrantType::RefreshToken]);
        let scope = c.default_scope;
        let e = grant(&mut w.ops, &c, scope, None, NOW).expect_err("refused");
        assert_eq!(e.code.as_str(), "invalid_grant");
        assert!(w.ops.log.is_empty());
    }

    #[test]
    fn rfc6749_4_3_3_refresh_capable_client_gets_a_pair_sharing_a_new_grant() {
        let mut w = World::new();
        let c = w.confidential(&[GrantType::Password, GrantType::RefreshToken]);
        let alice = w.user("alice");
        let issued = grant(&mut w.ops, &c, c.default_scope, Some(alice), NOW).expect("ok");
        let Some(RefreshOut::New(refresh)) = &issued.refresh else {
            panic!("a new refresh token");
        };
        assert_eq!(refresh.as_str().len(), 46);
        let rk = TokenKey::of(refresh.as_bytes());
        let ak = TokenKey::of(issued.access.as_bytes());
        let r = w.ops.lookup(&rk, NOW).expect("refresh stored");
        let a = w.ops.lookup(&ak, NOW).expect("access stored");
        assert_eq!((r.kind, a.kind), (TokenKind::Refresh, TokenKind::Access));
        assert_eq!({ r.grant }, { a.grant });
        assert!(!{ r.grant }.is_none());
        assert_eq!(({ r.user }, { a.user }), (Some(alice), Some(alice)));
        assert_eq!({ r.expires_at }, NOW + 43_200);
        let g = w.ops.table.grant(r.grant).expect("grant opened");
        assert_eq!(g.refresh, Some(rk));
        assert_eq!(g.access, vec![(ak, NOW + 3600)]);
        assert!(w.ops.log.contains(&Op::OpenGrant(r.grant)));
    }

    #[test]
    fn rfc6749_4_3_3_client_without_refresh_grant_gets_an_access_token_only() {
        let mut w = World::new();
        let c = w.confidential(&[GrantType::Password]);
        let alice = w.user("alice");
        let issued = grant(&mut w.ops, &c, c.default_scope, Some(alice), NOW).expect("ok");
        assert!(issued.refresh.is_none());
        let a = w
            .ops
            .lookup(&TokenKey::of(issued.access.as_bytes()), NOW)
            .expect("stored");
        assert!({ a.grant }.is_none());
        assert_eq!(w.ops.log.len(), 1);
    }
}
