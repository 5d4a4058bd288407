//! The administrative commands that work on the configured store rather than on a
//! running server: `tessera migrate`, `tessera client add|list|remove`,
//! `tessera user add|list|remove|set-password`, and `tessera keys list|rotate` (the
//! OpenID Connect signing keys, in `admin/keys.rs`). Clients and users written here are served
//! by every node sharing the store within `revocation_propagation_ms`, without a restart.
//! Reading, validating and storing them is [`crate::manage`], which the admin API
//! (`crate::admin_api`) shares: a client made by either is read by both.
//!
//! Removing a client or user, or changing a password, also revokes tokens in the store
//! ([`SharedStore::revoke_owned`]), which every node then drops from memory. The order
//! matters: the spec is changed first, so nodes stop issuing once they reload it; the
//! tokens are revoked at once and again after [`settle`], which catches tokens a node
//! issued before its reload and wrote behind after the first scan.

use crate::config::{
    AuthMethod, ClientConfig, Config, ConsentMode, GrantType, RateLimitConfig, RefreshPolicy,
    SigningAlg, StoreKind,
};
use crate::manage::directory::{Directory, Kind};
use crate::manage::ManageError;
use crate::oauth::secret::SecretHash;
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use tessera_storage::store::{OwnedTokens, Owner, SharedStore, Store};

mod keys;
pub use self::keys::{keys, KeysCommand};

#[derive(Debug, Subcommand)]
// Parsed once per command line: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum ClientCommand {
    /// Add (or replace) a client in the store.
    Add {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        id: String,
        /// Read the client secret from the first line of standard input (stored only as its
        /// HMAC-SHA256 hash). Without it (and without `--secret`), a confidential client
        /// gets a generated 32-character secret, printed once.
        #[arg(long, conflicts_with = "secret")]
        secret_stdin: bool,
        /// The secret on the command line: visible in `ps` and shell history, so it is
        /// accepted with a warning. Prefer `--secret-stdin` or a generated secret.
        #[arg(long)]
        secret: Option<String>,
        /// Comma-separated: client_credentials, password, refresh_token,
        /// authorization_code, implicit, urn:ietf:params:oauth:grant-type:jwt-bearer,
        /// urn:ietf:params:oauth:grant-type:saml2-bearer.
        #[arg(long, value_delimiter = ',', required = true)]
        grant_types: Vec<String>,
        /// Space-separated scope tokens.
        #[arg(long, default_value = "")]
        scopes: String,
        /// Space-separated; default: all of --scopes.
        #[arg(long)]
        default_scopes: Option<String>,
        /// client_secret_basic (default), client_secret_post, private_key_jwt (needs
        /// --jwks-uri) or none. client_secret_jwt needs the secret in clear, which the
        /// store never keeps: configure such a client in the file.
        #[arg(long, default_value = "client_secret_basic")]
        auth_method: String,
        /// rotate, none or preserve; default: `tokens.refresh_policy`.
        #[arg(long)]
        refresh_policy: Option<String>,
        /// Comma-separated redirect URIs (the authorization_code and implicit grants).
        #[arg(long, value_delimiter = ',')]
        redirect_uris: Vec<String>,
        /// Comma-separated URIs `/api/oauth/logout` may redirect to.
        #[arg(long, value_delimiter = ',')]
        post_logout_redirect_uris: Vec<String>,
        /// prompt (default) or skip (a first-party application: no consent page).
        #[arg(long, default_value = "prompt")]
        consent: String,
        /// RS256 (default) or ES256.
        #[arg(long, default_value = "RS256")]
        id_token_signing_alg: String,
        /// The client's JWKS URL (private_key_jwt, self-signed JWT bearer assertions):
        /// fetched by every node, so it suits a client kept in a shared store better than
        /// a key file each node would need.
        #[arg(long)]
        jwks_uri: Option<String>,
        /// Token requests a second this client may make (its `rate_limit`'s
        /// `per_second`); default: no limit.
        #[arg(long)]
        rate_limit_per_second: Option<u32>,
        /// How many at once (`burst`); default: --rate-limit-per-second.
        #[arg(long, requires = "rate_limit_per_second")]
        rate_limit_burst: Option<u32>,
    },
    /// List the clients in the store.
    List {
        #[arg(long)]
        config: PathBuf,
    },
    /// Remove a client from the store and revoke every token issued to it, on every node.
    /// Waits until every node has reloaded the clients (about
    /// `revocation_propagation_ms`), then revokes again what was issued meanwhile. When the
    /// client is no longer in the store, its tokens are still revoked (so a failed removal
    /// can be retried) and the exit code is 2.
    Remove {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add (or replace) a resource owner in the store (password stored as argon2id).
    Add {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long, conflicts_with = "password")]
        password_stdin: bool,
        /// The password on the command line: visible in `ps` and shell history, so it is
        /// accepted with a warning. Prefer `--password-stdin`.
        #[arg(long)]
        password: Option<String>,
        /// An OpenID Connect claim of the user, `name=value` (repeatable): released by
        /// userinfo and ID tokens per scope, like `users[].claims` in the configuration.
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
    },
    /// List the usernames in the store.
    List {
        #[arg(long)]
        config: PathBuf,
    },
    /// Remove a resource owner from the store and revoke every token issued on their behalf,
    /// on every node; waits and revokes again as `client remove` does.
    Remove {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        username: String,
    },
    /// Replace a resource owner's password (read from the first line of standard input,
    /// stored as argon2id), then revoke the user's refresh tokens with every access token
    /// of their grants, on every node. Waits until every node has the new password (about
    /// `revocation_propagation_ms`) and revokes again, so tokens obtained with the old
    /// password in the meantime go too; log in with the new password once it returns.
    SetPassword {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        username: String,
    },
}

/// Length of a generated client secret: 32 characters of a 64-symbol alphabet, 192 bits.
const GENERATED_SECRET_LENGTH: usize = 32;

/// Where a secret comes from on the command line.
fn secret_from(
    flag: &str,
    on_command_line: Option<String>,
    from_stdin: bool,
) -> Result<Option<String>, String> {
    if let Some(s) = on_command_line {
        eprintln!(
            "tessera: warning: --{flag} puts the secret in the process list and shell history; \
             use --{flag}-stdin instead"
        );
        return Ok(Some(s));
    }
    if !from_stdin {
        return Ok(None);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the {flag} from standard input: {e}"))?;
    let secret = line.trim_end_matches(['\r', '\n']).to_owned();
    if secret.is_empty() {
        return Err(format!("--{flag}-stdin: standard input held no {flag}"));
    }
    Ok(Some(secret))
}

/// Exit codes: 0 done, 1 store failure, 2 bad input or configuration.
fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("tessera: {msg}");
    ExitCode::from(code)
}

fn load(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| fail(2, format_args!("{}: {e}", path.display())))
}

/// `tessera migrate`: creates the keyspace and tables of the configured Cassandra store, or
/// creates or upgrades the schema of the configured SQL database (idempotent; several nodes
/// may run it at once).
pub fn migrate(path: &Path) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    #[cfg(feature = "sql")]
    if let Some(opts) = config.store.sql_options() {
        return match tessera_storage::store::sql::SqlStore::migrate(&opts) {
            Ok(m) => {
                println!(
                    "schema of {} at version {} ({})",
                    opts.redacted_url(),
                    m.to,
                    migrated(m.from, m.to)
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(1, e),
        };
    }
    match config.store.kind {
        #[cfg(feature = "cassandra")]
        StoreKind::Cassandra => {
            use tessera_storage::store::cassandra::CassandraStore;
            let opts = config.store.cassandra_options();
            match CassandraStore::migrate(&opts, &config.store.cassandra.replication) {
                Ok(n) => {
                    println!(
                        "schema applied to keyspace {} ({n} statements)",
                        config.store.cassandra.keyspace
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(1, e),
            }
        }
        // With the `sql` feature these were migrated above.
        StoreKind::Postgres | StoreKind::Mysql => fail(1, crate::startup::no_sql_support(&config)),
        _ => {
            println!(
                "store.kind = \"{}\" keeps its own layout; nothing to migrate",
                config.store.kind.name()
            );
            ExitCode::SUCCESS
        }
    }
}

/// What `tessera migrate` did to a SQL schema, from the version it found.
#[cfg_attr(not(feature = "sql"), allow(dead_code))]
fn migrated(from: Option<u32>, to: u32) -> String {
    match from {
        None => "created".to_owned(),
        Some(v) if v == to => "already current".to_owned(),
        Some(v) => format!("upgraded from {v}"),
    }
}

/// Loads the configuration at `path`, opens its store, and runs `f` on the store's shared
/// side. Only a shared store (`kind = "cassandra"`, `"postgres"` or `"mysql"`) keeps
/// clients and users.
fn with_shared(path: &Path, f: impl FnOnce(&Config, &dyn SharedStore) -> ExitCode) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let store: Arc<dyn Store> = match open_shared(&config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match store.shared() {
        Some(shared) => f(&config, shared),
        None => fail(2, "the store is not shared"),
    }
}

/// Opens the configured shared store (Cassandra or SQL) for a command that works on it
/// beside the running nodes; any other kind keeps no clients or users.
fn open_shared(config: &Config) -> Result<Arc<dyn Store>, ExitCode> {
    #[cfg(feature = "sql")]
    if let Some(opts) = config.store.sql_options() {
        return match tessera_storage::store::sql::SqlStore::open(&opts) {
            Ok(s) => Ok(Arc::new(s)),
            Err(e) => Err(fail(1, e)),
        };
    }
    match config.store.kind {
        #[cfg(feature = "cassandra")]
        StoreKind::Cassandra => {
            let opts = config.store.cassandra_options();
            match tessera_storage::store::cassandra::CassandraStore::open(&opts) {
                Ok(s) => Ok(Arc::new(s)),
                Err(e) => Err(fail(1, e)),
            }
        }
        #[cfg(not(feature = "cassandra"))]
        StoreKind::Cassandra => Err(fail(
            1,
            "this build of Tessera has no Cassandra support (built without the `cassandra` feature)",
        )),
        // With the `sql` feature these were opened above.
        StoreKind::Postgres | StoreKind::Mysql => {
            Err(fail(1, crate::startup::no_sql_support(config)))
        }
        StoreKind::Rocksdb | StoreKind::Memory => Err(fail(
            2,
            "clients and users can be kept in the store only with a shared store \
             (store.kind = \"cassandra\", \"postgres\" or \"mysql\"); otherwise list them \
             in the configuration file",
        )),
    }
}

/// Exit code for the outcome of one store operation, printing `done` on success.
fn finish(result: Result<(), impl std::fmt::Display>, done: impl FnOnce()) -> ExitCode {
    match result {
        Ok(()) => {
            done();
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, e),
    }
}

pub use crate::manage::settle;

/// Revokes `which` tokens of `owner` now and again after [`settle`]; prints each count.
/// `Err` holds the exit code of a store failure.
fn revoke_twice(
    config: &Config,
    shared: &dyn SharedStore,
    owner: Owner<'_>,
    which: OwnedTokens,
    what: &str,
) -> Result<(), ExitCode> {
    let now = || crate::clock::now_secs();
    let first = shared
        .revoke_owned(owner, which, now())
        .map_err(|e| fail(1, format_args!("revoking the {what}: {e}")))?;
    println!("revoked {first} {what}");
    let wait = settle(config);
    println!(
        "waiting {} ms for every node to reload, then revoking again",
        wait.as_millis()
    );
    std::thread::sleep(wait);
    let second = shared
        .revoke_owned(owner, which, now())
        .map_err(|e| fail(1, format_args!("revoking the {what} again: {e}")))?;
    println!("revoked {second} more {what} issued before every node had reloaded");
    Ok(())
}

/// `client remove` / `user remove`: the spec first (nodes stop issuing once they reload),
/// then the tokens, also when there was no spec (a retry after a failed revocation).
/// Exit code 2 when there was no such entry.
fn removal(
    config: &Config,
    shared: &dyn SharedStore,
    removed: Result<bool, ManageError>,
    owner: Owner<'_>,
    what: &str,
) -> ExitCode {
    let name = match owner {
        Owner::Client(name) | Owner::User(name) => name,
    };
    let existed = match removed {
        Ok(existed) => existed,
        Err(e @ ManageError::Conflict(_)) => return fail(2, e),
        Err(e) => return fail(1, e),
    };
    if existed {
        println!("{what} {name} removed");
    } else {
        eprintln!("tessera: no {what} {name:?} in the store; revoking any tokens left of it");
    }
    let tokens = format!("tokens of {what} {name}");
    if let Err(code) = revoke_twice(config, shared, owner, OwnedTokens::All, &tokens) {
        return code;
    }
    if existed {
        ExitCode::SUCCESS
    } else {
        fail(2, format_args!("no {what} {name:?} in the store"))
    }
}

pub fn client(cmd: ClientCommand) -> ExitCode {
    match cmd {
        ClientCommand::Add {
            config,
            id,
            secret_stdin,
            secret,
            grant_types,
            scopes,
            default_scopes,
            auth_method,
            refresh_policy,
            redirect_uris,
            post_logout_redirect_uris,
            consent,
            id_token_signing_alg,
            jwks_uri,
            rate_limit_per_second,
            rate_limit_burst,
        } => {
            let given = match secret_from("secret", secret, secret_stdin) {
                Ok(s) => s,
                Err(e) => return fail(2, e),
            };
            let public = auth_method == "none" || auth_method == "private_key_jwt";
            if public && given.is_some() {
                return fail(
                    2,
                    "a public client (--auth-method none) or a private_key_jwt client has no secret",
                );
            }
            let generated = (!public && given.is_none()).then(|| {
                crate::oauth::token_gen::TokenBuf::generate(GENERATED_SECRET_LENGTH)
                    .as_str()
                    .to_owned()
            });
            if let Some(s) = &given {
                if s.len() < crate::config::MIN_SECRET_LENGTH {
                    eprintln!(
                        "tessera: warning: {}",
                        crate::config::weak_secret_warning("the secret", s.len())
                    );
                }
            }
            let secret = given.or_else(|| generated.clone());
            let client = match client_spec(
                &id,
                secret.as_deref(),
                &grant_types,
                &scopes,
                default_scopes.as_deref(),
                &auth_method,
                refresh_policy.as_deref(),
            )
            .and_then(|mut c| {
                c.redirect_uris = redirect_uris;
                c.post_logout_redirect_uris = post_logout_redirect_uris;
                c.jwks_uri = jwks_uri;
                c.rate_limit = rate_limit_per_second.map(|per_second| RateLimitConfig {
                    per_second,
                    burst: rate_limit_burst.unwrap_or(per_second),
                });
                c.consent = match consent.as_str() {
                    "prompt" => ConsentMode::Prompt,
                    "skip" => ConsentMode::Skip,
                    other => return Err(format!("--consent {other:?}: use prompt or skip")),
                };
                c.id_token_signing_alg =
                    SigningAlg::parse(&id_token_signing_alg).ok_or_else(|| {
                        format!(
                            "--id-token-signing-alg {id_token_signing_alg:?}: use RS256 or ES256"
                        )
                    })?;
                Ok(c)
            }) {
                Ok(c) => c,
                Err(e) => return fail(2, e),
            };
            with_shared(&config, |cfg, shared| {
                if let Err(e) = crate::manage::clients::validate(cfg, &client) {
                    return fail(2, e);
                }
                let saved = crate::manage::clients::save(Directory::Shared(shared), &client);
                finish(saved, || {
                    println!("client {id} saved");
                    if let Some(s) = &generated {
                        // Shown once: only its hash is stored.
                        println!("client_secret: {s}");
                    }
                })
            })
        }
        ClientCommand::List { config } => with_shared(&config, |_, shared| {
            let list = match Directory::Shared(shared).list(Kind::Clients) {
                Ok(l) => l,
                Err(e) => return fail(1, e),
            };
            for (id, spec) in list {
                let summary = serde_json::from_str::<ClientConfig>(&spec)
                    .map(|c| {
                        let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
                        let limit = c.rate_limit.map_or(String::new(), |l| {
                            format!(" rate_limit={}/s,burst={}", l.per_second, l.burst)
                        });
                        format!(
                            "grant_types={} scopes={:?}{limit}",
                            grants.join(","),
                            c.scopes.join(" ")
                        )
                    })
                    .unwrap_or_else(|e| format!("(invalid spec: {e})"));
                println!("{id}\t{summary}");
            }
            ExitCode::SUCCESS
        }),
        ClientCommand::Remove { config, id } => with_shared(&config, |cfg, shared| {
            let removed = crate::manage::clients::remove(Directory::Shared(shared), cfg, &id);
            removal(cfg, shared, removed, Owner::Client(&id), "client")
        }),
    }
}

/// Builds a client's spec from the command line; the secret is hashed here.
fn client_spec(
    id: &str,
    secret: Option<&str>,
    grant_types: &[String],
    scopes: &str,
    default_scopes: Option<&str>,
    auth_method: &str,
    refresh_policy: Option<&str>,
) -> Result<ClientConfig, String> {
    let auth_method = match auth_method {
        "client_secret_basic" => AuthMethod::ClientSecretBasic,
        "client_secret_post" => AuthMethod::ClientSecretPost,
        "none" => AuthMethod::None,
        "private_key_jwt" => AuthMethod::PrivateKeyJwt,
        other => {
            return Err(format!(
                "--auth-method {other:?}: use client_secret_basic, client_secret_post, private_key_jwt or none"
            ))
        }
    };
    let grant_types = grant_types
        .iter()
        .map(|g| match g.trim() {
            "implicit" => Ok(GrantType::Implicit),
            other => GrantType::from_wire(other).ok_or_else(|| {
                format!(
                    "--grant-types: {other:?} is not one of client_credentials, password, \
                     refresh_token, authorization_code, implicit, \
                     urn:ietf:params:oauth:grant-type:jwt-bearer, \
                     urn:ietf:params:oauth:grant-type:saml2-bearer"
                )
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let refresh_policy = match refresh_policy {
        None => None,
        Some("rotate") => Some(RefreshPolicy::Rotate),
        Some("none") => Some(RefreshPolicy::None),
        Some("preserve") => Some(RefreshPolicy::Preserve),
        Some(other) => {
            return Err(format!(
                "--refresh-policy {other:?}: use rotate, none or preserve"
            ))
        }
    };
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    Ok(ClientConfig {
        id: id.to_owned(),
        secret: None,
        secret_hash: secret.map(|s| SecretHash::new(s.as_bytes()).to_string()),
        auth_method,
        grant_types,
        scopes: words(scopes),
        default_scopes: default_scopes.map(words),
        refresh_policy,
        ..ClientConfig::default()
    })
}

pub fn user(cmd: UserCommand) -> ExitCode {
    match cmd {
        UserCommand::Add {
            config,
            username,
            password_stdin,
            password,
            claims,
        } => {
            let mut claim_map = std::collections::BTreeMap::new();
            for c in &claims {
                match c.split_once('=') {
                    Some((name, value)) if !name.is_empty() => {
                        claim_map.insert(name.to_owned(), value.to_owned());
                    }
                    _ => return fail(2, format_args!("--claim {c:?}: use NAME=VALUE")),
                }
            }
            let password = match secret_from("password", password, password_stdin) {
                Ok(Some(p)) => p,
                Ok(None) => return fail(2, "give the password with --password-stdin"),
                Err(e) => return fail(2, e),
            };
            if username.is_empty() || password.is_empty() {
                return fail(2, "--username and the password must not be empty");
            }
            with_shared(&config, |_, shared| {
                match save_user(shared, &username, &password, claim_map.clone()) {
                    Ok(()) => {
                        println!("user {username} saved");
                        ExitCode::SUCCESS
                    }
                    Err(code) => code,
                }
            })
        }
        UserCommand::List { config } => with_shared(&config, |_, shared| {
            let list = match Directory::Shared(shared).list(Kind::Users) {
                Ok(l) => l,
                Err(e) => return fail(1, e),
            };
            for (name, _) in list {
                println!("{name}");
            }
            ExitCode::SUCCESS
        }),
        UserCommand::Remove { config, username } => with_shared(&config, |cfg, shared| {
            let removed = crate::manage::users::remove(Directory::Shared(shared), cfg, &username);
            removal(cfg, shared, removed, Owner::User(&username), "user")
        }),
        UserCommand::SetPassword { config, username } => {
            let password = match secret_from("password", None, true) {
                Ok(Some(p)) => p,
                Ok(None) => return fail(2, "give the new password on standard input"),
                Err(e) => return fail(2, e),
            };
            with_shared(&config, |cfg, shared| {
                // The user's claims stay as they were; only the password changes.
                let claims = match crate::manage::users::get(Directory::Shared(shared), cfg, &username) {
                    Ok((u, crate::manage::Source::Store)) => u.claims,
                    Ok((_, crate::manage::Source::Config)) => {
                        return fail(2, format_args!("user {username:?} is defined in the configuration file; change it there"))
                    }
                    Err(ManageError::NotFound(_)) => {
                        return fail(2, format_args!("no user {username:?} in the store"))
                    }
                    Err(e) => return fail(1, e),
                };
                if let Err(code) = save_user(shared, &username, &password, claims) {
                    return code;
                }
                println!("password of user {username} changed");
                let tokens = format!("refresh tokens (with their grants) of user {username}");
                match revoke_twice(
                    cfg,
                    shared,
                    Owner::User(&username),
                    OwnedTokens::RefreshGrants,
                    &tokens,
                ) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(code) => code,
                }
            })
        }
    }
}

/// Stores `username` with the argon2id hash of `password` and `claims` (replacing any
/// spec), as the admin API does.
fn save_user(
    shared: &dyn SharedStore,
    username: &str,
    password: &str,
    claims: std::collections::BTreeMap<String, String>,
) -> Result<(), ExitCode> {
    crate::manage::users::save(Directory::Shared(shared), username, password, claims)
        .map(|_| ())
        .map_err(|e| fail(1, e))
}
