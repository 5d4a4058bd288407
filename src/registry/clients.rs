//! Builds the client registry ([`Clients`]) from the configuration's `[[clients]]` and the
//! clients kept in a shared store.
//!
//! Secrets are hashed at load ([`SecretHash`]); the plain text from a development config is
//! dropped with the config. Each client's default scope set and metadata are interned
//! here, so issuing a token with defaults costs no string work at all. May touch the
//! configuration types and the interners; reads JWT key files through [`KeyCache`].

use super::keys::KeyCache;
use crate::config::{ClientConfig, Config};
use crate::oauth::clients::{Client, Clients, GrantSet, TokenSettings};
use crate::oauth::scope;
use crate::oauth::secret::{Redacted, SecretHash};
use crate::oauth::types::AuthMethod;
use crate::ratelimit::{Bucket, ClientLimit, Rate};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tessera_storage::{Interner, Symbols};

/// What a client id keeps for the life of the process, also when clients kept in the store
/// come and go and the registry is rebuilt: its metrics index and its rate-limit bucket
/// (so a registry swap neither resets a client's bucket nor loses its metrics). One entry
/// per client id ever registered.
#[derive(Debug, Default)]
pub struct ClientIndices {
    by_id: HashMap<String, (usize, Arc<Bucket>)>,
}

impl ClientIndices {
    fn index(&mut self, id: &str) -> (usize, &Arc<Bucket>) {
        let next = self.by_id.len();
        let (index, bucket) = self
            .by_id
            .entry(id.to_owned())
            .or_insert_with(|| (next, Arc::default()));
        (*index, bucket)
    }
}

/// The configuration's clients plus `stored` ones (kept in a shared store). A stored
/// client with the id of a configured one is ignored: the file wins.
pub fn build(
    config: &Config,
    stored: &[ClientConfig],
    indices: &mut ClientIndices,
    syms: &Symbols,
    keys: &KeyCache,
) -> Clients {
    let mut seen = HashSet::with_capacity(config.clients.len() + stored.len());
    let list = config
        .clients
        .iter()
        .chain(stored)
        .filter(|c| seen.insert(c.id.as_str()))
        .map(|c| {
            let (index, bucket) = indices.index(&c.id);
            let limit = c.rate_limit.map(|l| ClientLimit {
                rate: Rate::new(l.per_second, l.burst),
                bucket: Arc::clone(bucket),
            });
            client(index, limit, c, config, syms, keys)
        })
        .collect();
    Clients::new(list)
}

/// The configuration's clients alone.
pub fn from_config(config: &Config, syms: &Symbols) -> Clients {
    build(
        config,
        &[],
        &mut ClientIndices::default(),
        syms,
        &KeyCache::new(),
    )
}

fn client(
    index: usize,
    rate_limit: Option<ClientLimit>,
    c: &ClientConfig,
    config: &Config,
    syms: &Symbols,
    keys: &KeyCache,
) -> Client {
    let t = &config.tokens;
    let secret = match (&c.secret, &c.secret_hash) {
        (Some(plain), _) => Some(SecretHash::new(plain.as_bytes())),
        // Validation already parsed it; a failure here cannot happen on a validated config.
        (None, Some(h)) => SecretHash::parse(h).ok(),
        (None, None) => None,
    };
    let default_scope =
        scope::intern_list(&syms.scopes, c.default_scopes.as_ref().unwrap_or(&c.scopes));
    Client {
        id: c.id.clone().into_boxed_str(),
        sym: syms.clients.intern(&c.id),
        index,
        auth_method: c.auth_method,
        secret,
        grants: GrantSet::of(&c.grant_types),
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
        meta: metadata(c, &syms.meta),
        redirect_uris: boxed(&c.redirect_uris),
        post_logout_redirect_uris: boxed(&c.post_logout_redirect_uris),
        require_pkce: c.require_pkce,
        allow_plain_pkce: c.allow_plain_pkce,
        consent: c.consent,
        id_token_alg: c.id_token_signing_alg,
        keys: keys.client_keys(c),
        jwt_secret: (c.auth_method == AuthMethod::ClientSecretJwt)
            .then(|| c.secret.as_ref().map(|s| Redacted(s.as_bytes().into())))
            .flatten(),
        rate_limit,
    }
}

fn boxed(list: &[String]) -> Vec<Box<str>> {
    list.iter().map(|s| s.as_str().into()).collect()
}

/// The client's metadata as the JSON object stored with each token (`{"name":"value"}`,
/// names in order), interned; `None` when it has none.
fn metadata(c: &ClientConfig, meta: &Interner) -> Option<tessera_storage::Sym> {
    if c.metadata.is_empty() {
        return None;
    }
    // A map of strings always serializes; the fallback keeps this total.
    let encoded = serde_json::to_string(&c.metadata).unwrap_or_else(|_| "{}".to_owned());
    Some(meta.intern(&encoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_stored_as_an_escaped_json_object_in_name_order() {
        let config = Config::parse(
            r#"
[[clients]]
id = "m"
secret = "m-secret-long-enough-1234"
grant_types = ["client_credentials"]
metadata = { zone = "eu \"west\"", dept = "Eng\n" }
"#,
        )
        .expect("config");
        let syms = Symbols::default();
        let clients = from_config(&config, &syms);
        let meta = clients.get("m").and_then(|c| c.meta).expect("meta");
        assert_eq!(
            syms.meta.with(meta, str::to_owned),
            r#"{"dept":"Eng\n","zone":"eu \"west\""}"#
        );
    }

    #[test]
    fn a_stored_client_never_replaces_a_configured_one_and_indices_are_stable() {
        let config = Config::parse(
            r#"
[[clients]]
id = "a"
secret = "a-secret-long-enough-1234"
grant_types = ["client_credentials"]
"#,
        )
        .expect("config");
        let stored = ClientConfig {
            id: "a".into(),
            auth_method: crate::oauth::types::AuthMethod::None,
            grant_types: vec![crate::oauth::types::GrantType::Password],
            ..ClientConfig::default()
        };
        let extra = ClientConfig {
            id: "b".into(),
            ..stored.clone()
        };
        let syms = Symbols::default();
        let mut indices = ClientIndices::default();
        let keys = KeyCache::new();
        let first = build(
            &config,
            &[stored.clone(), extra.clone()],
            &mut indices,
            &syms,
            &keys,
        );
        let a = first.get("a").expect("a");
        assert!(!a.is_public(), "the file's client wins");
        assert_eq!(first.len(), 2);
        let second = build(&config, &[extra], &mut indices, &syms, &keys);
        assert_eq!(
            second.get("b").map(|c| c.index),
            first.get("b").map(|c| c.index)
        );
    }

    #[test]
    fn issue_15_a_stored_clients_bucket_survives_a_registry_rebuild_and_a_changed_limit() {
        use crate::config::RateLimitConfig;
        use crate::ratelimit::Verdict;
        let config = Config::default();
        let limited = |per_second, burst| ClientConfig {
            id: "s".into(),
            secret_hash: Some(SecretHash::new(b"s").to_string()),
            grant_types: vec![crate::oauth::types::GrantType::ClientCredentials],
            rate_limit: Some(RateLimitConfig { per_second, burst }),
            ..ClientConfig::default()
        };
        let syms = Symbols::default();
        let mut indices = ClientIndices::default();
        let keys = KeyCache::new();
        let first = build(&config, &[limited(1, 2)], &mut indices, &syms, &keys);
        let limit = first
            .get("s")
            .and_then(|c| c.rate_limit.clone())
            .expect("limit");
        assert_eq!(limit.check(0), Verdict::Allowed);
        assert_eq!(limit.check(0), Verdict::Allowed);
        // Reloaded from the store, with a wider burst: the same bucket, one more token.
        let second = build(&config, &[limited(1, 3)], &mut indices, &syms, &keys);
        let limit = second
            .get("s")
            .and_then(|c| c.rate_limit.clone())
            .expect("limit");
        assert_eq!(limit.check(0), Verdict::Allowed);
        assert!(matches!(limit.check(0), Verdict::Limited { .. }));
        // Without a limit, no bucket is consulted at all.
        let unlimited = ClientConfig {
            rate_limit: None,
            ..limited(1, 1)
        };
        let third = build(&config, &[unlimited], &mut indices, &syms, &keys);
        assert!(third.get("s").is_some_and(|c| c.rate_limit.is_none()));
    }
}
