//! The vocabulary shared by configuration and OAuth decisions: grant types, client
//! authentication methods, refresh policies. A leaf module: it imports nothing from the
//! crate, so `config` and `oauth` can both use it without depending on each other.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RefreshPolicy {
    /// New access and refresh token; the old refresh token is removed.
    #[default]
    Rotate,
    /// New access token only; the old refresh token is removed.
    None,
    /// New access token; the same refresh token is returned and stays valid.
    Preserve,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// `Authorization: Basic` (RFC 6749 §2.3.1), the default.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: `client_id` only.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    ClientCredentials,
    Password,
    RefreshToken,
}

impl GrantType {
    pub const ALL: [GrantType; 3] = [
        GrantType::ClientCredentials,
        GrantType::Password,
        GrantType::RefreshToken,
    ];

    /// The `grant_type` value on the wire (RFC 6749 §4.3.2, §4.4.2, §6).
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::RefreshToken => "refresh_token",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}
