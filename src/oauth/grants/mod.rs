//! One module per grant type of the token endpoint. Each takes the authenticated client,
//! the request parameters and the time, checks the grant's rules, mints through
//! [`crate::oauth::issue`] and returns [`crate::oauth::issue::Issued`] or an `OAuthError`.
//! None of them does I/O; the password grant awaits the password-hash pool.

pub mod client_credentials;
pub mod password;
pub mod refresh_token;

use super::clients::Client;
use super::error::OAuthError;
use super::scope;
use crate::app::App;
use std::borrow::Cow;
use tessera_storage::Sym;

/// The scope to grant a client: the requested subset of its scopes, or its defaults.
pub fn client_scope(
    app: &App,
    client: &Client,
    requested: &Option<Cow<'_, str>>,
) -> Result<Sym, OAuthError> {
    match requested.as_deref() {
        None => Ok(client.default_scope),
        Some(s) => scope::grant(&app.syms.scopes, client.scope_names(), s),
    }
}
