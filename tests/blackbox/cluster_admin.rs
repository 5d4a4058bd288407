//! The admin API (issue 16) on two nodes sharing one store, as an attacker and an unlucky
//! operator would use it: a client or user made, changed, rotated, revoked or removed
//! through one node's admin API is served (or refused) by the other within
//! `revocation_propagation_ms`; the same client id or username posted to both nodes at the
//! same instant gives one 201 and one 409, and the stored secret or password is the 201's;
//! `POST /admin/revoke` on one node revokes the tokens the other issued; `GET /admin/store`
//! on either node lists both as peers; a database that cannot answer makes every admin call
//! 503 `temporarily_unavailable` with `Retry-After` (never a 4xx, never a crash) and leaves
//! nothing half done; and `kill -9` right after a 201 loses nothing.
//!
//! Every behaviour is one function taking the `Backend`; `on!` makes a module of that name
//! with one test per backend listed (`postgres` and `mysql` on `tests/services/postgres.sh`
//! and `mysql.sh`, `cassandra` on `tests/services/cassandra.sh`; Cassandra only where it is
//! worth its slower start, MariaDB where its SQL differs).
//! `cargo test --release --test blackbox -- cluster_admin::` runs them all.

use std::any::Any;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::admin::{admin_section, Admin};
use crate::cluster::{
    cluster_config, eventually, invalid_on, refresh_refused_on, shared_cassandra, two_nodes,
    valid_on, Keyspace, PROPAGATION_LIMIT,
};
use crate::cluster_sql::{migrated, sql_config};
use crate::harness::*;
use crate::sql_servers::{exclusive_server, shared_server, Dialect};

/// `fn name(backend: Backend)` becomes `mod name { #[test] fn <backend>() }` per backend.
macro_rules! on {
    ($($name:ident: [$($backend:ident),+]),* $(,)?) => {
        $(
            mod $name {
                $(
                    #[test]
                    fn $backend() {
                        super::$name(super::Backend::$backend);
                    }
                )+
            }
        )*
    };
}

on!(
    a_client_made_changed_rotated_and_removed_on_node_a_is_served_then_refused_by_node_b: [postgres, cassandra],
    rfc7591_one_client_id_and_one_username_posted_to_both_nodes_at_once_give_one_201_and_one_409: [postgres, cassandra],
    a_delete_on_node_a_racing_a_put_or_rotation_on_node_b_never_leaves_the_removed_client_or_user: [postgres, mysql, cassandra],
    a_client_and_user_made_on_node_b_and_removed_on_node_a_within_one_reload_interval_are_refused_by_b: [postgres],
    a_user_made_on_node_a_logs_in_on_node_b_and_a_password_change_on_b_revokes_refresh_tokens_from_a: [postgres],
    admin_revoke_by_client_on_node_a_revokes_tokens_node_b_issued_and_admin_store_lists_both_peers: [postgres, cassandra],
    kill_9_of_node_a_right_after_a_201_leaves_the_client_and_user_served_by_b_and_by_a_after_restart: [postgres, cassandra],
);

/// The stores the nodes share.
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)] // Named as the tests `on!` makes for them.
enum Backend {
    postgres,
    mysql,
    cassandra,
}

impl Backend {
    /// `store.kind`, as `GET /admin/store` reports it.
    fn kind(self) -> &'static str {
        match self {
            Backend::postgres => "postgres",
            Backend::mysql => "mysql",
            Backend::cassandra => "cassandra",
        }
    }
}

/// Each password-grant attempt costs an argon2id verification: polls of the password grant
/// get this long instead of `PROPAGATION_LIMIT`.
const PASSWORD_POLL_LIMIT: Duration = Duration::from_secs(8);

/// Heartbeats are written every 10 s (the first one at start-up): a generous limit for
/// both nodes to list each other.
const PEERS_LIMIT: Duration = Duration::from_secs(30);

/// How long the database may take to answer again after it was started (the pools
/// reconnect on their next request).
const RECOVERY_LIMIT: Duration = Duration::from_secs(30);

/// A place in a shared store for one test: the config both nodes run (with `[admin]`) and
/// what keeps the place (and the shared server's lock) alive until the test ends.
struct Place {
    config: String,
    _keep: Box<dyn Any>,
}

fn place(backend: Backend, tag: &str) -> Place {
    match backend {
        Backend::postgres | Backend::mysql => {
            let dialect = match backend {
                Backend::mysql => Dialect::Mysql,
                _ => Dialect::Postgres,
            };
            let server = shared_server(dialect);
            let db = migrated(dialect, tag);
            let config = sql_config(&db, "async").build() + &admin_section("");
            // Dropped in this order: the schema while the lock is still held.
            Place {
                config,
                _keep: Box::new((db, server)),
            }
        }
        Backend::cassandra => {
            let cassandra = shared_cassandra();
            let ks = Keyspace::new(tag);
            let config = cluster_config(&ks.name, "async").build() + &admin_section("");
            Place {
                config,
                _keep: Box::new((ks, cassandra)),
            }
        }
    }
}

/// The admin API of both nodes.
fn admins(a: &Server, b: &Server) -> (Admin, Admin) {
    (Admin::of(a), Admin::of(b))
}

/// Ok when `r` has `status` (and, for an error, the OAuth `error` code).
fn answered(r: &Response, status: u16, error: Option<&str>) -> Result<(), String> {
    let code_ok = match error {
        None => true,
        Some(code) => {
            serde_json::from_slice::<Value>(&r.body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
                .as_deref()
                == Some(code)
        }
    };
    if r.status == status && code_ok {
        Ok(())
    } else {
        Err(r.summary())
    }
}

/// Ok when `node` issues a client_credentials token to `client` for `scope`.
fn issues_to(node: &Server, client: &Client, scope: &str) -> Result<(), String> {
    answered(&node.client_credentials(client, Some(scope)), 200, None)
}

/// Ok when `node` refuses `client`'s credentials (RFC 6749 §5.2 `invalid_client`).
fn refuses_client(node: &Server, client: &Client) -> Result<(), String> {
    answered(
        &node.client_credentials(client, None),
        401,
        Some("invalid_client"),
    )
}

/// Ok when `node` grants `user`'s password to `client`.
fn logs_in(node: &Server, client: &Client, user: (&str, &str)) -> Result<(), String> {
    answered(&node.password(client, user, None), 200, None)
}

/// Waits until `node` accepts `token`, which the other node issued (so it is in the store).
fn held_by(node: &Server, token: &str, which: &str) {
    eventually(
        Instant::now(),
        PROPAGATION_LIMIT,
        &format!("{which} holds the token"),
        || valid_on(node, token),
    );
}

/// An admin API request as raw bytes (for the races).
fn admin_request(admin: &Admin, method: &str, path: &str, body: &Value) -> Vec<u8> {
    let auth = format!("Bearer {}", admin.token);
    raw_request(
        method,
        path,
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
}

/// Sends each request to its address at the same instant (a connection each, released by
/// one barrier); the answers in the order given.
fn race_each(requests: &[(SocketAddr, Vec<u8>)]) -> Vec<Response> {
    let barrier = std::sync::Barrier::new(requests.len());
    thread::scope(|s| {
        let sent: Vec<_> = requests
            .iter()
            .map(|(addr, request)| {
                let barrier = &barrier;
                s.spawn(move || {
                    let mut conn = Conn::connect(*addr);
                    barrier.wait();
                    conn.roundtrip(request)
                })
            })
            .collect();
        sent.into_iter()
            .map(|h| h.join().expect("request thread"))
            .collect()
    })
}

/// A client_credentials client's creation body.
fn cc_client(id: &str, scope: &str) -> Value {
    json!({"client_id": id, "grant_types": ["client_credentials"], "scope": scope})
}

// ---------------------------------------------------------------------------------------------
// Changes on one node, served by the other
// ---------------------------------------------------------------------------------------------

fn a_client_made_changed_rotated_and_removed_on_node_a_is_served_then_refused_by_node_b(
    backend: Backend,
) {
    let place = place(backend, "adm_prop");
    let (a, b) = two_nodes(&place.config);
    let (admin_a, admin_b) = admins(&a, &b);

    // Made on A: A serves it at once, B within the propagation window.
    let made = Instant::now();
    let secret = admin_a.create_cc_client("made-on-a", "read write");
    let client = Client::new("made-on-a", Some(&secret), AuthMethod::Basic);
    issues_to(&a, &client, "read write").unwrap_or_else(|e| panic!("A, at once: {e}"));
    eventually(
        made,
        PROPAGATION_LIMIT,
        "B issues tokens to the client made on A",
        || issues_to(&b, &client, "read write"),
    );
    let view = admin_b.get("/admin/clients/made-on-a");
    assert_eq!(view.status, 200, "{}", view.summary());
    assert_eq!(view.json_str("source"), "store");
    assert_eq!(view.json_str("scope"), "read write");
    assert!(
        !view.text().contains(&secret),
        "a secret in a GET: {}",
        view.text()
    );
    let before_put = b.issue_cc(&client, Some("write"));

    // RFC 7592 §2.2: the scope narrowed on A is enforced on B.
    let r = admin_a.put("/admin/clients/made-on-a", &cc_client("made-on-a", "read"));
    assert_eq!(r.status, 200, "PUT: {}", r.summary());
    let changed = Instant::now();
    eventually(
        changed,
        PROPAGATION_LIMIT,
        "B refuses the scope removed on A",
        || {
            answered(
                &b.client_credentials(&client, Some("write")),
                400,
                Some("invalid_scope"),
            )
        },
    );
    issues_to(&b, &client, "read").unwrap_or_else(|e| panic!("B, the scope left: {e}"));

    // A secret rotated on A: B takes the new one and refuses the old one.
    let r = admin_a.request("POST", "/admin/clients/made-on-a/secret", None);
    assert_eq!(r.status, 200, "rotate: {}", r.summary());
    let new_secret = r.json_str("client_secret");
    assert_ne!(new_secret, secret);
    let rotated = client.with_secret(&new_secret);
    let rotated_at = Instant::now();
    refuses_client(&a, &client).unwrap_or_else(|e| panic!("A, old secret at once: {e}"));
    eventually(
        rotated_at,
        PROPAGATION_LIMIT,
        "B refuses the secret rotated away on A",
        || refuses_client(&b, &client),
    );
    eventually(
        rotated_at,
        PROPAGATION_LIMIT,
        "B takes the secret rotated on A",
        || issues_to(&b, &rotated, "read"),
    );
    let after_rotation = b.issue_cc(&rotated, Some("read"));
    let bystander = b.issue_cc(&confidential_client(), None);

    // RFC 7592 §2.3: removed on A, the tokens B issued die on B and B refuses the client.
    // The tokens are in the store first (A reads them through), so the removal's first
    // revocation pass finds them: no waiting for its second pass.
    for token in [&before_put.access_token, &after_rotation.access_token] {
        held_by(&a, token, "A");
    }
    let r = admin_a.delete("/admin/clients/made-on-a");
    assert_eq!(r.status, 204, "DELETE: {}", r.summary());
    let removed = Instant::now();
    refuses_client(&a, &rotated).unwrap_or_else(|e| panic!("A, removed client at once: {e}"));
    for (i, token) in [&before_put.access_token, &after_rotation.access_token]
        .into_iter()
        .enumerate()
    {
        eventually(
            removed,
            PROPAGATION_LIMIT,
            &format!("B refuses token {i} it issued to the client removed on A"),
            || invalid_on(&b, token),
        );
        invalid_on(&a, token).unwrap_or_else(|e| panic!("A, token {i}: {e}"));
    }
    eventually(
        removed,
        PROPAGATION_LIMIT,
        "B refuses the client removed on A",
        || refuses_client(&b, &rotated),
    );
    for (admin, which) in [(&admin_a, "A"), (&admin_b, "B")] {
        let r = admin.get("/admin/clients/made-on-a");
        assert_eq!(r.status, 404, "{which}: {}", r.summary());
    }
    valid_on(&b, &bystander.access_token)
        .unwrap_or_else(|e| panic!("another client's token died with it: {e}"));
}

fn rfc7591_one_client_id_and_one_username_posted_to_both_nodes_at_once_give_one_201_and_one_409(
    backend: Backend,
) {
    const ROUNDS: usize = 6;
    let place = place(backend, "adm_race");
    let (a, b) = two_nodes(&place.config);
    let (admin_a, admin_b) = admins(&a, &b);
    let nodes = [(&a, "A"), (&b, "B")];

    for round in 0..ROUNDS {
        // Clients: each node generates its own secret; only the 201's may be stored.
        let id = format!("raced-{round}");
        let body = cc_client(&id, "read");
        let answers = race_each(&[
            (
                admin_a.addr,
                admin_request(&admin_a, "POST", "/admin/clients", &body),
            ),
            (
                admin_b.addr,
                admin_request(&admin_b, "POST", "/admin/clients", &body),
            ),
        ]);
        let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
        let winner = match statuses.as_slice() {
            [201, 409] => 0,
            [409, 201] => 1,
            _ => panic!(
                "round {round}, client {id}: want one 201 and one 409, got {statuses:?}: {} / {}",
                answers[0].summary(),
                answers[1].summary()
            ),
        };
        let loser = &answers[1 - winner];
        answered(loser, 409, Some("conflict")).unwrap_or_else(|e| panic!("the 409: {e}"));
        assert!(
            loser.json().get("client_secret").is_none(),
            "{}",
            loser.summary()
        );
        let secret = answers[winner].json_str("client_secret");
        let client = Client::new(&id, Some(&secret), AuthMethod::Basic);
        for (node, which) in nodes {
            eventually(
                Instant::now(),
                PROPAGATION_LIMIT,
                &format!("round {round}: {which} takes the 201's secret"),
                || issues_to(node, &client, "read"),
            );
        }

        // Users: a different password per node; only the 201's may log in.
        let name = format!("racer-{round}");
        let passwords = [format!("{name}-pw-a"), format!("{name}-pw-b")];
        let answers = race_each(&[
            (
                admin_a.addr,
                admin_request(
                    &admin_a,
                    "POST",
                    "/admin/users",
                    &json!({"username": name, "password": passwords[0]}),
                ),
            ),
            (
                admin_b.addr,
                admin_request(
                    &admin_b,
                    "POST",
                    "/admin/users",
                    &json!({"username": name, "password": passwords[1]}),
                ),
            ),
        ]);
        let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
        let winner = match statuses.as_slice() {
            [201, 409] => 0,
            [409, 201] => 1,
            _ => panic!(
                "round {round}, user {name}: want one 201 and one 409, got {statuses:?}: {} / {}",
                answers[0].summary(),
                answers[1].summary()
            ),
        };
        answered(&answers[1 - winner], 409, Some("conflict"))
            .unwrap_or_else(|e| panic!("the 409: {e}"));
        let svc = confidential_client();
        for (node, which) in nodes {
            eventually(
                Instant::now(),
                PASSWORD_POLL_LIMIT,
                &format!("round {round}: {which} takes the 201's password"),
                || logs_in(node, &svc, (&name, &passwords[winner])),
            );
            answered(
                &node.password(&svc, (&name, &passwords[1 - winner]), None),
                400,
                Some("invalid_grant"),
            )
            .unwrap_or_else(|e| panic!("round {round}: {which} takes the 409's password: {e}"));
        }
    }
}

/// RFC 7592 §2.2 / §2.3 as a linearizable resource: when a DELETE answers 204 and a PUT (or
/// a secret rotation) of the same client answers 200, the update happened before the
/// removal, so the client is gone afterwards. An update that read the client before the
/// removal and wrote it back after would bring a removed client back to life — with its
/// tokens revoked but its secret working again.
fn a_delete_on_node_a_racing_a_put_or_rotation_on_node_b_never_leaves_the_removed_client_or_user(
    backend: Backend,
) {
    const ROUNDS: usize = 6;
    let place = place(backend, "adm_undead");
    let (a, b) = two_nodes(&place.config);
    let (admin_a, admin_b) = admins(&a, &b);

    for round in 0..ROUNDS {
        let id = format!("contested-{round}");
        admin_a.create_cc_client(&id, "read write");
        let path = format!("/admin/clients/{id}");
        let update = if round % 2 == 0 {
            admin_request(&admin_b, "PUT", &path, &cc_client(&id, "read"))
        } else {
            let auth = format!("Bearer {}", admin_b.token);
            raw_request(
                "POST",
                &format!("{path}/secret"),
                &[("Authorization", auth.as_str())],
                b"",
            )
        };
        let answers = race_each(&[
            (
                admin_a.addr,
                admin_request(&admin_a, "DELETE", &path, &json!({})),
            ),
            (admin_b.addr, update),
        ]);
        assert_eq!(
            answers[0].status,
            204,
            "round {round}: DELETE {}",
            answers[0].summary()
        );
        assert!(
            matches!(answers[1].status, 200 | 404),
            "round {round}: the update: {}",
            answers[1].summary()
        );
        for (admin, which) in [(&admin_a, "A"), (&admin_b, "B")] {
            let r = admin.get(&path);
            assert_eq!(
                r.status,
                404,
                "round {round}: {which} still has {id} after a 204 DELETE (the update answered {}): {}",
                answers[1].status,
                r.summary()
            );
        }
        if answers[1].status == 200 && round % 2 == 1 {
            let rotated = Client::new(
                &id,
                Some(&answers[1].json_str("client_secret")),
                AuthMethod::Basic,
            );
            // B installed its rotation before A's removal reached it: refused once B reloads.
            eventually(
                Instant::now(),
                PROPAGATION_LIMIT,
                &format!("round {round}: B refuses the removed client's rotated secret"),
                || refuses_client(&b, &rotated),
            );
        }

        let name = format!("contested-user-{round}");
        let r = admin_a.post(
            "/admin/users",
            &json!({"username": name, "password": "first-pw"}),
        );
        assert_eq!(r.status, 201, "{}", r.summary());
        let user_path = format!("/admin/users/{name}");
        let answers = race_each(&[
            (
                admin_a.addr,
                admin_request(&admin_a, "DELETE", &user_path, &json!({})),
            ),
            (
                admin_b.addr,
                admin_request(
                    &admin_b,
                    "PUT",
                    &user_path,
                    &json!({"password": "second-pw"}),
                ),
            ),
        ]);
        assert_eq!(answers[0].status, 204, "{}", answers[0].summary());
        assert!(
            matches!(answers[1].status, 200 | 404),
            "{}",
            answers[1].summary()
        );
        let r = admin_b.get(&user_path);
        assert_eq!(
            r.status,
            404,
            "round {round}: {name} is back after a 204 DELETE (the PUT answered {}): {}",
            answers[1].status,
            r.summary()
        );
    }
}

/// Made on B (which installs it at once) and removed on A before B's next reload: the
/// store is then as B last read it, and B must still notice that its registries hold a
/// client and a user the store no longer has.
fn a_client_and_user_made_on_node_b_and_removed_on_node_a_within_one_reload_interval_are_refused_by_b(
    backend: Backend,
) {
    const ROUNDS: usize = 3;
    let place = place(backend, "adm_blink");
    let (a, b) = two_nodes(&place.config);
    let (admin_a, admin_b) = admins(&a, &b);
    let svc = confidential_client();

    for round in 0..ROUNDS {
        let id = format!("blink-{round}");
        let name = format!("blink-user-{round}");
        let password = format!("{name}-pw");
        let secret = admin_b.create_cc_client(&id, "read");
        let r = admin_b.post(
            "/admin/users",
            &json!({"username": name, "password": password}),
        );
        assert_eq!(r.status, 201, "{}", r.summary());
        for path in [
            format!("/admin/clients/{id}"),
            format!("/admin/users/{name}"),
        ] {
            let r = admin_a.delete(&path);
            assert_eq!(
                r.status,
                204,
                "round {round}: DELETE {path}: {}",
                r.summary()
            );
        }
        let removed = Instant::now();
        let client = Client::new(&id, Some(&secret), AuthMethod::Basic);
        eventually(
            removed,
            PROPAGATION_LIMIT,
            &format!("round {round}: B refuses the client it made and A removed"),
            || refuses_client(&b, &client),
        );
        eventually(
            removed,
            PASSWORD_POLL_LIMIT,
            &format!("round {round}: B refuses the user it made and A removed"),
            || {
                answered(
                    &b.password(&svc, (&name, &password), None),
                    400,
                    Some("invalid_grant"),
                )
            },
        );
    }
}

fn a_user_made_on_node_a_logs_in_on_node_b_and_a_password_change_on_b_revokes_refresh_tokens_from_a(
    backend: Backend,
) {
    let place = place(backend, "adm_user");
    let (a, b) = two_nodes(&place.config);
    let (admin_a, admin_b) = admins(&a, &b);
    let svc = confidential_client();
    let (old, new) = (("dora", "dora-old-pw"), ("dora", "dora-new-pw"));

    let r = admin_a.post(
        "/admin/users",
        &json!({"username": "dora", "password": old.1, "claims": {"email": "dora@example.com"}}),
    );
    assert_eq!(r.status, 201, "{}", r.summary());
    assert!(!r.text().contains(old.1), "{}", r.text());
    eventually(
        Instant::now(),
        PASSWORD_POLL_LIMIT,
        "B grants the password of the user made on A",
        || logs_in(&b, &svc, old),
    );
    let on_a = a.issue_password(&svc, old, Some("read"));
    let also_on_a = a.issue_password(&svc, old, Some("read write"));
    let service = a.issue_cc(&svc, None);
    for token in [&on_a.access_token, &also_on_a.access_token] {
        held_by(&b, token, "B");
    }

    let r = admin_b.put(
        "/admin/users/dora",
        &json!({"password": new.1, "claims": {"email": "dora@example.com"}}),
    );
    assert_eq!(r.status, 200, "PUT: {}", r.summary());
    assert!(
        !r.text().contains(new.1) && r.json().get("password").is_none(),
        "{}",
        r.text()
    );
    let changed = Instant::now();
    // The grants' access tokens go with their refresh tokens, on both nodes.
    for (node, which) in [(&a, "A"), (&b, "B")] {
        for (i, token) in [&on_a.access_token, &also_on_a.access_token]
            .into_iter()
            .enumerate()
        {
            eventually(
                changed,
                PROPAGATION_LIMIT,
                &format!("{which} refuses access token {i} of dora's grants from A"),
                || invalid_on(node, token),
            );
        }
    }
    for (node, which) in [(&a, "A"), (&b, "B")] {
        for (i, token) in [on_a.refresh_token(), also_on_a.refresh_token()]
            .into_iter()
            .enumerate()
        {
            refresh_refused_on(node, &svc, token).unwrap_or_else(|e| {
                panic!("{which} still refreshes refresh token {i} issued on A: {e}")
            });
        }
        valid_on(node, &service.access_token)
            .unwrap_or_else(|e| panic!("{which}: a client token died with dora's: {e}"));
    }
    eventually(
        changed,
        PASSWORD_POLL_LIMIT,
        "A refuses the password changed on B",
        || {
            answered(&a.password(&svc, old, None), 400, Some("invalid_grant"))?;
            logs_in(&a, &svc, new)
        },
    );
}

fn admin_revoke_by_client_on_node_a_revokes_tokens_node_b_issued_and_admin_store_lists_both_peers(
    backend: Backend,
) {
    let place = place(backend, "adm_revoke");
    let (a, b) = two_nodes(&place.config);
    let (admin_a, admin_b) = admins(&a, &b);
    let started = Instant::now();

    let secret = admin_a.create_cc_client("revoked-svc", "read");
    let client = Client::new("revoked-svc", Some(&secret), AuthMethod::Basic);
    eventually(
        Instant::now(),
        PROPAGATION_LIMIT,
        "B serves the client",
        || issues_to(&b, &client, "read"),
    );
    let on_b: Vec<String> = (0..3)
        .map(|_| b.issue_cc(&client, None).access_token)
        .collect();
    let on_a = a.issue_cc(&client, None).access_token;
    let bystander = b.issue_cc(&confidential_client(), None).access_token;
    // Each in the store (the other node reads it through), so the revocation's first pass
    // finds it: no waiting for its second pass.
    for token in &on_b {
        held_by(&a, token, "A");
    }
    held_by(&b, &on_a, "B");

    let r = admin_a.post("/admin/revoke", &json!({"client_id": "revoked-svc"}));
    assert_eq!(r.status, 200, "{}", r.summary());
    // At least the three B issued and the one A issued (B's polls issued more).
    let revoked = r.json().get("revoked").and_then(Value::as_u64);
    assert!(revoked.is_some_and(|n| n >= 4), "{}", r.summary());
    let at = Instant::now();
    for (i, token) in on_b.iter().enumerate() {
        eventually(
            at,
            PROPAGATION_LIMIT,
            &format!("B refuses token {i} it issued, revoked on A"),
            || invalid_on(&b, token),
        );
    }
    // A revokes through the store's log like everyone else: its own token too, within the
    // window, on both nodes.
    for (node, which) in [(&a, "A"), (&b, "B")] {
        eventually(
            at,
            PROPAGATION_LIMIT,
            &format!("{which} refuses the token A issued, revoked on A"),
            || invalid_on(node, &on_a),
        );
    }
    valid_on(&b, &bystander).unwrap_or_else(|e| panic!("another client's token: {e}"));
    // Revoking is not removing: the client still gets new tokens on both nodes.
    for (node, which) in [(&a, "A"), (&b, "B")] {
        let fresh = node.issue_cc(&client, None);
        valid_on(node, &fresh.access_token).unwrap_or_else(|e| panic!("{which}: {e}"));
    }

    // Each node lists both, each under its own name.
    for (admin, which) in [(&admin_a, "A"), (&admin_b, "B")] {
        eventually(
            started,
            PEERS_LIMIT,
            &format!("{which}'s /admin/store lists two peers"),
            || {
                let r = admin.get("/admin/store");
                answered(&r, 200, None)?;
                let v = r.json();
                if v.get("kind").and_then(Value::as_str) != Some(backend.kind()) {
                    return Err(format!("kind: {}", r.summary()));
                }
                let peers = v.get("peers").and_then(Value::as_array).cloned();
                let names: Vec<&str> = peers
                    .iter()
                    .flatten()
                    .filter_map(|p| p.get("node").and_then(Value::as_str))
                    .collect();
                let seen = peers
                    .iter()
                    .flatten()
                    .all(|p| p.get("last_seen_ms").and_then(Value::as_u64).is_some());
                if names.len() == 2 && names[0] != names[1] && seen {
                    Ok(())
                } else {
                    Err(format!("peers: {}", r.summary()))
                }
            },
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Failures: the database down, a node killed
// ---------------------------------------------------------------------------------------------

/// Ok when `r` is the contract's answer of a store that cannot answer: 503
/// `temporarily_unavailable` with `Retry-After`.
fn unavailable(r: &Response) -> Result<(), String> {
    answered(r, 503, Some("temporarily_unavailable"))?;
    match r.header("Retry-After").map(str::parse::<u64>) {
        Some(Ok(_)) => Ok(()),
        _ => Err(format!("no Retry-After: {}", r.summary())),
    }
}

#[test]
fn database_outage_admin_calls_are_503_with_retry_after_and_nothing_is_left_half_done() {
    let server = exclusive_server(Dialect::Postgres);
    let db = migrated(Dialect::Postgres, "adm_outage");
    let config = sql_config(&db, "async")
        .store("postgres.request_timeout_ms", "1000")
        .store("postgres.connect_timeout_ms", "1000")
        .build()
        + &admin_section("");
    let (mut a, mut b) = two_nodes(&config);
    let (admin_a, admin_b) = admins(&a, &b);
    let svc = confidential_client();

    let secret = admin_a.create_cc_client("kept", "read write");
    let kept = Client::new("kept", Some(&secret), AuthMethod::Basic);
    let r = admin_a.post(
        "/admin/users",
        &json!({"username": "kept-user", "password": "kept-user-pw"}),
    );
    assert_eq!(r.status, 201, "{}", r.summary());
    eventually(
        Instant::now(),
        PASSWORD_POLL_LIMIT,
        "B knows the client and the user",
        || {
            issues_to(&b, &kept, "read")?;
            logs_in(&b, &svc, ("kept-user", "kept-user-pw"))
        },
    );

    let mut restart = server.stop();

    let calls: Vec<(&str, &str, Option<Value>)> = vec![
        ("POST", "/admin/clients", Some(cc_client("during", "read"))),
        ("GET", "/admin/clients", None),
        ("GET", "/admin/clients/kept", None),
        ("GET", "/admin/clients/never-made", None),
        (
            "PUT",
            "/admin/clients/kept",
            Some(cc_client("kept", "read")),
        ),
        ("POST", "/admin/clients/kept/secret", None),
        ("DELETE", "/admin/clients/kept", None),
        (
            "POST",
            "/admin/users",
            Some(json!({"username": "during-user", "password": "during-pw"})),
        ),
        ("GET", "/admin/users/kept-user", None),
        (
            "PUT",
            "/admin/users/kept-user",
            Some(json!({"password": "changed-in-the-dark"})),
        ),
        ("DELETE", "/admin/users/kept-user", None),
        ("POST", "/admin/revoke", Some(json!({"client_id": "kept"}))),
        (
            "POST",
            "/admin/revoke",
            Some(json!({"username": "kept-user"})),
        ),
        ("GET", "/admin/store", None),
    ];
    for (admin, which) in [(&admin_a, "A"), (&admin_b, "B")] {
        for (method, path, body) in &calls {
            let r = admin.request(method, path, body.as_ref());
            unavailable(&r)
                .unwrap_or_else(|e| panic!("{which}: {method} {path} with the database down: {e}"));
        }
        // The node itself is fine: its own figures and health answer.
        let r = admin.get("/admin/tokens");
        assert_eq!(r.status, 200, "{which}: {}", r.summary());
        let r = admin.get("/health");
        assert_eq!(r.status, 200, "{which}: {}", r.summary());
    }
    // A failed reload keeps what the node had: B still serves the client it knew (async
    // issuance queues its writes while the database is away).
    issues_to(&b, &kept, "read write")
        .unwrap_or_else(|e| panic!("B forgot a client when the database went away: {e}"));
    assert!(a.is_running() && b.is_running(), "a node died");

    restart.start_now();

    // Once the database answers, the same calls succeed, and what got a 503 left nothing.
    eventually(
        Instant::now(),
        RECOVERY_LIMIT,
        "A's admin API answers again",
        || answered(&admin_a.get("/admin/clients"), 200, None),
    );
    for (admin, which) in [(&admin_a, "A"), (&admin_b, "B")] {
        let r = admin.get("/admin/clients/kept");
        assert_eq!(r.status, 200, "{which}: {}", r.summary());
        assert_eq!(
            r.json_str("scope"),
            "read write",
            "{which}: a PUT that got 503 was applied"
        );
        for path in ["/admin/clients/during", "/admin/users/during-user"] {
            let r = admin.get(path);
            assert_eq!(
                r.status,
                404,
                "{which}: {path} was made by a POST that got 503: {}",
                r.summary()
            );
        }
    }
    for (node, which) in [(&a, "A"), (&b, "B")] {
        eventually(
            Instant::now(),
            PASSWORD_POLL_LIMIT,
            &format!("{which} serves what the 503s left unchanged"),
            || {
                issues_to(node, &kept, "read write")?;
                logs_in(node, &svc, ("kept-user", "kept-user-pw"))
            },
        );
    }
    let secret = admin_a.create_cc_client("during", "read");
    let during = Client::new("during", Some(&secret), AuthMethod::Basic);
    for (node, which) in [(&a, "A"), (&b, "B")] {
        eventually(
            Instant::now(),
            PROPAGATION_LIMIT,
            &format!("{which} serves the client made after the outage"),
            || issues_to(node, &during, "read"),
        );
    }
    let r = admin_b.post(
        "/admin/users",
        &json!({"username": "during-user", "password": "during-pw"}),
    );
    assert_eq!(r.status, 201, "{}", r.summary());
    let r = admin_b.request("POST", "/admin/clients/kept/secret", None);
    assert_eq!(r.status, 200, "rotate after the outage: {}", r.summary());
    let r = admin_a.get("/admin/store");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(a.is_running() && b.is_running(), "a node died");
}

fn kill_9_of_node_a_right_after_a_201_leaves_the_client_and_user_served_by_b_and_by_a_after_restart(
    backend: Backend,
) {
    let place = place(backend, "adm_kill9");
    let (a, b) = two_nodes(&place.config);
    let admin_a = Admin::of(&a);
    let svc = confidential_client();

    let r = admin_a.post(
        "/admin/users",
        &json!({"username": "survivor", "password": "survivor-pw"}),
    );
    assert_eq!(r.status, 201, "{}", r.summary());
    let secret = admin_a.create_cc_client("survives-kill", "read");
    // No shutdown, no flush: whatever was acknowledged must already be in the store.
    a.kill_hard();
    let client = Client::new("survives-kill", Some(&secret), AuthMethod::Basic);
    eventually(
        Instant::now(),
        PROPAGATION_LIMIT,
        "B serves the client A acknowledged before kill -9",
        || issues_to(&b, &client, "read"),
    );
    eventually(
        Instant::now(),
        PASSWORD_POLL_LIMIT,
        "B serves the user A acknowledged before kill -9",
        || logs_in(&b, &svc, ("survivor", "survivor-pw")),
    );

    // Restarted, A loads them from the store before it listens.
    let a = Server::start(&place.config);
    issues_to(&a, &client, "read").unwrap_or_else(|e| panic!("A after restart: {e}"));
    logs_in(&a, &svc, ("survivor", "survivor-pw"))
        .unwrap_or_else(|e| panic!("A after restart, the user: {e}"));
    let r = Admin::of(&a).get("/admin/clients/survives-kill");
    assert_eq!(r.status, 200, "{}", r.summary());
}
