//! `GET|POST /api/oauth/tokeninfo`: what an access token stands for — client, user, scope,
//! seconds left, type and the metadata stored with it. The token comes as the
//! `access_token` parameter (query or form) or as `Authorization: Bearer` (RFC 6750 §2),
//! never both.

use super::{form, Ctx};
use crate::cluster::read_through;
use crate::http::json::JsonObject;
use crate::http::{Method, Reply, Request};
use crate::oauth::client_auth::strip_scheme;
use crate::oauth::inspect::tokeninfo_shows;
use crate::oauth::params::Params;
use crate::oauth::OAuthError;
use tessera_storage::TokenKey;

pub async fn handle(
    ctx: Ctx<'_>,
    req: &Request<'_>,
    body: &mut Vec<u8>,
) -> Result<Reply, OAuthError> {
    let params = match req.method {
        Method::Post if !req.body.is_empty() || req.content_type.is_some() => form(req)?,
        _ => Params::parse(req.query)?,
    };
    let bearer = req.authorization.and_then(|h| strip_scheme(h, b"Bearer"));
    let token: &[u8] = match (params.access_token.as_deref(), bearer) {
        (Some(_), Some(_)) => return Err(OAuthError::invalid_request(
            "token given both as a parameter and in the Authorization header (RFC 6750 section 2)",
        )),
        (Some(t), None) => t.as_bytes(),
        (None, Some(t)) => t,
        (None, None) => return Err(OAuthError::invalid_request("missing access_token")),
    };
    let app = ctx.app;
    // A store that cannot answer is 503, never "invalid" (`?` on `Unavailable`).
    let record = read_through::lookup(
        app.tokens(),
        ctx.clients,
        ctx.peer,
        &TokenKey::of(token),
        ctx.now,
    )
    .await?
    .filter(|r| tokeninfo_shows(r, ctx.clients))
    .ok_or_else(|| OAuthError::invalid_token("the access token is invalid, expired or revoked"))?;

    let mut o = JsonObject::new(body);
    app.syms
        .clients
        .with(record.client, |id| o.str("audience", id));
    if let Some(user) = record.user {
        app.syms.users.with(user, |name| o.str("user_id", name));
    }
    app.syms
        .scopes
        .with(record.scope, |scope| o.str("scope", scope));
    o.num("expires_in", u64::from(record.seconds_left(ctx.now)))
        .str("token_type", &app.config.tokens.token_type);
    if let Some(meta) = record.meta {
        app.syms.meta.with(meta, |m| o.members_of(m));
    }
    o.finish();
    Ok(Reply::sensitive_json(200))
}
