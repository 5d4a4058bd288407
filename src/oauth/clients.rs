//! The client registry: every client the server knows, looked up by id.
//!
//! Built once from the configuration. Secrets are hashed at load ([`SecretHash`]); the
//! plain text from a development config is dropped with the config. Each client's default
//! scope set and metadata are interned here, so issuing a token with defaults costs no
//! string work at all.

use super::scope;
use super::secret::SecretHash;
use crate::config::{ClientConfig, Config};
use crate::oauth::types::{AuthMethod, GrantType, RefreshPolicy};
use std::collections::HashMap;
use tessera_storage::{Interner, Sym};

/// Token settings after per-client overrides are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSettings {
    pub access_ttl: u32,
    pub access_length: usize,
    pub refresh_ttl: u32,
    pub refresh_length: usize,
    pub refresh_policy: RefreshPolicy,
}

#[derive(Debug)]
pub struct Client {
    pub id: Box<str>,
    pub sym: Sym,
    /// The client's metrics index (stable for the life of the process).
    pub index: usize,
    pub auth_method: AuthMethod,
    secret: Option<SecretHash>,
    grants: [bool; GrantType::ALL.len()],
    pub scopes: Vec<Box<str>>,
    pub default_scope: Sym,
    pub tokens: TokenSettings,
    /// The metadata object stored with each token, interned.
    pub meta: Option<Sym>,
}

impl Client {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grants[grant.index()]
    }

    /// Constant-time check of a presented secret. Public clients have none to check.
    pub fn verify_secret(&self, secret: &[u8]) -> bool {
        self.secret.as_ref().is_some_and(|h| h.verify(secret))
    }

    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    pub fn scope_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.scopes.iter().map(|s| &**s)
    }
}

#[derive(Debug)]
pub struct Clients {
    list: Vec<Client>,
    by_id: HashMap<Box<str>, usize>,
    /// Verified against when a client id is unknown, so the response time does not tell
    /// whether the id exists.
    decoy: SecretHash,
}

/// Stable metric indices for client ids: a client keeps its index for the life of the
/// process, also when clients kept in the store come and go.
#[derive(Debug, Default)]
pub struct ClientIndices {
    by_id: HashMap<String, usize>,
}

impl ClientIndices {
    fn index(&mut self, id: &str) -> usize {
        let next = self.by_id.len();
        *self.by_id.entry(id.to_owned()).or_insert(next)
    }
}

impl Clients {
    pub fn from_config(
        config: &Config,
        client_syms: &Interner,
        scopes: &Interner,
        meta: &Interner,
    ) -> Clients {
        Clients::build(
            config,
            &[],
            &mut ClientIndices::default(),
            client_syms,
            scopes,
            meta,
        )
    }

    /// The configuration's clients plus `stored` ones (kept in a shared store). A stored
    /// client with the id of a configured one is ignored: the file wins.
    pub fn build(
        config: &Config,
        stored: &[ClientConfig],
        indices: &mut ClientIndices,
        client_syms: &Interner,
        scopes: &Interner,
        meta: &Interner,
    ) -> Clients {
        let mut list = Vec::with_capacity(config.clients.len() + stored.len());
        let mut by_id = HashMap::with_capacity(config.clients.len() + stored.len());
        for c in config.clients.iter().chain(stored) {
            if by_id.contains_key(c.id.as_str()) {
                continue;
            }
            by_id.insert(c.id.clone().into_boxed_str(), list.len());
            let index = indices.index(&c.id);
            list.push(build(index, c, config, client_syms, scopes, meta));
        }
        Clients {
            list,
            by_id,
            decoy: SecretHash::new(b"decoy"),
        }
    }

    pub fn get(&self, id: &str) -> Option<&Client> {
        self.by_id.get(id).map(|&i| &self.list[i])
    }

    /// Burns the time of one secret check; used when the client id is unknown.
    pub fn decoy_check(&self, secret: &[u8]) {
        let _ = self.decoy.verify(secret);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Client> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

fn build(
    index: usize,
    c: &ClientConfig,
    config: &Config,
    syms: &Interner,
    scopes: &Interner,
    meta: &Interner,
) -> Client {
    let t = &config.tokens;
    let secret = match (&c.secret, &c.secret_hash) {
        (Some(plain), _) => Some(SecretHash::new(plain.as_bytes())),
        // Validation already parsed it; a failure here cannot happen on a validated config.
        (None, Some(h)) => SecretHash::parse(h).ok(),
        (None, None) => None,
    };
    let mut grants = [false; GrantType::ALL.len()];
    for g in &c.grant_types {
        grants[g.index()] = true;
    }
    let default_scope = scope::intern_list(scopes, c.default_scopes.as_ref().unwrap_or(&c.scopes));
    let meta = (!c.metadata.is_empty()).then(|| {
        let mut out = Vec::new();
        let mut o = crate::http::json::JsonObject::new(&mut out);
        for (name, value) in &c.metadata {
            o.named_str(name, value);
        }
        o.finish();
        meta.intern(&String::from_utf8_lossy(&out))
    });
    Client {
        id: c.id.clone().into_boxed_str(),
        sym: syms.intern(&c.id),
        index,
        auth_method: c.auth_method,
        secret,
        grants,
        scopes: c
            .scopes
            .iter()
            .map(|s| s.clone().into_boxed_str())
            .collect(),
        default_scope,
        tokens: TokenSettings {
            access_ttl: c.access_token_ttl_secs.unwrap_or(t.access_token_ttl_secs),
            access_length: c.access_token_length.unwrap_or(t.access_token_length),
            refresh_ttl: c.refresh_token_ttl_secs.unwrap_or(t.refresh_token_ttl_secs),
            refresh_length: c.refresh_token_length.unwrap_or(t.refresh_token_length),
            refresh_policy: c.refresh_policy.unwrap_or(t.refresh_policy),
        },
        meta,
    }
}
