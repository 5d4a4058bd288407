//! The vocabulary shared by configuration and OAuth decisions: grant types, client
//! authentication methods, refresh policies, ID-token signing algorithms. A leaf module: it imports nothing from the
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
    /// A JWT signed with one of the client's keys (`jwks_file`, `public_key_files`,
    /// `jwks_uri`): RFC 7523 §2.2, OpenID Connect Core §9.
    PrivateKeyJwt,
    /// A JWT signed HS256 with the client's secret, which must be configured in clear
    /// (OpenID Connect Core §9): the server needs the secret itself, not a hash of it.
    ClientSecretJwt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    ClientCredentials,
    Password,
    RefreshToken,
    /// RFC 6749 §4.1, through `/api/oauth/authorize` and then the token endpoint.
    AuthorizationCode,
    /// RFC 6749 §4.2: tokens straight from `/api/oauth/authorize`. No client has it unless
    /// its configuration lists it (RFC 9700 §2.1.2 advises against it).
    Implicit,
    /// RFC 7523 §2.1: a signed JWT from the client or a trusted issuer.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:jwt-bearer")]
    JwtBearer,
    /// RFC 7522 §2.1: a signed SAML 2.0 assertion from a trusted identity provider.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:saml2-bearer")]
    Saml2Bearer,
}

impl GrantType {
    pub const ALL: [GrantType; 7] = [
        GrantType::ClientCredentials,
        GrantType::Password,
        GrantType::RefreshToken,
        GrantType::AuthorizationCode,
        GrantType::Implicit,
        GrantType::JwtBearer,
        GrantType::Saml2Bearer,
    ];

    /// The `grant_type` value on the wire (RFC 6749 §4.1.3, §4.3.2, §4.4.2, §6); the
    /// implicit grant has none (it never reaches the token endpoint), so its name is the
    /// one configuration and discovery use.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::RefreshToken => "refresh_token",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::Implicit => "implicit",
            GrantType::JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
            GrantType::Saml2Bearer => "urn:ietf:params:oauth:grant-type:saml2-bearer",
        }
    }

    /// The grant named `s` on the wire (`grant_type`); the implicit grant has none.
    pub fn from_wire(s: &str) -> Option<GrantType> {
        GrantType::ALL
            .into_iter()
            .find(|g| *g != GrantType::Implicit && g.as_str() == s)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Whether a client's users are asked to consent (`clients[].consent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    /// Show the consent page unless the user consented to these scopes before.
    #[default]
    Prompt,
    /// A first-party application: never ask.
    Skip,
}

/// A JWS algorithm Tessera signs ID tokens with (RFC 7518 §3.1): the `alg` of the JWS header
/// and of the JWK, as the wire and the configuration spell it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize, Default,
)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, RSA keys of 2048 bits or more: the OpenID Connect
    /// default every relying party supports (OIDC Core §15.1).
    #[default]
    RS256,
    /// ECDSA with P-256 and SHA-256.
    ES256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 2] = [SigningAlg::RS256, SigningAlg::ES256];

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
        }
    }

    /// The algorithm named `s` exactly (`"RS256"`, `"ES256"`).
    pub fn parse(s: &str) -> Option<SigningAlg> {
        SigningAlg::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl std::fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
