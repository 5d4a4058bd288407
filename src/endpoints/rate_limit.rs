//! The rate limits' hooks (issue 15, [`crate::ratelimit`]): the per-address limit, asked by
//! [`super::dispatch`] before anything else on every OAuth endpoint, and the per-client
//! limit, asked by the token endpoint once the client has authenticated — so a stranger
//! presenting a client's id with a wrong secret is refused by client authentication (and
//! the brute-force guard) without taking anything from that client's bucket.
//!
//! Over a limit: the 429 of [`OAuthError::rate_limited`], counted in the metrics. Nothing
//! is logged per refusal: a client over its limit would fill the log at its request rate.
//! The clock is read only when a limit applies.

use super::Ctx;
use crate::oauth::clients::Client;
use crate::oauth::OAuthError;
use crate::ratelimit::Verdict;
use crate::router::Route;

/// Whether the per-address limit covers `route`: the OAuth endpoints. Not `/health` and
/// `/metrics` (monitoring must see a server under load), nor the discovery documents and
/// the JWKS: static, public, cheap to serve, and fetched by the resource servers that
/// verify ID tokens — often many behind one address — on every key rotation.
pub fn covers(route: Route) -> bool {
    match route {
        Route::Authorize
        | Route::Token
        | Route::Revoke
        | Route::TokenInfo
        | Route::Introspect
        | Route::UserInfo
        | Route::Logout => true,
        Route::Jwks
        | Route::OpenIdConfiguration
        | Route::AuthorizationServer
        | Route::Health
        | Route::Metrics => false,
    }
}

/// `Err(429)` when the request's source address is over `[security]
/// rate_limit_per_address`.
pub fn address(ctx: Ctx<'_>) -> Result<(), OAuthError> {
    let Some(limits) = &ctx.app.address_limits else {
        return Ok(());
    };
    let now = crate::clock::monotonic_nanos();
    match limits.check(limits.key(ctx.peer), now) {
        Verdict::Allowed => Ok(()),
        Verdict::Limited { retry_after_secs } => {
            ctx.metrics.address_rate_limited.inc();
            Err(OAuthError::rate_limited(
                "too many requests from this address; retry later",
                retry_after_secs,
            ))
        }
    }
}

/// `Err(429)` when the authenticated `client` is over its `rate_limit`.
pub fn client(ctx: Ctx<'_>, client: &Client) -> Result<(), OAuthError> {
    let Some(limit) = &client.rate_limit else {
        return Ok(());
    };
    match limit.check(crate::clock::monotonic_nanos()) {
        Verdict::Allowed => Ok(()),
        Verdict::Limited { retry_after_secs } => {
            ctx.metrics.client_rate_limited(client.index);
            Err(OAuthError::rate_limited(
                "too many token requests for this client; retry later",
                retry_after_secs,
            ))
        }
    }
}
