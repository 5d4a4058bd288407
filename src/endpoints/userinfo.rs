//! `GET|POST /api/oauth/userinfo` (OpenID Connect Core §5.3): the claims about the user an
//! access token was issued for — `sub`, plus the user's configured claims the token's
//! scopes release (§5.4). The token comes as `Authorization: Bearer` or, in a POST form, as
//! `access_token` (RFC 6750 §2.1, §2.2). Errors follow RFC 6750 §3: 401 with a `Bearer`
//! challenge for a missing or bad token, 403 `insufficient_scope` without `openid`.

use super::{claims, form, Ctx};
use crate::cluster::read_through;
use crate::http::response::{error_body, header};
use crate::http::{Method, Reply, Request};
use crate::oauth::client_auth::strip_scheme;
use crate::oauth::inspect::tokeninfo_shows;
use crate::oauth::params::Params;
use crate::oauth::{ErrorCode, OAuthError};
use tessera_storage::TokenKey;

pub async fn handle(
    ctx: Ctx<'_>,
    req: &Request<'_>,
    body: &mut Vec<u8>,
    headers: &mut Vec<u8>,
) -> Reply {
    match userinfo(ctx, req, body, headers).await {
        Ok(reply) => reply,
        Err(e) => {
            let mut reply = super::error_reply(&e, body);
            // RFC 6750 §3: a Bearer challenge, not the token endpoint's Basic one, and 401
            // for a bad token (§3.1).
            reply.basic_challenge = false;
            if e.code == ErrorCode::InvalidToken {
                reply.status = 401;
            }
            if matches!(e.code, ErrorCode::InvalidToken | ErrorCode::InvalidRequest) {
                header(
                    headers,
                    "WWW-Authenticate",
                    &challenge(ctx, Some(e.code.as_str())),
                );
            }
            reply
        }
    }
}

async fn userinfo(
    ctx: Ctx<'_>,
    req: &Request<'_>,
    body: &mut Vec<u8>,
    headers: &mut Vec<u8>,
) -> Result<Reply, OAuthError> {
    let bearer = req.authorization.and_then(|h| strip_scheme(h, b"Bearer"));
    let params = match req.method {
        Method::Post if req.content_type.is_some() => form(req)?,
        _ => Params::default(),
    };
    let token: &[u8] =
        match (params.access_token.as_deref(), bearer) {
            (Some(_), Some(_)) => return Err(OAuthError::invalid_request(
                "token given both in the form and in the Authorization header (RFC 6750 section 2)",
            )),
            (Some(t), None) => t.as_bytes(),
            (None, Some(t)) => t,
            (None, None) => {
                // RFC 6750 §3.1: no credentials, no error code; just the challenge.
                header(headers, "WWW-Authenticate", &challenge(ctx, None));
                error_body(body, "invalid_request", "an access token is required");
                return Ok(Reply::sensitive_json(401));
            }
        };
    let app = ctx.app;
    let record = read_through::lookup(
        app.tokens(),
        ctx.clients,
        ctx.peer,
        &TokenKey::of(token),
        ctx.now,
    )
    .await?
    .filter(|r| tokeninfo_shows(r, ctx.clients));
    let Some(record) = record else {
        return Err(OAuthError::invalid_token(
            "the access token is invalid, expired or revoked",
        ));
    };
    let scope = app.syms.scopes.resolve(record.scope).unwrap_or_default();
    let user = record.user.and_then(|u| app.syms.users.resolve(u));
    let (true, Some(user)) = (scope.split(' ').any(|s| s == "openid"), user) else {
        header(
            headers,
            "WWW-Authenticate",
            &challenge(ctx, Some("insufficient_scope")),
        );
        error_body(
            body,
            "insufficient_scope",
            "userinfo needs a token issued to a user with the openid scope",
        );
        return Ok(Reply::sensitive_json(403));
    };
    // Claim names come from configuration, so the object is built with serde_json.
    let mut object = serde_json::Map::new();
    for (name, value) in claims::user_claims(ctx, &user, &scope) {
        object.insert(name, serde_json::Value::String(value));
    }
    object.insert(
        "sub".to_owned(),
        serde_json::Value::String(user.to_string()),
    );
    body.clear();
    serde_json::to_writer(&mut *body, &object).map_err(|_| {
        OAuthError::new(
            ErrorCode::ServerError,
            "the userinfo response could not be encoded",
        )
    })?;
    Ok(Reply::sensitive_json(200))
}

/// RFC 6750 §3: `Bearer realm="…"` with the error, if any.
fn challenge(ctx: Ctx<'_>, error: Option<&str>) -> String {
    let realm = &ctx.app.config.server.realm;
    match error {
        Some(e) => format!("Bearer realm=\"{realm}\", error=\"{e}\""),
        None => format!("Bearer realm=\"{realm}\""),
    }
}
