//! OAuth 2.0 decisions, without I/O: who the client is, which grant applies, what scope is
//! granted, what a token is worth.
//!
//! - [`error`]: RFC error codes, statuses, descriptions.
//! - [`params`]: form parameters of the endpoints.
//! - [`client_auth`]: RFC 6749 §2.3 client authentication.
//! - [`clients`], [`users`]: the registries; [`secret`]: how their secrets are hashed.
//! - [`scope`]: RFC 6749 §3.3 scope rules.
//! - [`grants`]: one module per grant type.
//! - [`issue`], [`token_gen`]: minting tokens.
//! - [`password_pool`]: argon2id verification off the worker threads.
//! - [`types`]: the enums configuration and decisions share.
//! - [`writes`]: every table change of a request, carried to the store's write-behind.

pub mod client_auth;
pub mod clients;
pub mod error;
pub mod grants;
pub mod issue;
pub mod params;
pub mod password_pool;
pub mod scope;
pub mod secret;
pub mod token_gen;
pub mod types;
pub mod users;
pub mod writes;

pub use error::{ErrorCode, OAuthError};
