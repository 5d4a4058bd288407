//! The state every worker shares: configuration, registries, the token table, interners,
//! the store and its write-behind, the password-hash pool, the brute-force guard, the
//! per-address rate limit and metrics. Built once at start-up by [`crate::startup`] — including the table's recovery
//! from the store — then only read (the table, interners, registries, guard and writer
//! synchronise internally).
//!
//! This module only holds and hands out; it opens nothing and starts no thread.

use crate::cluster::read_through::{ReadThrough, Tokens};
use crate::cluster::sync::Node;
use crate::codes::CodeTable;
use crate::config::Config;
use crate::guard::Guard;
use crate::http::admission::AddressTable;
use crate::metrics::Metrics;
use crate::oauth::clients::Clients;
use crate::oauth::issuers::Issuers;
use crate::oauth::OAuthError;
use crate::oidc::discovery::Documents;
use crate::oidc::keys::KeySet;
use crate::pages::Pages;
use crate::ratelimit::AddressLimiter;
use crate::registry::password_pool::PasswordPool;
use crate::registry::users::Users;
use crate::registry::Registry;
use crate::writes::Writes;
use arc_swap::ArcSwap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tessera_storage::store::{SharedStore, Store};
use tessera_storage::writer::WriteBehind;
use tessera_storage::{Symbols, TokenTable};

#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub table: TokenTable,
    /// Clients and users; replaced whole when those kept in a shared store change.
    pub registry: Registry,
    /// Read-through to a shared store; `None` unless the store is shared.
    pub read_through: Option<Arc<ReadThrough>>,
    pub syms: Arc<Symbols>,
    /// The persistent store, if the configuration has one.
    pub store: Option<Arc<dyn Store>>,
    /// Where clients and users made at run time are kept (`crate::manage::directory`): the
    /// store, or for `kind = "memory"` a memory store of its own.
    pub directory: Arc<dyn Store>,
    /// Carries table changes to `store`; `None` for `kind = "memory"`.
    pub writer: Option<WriteBehind>,
    pub passwords: PasswordPool,
    /// Failed authentications and lockouts, per identity and address (`[security]`).
    pub guard: Guard,
    /// Open connections per source address, across workers (`max_connections_per_address`).
    pub addresses: Arc<AddressTable>,
    /// `[security] rate_limit_per_address`; `None` when there is none.
    pub address_limits: Option<AddressLimiter>,
    pub metrics: Metrics,
    /// Expired records reclaimed by the purge thread since start.
    pub purged_total: AtomicU64,
    /// This node's authorization codes (see [`crate::codes`]).
    pub codes: CodeTable,
    /// The authorize path's HTML pages (built-in or the operator's templates).
    pub pages: Pages,
    /// `iss` of ID tokens and authorization responses (RFC 9207).
    pub issuer: String,
    /// The discovery documents, built once.
    pub discovery: Documents,
    /// The OpenID Connect signing keys; replaced when a rotation reaches this node.
    pub keys: ArcSwap<KeySet>,
    /// The assertion grants' and JWT client authentication's rules and trusted issuers.
    pub assertions: Assertions,
    /// This node's name among the peers of a shared store: host name and listen address
    /// (and the process id when the port is 0).
    pub node_name: String,
    /// The main listener's TLS (`[server.tls]`), replaced on SIGHUP; `None`: plain HTTP.
    pub tls: Option<crate::tls::TlsState>,
    /// The admin listener's TLS (`[admin.tls]`), replaced on SIGHUP too.
    pub admin_tls: Option<crate::tls::TlsState>,
}

/// `[assertions]` and `[[assertion_issuers]]`, resolved at start-up.
#[derive(Debug)]
pub struct Assertions {
    /// What a JWT bearer or SAML assertion must be addressed to: `[assertions] audience`,
    /// by default the token endpoint URL.
    pub audience: String,
    /// What a client assertion may be addressed to (RFC 7523 §3 item 3, OpenID Connect
    /// Core §9): the audience, the issuer, and — per endpoint — the URL of the endpoint
    /// called (token, revoke, introspect), see [`Assertions::client_audiences`].
    audiences: [String; 5],
    pub skew: u64,
    pub max_lifetime: u64,
    pub issuers: Issuers,
}

impl Assertions {
    pub fn new(config: &Config, issuer: &str, issuers: Issuers) -> Assertions {
        let a = &config.assertions;
        let audience = a.audience_for(issuer);
        Assertions {
            audiences: [
                audience.clone(),
                issuer.to_owned(),
                format!("{issuer}/api/oauth/token"),
                format!("{issuer}/api/oauth/revoke"),
                format!("{issuer}/api/oauth/introspect"),
            ],
            audience,
            skew: u64::from(a.clock_skew_secs),
            max_lifetime: u64::from(a.max_lifetime_secs),
            issuers,
        }
    }

    /// The audiences a client assertion sent to `path` may name: an assertion made for
    /// one endpoint is not accepted at another.
    pub fn client_audiences(&self, path: &str) -> [&str; 3] {
        let own = match path {
            "/api/oauth/revoke" => &self.audiences[3],
            "/api/oauth/introspect" => &self.audiences[4],
            _ => &self.audiences[2],
        };
        [&self.audiences[0], &self.audiences[1], own]
    }

    /// The time rules at `now` (Unix seconds).
    pub fn time(&self, now: u32) -> crate::oauth::jose::TimeRules {
        crate::oauth::jose::TimeRules {
            now: u64::from(now),
            skew: self.skew,
            max_lifetime: self.max_lifetime,
        }
    }
}

impl App {
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The current signing keys.
    pub fn signing_keys(&self) -> Arc<KeySet> {
        self.keys.load_full()
    }

    /// The current client registry.
    pub fn clients(&self) -> Arc<Clients> {
        self.registry.clients()
    }

    pub fn users(&self) -> Arc<Users> {
        self.registry.users()
    }

    /// Starts one request's token changes (503 when the store's queue is full).
    pub fn begin_writes(&self) -> Result<Writes<'_>, OAuthError> {
        Writes::begin(
            &self.table,
            self.writer.as_ref(),
            self.read_through.as_deref(),
            std::time::Duration::from_millis(self.config.store.durable_wait_ms),
        )
    }

    /// The store several nodes share, if this node has one.
    pub fn shared_store(&self) -> Option<&dyn SharedStore> {
        self.store.as_ref()?.shared()
    }

    /// Where lookups read: the table, and the shared store behind it if there is one.
    pub fn tokens(&self) -> Tokens<'_> {
        let shared = self.store.as_ref().and_then(|s| s.shared());
        Tokens {
            table: &self.table,
            shared: shared.zip(self.read_through.as_deref()),
            syms: &self.syms,
        }
    }

    /// What the cluster thread keeps in step with the other nodes; `None` unless the store
    /// is shared.
    pub fn cluster_node(&self) -> Option<Node<'_>> {
        let store = self.store.as_deref()?;
        Some(Node {
            table: &self.table,
            store,
            shared: store.shared()?,
            config: &self.config,
            registry: &self.registry,
            keys: &self.keys,
            name: &self.node_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::oauth::grants::{client_credentials, password};
    use crate::oauth::params::Params;
    use crate::state::App;

    const CLIENT_SECRET: &str = "client-secret-never-printed-42";
    const USER_PASSWORD: &str = "user-password-never-printed-42";
    const DB_PASSWORD: &str = "db-password-never-printed-42";

    fn config() -> Config {
        Config::parse(&format!(
            r#"
[store]
kind = "memory"
[store.cassandra]
username = "tessera"
password = "{DB_PASSWORD}"
[store.postgres]
url = "postgres://tessera:{DB_PASSWORD}@127.0.0.1:5432/tessera"
[store.mysql]
url = "mysql://tessera:{DB_PASSWORD}@127.0.0.1:3306/tessera"
[[clients]]
id = "app"
secret = "{CLIENT_SECRET}"
grant_types = ["client_credentials", "password", "refresh_token"]
scopes = ["read"]
[[users]]
username = "alice"
password = "{USER_PASSWORD}"
"#
        ))
        .expect("config")
    }

    #[test]
    fn debug_of_configuration_and_state_never_prints_a_secret_password_or_token() {
        let config = config();
        let shown = format!("{config:?}");
        for secret in [CLIENT_SECRET, USER_PASSWORD, DB_PASSWORD] {
            assert!(!shown.contains(secret), "config Debug shows {secret}");
        }
        #[cfg(feature = "cassandra")]
        {
            let opts = format!("{:?}", config.store.cassandra_options());
            assert!(
                !opts.contains(DB_PASSWORD),
                "driver options show the password"
            );
        }
        #[cfg(feature = "sql")]
        for (dialect, section) in [
            (crate::config::SqlDialect::Postgres, &config.store.postgres),
            (crate::config::SqlDialect::Mysql, &config.store.mysql),
        ] {
            let opts = section.options(dialect);
            for shown in [format!("{opts:?}"), opts.redacted_url()] {
                assert!(
                    !shown.contains(DB_PASSWORD),
                    "SQL driver options show the password"
                );
            }
        }

        let app = App::new(config, 1).expect("app");
        let clients = app.clients();
        let client = clients.get("app").expect("client");
        let mut writes = app.begin_writes().expect("writes");
        let p = Params::parse(b"grant_type=client_credentials").expect("params");
        let access = client_credentials::grant(&mut writes, &app.syms.scopes, client, &p, 10)
            .expect("issued");
        let alice = app.users().get("alice").map(|u| u.sym);
        let pair =
            password::grant(&mut writes, client, client.default_scope, alice, 10).expect("issued");
        let refresh = pair.refresh.as_ref().expect("refresh").as_str().to_owned();
        for (what, shown) in [
            ("app", format!("{app:?}")),
            ("writes", format!("{writes:?}")),
            ("issued", format!("{access:?} {pair:?}")),
        ] {
            for secret in [
                CLIENT_SECRET,
                USER_PASSWORD,
                DB_PASSWORD,
                access.access.as_str(),
                pair.access.as_str(),
                refresh.as_str(),
            ] {
                assert!(
                    !shown.contains(secret),
                    "{what} Debug shows a secret or token"
                );
            }
        }
    }
}
