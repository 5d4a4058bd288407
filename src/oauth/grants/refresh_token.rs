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
use crate::config::RefreshPolicy;
use crate::oauth::clients::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::issue::{mint, Claims, Issued, RefreshOut};
use crate::oauth::params::Params;
use crate::oauth::scope;
use tessera_storage::{TokenKey, TokenKind, TokenRecord};

const GONE: &str = "refresh token is invalid, expired or revoked";

pub fn grant(
    app: &App,
    client: &Client,
    params: &Params<'_>,
    now: u32,
) -> Result<Issued, OAuthError> {
    let presented = Params::required(&params.refresh_token, "refresh_token")?;
    let key = TokenKey::of(presented.as_bytes());
    let record = app
        .table
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
        Some(requested) => app.syms.scopes.with(record.scope, |original| {
            scope::grant(&app.syms.scopes, original.split(' '), requested).map_err(|_| {
                OAuthError::invalid_scope(
                    "a refresh may narrow the scope of the grant, never widen it",
                )
            })
        })?,
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
            app.table
                .remove_if(&key, now, same_grant)
                .ok_or_else(|| OAuthError::invalid_grant(GONE))?;
            // The new refresh token keeps the grant's original scope, so a narrowed refresh
            // does not shrink what later refreshes may ask for.
            let refresh_claims = Claims {
                scope: record.scope,
                ..claims
            };
            let refresh = mint(
                &app.table,
                refresh_claims,
                TokenKind::Refresh,
                t.refresh_length,
                t.refresh_ttl,
                now,
            );
            let access = mint(
                &app.table,
                claims,
                TokenKind::Access,
                t.access_length,
                t.access_ttl,
                now,
            );
            if !app
                .table
                .link(record.grant, access.link(), Some(refresh.key), now)
            {
                app.table.remove(&refresh.key);
                app.table.remove(&access.key);
                return Err(OAuthError::invalid_grant(GONE));
            }
            Ok(Issued {
                access: access.token,
                expires_in: t.access_ttl,
                refresh: Some(RefreshOut::New(refresh.token)),
                scope,
            })
        }
        RefreshPolicy::None => {
            app.table
                .remove_if(&key, now, same_grant)
                .ok_or_else(|| OAuthError::invalid_grant(GONE))?;
            // The grant has no refresh token left to revoke it by; its links can go.
            let claims = Claims {
                grant: tessera_storage::GrantId::NONE,
                ..claims
            };
            app.table.close_grant(record.grant);
            let access = mint(
                &app.table,
                claims,
                TokenKind::Access,
                t.access_length,
                t.access_ttl,
                now,
            );
            Ok(Issued {
                access: access.token,
                expires_in: t.access_ttl,
                refresh: None,
                scope,
            })
        }
        RefreshPolicy::Preserve => {
            let access = mint(
                &app.table,
                claims,
                TokenKind::Access,
                t.access_length,
                t.access_ttl,
                now,
            );
            if !app.table.link(record.grant, access.link(), None, now) {
                app.table.remove(&access.key);
                return Err(OAuthError::invalid_grant(GONE));
            }
            Ok(Issued {
                access: access.token,
                expires_in: t.access_ttl,
                refresh: Some(RefreshOut::Same(presented.to_owned())),
                scope,
            })
        }
    }
}
