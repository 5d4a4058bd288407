//! `POST /api/oauth/introspect` (RFC 7662): token facts for resource servers that speak the
//! RFC. The caller authenticates as a confidential client (§2.1). Access tokens are
//! introspectable by any such caller; a refresh token only by the client it was issued to.
//! Anything else — unknown, expired, revoked, not yours — is exactly `{"active":false}` (§2.2).

use super::auth::Attempt;
use super::{form, Ctx};
use crate::cluster::read_through;
use crate::http::json::JsonObject;
use crate::http::{Reply, Request};
use crate::oauth::inspect::introspection_shows;
use crate::oauth::params::Params;
use crate::oauth::OAuthError;
use tessera_storage::{TokenKey, TokenKind};

pub async fn handle(
    ctx: Ctx<'_>,
    req: &Request<'_>,
    body: &mut Vec<u8>,
) -> Result<Reply, OAuthError> {
    let attempt = Attempt::begin(ctx)?;
    let params = form(req)?;
    let caller = attempt.client(req, &params).await?;
    if caller.is_public() {
        return Err(OAuthError::invalid_client(
            "introspection needs a confidential client",
        ));
    }
    let token = Params::required(&params.token, "token")?;
    let app = ctx.app;
    let record = read_through::lookup(
        app.tokens(),
        ctx.clients,
        ctx.peer,
        &TokenKey::of(token.as_bytes()),
        ctx.now,
    )
    // A store that cannot answer is 503, never `{"active":false}`.
    .await?
    .filter(|r| introspection_shows(r, caller, ctx.clients));
    let mut o = JsonObject::new(body);
    let Some(record) = record else {
        o.bool("active", false).finish();
        return Ok(Reply::sensitive_json(200));
    };
    o.bool("active", true);
    app.syms
        .clients
        .with(record.client, |id| o.str("client_id", id));
    if let Some(user) = record.user {
        app.syms.users.with(user, |name| o.str("username", name));
    }
    app.syms
        .scopes
        .with(record.scope, |scope| o.str("scope", scope));
    o.num("exp", u64::from(record.expires_at))
        .num("iat", u64::from(record.issued_at));
    if record.kind == TokenKind::Access {
        o.str("token_type", &app.config.tokens.token_type);
    } else {
        o.str("token_type", "refresh_token");
    }
    if let Some(meta) = record.meta {
        app.syms.meta.with(meta, |m| o.members_of(m));
    }
    o.finish();
    Ok(Reply::sensitive_json(200))
}
