//! OAuth 2.0 decisions, without I/O: who the client is, which grant applies, what scope is
//! granted, what a token is worth. Endpoints parse a request, do whatever I/O it needs (a
//! read-through, a password check), call in here, then commit and encode the outcome.
//!
//! This module may use the storage crate's token records, keys and interners, and nothing
//! of the server around it: no app state, cluster, HTTP, configuration or store (a test in
//! `tests/layers.rs` holds that line).
//!
//! - [`error`]: RFC error codes, statuses, descriptions.
//! - [`params`]: form parameters of the endpoints.
//! - [`client_auth`]: RFC 6749 §2.3 client authentication.
//! - [`clients`]: clients as the decisions see them; [`secret`]: how secrets are hashed.
//! - [`scope`]: RFC 6749 §3.3 scope rules.
//! - [`authorize`]: the authorization endpoint's decisions (RFC 6749 §4.1.1, §4.2.1);
//!   [`redirect`]: redirect URI rules; [`pkce`]: RFC 7636.
//! - [`grants`]: one module per grant type.
//! - [`inspect`]: who may learn what about a token (tokeninfo, introspection).
//! - [`tokens`]: [`tokens::TokenOps`], the token operations a grant may ask for.
//! - [`issue`], [`token_gen`]: minting tokens.
//! - [`types`]: the enums configuration and decisions share.
//! - [`jose`]: JWS/JWT verification (RFC 7515, 7519); [`saml`]: SAML 2.0 assertion
//!   verification; [`issuers`]: the trusted external assertion issuers; [`once`]: the
//!   store keys of one-time values (`jti`, SAML `ID`).

pub mod authorize;
pub mod client_auth;
pub mod clients;
pub mod error;
pub mod grants;
pub mod inspect;
pub mod issue;
pub mod issuers;
pub mod jose;
pub mod once;
pub mod params;
pub mod pkce;
pub mod redirect;
pub mod saml;
pub mod scope;
pub mod secret;
pub mod token_gen;
pub mod tokens;
pub mod types;

pub use error::{ErrorCode, OAuthError};
