//! `[[clients]]` and `[[users]]`: the clients and resource owners a configuration file
//! lists, and the checks a client gets wherever it comes from (`Config::validate_client`
//! also checks clients kept in a shared store). Uses `oauth::secret` and `oauth::scope` to
//! check secrets, password hashes and scope tokens; touches no other section.

use super::error::ConfigError;
use super::security::RateLimitConfig;
use super::tokens::{check_length, check_ttl};
use super::{AuthMethod, Config, ConsentMode, GrantType, RefreshPolicy, SigningAlg};
use crate::oauth::secret::Redacted;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

/// Response fields that a client's metadata must not shadow (tokeninfo and introspection
/// put metadata names at the top level of the JSON object).
pub const RESERVED_METADATA_NAMES: &[&str] = &[
    "active",
    "audience",
    "client_id",
    "error",
    "error_description",
    "exp",
    "expires_in",
    "iat",
    "scope",
    "token_type",
    "user_id",
    "username",
];

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub id: String,
    /// A plain secret (development); hashed at load and then forgotten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Redacted<String>>,
    /// A hash from `tessera hash-secret`.
    #[serde(default)]
    pub secret_hash: Option<String>,
    #[serde(default)]
    pub auth_method: AuthMethod,
    pub grant_types: Vec<GrantType>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Granted when a request names no scope; absent = all of `scopes`.
    #[serde(default)]
    pub default_scopes: Option<Vec<String>>,
    #[serde(default)]
    pub refresh_policy: Option<RefreshPolicy>,
    #[serde(default)]
    pub access_token_ttl_secs: Option<u32>,
    #[serde(default)]
    pub access_token_length: Option<usize>,
    #[serde(default)]
    pub refresh_token_ttl_secs: Option<u32>,
    #[serde(default)]
    pub refresh_token_length: Option<usize>,
    /// Name/value pairs stored with every token issued to this client.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Where `/api/oauth/authorize` may send the user back: compared exactly (RFC 9700
    /// §4.1.3), except that a loopback `http://127.0.0.1/…` or `http://[::1]/…` URI matches
    /// any port (RFC 8252 §7.3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    /// Where `/api/oauth/logout` may send the user after signing out (OpenID Connect
    /// RP-Initiated Logout 1.0 §2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A PKCE challenge on every authorization request (RFC 9700 §2.1.1). Public clients
    /// always need one, whatever this says.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub require_pkce: bool,
    /// Accept `code_challenge_method=plain` (RFC 7636 §4.2); off, only `S256`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_plain_pkce: bool,
    /// `skip` for first-party applications: no consent page.
    #[serde(default, skip_serializing_if = "is_default")]
    pub consent: ConsentMode,
    /// How this client's ID tokens are signed.
    #[serde(default, skip_serializing_if = "is_default")]
    pub id_token_signing_alg: SigningAlg,
    /// The client's JWT verification keys — for `private_key_jwt` authentication and for
    /// the assertions it signs itself under the JWT bearer grant (RFC 7523): a JWKS file,
    /// PEM public keys or certificates, and a JWKS URL fetched off the workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub public_key_files: Vec<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Token requests this client may make, as a token bucket (counted after it
    /// authenticated); none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitConfig>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub username: String,
    #[serde(default)]
    pub password: Option<Redacted<String>>,
    /// An argon2id PHC string (`tessera hash-secret --argon2`).
    #[serde(default)]
    pub password_hash: Option<String>,
    /// OpenID Connect claims of this user (`name`, `email`, …), released by userinfo and
    /// ID tokens when the granted scopes allow them (OpenID Connect Core §5.4).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, String>,
}

/// Written out by hand only for `require_pkce`, whose default is `true`.
impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            id: String::new(),
            secret: None,
            secret_hash: None,
            auth_method: AuthMethod::default(),
            grant_types: Vec::new(),
            scopes: Vec::new(),
            default_scopes: None,
            refresh_policy: None,
            access_token_ttl_secs: None,
            access_token_length: None,
            refresh_token_ttl_secs: None,
            refresh_token_length: None,
            metadata: BTreeMap::new(),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            require_pkce: true,
            allow_plain_pkce: false,
            consent: ConsentMode::default(),
            id_token_signing_alg: SigningAlg::default(),
            jwks_file: None,
            public_key_files: Vec::new(),
            jwks_uri: None,
            rate_limit: None,
        }
    }
}

/// Client secrets shorter than this (22 characters of a 64-symbol alphabet, about 128 bits)
/// get a warning: they are hashed with a fast keyed hash (HMAC-SHA256), which is right for
/// long random secrets and weak against offline guessing of short ones.
pub const MIN_SECRET_LENGTH: usize = 22;

/// The warning for a client secret of `len` characters, named `what`.
pub fn weak_secret_warning(what: &str, len: usize) -> String {
    format!(
        "{what} is {len} characters; secrets under {MIN_SECRET_LENGTH} characters (about 128 \
         bits) are weak, since they are stored with a fast keyed hash; use a random secret of \
         32 characters (`tessera client add` generates one)"
    )
}

impl Config {
    /// A warning for each plain client secret in the file shorter than
    /// [`MIN_SECRET_LENGTH`] (a `secret_hash` cannot be measured).
    pub fn weak_secrets(&self) -> Vec<String> {
        self.clients
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let len = c.secret.as_ref()?.chars().count();
                (len < MIN_SECRET_LENGTH)
                    .then(|| weak_secret_warning(&format!("clients[{i}].secret ({})", c.id), len))
            })
            .collect()
    }

    /// Checks a client that does not come from this file (one kept in a shared store),
    /// naming it `key` in errors.
    pub fn validate_client(&self, c: &ClientConfig, key: &str) -> Result<(), ConfigError> {
        c.validate(key)
    }
}

/// Checks every client and user of the file, and that ids and usernames are unique.
pub(super) fn validate_all(
    clients: &[ClientConfig],
    users: &[UserConfig],
) -> Result<(), ConfigError> {
    let mut ids = HashSet::new();
    for (i, c) in clients.iter().enumerate() {
        c.validate(&format!("clients[{i}]"))?;
        if !ids.insert(c.id.as_str()) {
            return Err(ConfigError::new(
                format!("clients[{i}].id"),
                format!("duplicate client id {:?}", c.id),
            ));
        }
    }
    let mut names = HashSet::new();
    for (i, u) in users.iter().enumerate() {
        let key = format!("users[{i}]");
        if u.username.is_empty() {
            return Err(ConfigError::new(
                format!("{key}.username"),
                "must not be empty",
            ));
        }
        if !names.insert(u.username.as_str()) {
            return Err(ConfigError::new(
                format!("{key}.username"),
                format!("duplicate username {:?}", u.username),
            ));
        }
        match (&u.password, &u.password_hash) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    format!("{key}.password_hash"),
                    "give either password or password_hash, not both",
                ))
            }
            (None, None) => {
                return Err(ConfigError::new(
                    format!("{key}.password"),
                    "a user needs password or password_hash",
                ))
            }
            (None, Some(h)) => {
                crate::oauth::secret::PasswordHash::parse_argon2(h)
                    .map_err(|m| ConfigError::new(format!("{key}.password_hash"), m))?;
            }
            (Some(_), None) => {}
        }
    }
    Ok(())
}

impl ClientConfig {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let k = |field: &str| format!("{key}.{field}");
        if self.id.is_empty() || self.id.chars().any(char::is_control) {
            return Err(ConfigError::new(
                k("id"),
                "must be non-empty without control characters",
            ));
        }
        match (self.auth_method, &self.secret, &self.secret_hash) {
            (AuthMethod::None | AuthMethod::PrivateKeyJwt, None, None) => {}
            (AuthMethod::PrivateKeyJwt, _, _) => {
                return Err(ConfigError::new(
                    k("secret"),
                    "a private_key_jwt client authenticates with its keys and has no secret",
                ))
            }
            (AuthMethod::ClientSecretJwt, _, Some(_)) => {
                return Err(ConfigError::new(
                    k("secret_hash"),
                    "client_secret_jwt needs the secret in clear (`secret`): HS256 is keyed \
                     with the secret itself, which a hash cannot give back",
                ))
            }
            (AuthMethod::ClientSecretJwt, Some(s), None)
                if s.len() < crate::oauth::jose::jws::MIN_HS256_SECRET =>
            {
                return Err(ConfigError::new(
                    k("secret"),
                    format!(
                        "client_secret_jwt needs a secret of at least {} bytes (RFC 7518 §3.2: \
                         an HS256 key as long as the hash)",
                        crate::oauth::jose::jws::MIN_HS256_SECRET
                    ),
                ))
            }
            (AuthMethod::None, _, _) => {
                return Err(ConfigError::new(
                    k("secret"),
                    "a public client (auth_method = \"none\") has no secret",
                ))
            }
            (_, Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    k("secret_hash"),
                    "give either secret or secret_hash, not both",
                ))
            }
            (_, None, None) => {
                return Err(ConfigError::new(
                    k("secret"),
                    "a confidential client needs secret or secret_hash",
                ))
            }
            (_, None, Some(h)) => {
                crate::oauth::secret::SecretHash::parse(h)
                    .map_err(|m| ConfigError::new(k("secret_hash"), m))?;
            }
            (_, Some(s), None) if s.is_empty() => {
                return Err(ConfigError::new(k("secret"), "must not be empty"))
            }
            (_, Some(_), None) => {}
        }
        if let Some(limit) = &self.rate_limit {
            limit.validate(&k("rate_limit"))?;
            // A public client proves nothing before its bucket would be charged: anyone who
            // knows its id could use the limit up and lock its real users out.
            if self.auth_method == AuthMethod::None {
                return Err(ConfigError::new(
                    k("rate_limit"),
                    "a public client (auth_method = \"none\") cannot have a rate limit: anyone knowing its id could use it up; limit by address ([security] rate_limit_per_address) instead",
                ));
            }
        }
        if self.grant_types.is_empty() {
            return Err(ConfigError::new(
                k("grant_types"),
                "must name at least one grant type",
            ));
        }
        // RFC 6749 §4.4: the client credentials grant is for confidential clients only.
        if self.auth_method == AuthMethod::None
            && self.grant_types.contains(&GrantType::ClientCredentials)
        {
            return Err(ConfigError::new(
                k("grant_types"),
                "client_credentials needs a confidential client (RFC 6749 §4.4), not auth_method = \"none\"",
            ));
        }
        // RFC 7521 §4.2 lets a client present an assertion without authenticating; here the
        // assertion grants are for confidential clients, so a stolen assertion alone (a
        // bearer credential) is not enough.
        if self.auth_method == AuthMethod::None {
            if let Some(g) = self
                .grant_types
                .iter()
                .find(|g| matches!(g, GrantType::JwtBearer | GrantType::Saml2Bearer))
            {
                return Err(ConfigError::new(
                    k("grant_types"),
                    format!(
                        "{} needs a confidential client, not auth_method = \"none\"",
                        g.as_str()
                    ),
                ));
            }
        }
        let mut seen = HashSet::new();
        for (i, s) in self.scopes.iter().enumerate() {
            if !crate::oauth::scope::is_scope_token(s) {
                return Err(ConfigError::new(
                    format!("{key}.scopes[{i}]"),
                    format!("{s:?} is not a valid scope token (RFC 6749 §3.3)"),
                ));
            }
            if !seen.insert(s.as_str()) {
                return Err(ConfigError::new(
                    format!("{key}.scopes[{i}]"),
                    format!("duplicate scope {s:?}"),
                ));
            }
        }
        if let Some(defaults) = &self.default_scopes {
            if let Some(bad) = defaults.iter().find(|d| !self.scopes.contains(d)) {
                return Err(ConfigError::new(
                    k("default_scopes"),
                    format!("{bad:?} is not one of the client's scopes"),
                ));
            }
        }
        if let Some(n) = self.access_token_length {
            check_length(&k("access_token_length"), n)?;
        }
        if let Some(n) = self.refresh_token_length {
            check_length(&k("refresh_token_length"), n)?;
        }
        if let Some(n) = self.access_token_ttl_secs {
            check_ttl(&k("access_token_ttl_secs"), n)?;
        }
        if let Some(n) = self.refresh_token_ttl_secs {
            check_ttl(&k("refresh_token_ttl_secs"), n)?;
        }
        for name in self.metadata.keys() {
            if name.is_empty() || RESERVED_METADATA_NAMES.contains(&name.as_str()) {
                return Err(ConfigError::new(
                    format!("{key}.metadata.{name}"),
                    "metadata names must be non-empty and must not shadow a response field",
                ));
            }
        }
        self.validate_browser_flows(key)?;
        self.validate_keys(key)
    }

    /// The key sources of `private_key_jwt` and of self-signed JWT bearer assertions.
    fn validate_keys(&self, key: &str) -> Result<(), ConfigError> {
        let sources = self.key_sources();
        if self.auth_method == AuthMethod::PrivateKeyJwt && sources.is_empty() {
            return Err(ConfigError::new(
                format!("{key}.jwks_file"),
                "a private_key_jwt client needs jwks_file, public_key_files or jwks_uri",
            ));
        }
        sources.check(key)
    }

    /// Where this client's JWT verification keys come from.
    pub fn key_sources(&self) -> super::assertions::KeySources<'_> {
        super::assertions::KeySources {
            jwks_file: self.jwks_file.as_deref(),
            public_key_files: &self.public_key_files,
            jwks_uri: self.jwks_uri.as_deref(),
        }
    }

    /// The settings of the authorize path: redirect URIs, and the grants that need them.
    fn validate_browser_flows(&self, key: &str) -> Result<(), ConfigError> {
        for (field, uris) in [
            ("redirect_uris", &self.redirect_uris),
            ("post_logout_redirect_uris", &self.post_logout_redirect_uris),
        ] {
            for (i, uri) in uris.iter().enumerate() {
                crate::oauth::redirect::check_registered(uri)
                    .map_err(|m| ConfigError::new(format!("{key}.{field}[{i}]"), m))?;
            }
        }
        let browser = self
            .grant_types
            .iter()
            .any(|g| matches!(g, GrantType::AuthorizationCode | GrantType::Implicit));
        if browser && self.redirect_uris.is_empty() {
            return Err(ConfigError::new(
                format!("{key}.redirect_uris"),
                "the authorization_code and implicit grants need at least one redirect URI (RFC 6749 §3.1.2)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::load::err_at;
    use super::Config;

    #[test]
    fn client_secrets_under_22_characters_are_warned_about_without_echoing_them() {
        let c = Config::parse(
            r#"
[[clients]]
id = "a"
secret = "short-secret"
grant_types = ["client_credentials"]
[[clients]]
id = "b"
secret = "exactly-22-characters!"
grant_types = ["client_credentials"]
"#,
        )
        .expect("config");
        let w = c.weak_secrets();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("clients[0].secret (a) is 12 characters"),
            "{w:?}"
        );
        assert!(!w[0].contains("short-secret"));
    }

    const CLIENT: &str =
        "[[clients]]\nid = \"a\"\nsecret = \"s\"\ngrant_types = [\"client_credentials\"]\n";

    #[test]
    fn bad_values_in_a_client_name_the_client_and_key() {
        for (text, key) in [
            (
                format!("{CLIENT}scopes = [\"read\"]\ndefault_scopes = [\"write\"]\n"),
                "clients[0].default_scopes",
            ),
            (
                format!("{CLIENT}metadata = {{ scope = \"x\" }}\n"),
                "clients[0].metadata.scope",
            ),
            (format!("{CLIENT}{CLIENT}"), "clients[1].id"),
            (
                "[[clients]]\nid = \"a\"\nauth_method = \"none\"\n\
                 grant_types = [\"client_credentials\"]\n"
                    .to_owned(),
                "clients[0].grant_types",
            ),
        ] {
            err_at(&text, key);
        }
    }

    #[test]
    fn a_bad_grant_type_names_the_client_index() {
        let text = format!(
            "{CLIENT}[[clients]]\nid = \"b\"\nsecret = \"s\"\ngrant_types = [\"warp_drive\"]\n"
        );
        let e = super::super::Config::parse(&text).expect_err("warp_drive");
        assert!(e.key.starts_with("clients[1].grant_types"), "{e}");
    }

    #[test]
    fn browser_grants_need_a_registered_redirect_uri_without_fragment() {
        let web =
            "[[clients]]\nid = \"w\"\nsecret = \"s\"\ngrant_types = [\"authorization_code\"]\n";
        err_at(web, "clients[0].redirect_uris");
        err_at(
            &format!("{web}redirect_uris = [\"https://app.example/cb#frag\"]\n"),
            "clients[0].redirect_uris[0]",
        );
        err_at(
            &format!("{web}redirect_uris = [\"/relative/cb\"]\n"),
            "clients[0].redirect_uris[0]",
        );
        err_at(
            &format!("{web}redirect_uris = [\"https://app.example/cb\"]\npost_logout_redirect_uris = [\"no scheme\"]\n"),
            "clients[0].post_logout_redirect_uris[0]",
        );
        let ok = Config::parse(&format!(
            "{web}redirect_uris = [\"https://app.example/cb\", \"com.example.app:/cb\", \"http://127.0.0.1/cb\"]\n"
        ));
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn issue_15_a_client_rate_limit_is_a_per_second_and_burst_table_off_by_default() {
        let c = Config::parse(&format!(
            "{CLIENT}[[clients]]\nid = \"b\"\nsecret = \"s\"\ngrant_types = [\"client_credentials\"]\n\
             rate_limit = {{ per_second = 100, burst = 200 }}\n"
        ))
        .expect("config");
        assert_eq!(c.clients[0].rate_limit, None);
        assert_eq!(
            c.clients[1].rate_limit,
            Some(super::RateLimitConfig {
                per_second: 100,
                burst: 200
            })
        );
    }

    #[test]
    fn issue_15_bad_client_rate_limits_name_the_client_index_and_key() {
        let second =
            "[[clients]]\nid = \"b\"\nsecret = \"s\"\ngrant_types = [\"client_credentials\"]\n";
        for (table, key) in [
            (
                "{ per_second = 0, burst = 10 }",
                "clients[1].rate_limit.per_second",
            ),
            (
                "{ per_second = 10, burst = 0 }",
                "clients[1].rate_limit.burst",
            ),
            (
                "{ per_second = 2000000, burst = 10 }",
                "clients[1].rate_limit.per_second",
            ),
            (
                "{ per_second = 10, burst = 2000000 }",
                "clients[1].rate_limit.burst",
            ),
            (
                "{ per_second = -1, burst = 10 }",
                "clients[1].rate_limit.per_second",
            ),
        ] {
            err_at(&format!("{CLIENT}{second}rate_limit = {table}\n"), key);
        }
    }

    #[test]
    fn issue_15_a_public_client_cannot_have_a_rate_limit_strangers_could_use_up() {
        err_at(
            "[[clients]]\nid = \"spa\"\nauth_method = \"none\"\ngrant_types = [\"authorization_code\"]\nredirect_uris = [\"https://app.example/cb\"]\nrate_limit = { per_second = 5, burst = 5 }\n",
            "clients[0].rate_limit",
        );
    }

    #[test]
    fn issue_15_a_stored_client_keeps_its_rate_limit_through_json() {
        let c = super::ClientConfig {
            id: "s".into(),
            secret_hash: Some(crate::oauth::secret::SecretHash::new(b"s").to_string()),
            grant_types: vec![super::GrantType::ClientCredentials],
            rate_limit: Some(super::RateLimitConfig {
                per_second: 5,
                burst: 7,
            }),
            ..super::ClientConfig::default()
        };
        let json = serde_json::to_string(&c).expect("json");
        assert!(
            json.contains(r#""rate_limit":{"per_second":5,"burst":7}"#),
            "{json}"
        );
        let back: super::ClientConfig = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, c);
        let none = super::ClientConfig {
            rate_limit: None,
            ..c
        };
        let json = serde_json::to_string(&none).expect("json");
        assert!(!json.contains("rate_limit"), "{json}");
        let bad = super::ClientConfig {
            rate_limit: Some(super::RateLimitConfig {
                per_second: 0,
                burst: 1,
            }),
            ..none
        };
        let e = Config::default()
            .validate_client(&bad, "store client s")
            .expect_err("per_second 0");
        assert_eq!(e.key, "store client s.rate_limit.per_second");
    }

    #[test]
    fn users_need_exactly_one_password_and_a_unique_name() {
        err_at("[[users]]\nusername = \"a\"\n", "users[0].password");
        let u = "[[users]]\nusername = \"a\"\npassword = \"p\"\n";
        err_at(&format!("{u}{u}"), "users[1].username");
    }
}
