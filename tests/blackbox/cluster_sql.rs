//! Two `tessera` nodes sharing one relational database (`store.kind = "postgres"` and
//! `"mysql"`, issue 14), each test once on PostgreSQL and once on MariaDB: tokens issued on
//! one node validate, refresh and revoke on the other; one refresh token or one code raced
//! to both nodes is used exactly once and the loser's replay revokes the grant (RFC 9700
//! §4.14.2, RFC 6749 §4.1.2); clients, users and signing keys written with the command line
//! reach both nodes; `tessera migrate` and the schema-version check at start-up; the database
//! stopped and started again mid-test; and `kill -9` right after a `sync` answer.
//!
//! These tests need the real servers of `tests/services/postgres.sh` and `mysql.sh`
//! (`make test` starts them); without them they fail and say how to start them. Each test
//! owns a place (`Database`: a PostgreSQL schema or a MariaDB database, named after the test
//! and the process), runs `tessera migrate --config` on it with the real binary, then starts
//! its nodes. The outage tests stop and start the shared server, so they hold it for writing
//! while every other test here holds it for reading (per server, also across processes; see
//! `tests/support/sql_servers.rs`), and a guard starts the server again when one fails.
//!
//! Each behaviour is one function taking the `Dialect`; `on_both!` makes a module of that
//! name with a `postgres` and a `mysql` test, so `cargo test cluster_sql::` runs all,
//! `-- postgres` one server's.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::authorize::{exchange, web_client, web_code, with_web_clients, WEB_REDIRECT};
use crate::cluster::{
    assert_cannot_tell, cli_ok, cli_with_input, eventually, invalid_on, path_str, race,
    refresh_refused_on, refresh_request, two_nodes, valid_on, FLUSH_LIMIT, PROPAGATION_LIMIT,
    PROPAGATION_MS,
};
use crate::cluster_authorize::{exchange_request, sso_code};
use crate::harness::*;
use crate::sql_servers::{describe, exclusive_server, shared_server, Database, Dialect};

/// `fn name(dialect: Dialect)` becomes `mod name { #[test] fn postgres(); #[test] fn mysql() }`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use crate::sql_servers::Dialect;

                #[test]
                fn postgres() {
                    super::$name(Dialect::Postgres);
                }

                #[test]
                fn mysql() {
                    super::$name(Dialect::Mysql);
                }
            }
        )*
    };
}

on_both!(
    token_issued_on_node1_validates_on_node2_in_sync_mode,
    token_issued_on_node1_validates_on_node2_in_async_mode_within_the_flush_window,
    refresh_on_node2_of_a_grant_issued_on_node1,
    rfc9700_4_14_2_one_refresh_token_sent_to_two_nodes_at_once_succeeds_exactly_once,
    rfc9700_4_14_2_a_used_refresh_token_presented_again_revokes_its_grant_on_every_node,
    revocation_on_node1_is_honoured_by_node2_within_the_propagation_window_even_when_cached,
    rfc7009_refresh_token_revoked_on_node2_takes_its_grants_access_tokens_on_node1_with_it,
    rfc6749_4_1_3_a_code_from_node1_is_redeemed_on_node2_at_once,
    rfc6749_4_1_2_one_code_sent_to_two_nodes_at_once_is_redeemed_exactly_once_and_revoked,
    client_added_with_the_cli_works_on_both_nodes_without_restart,
    user_added_with_the_cli_can_use_the_password_grant_on_both_nodes_without_restart,
    keys_rotate_and_list_work_on_the_sql_store,
    migrate_is_idempotent_and_serve_refuses_a_missing_or_unknown_schema_naming_the_fix,
    a_token_acknowledged_in_sync_mode_survives_kill_9_of_its_node,
    database_outage_is_503_never_invalid_for_tokens_only_the_database_knows,
    database_outage_async_issuance_queues_then_503_sync_refuses_and_nothing_accepted_is_lost,
);

/// Each password-grant attempt costs an argon2id verification, so polls of the password
/// grant get this long instead of `PROPAGATION_LIMIT`.
const PASSWORD_POLL_LIMIT: Duration = Duration::from_secs(6);

// ---------------------------------------------------------------------------------------------
// Places and nodes
// ---------------------------------------------------------------------------------------------

/// The standard config on `db`, with `durability`: the URL in `[store.<dialect>]`, small
/// pool, fast flushes and a one-second revocation window.
pub(crate) fn sql_config(db: &Database, durability: &str) -> ConfigBuilder {
    let kind = db.dialect.name();
    ConfigBuilder::standard()
        .store("kind", &toml_str(kind))
        .store(&format!("{kind}.url"), &toml_str(&db.url))
        .store(&format!("{kind}.pool_size"), "4")
        .store("durability", &toml_str(durability))
        .store("flush_interval_ms", "10")
        .store("revocation_propagation_ms", &PROPAGATION_MS.to_string())
        .store("negative_cache_ms", "100")
        // These tests poll for clients and users that other nodes have not loaded yet;
        // each miss is a failed authentication, which must not lock the test out.
        .security("failed_auth_limit", "10000")
        .security("failed_auth_limit_per_address", "10000")
}

/// The config of an outage test: database requests fail within a second.
fn outage_config(db: &Database, durability: &str) -> ConfigBuilder {
    let kind = db.dialect.name();
    sql_config(db, durability)
        .store(&format!("{kind}.request_timeout_ms"), "1000")
        .store(&format!("{kind}.connect_timeout_ms"), "1000")
}

/// Runs `tessera migrate --config` for `config`; returns its stdout.
fn migrate(config: &ConfigBuilder) -> String {
    let dir = TempDir::new("migrate");
    let path = dir.write("tessera.toml", &config.build());
    cli_ok(&["migrate", "--config", path_str(&path)])
}

/// A fresh place on `dialect`'s server with Tessera's schema applied by `tessera migrate`.
pub(crate) fn migrated(dialect: Dialect, tag: &str) -> Database {
    let db = Database::new(dialect, tag);
    migrate(&sql_config(&db, "async"));
    db
}

/// Ok when `r` is a 200.
fn answered_200(r: &Response) -> Result<(), String> {
    if r.status == 200 {
        Ok(())
    } else {
        Err(r.summary())
    }
}

/// Ok when `introspect` on `node` says `token` is not active.
fn inactive_on(node: &Server, client: &Client, token: &str) -> Result<(), String> {
    let r = node.introspect(client, token);
    assert_eq!(r.status, 200, "{}", r.summary());
    match r.json().get("active") {
        Some(Value::Bool(false)) => Ok(()),
        _ => Err(r.summary()),
    }
}

/// Ok when `introspect` on `node` says `token` is active.
fn active_on(node: &Server, client: &Client, token: &str) -> Result<(), String> {
    match node.introspect(client, token).json().get("active") {
        Some(Value::Bool(true)) => Ok(()),
        other => Err(format!("active: {other:?}")),
    }
}

fn assert_valid_on(node: &Server, token: &str, which: &str) {
    if let Err(e) = valid_on(node, token) {
        panic!("{which} should accept the token: {e}");
    }
}

/// Waits until `node` accepts `token`, which another node may have issued.
fn held_by(node: &Server, token: &str, which: &str) {
    eventually(
        Instant::now(),
        FLUSH_LIMIT,
        &format!("{which} holds the token"),
        || valid_on(node, token),
    );
}

/// The sum of every sample of the metric `name` (the store's label is its own business).
fn metric(node: &Server, name: &str) -> f64 {
    node.metrics().find(name, &[]).iter().map(|s| s.value).sum()
}

// ---------------------------------------------------------------------------------------------
// Tokens across nodes
// ---------------------------------------------------------------------------------------------

fn token_issued_on_node1_validates_on_node2_in_sync_mode(dialect: Dialect) {
    let _server = shared_server(dialect);
    let db = migrated(dialect, "sync");
    let (node1, node2) = two_nodes(&sql_config(&db, "sync").build());
    let client = confidential_client();

    // sync: the token is committed before node 1 answers, so node 2 knows it at once.
    let issued = node1.issue_cc(&client, Some("read write"));
    let info = node2.tokeninfo(&issued.access_token);
    assert_eq!(info.status, 200, "node 2 tokeninfo: {}", info.summary());
    assert_eq!(info.json_str("audience"), "svc-a");
    assert_eq!(scope_set(&info.json_str("scope")), scope_set("read write"));
    assert_eq!(info.json_str("department"), "Engineering");
    assert!(info.json_i64("expires_in") > 3500, "{}", info.summary());

    let owned = node1.issue_password(&client, ALICE, None);
    let info = node2.tokeninfo(&owned.access_token);
    assert_eq!(info.status, 200, "node 2 tokeninfo: {}", info.summary());
    assert_eq!(info.json_str("user_id"), "alice");
    let intro = node2.introspect(&other_client(), &owned.access_token);
    assert_eq!(
        intro.json().get("active"),
        Some(&Value::Bool(true)),
        "{}",
        intro.summary()
    );
    assert_eq!(intro.json_str("client_id"), "svc-a");
    // Only hashes reach the database: rows keyed by 16 bytes, the tokens nowhere in them.
    let rows = db
        .sql("SELECT LENGTH(token_hash), client_id, user_name, scope, metadata FROM access_tokens");
    assert_eq!(rows.lines().count(), 2, "access_tokens rows:\n{rows}");
    for row in rows.lines() {
        assert!(row.starts_with("16\t"), "a key that is not 16 bytes: {row}");
    }
    for token in [
        issued.access_token.as_str(),
        owned.access_token.as_str(),
        owned.refresh_token(),
    ] {
        assert!(!rows.contains(token), "a token in the database: {rows}");
    }
}

fn token_issued_on_node1_validates_on_node2_in_async_mode_within_the_flush_window(
    dialect: Dialect,
) {
    let _server = shared_server(dialect);
    let db = migrated(dialect, "async");
    let (node1, node2) = two_nodes(&sql_config(&db, "async").build());
    let client = confidential_client();

    let issued = node1.issue_cc(&client, Some("read"));
    let took = eventually(
        Instant::now(),
        FLUSH_LIMIT,
        "node 2 accepts node 1's token",
        || valid_on(&node2, &issued.access_token),
    );
    eprintln!(
        "{}, async: node 2 accepted a token issued on node 1 after {} ms",
        dialect.name(),
        took.as_millis()
    );
    let info = node2.tokeninfo(&issued.access_token);
    assert_eq!(info.json_str("audience"), "svc-a");
    assert_eq!(info.json_str("scope"), "read");
}

fn refresh_on_node2_of_a_grant_issued_on_node1(dialect: Dialect) {
    let _server = shared_server(dialect);
    let db = migrated(dialect, "refresh");
    let (node1, node2) = two_nodes(&sql_config(&db, "sync").build());
    let client = confidential_client();

    let first = node1.issue_password(&client, ALICE, Some("read write"));
    // Rotate policy: a new pair, the old refresh token used up.
    let second = node2.issue_refresh(&client, first.refresh_token(), None);
    assert_ne!(second.access_token, first.access_token);
    assert_ne!(second.refresh_token(), first.refresh_token());
    assert_eq!(scope_set(&second.scope), scope_set("read write"));
    for (node, which) in [(&node1, "node 1"), (&node2, "node 2")] {
        let info = node.tokeninfo(&second.access_token);
        assert_eq!(info.status, 200, "{which}: {}", info.summary());
        assert_eq!(info.json_str("user_id"), "alice", "{which}");
        assert_eq!(info.json_str("audience"), "svc-a", "{which}");
    }
    // The same refresh token cannot be used twice on node 2 either.
    assert_token_error(
        &node2.refresh(&client, first.refresh_token(), None),
        400,
        "invalid_grant",
    );
    // Node 1 issued the old refresh token and still held it; the rotation on node 2 must
    // reach it within the propagation window. Introspection looks without using it up.
    let took = eventually(
        Instant::now(),
        PROPAGATION_LIMIT,
        "node 1 forgets the refresh token node 2 rotated out",
        || inactive_on(&node1, &client, first.refresh_token()),
    );
    eprintln!(
        "{}: rotation on node 2 reached node 1 after {} ms",
        dialect.name(),
        took.as_millis()
    );
    assert_token_error(
        &node1.refresh(&client, first.refresh_token(), None),
        400,
        "invalid_grant",
    );
    // Presenting the used token again was reuse (RFC 9700 §4.14.2): the whole grant is
    // revoked, the refresh token that replaced it included, on both nodes.
    for (node, which) in [(&node1, "node 1"), (&node2, "node 2")] {
        assert_token_error(
            &node.refresh(&client, second.refresh_token(), None),
            400,
            "invalid_grant",
        );
        eventually(
            Instant::now(),
            PROPAGATION_LIMIT,
            &format!("{which} drops the access token of the revoked grant"),
            || invalid_on(node, &second.access_token),
        );
    }
    // A revoke on node 2 of a token node 1 issued (and still holds) reaches node 1.
    let third = node1.issue_cc(&client, None);
    let r = node2.revoke(&client, &third.access_token, None);
    assert_eq!(r.status, 200, "revoke on node 2: {}", r.summary());
    eventually(
        Instant::now(),
        PROPAGATION_LIMIT,
        "node 1 refuses the token node 2 revoked",
        || invalid_on(&node1, &third.access_token),
    );
}

fn rfc9700_4_14_2_one_refresh_token_sent_to_two_nodes_at_once_succeeds_exactly_once(
    dialect: Dialect,
) {
    let _server = shared_server(dialect);
    let db = migrated(dialect, "race");
    // sync: the refresh token is committed before the response, so both nodes find it.
    let (node1, node2) = two_nodes(&sql_config(&db, "sync").build());
    let client = confidential_client();
    let addrs = [node1.addr, node2.addr];
    let rounds = 40;
    let mut replayed = Vec::new();
    for round in 0..rounds {
        // From either node, so either may hold the token it races for in memory.
        let issuer = if round % 2 == 0 { &node1 } else { &node2 };
        let owner = issuer.issue_password(&client, ALICE, None);
        let answers = race(&addrs, &refresh_request(&client, owner.refresh_token()));
        let ok = answers.iter().filter(|r| r.status == 200).count();
        assert_eq!(
            ok,
            1,
            "round {round}: exactly one refresh may succeed: {} | {}",
            answers[0].summary(),
            answers[1].summary()
        );
        for r in answers.iter().filter(|r| r.status != 200) {
            assert_token_error(r, 400, "invalid_grant");
        }
        // A loser recognised as a replay revoked the grant: the winner's new tokens with it,
        // also on the node that did not see the race and in the database.
        if answers.iter().any(|r| r.text().contains("already used")) {
            let winner = answers.iter().find(|r| r.status == 200).expect("winner");
            replayed.push(Issued::from_response(winner.clone()));
        }
    }
    for issued in &replayed {
        for node in [&node1, &node2] {
            eventually(
                Instant::now(),
                Duration::from_millis(PROPAGATION_MS * 3),
                "the winner's access token revoked",
                || {
                    let r = node.tokeninfo(&issued.access_token);
                    if r.status == 400 {
                        Ok(())
                    } else {
                        Err(r.summary())
                    }
                },
            );
        }
    }
    // Each loser presented a token that was being used: reuse, which revoked the grant.
    let reuses = metric(&node1, "tessera_refresh_token_reuse_total")
        + metric(&node2, "tessera_refresh_token_reuse_total");
    eprintln!(
        "{} race: {rounds} rounds, {reuses} losers detected as reuse",
        dialect.name()
    );
    assert!(reuses >= 1.0, "no losing refresh was counted as reuse");
}

fn rfc9700_4_14_2_a_used_refresh_token_presented_again_revokes_its_grant_on_every_node(
    dialect: Dialect,
) {
    let _server = shared_server(dialect);
    let db = migrated(dialect, "reuse");
    let config = sql_config(&db, "async").build();
    let (node1, node2) = two_nodes(&config);
    let client = confidential_client();
    let first = node1.issue_password(&client, ALICE, None);
    let second = node1.issue_refresh(&client, first.refresh_token(), None);
    held_by(&node2, &second.access_token, "node 2");
    // The thief (or a confused client) replays the rotated-out token on the other node.
    assert_token_error(
        &node2.refresh(&client, first.refresh_token(), None),
        400,
        "invalid_grant",
    );
    assert_eq!(metric(&node2, "tessera_refresh_token_reuse_total"), 1.0);
    // Every token of the grant is gone everywhere: the replacing refresh token and the
    // access tokens, also on the node that issued them.
    for (node, which) in [(&node1, "node 1"), (&node2, "node 2")] {
        eventually(
            Instant::now(),
            PROPAGATION_LIMIT,
            &format!("{which} drops the grant's tokens"),
            || {
                invalid_on(node, &second.access_token)?;
                invalid_on(node, &first.access_token)
            },
        );
        assert_token_error(
            &node.refresh(&client, second.refresh_token(), None),
            400,
            "invalid_grant",
        );
    }
    // A restarted node still knows: the use is remembered in the database.
    drop(node2);
    let node3 = Server::start(&config);
    assert_token_error(
        &node3.refresh(&client, first.refresh_token(), None),
        400,
        "invalid_grant",
    );
    assert_eq!(
        metric(&node3, "tessera_refresh_token_reuse_total"),
        1.0,
        "the restarted node recognises the replay"
    );
}

// ---------------------------------------------------------------------------------------------
// Revocation across nodes
// ---------------------------------------------------------------------------------------------

fn revocation_on_node1_is_honoured_by_node2_within_the_propagation_window_even_when_cached(
    dialect: Dialect,
) {
    let _server = shared_server(dialect);
    let db = migrated(dialect, "revoke");
    let (node1, node2) = two_nodes(&sql_config(&db, "async").build());
    let client = confidential_client();

    let issued = node1.issue_cc(&client, None);
    // Node 2 reads it through from the database and keeps it in its own table.
    held_by(&node2, &issued.access_token, "node 2");
    assert_valid_on(&node2, &issued.access_token, "node 2 (cached)");

    let r = node1.revoke(&client, &issued.access_token, None);
    assert_eq!(r.status, 200, "revoke on node 1: {}", r.summary());
    let revoked_at = Instant::now();
    invalid_on(&node1, &issued.access_token)
        .unwrap_or_else(|e| panic!("node 1 still accepts the token it revoked: {e}"));
    let took = eventually(
        revoked_at,
        PROPAGATION_LIMIT,
        "node 2 rejects the token revoked on node 1",
        || invalid_on(&node2, &issued.access_token),
    );
    eprintln!(
        "{}: revocation on node 1 honoured by node 2 after {} ms \
         (revocation_propagation_ms = {PROPAGATION_MS})",
        dialect.name(),
        took.as_millis()
    );
    // And it stays revoked (not read back from the database).
    thread::sleep(Duration::from_millis(300));
    invalid_on(&node2, &issued.access_token)
        .unwrap_or_else(|e| panic!("node 2 accepts the revoked token again: {e}"));
    inactive_on(&node2, &client, &issued.access_token)
        .unwrap_or_else(|e| panic!("node 2 introspects the revoked token as active: {e}"));
}

fn rfc7009_refresh_token_revoked_on_node2_takes_its_grants_access_tokens_on_node1_with_it(
    dialect: Dialect,
) {
    let _server = shared_server(dialect);
    let db = migrated(dialect, "cascade");
    let (node1, node2) = two_nodes(&sql_config(&db, "async").build());
    let client = confidential_client();

    let first = node1.issue_password(&client, ALICE, None);
    let second = node1.issue_refresh(&client, first.refresh_token(), None);
    assert_valid_on(&node1, &first.access_token, "node 1");
    // Node 2 must find the refresh token in the database to revoke it.
    eventually(
        Instant::now(),
        FLUSH_LIMIT,
        "node 2 knows the grant",
        || {
            valid_on(&node2, &second.access_token)?;
            active_on(&node2, &client, second.refresh_token())
        },
    );

    let r = node2.revoke(&client, second.refresh_token(), Some("refresh_token"));
    assert_eq!(r.status, 200, "revoke on node 2: {}", r.summary());
    let took = eventually(
        Instant::now(),
        PROPAGATION_LIMIT,
        "node 1 rejects every access token of the revoked grant",
        || {
            invalid_on(&node1, &first.access_token)?;
            invalid_on(&node1, &second.access_token)
        },
    );
    eprintln!(
        "{}: grant revoked on node 2 reached node 1 after {} ms",
        dialect.name(),
        took.as_millis()
    );
    invalid_on(&node2, &second.access_token)
        .unwrap_or_else(|e| panic!("node 2 accepts an access token of the grant it revoked: {e}"));
    assert_token_error(
        &node1.refresh(&client, second.refresh_token(), None),
        400,
        "invalid_grant",
    );
}

// ---------------------------------------------------------------------------------------------
// Authorization codes across nodes
// ---------------------------------------------------------------------------------------------

/// A code issued by node 1 in a browser flow is redeemed on node 2 with no wait at all (the
/// code is in the database before the redirect leaves node 1), in either durability mode,
/// and is spent on node 1 afterwards.
fn rfc6749_4_1_3_a_code_from_node1_is_redeemed_on_node2_at_once(dialect: Dialect) {
    let _server = shared_server(dialect);
    let db = migrated(dialect, "ac_code");
    for durability in ["async", "sync"] {
        let (node1, node2) = two_nodes(&with_web_clients(sql_config(&db, durability)).build());
        for round in 0..3 {
            let pkce = Pkce::new();
            let (code, _) = web_code(&node1, &pkce, "openid read");
            let r = exchange(&node2, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
            assert_eq!(
                r.status,
                200,
                "{durability}, round {round}: node 2 redeems node 1's code at once: {}",
                r.summary()
            );
            let issued = Issued::from_response(r.clone());
            let claims = jwt_claims(&r.json_str("id_token"));
            assert_eq!(claims["sub"], "alice2");
            assert_eq!(claims["nonce"], "n-1", "the code's nonce crossed nodes");
            held_by(&node1, &issued.access_token, "node 1");
            // Single use holds across nodes too: back on node 1 the code is spent.
            let again = exchange(&node1, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
            assert_token_error(&again, 400, "invalid_grant");
        }
    }
}

fn rfc6749_4_1_2_one_code_sent_to_two_nodes_at_once_is_redeemed_exactly_once_and_revoked(
    dialect: Dialect,
) {
    let _server = shared_server(dialect);
    let db = migrated(dialect, "ac_race");
    let config = with_web_clients(sql_config(&db, "async")).build();
    let (node1, node2) = two_nodes(&config);
    let nodes = [&node1, &node2];
    let addrs = [node1.addr, node2.addr];
    // Logged in and consented once; every further code comes from prompt=none.
    let (_, mut agent) = web_code(&node1, &Pkce::new(), "openid read");
    let rounds = 20;
    let mut winners_tokens: Vec<String> = Vec::new();
    for round in 0..rounds {
        let pkce = Pkce::new();
        // Codes from both nodes, so either node may hold the code it races for.
        let code = sso_code(&mut agent, nodes[round % 2], "web", &pkce);
        let answers = race(&addrs, &exchange_request(&code, &pkce.verifier));
        let winners: Vec<usize> = (0..2).filter(|&i| answers[i].status == 200).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one redemption may succeed: node 1 {} | node 2 {}",
            answers[0].summary(),
            answers[1].summary()
        );
        let winner = winners[0];
        assert_token_error(&answers[1 - winner], 400, "invalid_grant");
        // The loser was a second use: the winner's tokens are revoked on both nodes.
        let issued = Issued::from_response(answers[winner].clone());
        let since = Instant::now();
        for (i, node) in nodes.iter().enumerate() {
            eventually(
                since,
                PROPAGATION_LIMIT,
                &format!(
                    "round {round}: node {} refuses the access token node {} issued from a \
                     code used twice",
                    i + 1,
                    winner + 1
                ),
                || invalid_on(node, &issued.access_token),
            );
        }
        for node in nodes {
            refresh_refused_on(node, &web_client(), issued.refresh_token())
                .unwrap_or_else(|e| panic!("round {round}: the refresh token survived: {e}"));
        }
        winners_tokens.push(issued.access_token);
    }
    // Gone from the database too, not only from the two nodes' tables: a node that starts
    // now reads nothing of them through.
    drop((node1, node2));
    let fresh = Server::start(&config);
    for (round, token) in winners_tokens.iter().enumerate() {
        invalid_on(&fresh, token).unwrap_or_else(|e| {
            panic!("round {round}: the database still holds the winner's access token: {e}")
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Clients, users and keys kept in the database
// ---------------------------------------------------------------------------------------------

fn client_added_with_the_cli_works_on_both_nodes_without_restart(dialect: Dialect) {
    let _server = shared_server(dialect);
    let db = migrated(dialect, "cli_client");
    let (node1, node2) = two_nodes(&sql_config(&db, "async").build());
    let config = path_str(&node1.config_path);
    let added = Client::new(
        "svc-cli",
        Some("cli-secret-long-enough-1"),
        AuthMethod::Basic,
    );

    assert_invalid_client_basic(&node1.client_credentials(&added, None), "tessera");
    cli_with_input(
        &[
            "client",
            "add",
            "--config",
            config,
            "--id",
            "svc-cli",
            "--secret-stdin",
            "--grant-types",
            "client_credentials",
            "--scopes",
            "read",
        ],
        b"cli-secret-long-enough-1\n",
    );
    let added_at = Instant::now();
    for (node, which) in [(&node1, "node 1"), (&node2, "node 2")] {
        let took = eventually(
            added_at,
            PROPAGATION_LIMIT,
            &format!("{which} issues tokens to the client added with the CLI"),
            || answered_200(&node.client_credentials(&added, None)),
        );
        eprintln!(
            "{}: client add reached {which} after {} ms",
            dialect.name(),
            took.as_millis()
        );
        let issued = node.issue_cc(&added, None);
        assert_eq!(issued.scope, "read", "{which}");
        assert_eq!(
            node.tokeninfo(&issued.access_token).json_str("audience"),
            "svc-cli",
            "{which}"
        );
    }
    // A wrong secret is still refused.
    assert_invalid_client_basic(
        &node2.client_credentials(&added.with_secret("nope"), None),
        "tessera",
    );
    let listed = cli_ok(&["client", "list", "--config", config]);
    let line = listed
        .lines()
        .find(|l| l.split('\t').next() == Some("svc-cli"))
        .unwrap_or_else(|| panic!("client list does not show svc-cli:\n{listed}"));
    assert!(line.contains("client_credentials"), "{line}");
    assert!(
        !listed.contains("cli-secret-long-enough-1"),
        "list shows the secret: {listed}"
    );

    // A token of the client, held in both nodes' memory before the removal.
    let held = node1.issue_cc(&added, None);
    held_by(&node2, &held.access_token, "node 2");
    cli_ok(&["client", "remove", "--config", config, "--id", "svc-cli"]);
    let removed_at = Instant::now();
    for (node, which) in [(&node1, "node 1"), (&node2, "node 2")] {
        eventually(
            removed_at,
            PROPAGATION_LIMIT,
            &format!("{which} refuses the client removed with the CLI"),
            || {
                let r = node.client_credentials(&added, None);
                if r.status == 401 {
                    assert_invalid_client_basic(&r, "tessera");
                    Ok(())
                } else {
                    Err(r.summary())
                }
            },
        );
        // Its tokens are dead on a node as soon as the node knows of the removal.
        invalid_on(node, &held.access_token)
            .unwrap_or_else(|e| panic!("{which} still accepts a removed client's token: {e}"));
    }
    let again = run_cli(
        &["client", "remove", "--config", config, "--id", "svc-cli"],
        None,
    );
    assert_eq!(again.status.code(), Some(2), "{}", describe(&again));
}

fn user_added_with_the_cli_can_use_the_password_grant_on_both_nodes_without_restart(
    dialect: Dialect,
) {
    let _server = shared_server(dialect);
    let db = migrated(dialect, "cli_user");
    let (node1, node2) = two_nodes(&sql_config(&db, "async").build());
    let config = path_str(&node1.config_path);
    let client = confidential_client();
    let dave = ("dave", "dave-pw-42");

    cli_with_input(
        &[
            "user",
            "add",
            "--config",
            config,
            "--username",
            dave.0,
            "--password-stdin",
        ],
        format!("{}\n", dave.1).as_bytes(),
    );
    let added_at = Instant::now();
    for (node, which) in [(&node1, "node 1"), (&node2, "node 2")] {
        let took = eventually(
            added_at,
            PASSWORD_POLL_LIMIT,
            &format!("{which} accepts the password of the user added with the CLI"),
            || answered_200(&node.password(&client, dave, None)),
        );
        eprintln!(
            "{}: user add reached {which} after {} ms",
            dialect.name(),
            took.as_millis()
        );
    }
    let issued = node2.issue_password(&client, dave, None);
    held_by(&node1, &issued.access_token, "node 1");
    assert_eq!(
        node1.tokeninfo(&issued.access_token).json_str("user_id"),
        "dave"
    );
    assert_token_error(
        &node1.password(&client, (dave.0, "wrong"), None),
        400,
        "invalid_grant",
    );
    let listed = cli_ok(&["user", "list", "--config", config]);
    assert!(
        listed.lines().any(|l| l.trim() == "dave"),
        "user list does not show dave:\n{listed}"
    );

    cli_ok(&["user", "remove", "--config", config, "--username", "dave"]);
    let removed_at = Instant::now();
    for (node, which) in [(&node1, "node 1"), (&node2, "node 2")] {
        eventually(
            removed_at,
            PASSWORD_POLL_LIMIT,
            &format!("{which} refuses the user removed with the CLI"),
            || {
                let r = node.password(&client, dave, None);
                if r.status == 400 {
                    assert_token_error(&r, 400, "invalid_grant");
                    Ok(())
                } else {
                    Err(r.summary())
                }
            },
        );
        // The user's tokens go with the user.
        eventually(
            removed_at,
            PROPAGATION_LIMIT,
            &format!("{which} refuses the removed user's token"),
            || invalid_on(node, &issued.access_token),
        );
    }
}

fn keys_rotate_and_list_work_on_the_sql_store(dialect: Dialect) {
    let _server = shared_server(dialect);
    let db = migrated(dialect, "keys");
    let dir = TempDir::new("keys-sql");
    let path = dir.write("tessera.toml", &sql_config(&db, "async").build());
    let config = path_str(&path);
    let list = |want: usize| {
        let out = cli_ok(&["keys", "list", "--config", config]);
        assert_eq!(out.lines().count(), want, "{out}");
        out
    };
    // The first rotation of an empty store creates the key set (a key per algorithm).
    let out = cli_ok(&["keys", "rotate", "--alg", "ES256", "--config", config]);
    assert!(out.contains("ES256 key "), "{out}");
    list(2);
    let out = cli_ok(&["keys", "rotate", "--alg", "ES256", "--config", config]);
    let kid = out
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("ES256 key "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the new kid")
        .to_owned();
    let out = list(3);
    assert!(
        out.lines()
            .any(|l| l.starts_with(&kid) && l.ends_with("\tactive")),
        "{out}"
    );
    // Both nodes publish the key set from the database, the new key included.
    let (node1, node2) = two_nodes(&with_web_clients(sql_config(&db, "async")).build());
    for (node, which) in [(&node1, "node 1"), (&node2, "node 2")] {
        let jwks = node.get("/api/oauth/jwks");
        assert_eq!(jwks.status, 200, "{which}: {}", jwks.summary());
        assert!(
            jwks.text().contains(&kid),
            "{which} does not publish {kid}: {}",
            jwks.summary()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------

/// The words of `text` (runs of letters and digits), the test server's address left out.
fn words(text: &str) -> Vec<String> {
    text.replace("127.0.0.1", " ")
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The server's stderr in a `Server::try_start` error (the config before it names the
/// test's place, whose pid could hold any number).
fn start_error_stderr(err: &str) -> &str {
    err.rsplit_once("stderr:\n").map_or(err, |(_, s)| s)
}

fn migrate_is_idempotent_and_serve_refuses_a_missing_or_unknown_schema_naming_the_fix(
    dialect: Dialect,
) {
    let _server = shared_server(dialect);
    let db = Database::new(dialect, "migrate");
    let config = sql_config(&db, "sync");

    // An empty database: serve refuses to start and says what to run.
    let refused = match Server::try_start(&config.build()) {
        Ok(_) => panic!("serve started on a database without Tessera's schema"),
        Err(e) => e,
    };
    assert!(
        start_error_stderr(&refused).contains("tessera migrate"),
        "the start-up error should point at `tessera migrate`: {refused}"
    );

    let out = migrate(&config);
    assert!(
        out.contains("version 1") && out.contains("created"),
        "first migrate: {out}"
    );
    let tables = db.tables();
    for table in [
        "access_tokens",
        "refresh_tokens",
        "authorization_codes",
        "used_tokens",
        "revocations",
        "clients",
        "users",
        "schema_version",
    ] {
        assert!(
            tables.iter().any(|t| t == table),
            "migrate did not create {table}; tables: {tables:?}"
        );
    }
    assert_eq!(db.sql("SELECT version FROM schema_version").trim(), "1");
    // Idempotent: again, nothing changes and it says so.
    let out = migrate(&config);
    assert!(
        out.contains("version 1") && out.contains("already current"),
        "second migrate: {out}"
    );
    assert_eq!(db.sql("SELECT COUNT(*) FROM schema_version").trim(), "1");
    assert_eq!(db.tables(), tables);

    {
        let (node1, node2) = two_nodes(&config.build());
        let issued = node1.issue_cc(&confidential_client(), None);
        assert_valid_on(&node2, &issued.access_token, "node 2");
    }

    // A schema from a newer Tessera: serve refuses it, naming both versions.
    db.sql("UPDATE schema_version SET version = 99");
    let refused = match Server::try_start(&config.build()) {
        Ok(_) => panic!("serve started on a schema of version 99"),
        Err(e) => e,
    };
    let stderr = start_error_stderr(&refused);
    assert!(
        stderr.lines().any(|l| {
            let w = words(l);
            w.iter().any(|w| w == "99") && w.iter().any(|w| w == "1")
        }),
        "the start-up error should name the database's version 99 and this build's 1: {refused}"
    );
    // And migrate does not take it back to a version it knows.
    let dir = TempDir::new("migrate99");
    let path = dir.write("tessera.toml", &config.build());
    let out = run_cli(&["migrate", "--config", path_str(&path)], None);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("99"),
        "migrate over a newer schema should refuse, naming 99: {}",
        describe(&out)
    );
    assert_eq!(db.sql("SELECT version FROM schema_version").trim(), "99");
}

// ---------------------------------------------------------------------------------------------
// Crashes and outages
// ---------------------------------------------------------------------------------------------

fn a_token_acknowledged_in_sync_mode_survives_kill_9_of_its_node(dialect: Dialect) {
    let _server = shared_server(dialect);
    let db = migrated(dialect, "kill9");
    let (node1, node2) = two_nodes(&sql_config(&db, "sync").build());
    let client = confidential_client();

    // Answers acknowledged in sync mode, then kill -9 at once: no flush after the answer.
    let owner = node1.issue_password(&client, ALICE, Some("read write"));
    let revoked = node1.issue_cc(&client, None);
    let r = node1.revoke(&client, &revoked.access_token, None);
    assert_eq!(r.status, 200, "revoke: {}", r.summary());
    let mut tokens = Vec::new();
    for _ in 0..10 {
        tokens.push(node1.issue_cc(&client, None).access_token);
    }
    node1.kill_hard();

    // Node 2 never saw any of them: all it knows comes from the database.
    for (i, token) in tokens.iter().enumerate() {
        assert_valid_on(&node2, token, &format!("node 2 (token {i})"));
    }
    let info = node2.tokeninfo(&owner.access_token);
    assert_eq!(info.status, 200, "{}", info.summary());
    assert_eq!(info.json_str("user_id"), "alice");
    invalid_on(&node2, &revoked.access_token)
        .unwrap_or_else(|e| panic!("a revocation acknowledged before kill -9 was lost: {e}"));
    let next = node2.issue_refresh(&client, owner.refresh_token(), None);
    assert_eq!(scope_set(&next.scope), scope_set("read write"));
}

/// The node's write-behind figures from `/metrics`: (queue depth, batches, errors).
fn store_figures(node: &Server) -> (f64, f64, f64) {
    (
        metric(node, "tessera_store_queue_depth"),
        metric(node, "tessera_store_batches_total"),
        metric(node, "tessera_store_errors_total"),
    )
}

/// Waits until `node` has written everything it accepted: the queue is empty, a batch has
/// succeeded since `batches_before`, and no write has failed for `QUIET` (a batch the
/// flusher is still retrying is out of the queue, but it fails again within the backoff
/// limit of 1 s plus the 1 s request timeout).
fn wait_until_written(node: &Server, batches_before: f64, limit: Duration) -> Duration {
    const QUIET: Duration = Duration::from_secs(3);
    let t0 = Instant::now();
    let mut last_errors = -1.0;
    let mut errors_since = Instant::now();
    loop {
        let (depth, batches, errors) = store_figures(node);
        if errors != last_errors {
            last_errors = errors;
            errors_since = Instant::now();
        }
        if depth == 0.0 && batches > batches_before && errors_since.elapsed() >= QUIET {
            return t0.elapsed();
        }
        if t0.elapsed() > limit {
            panic!(
                "the node did not write its queue within {limit:?}: depth {depth}, batches \
                 {batches} (before: {batches_before}), errors {errors}"
            );
        }
        thread::sleep(Duration::from_millis(250));
    }
}

/// How long a sync-mode node may take to refuse a token request while the database is down
/// (a database request fails within `request_timeout_ms` = 1000 here).
const SYNC_ANSWER_LIMIT: Duration = Duration::from_secs(5);

/// A client_credentials request as `client`; its answer, or `None` when none arrives within
/// `limit`.
fn token_answer_within(node: &Server, client: &Client, limit: Duration) -> Option<Response> {
    let secret = client.secret.as_deref().expect("confidential client");
    let request = raw_form_post(
        TOKEN_PATH,
        &form(&[("grant_type", "client_credentials")]),
        &[("Authorization", &basic_auth(&client.id, secret))],
    );
    let mut conn = node.conn();
    conn.send(&request);
    if conn.data_within(limit) {
        Some(conn.read_response())
    } else {
        None
    }
}

fn database_outage_is_503_never_invalid_for_tokens_only_the_database_knows(dialect: Dialect) {
    let server = exclusive_server(dialect);
    let db = migrated(dialect, "cannot_tell");
    let config = outage_config(&db, "async").build();
    let (issuer, other) = two_nodes(&config);
    let client = confidential_client();
    let (_, batches_before, _) = store_figures(&issuer);
    let access = issuer.issue_cc(&client, None);
    let owner = issuer.issue_password(&client, ALICE, None);
    // Written to the database, never looked up on `other`: only the database knows them.
    wait_until_written(&issuer, batches_before, Duration::from_secs(30));

    let mut restart = server.stop();

    assert_cannot_tell(&other.tokeninfo(&access.access_token), "tokeninfo");
    assert_cannot_tell(
        &other.introspect(&client, &access.access_token),
        "introspect",
    );
    assert_cannot_tell(
        &other.refresh(&client, owner.refresh_token(), None),
        "refresh",
    );
    assert_cannot_tell(&other.revoke(&client, &access.access_token, None), "revoke");
    // What a node holds itself still answers without the database.
    assert_valid_on(&issuer, &access.access_token, "the issuing node");

    restart.start_now();
    // Back: the same requests get real answers, and nothing was used up by the 503s.
    eventually(
        Instant::now(),
        Duration::from_secs(60),
        "the other node reads the token through again",
        || valid_on(&other, &access.access_token),
    );
    let next = other.refresh(&client, owner.refresh_token(), None);
    assert_eq!(
        next.status,
        200,
        "refresh after the outage: {}",
        next.summary()
    );
}

fn database_outage_async_issuance_queues_then_503_sync_refuses_and_nothing_accepted_is_lost(
    dialect: Dialect,
) {
    const QUEUE: usize = 64;
    let server = exclusive_server(dialect);
    let db = migrated(dialect, "outage");
    let async_config = outage_config(&db, "async")
        .store("queue_capacity", &QUEUE.to_string())
        .build();
    let node = Server::start(&async_config);
    let sync_node = Server::start(&outage_config(&db, "sync").build());
    let client = confidential_client();

    // Before the outage: two tokens the database holds (the sync node reads them through).
    let kept = node.issue_cc(&client, None);
    let doomed = node.issue_cc(&client, Some("read write"));
    eventually(
        Instant::now(),
        FLUSH_LIMIT,
        "tokens reach the database before the outage",
        || {
            valid_on(&sync_node, &kept.access_token)?;
            valid_on(&sync_node, &doomed.access_token)
        },
    );
    let (_, batches_before, _) = store_figures(&node);

    let mut restart = server.stop();
    let outage_began = Instant::now();

    // Async: issuance goes on from memory; every token accepted must not be lost.
    let owner = node.issue_password(&client, ALICE, None);
    let mut accepted: Vec<String> = vec![owner.access_token.clone()];
    // A revocation is acknowledged only once the database has it, also in async mode: during
    // the outage it answers 503 with Retry-After. The node stops accepting the token at
    // once all the same, and its delete stays queued, so it is not lost either.
    let sent = Instant::now();
    let r = node.revoke(&client, &doomed.access_token, None);
    eprintln!(
        "{} outage: revoke answered {} after {} ms",
        dialect.name(),
        r.status,
        sent.elapsed().as_millis()
    );
    assert_cannot_tell(&r, "revoke");
    invalid_on(&node, &doomed.access_token)
        .unwrap_or_else(|e| panic!("the revoked token is still accepted: {e}"));
    // Until the queue is full; then 503 with Retry-After, not an unbounded queue.
    let mut refused = None;
    let filling = Instant::now();
    for _ in 0..QUEUE * 4 {
        let r = node.client_credentials(&client, None);
        match r.status {
            200 => accepted.push(r.json_str("access_token")),
            503 => {
                refused = Some(r);
                break;
            }
            other => panic!(
                "unexpected status {other} during the outage: {}",
                r.summary()
            ),
        }
    }
    let refused = refused.unwrap_or_else(|| {
        panic!(
            "{} tokens accepted with the database down and queue_capacity = {QUEUE}: the \
             queue never filled",
            accepted.len()
        )
    });
    eprintln!(
        "{} outage: {} tokens accepted from memory in {} ms, then {}",
        dialect.name(),
        accepted.len(),
        filling.elapsed().as_millis(),
        refused.status
    );
    assert_cannot_tell(&refused, "issuance with a full queue");
    assert!(
        accepted.len() >= QUEUE / 4,
        "only {} tokens accepted from memory before the 503 (queue_capacity = {QUEUE})",
        accepted.len()
    );
    // Lookups need no database: what the node holds still validates.
    assert_valid_on(
        &node,
        &kept.access_token,
        "the async node during the outage",
    );
    for t in &accepted {
        assert_valid_on(&node, t, "the async node during the outage");
    }
    assert_valid_on(
        &sync_node,
        &kept.access_token,
        "the sync node (cached) during the outage",
    );
    // Sync: nothing is acknowledged that is not committed, so issuance is refused, promptly,
    // for every request of the outage (not only the first).
    let mut sync_problems: Vec<String> = Vec::new();
    for attempt in 1..=3 {
        let sent = Instant::now();
        match token_answer_within(&sync_node, &client, SYNC_ANSWER_LIMIT) {
            None => sync_problems.push(format!(
                "token request {attempt} to the sync-mode node got no answer within \
                 {SYNC_ANSWER_LIMIT:?} while the database was down (expected 503)"
            )),
            Some(r) => {
                eprintln!(
                    "{} outage: sync node answered request {attempt} with {} after {} ms",
                    dialect.name(),
                    r.status,
                    sent.elapsed().as_millis()
                );
                assert_cannot_tell(&r, "sync issuance");
            }
        }
    }
    let (depth, _, errors) = store_figures(&node);
    eprintln!(
        "{} outage: {} ms in; async queue depth {depth}, store errors {errors}",
        dialect.name(),
        outage_began.elapsed().as_millis()
    );

    let restarting = Instant::now();
    restart.start_now();
    eprintln!(
        "{} answered again after {} ms",
        dialect.server_name(),
        restarting.elapsed().as_millis()
    );
    let took = wait_until_written(&node, batches_before, Duration::from_secs(90));
    eprintln!(
        "async node wrote its queue {} ms after the database answered",
        took.as_millis()
    );
    // The client's retry of the refused revocation: 200 now that the database has it.
    let r = node.revoke(&client, &doomed.access_token, None);
    assert_eq!(
        r.status,
        200,
        "revoke retried after the outage: {}",
        r.summary()
    );
    for (n, which) in [(&node, "the async node"), (&sync_node, "the sync node")] {
        eventually(
            Instant::now(),
            Duration::from_secs(30),
            &format!("{which} issues again"),
            || answered_200(&n.client_credentials(&client, None)),
        );
    }

    // The other node finds every token accepted during the outage in the database.
    let lost: Vec<&String> = accepted
        .iter()
        .filter(|t| valid_on(&sync_node, t).is_err())
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} tokens accepted during the outage are unknown to the other node: {lost:?}",
        lost.len(),
        accepted.len()
    );
    eventually(
        Instant::now(),
        PROPAGATION_LIMIT,
        "the other node drops the token revoked during the outage",
        || invalid_on(&sync_node, &doomed.access_token),
    );
    // And a node that was not there at all: the revocation is in the database, and the
    // refresh token issued during the outage works.
    let fresh = Server::start(&async_config);
    invalid_on(&fresh, &doomed.access_token).unwrap_or_else(|e| {
        panic!("a revocation accepted during the outage was lost; a fresh node accepts: {e}")
    });
    assert_valid_on(&fresh, &kept.access_token, "a fresh node");
    let next = fresh.issue_refresh(&client, owner.refresh_token(), None);
    held_by(&node, &next.access_token, "the async node");
    assert!(sync_problems.is_empty(), "{}", sync_problems.join("\n"));
}
