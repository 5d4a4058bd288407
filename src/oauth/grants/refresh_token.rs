//! Refresh token grant (RFC 6749 §6) with the three refresh policies:
//! - `rotate`: a new access and refresh token; the presented refresh token is used up.
//!   Of two concurrent refreshes with one token exactly one succeeds (RFC 9700 §4.14.2).
//! - `none`: a new access token only; the presented refresh token is used up.
//! - `preserve`: a new access token; the presented refresh token stays valid and is returned.
//!
//! The new tokens carry the grant's user, metadata and scope (or a narrower scope the
//! client asks for; never a wider one). New access tokens join the grant, so revoking the
//! grant's refresh token later revokes them too; if the grant is revoked while this request
//! runs, what it minted is removed again and the request fails.

use crate::app::App;
use crate::oauth::clients::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::issue::{mint_access, mint_refresh, Claims, Issued, RefreshOut};
use crate::oauth::params::Params;
use crate::oauth::scope;
use crate::oauth::types::RefreshPolicy;
use crate::oauth::writes::Writes;
use tessera_storage::{GrantId, TokenKey, TokenKind, TokenRecord};

const GONE: &str = "refresh token is invalid, expired or revoked";

pub fn grant(
    app: &App,
    writes: &mut Writes<'_>,
    client: &Client,
    params: &Params<'_>,
    now: u32,
) -> Result<Issued, OAuthError> {
    let presented = Params::required(&params.refresh_token, "refresh_token")?;
    let key = TokenKey::of(presented.as_bytes());
    let record = writes
        .table()
        .get(&key, now)
        .filter(|r| r.kind == TokenKind::Refresh)
        .ok_or_else(|| OAuthError::invalid_grant(GONE))?;
    if record.client != client.sym {
        return Err(OAuthError::invalid_grant(
            "refresh token was issued to another client",
        ));
    }
    let scope = match params.scope.as_deref() {
        None => record.scope,
        Some(requested) => {
            // An owned handle, not `Interner::with`: granting may intern a new scope set,
            // which takes the interner's write lock.
            let original = app.syms.scopes.resolve(record.scope).unwrap_or_default();
            scope::grant(&app.syms.scopes, original.split(' '), requested).map_err(|_| {
                OAuthError::invalid_scope(
                    "a refresh may narrow the scope of the grant, never widen it",
                )
            })?
        }
    };
    let claims = Claims {
        scope,
        ..Claims::of(&record)
    };
    let t = client.tokens;
    let same_grant = |r: &TokenRecord| {
        r.kind == TokenKind::Refresh && r.client == record.client && r.grant == record.grant
    };

    match t.refresh_policy {
        RefreshPolicy::Rotate => {
            writes
                .remove_if(&key, now, same_grant)
                .ok_or_else(|| OAuthError::invalid_grant(GONE))?;
            // The new refresh token keeps the grant's original scope (§6: "identical to
            // that of the refresh token included by the client"), so a narrowed refresh
            // does not shrink what later refreshes may ask for.
            let refresh = mint_refresh(
                writes,
                Claims {
                    scope: record.scope,
                    ..claims
                },
                &t,
                now,
            );
            let access = mint_access(writes, claims, &t, now);
            if !writes
                .table()
                .link(record.grant, access.link(), Some(refresh.key), now)
            {
                writes.remove(&refresh.key);
                writes.remove(&access.key);
                return Err(OAuthError::invalid_grant(GONE));
            }
            Ok(Issued::new(
                access,
                &t,
                Some(RefreshOut::New(refresh.token)),
                scope,
            ))
        }
        RefreshPolicy::None => {
            writes
                .remove_if(&key, now, same_grant)
                .ok_or_else(|| OAuthError::invalid_grant(GONE))?;
            // The grant has no refresh token left to revoke it by; its links can go.
            writes.table().close_grant(record.grant);
            let access = mint_access(
                writes,
                Claims {
                    grant: GrantId::NONE,
                    ..claims
                },
                &t,
                now,
            );
            Ok(Issued::new(access, &t, None, scope))
        }
        RefreshPolicy::Preserve => {
            let access = mint_access(writes, claims, &t, now);
            if !writes.table().link(record.grant, access.link(), None, now) {
                writes.remove(&access.key);
                return Err(OAuthError::invalid_grant(GONE));
            }
            Ok(Issued::new(
                access,
                &t,
                Some(RefreshOut::Same(presented.to_owned())),
                scope,
            ))
        }
    }
}
