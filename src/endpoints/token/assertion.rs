//! The assertion grants at the token endpoint — JWT bearer (RFC 7523 §2.1) and SAML 2.0
//! bearer (RFC 7522 §2.1) — with the I/O around their pure steps
//! (`oauth::grants::{jwt_bearer, saml_bearer}`): the brute-force guard for a self-signed
//! JWT that authenticates its client, the XML signature check on the crypto pool, using
//! up the assertion's `jti` / `ID` store-wide, and committing the tokens.
//!
//! A JWT is verified on the worker: one RSA or ECDSA verification is tens of microseconds.
//! A SAML signature needs canonicalisation and an XML parse (hundreds of microseconds), so
//! it runs on the pool like a password hash.

use super::super::auth::Attempt;
use super::super::once::use_once;
use super::super::rate_limit;
use super::super::Ctx;
use crate::guard::Identity;
use crate::oauth::clients::Client;
use crate::oauth::error::ErrorCode;
use crate::oauth::grants::{jwt_bearer, saml_bearer};
use crate::oauth::issue::Issued;
use crate::oauth::jose;
use crate::oauth::params::Params;
use crate::oauth::saml;
use crate::oauth::types::GrantType;
use crate::oauth::OAuthError;
use crate::registry::password_pool::PoolError;

/// Whether a JWT bearer request carries no client authentication at all: its assertion,
/// signed by the client, is then the authentication (the gateway's way).
pub fn is_self_authenticating(authorization: Option<&[u8]>, params: &Params<'_>) -> bool {
    authorization.is_none()
        && params.client_id.is_none()
        && params.client_secret.is_none()
        && params.client_assertion.is_none()
        && params.client_assertion_type.is_none()
}

fn malformed_jwt(e: jose::JwtError) -> OAuthError {
    OAuthError::invalid_grant(format!("the assertion is not a usable JWT: {e}"))
}

fn jwt_replayed() -> OAuthError {
    OAuthError::invalid_grant("assertion refused: its jti was already used")
}

fn saml_replayed() -> OAuthError {
    OAuthError::invalid_grant("assertion refused: its ID was already used")
}

/// The JWT bearer grant for an authenticated `client`.
pub async fn jwt_bearer(
    ctx: Ctx<'_>,
    client: &Client,
    params: &Params<'_>,
) -> Result<Issued, OAuthError> {
    let presented = Params::required(&params.assertion, "assertion")?;
    let jwt = jose::decode(presented).map_err(malformed_jwt)?;
    let a = &ctx.app.assertions;
    let keys = jwt_bearer::keys_for(&jwt.claims_unverified().iss, client, &a.issuers)?;
    let rules = jwt_bearer::Rules {
        audience: &a.audience,
        time: a.time(ctx.now),
    };
    let verified = jwt_bearer::verify(&jwt, keys, rules)?;
    issue_jwt(ctx, client, params, verified).await
}

/// The JWT bearer grant without client authentication: the assertion's `iss` names the
/// client, and its signature by that client's keys authenticates it — under the guard,
/// like any client authentication: every refusal counts as a failure for the client id
/// from this address, and only a token issued clears its failures. A refused assertion is
/// `invalid_grant` naming the check (RFC 7523 §3.1), as with client authentication.
pub async fn jwt_bearer_self<'a>(
    ctx: Ctx<'a>,
    params: &Params<'_>,
) -> Result<(&'a Client, Issued), OAuthError> {
    let presented = Params::required(&params.assertion, "assertion")?;
    let jwt = match jose::decode(presented) {
        Ok(jwt) => jwt,
        Err(e) => {
            Attempt::begin(ctx)?.failed();
            return Err(malformed_jwt(e));
        }
    };
    let iss = jwt.claims_unverified().iss.as_str();
    let a = &ctx.app.assertions;
    if a.issuers.jwt(iss).is_some() {
        return Err(OAuthError::invalid_client(
            "an assertion from a trusted issuer must come with client authentication",
        ));
    }
    let attempt = Attempt::begin(ctx)?.identify(Identity::Client(iss))?;
    let rules = jwt_bearer::Rules {
        audience: &a.audience,
        time: a.time(ctx.now),
    };
    let checked = match ctx.clients.get(iss) {
        None => Err(OAuthError::invalid_grant(
            "the assertion's issuer (iss) is neither a client nor a trusted issuer",
        )),
        Some(client) if !client.allows(GrantType::JwtBearer) => {
            Err(OAuthError::unauthorized_client(
                "this client may not use the urn:ietf:params:oauth:grant-type:jwt-bearer grant",
            ))
        }
        Some(client) => jwt_bearer::keys_for(iss, client, &a.issuers)
            .and_then(|keys| jwt_bearer::verify(&jwt, keys, rules))
            .map(|verified| (client, verified)),
    };
    let (client, verified) = match checked {
        Ok(checked) => checked,
        Err(e) => {
            attempt.failed();
            return Err(e);
        }
    };
    // The signature authenticated the client: its rate limit applies from here (issue 15).
    rate_limit::client(ctx, client)?;
    match issue_jwt(ctx, client, params, verified).await {
        Ok(issued) => {
            attempt.succeeded();
            Ok((client, issued))
        }
        Err(e) => {
            // A replayed assertion is a failed authentication: it must not clear the
            // client's failures.
            if e.code == ErrorCode::InvalidGrant {
                attempt.failed();
            }
            Err(e)
        }
    }
}

async fn issue_jwt(
    ctx: Ctx<'_>,
    client: &Client,
    params: &Params<'_>,
    verified: jwt_bearer::Verified<'_>,
) -> Result<Issued, OAuthError> {
    // Everything that can fail without the store comes first — the scope, the queue room —
    // so a refused request does not burn the assertion.
    let app = ctx.app;
    crate::oauth::scope::for_client(&app.syms.scopes, client, params.scope.as_deref())?;
    let mut writes = app.begin_writes()?;
    use_once(ctx, client, verified.once, jwt_replayed, &mut writes).await?;
    let outcome = jwt_bearer::grant(
        &mut writes,
        &app.syms.scopes,
        &app.syms.users,
        client,
        params,
        &verified,
        ctx.now,
    );
    writes.commit().await?;
    outcome
}

/// The SAML 2.0 bearer grant for an authenticated `client`.
pub async fn saml_bearer(
    ctx: Ctx<'_>,
    client: &Client,
    params: &Params<'_>,
) -> Result<Issued, OAuthError> {
    let app = ctx.app;
    let presented = Params::required(&params.assertion, "assertion")?;
    let refused = |e: saml::SamlError| OAuthError::invalid_grant(format!("assertion refused: {e}"));
    let xml = saml::decode_assertion_param(presented).map_err(refused)?;
    let issuer = saml::issuer_of(&xml).map_err(refused)?;
    let a = &app.assertions;
    let trust = std::sync::Arc::clone(saml_bearer::trust_for(&issuer, client, &a.issuers)?);
    let verified = app
        .passwords
        .run(move || saml::verify(&xml, &trust))
        .await
        .map_err(|e| match e {
            PoolError::Busy => OAuthError::temporarily_unavailable(
                "too many signature checks in progress; retry shortly",
            ),
            PoolError::Stopped => OAuthError::new(
                ErrorCode::ServerError,
                "signature verification is unavailable",
            ),
        })?
        .map_err(refused)?;
    // The signed assertion must be the one whose issuer picked the certificates.
    if verified.issuer != issuer {
        return Err(OAuthError::invalid_grant(
            "assertion refused: the signed Issuer differs from the one presented",
        ));
    }
    let rules = saml::Rules {
        now: u64::from(ctx.now),
        skew: a.skew,
        audience: &a.audience,
        recipient: &a.audience,
    };
    let once = saml_bearer::check(&verified, rules, a.max_lifetime)?;
    crate::oauth::scope::for_client(&app.syms.scopes, client, params.scope.as_deref())?;
    let mut writes = app.begin_writes()?;
    use_once(ctx, client, once, saml_replayed, &mut writes).await?;
    let outcome = saml_bearer::grant(
        &mut writes,
        &app.syms.scopes,
        &app.syms.users,
        client,
        params,
        &verified.name_id,
        ctx.now,
    );
    writes.commit().await?;
    outcome
}
