//! Several `tessera` nodes sharing one Cassandra keyspace (`store.kind = "cassandra"`):
//! tokens, refreshes and revocations cross nodes, clients and users added with the command
//! line reach running nodes, `tessera migrate`, and a Cassandra outage.
//!
//! These tests need the real Cassandra of `tests/services/cassandra.sh` on 127.0.0.1:9042;
//! without it they fail and say how to start it. Each test owns a keyspace
//! (`t_<tag>_<pid>`, created by the nodes with `create_schema = true`) and drops it at the
//! end. The outage test stops and restarts that shared Cassandra, so it holds `CASSANDRA`
//! for writing while every other test here holds it for reading (and the same on a lock
//! file, against other test processes); a guard restarts Cassandra even when the outage
//! test fails.

use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::secure_cassandra::describe;

/// Taken for reading by every test that uses Cassandra, for writing by the one that stops it.
static CASSANDRA: RwLock<()> = RwLock::new(());

const CASSANDRA_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/services/cassandra.sh");
const CQL_ADDR: &str = "127.0.0.1:9042";

/// `store.revocation_propagation_ms` of every node here.
pub(crate) const PROPAGATION_MS: u64 = 1000;
/// What the tests allow for something promised "within the propagation window": the
/// window plus generous slack for a loaded machine and a debug build.
pub(crate) const PROPAGATION_LIMIT: Duration = Duration::from_millis(3000);
/// How long a token written in `async` mode may take to reach another node.
pub(crate) const FLUSH_LIMIT: Duration = Duration::from_millis(2000);
/// Each password-grant attempt costs an argon2id verification (about a second in a debug
/// build), so polls of the password grant get this long instead of `PROPAGATION_LIMIT`.
const PASSWORD_POLL_LIMIT: Duration = Duration::from_secs(6);

// ---------------------------------------------------------------------------------------------
// Cassandra
// ---------------------------------------------------------------------------------------------

/// Fails the test unless Cassandra accepts connections.
fn require_cassandra() {
    let addr: SocketAddr = CQL_ADDR.parse().expect("CQL address");
    if let Err(e) = TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
        panic!(
            "Cassandra is not reachable on {CQL_ADDR} ({e}). The cluster tests need the real \
             Cassandra: run `bash tests/services/cassandra.sh start` and run them again."
        );
    }
}

/// A flock(2) on a lock file in the temp dir, shared or exclusive, held until dropped. The
/// static `CASSANDRA` only orders the tests of this process; this orders them against other
/// test processes using the same Cassandra (two `cargo test` runs at once), so one process's
/// outage test does not stop Cassandra under another's tests. It is taken with flock(1) on a
/// duplicate of our descriptor: the lock belongs to the open file description, so it stays
/// held after flock(1) exits, until `_file` is closed.
struct ProcessLock {
    _file: std::fs::File,
}

impl ProcessLock {
    fn take(exclusive: bool) -> ProcessLock {
        let path = std::env::temp_dir().join("tessera-blackbox-cassandra.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        let dup = file.try_clone().expect("dup lock file descriptor");
        let status = Command::new("flock")
            .arg(if exclusive { "-x" } else { "-s" })
            .args(["-w", &LOCK_WAIT.as_secs().to_string()])
            .arg("0")
            .stdin(Stdio::from(dup))
            .status()
            .unwrap_or_else(|e| panic!("run flock(1) on {}: {e}", path.display()));
        assert!(
            status.success(),
            "flock {} failed or timed out after {LOCK_WAIT:?} ({status:?}): another test \
             process holds Cassandra (`fuser {}` names it)",
            path.display(),
            path.display()
        );
        ProcessLock { _file: file }
    }
}

/// How long a test waits for another test process to let go of Cassandra. A wait without
/// bound is how one run sat for 13 minutes behind a second `cargo test` process.
const LOCK_WAIT: Duration = Duration::from_secs(600);

/// Cassandra shared with the other tests that only use it.
pub(crate) struct SharedCassandra {
    _process: ProcessLock,
    _thread: RwLockReadGuard<'static, ()>,
}

/// Cassandra to this test alone (it stops it).
pub(crate) struct ExclusiveCassandra {
    _process: ProcessLock,
    _thread: RwLockWriteGuard<'static, ()>,
}

/// Shares Cassandra with the other tests that only use it; fails when it is not running.
/// Both guards take the thread lock first and the process lock second; any other order
/// deadlocks against the outage test.
pub(crate) fn shared_cassandra() -> SharedCassandra {
    let thread = CASSANDRA.read().unwrap_or_else(PoisonError::into_inner);
    let process = ProcessLock::take(false);
    require_cassandra();
    SharedCassandra {
        _process: process,
        _thread: thread,
    }
}

/// Waits until no other test uses Cassandra, then has it alone; fails when it is not running.
pub(crate) fn exclusive_cassandra() -> ExclusiveCassandra {
    let thread = CASSANDRA.write().unwrap_or_else(PoisonError::into_inner);
    let process = ProcessLock::take(true);
    require_cassandra();
    ExclusiveCassandra {
        _process: process,
        _thread: thread,
    }
}

/// Runs `bash tests/services/cassandra.sh ARGS`.
fn cassandra_sh(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(CASSANDRA_SH)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {CASSANDRA_SH} {args:?}: {e}"))
}

/// Runs one CQL statement; returns its rows, one per line.
fn cql(statement: &str) -> String {
    let out = cassandra_sh(&["cql", statement]);
    assert!(
        out.status.success(),
        "cql {statement:?} failed: {}",
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A test's own keyspace, dropped (best effort) when the test ends.
pub(crate) struct Keyspace {
    pub(crate) name: String,
}

impl Keyspace {
    pub(crate) fn new(tag: &str) -> Keyspace {
        let name = format!("t_{tag}_{}", std::process::id());
        assert!(
            name.len() <= 48 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad keyspace name {name:?}"
        );
        Keyspace { name }
    }
}

impl Drop for Keyspace {
    fn drop(&mut self) {
        let out = cassandra_sh(&["cql", &format!("DROP KEYSPACE IF EXISTS {}", self.name)]);
        if !out.status.success() {
            eprintln!(
                "could not drop keyspace {} (left behind): {}",
                self.name,
                describe(&out)
            );
        }
    }
}

/// Starts Cassandra again when dropped while armed (the outage test stops it).
pub(crate) struct RestartCassandra {
    armed: bool,
}

impl RestartCassandra {
    pub(crate) fn start_now(&mut self) {
        let out = cassandra_sh(&["start"]);
        assert!(
            out.status.success(),
            "cassandra.sh start failed: {}",
            describe(&out)
        );
        self.armed = false;
    }
}

/// Stops the shared Cassandra (the caller holds `exclusive_cassandra()`); the returned
/// guard starts it again if the test ends before `start_now`.
pub(crate) fn stop_cassandra() -> RestartCassandra {
    let restart = RestartCassandra { armed: true };
    let out = cassandra_sh(&["stop"]);
    assert!(
        out.status.success(),
        "cassandra.sh stop failed: {}",
        describe(&out)
    );
    restart
}

impl Drop for RestartCassandra {
    fn drop(&mut self) {
        if self.armed {
            eprintln!("starting Cassandra again after a failed outage test ...");
            let out = cassandra_sh(&["start"]);
            if !out.status.success() {
                eprintln!("cassandra.sh start failed: {}", describe(&out));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------------

/// The standard config on the shared Cassandra in `keyspace`, with `durability` (`sync`
/// writes at ONE: `check-config` refuses it with the default ANY).
pub(crate) fn cluster_config(keyspace: &str, durability: &str) -> ConfigBuilder {
    let write_consistency = if durability == "sync" { "ONE" } else { "ANY" };
    ConfigBuilder::standard()
        .store("kind", "\"cassandra\"")
        .store("contact_points", &format!("[{}]", toml_str(CQL_ADDR)))
        .store("keyspace", &toml_str(keyspace))
        .store("create_schema", "true")
        .store("durability", &toml_str(durability))
        .store("write_consistency", &toml_str(write_consistency))
        .store("flush_interval_ms", "10")
        .store("revocation_propagation_ms", &PROPAGATION_MS.to_string())
        .store("negative_cache_ms", "100")
        // These tests poll for clients and users that other nodes have not loaded yet;
        // each miss is a failed authentication, which must not lock the test out.
        .security("failed_auth_limit", "10000")
        .security("failed_auth_limit_per_address", "10000")
}

/// The cluster config of an outage test: store requests fail within a second.
pub(crate) fn outage_config(keyspace: &str) -> ConfigBuilder {
    cluster_config(keyspace, "async")
        .store("request_timeout_ms", "1000")
        .store("connect_timeout_ms", "1000")
}

/// Two nodes with the same config, started one after the other.
pub(crate) fn two_nodes(config: &str) -> (Server, Server) {
    let node1 = Server::start(config);
    let node2 = Server::start(config);
    (node1, node2)
}

/// Calls `check` every 20 ms until it succeeds; panics with its last complaint when
/// `limit` has passed since `since`. Returns the time from `since` to success.
pub(crate) fn eventually(
    since: Instant,
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<(), String>,
) -> Duration {
    loop {
        match check() {
            Ok(()) => return since.elapsed(),
            Err(last) => {
                if since.elapsed() > limit {
                    panic!("{what}: not within {limit:?}; last: {last}");
                }
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `request` to every address at the same instant (a connection each, released by
/// one barrier) and returns the answers in the order of `addrs`.
pub(crate) fn race(addrs: &[std::net::SocketAddr], request: &[u8]) -> Vec<Response> {
    let barrier = std::sync::Barrier::new(addrs.len());
    thread::scope(|s| {
        let sent: Vec<_> = addrs
            .iter()
            .map(|&addr| {
                let barrier = &barrier;
                s.spawn(move || {
                    let mut conn = Conn::connect(addr);
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

/// Ok when tokeninfo on `node` accepts `token`.
pub(crate) fn valid_on(node: &Server, token: &str) -> Result<(), String> {
    let r = node.tokeninfo(token);
    if r.status == 200 {
        Ok(())
    } else {
        Err(r.summary())
    }
}

/// Ok when `r` is a 200.
fn answered_200(r: &Response) -> Result<(), String> {
    if r.status == 200 {
        Ok(())
    } else {
        Err(r.summary())
    }
}

/// Ok when tokeninfo on `node` answers 400 `invalid_token` for `token`.
pub(crate) fn invalid_on(node: &Server, token: &str) -> Result<(), String> {
    let r = node.tokeninfo(token);
    if r.status == 400 {
        assert_token_error(&r, 400, "invalid_token");
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

fn assert_valid_on(node: &Server, token: &str, which: &str) {
    if let Err(e) = valid_on(node, token) {
        panic!("{which} should accept the token: {e}");
    }
}

/// Runs the tessera command line; panics unless it exits 0. Returns stdout.
pub(crate) fn cli_ok(args: &[&str]) -> String {
    let out = run_cli(args, None);
    assert!(
        out.status.success(),
        "tessera {args:?} failed: {}",
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn path_str(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

// ---------------------------------------------------------------------------------------------
// Tokens across nodes
// ---------------------------------------------------------------------------------------------

#[test]
fn token_issued_on_node1_validates_on_node2_in_sync_mode() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("sync");
    let (node1, node2) = two_nodes(&cluster_config(&ks.name, "sync").build());
    let client = confidential_client();

    // sync: the token is in Cassandra before node 1 answers, so node 2 knows it at once.
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
}

#[test]
fn token_issued_on_node1_validates_on_node2_in_async_mode_within_the_flush_window() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("async");
    let (node1, node2) = two_nodes(&cluster_config(&ks.name, "async").build());
    let client = confidential_client();

    let issued = node1.issue_cc(&client, Some("read"));
    let t0 = Instant::now();
    let took = eventually(t0, FLUSH_LIMIT, "node 2 accepts node 1's token", || {
        valid_on(&node2, &issued.access_token)
    });
    eprintln!(
        "async: node 2 accepted a token issued on node 1 after {} ms",
        took.as_millis()
    );
    let info = node2.tokeninfo(&issued.access_token);
    assert_eq!(info.json_str("audience"), "svc-a");
    assert_eq!(info.json_str("scope"), "read");
}

#[test]
fn refresh_on_node2_of_a_grant_issued_on_node1() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("refresh");
    let (node1, node2) = two_nodes(&cluster_config(&ks.name, "sync").build());
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
    let t0 = Instant::now();
    let took = eventually(
        t0,
        PROPAGATION_LIMIT,
        "node 1 forgets the refresh token node 2 rotated out",
        || inactive_on(&node1, &client, first.refresh_token()),
    );
    eprintln!(
        "rotation on node 2 reached node 1 after {} ms",
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
}

/// A refresh request for `refresh_token` as `client`, to send from any thread.
/// The raw refresh of `client`, for sending on a connection of one's own (races).
pub(crate) fn refresh_request(client: &Client, refresh_token: &str) -> Vec<u8> {
    let secret = client.secret.as_deref().expect("confidential client");
    raw_form_post(
        TOKEN_PATH,
        &form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ]),
        &[("Authorization", &basic_auth(&client.id, secret))],
    )
}

#[test]
fn rfc9700_4_14_2_one_refresh_token_sent_to_two_nodes_at_once_succeeds_exactly_once() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("race");
    // sync: the refresh token is in Cassandra before the response, so both nodes find it.
    let (node1, node2) = two_nodes(&cluster_config(&ks.name, "sync").build());
    let client = confidential_client();
    let addrs = [node1.addr, node2.addr];
    let mut replayed = Vec::new();
    for round in 0..50 {
        let owner = node1.issue_password(&client, ALICE, None);
        let request = refresh_request(&client, owner.refresh_token());
        let answers = race(&addrs, &request);
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
        // also on the node that did not see the race and in the store.
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
    let reuses = node1
        .metrics()
        .value("tessera_refresh_token_reuse_total", &[])
        + node2
            .metrics()
            .value("tessera_refresh_token_reuse_total", &[]);
    eprintln!("race: 50 rounds, {reuses} losers detected as reuse");
    assert!(reuses >= 1.0, "no losing refresh was counted as reuse");
}

#[test]
fn rfc9700_4_14_2_a_used_refresh_token_presented_again_revokes_its_grant_on_every_node() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("reuse");
    let (node1, node2) = two_nodes(&cluster_config(&ks.name, "async").build());
    let client = confidential_client();
    let first = node1.issue_password(&client, ALICE, None);
    let second = node1.issue_refresh(&client, first.refresh_token(), None);
    eventually(
        Instant::now(),
        FLUSH_LIMIT,
        "node 2 reads the new access token through",
        || valid_on(&node2, &second.access_token),
    );
    // The thief (or a confused client) replays the rotated-out token on the other node.
    assert_token_error(
        &node2.refresh(&client, first.refresh_token(), None),
        400,
        "invalid_grant",
    );
    assert_eq!(
        node2
            .metrics()
            .value("tessera_refresh_token_reuse_total", &[]),
        1.0
    );
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
    // A restarted node still knows: the use is remembered in the store.
    drop(node2);
    let node3 = Server::start(&cluster_config(&ks.name, "async").build());
    assert_token_error(
        &node3.refresh(&client, first.refresh_token(), None),
        400,
        "invalid_grant",
    );
    assert_eq!(
        node3
            .metrics()
            .value("tessera_refresh_token_reuse_total", &[]),
        1.0,
        "the restarted node recognises the replay"
    );
}

#[test]
fn a_refresh_token_used_on_node2_is_refused_there_at_once_in_async_mode() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("replay");
    let (node1, node2) = two_nodes(&cluster_config(&ks.name, "async").build());
    let client = confidential_client();

    let first = node1.issue_password(&client, ALICE, None);
    eventually(
        Instant::now(),
        FLUSH_LIMIT,
        "node 2 finds the refresh token",
        || match node2
            .introspect(&client, first.refresh_token())
            .json()
            .get("active")
        {
            Some(Value::Bool(true)) => Ok(()),
            other => Err(format!("active: {other:?}")),
        },
    );
    node2.issue_refresh(&client, first.refresh_token(), None);
    // The rotation's delete may not have reached Cassandra yet; node 2 must not read the
    // used-up token back from there.
    assert_token_error(
        &node2.refresh(&client, first.refresh_token(), None),
        400,
        "invalid_grant",
    );
}

// ---------------------------------------------------------------------------------------------
// Revocation across nodes
// ---------------------------------------------------------------------------------------------

#[test]
fn revocation_on_node1_is_honoured_by_node2_within_the_propagation_window_even_when_cached() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("revoke");
    let (node1, node2) = two_nodes(&cluster_config(&ks.name, "async").build());
    let client = confidential_client();

    let issued = node1.issue_cc(&client, None);
    // Node 2 reads it through from Cassandra and keeps it in its own table.
    eventually(
        Instant::now(),
        FLUSH_LIMIT,
        "node 2 accepts the token",
        || valid_on(&node2, &issued.access_token),
    );
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
        "revocation on node 1 honoured by node 2 after {} ms (revocation_propagation_ms = {PROPAGATION_MS})",
        took.as_millis()
    );
    // And it stays revoked (not read back from the store).
    thread::sleep(Duration::from_millis(300));
    invalid_on(&node2, &issued.access_token)
        .unwrap_or_else(|e| panic!("node 2 accepts the revoked token again: {e}"));
}

#[test]
fn rfc7009_refresh_token_revoked_on_node2_takes_its_grants_access_tokens_on_node1_with_it() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("cascade");
    let (node1, node2) = two_nodes(&cluster_config(&ks.name, "async").build());
    let client = confidential_client();

    let first = node1.issue_password(&client, ALICE, None);
    let second = node1.issue_refresh(&client, first.refresh_token(), None);
    assert_valid_on(&node1, &first.access_token, "node 1");
    // Node 2 must find the refresh token in Cassandra to revoke it.
    eventually(
        Instant::now(),
        FLUSH_LIMIT,
        "node 2 knows the grant",
        || {
            valid_on(&node2, &second.access_token)?;
            match node2
                .introspect(&client, second.refresh_token())
                .json()
                .get("active")
            {
                Some(Value::Bool(true)) => Ok(()),
                other => Err(format!("refresh token active: {other:?}")),
            }
        },
    );

    let r = node2.revoke(&client, second.refresh_token(), Some("refresh_token"));
    assert_eq!(r.status, 200, "revoke on node 2: {}", r.summary());
    let revoked_at = Instant::now();
    let took = eventually(
        revoked_at,
        PROPAGATION_LIMIT,
        "node 1 rejects every access token of the revoked grant",
        || {
            invalid_on(&node1, &first.access_token)?;
            invalid_on(&node1, &second.access_token)
        },
    );
    eprintln!(
        "grant revoked on node 2 reached node 1 after {} ms",
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

#[test]
fn revocations_by_a_node_whose_clock_lags_win_over_tokens_issued_by_one_ahead() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("skew");
    // Write clocks a minute ahead on the issuer and a minute behind on the revoker
    // (`test_clock_offset_ms`, test only): ordered by each node's clock, the revoker's
    // deletes would lose to the issuer's puts, and the tokens would come back from Cassandra.
    let skewed = |offset_ms: i64, durability: &str| {
        cluster_config(&ks.name, durability)
            .store("cassandra.test_clock_offset_ms", &offset_ms.to_string())
            .build()
    };
    let issuer = Server::start(&skewed(60_000, "sync"));
    let mut revoker = Server::start(&skewed(-60_000, "async"));
    let client = confidential_client();

    // Sync: every token is in Cassandra before the revoker sees it.
    let access = issuer.issue_cc(&client, None);
    let revoked_grant = issuer.issue_password(&client, ALICE, None);
    let rotated_grant = issuer.issue_password(&client, ALICE, None);

    // RFC 7009 revocations (read through from Cassandra first), and a rotation.
    for (token, hint) in [
        (access.access_token.as_str(), None),
        (revoked_grant.refresh_token(), Some("refresh_token")),
    ] {
        let r = revoker.revoke(&client, token, hint);
        assert_eq!(r.status, 200, "revoke on the lagging node: {}", r.summary());
    }
    let rotated = revoker.issue_refresh(&client, rotated_grant.refresh_token(), None);
    // A graceful stop writes the rotation too (revocations are written before their 200).
    revoker.signal("TERM");
    let status = revoker
        .wait_exit(Duration::from_secs(20))
        .expect("the revoker exits after SIGTERM");
    assert!(status.success(), "exit status {status:?}");

    // A node that starts now knows only what Cassandra holds (its recovery scan and
    // read-through; the revocation log is read from its own start on).
    let fresh = Server::start(&cluster_config(&ks.name, "async").build());
    for (token, what) in [
        (&access.access_token, "the revoked access token"),
        (
            &revoked_grant.access_token,
            "the revoked grant's access token",
        ),
    ] {
        invalid_on(&fresh, token).unwrap_or_else(|e| panic!("{what} came back: {e}"));
    }
    let r = fresh.refresh(&client, revoked_grant.refresh_token(), None);
    assert_token_error(&r, 400, "invalid_grant");
    // The rotated-out token is looked at without presenting it for a refresh: presenting
    // a used token is reuse and would revoke the grant, whatever the delete's order.
    inactive_on(&fresh, &client, rotated_grant.refresh_token())
        .unwrap_or_else(|e| panic!("the rotated-out refresh token came back: {e}"));
    assert_valid_on(&fresh, &rotated.access_token, "the fresh node");
    fresh.issue_refresh(&client, rotated.refresh_token(), None);
}

// ---------------------------------------------------------------------------------------------
// Clients and users kept in Cassandra
// ---------------------------------------------------------------------------------------------

#[test]
fn client_added_with_the_cli_works_on_both_nodes_without_restart() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("cli_client");
    let (node1, node2) = two_nodes(&cluster_config(&ks.name, "async").build());
    let config = path_str(&node1.config_path);
    let added = Client::new("svc-cli", Some("cli-secret-1"), AuthMethod::Basic);

    assert_invalid_client_basic(&node1.client_credentials(&added, None), "tessera");

    cli_ok(&[
        "client",
        "add",
        "--config",
        config,
        "--id",
        "svc-cli",
        "--secret",
        "cli-secret-1",
        "--grant-types",
        "client_credentials",
        "--scopes",
        "read",
    ]);
    let added_at = Instant::now();
    for (node, which) in [(&node1, "node 1"), (&node2, "node 2")] {
        let took = eventually(
            added_at,
            PROPAGATION_LIMIT,
            &format!("{which} issues tokens to the client added with the CLI"),
            || answered_200(&node.client_credentials(&added, None)),
        );
        eprintln!("client add reached {which} after {} ms", took.as_millis());
        let issued = node.issue_cc(&added, None);
        assert_eq!(issued.scope, "read", "{which}");
        let info = node.tokeninfo(&issued.access_token);
        assert_eq!(info.json_str("audience"), "svc-cli", "{which}");
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

    // A token of the client, held in both nodes' memory before the removal.
    let held = node1.issue_cc(&added, None);
    eventually(
        Instant::now(),
        FLUSH_LIMIT,
        "node 2 reads the token through before the removal",
        || valid_on(&node2, &held.access_token),
    );

    cli_ok(&["client", "remove", "--config", config, "--id", "svc-cli"]);
    let removed_at = Instant::now();
    for (node, which) in [(&node1, "node 1"), (&node2, "node 2")] {
        let took = eventually(
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
        eprintln!(
            "client remove reached {which} after {} ms",
            took.as_millis()
        );
        // Its tokens are dead on a node as soon as the node knows of the removal.
        invalid_on(node, &held.access_token)
            .unwrap_or_else(|e| panic!("{which} still accepts a removed client's token: {e}"));
        inactive_on(node, &confidential_client(), &held.access_token)
            .unwrap_or_else(|e| panic!("{which} introspects a removed client's token: {e}"));
    }
    let listed = cli_ok(&["client", "list", "--config", config]);
    assert!(
        !listed.lines().any(|l| l.starts_with("svc-cli\t")),
        "client list still shows svc-cli:\n{listed}"
    );
    // Removing it again is refused (exit 2).
    let again = run_cli(
        &["client", "remove", "--config", config, "--id", "svc-cli"],
        None,
    );
    assert_eq!(again.status.code(), Some(2), "{}", describe(&again));
}

/// Runs `tessera ARGS` with `stdin`; must succeed. Returns (stdout, stderr).
pub(crate) fn cli_with_input(args: &[&str], stdin: &[u8]) -> (String, String) {
    let out = run_cli(args, Some(stdin));
    assert!(
        out.status.success(),
        "tessera {args:?} failed: {}",
        describe(&out)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn client_secrets_never_need_the_command_line_generated_or_read_from_stdin() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("cli_secrets");
    let node = Server::start(&cluster_config(&ks.name, "async").build());
    let config = path_str(&node.config_path);
    let add = |id: &str, extra: &[&str], stdin: &[u8]| {
        let mut args = vec![
            "client",
            "add",
            "--config",
            config,
            "--id",
            id,
            "--grant-types",
            "client_credentials",
            "--scopes",
            "read",
        ];
        args.extend_from_slice(extra);
        cli_with_input(&args, stdin)
    };
    let works = |client: &Client| {
        eventually(
            Instant::now(),
            PROPAGATION_LIMIT,
            &format!("{} gets tokens", client.id),
            || answered_200(&node.client_credentials(client, None)),
        );
    };

    // No secret given: a 32-character one is generated and printed once.
    let (stdout, _) = add("svc-generated", &[], b"");
    let secret = stdout
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .unwrap_or_else(|| panic!("no generated secret printed: {stdout}"))
        .to_owned();
    assert_token_shape(&secret, 32);
    works(&Client::new(
        "svc-generated",
        Some(&secret),
        AuthMethod::Basic,
    ));
    let listed = cli_ok(&["client", "list", "--config", config]);
    assert!(!listed.contains(&secret), "list shows the secret: {listed}");

    // From standard input: nothing on the command line, no warning.
    let (_, stderr) = add(
        "svc-stdin",
        &["--secret-stdin"],
        b"a-secret-from-stdin-long-enough-1\n",
    );
    assert!(!stderr.contains("warning"), "stderr: {stderr}");
    works(&Client::new(
        "svc-stdin",
        Some("a-secret-from-stdin-long-enough-1"),
        AuthMethod::Basic,
    ));

    // The old flag still works, with a warning about the process list, and a short secret
    // gets a second warning.
    let (_, stderr) = add("svc-flag", &["--secret", "short-1"], b"");
    assert!(
        stderr.contains("--secret-stdin") && stderr.contains("under 22 characters"),
        "stderr: {stderr}"
    );
    works(&Client::new("svc-flag", Some("short-1"), AuthMethod::Basic));

    // Passwords likewise: from standard input.
    let (_, stderr) = cli_with_input(
        &[
            "user",
            "add",
            "--config",
            config,
            "--username",
            "dora",
            "--password-stdin",
        ],
        b"dora-stdin-pw\n",
    );
    assert!(!stderr.contains("warning"), "stderr: {stderr}");
    let pw_client = confidential_client();
    eventually(
        Instant::now(),
        PASSWORD_POLL_LIMIT,
        "dora logs in with the password read from stdin",
        || answered_200(&node.password(&pw_client, ("dora", "dora-stdin-pw"), None)),
    );
    let out = run_cli(
        &["user", "add", "--config", config, "--username", "erin"],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "no password given: {}",
        describe(&out)
    );
}

#[test]
fn user_added_with_the_cli_can_use_the_password_grant_on_both_nodes_without_restart() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("cli_user");
    let (node1, node2) = two_nodes(&cluster_config(&ks.name, "async").build());
    let config = path_str(&node1.config_path);
    let client = confidential_client();
    let dave = ("dave", "dave-pw-42");

    cli_ok(&[
        "user",
        "add",
        "--config",
        config,
        "--username",
        dave.0,
        "--password",
        dave.1,
    ]);
    let added_at = Instant::now();
    for (node, which) in [(&node1, "node 1"), (&node2, "node 2")] {
        let took = eventually(
            added_at,
            PASSWORD_POLL_LIMIT,
            &format!("{which} accepts the password of the user added with the CLI"),
            || answered_200(&node.password(&client, dave, None)),
        );
        eprintln!("user add reached {which} after {} ms", took.as_millis());
    }
    let issued = node2.issue_password(&client, dave, None);
    eventually(
        Instant::now(),
        FLUSH_LIMIT,
        "node 1 accepts node 2's token",
        || valid_on(&node1, &issued.access_token),
    );
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
    }
}

/// Ok when a refresh with `refresh_token` on `node` answers 400 `invalid_grant`. Never
/// polled: a refresh that succeeded would rotate the token.
pub(crate) fn refresh_refused_on(
    node: &Server,
    client: &Client,
    refresh_token: &str,
) -> Result<(), String> {
    let r = node.refresh(client, refresh_token, None);
    if r.status == 400 {
        assert_token_error(&r, 400, "invalid_grant");
        Ok(())
    } else {
        Err(r.summary())
    }
}

/// Waits until both nodes refuse every token in `access` (tokeninfo) within
/// `PROPAGATION_LIMIT` of `since`, then checks each of `refresh` is `invalid_grant` on both.
fn refused_on_both(
    nodes: [(&Server, &str); 2],
    since: Instant,
    what: &str,
    access: &[&str],
    client: &Client,
    refresh: &[&str],
) {
    for (node, which) in nodes {
        for (i, token) in access.iter().enumerate() {
            eventually(
                since,
                PROPAGATION_LIMIT,
                &format!("{which} refuses access token {i} of {what}"),
                || invalid_on(node, token),
            );
        }
        for (i, token) in refresh.iter().enumerate() {
            refresh_refused_on(node, client, token).unwrap_or_else(|e| {
                panic!("{which} still refreshes with refresh token {i} of {what}: {e}")
            });
        }
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

/// Waits until both nodes accept every token of `tokens` (each issued on one of them).
fn held_by_both(nodes: [(&Server, &str); 2], tokens: &[&String]) {
    for token in tokens {
        for (node, which) in nodes {
            held_by(node, token, which);
        }
    }
}

/// `tessera user add --password-stdin` for `user`; waits until both nodes accept it.
fn add_user_on_both(config: &str, nodes: [(&Server, &str); 2], user: (&str, &str)) {
    cli_with_input(
        &[
            "user",
            "add",
            "--config",
            config,
            "--username",
            user.0,
            "--password-stdin",
        ],
        format!("{}\n", user.1).as_bytes(),
    );
    let added_at = Instant::now();
    for (node, which) in nodes {
        eventually(
            added_at,
            PASSWORD_POLL_LIMIT,
            &format!("{which} accepts the password of {}", user.0),
            || answered_200(&node.password(&confidential_client(), user, None)),
        );
    }
}

#[test]
fn client_remove_revokes_every_token_of_the_client_on_both_nodes_and_re_adding_it_revives_none() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("rm_client");
    let (node1, node2) = two_nodes(&cluster_config(&ks.name, "async").build());
    let nodes = [(&node1, "node 1"), (&node2, "node 2")];
    let config = path_str(&node1.config_path);
    let client = Client::new(
        "svc-gone",
        Some("gone-secret-long-enough-1"),
        AuthMethod::Basic,
    );
    let add = || {
        cli_ok(&[
            "client",
            "add",
            "--config",
            config,
            "--id",
            "svc-gone",
            "--secret",
            "gone-secret-long-enough-1",
            "--grant-types",
            "client_credentials,password,refresh_token",
            "--scopes",
            "read",
        ]);
        let added_at = Instant::now();
        for (node, which) in nodes {
            eventually(
                added_at,
                PROPAGATION_LIMIT,
                &format!("{which} issues tokens to svc-gone"),
                || answered_200(&node.client_credentials(&client, None)),
            );
        }
    };
    add();

    // Tokens issued on each node, each held in both nodes' memory (the other one read it
    // through); and a token of another client.
    let cc1 = node1.issue_cc(&client, None);
    let pw2 = node2.issue_password(&client, ALICE, None);
    let pw1 = node1.issue_password(&client, ALICE, None);
    let other = node1.issue_cc(&confidential_client(), None);
    held_by_both(
        nodes,
        &[&cc1.access_token, &pw2.access_token, &pw1.access_token],
    );

    let out = cli_ok(&["client", "remove", "--config", config, "--id", "svc-gone"]);
    assert!(out.contains("client svc-gone removed"), "{out}");
    // These five and the two the polls of `add` were issued.
    assert!(out.contains("revoked 7 tokens of client svc-gone"), "{out}");
    let access = [
        cc1.access_token.as_str(),
        pw2.access_token.as_str(),
        pw1.access_token.as_str(),
    ];
    for (node, which) in nodes {
        for token in access {
            invalid_on(node, token)
                .unwrap_or_else(|e| panic!("{which} accepts a removed client's token: {e}"));
        }
    }

    // The same id again: its old tokens stay dead, in memory and in the store.
    add();
    let refresh = [pw2.refresh_token(), pw1.refresh_token()];
    refused_on_both(
        nodes,
        Instant::now(),
        "the re-added client",
        &access,
        &client,
        &refresh,
    );
    for (node, which) in nodes {
        inactive_on(node, &confidential_client(), &pw1.access_token)
            .unwrap_or_else(|e| panic!("{which} introspects an old token as active: {e}"));
        assert_valid_on(node, &other.access_token, which);
        // New tokens of the re-added client work.
        let fresh = node.issue_cc(&client, None);
        assert_valid_on(node, &fresh.access_token, which);
    }
}

#[test]
fn user_remove_revokes_every_token_of_the_user_on_both_nodes_and_leaves_other_users() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("rm_user");
    let (node1, node2) = two_nodes(&cluster_config(&ks.name, "async").build());
    let nodes = [(&node1, "node 1"), (&node2, "node 2")];
    let config = path_str(&node1.config_path);
    let client = confidential_client();
    let (gil, hal) = (("gil", "gil-pw-1"), ("hal", "hal-pw-1"));
    add_user_on_both(config, nodes, gil);
    add_user_on_both(config, nodes, hal);

    let gil1 = node1.issue_password(&client, gil, None);
    let gil2 = node2.issue_password(&other_client(), gil, None);
    let hal1 = node1.issue_password(&client, hal, None);
    held_by_both(
        nodes,
        &[&gil1.access_token, &gil2.access_token, &hal1.access_token],
    );

    let out = cli_ok(&["user", "remove", "--config", config, "--username", "gil"]);
    assert!(out.contains("user gil removed"), "{out}");
    // These two grants and the two the polls of `add_user_on_both` were issued, two tokens
    // each.
    assert!(out.contains("revoked 8 tokens of user gil"), "{out}");
    let removed_at = Instant::now();
    refused_on_both(
        nodes,
        removed_at,
        "gil (client svc-a)",
        &[&gil1.access_token, &gil2.access_token],
        &client,
        &[gil1.refresh_token()],
    );
    for (node, which) in nodes {
        refresh_refused_on(node, &other_client(), gil2.refresh_token())
            .unwrap_or_else(|e| panic!("{which} refreshes gil's token of svc-b: {e}"));
        assert_valid_on(node, &hal1.access_token, which);
    }
    // Hal keeps his grant: a refresh works (rotating it) on either node.
    let hal_refreshed = node2.issue_refresh(&client, hal1.refresh_token(), None);
    held_by(&node1, &hal_refreshed.access_token, "node 1");
}

#[test]
fn user_set_password_revokes_the_users_refresh_grants_on_both_nodes_and_only_the_new_password_works(
) {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("set_pw");
    let (node1, node2) = two_nodes(&cluster_config(&ks.name, "async").build());
    let nodes = [(&node1, "node 1"), (&node2, "node 2")];
    let config = path_str(&node1.config_path);
    let client = confidential_client();
    let (old, new) = (("ivy", "ivy-old-pw"), ("ivy", "ivy-new-pw"));
    add_user_on_both(config, nodes, old);

    let ivy1 = node1.issue_password(&client, old, None);
    let ivy2 = node2.issue_password(&client, old, None);
    let service = node2.issue_cc(&client, None);
    held_by_both(
        nodes,
        &[
            &ivy1.access_token,
            &ivy2.access_token,
            &service.access_token,
        ],
    );

    let (out, _) = cli_with_input(
        &[
            "user",
            "set-password",
            "--config",
            config,
            "--username",
            "ivy",
        ],
        b"ivy-new-pw\n",
    );
    assert!(out.contains("password of user ivy changed"), "{out}");
    // These two and the two of the polls of `add_user_on_both`.
    assert!(out.contains("revoked 4 refresh tokens"), "{out}");
    refused_on_both(
        nodes,
        Instant::now(),
        "ivy's grants",
        &[&ivy1.access_token, &ivy2.access_token],
        &client,
        &[ivy1.refresh_token(), ivy2.refresh_token()],
    );
    for (node, which) in nodes {
        assert_valid_on(node, &service.access_token, which);
        assert_token_error(&node.password(&client, old, None), 400, "invalid_grant");
        let fresh = node.issue_password(&client, new, None);
        assert_valid_on(node, &fresh.access_token, which);
    }

    let out = run_cli(
        &[
            "user",
            "set-password",
            "--config",
            config,
            "--username",
            "nobody",
        ],
        Some(b"whatever-pw\n"),
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "no such user: {}",
        describe(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// Configuration and schema
// ---------------------------------------------------------------------------------------------

#[test]
fn check_config_refuses_any_for_reads() {
    // Only the configuration is read; Cassandra is not contacted, so no lock is taken.
    // (This test once took the process lock *before* the thread lock, the reverse of
    // `shared_cassandra`: with the outage test holding the thread lock and waiting for the
    // process lock, both waited for ever. That was the outage test's "hang".)
    let dir = TempDir::new("check");
    let base = cluster_config("t_check_unused", "async");
    let bad = dir.write(
        "any.toml",
        &base.clone().store("read_consistency", "\"ANY\"").build(),
    );
    let out = run_cli(&["check-config", "--config", path_str(&bad)], None);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("store.read_consistency"),
        "the error should name store.read_consistency: {stderr}"
    );

    // ANY stays allowed for writes.
    let ok = dir.write(
        "ok.toml",
        &base
            .store("read_consistency", "\"ONE\"")
            .store("write_consistency", "\"ANY\"")
            .build(),
    );
    let out = run_cli(&["check-config", "--config", path_str(&ok)], None);
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn migrate_creates_the_schema_then_serve_runs_without_create_schema() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("migrate");
    let dir = TempDir::new("migrate");
    let config = cluster_config(&ks.name, "sync")
        .store("create_schema", "false")
        .build();
    let path = dir.write("tessera.toml", &config);

    // Without a schema, serve refuses to start and says what to run.
    let refused = match Server::try_start(&config) {
        Ok(_) => panic!("serve started on a keyspace that does not exist"),
        Err(e) => e,
    };
    assert!(
        refused.contains("tessera migrate"),
        "the start-up error should point at `tessera migrate`: {refused}"
    );

    let out = cli_ok(&["migrate", "--config", path_str(&path)]);
    assert!(
        out.contains(&format!("schema applied to keyspace {}", ks.name)),
        "{out}"
    );
    let tables = cql(&format!(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = '{}'",
        ks.name
    ));
    for table in [
        "access_tokens",
        "refresh_tokens",
        "grants",
        "revocations",
        "clients",
        "users",
    ] {
        assert!(
            tables.lines().any(|l| l.trim() == table),
            "migrate did not create {table}; tables:\n{tables}"
        );
    }
    // Idempotent.
    cli_ok(&["migrate", "--config", path_str(&path)]);

    let (node1, node2) = two_nodes(&config);
    let client = confidential_client();
    let issued = node1.issue_cc(&client, None);
    assert_valid_on(&node2, &issued.access_token, "node 2");
}

// ---------------------------------------------------------------------------------------------
// Outage
// ---------------------------------------------------------------------------------------------

/// The node's write-behind figures from `/metrics`: (queue depth, batches, errors).
fn store_figures(node: &Server) -> (f64, f64, f64) {
    let m = node.metrics();
    let label = [("store", "cassandra")];
    (
        m.value("tessera_store_queue_depth", &label),
        m.value("tessera_store_batches_total", &label),
        m.value("tessera_store_errors_total", &label),
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
                "the node did not write its queue to Cassandra within {limit:?}: depth {depth}, \
                 batches {batches} (before: {batches_before}), errors {errors}"
            );
        }
        thread::sleep(Duration::from_millis(250));
    }
}

/// How long a sync-mode node may take to refuse a token request while the store is down
/// (a store request fails within `request_timeout_ms` = 1000 here).
const SYNC_ANSWER_LIMIT: Duration = Duration::from_secs(5);

/// A client_credentials request as `client`; its answer, or `None` when none arrives within
/// `limit`.
fn token_answer_within(node: &Server, client: &Client, limit: Duration) -> Option<Response> {
    let secret = client.secret.as_deref().expect("confidential client");
    let auth = basic_auth(&client.id, secret);
    let request = raw_form_post(
        TOKEN_PATH,
        &form(&[("grant_type", "client_credentials")]),
        &[("Authorization", &auth)],
    );
    let mut conn = node.conn();
    conn.send(&request);
    if conn.data_within(limit) {
        Some(conn.read_response())
    } else {
        None
    }
}

#[test]
fn a_flood_of_made_up_tokens_from_one_address_leaves_read_through_to_everyone_else() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("flood");
    let config = cluster_config(&ks.name, "sync")
        .store("read_through_limit", "4")
        .store("read_through_limit_per_address", "1")
        .store("negative_cache_ms", "0")
        .build();
    let (issuer, other) = two_nodes(&config);
    let client = confidential_client();
    let stop = std::sync::atomic::AtomicBool::new(false);
    /// Stops the flood when dropped, also when an assertion below fails.
    struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    thread::scope(|s| {
        // Four connections from 127.0.0.1 pipelining tokeninfo for tokens nobody issued.
        for c in 0..4 {
            let (stop, addr) = (&stop, other.addr);
            s.spawn(move || {
                let mut conn = Conn::connect(addr);
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut batch = Vec::new();
                    for _ in 0..16 {
                        n += 1;
                        let token = format!("made-up-{c}-{n}-aaaaaaaaaaaaaaaaaaaaaaaa");
                        batch.extend(raw_request(
                            "GET",
                            &format!("{TOKENINFO_PATH}?access_token={token}"),
                            &[],
                            b"",
                        ));
                    }
                    conn.send(&batch);
                    for r in conn.read_responses(16) {
                        assert!(
                            r.status == 400 || r.status == 503,
                            "flood answer: {}",
                            r.summary()
                        );
                    }
                }
            });
        }
        let _stop = StopOnDrop(&stop);
        thread::sleep(Duration::from_millis(300));
        // Meanwhile a client at another address presents tokens only Cassandra knows on
        // this node: each one needs a read-through, and each gets one.
        let from = std::net::IpAddr::from([127, 0, 0, 2]);
        for i in 0..10 {
            let token = issuer.issue_cc(&client, None).access_token;
            let mut conn = Conn::connect_from(from, other.addr);
            let r = conn.roundtrip(&raw_request(
                "GET",
                &format!("{TOKENINFO_PATH}?access_token={token}"),
                &[],
                b"",
            ));
            assert_eq!(
                r.status,
                200,
                "lookup {i} during the flood: {}",
                r.summary()
            );
        }
    });
}

/// The answer must be 503 `temporarily_unavailable` with `Retry-After`: the store cannot
/// say whether the token exists, and "invalid" would make the client drop it.
pub(crate) fn assert_cannot_tell(r: &Response, what: &str) {
    assert_eq!(r.status, 503, "{what} during the outage: {}", r.summary());
    assert_oauth_error(r, 503, "temporarily_unavailable");
    assert!(
        r.header("Retry-After").is_some(),
        "{what}: 503 needs Retry-After: {}",
        r.summary()
    );
}

#[test]
fn store_outage_is_503_never_invalid_for_tokens_only_the_store_knows() {
    let _exclusive = exclusive_cassandra();
    let ks = Keyspace::new("cannot_tell");
    let base = outage_config(&ks.name);
    let issuer = Server::start(&base.build());
    let other = Server::start(&base.build());
    let client = confidential_client();
    let (_, batches_before, _) = store_figures(&issuer);
    let access = issuer.issue_cc(&client, None);
    let owner = issuer.issue_password(&client, ALICE, None);
    // Written to Cassandra, never looked up on `other`: only the store knows them there.
    wait_until_written(&issuer, batches_before, Duration::from_secs(30));

    let mut restart = stop_cassandra();

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
    // What a node holds itself still answers without the store.
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

#[test]
fn cassandra_outage_async_issuance_continues_and_nothing_accepted_is_lost() {
    let _exclusive = exclusive_cassandra();
    let ks = Keyspace::new("outage");
    let base = outage_config(&ks.name);
    let node = Server::start(&base.build());
    let sync_node = Server::start(
        &base
            .clone()
            .store("durability", "\"sync\"")
            .store("write_consistency", "\"ONE\"")
            .build(),
    );
    let client = confidential_client();

    // Before the outage: two tokens that Cassandra holds (the sync node reads them through).
    let kept = node.issue_cc(&client, None);
    let doomed = node.issue_cc(&client, Some("read write"));
    eventually(
        Instant::now(),
        FLUSH_LIMIT,
        "tokens reach Cassandra before the outage",
        || {
            valid_on(&sync_node, &kept.access_token)?;
            valid_on(&sync_node, &doomed.access_token)
        },
    );
    let (_, batches_before, _) = store_figures(&node);

    let mut restart = stop_cassandra();
    let outage_began = Instant::now();

    // Async: issuance goes on; every one of these is accepted and must not be lost.
    let mut issued_during: Vec<String> = Vec::new();
    for _ in 0..25 {
        issued_during.push(node.issue_cc(&client, None).access_token);
    }
    let owner = node.issue_password(&client, ALICE, None);
    issued_during.push(owner.access_token.clone());
    // A revocation is acknowledged only once Cassandra has it, also in async mode: during
    // the outage it answers 503 with Retry-After. The node stops accepting the token at
    // once all the same, and its delete stays queued, so it is not lost either.
    let r = node.revoke(&client, &doomed.access_token, None);
    assert_oauth_error(&r, 503, "temporarily_unavailable");
    assert!(
        r.header("Retry-After").is_some(),
        "503 needs Retry-After: {}",
        r.summary()
    );
    invalid_on(&node, &doomed.access_token)
        .unwrap_or_else(|e| panic!("the revoked token is still accepted: {e}"));
    // Lookups need no store: what the node holds still validates.
    assert_valid_on(
        &node,
        &kept.access_token,
        "the async node during the outage",
    );
    for t in &issued_during {
        assert_valid_on(&node, t, "the async node during the outage");
    }
    assert_valid_on(
        &sync_node,
        &kept.access_token,
        "the sync node (cached) during the outage",
    );
    // Sync: nothing is acknowledged that is not written, so issuance is refused for now,
    // promptly, for every request of the outage (not only the first). A sync node that does
    // not answer is recorded and reported at the end, after the checks that nothing
    // accepted was lost.
    let mut sync_problems: Vec<String> = Vec::new();
    for attempt in 1..=3 {
        let sent = Instant::now();
        match token_answer_within(&sync_node, &client, SYNC_ANSWER_LIMIT) {
            None => sync_problems.push(format!(
                "token request {attempt} to the sync-mode node got no answer within {:?} \
                 while Cassandra was down (expected 503 temporarily_unavailable with \
                 Retry-After)",
                SYNC_ANSWER_LIMIT
            )),
            Some(r) => {
                eprintln!(
                    "outage: sync node answered request {attempt} with {} after {} ms",
                    r.status,
                    sent.elapsed().as_millis()
                );
                assert_oauth_error(&r, 503, "temporarily_unavailable");
                assert!(
                    r.header("Retry-After").is_some(),
                    "503 needs Retry-After: {}",
                    r.summary()
                );
            }
        }
    }
    let (depth, _, errors) = store_figures(&node);
    eprintln!(
        "outage: {} tokens issued in {} ms; async node queue depth {depth}, store errors {errors}",
        issued_during.len(),
        outage_began.elapsed().as_millis()
    );

    let restarting = Instant::now();
    restart.start_now();
    eprintln!(
        "Cassandra answered again after {} ms",
        restarting.elapsed().as_millis()
    );
    let took = wait_until_written(&node, batches_before, Duration::from_secs(90));
    eprintln!(
        "async node wrote its queue {} ms after Cassandra answered",
        took.as_millis()
    );
    // The client's retry of the refused revocation: 200 now that Cassandra holds it.
    let r = node.revoke(&client, &doomed.access_token, None);
    assert_eq!(
        r.status,
        200,
        "revoke retried after the outage: {}",
        r.summary()
    );
    eventually(
        Instant::now(),
        Duration::from_secs(30),
        "the sync node issues again",
        || answered_200(&sync_node.client_credentials(&client, None)),
    );

    // A node that was not there during the outage finds everything in Cassandra.
    let fresh = Server::start(&base.build());
    let lost: Vec<&String> = issued_during
        .iter()
        .filter(|t| valid_on(&fresh, t).is_err())
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} tokens accepted during the outage are unknown to a fresh node: {lost:?}",
        lost.len(),
        issued_during.len()
    );
    assert_valid_on(&fresh, &kept.access_token, "the fresh node");
    invalid_on(&fresh, &doomed.access_token).unwrap_or_else(|e| {
        panic!("a revocation accepted during the outage was lost; the fresh node accepts: {e}")
    });
    // The refresh token issued during the outage works on the fresh node.
    let next = fresh.issue_refresh(&client, owner.refresh_token(), None);
    eventually(
        Instant::now(),
        FLUSH_LIMIT,
        "the async node accepts a token the fresh node issued",
        || valid_on(&node, &next.access_token),
    );
    assert!(sync_problems.is_empty(), "{}", sync_problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// OpenID Connect signing keys in the shared store
// ---------------------------------------------------------------------------------------------

#[test]
fn keys_rotate_and_list_work_on_the_shared_store() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("keys");
    let dir = TempDir::new("keys-cassandra");
    let path = dir.write("tessera.toml", &cluster_config(&ks.name, "async").build());
    cli_ok(&["migrate", "--config", path_str(&path)]);
    let list = |want: usize| {
        let out = cli_ok(&["keys", "list", "--config", path_str(&path)]);
        assert_eq!(out.lines().count(), want, "{out}");
        out
    };
    // The first rotation of an empty store creates the key set (a key per algorithm).
    let out = cli_ok(&[
        "keys",
        "rotate",
        "--alg",
        "ES256",
        "--config",
        path_str(&path),
    ]);
    assert!(out.contains("ES256 key "), "{out}");
    list(2);
    let out = cli_ok(&[
        "keys",
        "rotate",
        "--alg",
        "ES256",
        "--config",
        path_str(&path),
    ]);
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
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("\tES256\t") && l.contains("retiring until "))
            .count(),
        1,
        "{out}"
    );
}
