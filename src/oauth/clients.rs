//! Clients as the decisions see them: an id, how it authenticates, what it may do, and the
//! token settings its overrides produce. Built by `crate::registry` from configuration and
//! from the clients kept in a shared store; here they are plain data with no I/O.

use super::jose::Keys;
use super::secret::{Redacted, SecretHash};
use super::types::{AuthMethod, ConsentMode, GrantType, RefreshPolicy, SigningAlg};
use crate::ratelimit::ClientLimit;
use std::collections::HashMap;
use std::sync::Arc;
use tessera_storage::Sym;

/// Token settings after per-client overrides are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSettings {
    pub access_ttl: u32,
    pub access_length: usize,
    pub refresh_ttl: u32,
    pub refresh_length: usize,
    pub refresh_policy: RefreshPolicy,
}

/// The grant types a client may use, as a fixed-size set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GrantSet([bool; GrantType::ALL.len()]);

impl GrantSet {
    pub fn of(grants: &[GrantType]) -> GrantSet {
        let mut set = [false; GrantType::ALL.len()];
        for g in grants {
            set[g.index()] = true;
        }
        GrantSet(set)
    }

    pub fn contains(&self, grant: GrantType) -> bool {
        self.0[grant.index()]
    }
}

#[derive(Debug)]
pub struct Client {
    pub id: Box<str>,
    pub sym: Sym,
    /// The client's metrics index (stable for the life of the process).
    pub index: usize,
    pub auth_method: AuthMethod,
    /// `None` for public clients. Its `Debug` shows nothing of the hash.
    pub secret: Option<SecretHash>,
    pub grants: GrantSet,
    pub scopes: Vec<Box<str>>,
    pub default_scope: Sym,
    pub tokens: TokenSettings,
    /// The metadata object stored with each token, encoded and interned.
    pub meta: Option<Sym>,
    /// The authorize path: where responses may go ([`super::redirect`]).
    pub redirect_uris: Vec<Box<str>>,
    pub post_logout_redirect_uris: Vec<Box<str>>,
    /// A PKCE challenge on every code request (public clients need one regardless).
    pub require_pkce: bool,
    pub allow_plain_pkce: bool,
    pub consent: ConsentMode,
    pub id_token_alg: SigningAlg,
    /// The client's JWT verification keys (`private_key_jwt`, self-signed JWT bearer
    /// assertions); `None` when it registered none.
    pub keys: Option<Arc<Keys>>,
    /// `client_secret_jwt` only: the secret itself, the HS256 key (a hash cannot key an
    /// HMAC). Its `Debug` is `<redacted>`.
    pub jwt_secret: Option<Redacted<Box<[u8]>>>,
    /// The token endpoint's limit for this client and its bucket, which outlives this
    /// registry (see [`crate::ratelimit`]); `None`: unlimited.
    pub rate_limit: Option<ClientLimit>,
}

impl Client {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grants.contains(grant)
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

/// Every client the server knows, looked up by id.
#[derive(Debug)]
pub struct Clients {
    list: Vec<Client>,
    by_id: HashMap<Box<str>, usize>,
    /// Position + 1 in `list` by client symbol index (0: no such client). Symbols are
    /// dense small integers, so this is one bounds-checked load per token lookup.
    by_sym: Vec<u32>,
    /// Verified against when a client id is unknown, so the response time does not tell
    /// whether the id exists.
    decoy: SecretHash,
}

impl Clients {
    /// The registry of `list`; the first client of an id wins.
    pub fn new(list: Vec<Client>) -> Clients {
        let mut by_id = HashMap::with_capacity(list.len());
        let mut kept = Vec::with_capacity(list.len());
        let mut by_sym = Vec::new();
        for c in list {
            if by_id.contains_key(&c.id) {
                continue;
            }
            let at = c.sym.index() as usize;
            if by_sym.len() <= at {
                by_sym.resize(at + 1, 0);
            }
            by_sym[at] = kept.len() as u32 + 1;
            by_id.insert(c.id.clone(), kept.len());
            kept.push(c);
        }
        Clients {
            list: kept,
            by_id,
            by_sym,
            decoy: SecretHash::new(b"decoy"),
        }
    }

    /// The client a token record names, if it still exists.
    pub fn by_sym(&self, sym: Sym) -> Option<&Client> {
        match self.by_sym.get(sym.index() as usize) {
            Some(&n) if n > 0 => self.list.get(n as usize - 1),
            _ => None,
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

/// Clients for the decisions' unit tests, built without configuration.
#[cfg(test)]
pub mod fixtures {
    use super::*;
    use tessera_storage::Interner;

    /// The gateway's defaults: 54/3600 s access, 46/43200 s refresh, `rotate`.
    pub const DEFAULT_TOKENS: TokenSettings = TokenSettings {
        access_ttl: 3600,
        access_length: 54,
        refresh_ttl: 43_200,
        refresh_length: 46,
        refresh_policy: RefreshPolicy::Rotate,
    };

    /// A client `id` with secret `"{id}-secret"` (unless public), the given grants,
    /// scopes `read write admin` (all by default) and the default token settings.
    pub fn client(
        id: &str,
        auth_method: AuthMethod,
        grants: &[GrantType],
        syms: &Interner,
        scopes: &Interner,
    ) -> Client {
        let names = ["read", "write", "admin"];
        Client {
            id: id.into(),
            sym: syms.intern(id),
            index: 0,
            auth_method,
            secret: (auth_method != AuthMethod::None)
                .then(|| SecretHash::new(format!("{id}-secret").as_bytes())),
            grants: GrantSet::of(grants),
            scopes: names.iter().map(|s| (*s).into()).collect(),
            default_scope: scopes.intern(&names.join(" ")),
            tokens: DEFAULT_TOKENS,
            meta: None,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            require_pkce: true,
            allow_plain_pkce: false,
            consent: ConsentMode::Prompt,
            id_token_alg: SigningAlg::RS256,
            keys: None,
            jwt_secret: None,
            rate_limit: None,
        }
    }
}
