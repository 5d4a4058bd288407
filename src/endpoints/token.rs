//! `POST /api/oauth/token` (RFC 6749 §3.2): authenticate the client, pick the grant, answer
//! with the token response of §5.1 or the error of §5.2.
//!
//! The I/O around the pure grants lives here: the brute-force guard around client
//! authentication and the resource-owner login ([`super::auth`]), the read-through of a
//! presented refresh token, the password check on the password-hash pool, and committing
//! the grant's changes to the write-behind (in `sync` mode, waiting until they are durable).

use super::auth::Attempt;
use super::{form, Ctx};
use crate::cluster::read_through;
use crate::guard::Identity;
use crate::http::json::JsonObject;
use crate::http::{Reply, Request};
use crate::oauth::error::ErrorCode;
use crate::oauth::grants::{client_credentials, password, refresh_token};
use crate::oauth::issue::Issued;
use crate::oauth::params::Params;
use crate::oauth::types::GrantType;
use crate::oauth::OAuthError;
use crate::registry::password_pool::PoolError;
use crate::state::App;
use tessera_storage::Sym;

pub async fn handle(
    ctx: Ctx<'_>,
    req: &Request<'_>,
    body: &mut Vec<u8>,
) -> Result<Reply, OAuthError> {
    let attempt = Attempt::begin(ctx)?;
    let params = form(req)?;
    let client = attempt.client(req, &params)?;
    let grant = match Params::required(&params.grant_type, "grant_type")? {
        "client_credentials" => GrantType::ClientCredentials,
        "password" => GrantType::Password,
        "refresh_token" => GrantType::RefreshToken,
        other => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant type '{other}' is not supported"),
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
            read_through::lookup(app.tokens(), ctx.clients, &key, ctx.now).await;
        }
    }
    let scopes = &app.syms.scopes;
    // The password check runs before any queue room is taken: it may wait for the pool.
    let verified_user = match grant {
        GrantType::Password => {
            let login = password::request(scopes, client, &params)?;
            // RFC 6749 §4.3.2: the guard first — a locked-out username costs no hash.
            let attempt = Attempt::begin(ctx)?.identify(Identity::User(login.username))?;
            let scope = login.scope;
            let user = check_password(app, login).await?;
            match user {
                Some(_) => attempt.succeeded(),
                None => attempt.failed(),
            }
            Some((scope, user))
        }
        _ => None,
    };
    // Reserve the store's queue room before the grant changes anything.
    let mut writes = app.begin_writes()?;
    let outcome = match (grant, verified_user) {
        (GrantType::Password, Some((scope, user))) => {
            password::grant(&mut writes, client, scope, user, ctx.now)
        }
        (GrantType::RefreshToken, _) => {
            refresh_token::grant(&mut writes, scopes, client, &params, ctx.now)
        }
        _ => client_credentials::grant(&mut writes, scopes, client, &params, ctx.now),
    };
    // Committed whatever the outcome: a failed grant may still have used something up.
    writes.commit().await?;
    let issued = outcome?;
    ctx.metrics.issued(client.index, grant);
    write_token_response(ctx, &issued, body);
    Ok(Reply::sensitive_json(200))
}

/// The resource owner whose password `login` proves, `None` when the username is unknown
/// or the password wrong. An unknown username costs the same as a known one (a decoy hash
/// is checked), so timing does not tell which usernames exist.
async fn check_password(app: &App, login: password::Login<'_>) -> Result<Option<Sym>, OAuthError> {
    let users = app.users();
    let user = users.get(login.username);
    let hash = user.map_or(&users.decoy, |u| &u.hash);
    let verified = app
        .passwords
        .verify(hash, login.password)
        .await
        .map_err(|e| match e {
            PoolError::Busy => OAuthError::temporarily_unavailable(
                "too many password checks in progress; retry shortly",
            ),
            PoolError::Stopped => OAuthError::new(
                ErrorCode::ServerError,
                "password verification is unavailable",
            ),
        })?;
    Ok(user.filter(|_| verified).map(|u| u.sym))
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
