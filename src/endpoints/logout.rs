//! `GET|POST /api/oauth/logout` (OpenID Connect RP-Initiated Logout 1.0): ends the login
//! session at once — its record is deleted from the store durably and every node drops it
//! through the revocation log; the browser's cookie is cleared — then redirects to the
//! client's registered `post_logout_redirect_uri` (with `state`) or shows a signed-out page.
//!
//! The client is named by `client_id` or by the `aud` of `id_token_hint`; the redirect URI
//! must be one that client registered, compared exactly (§3: never an open redirector).

use super::authorize::session;
use super::{form, Ctx};
use crate::http::response::header;
use crate::http::{Method, Reply, Request};
use crate::oauth::params::Params;
use crate::oauth::redirect::{self, ResponseMode};
use crate::oauth::tokens::TokenOps;
use crate::oauth::OAuthError;
use crate::pages::cookie;
use crate::pages::views::ErrorView;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use tessera_storage::TokenKey;

pub async fn handle(
    ctx: Ctx<'_>,
    req: &Request<'_>,
    body: &mut Vec<u8>,
    headers: &mut Vec<u8>,
) -> Reply {
    // Every parameter is optional (RP-Initiated Logout 1.0 §2), so a POST may come without a
    // body, and then without a Content-Type: that is a logout, not a malformed form.
    let params = match req.method {
        Method::Post if !req.body.is_empty() || req.content_type.is_some() => form(req),
        _ => Params::parse(req.query),
    };
    let params = match params {
        Ok(p) => p,
        Err(e) => return page(ctx, body, headers, Some((e.code.as_str(), &e.description))),
    };
    // Where to go afterwards, checked before anything ends.
    let destination = match destination(ctx, &params) {
        Ok(d) => d,
        Err(e) => return page(ctx, body, headers, Some((e.code.as_str(), &e.description))),
    };
    if let Err(e) = end_session(ctx, req).await {
        return super::error_reply(&e, body);
    }
    let secure = ctx.app.issuer().starts_with("https://");
    header(headers, "Set-Cookie", &cookie::clear_session_cookie(secure));
    match destination {
        Some(uri) => {
            let state = params.state.as_deref();
            let location = match state {
                Some(s) => redirect::with_params(&uri, ResponseMode::Query, &[("state", s)]),
                None => uri,
            };
            header(headers, "Location", &location);
            Reply::redirect(if req.method == Method::Post { 303 } else { 302 })
        }
        None => page(ctx, body, headers, None),
    }
}

/// The registered `post_logout_redirect_uri` to send the browser to, if one was asked for.
fn destination(ctx: Ctx<'_>, params: &Params<'_>) -> Result<Option<String>, OAuthError> {
    let Some(uri) = params.post_logout_redirect_uri.as_deref() else {
        return Ok(None);
    };
    let client_id = match (params.client_id.as_deref(), params.id_token_hint.as_deref()) {
        (Some(id), _) => id.to_owned(),
        (None, Some(hint)) => audience(hint)
            .ok_or_else(|| OAuthError::invalid_request("id_token_hint is not an ID token"))?,
        (None, None) => {
            return Err(OAuthError::invalid_request(
                "post_logout_redirect_uri needs client_id or id_token_hint",
            ))
        }
    };
    let registered = ctx
        .clients
        .get(&client_id)
        .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| &**r == uri));
    if !registered {
        return Err(OAuthError::invalid_request(
            "post_logout_redirect_uri is not registered for this client",
        ));
    }
    Ok(Some(uri.to_owned()))
}

/// The `aud` (first, if a list) of an ID token, read without checking its signature: it
/// only picks the client whose registered URIs the redirect must be among.
fn audience(id_token: &str) -> Option<String> {
    let payload = id_token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    match &claims["aud"] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) => a.first()?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// Deletes the session the cookie names, durably, on every node.
async fn end_session(ctx: Ctx<'_>, req: &Request<'_>) -> Result<(), OAuthError> {
    let Some((_, value)) = session::find(ctx, req.cookie).await? else {
        return Ok(());
    };
    let mut writes = ctx.app.begin_writes()?;
    writes.discard(&TokenKey::of(value.as_bytes()));
    writes.require_durable();
    writes.commit().await
}

fn page(
    ctx: Ctx<'_>,
    body: &mut Vec<u8>,
    headers: &mut Vec<u8>,
    error: Option<(&str, &str)>,
) -> Reply {
    let pages = &ctx.app.pages;
    let rendered = match error {
        Some((code, description)) => pages.error(&ErrorView {
            error: code,
            description: Some(description),
        }),
        None => pages.signed_out(),
    };
    match rendered {
        Ok(p) => {
            body.clear();
            body.extend_from_slice(p.body.as_bytes());
            let _ = p.write_headers(headers);
            Reply::html(if error.is_some() { 400 } else { p.status })
        }
        Err(_) => Reply::empty(500),
    }
}

#[cfg(test)]
mod tests {
    use super::audience;

    #[test]
    fn the_audience_of_an_id_token_hint_is_read_from_its_payload() {
        // {"aud":"web","sub":"alice"}
        let hint = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ3ZWIiLCJzdWIiOiJhbGljZSJ9.sig";
        assert_eq!(audience(hint).as_deref(), Some("web"));
        assert_eq!(audience("not-a-jwt"), None);
    }
}
