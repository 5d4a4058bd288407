//! Resource owner password credentials grant (RFC 6749 §4.3). The password check runs on
//! the password-hash pool when the stored hash is argon2id. A refresh token is issued when
//! the client may use the refresh_token grant; it and the access token share a new grant.

use super::client_scope;
use crate::app::App;
use crate::oauth::clients::Client;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::issue::{mint_access, mint_refresh, Claims, Issued, RefreshOut};
use crate::oauth::params::Params;
use crate::oauth::password_pool::PoolError;
use crate::oauth::token_gen::grant_id;
use crate::oauth::types::GrantType;
use crate::oauth::writes::Writes;
use tessera_storage::GrantId;

pub async fn grant(
    app: &App,
    writes: &mut Writes<'_>,
    client: &Client,
    params: &Params<'_>,
    now: u32,
) -> Result<Issued, OAuthError> {
    let username = Params::required(&params.username, "username")?;
    let password = Params::required(&params.password, "password")?;
    // Scope first: a bad request should not cost a password hash.
    let scope = client_scope(app, client, &params.scope)?;
    let users = app.users();
    let user = users.get(username);
    let hash = user.map_or(&users.decoy, |u| &u.hash);
    let verified = app
        .passwords
        .verify(hash, password)
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
    let user = match user {
        Some(u) if verified => u,
        _ => {
            return Err(OAuthError::invalid_grant(
                "invalid resource owner credentials",
            ))
        }
    };

    let t = client.tokens;
    if !client.allows(GrantType::RefreshToken) {
        let access = mint_access(
            writes,
            Claims::new(client, Some(user.sym), scope, GrantId::NONE),
            &t,
            now,
        );
        return Ok(Issued::new(access, &t, None, scope));
    }
    let grant = GrantId(grant_id());
    let claims = Claims::new(client, Some(user.sym), scope, grant);
    let refresh = mint_refresh(writes, claims, &t, now);
    let access = mint_access(writes, claims, &t, now);
    // Nobody holds either token until the response goes out, so no revocation can race this.
    writes
        .table()
        .open_grant(grant, client.sym, Some(refresh.key), access.link());
    Ok(Issued::new(
        access,
        &t,
        Some(RefreshOut::New(refresh.token)),
        scope,
    ))
}
