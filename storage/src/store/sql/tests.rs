//! Against the real PostgreSQL and MariaDB that `tests/services/postgres.sh start` and
//! `tests/services/mysql.sh start` run (URLs in `TESSERA_POSTGRES_URL` and
//! `TESSERA_MYSQL_URL`, defaults below). Every test runs on both.
//!
//! Touches only places of its own: a PostgreSQL schema or a MariaDB database named after
//! the test and this process, created here and dropped at the end.

use super::*;
use crate::conformance;
use crate::record::TokenKind;
use crate::store::{Mutation, OwnedTokens, Owner, Revoked};
use schema::Upgrade;
use sqlx::Executor;
use std::sync::Arc;

const POSTGRES_URL: &str = "postgres://tessera:tessera-secret@127.0.0.1:55432/tessera";
const MYSQL_URL: &str = "mysql://tessera:tessera-secret@127.0.0.1:53306/tessera";

const DIALECTS: [SqlDialect; 2] = [SqlDialect::Postgres, SqlDialect::Mysql];

fn base_url(d: SqlDialect) -> String {
    match d {
        SqlDialect::Postgres => {
            std::env::var("TESSERA_POSTGRES_URL").unwrap_or_else(|_| POSTGRES_URL.into())
        }
        SqlDialect::Mysql => {
            std::env::var("TESSERA_MYSQL_URL").unwrap_or_else(|_| MYSQL_URL.into())
        }
    }
}

/// Runs `sql` (DDL without binds) on the base database.
fn admin(d: SqlDialect, sql: String) {
    let (rt, _stop) = start_runtime().expect("runtime");
    let opts = SqlOptions::new(d, base_url(d));
    block_on(&rt, async move {
        let pool = options::connect(&SqlOptions {
            pool_size: 1,
            ..opts
        })
        .await
        .map_err(|e| StoreError::Io {
            backend: "test",
            message: format!(
                "{e}\n(is the server running? `bash tests/services/{}.sh start`)",
                d.name()
            ),
        })?;
        on_pool!(&pool, p, _d => p.execute(sql.as_str()).await.map(|_| ())).map_err(|e| {
            StoreError::Io {
                backend: "test",
                message: e.to_string(),
            }
        })
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

/// A place of its own in the test server: a schema (PostgreSQL) or database (MariaDB).
struct Place {
    dialect: SqlDialect,
    name: String,
}

impl Place {
    fn new(d: SqlDialect, test: &str) -> Place {
        let name = format!("tessera_{test}_{}", std::process::id());
        let place = Place { dialect: d, name };
        place.drop_it();
        match d {
            SqlDialect::Postgres => admin(d, format!("CREATE SCHEMA {}", place.name)),
            SqlDialect::Mysql => admin(d, format!("CREATE DATABASE {}", place.name)),
        }
        place
    }

    fn options(&self) -> SqlOptions {
        let base = base_url(self.dialect);
        let url = match self.dialect {
            SqlDialect::Postgres => format!("{base}?options=-csearch_path%3D{}", self.name),
            SqlDialect::Mysql => {
                let root = base.rsplit_once('/').map_or(base.as_str(), |(r, _)| r);
                format!("{root}/{}", self.name)
            }
        };
        SqlOptions {
            request_timeout: Duration::from_secs(10),
            ..SqlOptions::new(self.dialect, url)
        }
    }

    /// Migrated and opened.
    fn store(&self) -> SqlStore {
        SqlStore::migrate(&self.options()).unwrap_or_else(|e| panic!("{e}"));
        self.open()
    }

    fn open(&self) -> SqlStore {
        SqlStore::open(&self.options()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn drop_it(&self) {
        match self.dialect {
            SqlDialect::Postgres => admin(
                self.dialect,
                format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
            ),
            SqlDialect::Mysql => admin(
                self.dialect,
                format!("DROP DATABASE IF EXISTS {}", self.name),
            ),
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.drop_it();
        }
    }
}

fn block<T>(rx: futures_channel::oneshot::Receiver<Result<T, StoreError>>) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(rx).expect("answer").expect("store")
}

#[test]
fn sql_stores_pass_the_conformance_suite() {
    for d in DIALECTS {
        let mut n = 0;
        let mut places = Vec::new();
        conformance::run_all(&mut || {
            n += 1;
            let place = Place::new(d, &format!("conf{n}"));
            let store = place.store();
            places.push(place);
            Box::new(store)
        });
    }
}

#[test]
fn migrate_is_idempotent_and_open_refuses_an_unknown_schema_naming_both_versions() {
    for d in DIALECTS {
        let place = Place::new(d, "version");
        let opts = place.options();
        let e = SqlStore::open(&opts)
            .expect_err("no schema yet")
            .to_string();
        assert!(e.contains("tessera migrate"), "{d:?}: {e}");
        assert!(
            !e.contains("tessera-secret"),
            "{d:?}: the password stays out: {e}"
        );
        let first = SqlStore::migrate(&opts).expect("migrate");
        assert_eq!(
            first,
            Migrated {
                from: None,
                to: SCHEMA_VERSION
            }
        );
        let again = SqlStore::migrate(&opts).expect("migrate again");
        assert_eq!(
            again,
            Migrated {
                from: Some(SCHEMA_VERSION),
                to: SCHEMA_VERSION
            }
        );
        place.open();
        // A newer Tessera's schema.
        let set = format!("UPDATE {}.schema_version SET version = 99", place.name);
        admin(d, set);
        let e = SqlStore::open(&opts).expect_err("newer schema").to_string();
        assert!(
            e.contains("99") && e.contains(&format!("version {SCHEMA_VERSION}")),
            "{d:?}: {e}"
        );
        let e = SqlStore::migrate(&opts)
            .expect_err("cannot downgrade")
            .to_string();
        assert!(e.contains("99"), "{d:?}: {e}");
    }
}

static NEXT_VERSION: [Upgrade; 1] = [Upgrade {
    from: SCHEMA_VERSION,
    postgres: "CREATE TABLE upgrade_probe (id integer PRIMARY KEY); \
               INSERT INTO upgrade_probe VALUES (7)",
    mysql: "CREATE TABLE upgrade_probe (id integer PRIMARY KEY); \
            INSERT INTO upgrade_probe VALUES (7)",
}];

#[test]
fn migrate_upgrades_an_older_schema_step_by_step_and_open_then_refuses_the_old_build() {
    for d in DIALECTS {
        let place = Place::new(d, "upgrade");
        let opts = place.options();
        SqlStore::migrate(&opts).expect("migrate");
        let up = SqlStore::migrate_with(&opts, &NEXT_VERSION, SCHEMA_VERSION + 1).expect("upgrade");
        assert_eq!(
            up,
            Migrated {
                from: Some(SCHEMA_VERSION),
                to: SCHEMA_VERSION + 1
            }
        );
        let again =
            SqlStore::migrate_with(&opts, &NEXT_VERSION, SCHEMA_VERSION + 1).expect("again");
        assert_eq!(again.from, Some(SCHEMA_VERSION + 1), "{d:?}: applied once");
        let e = SqlStore::open(&opts)
            .expect_err("this build serves the older one")
            .to_string();
        assert!(
            e.contains(&format!("version {}", SCHEMA_VERSION + 1)),
            "{d:?}: {e}"
        );
    }
}

#[test]
fn two_nodes_migrating_at_once_create_the_schema_once() {
    for d in DIALECTS {
        let place = Place::new(d, "migrace");
        let opts = place.options();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let o = opts.clone();
                std::thread::spawn(move || SqlStore::migrate(&o))
            })
            .collect();
        let results: Vec<Migrated> = threads
            .into_iter()
            .map(|t| {
                t.join()
                    .expect("thread")
                    .unwrap_or_else(|e| panic!("{d:?}: {e}"))
            })
            .collect();
        let created = results.iter().filter(|m| m.from.is_none()).count();
        assert_eq!(created, 1, "{d:?}: {results:?}");
        place.open();
    }
}

#[test]
fn a_single_use_key_is_claimed_exactly_once_among_concurrent_claims_on_two_nodes() {
    for d in DIALECTS {
        let place = Place::new(d, "claim");
        let nodes = [Arc::new(place.store()), Arc::new(place.open())];
        for round in 0..5u64 {
            let key = conformance::key(&format!("refresh-{round}"));
            let grant = GrantId(1000 + round);
            let token = conformance::token(TokenKind::Refresh, grant.0, 600);
            nodes[0]
                .apply(&[Mutation::Put { key, token }], true)
                .expect("put");
            assert_eq!(block(nodes[1].used(key)), None);
            // 8 claims in flight at once on two nodes, as a stolen token raced would be.
            let claims: Vec<Claim> = (0..8)
                .map(|i| nodes[i % 2].claim_use(key, grant, 600))
                .collect();
            let won = claims
                .into_iter()
                .filter(|_| true)
                .map(block)
                .filter(|&w| w)
                .count();
            assert_eq!(won, 1, "{d:?} round {round}: exactly one claim wins");
            assert!(!block(nodes[0].claim_use(key, grant, 600)));
            assert_eq!(block(nodes[1].used(key)), Some(grant), "{d:?}: remembered");
            assert_eq!(
                nodes[1].get(&key, conformance::NOW).expect("get"),
                None,
                "{d:?}: the claim consumed the token"
            );
        }
    }
}

#[test]
fn an_expired_use_is_taken_over_by_a_new_claim() {
    for d in DIALECTS {
        let place = Place::new(d, "claimexp");
        let store = place.store();
        let key = conformance::key("jti");
        // Two seconds, so a stalled machine between the two claims does not outlive it.
        assert!(block(store.claim_use(key, GrantId::NONE, 2)));
        assert!(
            !block(store.claim_use(key, GrantId::NONE, 2)),
            "{d:?}: used"
        );
        // Remembered until the claim's second rounded up, plus two: at most three seconds.
        std::thread::sleep(Duration::from_millis(3100));
        assert_eq!(
            block(store.used(key)),
            None,
            "{d:?}: forgotten once expired"
        );
        assert!(block(store.claim_use(key, GrantId(3), 60)), "{d:?}");
        assert_eq!(block(store.used(key)), Some(GrantId(3)));
    }
}

#[test]
fn revocation_log_records_deleted_tokens_and_grants_for_other_nodes() {
    for d in DIALECTS {
        let place = Place::new(d, "revlog");
        let (a, b) = (place.store(), place.open());
        let since = now_ms().saturating_sub(1);
        let k = conformance::key("gone");
        a.apply(
            &[
                Mutation::Put {
                    key: k,
                    token: conformance::token(TokenKind::Access, 5, 600),
                },
                Mutation::Delete {
                    key: k,
                    issued_at: conformance::NOW,
                },
                Mutation::DeleteGrant { grant: GrantId(5) },
            ],
            false,
        )
        .expect("apply");
        let log = b.revocations_since(since).expect("poll");
        let revoked: Vec<Revoked> = log.iter().map(|r| r.revoked).collect();
        assert!(revoked.contains(&Revoked::Token(k)), "{d:?}: {log:?}");
        assert!(
            revoked.contains(&Revoked::Grant(GrantId(5))),
            "{d:?}: {log:?}"
        );
        assert!(log.iter().all(|r| r.at_ms > since));
        let later = log.iter().map(|r| r.at_ms).max().unwrap_or(since);
        assert!(b.revocations_since(later).expect("poll").is_empty());
    }
}

#[test]
fn read_through_lookup_answers_on_a_channel_from_another_node() {
    for d in DIALECTS {
        let place = Place::new(d, "lookup");
        let (a, b) = (place.store(), place.open());
        let k = conformance::key("rt");
        let t = conformance::token(TokenKind::Refresh, 11, 600);
        a.apply(
            &[Mutation::Put {
                key: k,
                token: t.clone(),
            }],
            false,
        )
        .expect("put");
        assert_eq!(block(b.lookup(k, conformance::NOW)), Some(t));
        assert_eq!(
            block(b.lookup(conformance::key("none"), conformance::NOW)),
            None
        );
    }
}

#[test]
fn a_setting_compare_and_set_raced_by_eight_nodes_is_won_exactly_once() {
    for d in DIALECTS {
        let place = Place::new(d, "settings");
        let first = place.store();
        let stores: Vec<Arc<SqlStore>> = (0..8).map(|_| Arc::new(place.open())).collect();
        let won = conformance::race(&stores, |s, i| {
            s.put_setting_if("keys", None, &format!("v{i}"))
                .expect("cas")
        });
        assert_eq!(won.len(), 1, "{d:?}: exactly one creation wins: {won:?}");
        let created = format!("v{}", won[0]);
        for s in &stores {
            assert_eq!(s.setting("keys").expect("read"), Some(created.clone()));
        }
        let won = conformance::race(&stores, move |s, i| {
            s.put_setting_if("keys", Some(&created), &format!("w{i}"))
                .expect("cas")
        });
        assert_eq!(won.len(), 1, "{d:?}: exactly one rotation wins: {won:?}");
        assert_eq!(
            first.setting("keys").expect("read"),
            Some(format!("w{}", won[0]))
        );
    }
}

#[test]
fn clients_and_users_are_kept_by_id_and_seen_by_every_node() {
    for d in DIALECTS {
        let place = Place::new(d, "admin");
        let (a, b) = (place.store(), place.open());
        a.put_client("svc-x", r#"{"id":"svc-x","note":"ñ"}"#)
            .expect("put");
        a.put_client("svc-x", r#"{"id":"svc-x","note":"ü"}"#)
            .expect("replace");
        assert_eq!(
            b.clients().expect("list"),
            vec![(
                "svc-x".to_string(),
                r#"{"id":"svc-x","note":"ü"}"#.to_string()
            )]
        );
        assert!(b.remove_client("svc-x").expect("remove"));
        assert!(!a.remove_client("svc-x").expect("remove again"));
        a.put_user("ann", r#"{"password_hash":"x"}"#).expect("user");
        assert_eq!(b.users().expect("users").len(), 1);
        assert!(b.remove_user("ann").expect("remove user"));
        // Ids are compared exactly: no case folding, no trailing-space padding.
        a.put_client("Svc", "{}").expect("put");
        assert!(!b.remove_client("svc").expect("other case"));
        assert!(!b.remove_client("Svc ").expect("trailing space"));
    }
}

#[test]
fn creating_a_client_or_user_raced_by_eight_nodes_is_won_exactly_once() {
    for d in DIALECTS {
        let place = Place::new(d, "create");
        let first = place.store();
        let stores: Vec<Arc<SqlStore>> = (0..8).map(|_| Arc::new(place.open())).collect();
        let won = conformance::race(&stores, |s, i| {
            s.create_client("svc", &format!("spec{i}")).expect("create")
        });
        assert_eq!(won.len(), 1, "{d:?}: exactly one creation wins: {won:?}");
        assert_eq!(
            first.clients().expect("list"),
            vec![("svc".to_string(), format!("spec{}", won[0]))],
            "{d:?}: the winner's spec is the one kept"
        );
        let won = conformance::race(&stores, |s, i| {
            s.create_user("ann", &format!("user{i}")).expect("create")
        });
        assert_eq!(
            won.len(),
            1,
            "{d:?}: exactly one user creation wins: {won:?}"
        );
        assert!(first.remove_client("svc").expect("remove"));
        assert!(first
            .create_client("svc", "again")
            .expect("create after removal"));
    }
}

#[test]
fn replacing_a_client_or_user_raced_by_eight_nodes_is_won_once_and_never_after_removal() {
    for d in DIALECTS {
        let place = Place::new(d, "replace");
        let first = place.store();
        let stores: Vec<Arc<SqlStore>> = (0..8).map(|_| Arc::new(place.open())).collect();
        assert!(first.create_client("svc", "old").expect("create"));
        let won = conformance::race(&stores, |s, i| {
            s.replace_client("svc", "old", &format!("new{i}"))
                .expect("replace")
        });
        assert_eq!(won.len(), 1, "{d:?}: exactly one replacement wins: {won:?}");
        assert_eq!(
            first.clients().expect("list"),
            vec![("svc".to_string(), format!("new{}", won[0]))],
            "{d:?}: the winner's spec is the one kept"
        );
        // The same spec again still counts as the row (MariaDB counts changed rows).
        let kept = format!("new{}", won[0]);
        assert!(first.replace_client("svc", &kept, &kept).expect("same"));
        assert!(first.remove_client("svc").expect("remove"));
        assert!(!first.replace_client("svc", &kept, "back").expect("removed"));
        assert!(
            first.clients().expect("list").is_empty(),
            "{d:?}: brought back"
        );
        assert!(first.create_user("ann", "u1").expect("user"));
        assert!(!first.replace_user("ann", "stale", "u2").expect("stale"));
        assert!(first.replace_user("ann", "u1", "u2").expect("replace user"));
        assert_eq!(first.users().expect("users")[0].1, "u2");
    }
}

fn owned(store: &SqlStore) -> [(&'static str, TokenKey); 6] {
    let put =
        |name: &'static str, kind, grant, client: &'static str, user: Option<&'static str>| {
            let key = conformance::key(name);
            let mut token = conformance::token(kind, grant, 600);
            token.client = Arc::from(client);
            token.user = user.map(Arc::from);
            store
                .apply(&[Mutation::Put { key, token }], true)
                .expect("put");
            (name, key)
        };
    [
        put("a-access", TokenKind::Access, 1, "svc-a", Some("ann")),
        put("a-refresh", TokenKind::Refresh, 1, "svc-a", Some("ann")),
        put("a-cc", TokenKind::Access, 0, "svc-a", None),
        put("b-access", TokenKind::Access, 2, "svc-b", Some("bob")),
        put("b-refresh", TokenKind::Refresh, 2, "svc-b", Some("bob")),
        put("ann-session", TokenKind::Session, 0, "", Some("ann")),
    ]
}

#[test]
fn revoking_an_owners_tokens_deletes_exactly_them_with_their_grants_and_logs_each() {
    for d in DIALECTS {
        let place = Place::new(d, "owners");
        let store = place.store();
        let keys = owned(&store);
        let since = now_ms().saturating_sub(1);
        let n = store
            .revoke_owned(Owner::Client("svc-a"), OwnedTokens::All, conformance::NOW)
            .expect("revoke");
        assert_eq!(n, 3, "{d:?}");
        let live: Vec<&str> = keys
            .iter()
            .filter(|(_, k)| store.get(k, conformance::NOW).expect("get").is_some())
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(live, vec!["b-access", "b-refresh", "ann-session"], "{d:?}");
        let log = store.revocations_since(since).expect("log");
        assert!(
            log.iter().any(|r| r.revoked == Revoked::Grant(GrantId(1))),
            "{d:?}"
        );
        // A password change: the user's refresh grants and sessions go.
        let n = store
            .revoke_owned(
                Owner::User("bob"),
                OwnedTokens::RefreshGrants,
                conformance::NOW,
            )
            .expect("revoke bob");
        assert_eq!(n, 1, "{d:?}");
        assert_eq!(
            store
                .grant_tokens(GrantId(2), conformance::NOW)
                .expect("grant"),
            Vec::<TokenKey>::new(),
            "{d:?}: the grant's access token went with it"
        );
    }
}

#[test]
fn purge_runs_on_one_node_at_a_time() {
    for d in DIALECTS {
        let place = Place::new(d, "lease");
        let (a, b) = (place.store(), place.open());
        let batch: Vec<Mutation> = (0..50)
            .map(|i| Mutation::Put {
                key: conformance::key(&format!("old-{i}")),
                token: conformance::token(TokenKind::Access, 0, 10),
            })
            .collect();
        a.apply(&batch, true).expect("put");
        let later = conformance::NOW + 100;
        assert_eq!(a.purge_expired(later, 20).expect("purge"), 20, "{d:?}");
        assert_eq!(
            b.purge_expired(later, 20).expect("purge"),
            0,
            "{d:?}: a holds the lease"
        );
        assert_eq!(a.purge_expired(later, 100).expect("purge"), 30, "{d:?}");
    }
}

#[test]
fn a_batch_retried_after_its_commit_applies_again_cleanly() {
    for d in DIALECTS {
        let place = Place::new(d, "retry");
        let store = place.store();
        let k = conformance::key("once");
        let batch = [Mutation::Put {
            key: k,
            token: conformance::token(TokenKind::Access, 0, 600),
        }];
        store.apply(&batch, true).expect("first");
        store.apply(&batch, true).expect("the same batch again");
        assert!(store.get(&k, conformance::NOW).expect("get").is_some());
    }
}

#[test]
fn a_large_batch_is_written_in_bounded_statements_and_read_back() {
    for d in DIALECTS {
        let place = Place::new(d, "large");
        let store = place.store();
        let batch: Vec<Mutation> = (0..1500)
            .map(|i| Mutation::Put {
                key: conformance::key(&format!("k{i}")),
                token: conformance::token(TokenKind::Access, 0, 600),
            })
            .collect();
        store.apply(&batch, false).expect("apply");
        let mut n = 0;
        store
            .scan_live(conformance::NOW, &mut |_, _| n += 1)
            .expect("scan");
        assert_eq!(n, 1500, "{d:?}");
    }
}

/// The test CA of `tests/services/<dialect>.sh` (its servers take TLS beside plain
/// connections, with a certificate for 127.0.0.1).
fn test_ca(d: SqlDialect) -> std::path::PathBuf {
    let var = match d {
        SqlDialect::Postgres => "TESSERA_POSTGRES_TLS_CA",
        SqlDialect::Mysql => "TESSERA_MYSQL_TLS_CA",
    };
    std::env::var_os(var).map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_default();
            std::path::Path::new(&home)
                .join(".cache/tessera")
                .join(format!("{}-run/tls/ca.pem", d.name()))
        },
        Into::into,
    )
}

/// Whether the store's own connection is encrypted, as the server sees it.
fn encrypted(store: &SqlStore) -> bool {
    store
        .run(|inner| {
            Box::pin(async move {
                let on: Result<bool, sqlx::Error> = on_pool!(&inner.pool, p, d => {
                    use sqlx::Row;
                    let sql = match d {
                        SqlDialect::Postgres => {
                            "SELECT CAST(CASE WHEN ssl THEN 1 ELSE 0 END AS int8) FROM pg_stat_ssl \
                             WHERE pid = pg_backend_pid()"
                        }
                        SqlDialect::Mysql => {
                            "SELECT CAST(LENGTH(VARIABLE_VALUE) AS SIGNED) FROM information_schema.session_status \
                             WHERE VARIABLE_NAME = 'Ssl_cipher'"
                        }
                    };
                    let n: i64 = sqlx::query(sql).fetch_one(p).await?.try_get(0)?;
                    Ok(n > 0)
                });
                on.map_err(|e| inner.err(e))
            })
        })
        .expect("ask the server")
}

#[test]
fn tls_verifies_the_server_against_tls_ca_file_and_refuses_an_unknown_issuer() {
    for d in DIALECTS {
        let place = Place::new(d, "tls");
        place.store();
        let verified = SqlStore::open(&SqlOptions {
            tls: true,
            tls_ca_file: Some(test_ca(d)),
            ..place.options()
        })
        .unwrap_or_else(|e| panic!("{d:?}: {e} (CA {})", test_ca(d).display()));
        assert!(encrypted(&verified), "{d:?}: tls = true is encrypted");
        // The system's roots do not know the test CA.
        let e = SqlStore::open(&SqlOptions {
            tls: true,
            tls_ca_file: None,
            connect_timeout: Duration::from_secs(3),
            ..place.options()
        })
        .expect_err("an unknown issuer is refused")
        .to_string();
        assert!(e.to_lowercase().contains("certificate"), "{d:?}: {e}");
    }
}

#[test]
fn purge_skips_a_row_another_transaction_holds_instead_of_waiting_for_it() {
    for d in DIALECTS {
        let place = Place::new(d, "purgelock");
        let store = place.store();
        let batch: Vec<Mutation> = (0..30)
            .map(|i| Mutation::Put {
                key: conformance::key(&format!("old-{i}")),
                token: conformance::token(TokenKind::Access, 0, 10),
            })
            .collect();
        store.apply(&batch, true).expect("put");
        let held = conformance::key("old-7");
        // Another session locks one expired row and keeps its transaction open.
        let (locked_tx, locked) = std::sync::mpsc::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let opts = place.options();
        let holder = std::thread::spawn(move || {
            let (rt, _stop) = start_runtime().expect("runtime");
            block_on(&rt, async move {
                let pool = options::connect(&opts).await.map_err(|e| StoreError::Io {
                    backend: "test",
                    message: e,
                })?;
                let io = |e: sqlx::Error| StoreError::Io {
                    backend: "test",
                    message: e.to_string(),
                };
                on_pool!(&pool, p, d => {
                    let sql = tables::placeholders(
                        d,
                        "SELECT token_hash FROM access_tokens WHERE token_hash = ? FOR UPDATE",
                    );
                    let mut tx = p.begin().await.map_err(io)?;
                    sqlx::query(&sql)
                        .bind(held.as_bytes().as_slice())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(io)?;
                    let _ = locked_tx.send(());
                    tokio::task::spawn_blocking(move || released.recv())
                        .await
                        .map_err(|e| StoreError::Io { backend: "test", message: e.to_string() })?
                        .ok();
                    tx.rollback().await.map_err(io)
                })
            })
        });
        locked.recv().expect("the row is locked");
        let started = std::time::Instant::now();
        let purged = store
            .purge_expired(conformance::NOW + 100, 100)
            .expect("purge");
        let took = started.elapsed();
        release.send(()).expect("release");
        holder.join().expect("holder").expect("held the lock");
        assert_eq!(purged, 29, "{d:?}: every expired row but the locked one");
        assert!(
            took < Duration::from_secs(5),
            "{d:?}: the purge skipped the lock instead of waiting ({took:?})"
        );
        assert_eq!(
            store
                .purge_expired(conformance::NOW + 100, 100)
                .expect("purge"),
            1,
            "{d:?}"
        );
    }
}
