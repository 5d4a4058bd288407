//! `POST /api/oauth/token` (RFC 6749 §3.2): authenticate the client, pick the grant, answer
//! with the token response of §5.1 or the error of §5.2.

use super::{form, Ctx};
use crate::cluster::read_through;
use crate::http::json::JsonObject;
use crate::http::{Reply, Request};
use crate::oauth::client_auth::authenticate;
use crate::oauth::error::ErrorCode;
use crate::oauth::grants::{client_credentials, password, refresh_token};
use crate::oauth::issue::Issued;
use crate::oauth::params::Params;
use crate::oauth::types::GrantType;
use crate::oauth::writes::Writes;
use crate::oauth::OAuthError;

pub async fn handle(
    ctx: Ctx<'_>,
    req: &Request<'_>,
    body: &mut Vec<u8>,
) -> Result<Reply, OAuthError> {
    let params = form(req)?;
    let client = authenticate(ctx.clients, req.authorization, &params)?;
    let grant = match Params::required(&params.grant_type, "grant_type")? {
        "client_credentials" => GrantType::ClientCredentials,
        "password" => GrantType::Password,
        "refresh_token" => GrantType::RefreshToken,
        other => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant type {other:?} is not supported"),
            ))
        }
    };
    if !client.allows(grant) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client may not use the {} grant",
            grant.as_str()
        )));
    }
    let app = ctx.app;
    if grant == GrantType::RefreshToken {
        if let Some(presented) = params.refresh_token.as_deref() {
            // Issued by another node? Then fetch it into this node's table first.
            let key = tessera_storage::TokenKey::of(presented.as_bytes());
            read_through::lookup(app, &key, ctx.now).await;
        }
    }
    // Reserve the store's queue room before the grant changes anything.
    let mut writes = Writes::begin(app)?;
    let outcome = match grant {
        GrantType::ClientCredentials => {
            client_credentials::grant(app, &mut writes, client, &params, ctx.now)
        }
        GrantType::Password => password::grant(app, &mut writes, client, &params, ctx.now).await,
        GrantType::RefreshToken => refresh_token::grant(app, &mut writes, client, &params, ctx.now),
    };
    // Committed whatever the outcome: a failed grant may still have used something up.
    writes.commit().await?;
    let issued = outcome?;
    ctx.metrics.issued(client.index, grant);
    write_token_response(ctx, &issued, body);
    Ok(Reply::sensitive_json(200))
}

/// RFC 6749 §5.1.
fn write_token_response(ctx: Ctx<'_>, issued: &Issued, body: &mut Vec<u8>) {
    let mut o = JsonObject::new(body);
    o.str("access_token", issued.access.as_str())
        .str("token_type", &ctx.app.config.tokens.token_type)
        .num("expires_in", u64::from(issued.expires_in));
    if let Some(r) = &issued.refresh {
        o.str("refresh_token", r.as_str());
    }
    ctx.app.syms.scopes.with(issued.scope, |scope| {
        if !scope.is_empty() {
            o.str("scope", scope);
        }
    });
    o.finish();
}
