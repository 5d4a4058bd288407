//! Client credentials grant (RFC 6749 §4.4): a confidential client asks for a token for
//! itself. No refresh token is issued (§4.4.3).

use super::client_scope;
use crate::app::App;
use crate::oauth::clients::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::issue::{mint_access, Claims, Issued};
use crate::oauth::params::Params;
use crate::oauth::writes::Writes;
use tessera_storage::GrantId;

pub fn grant(
    app: &App,
    writes: &mut Writes<'_>,
    client: &Client,
    params: &Params<'_>,
    now: u32,
) -> Result<Issued, OAuthError> {
    // §4.4: "MUST only be used by confidential clients" (config validation also refuses it).
    if client.is_public() {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use client_credentials",
        ));
    }
    let scope = client_scope(app, client, &params.scope)?;
    let t = client.tokens;
    let access = mint_access(
        writes,
        Claims::new(client, None, scope, GrantId::NONE),
        &t,
        now,
    );
    Ok(Issued::new(access, &t, None, scope))
}
