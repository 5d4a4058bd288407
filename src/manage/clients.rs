//! Clients as the admin API speaks of them — RFC 7591 §2 metadata names (`client_id`,
//! `redirect_uris`, `grant_types`, `response_types`, `scope`,
//! `token_endpoint_auth_method`, `jwks_uri`) plus Tessera's own (refresh policy, token
//! lifetimes and lengths, metadata, rate limit, consent) — and the operations on them.
//! Stored as the `ClientConfig` JSON `tessera client add` writes, so the API and the CLI
//! read each other's clients.
//!
//! A client of the configuration file can be read here, never changed: the file is the
//! operator's source of truth for it, and a stored client never overrides a configured one
//! (`crate::registry::clients`).

use super::directory::{Directory, Kind};
use super::{ManageError, Source};
use crate::config::{
    AuthMethod, ClientConfig, Config, ConsentMode, GrantType, RateLimitConfig, RefreshPolicy,
    SigningAlg, MIN_SECRET_LENGTH,
};
use crate::oauth::secret::{Redacted, SecretHash};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Length of a generated client secret (about 190 bits).
pub const GENERATED_SECRET_LENGTH: usize = 32;
/// Length of a generated client id.
const GENERATED_ID_LENGTH: usize = 22;

/// A client's metadata as POST and PUT send it (RFC 7591 §2, RFC 7592 §2.2). The
/// read-only fields of a representation (`source`, `client_id_issued_at`,
/// `client_secret_expires_at`) are accepted and ignored, so a representation read with GET
/// can be changed and sent back.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ClientRequest {
    pub client_id: Option<String>,
    /// Optional on creation (generated when absent); refused by PUT (rotate instead).
    pub client_secret: Option<Redacted<String>>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// RFC 7591 §2: `["authorization_code"]` when absent.
    pub grant_types: Option<Vec<GrantType>>,
    /// Must agree with `grant_types` (RFC 7591 §2.1): `code` ⇔ authorization_code,
    /// `token` ⇔ implicit.
    pub response_types: Option<Vec<String>>,
    /// Space-separated scope values the client may request.
    pub scope: Option<String>,
    /// RFC 7591 §2: `client_secret_basic` when absent.
    pub token_endpoint_auth_method: Option<AuthMethod>,
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Space-separated; granted when a request names no scope (default: all of `scope`).
    pub default_scope: Option<String>,
    pub refresh_policy: Option<RefreshPolicy>,
    pub access_token_lifetime_secs: Option<u32>,
    pub refresh_token_lifetime_secs: Option<u32>,
    pub access_token_length: Option<usize>,
    pub refresh_token_length: Option<usize>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub rate_limit: Option<RateLimitConfig>,
    #[serde(default)]
    pub consent: ConsentMode,
    #[serde(default)]
    pub id_token_signed_response_alg: SigningAlg,
    #[serde(default, rename = "source")]
    _source: Option<IgnoredAny>,
    #[serde(default, rename = "client_id_issued_at")]
    _issued_at: Option<IgnoredAny>,
    #[serde(default, rename = "client_secret_expires_at")]
    _secret_expires_at: Option<IgnoredAny>,
}

impl std::fmt::Debug for ClientRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRequest")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A client as the API shows it (never its secret or its hash).
#[derive(Debug, Serialize)]
pub struct ClientView {
    pub client_id: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub response_types: Vec<&'static str>,
    pub scope: String,
    pub token_endpoint_auth_method: AuthMethod,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_policy: Option<RefreshPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_lifetime_secs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_lifetime_secs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_length: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_length: Option<usize>,
    pub metadata: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitConfig>,
    pub consent: ConsentMode,
    pub id_token_signed_response_alg: SigningAlg,
    pub source: Source,
}

impl ClientView {
    pub fn of(c: &ClientConfig, source: Source) -> ClientView {
        let response_types = c
            .grant_types
            .iter()
            .filter_map(|g| match g {
                GrantType::AuthorizationCode => Some("code"),
                GrantType::Implicit => Some("token"),
                _ => None,
            })
            .collect();
        ClientView {
            client_id: c.id.clone(),
            redirect_uris: c.redirect_uris.clone(),
            grant_types: c.grant_types.clone(),
            response_types,
            scope: c.scopes.join(" "),
            token_endpoint_auth_method: c.auth_method,
            jwks_uri: c.jwks_uri.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            default_scope: c.default_scopes.as_ref().map(|s| s.join(" ")),
            refresh_policy: c.refresh_policy,
            access_token_lifetime_secs: c.access_token_ttl_secs,
            refresh_token_lifetime_secs: c.refresh_token_ttl_secs,
            access_token_length: c.access_token_length,
            refresh_token_length: c.refresh_token_length,
            metadata: c.metadata.clone(),
            rate_limit: c.rate_limit,
            consent: c.consent,
            id_token_signed_response_alg: c.id_token_signing_alg,
            source,
        }
    }
}

/// A client just created, or whose secret was just rotated: the secret in clear, shown
/// once (only its hash is stored).
#[derive(Debug)]
pub struct WithSecret {
    pub client: ClientConfig,
    pub secret: Option<Redacted<String>>,
}

/// Every client: the configuration file's, then the directory's (sorted by id), each with
/// where it is defined. A directory entry that does not parse is left out (the server
/// ignores it too, with a warning).
pub fn list(
    dir: Directory<'_>,
    config: &Config,
) -> Result<Vec<(ClientConfig, Source)>, ManageError> {
    let mut all: Vec<(ClientConfig, Source)> = config
        .clients
        .iter()
        .map(|c| (c.clone(), Source::Config))
        .collect();
    for (id, spec) in dir.list(Kind::Clients)? {
        if config.clients.iter().any(|c| c.id == id) {
            continue;
        }
        if let Ok(c) = serde_json::from_str::<ClientConfig>(&spec) {
            all.push((c, Source::Store));
        }
    }
    all.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    Ok(all)
}

/// The client `id`, and where it is defined.
pub fn get(
    dir: Directory<'_>,
    config: &Config,
    id: &str,
) -> Result<(ClientConfig, Source), ManageError> {
    if let Some(c) = config.clients.iter().find(|c| c.id == id) {
        return Ok((c.clone(), Source::Config));
    }
    stored(dir, id).map(|c| (c, Source::Store))
}

/// The stored client `id`.
fn stored(dir: Directory<'_>, id: &str) -> Result<ClientConfig, ManageError> {
    let spec = dir.get(Kind::Clients, id)?.ok_or_else(|| not_found(id))?;
    parse(id, &spec)
}

fn not_found(id: &str) -> ManageError {
    ManageError::NotFound(format!("no client {id:?}"))
}

/// The stored spec of client `id`.
fn parse(id: &str, spec: &str) -> Result<ClientConfig, ManageError> {
    serde_json::from_str(spec).map_err(|e| {
        ManageError::Store(tessera_storage::store::StoreError::Corrupt {
            message: format!("client {id:?}: {e}"),
        })
    })
}

fn to_spec(client: &ClientConfig) -> Result<String, ManageError> {
    serde_json::to_string(client).map_err(|e| ManageError::invalid(e.to_string()))
}

/// POST /admin/clients: a new client (RFC 7591 §3). The id and, for a confidential
/// client, the secret are generated when the request has none.
pub fn create(
    dir: Directory<'_>,
    config: &Config,
    req: ClientRequest,
) -> Result<WithSecret, ManageError> {
    let id = match req.client_id.as_deref() {
        Some(id) => id.to_owned(),
        None => generate(GENERATED_ID_LENGTH),
    };
    refuse_configured(config, &id)?;
    let mut client = from_request(&id, &req)?;
    let secret = if confidential(client.auth_method) {
        let secret = match req.client_secret {
            Some(s) if s.len() < MIN_SECRET_LENGTH => {
                return Err(ManageError::invalid(format!(
                    "client_secret: at least {MIN_SECRET_LENGTH} characters (about 128 bits); leave it out to have one generated"
                )))
            }
            Some(s) => s,
            None => Redacted(generate(GENERATED_SECRET_LENGTH)),
        };
        client.secret_hash = Some(SecretHash::new(secret.as_bytes()).to_string());
        Some(secret)
    } else {
        if req.client_secret.is_some() {
            return Err(ManageError::invalid(
                "client_secret: a client with token_endpoint_auth_method none or private_key_jwt has no secret",
            ));
        }
        None
    };
    validate(config, &client)?;
    // The store decides (Cassandra LWT, SQL primary key, a compare-and-set on one node):
    // a read then a write would let two nodes racing one id both answer 201, each with a
    // secret of its own, and the later write would silently replace the earlier client.
    let spec = to_spec(&client)?;
    if !dir.create(Kind::Clients, &id, &spec)? {
        return Err(ManageError::Conflict(format!(
            "client {id:?} already exists"
        )));
    }
    Ok(WithSecret { client, secret })
}

/// PUT /admin/clients/{id}: replaces every field but the secret (RFC 7592 §2.2).
pub fn replace(
    dir: Directory<'_>,
    config: &Config,
    id: &str,
    req: ClientRequest,
) -> Result<ClientConfig, ManageError> {
    refuse_configured(config, id)?;
    if req.client_secret.is_some() {
        return Err(ManageError::invalid(
            "client_secret cannot be set by PUT; rotate it with POST /admin/clients/{id}/secret",
        ));
    }
    if let Some(body_id) = &req.client_id {
        if body_id != id {
            return Err(ManageError::invalid(format!(
                "client_id {body_id:?} differs from the client in the path ({id:?})"
            )));
        }
    }
    let fresh = from_request(id, &req)?;
    super::update(
        dir,
        Kind::Clients,
        id,
        || not_found(id),
        |spec| {
            let old = parse(id, spec)?;
            let mut client = fresh.clone();
            client.secret_hash = match (confidential(client.auth_method), old.secret_hash) {
            (true, Some(hash)) => Some(hash),
            (true, None) => {
                return Err(ManageError::invalid(
                    "token_endpoint_auth_method: this client has no secret; create it again as a confidential client",
                ))
            }
            (false, _) => None,
        };
            validate(config, &client)?;
            let spec = to_spec(&client)?;
            Ok((client, spec))
        },
    )
}

/// DELETE /admin/clients/{id} and `tessera client remove`: the spec goes first, so nodes
/// stop issuing once they reload; revoking the tokens is the caller's next step.
/// `Ok(false)`: there was no such client in the store.
pub fn remove(dir: Directory<'_>, config: &Config, id: &str) -> Result<bool, ManageError> {
    refuse_configured(config, id)?;
    Ok(dir.remove(Kind::Clients, id)?)
}

/// POST /admin/clients/{id}/secret: a new generated secret; the old one stops working as
/// soon as each node has reloaded the client.
pub fn rotate_secret(
    dir: Directory<'_>,
    config: &Config,
    id: &str,
) -> Result<WithSecret, ManageError> {
    refuse_configured(config, id)?;
    let secret = Redacted(generate(GENERATED_SECRET_LENGTH));
    let hash = SecretHash::new(secret.as_bytes()).to_string();
    let client = super::update(
        dir,
        Kind::Clients,
        id,
        || not_found(id),
        |spec| {
            let mut client = parse(id, spec)?;
            if !confidential(client.auth_method) {
                return Err(ManageError::invalid(
                "this client (token_endpoint_auth_method none or private_key_jwt) has no secret",
            ));
            }
            client.secret_hash = Some(hash.clone());
            let spec = to_spec(&client)?;
            Ok((client, spec))
        },
    )?;
    Ok(WithSecret {
        client,
        secret: Some(secret),
    })
}

/// Stores `client`, replacing any: `tessera client add` (the API creates and replaces
/// through the store's conditional writes instead).
pub fn save(dir: Directory<'_>, client: &ClientConfig) -> Result<(), ManageError> {
    let spec = to_spec(client)?;
    dir.put(Kind::Clients, &client.id, &spec)?;
    Ok(())
}

/// The checks the server applies to every client, with RFC 7591's error codes and the
/// API's field names.
pub fn validate(config: &Config, client: &ClientConfig) -> Result<(), ManageError> {
    config.validate_client(client, "client").map_err(|e| {
        let field = api_field(e.key.strip_prefix("client.").unwrap_or(&e.key));
        let code = if field.contains("redirect_uris") {
            "invalid_redirect_uri"
        } else {
            "invalid_client_metadata"
        };
        ManageError::Invalid {
            code,
            message: format!("{field}: {}", e.message),
        }
    })
}

/// The configuration's name of a client field, as the API calls it.
fn api_field(key: &str) -> String {
    const NAMES: [(&str, &str); 9] = [
        ("id", "client_id"),
        ("secret_hash", "client_secret"),
        ("secret", "client_secret"),
        ("auth_method", "token_endpoint_auth_method"),
        ("scopes", "scope"),
        ("default_scopes", "default_scope"),
        ("access_token_ttl_secs", "access_token_lifetime_secs"),
        ("refresh_token_ttl_secs", "refresh_token_lifetime_secs"),
        ("id_token_signing_alg", "id_token_signed_response_alg"),
    ];
    let (head, tail) = key.find(['.', '[']).map_or((key, ""), |i| key.split_at(i));
    match NAMES.iter().find(|(from, _)| *from == head) {
        Some((_, to)) => format!("{to}{tail}"),
        None => key.to_owned(),
    }
}

fn refuse_configured(config: &Config, id: &str) -> Result<(), ManageError> {
    if config.clients.iter().any(|c| c.id == id) {
        return Err(ManageError::Conflict(format!(
            "client {id:?} is defined in the configuration file; change it there"
        )));
    }
    Ok(())
}

fn confidential(m: AuthMethod) -> bool {
    !matches!(m, AuthMethod::None | AuthMethod::PrivateKeyJwt)
}

fn generate(len: usize) -> String {
    crate::oauth::token_gen::TokenBuf::generate(len)
        .as_str()
        .to_owned()
}

/// The `ClientConfig` a request describes (without its secret).
fn from_request(id: &str, req: &ClientRequest) -> Result<ClientConfig, ManageError> {
    let grant_types = req
        .grant_types
        .clone()
        .unwrap_or_else(|| vec![GrantType::AuthorizationCode]);
    if let Some(types) = &req.response_types {
        for t in types {
            let needs = match t.as_str() {
                "code" => GrantType::AuthorizationCode,
                "token" => GrantType::Implicit,
                other => {
                    return Err(ManageError::invalid(format!(
                        "response_types: {other:?} is not supported (code, token)"
                    )))
                }
            };
            if !grant_types.contains(&needs) {
                return Err(ManageError::invalid(format!(
                    "response_types {t:?} needs grant type {} (RFC 7591 §2.1)",
                    needs.as_str()
                )));
            }
        }
        for (g, t) in [
            (GrantType::AuthorizationCode, "code"),
            (GrantType::Implicit, "token"),
        ] {
            if grant_types.contains(&g) && !types.iter().any(|x| x == t) {
                return Err(ManageError::invalid(format!(
                    "grant type {} needs response_types {t:?} (RFC 7591 §2.1)",
                    g.as_str()
                )));
            }
        }
    }
    let auth_method = req
        .token_endpoint_auth_method
        .unwrap_or(AuthMethod::ClientSecretBasic);
    if auth_method == AuthMethod::ClientSecretJwt {
        return Err(ManageError::invalid(
            "token_endpoint_auth_method: client_secret_jwt needs the secret in clear, which the store never keeps; use private_key_jwt, or configure such a client in the file",
        ));
    }
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    Ok(ClientConfig {
        id: id.to_owned(),
        secret: None,
        secret_hash: None,
        auth_method,
        grant_types,
        scopes: req.scope.as_deref().map(words).unwrap_or_default(),
        default_scopes: req.default_scope.as_deref().map(words),
        refresh_policy: req.refresh_policy,
        access_token_ttl_secs: req.access_token_lifetime_secs,
        access_token_length: req.access_token_length,
        refresh_token_ttl_secs: req.refresh_token_lifetime_secs,
        refresh_token_length: req.refresh_token_length,
        metadata: req.metadata.clone(),
        redirect_uris: req.redirect_uris.clone(),
        post_logout_redirect_uris: req.post_logout_redirect_uris.clone(),
        consent: req.consent,
        id_token_signing_alg: req.id_token_signed_response_alg,
        jwks_uri: req.jwks_uri.clone(),
        rate_limit: req.rate_limit,
        ..ClientConfig::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_storage::store::memory::MemoryStore;

    fn request(json: &str) -> ClientRequest {
        serde_json::from_str(json).expect("request")
    }

    fn config_with(id: &str) -> Config {
        Config::parse(&format!(
            "[[clients]]\nid = \"{id}\"\nsecret = \"configured-secret-0123456789abcdef\"\ngrant_types = [\"client_credentials\"]\n"
        ))
        .expect("config")
    }

    #[test]
    fn rfc7591_3_a_created_confidential_client_gets_a_generated_secret_stored_only_as_a_hash() {
        let store = MemoryStore::new();
        let dir = Directory::of(&store);
        let made = create(
            dir,
            &Config::default(),
            request(
                r#"{"client_id":"svc","grant_types":["client_credentials"],"scope":"read write"}"#,
            ),
        )
        .expect("create");
        let secret = made.secret.expect("secret");
        assert_eq!(secret.len(), GENERATED_SECRET_LENGTH);
        let spec = dir.get(Kind::Clients, "svc").expect("get").expect("stored");
        assert!(!spec.contains(secret.as_str()), "secret in clear: {spec}");
        let (stored, source) = get(dir, &Config::default(), "svc").expect("read back");
        assert_eq!(source, Source::Store);
        assert_eq!(stored.scopes, ["read", "write"]);
        let hash = SecretHash::parse(stored.secret_hash.as_deref().expect("hash")).expect("parse");
        assert!(hash.verify(secret.as_bytes()));
    }

    #[test]
    fn rfc7591_2_grant_types_default_to_authorization_code_and_need_a_redirect_uri() {
        let store = MemoryStore::new();
        let e = create(
            Directory::of(&store),
            &Config::default(),
            request(r#"{"client_id":"web"}"#),
        )
        .expect_err("no redirect uri");
        assert!(
            matches!(
                e,
                ManageError::Invalid {
                    code: "invalid_redirect_uri",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn rfc7591_2_1_response_types_must_agree_with_grant_types() {
        let store = MemoryStore::new();
        let e = create(
            Directory::of(&store),
            &Config::default(),
            request(r#"{"client_id":"c","grant_types":["client_credentials"],"response_types":["code"]}"#),
        )
        .expect_err("code without authorization_code");
        assert!(
            matches!(
                e,
                ManageError::Invalid {
                    code: "invalid_client_metadata",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn creating_an_existing_client_is_a_conflict_and_changes_nothing() {
        let store = MemoryStore::new();
        let dir = Directory::of(&store);
        let body = r#"{"client_id":"svc","grant_types":["client_credentials"]}"#;
        create(dir, &Config::default(), request(body)).expect("first");
        let before = dir.get(Kind::Clients, "svc").expect("get");
        let e = create(dir, &Config::default(), request(body)).expect_err("second");
        assert!(matches!(e, ManageError::Conflict(_)), "{e:?}");
        assert_eq!(dir.get(Kind::Clients, "svc").expect("get"), before);
    }

    #[test]
    fn a_client_of_the_configuration_file_is_read_only() {
        let store = MemoryStore::new();
        let dir = Directory::of(&store);
        let config = config_with("filed");
        let (_, source) = get(dir, &config, "filed").expect("readable");
        assert_eq!(source, Source::Config);
        let body = r#"{"grant_types":["client_credentials"]}"#;
        for e in [
            replace(dir, &config, "filed", request(body)).map(|_| ()),
            remove(dir, &config, "filed").map(|_| ()),
            rotate_secret(dir, &config, "filed").map(|_| ()),
            create(
                dir,
                &config,
                request(r#"{"client_id":"filed","grant_types":["client_credentials"]}"#),
            )
            .map(|_| ()),
        ] {
            assert!(matches!(e, Err(ManageError::Conflict(_))), "{e:?}");
        }
    }

    #[test]
    fn rfc7592_2_2_put_replaces_the_fields_and_keeps_the_secret() {
        let store = MemoryStore::new();
        let dir = Directory::of(&store);
        let made = create(
            dir,
            &Config::default(),
            request(r#"{"client_id":"svc","grant_types":["client_credentials"],"scope":"a b","metadata":{"tier":"gold"}}"#),
        )
        .expect("create");
        let replaced = replace(
            dir,
            &Config::default(),
            "svc",
            request(r#"{"grant_types":["client_credentials","password"],"scope":"c"}"#),
        )
        .expect("replace");
        assert_eq!(replaced.scopes, ["c"]);
        assert!(replaced.metadata.is_empty(), "omitted fields are reset");
        assert_eq!(replaced.secret_hash, made.client.secret_hash);
        let e = replace(
            dir,
            &Config::default(),
            "svc",
            request(r#"{"grant_types":["client_credentials"],"client_secret":"new-secret-0123456789abcdef"}"#),
        )
        .expect_err("secret by PUT");
        assert!(matches!(e, ManageError::Invalid { .. }), "{e:?}");
    }

    #[test]
    fn a_rotated_secret_replaces_the_old_one() {
        let store = MemoryStore::new();
        let dir = Directory::of(&store);
        let made = create(
            dir,
            &Config::default(),
            request(r#"{"client_id":"svc","grant_types":["client_credentials"]}"#),
        )
        .expect("create");
        let old = made.secret.expect("secret");
        let rotated = rotate_secret(dir, &Config::default(), "svc").expect("rotate");
        let new = rotated.secret.expect("new secret");
        assert_ne!(old.as_str(), new.as_str());
        let (stored, _) = get(dir, &Config::default(), "svc").expect("get");
        let hash = SecretHash::parse(stored.secret_hash.as_deref().expect("hash")).expect("parse");
        assert!(hash.verify(new.as_bytes()));
        assert!(!hash.verify(old.as_bytes()));
    }

    #[test]
    fn a_short_chosen_secret_and_a_secret_for_a_public_client_are_refused() {
        let store = MemoryStore::new();
        let dir = Directory::of(&store);
        let short = create(
            dir,
            &Config::default(),
            request(
                r#"{"client_id":"a","grant_types":["client_credentials"],"client_secret":"short"}"#,
            ),
        );
        assert!(matches!(short, Err(ManageError::Invalid { .. })));
        let public = create(
            dir,
            &Config::default(),
            request(
                r#"{"client_id":"b","grant_types":["password"],"token_endpoint_auth_method":"none","client_secret":"0123456789abcdef0123456789"}"#,
            ),
        );
        assert!(matches!(public, Err(ManageError::Invalid { .. })));
    }

    #[test]
    fn validation_errors_name_the_api_field() {
        assert_eq!(api_field("scopes[2]"), "scope[2]");
        assert_eq!(api_field("auth_method"), "token_endpoint_auth_method");
        assert_eq!(api_field("rate_limit.burst"), "rate_limit.burst");
    }

    #[test]
    fn a_representation_lists_response_types_from_grant_types_and_never_the_secret() {
        let hash = SecretHash::new(b"s").to_string();
        let c = ClientConfig {
            id: "web".to_owned(),
            secret_hash: Some(hash.clone()),
            grant_types: vec![
                GrantType::AuthorizationCode,
                GrantType::Implicit,
                GrantType::RefreshToken,
            ],
            ..ClientConfig::default()
        };
        let json = serde_json::to_string(&ClientView::of(&c, Source::Store)).expect("json");
        assert!(
            json.contains(r#""response_types":["code","token"]"#),
            "{json}"
        );
        assert!(!json.contains(&hash) && !json.contains("hmac"), "{json}");
        assert!(!json.contains("client_secret\""), "{json}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<ClientRequest>(r#"{"client_name":"x"}"#).is_err());
        assert!(serde_json::from_str::<ClientRequest>(
            r#"{"source":"store","client_id_issued_at":1}"#
        )
        .is_ok());
    }
}
