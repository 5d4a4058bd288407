//! The endpoints: one module per path. [`dispatch`] routes a request, runs its endpoint and
//! converts an [`OAuthError`] into the RFC's JSON error response — the one place where the
//! OAuth error layer meets HTTP.

pub mod auth;
pub mod authorize;
pub mod claims;
pub mod discovery;
pub mod health;
pub mod introspect;
pub mod logout;
pub mod metrics;
pub mod once;
pub mod rate_limit;
pub mod revoke;
pub mod token;
pub mod tokeninfo;
pub mod userinfo;

use crate::http::response::error_body;
use crate::http::{Reply, Request};
use crate::metrics::WorkerMetrics;
use crate::oauth::error::ErrorCode;
use crate::oauth::params::Params;
use crate::oauth::OAuthError;
use crate::router::{route, Route, RouteLabel, Routing};
use crate::state::App;
use std::net::IpAddr;

/// What an endpoint needs beyond the request.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub app: &'a App,
    /// The client registry this request sees (the worker's current one).
    pub clients: &'a crate::oauth::clients::Clients,
    pub metrics: &'a WorkerMetrics,
    pub now: u32,
    /// Where the request came from (the connection's peer): the brute-force guard's key.
    pub peer: IpAddr,
}

/// Routes `req`, answers it into `body` (and extra header fields into `headers`), and says
/// which route label it counts under.
pub async fn dispatch(
    ctx: Ctx<'_>,
    req: &Request<'_>,
    body: &mut Vec<u8>,
    headers: &mut Vec<u8>,
) -> (RouteLabel, Reply) {
    let r = match route(req.method, req.path) {
        Routing::Found(r) => r,
        Routing::NotFound => {
            error_body(body, "not_found", "no such path");
            return (RouteLabel::Other, Reply::json(404));
        }
        Routing::MethodNotAllowed { allow } => {
            error_body(
                body,
                "method_not_allowed",
                "method not allowed on this path",
            );
            return (
                RouteLabel::Other,
                Reply {
                    allow: Some(allow),
                    ..Reply::json(405)
                },
            );
        }
    };
    // Issue 15: an address over its limit costs no more than this.
    if rate_limit::covers(r) {
        if let Err(e) = rate_limit::address(ctx) {
            return (r.into(), error_reply(&e, body));
        }
    }
    let result = match r {
        // The browser side answers with pages and redirects, never with a JSON error.
        Route::Authorize => Ok(authorize::handle(ctx, req, body, headers).await),
        Route::Logout => Ok(logout::handle(ctx, req, body, headers).await),
        Route::UserInfo => Ok(userinfo::handle(ctx, req, body, headers).await),
        Route::Jwks => Ok(discovery::jwks(ctx, body)),
        Route::OpenIdConfiguration => Ok(discovery::openid_configuration(ctx, body)),
        Route::AuthorizationServer => Ok(discovery::authorization_server(ctx, body)),
        Route::Token => token::handle(ctx, req, body).await,
        Route::Revoke => revoke::handle(ctx, req, body).await,
        Route::TokenInfo => tokeninfo::handle(ctx, req, body).await,
        Route::Introspect => introspect::handle(ctx, req, body).await,
        Route::Health => Ok(health::handle(body)),
        // `[admin] metrics = true`: the series name client ids, so only the admin listener
        // serves them.
        Route::Metrics if ctx.app.config.admin.metrics => {
            error_body(
                body,
                "not_found",
                "/metrics is served on the admin listener",
            );
            return (RouteLabel::Other, Reply::json(404));
        }
        Route::Metrics => Ok(metrics::handle(ctx, body)),
    };
    let reply = result.unwrap_or_else(|e| error_reply(&e, body));
    (r.into(), reply)
}

/// RFC 6749 §5.2: the error as JSON, never cached; 401 with a Basic challenge; 503 and 429
/// with `Retry-After` (the error's own seconds, else 1).
///
/// The challenge is on *every* 401, a superset of issue 11's "when Basic was used or when
/// no credentials came": RFC 9110 §11.6.1 requires a `WWW-Authenticate` on every 401, and
/// it keeps the answers to all client authentication failures byte-identical.
pub fn error_reply(e: &OAuthError, body: &mut Vec<u8>) -> Reply {
    error_body(body, e.code.as_str(), &e.description);
    let status = e.code.status();
    let retry_after = match e.code {
        ErrorCode::TemporarilyUnavailable
        | ErrorCode::TooManyFailedAttempts
        | ErrorCode::RateLimited => Some(e.retry_after.unwrap_or(1)),
        _ => e.retry_after,
    };
    Reply {
        basic_challenge: status == 401,
        retry_after,
        ..Reply::sensitive_json(status)
    }
}

/// The form parameters of a POST body, which must be `application/x-www-form-urlencoded`.
pub fn form<'a>(req: &Request<'a>) -> Result<Params<'a>, OAuthError> {
    if !req.is_form() {
        return Err(OAuthError::invalid_request(
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    Params::parse(req.body)
}
