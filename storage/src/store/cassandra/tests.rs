//! Against the real Cassandra that `tests/services/cassandra.sh start` runs (address in
//! `TESSERA_CASSANDRA`, default 127.0.0.1:9042). Each test uses its own keyspace.
//!
//! Touches only keyspaces of its own, named after the test and this process, and drops them.

use super::*;
use crate::conformance;
use crate::record::TokenKind;
use crate::store::{OwnedTokens, Owner, Revoked};
use std::sync::Arc;
use std::time::Duration;

fn options(keyspace: &str) -> CassandraOptions {
    CassandraOptions {
        contact_points: vec![
            std::env::var("TESSERA_CASSANDRA").unwrap_or_else(|_| "127.0.0.1:9042".into())
        ],
        keyspace: keyspace.into(),
        local_datacenter: None,
        username: None,
        password: None,
        tls: None,
        read_consistency: Level::One,
        write_consistency: Level::Any,
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        write_batching: WriteBatching::default(),
        test_clock_offset_ms: 0,
    }
}

const REPLICATION: &str = "{'class': 'SimpleStrategy', 'replication_factor': 1}";

/// A fresh keyspace per store, so every conformance check starts empty.
fn fresh(prefix: &str, n: &mut u32) -> CassandraStore {
    fresh_with(prefix, n, WriteBatching::default())
}

fn fresh_with(prefix: &str, n: &mut u32, batching: WriteBatching) -> CassandraStore {
    *n += 1;
    let ks = format!("{prefix}_{}_{n}", std::process::id());
    let opts = CassandraOptions {
        write_batching: batching,
        ..options(&ks)
    };
    CassandraStore::migrate(&opts, REPLICATION).unwrap_or_else(|e| {
        panic!("{e}\n(is Cassandra running? `bash tests/services/cassandra.sh start`)")
    });
    CassandraStore::open(&opts).unwrap_or_else(|e| panic!("{e}"))
}

fn drop_keyspace(prefix: &str) {
    // Best effort: leave the server tidy for the next run.
    let opts = options("system");
    if let Ok((rt, _stop)) = start_runtime() {
        let pid = std::process::id();
        let prefix = prefix.to_owned();
        let _ = block_on(&rt, async move {
            let session = connect(&opts).await.map_err(err)?;
            let rows = session
                .query_unpaged("SELECT keyspace_name FROM system_schema.keyspaces", &[])
                .await
                .map_err(err)?
                .into_rows_result()
                .map_err(err)?;
            let names: Vec<String> = rows
                .rows::<(String,)>()
                .map_err(err)?
                .filter_map(Result::ok)
                .map(|(n,)| n)
                .filter(|n| n.starts_with(&format!("{prefix}_{pid}_")))
                .collect();
            for n in names {
                let _ = session
                    .query_unpaged(format!("DROP KEYSPACE IF EXISTS {n}"), &[])
                    .await;
            }
            Ok(())
        });
    }
}

#[test]
fn cassandra_store_passes_the_conformance_suite_with_concurrent_writes() {
    let mut n = 0;
    conformance::run_all(&mut || Box::new(fresh_with("conf", &mut n, WriteBatching::Concurrent)));
    drop_keyspace("conf");
}

#[test]
fn cassandra_store_passes_the_conformance_suite_with_unlogged_batches() {
    let mut n = 0;
    // Batches of 3 statements, so the suite's batches span several CQL batches.
    conformance::run_all(&mut || Box::new(fresh_with("confu", &mut n, WriteBatching::Unlogged(3))));
    drop_keyspace("confu");
}

#[test]
fn write_batching_names_parse_as_the_config_documents() {
    assert_eq!(
        WriteBatching::parse("concurrent"),
        Some(WriteBatching::Concurrent)
    );
    assert_eq!(
        WriteBatching::parse("unlogged"),
        Some(WriteBatching::Unlogged(WriteBatching::UNLOGGED_STATEMENTS))
    );
    assert_eq!(
        WriteBatching::parse("unlogged:64"),
        Some(WriteBatching::Unlogged(64))
    );
    for bad in [
        "",
        "logged",
        "unlogged:0",
        "unlogged:257",
        "unlogged:x",
        "concurrent:2",
    ] {
        assert_eq!(WriteBatching::parse(bad), None, "{bad:?}");
    }
    for mode in [WriteBatching::Concurrent, WriteBatching::Unlogged(5)] {
        assert_eq!(WriteBatching::parse(&mode.to_string()), Some(mode));
    }
}

#[test]
fn revocation_log_records_deleted_tokens_and_grants_for_other_nodes() {
    let mut n = 0;
    let store = fresh("revlog", &mut n);
    let since = now_ms().saturating_sub(1);
    let k = conformance::key("gone");
    store
        .apply(
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
    let log = store.revocations_since(since).expect("poll");
    let revoked: Vec<Revoked> = log.iter().map(|r| r.revoked).collect();
    assert!(revoked.contains(&Revoked::Token(k)), "{log:?}");
    assert!(revoked.contains(&Revoked::Grant(GrantId(5))), "{log:?}");
    assert!(log.iter().all(|r| r.at_ms > since));
    drop_keyspace("revlog");
}

#[test]
fn read_through_lookup_answers_on_a_channel() {
    let mut n = 0;
    let store = fresh("lookup", &mut n);
    let k = conformance::key("rt");
    let t = conformance::token(TokenKind::Refresh, 11, 600);
    store
        .apply(
            &[Mutation::Put {
                key: k,
                token: t.clone(),
            }],
            false,
        )
        .expect("put");
    let found = futures_executor_block(store.lookup(k, conformance::NOW));
    assert_eq!(found, Some(t));
    let missing = futures_executor_block(store.lookup(conformance::key("none"), conformance::NOW));
    assert_eq!(missing, None);
    drop_keyspace("lookup");
}

#[test]
fn a_single_use_key_is_claimed_exactly_once_among_concurrent_claims_and_then_remembered() {
    let mut n = 0;
    let store = Arc::new(fresh("claim", &mut n));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for round in 0..5 {
        let key = conformance::key(&format!("refresh-{round}"));
        let grant = GrantId(1000 + round);
        assert_eq!(
            rt.block_on(store.used(key)).expect("answer").expect("used"),
            None
        );
        // 8 claims in flight at once, as 8 nodes refreshing with one stolen token would.
        let claims: Vec<Claim> = (0..8).map(|_| store.claim_use(key, grant, 600)).collect();
        let won = rt.block_on(async {
            let mut won = 0;
            for c in claims {
                if c.await.expect("answer").expect("claim") {
                    won += 1;
                }
            }
            won
        });
        assert_eq!(won, 1, "round {round}: exactly one claim wins");
        assert!(!rt
            .block_on(store.claim_use(key, grant, 600))
            .expect("answer")
            .expect("claim"));
        assert_eq!(
            rt.block_on(store.used(key)).expect("answer").expect("used"),
            Some(grant),
            "the use is remembered with its grant"
        );
    }
    drop_keyspace("claim");
}

#[test]
fn a_setting_compare_and_set_raced_by_eight_nodes_is_won_exactly_once() {
    let mut n = 0;
    let first = fresh("settings", &mut n);
    let stores: Vec<Arc<CassandraStore>> = (0..8)
        .map(|_| {
            Arc::new(
                CassandraStore::open(&options(&first.keyspace)).unwrap_or_else(|e| panic!("{e}")),
            )
        })
        .collect();
    // From absent (`INSERT ... IF NOT EXISTS`).
    let won = conformance::race(&stores, |s, i| {
        s.put_setting_if("keys", None, &format!("v{i}"))
            .expect("cas")
    });
    assert_eq!(won.len(), 1, "exactly one creation wins: {won:?}");
    let created = format!("v{}", won[0]);
    for s in &stores {
        assert_eq!(s.setting("keys").expect("read"), Some(created.clone()));
    }
    // From that value (`UPDATE ... IF value = ?`), every node expecting it.
    let won = conformance::race(&stores, move |s, i| {
        s.put_setting_if("keys", Some(&created), &format!("w{i}"))
            .expect("cas")
    });
    assert_eq!(won.len(), 1, "exactly one rotation wins: {won:?}");
    assert_eq!(
        first.setting("keys").expect("read"),
        Some(format!("w{}", won[0]))
    );
    drop(stores);
    drop_keyspace("settings");
}

#[test]
fn clients_and_users_are_kept_by_id() {
    let mut n = 0;
    let store = fresh("admin", &mut n);
    store.put_client("svc-x", r#"{"id":"svc-x"}"#).expect("put");
    assert_eq!(
        store.clients().expect("list"),
        vec![("svc-x".to_string(), r#"{"id":"svc-x"}"#.to_string())]
    );
    assert!(store.remove_client("svc-x").expect("remove"));
    assert!(!store.remove_client("svc-x").expect("remove again"));
    store
        .put_user("ann", r#"{"password_hash":"x"}"#)
        .expect("user");
    assert_eq!(store.users().expect("users").len(), 1);
    assert!(store.remove_user("ann").expect("remove user"));
    drop_keyspace("admin");
}

#[test]
fn creating_a_client_or_user_raced_by_eight_nodes_is_won_exactly_once() {
    let mut n = 0;
    let first = fresh("create", &mut n);
    let stores: Vec<Arc<CassandraStore>> = (0..8)
        .map(|_| {
            Arc::new(
                CassandraStore::open(&options(&first.keyspace)).unwrap_or_else(|e| panic!("{e}")),
            )
        })
        .collect();
    let won = conformance::race(&stores, |s, i| {
        s.create_client("svc", &format!("spec{i}")).expect("create")
    });
    assert_eq!(won.len(), 1, "exactly one creation wins: {won:?}");
    assert_eq!(
        first.clients().expect("list"),
        vec![("svc".to_string(), format!("spec{}", won[0]))],
        "the winner's spec is the one kept"
    );
    let won = conformance::race(&stores, |s, i| {
        s.create_user("ann", &format!("user{i}")).expect("create")
    });
    assert_eq!(won.len(), 1, "exactly one user creation wins: {won:?}");
    drop(stores);
    drop_keyspace("create");
}

#[test]
fn replacing_a_client_or_user_raced_by_eight_nodes_is_won_once_and_never_after_removal() {
    let mut n = 0;
    let first = fresh("replace", &mut n);
    let stores: Vec<Arc<CassandraStore>> = (0..8)
        .map(|_| {
            Arc::new(
                CassandraStore::open(&options(&first.keyspace)).unwrap_or_else(|e| panic!("{e}")),
            )
        })
        .collect();
    assert!(first.create_client("svc", "old").expect("create"));
    let won = conformance::race(&stores, |s, i| {
        s.replace_client("svc", "old", &format!("new{i}"))
            .expect("replace")
    });
    assert_eq!(won.len(), 1, "exactly one replacement wins: {won:?}");
    let kept = format!("new{}", won[0]);
    assert_eq!(
        first.clients().expect("list"),
        vec![("svc".to_string(), kept.clone())],
        "the winner's spec is the one kept"
    );
    assert!(first.remove_client("svc").expect("remove"));
    assert!(!first.remove_client("svc").expect("remove again"));
    assert!(!first.replace_client("svc", &kept, "back").expect("removed"));
    assert!(first.clients().expect("list").is_empty(), "brought back");
    assert!(first.create_user("ann", "u1").expect("user"));
    assert!(!first.replace_user("ann", "stale", "u2").expect("stale"));
    assert!(first.replace_user("ann", "u1", "u2").expect("replace user"));
    drop(stores);
    drop_keyspace("replace");
}

#[test]
fn ttl_expires_tokens_in_the_store_itself() {
    let mut n = 0;
    let store = fresh("ttl", &mut n);
    let now = real_now_secs();
    let k = conformance::key("short");
    let t = StoredToken {
        issued_at: now,
        expires_at: now + 2,
        ..conformance::token(TokenKind::Access, 0, 2)
    };
    store
        .apply(&[Mutation::Put { key: k, token: t }], false)
        .expect("put");
    assert!(store.get(&k, now).expect("get").is_some());
    std::thread::sleep(Duration::from_millis(3_500));
    // Asked about a moment before expiry, the row is gone all the same: Cassandra's TTL
    // removed it, not Tessera's filter.
    assert_eq!(store.get(&k, now).expect("get"), None);
    assert_eq!(store.purge_expired(now + 10, 100).expect("purge"), 0);
    drop_keyspace("ttl");
}

fn futures_executor_block(rx: Lookup) -> Option<StoredToken> {
    // A plain thread may block on a oneshot by polling it with a no-op waker.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(rx).expect("answer").expect("lookup")
}

#[test]
fn schema_statements_fill_in_keyspace_and_replication() {
    let s = schema_statements("ks1", REPLICATION);
    assert!(s[0].starts_with("CREATE KEYSPACE IF NOT EXISTS ks1"));
    assert!(s[0].contains("SimpleStrategy"));
    assert!(s
        .iter()
        .all(|x| !x.contains('{') || x.contains("replication")));
    assert!(s.iter().any(|x| x.contains("ks1.revocations")));
    assert!(valid_keyspace("tessera_1"));
    assert!(!valid_keyspace("x; DROP"));
    assert!(!valid_keyspace("1abc"));
}

/// Two nodes on one keyspace, `ahead` ms and `behind` ms off the real clock.
fn skewed_pair(prefix: &str, ahead_ms: i64, behind_ms: i64) -> (CassandraStore, CassandraStore) {
    let mut n = 0;
    let issuer = fresh(prefix, &mut n);
    let opts = |offset| CassandraOptions {
        test_clock_offset_ms: offset,
        ..options(&issuer.keyspace)
    };
    let issuer_skewed = CassandraStore::open(&opts(ahead_ms)).unwrap_or_else(|e| panic!("{e}"));
    let revoker = CassandraStore::open(&opts(behind_ms)).unwrap_or_else(|e| panic!("{e}"));
    (issuer_skewed, revoker)
}

#[test]
fn a_delete_from_a_node_whose_clock_lags_wins_over_a_put_from_one_ahead() {
    // The issuer's clock is a minute ahead, the revoker's a minute behind: with write
    // timestamps from each node's clock, the revoked rows would survive the deletes.
    let (issuer, revoker) = skewed_pair("skew", 60_000, -60_000);
    let now = real_now_secs();
    let live = |kind, grant| StoredToken {
        issued_at: now,
        expires_at: now + 600,
        ..conformance::token(kind, grant, 600)
    };
    let (access, refresh, granted) = (
        conformance::key("access"),
        conformance::key("refresh"),
        conformance::key("granted"),
    );
    issuer
        .apply(
            &[
                Mutation::Put {
                    key: access,
                    token: live(TokenKind::Access, 0),
                },
                Mutation::Put {
                    key: refresh,
                    token: live(TokenKind::Refresh, 21),
                },
                Mutation::Put {
                    key: granted,
                    token: live(TokenKind::Access, 21),
                },
            ],
            false,
        )
        .expect("issue");
    revoker
        .apply(
            &[
                Mutation::Delete {
                    key: access,
                    issued_at: now,
                },
                Mutation::Delete {
                    key: refresh,
                    issued_at: now,
                },
                Mutation::DeleteGrant { grant: GrantId(21) },
            ],
            false,
        )
        .expect("revoke");
    // Read back through a third session, as a restarted or fresh node would.
    let reader = CassandraStore::open(&options(&issuer.keyspace)).expect("open");
    for (name, key) in [
        ("access", access),
        ("refresh", refresh),
        ("granted", granted),
    ] {
        assert_eq!(reader.get(&key, now).expect("get"), None, "{name} survived");
    }
    assert_eq!(reader.scan_live(now, &mut |_, _| {}).expect("scan"), 0);
    assert!(reader
        .grant_tokens(GrantId(21), now)
        .expect("grant")
        .is_empty());
    drop_keyspace("skew");
}

#[test]
fn removals_are_never_written_at_any() {
    // The default write level is ANY, which Cassandra acknowledges once a hint is kept:
    // issuance may live with that, a revocation acknowledged as durable may not.
    let mut n = 0;
    let store = fresh("levels", &mut n);
    let st = &store.inner.st;
    let level = |s: &scylla::statement::prepared::PreparedStatement| s.get_consistency();
    assert_eq!(level(&st.put[0]), Some(Consistency::Any));
    assert_eq!(level(&st.link), Some(Consistency::Any));
    for (name, s) in [
        ("delete access", &st.delete[0]),
        ("delete refresh", &st.delete[1]),
        ("delete grant", &st.delete_grant),
        ("revocation log", &st.log_revocation),
    ] {
        assert_eq!(level(s), Some(Consistency::One), "{name}");
    }
    // Removing a client or user is a lightweight transaction (ordered against the
    // conditional creation and replacement): its commit is at QUORUM, never ANY.
    for (name, s) in [
        ("remove client", &st.delete_client),
        ("remove user", &st.delete_user),
    ] {
        assert_eq!(level(s), Some(Consistency::Quorum), "{name}");
        assert!(s.get_serial_consistency().is_some(), "{name}");
    }
    assert_eq!(store.inner.removal_consistency, Consistency::One);
    drop_keyspace("levels");
}

/// Tokens of clients `svc-a` and `svc-b` and users `alice` and `bob`, issued now:
/// - `a-cc`, `b-cc`: client_credentials access tokens of `svc-a` and `svc-b`;
/// - `alice-r` + `alice-a` (grant 10) and `bob-r` + `bob-a` (grant 20): password grants
///   through `svc-a`, a refresh token and an access token each;
/// - `alice-lone`: an access token of `alice` issued without a refresh token (no grant).
fn owned_tokens(store: &CassandraStore) -> u32 {
    let now = real_now_secs();
    let token = |kind, grant, client: &str, user: Option<&str>| StoredToken {
        client: Arc::from(client),
        user: user.map(Arc::from),
        issued_at: now,
        expires_at: now + 600,
        ..conformance::token(kind, grant, 600)
    };
    let puts = [
        ("a-cc", token(TokenKind::Access, 0, "svc-a", None)),
        ("b-cc", token(TokenKind::Access, 0, "svc-b", None)),
        (
            "alice-r",
            token(TokenKind::Refresh, 10, "svc-a", Some("alice")),
        ),
        (
            "alice-a",
            token(TokenKind::Access, 10, "svc-a", Some("alice")),
        ),
        (
            "alice-lone",
            token(TokenKind::Access, 0, "svc-a", Some("alice")),
        ),
        ("bob-r", token(TokenKind::Refresh, 20, "svc-a", Some("bob"))),
        ("bob-a", token(TokenKind::Access, 20, "svc-a", Some("bob"))),
    ];
    let batch: Vec<Mutation> = puts
        .into_iter()
        .map(|(name, token)| Mutation::Put {
            key: conformance::key(name),
            token,
        })
        .collect();
    store.apply(&batch, false).expect("issue");
    now
}

/// The names of `owned_tokens` still live in `store`.
fn live_names(store: &CassandraStore, now: u32) -> Vec<&'static str> {
    [
        "a-cc",
        "b-cc",
        "alice-r",
        "alice-a",
        "alice-lone",
        "bob-r",
        "bob-a",
    ]
    .into_iter()
    .filter(|name| {
        store
            .get(&conformance::key(name), now)
            .expect("get")
            .is_some()
    })
    .collect()
}

#[test]
fn revoking_a_clients_tokens_deletes_exactly_them_with_their_grants_and_logs_each() {
    let mut n = 0;
    let store = fresh("ownclient", &mut n);
    let now = owned_tokens(&store);
    let since = now_ms().saturating_sub(1);

    let revoked = store
        .revoke_owned(Owner::Client("svc-b"), OwnedTokens::All, now)
        .expect("revoke svc-b");
    assert_eq!(revoked, 1);
    assert_eq!(
        live_names(&store, now),
        ["a-cc", "alice-r", "alice-a", "alice-lone", "bob-r", "bob-a"]
    );

    let revoked = store
        .revoke_owned(Owner::Client("svc-a"), OwnedTokens::All, now)
        .expect("revoke svc-a");
    assert_eq!(revoked, 6);
    assert!(live_names(&store, now).is_empty());
    for grant in [GrantId(10), GrantId(20)] {
        assert!(
            store.grant_keys_now(grant).is_empty(),
            "{grant:?} keeps links"
        );
    }
    let log = logged_since(&store, since);
    for name in ["a-cc", "b-cc", "alice-r", "alice-a", "alice-lone", "bob-r"] {
        assert!(
            log.contains(&Revoked::Token(conformance::key(name))),
            "{name} not logged: {log:?}"
        );
    }
    assert!(log.contains(&Revoked::Grant(GrantId(10))), "{log:?}");
    assert!(log.contains(&Revoked::Grant(GrantId(20))), "{log:?}");
    drop_keyspace("ownclient");
}

#[test]
fn revoking_a_users_tokens_leaves_other_users_and_client_tokens_and_refresh_only_keeps_grantless_access_tokens(
) {
    let mut n = 0;
    let store = fresh("ownuser", &mut n);
    let now = owned_tokens(&store);
    let since = now_ms().saturating_sub(1);

    let revoked = store
        .revoke_owned(Owner::User("bob"), OwnedTokens::All, now)
        .expect("revoke bob");
    assert_eq!(revoked, 2);
    assert_eq!(
        live_names(&store, now),
        ["a-cc", "b-cc", "alice-r", "alice-a", "alice-lone"]
    );
    assert!(store.grant_keys_now(GrantId(20)).is_empty());

    // A password change: alice's refresh tokens and their grants' access tokens go; the
    // access token issued without a refresh token stays until it expires.
    let revoked = store
        .revoke_owned(Owner::User("alice"), OwnedTokens::RefreshGrants, now)
        .expect("revoke alice's grants");
    assert_eq!(revoked, 1);
    assert_eq!(live_names(&store, now), ["a-cc", "b-cc", "alice-lone"]);
    assert!(store.grant_keys_now(GrantId(10)).is_empty());

    let log = logged_since(&store, since);
    assert!(log.contains(&Revoked::Grant(GrantId(10))), "{log:?}");
    assert!(log.contains(&Revoked::Grant(GrantId(20))), "{log:?}");
    assert!(log.contains(&Revoked::Token(conformance::key("bob-a"))));
    assert!(!log.contains(&Revoked::Token(conformance::key("alice-lone"))));
    drop_keyspace("ownuser");
}

#[test]
fn owner_revocation_removes_sessions_with_their_user_and_consents_and_codes_with_their_owner() {
    let mut n = 0;
    let store = fresh("ownother", &mut n);
    let now = real_now_secs();
    let record = |kind, client: &str, user: &str| StoredToken {
        client: Arc::from(client),
        user: Some(Arc::from(user)),
        issued_at: now,
        expires_at: now + 600,
        ..conformance::token(kind, if kind == TokenKind::Code { 30 } else { 0 }, 600)
    };
    let puts = [
        ("alice-session", record(TokenKind::Session, "", "alice")),
        ("bob-session", record(TokenKind::Session, "", "bob")),
        (
            "alice-consent",
            record(TokenKind::Consent, "svc-a", "alice"),
        ),
        ("bob-consent", record(TokenKind::Consent, "svc-b", "bob")),
        ("alice-code", record(TokenKind::Code, "svc-a", "alice")),
    ];
    let batch: Vec<Mutation> = puts
        .iter()
        .map(|(name, token)| Mutation::Put {
            key: conformance::key(name),
            token: token.clone(),
        })
        .collect();
    store.apply(&batch, false).expect("put");
    let live = || -> Vec<&str> {
        puts.iter()
            .map(|(name, _)| *name)
            .filter(|name| {
                store
                    .get(&conformance::key(name), now)
                    .expect("get")
                    .is_some()
            })
            .collect()
    };
    let revoke = |owner, which| store.revoke_owned(owner, which, now).expect("revoke");

    // Sessions belong to no client, not even one named "".
    assert_eq!(revoke(Owner::Client(""), OwnedTokens::All), 0);
    assert_eq!(live().len(), 5);
    // A removed client takes its consents (not counted: they are no tokens).
    assert_eq!(revoke(Owner::Client("svc-b"), OwnedTokens::All), 0);
    assert_eq!(
        live(),
        [
            "alice-session",
            "bob-session",
            "alice-consent",
            "alice-code"
        ]
    );
    // A password change ends alice's logins and her unredeemed code; her consent stays.
    revoke(Owner::User("alice"), OwnedTokens::RefreshGrants);
    assert_eq!(live(), ["bob-session", "alice-consent"]);
    // Removed users take everything.
    revoke(Owner::User("bob"), OwnedTokens::All);
    revoke(Owner::User("alice"), OwnedTokens::All);
    assert!(live().is_empty());
    drop_keyspace("ownother");
}

/// What the revocation log holds after `since_ms`.
fn logged_since(store: &CassandraStore, since_ms: u64) -> Vec<Revoked> {
    store
        .revocations_since(since_ms)
        .expect("poll")
        .into_iter()
        .map(|r| r.revoked)
        .collect()
}

impl CassandraStore {
    /// The keys linked to `grant` in `grants`, whatever their tokens' state.
    fn grant_keys_now(&self, grant: GrantId) -> Vec<TokenKey> {
        self.run(move |inner| {
            Box::pin(async move {
                Ok(inner
                    .grant_keys(grant)
                    .await?
                    .into_iter()
                    .map(|l| l.key)
                    .collect())
            })
        })
        .expect("grant links")
    }
}
