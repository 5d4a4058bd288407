//! One module per grant type of the token endpoint. Each is a plain function over the
//! authenticated client, the request parameters, the scope interner, the time and a
//! [`TokenOps`](crate::oauth::tokens::TokenOps): it checks the grant's rules, mints through
//! [`crate::oauth::issue`] and returns [`crate::oauth::issue::Issued`] or an `OAuthError`.
//! None of them does I/O or awaits anything: the endpoint does the read-through and the
//! password check before it calls them, and commits their changes afterwards.

pub mod authorization_code;
pub mod client_credentials;
pub mod implicit;
pub mod jwt_bearer;
pub mod password;
pub mod refresh_token;
pub mod saml_bearer;

#[cfg(test)]
pub(crate) mod testing;
