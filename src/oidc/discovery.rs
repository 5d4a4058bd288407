//! The discovery documents: `GET /.well-known/openid-configuration` (OpenID Connect
//! Discovery 1.0 §3) and `GET /.well-known/oauth-authorization-server` (RFC 8414 §2), built
//! once from the configuration and the issuer. Pure: builds strings.
//!
//! Both documents hold the same metadata. RFC 8414 §2 allows the OpenID members in the
//! OAuth document, and an OAuth library that reads only that one still finds the JWKS and
//! userinfo endpoints; the OpenID document carries the RFC 8414 members (revocation,
//! introspection, PKCE) for the same reason.
//!
//! Endpoints are the issuer followed by the path Tessera serves (`/api/oauth/token`, …):
//! an issuer with a path is a Tessera behind a proxy that strips that prefix.

use crate::config::{Config, SigningAlg};
use serde_json::{json, Value};

/// Paths of the endpoints, below the issuer.
pub const AUTHORIZATION_PATH: &str = "/api/oauth/authorize";
pub const TOKEN_PATH: &str = "/api/oauth/token";
pub const USERINFO_PATH: &str = "/api/oauth/userinfo";
pub const JWKS_PATH: &str = "/api/oauth/jwks";
pub const REVOCATION_PATH: &str = "/api/oauth/revoke";
pub const INTROSPECTION_PATH: &str = "/api/oauth/introspect";
pub const END_SESSION_PATH: &str = "/api/oauth/logout";

/// The scopes OpenID Connect defines that Tessera serves (OIDC Core §5.4): `openid` asks
/// for an ID token, `profile` releases `name`, `email` releases `email`.
pub const OIDC_SCOPES: [&str; 3] = ["openid", "profile", "email"];

/// The claims an ID token or the userinfo response can carry.
pub const CLAIMS_SUPPORTED: [&str; 11] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "azp",
    "name",
    "email",
];

/// The two discovery documents, as JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Documents {
    /// `/.well-known/openid-configuration`.
    pub openid_configuration: String,
    /// `/.well-known/oauth-authorization-server`.
    pub authorization_server: String,
}

/// The documents for `config` served as `issuer` (normally [`Config::issuer`]; a server
/// listening on port 0 passes its bound address's issuer).
pub fn documents(config: &Config, issuer: &str) -> Documents {
    let text = metadata(config, issuer).to_string();
    Documents {
        openid_configuration: text.clone(),
        authorization_server: text,
    }
}

/// `scopes_supported`: the OpenID scopes, then every scope a configured client may ask
/// for, each once, sorted. Clients kept in a shared store are not in the configuration,
/// so not listed: the member is RECOMMENDED, not exhaustive (RFC 8414 §2).
fn scopes_supported(config: &Config) -> Vec<&str> {
    let mut client_scopes: Vec<&str> = config
        .clients
        .iter()
        .flat_map(|c| c.scopes.iter().map(String::as_str))
        .filter(|s| !OIDC_SCOPES.contains(s))
        .collect();
    client_scopes.sort_unstable();
    client_scopes.dedup();
    OIDC_SCOPES.into_iter().chain(client_scopes).collect()
}

fn metadata(config: &Config, issuer: &str) -> Value {
    let endpoint = |path: &str| format!("{issuer}{path}");
    let client_auth = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "client_secret_jwt",
        "none",
    ];
    // RFC 8414 §2: the algorithms of `private_key_jwt` and `client_secret_jwt`.
    let client_auth_algs = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256",
    ];
    let algs: Vec<&str> = SigningAlg::ALL.iter().map(|a| a.as_str()).collect();
    json!({
        "issuer": issuer,
        "authorization_endpoint": endpoint(AUTHORIZATION_PATH),
        "token_endpoint": endpoint(TOKEN_PATH),
        "userinfo_endpoint": endpoint(USERINFO_PATH),
        "jwks_uri": endpoint(JWKS_PATH),
        "revocation_endpoint": endpoint(REVOCATION_PATH),
        "introspection_endpoint": endpoint(INTROSPECTION_PATH),
        "end_session_endpoint": endpoint(END_SESSION_PATH),
        "scopes_supported": scopes_supported(config),
        "response_types_supported": ["code", "token", "id_token", "id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": [
            "authorization_code",
            "implicit",
            "password",
            "client_credentials",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "urn:ietf:params:oauth:grant-type:saml2-bearer",
        ],
        "token_endpoint_auth_methods_supported": client_auth,
        "token_endpoint_auth_signing_alg_values_supported": client_auth_algs,
        "revocation_endpoint_auth_methods_supported": client_auth,
        "revocation_endpoint_auth_signing_alg_values_supported": client_auth_algs,
        "introspection_endpoint_auth_methods_supported": client_auth,
        "introspection_endpoint_auth_signing_alg_values_supported": client_auth_algs,
        "code_challenge_methods_supported": ["S256", "plain"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "claims_supported": CLAIMS_SUPPORTED,
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClientConfig;

    fn config() -> Config {
        let mut c = Config::default();
        for (id, scopes) in [
            ("svc", &["write", "read"][..]),
            ("web", &["read", "openid", "email", "admin"][..]),
        ] {
            c.clients.push(ClientConfig {
                id: id.to_owned(),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                ..ClientConfig::default()
            });
        }
        c
    }

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).expect("json")
    }

    #[test]
    fn openid_configuration_lists_every_field_oidc_discovery_3() {
        let docs = documents(&config(), "https://auth.example.com");
        let d = parse(&docs.openid_configuration);
        let methods = json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "client_secret_jwt",
            "none"
        ]);
        let algs = json!([
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
            "HS256"
        ]);
        let want = json!({
            "issuer": "https://auth.example.com",
            "authorization_endpoint": "https://auth.example.com/api/oauth/authorize",
            "token_endpoint": "https://auth.example.com/api/oauth/token",
            "userinfo_endpoint": "https://auth.example.com/api/oauth/userinfo",
            "jwks_uri": "https://auth.example.com/api/oauth/jwks",
            "revocation_endpoint": "https://auth.example.com/api/oauth/revoke",
            "introspection_endpoint": "https://auth.example.com/api/oauth/introspect",
            "end_session_endpoint": "https://auth.example.com/api/oauth/logout",
            "scopes_supported": ["openid", "profile", "email", "admin", "read", "write"],
            "response_types_supported": ["code", "token", "id_token", "id_token token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "grant_types_supported": ["authorization_code", "implicit", "password",
                "client_credentials", "refresh_token",
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "urn:ietf:params:oauth:grant-type:saml2-bearer"],
            "token_endpoint_auth_methods_supported": methods,
            "token_endpoint_auth_signing_alg_values_supported": algs,
            "revocation_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_signing_alg_values_supported": algs,
            "introspection_endpoint_auth_methods_supported": methods,
            "introspection_endpoint_auth_signing_alg_values_supported": algs,
            "code_challenge_methods_supported": ["S256", "plain"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce",
                "at_hash", "azp", "name", "email"],
            "prompt_values_supported": ["none", "login", "consent"],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "authorization_response_iss_parameter_supported": true,
        });
        assert_eq!(d, want);
    }

    #[test]
    fn oauth_authorization_server_has_the_rfc8414_members() {
        let docs = documents(&config(), "https://auth.example.com");
        let d = parse(&docs.authorization_server);
        // RFC 8414 §2: issuer, the endpoints and response types are required (jwks_uri as
        // the ID tokens are signed); RFC 9207 §3 for the `iss` response parameter.
        for member in [
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "response_types_supported",
            "grant_types_supported",
            "token_endpoint_auth_methods_supported",
            "revocation_endpoint",
            "introspection_endpoint",
            "code_challenge_methods_supported",
        ] {
            assert!(d.get(member).is_some(), "{member}");
        }
        assert_eq!(d["authorization_response_iss_parameter_supported"], true);
        assert_eq!(d, parse(&docs.openid_configuration));
    }

    #[test]
    fn default_issuer_comes_from_the_listen_address() {
        let c = Config::default();
        let d = parse(&documents(&c, &c.issuer()).openid_configuration);
        assert_eq!(d["issuer"], "http://127.0.0.1:8080");
        assert_eq!(d["jwks_uri"], "http://127.0.0.1:8080/api/oauth/jwks");
        assert_eq!(d["scopes_supported"], json!(["openid", "profile", "email"]));
    }
}
