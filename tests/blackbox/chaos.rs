//! Chaos on the store path (issue 15): the real server on a real store, with faults injected
//! at run time through the test-only `store.test_faults_file` (a wrapper around any backend:
//! `stall` blocks store calls, `error` fails them with the backend's unavailable error), a
//! RocksDB data directory on a tmpfs that fills up, and a `sync` server killed with SIGKILL
//! twenty times under load.
//!
//! What must hold through all of it: nothing acknowledged (a 200) is lost, also across a
//! restart; the write queue stops at its configured limit (memory stays bounded) and what
//! does not fit is answered 503 `temporarily_unavailable` with `Retry-After`; lookups of
//! tokens the node holds keep working; a shared store that cannot answer is "cannot tell"
//! (503), never `invalid_grant` / `invalid_token`; metrics and the server's log say what
//! happened; and once the fault is gone the store catches up by itself.
//!
//! `persistence.rs` has the single kill -9 tests and the slow-store (`write_delay_ms`)
//! queue test; these add faults that stop or fail the store, several loading threads, and
//! the checks after recovery. The shared-store tests need Cassandra, PostgreSQL and MariaDB
//! (`tests/services/*.sh`); the tmpfs tests need root and skip with a message without it.

use crate::cluster::{cluster_config, shared_cassandra, Keyspace};
use crate::cluster_sql::{migrated, sql_config};
use crate::harness::*;
use crate::sql_servers::{shared_server, Dialect};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Fault control, figures and load
// ---------------------------------------------------------------------------------------------

/// The control file of one server's fault injector.
struct Faults {
    path: PathBuf,
}

impl Faults {
    fn new(dir: &TempDir, name: &str) -> Faults {
        let path = dir.path().join(name);
        std::fs::write(&path, "ok\n").expect("write faults file");
        Faults { path }
    }

    fn toml(&self) -> String {
        toml_str(&self.path.display().to_string())
    }

    /// Sets the fault (written whole and renamed into place, so it is never read half
    /// written) and waits until `server` has logged the change.
    fn set(&self, server: &Server, fault: &str) {
        let seen = fault_changes(server);
        let tmp = self.path.with_extension("new");
        std::fs::write(&tmp, format!("{fault}\n")).expect("write faults file");
        std::fs::rename(&tmp, &self.path).expect("rename faults file");
        wait_for(
            Duration::from_secs(5),
            &format!("the server reads fault {fault:?}"),
            || fault_changes(server) > seen,
        );
    }
}

/// How many fault changes the server has logged.
fn fault_changes(server: &Server) -> usize {
    server
        .stderr()
        .matches("test fault injection: store fault changed")
        .count()
}

/// Polls `done` every 50 ms; panics naming `what` after `limit`.
fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// One write-behind figure from `/metrics` (there is one store per server).
fn figure(server: &Server, name: &str) -> f64 {
    let m = server.metrics();
    let found = m.find(name, &[]);
    match found.as_slice() {
        [s] => s.value,
        _ => panic!("expected one sample {name}:\n{}", m.text),
    }
}

/// Resident memory of the server process, in KiB.
fn rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .expect("read /proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// Waits until the server has written everything it accepted: no change queued, no batch
/// being written or retried, twice in a row across more than a flush interval (a batch
/// being gathered is out of the queue but not yet being written).
fn wait_until_caught_up(server: &Server, limit: Duration) {
    let mut quiet_since: Option<Instant> = None;
    wait_for(
        limit,
        "the store caught up (queue empty, no write under way)",
        || {
            let m = server.metrics();
            let one = |name: &str| m.find(name, &[]).first().map_or(-1.0, |s| s.value);
            let idle = one("tessera_store_queue_depth") == 0.0
                && one("tessera_store_write_age_seconds") == 0.0;
            match (idle, quiet_since) {
                (false, _) => {
                    quiet_since = None;
                    false
                }
                (true, None) => {
                    quiet_since = Some(Instant::now());
                    false
                }
                (true, Some(t)) => t.elapsed() >= Duration::from_millis(300),
            }
        },
    );
}

/// What one loading thread saw.
#[derive(Debug, Default)]
struct Seen {
    /// Tokens answered 200.
    acknowledged: Vec<String>,
    /// Answers 503 (each checked to be `temporarily_unavailable` with `Retry-After`).
    refused: usize,
}

/// A 503 must say "retry later" the way RFC 6749 clients understand it.
fn assert_retry_later(r: &Response, what: &str) {
    assert_eq!(r.status, 503, "{what}: {}", r.summary());
    assert_oauth_error(r, 503, "temporarily_unavailable");
    assert!(
        r.header("Retry-After").is_some(),
        "{what}: a 503 without Retry-After: {}",
        r.summary()
    );
}

/// `POST /api/oauth/revoke` of `token` as the confidential client.
fn revoke_request(token: &str) -> Vec<u8> {
    raw_form_post(
        REVOKE_PATH,
        &form(&[("token", token)]),
        &[("Authorization", &basic_auth("svc-a", "secret-a"))],
    )
}

/// client_credentials from `threads` keep-alive connections until `stop`; every answer
/// must be 200 or a proper 503.
fn issue_until(
    server: &Server,
    threads: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<thread::JoinHandle<Seen>> {
    let auth = basic_auth("svc-a", "secret-a");
    (0..threads)
        .map(|_| {
            let addr = server.addr;
            let stop = Arc::clone(stop);
            let request = raw_form_post(
                TOKEN_PATH,
                "grant_type=client_credentials",
                &[("Authorization", &auth)],
            );
            thread::spawn(move || {
                let mut seen = Seen::default();
                let mut conn = Conn::connect(addr);
                while !stop.load(Ordering::Relaxed) {
                    let r = conn.roundtrip(&request);
                    match r.status {
                        200 => seen.acknowledged.push(r.json_str("access_token")),
                        503 => {
                            assert_retry_later(&r, "issuance");
                            seen.refused += 1;
                            // Retry-After says later; a short pause keeps the loop from
                            // spinning the two cores.
                            thread::sleep(Duration::from_millis(5));
                        }
                        _ => panic!("issuance answered {}", r.summary()),
                    }
                    if r.closes() {
                        conn = Conn::connect(addr);
                    }
                }
                seen
            })
        })
        .collect()
}

fn join(handles: Vec<thread::JoinHandle<Seen>>) -> Seen {
    let mut all = Seen::default();
    for h in handles {
        let s = h.join().expect("loading thread");
        all.acknowledged.extend(s.acknowledged);
        all.refused += s.refused;
    }
    all
}

/// The tokens tokeninfo does not accept (checked over one keep-alive connection).
fn not_valid(server: &Server, tokens: &[String]) -> Vec<String> {
    let mut conn = server.conn();
    tokens
        .iter()
        .filter(|t| {
            let path = format!("{TOKENINFO_PATH}?access_token={}", urlencode(t));
            let r = conn.roundtrip(&raw_request("GET", &path, &[], b""));
            if r.closes() {
                conn = server.conn();
            }
            r.status != 200
        })
        .cloned()
        .collect()
}

fn assert_all_valid(server: &Server, tokens: &[String], when: &str) {
    let lost = not_valid(server, tokens);
    assert!(
        lost.is_empty(),
        "{when}: {} of {} acknowledged tokens are not valid (first: {:?})",
        lost.len(),
        tokens.len(),
        lost.first()
    );
}

fn rocks_config(db: &Path, durability: &str) -> ConfigBuilder {
    ConfigBuilder::standard()
        .store("kind", "\"rocksdb\"")
        .store("path", &toml_str(&db.display().to_string()))
        .store("durability", &toml_str(durability))
        .store("flush_interval_ms", "10")
}

// ---------------------------------------------------------------------------------------------
// Injected faults on RocksDB
// ---------------------------------------------------------------------------------------------

const QUEUE: usize = 600;
const THREADS: usize = 4;

/// The behaviour shared by the stall and error tests on RocksDB in `durability` mode.
fn fault_fills_the_queue_to_its_limit_then_the_store_catches_up(fault: &str, durability: &str) {
    let dir = TempDir::new("chaos");
    let faults = Faults::new(&dir, "faults");
    // In sync mode every refused request leaves its change queued (2 places with its
    // acknowledgement), so a smaller queue fills within the test.
    let queue = if durability == "sync" { 48 } else { QUEUE };
    let config = rocks_config(&dir.path().join("db"), durability)
        .store("queue_capacity", &queue.to_string())
        .store("durable_wait_ms", "500")
        .store("test_faults_file", &faults.toml())
        .build();
    let server = Server::start(&config);
    let client = confidential_client();
    let before: Vec<String> = (0..20)
        .map(|_| server.issue_cc(&client, None).access_token)
        .collect();
    let revoked_before = server.issue_cc(&client, None).access_token;
    wait_until_caught_up(&server, Duration::from_secs(10));
    let rss_before = rss_kib(&server);

    faults.set(&server, fault);
    let stop = Arc::new(AtomicBool::new(false));
    let load = issue_until(&server, THREADS, &stop);
    // The queue fills up to its limit and no further, and stays there while refusing.
    wait_for(Duration::from_secs(20), "requests are refused", || {
        figure(&server, "tessera_store_rejected_total") >= 50.0
    });
    let rss_full = rss_kib(&server);
    let mut deepest = 0.0f64;
    for _ in 0..10 {
        let depth = figure(&server, "tessera_store_queue_depth");
        assert!(
            depth <= queue as f64,
            "the queue holds {depth} changes, over its limit of {queue}"
        );
        deepest = deepest.max(depth);
        thread::sleep(Duration::from_millis(100));
    }
    let rss_refusing = rss_kib(&server);
    // A refused request allocates nothing that stays: a second of refusals leaves the
    // resident size where it was (a margin for allocator noise).
    assert!(
        rss_refusing < rss_full + 16 * 1024,
        "RSS grew from {rss_full} KiB to {rss_refusing} KiB while every write was refused"
    );
    assert!(
        rss_refusing < rss_before + 64 * 1024,
        "RSS grew from {rss_before} KiB to {rss_refusing} KiB with {queue} changes queued"
    );
    assert!(
        deepest >= (queue - 6 * THREADS) as f64,
        "the queue never filled (deepest {deepest} of {queue}) though requests were refused"
    );
    assert!(figure(&server, "tessera_store_write_age_seconds") > 0.0);
    // Lookups of what the node holds need no store.
    assert_all_valid(&server, &before, "during the fault");
    // A revocation cannot be acknowledged before the store has it. Sent on its own
    // connection: during a stall its answer waits at most until the stall ends.
    let revoking = {
        let (addr, token) = (server.addr, revoked_before.clone());
        thread::spawn(move || Conn::connect(addr).roundtrip(&revoke_request(&token)))
    };
    stop.store(true, Ordering::Relaxed);
    let during = join(load);
    assert!(during.refused > 0);
    let log = server.stderr();
    assert!(
        log.contains("write queue full"),
        "no log of the full queue:\n{log}"
    );
    if fault.starts_with("error") {
        assert!(
            figure(&server, "tessera_store_errors_total") > 0.0,
            "failed writes not counted"
        );
        assert!(
            log.contains("store write failed"),
            "no log of the failures:\n{log}"
        );
    }

    faults.set(&server, "ok");
    let r = revoking.join().expect("revoking thread");
    eprintln!(
        "{fault} ({durability}): revocation during the fault: {}",
        r.status
    );
    if fault.starts_with("error") || r.status != 200 {
        assert_retry_later(&r, "revocation during the fault");
    }
    wait_until_caught_up(&server, Duration::from_secs(30));
    let log = server.stderr();
    let told = if fault.starts_with("error") {
        "store writes recovered"
    } else {
        "store write stalled"
    };
    assert!(log.contains(told), "no log saying {told:?}:\n{log}");
    let after = server.issue_cc(&client, None).access_token;
    let log = server.stderr();
    assert!(
        log.contains("accepting writes"),
        "no log of the queue taking writes again:\n{log}"
    );
    // The revocation is repeated as a client would after its 503; now it is acknowledged.
    assert_eq!(server.revoke(&client, &revoked_before, None).status, 200);

    let mut acknowledged = before;
    acknowledged.extend(during.acknowledged);
    acknowledged.push(after);
    eprintln!(
        "{fault} ({durability}): {} tokens acknowledged, {} refused with 503, queue up to \
         {deepest} of {queue}, RSS {rss_before} -> {rss_refusing} KiB",
        acknowledged.len(),
        during.refused
    );
    assert_all_valid(&server, &acknowledged, "after the fault cleared");
    wait_until_caught_up(&server, Duration::from_secs(10));
    server.kill_hard();

    let server = Server::start(&config);
    assert_all_valid(&server, &acknowledged, "after kill -9 and a restart");
    assert_token_error(&server.tokeninfo(&revoked_before), 400, "invalid_token");
}

#[test]
fn store_stall_fills_the_queue_to_its_limit_answers_503_and_the_store_catches_up_losing_nothing() {
    fault_fills_the_queue_to_its_limit_then_the_store_catches_up("stall", "async");
}

#[test]
fn store_stall_in_sync_mode_answers_503_within_durable_wait_then_fills_the_queue_and_catches_up() {
    fault_fills_the_queue_to_its_limit_then_the_store_catches_up("stall", "sync");
}

#[test]
fn store_errors_fill_the_queue_to_its_limit_answer_503_and_retries_lose_nothing_async() {
    fault_fills_the_queue_to_its_limit_then_the_store_catches_up("error", "async");
}

#[test]
fn store_errors_in_sync_mode_answer_503_and_every_acknowledged_token_survives() {
    fault_fills_the_queue_to_its_limit_then_the_store_catches_up("error", "sync");
}

#[test]
fn a_fraction_of_store_errors_under_load_loses_no_acknowledged_token() {
    let dir = TempDir::new("chaos");
    let faults = Faults::new(&dir, "faults");
    let config = rocks_config(&dir.path().join("db"), "sync")
        .store("test_faults_file", &faults.toml())
        .build();
    let server = Server::start(&config);
    faults.set(&server, "error 0.3");
    let stop = Arc::new(AtomicBool::new(false));
    let load = issue_until(&server, THREADS, &stop);
    wait_for(Duration::from_secs(20), "some writes failed", || {
        figure(&server, "tessera_store_errors_total") >= 10.0
    });
    stop.store(true, Ordering::Relaxed);
    let seen = join(load);
    faults.set(&server, "ok");
    wait_until_caught_up(&server, Duration::from_secs(30));
    eprintln!(
        "error 0.3 (sync): {} acknowledged, {} refused",
        seen.acknowledged.len(),
        seen.refused
    );
    assert!(!seen.acknowledged.is_empty());
    server.kill_hard();
    let server = Server::start(&config);
    assert_all_valid(&server, &seen.acknowledged, "after kill -9 and a restart");
}

// ---------------------------------------------------------------------------------------------
// Injected errors on the shared stores
// ---------------------------------------------------------------------------------------------

/// A shared store's kind, for the tests that run on each.
#[derive(Debug, Clone, Copy)]
enum Shared {
    Cassandra,
    Sql(Dialect),
}

/// Two nodes sharing a fresh keyspace or schema; node 2 reads through to what node 1 wrote.
/// An `error` fault on each in turn: every answer that needs the store is 503
/// `temporarily_unavailable` (never `invalid_grant` / `invalid_token`), issuance from memory
/// goes on until the queue is full, and once the fault clears every acknowledged change is
/// in the store (the other node reads it through).
fn shared_store_errors_are_503_and_acknowledged_changes_arrive_afterwards(kind: Shared) {
    let dir = TempDir::new("chaos");
    let (f1, f2) = (Faults::new(&dir, "faults1"), Faults::new(&dir, "faults2"));
    // Each guard keeps its store's place alive (and, for SQL, the server shared).
    let _cassandra;
    let _keyspace;
    let _sql;
    let _db;
    let base = match kind {
        Shared::Cassandra => {
            _cassandra = shared_cassandra();
            let ks = Keyspace::new("chaos");
            let c = cluster_config(&ks.name, "async");
            _keyspace = ks;
            c
        }
        Shared::Sql(dialect) => {
            _sql = shared_server(dialect);
            let db = migrated(dialect, "chaos");
            let c = sql_config(&db, "async");
            _db = db;
            c
        }
    }
    .store("queue_capacity", "64");
    let node1 = Server::start(&base.clone().store("test_faults_file", &f1.toml()).build());
    let node2 = Server::start(&base.store("test_faults_file", &f2.toml()).build());
    let client = confidential_client();

    let access = node1.issue_cc(&client, None);
    let owner = node1.issue_password(&client, ALICE, None);
    wait_until_caught_up(&node1, Duration::from_secs(30));

    // Node 2's store fails: what only the store knows cannot be told.
    f2.set(&node2, "error");
    assert_retry_later(&node2.tokeninfo(&access.access_token), "tokeninfo");
    assert_retry_later(
        &node2.introspect(&client, &access.access_token),
        "introspect",
    );
    assert_retry_later(
        &node2.refresh(&client, owner.refresh_token(), None),
        "refresh",
    );
    assert_retry_later(&node2.revoke(&client, &access.access_token, None), "revoke");
    // Issuance goes on from memory until the queue is full, then 503.
    let mut acknowledged = Vec::new();
    let mut refused = false;
    for _ in 0..200 {
        let r = node2.client_credentials(&client, None);
        match r.status {
            200 => acknowledged.push(r.json_str("access_token")),
            _ => {
                assert_retry_later(&r, "issuance with the store failing");
                refused = true;
                break;
            }
        }
    }
    assert!(
        refused,
        "the queue never filled: {} accepted",
        acknowledged.len()
    );
    wait_for(
        Duration::from_secs(10),
        "node 2 counts its failed writes",
        || figure(&node2, "tessera_store_errors_total") > 0.0,
    );

    // Node 1's store fails too, under load: its acknowledged tokens are not lost either.
    f1.set(&node1, "error");
    let stop = Arc::new(AtomicBool::new(false));
    let load = issue_until(&node1, 2, &stop);
    wait_for(Duration::from_secs(20), "node 1 refuses", || {
        figure(&node1, "tessera_store_rejected_total") > 0.0
    });
    stop.store(true, Ordering::Relaxed);
    let seen = join(load);
    assert_all_valid(&node1, &seen.acknowledged, "on node 1 during the fault");

    f1.set(&node1, "ok");
    f2.set(&node2, "ok");
    wait_until_caught_up(&node1, Duration::from_secs(30));
    wait_until_caught_up(&node2, Duration::from_secs(30));
    // Every acknowledged token is in the store: the other node reads it through.
    assert_all_valid(
        &node1,
        &acknowledged,
        "node 2's tokens read through on node 1",
    );
    assert_all_valid(
        &node2,
        &seen.acknowledged,
        "node 1's tokens read through on node 2",
    );
    assert_all_valid(
        &node2,
        std::slice::from_ref(&access.access_token),
        "after the fault, on node 2",
    );
    // Nothing was used up by the 503s.
    let next = node2.refresh(&client, owner.refresh_token(), None);
    assert_eq!(
        next.status,
        200,
        "refresh after the fault: {}",
        next.summary()
    );
    eprintln!(
        "{kind:?}: node 2 accepted {} from memory, node 1 {} under load ({} refused)",
        acknowledged.len(),
        seen.acknowledged.len(),
        seen.refused
    );
}

#[test]
fn cassandra_error_fault_is_503_never_invalid_and_acknowledged_changes_arrive() {
    shared_store_errors_are_503_and_acknowledged_changes_arrive_afterwards(Shared::Cassandra);
}

#[test]
fn postgres_error_fault_is_503_never_invalid_and_acknowledged_changes_arrive() {
    shared_store_errors_are_503_and_acknowledged_changes_arrive_afterwards(Shared::Sql(
        Dialect::Postgres,
    ));
}

#[test]
fn mysql_error_fault_is_503_never_invalid_and_acknowledged_changes_arrive() {
    shared_store_errors_are_503_and_acknowledged_changes_arrive_afterwards(Shared::Sql(
        Dialect::Mysql,
    ));
}

// ---------------------------------------------------------------------------------------------
// RocksDB on a full disk (tmpfs)
// ---------------------------------------------------------------------------------------------

/// A tmpfs mounted for one test, unmounted when dropped (also when the test fails).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB on `dir`; `None` (after saying why) where this process
    /// may not mount (not root, or no CAP_SYS_ADMIN in a container).
    fn mount(dir: &Path, mib: u64) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("mount point");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs {
                dir: dir.to_owned(),
            }),
            Ok(o) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs here (needs root): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount(8): {e}");
                None
            }
        }
    }
}

impl Tmpfs {
    /// `mount -o remount,size=MIBm`: more room without touching the files.
    fn grow(&self, mib: u64) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={mib}m")])
            .arg(&self.dir)
            .status()
            .expect("run mount -o remount");
        assert!(status.success(), "remount to {mib} MiB failed: {status:?}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let out = std::process::Command::new("umount").arg(&self.dir).output();
        if !matches!(out, Ok(ref o) if o.status.success()) {
            // Something still has a file open (a server that did not die yet): detach it.
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.dir)
                .status();
        }
    }
}

/// Fills the file system of `dir` with `filler` until it is full.
fn fill(filler: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(filler).expect("create filler");
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling the tmpfs: {e}"),
        }
    }
    let _ = f.flush();
}

fn disk_full_answers_503_keeps_lookups_and_resumes_when_space_returns(durability: &str) {
    let dir = TempDir::new("diskfull");
    let mnt = dir.path().join("mnt");
    // Declared before the server, so the server is dropped (killed) first.
    let Some(_tmpfs) = Tmpfs::mount(&mnt, 64) else {
        return;
    };
    let config = rocks_config(&mnt.join("db"), durability)
        .store("queue_capacity", "256")
        .build();
    let server = Server::start(&config);
    let client = confidential_client();
    let before: Vec<String> = (0..20)
        .map(|_| server.issue_cc(&client, None).access_token)
        .collect();
    wait_until_caught_up(&server, Duration::from_secs(10));

    let filler = mnt.join("filler");
    fill(&filler);
    let stop = Arc::new(AtomicBool::new(false));
    let load = issue_until(&server, THREADS, &stop);
    wait_for(
        Duration::from_secs(30),
        "issuance is refused on the full disk",
        || {
            figure(&server, "tessera_store_rejected_total") > 0.0
                || figure(&server, "tessera_store_errors_total") > 0.0 && durability == "sync"
        },
    );
    // Refusing for a while: the process stays up, lookups keep working.
    thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let during = join(load);
    assert!(during.refused > 0, "nothing was refused on a full disk");
    assert_all_valid(&server, &before, "lookups on the full disk");
    assert!(figure(&server, "tessera_store_errors_total") > 0.0);
    let log = server.stderr();
    assert!(
        log.contains("store write failed"),
        "no log of the failure:\n{log}"
    );

    // Space returns: the file system grows (the filler stays). RocksDB resumes writing by
    // itself once at least its write buffer (64 MiB) is free, checked every 5 s.
    _tmpfs.grow(256);
    // Writing resumes by itself: new tokens are acknowledged and the queue drains.
    let mut after = Vec::new();
    wait_for(Duration::from_secs(60), "issuance succeeds again", || {
        let r = server.client_credentials(&client, None);
        if r.status == 200 {
            after.push(r.json_str("access_token"));
            true
        } else {
            assert_retry_later(&r, "issuance while space returns");
            false
        }
    });
    wait_until_caught_up(&server, Duration::from_secs(60));
    let mut acknowledged = before;
    acknowledged.extend(during.acknowledged);
    acknowledged.extend(after);
    eprintln!(
        "disk full ({durability}): {} acknowledged, {} refused",
        acknowledged.len(),
        during.refused
    );
    assert_all_valid(&server, &acknowledged, "after space returned");
    server.kill_hard();
    let server = Server::start(&config);
    assert_all_valid(&server, &acknowledged, "after kill -9 and a restart");
    drop(server);
}

#[test]
fn rocksdb_disk_full_async_answers_503_keeps_lookups_and_resumes_when_space_returns() {
    disk_full_answers_503_keeps_lookups_and_resumes_when_space_returns("async");
}

#[test]
fn rocksdb_disk_full_sync_answers_503_keeps_lookups_and_resumes_when_space_returns() {
    disk_full_answers_503_keeps_lookups_and_resumes_when_space_returns("sync");
}

// ---------------------------------------------------------------------------------------------
// SIGKILL loop
// ---------------------------------------------------------------------------------------------

/// What the issue-and-revoke threads of the kill loop learnt, over every round.
#[derive(Debug, Default)]
struct Ledger {
    /// Acknowledged tokens.
    issued: Vec<String>,
    /// Acknowledged revocations.
    revoked: Vec<String>,
    /// Revocations sent without an answer (killed mid-request): either outcome is right.
    unsure: Vec<String>,
}

/// A small xorshift, seeded from the clock and printed, so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One loading thread of a round: issue, and revoke every third token it got.
fn issue_and_revoke(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) -> Ledger {
    let auth = basic_auth("svc-a", "secret-a");
    let issue = raw_form_post(
        TOKEN_PATH,
        "grant_type=client_credentials",
        &[("Authorization", &auth)],
    );
    let mut ledger = Ledger::default();
    let mut conn = Conn::connect(addr);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        if n % 3 == 0 {
            if let Some(token) = ledger
                .issued
                .iter()
                .rev()
                .find(|t| !ledger.revoked.contains(t))
                .cloned()
            {
                if conn.try_send(&revoke_request(&token)).is_err() {
                    ledger.unsure.push(token);
                    break;
                }
                match conn.try_read_response() {
                    Ok(r) if r.status == 200 => ledger.revoked.push(token),
                    Ok(r) => panic!("revocation answered {}", r.summary()),
                    Err(_) => {
                        ledger.unsure.push(token);
                        break;
                    }
                }
                continue;
            }
        }
        if conn.try_send(&issue).is_err() {
            break;
        }
        match conn.try_read_response() {
            Ok(r) if r.status == 200 => ledger.issued.push(r.json_str("access_token")),
            Ok(r) => panic!("issuance answered {}", r.summary()),
            // Killed mid-request: never acknowledged.
            Err(_) => break,
        }
    }
    ledger
}

#[test]
fn sigkill_20_times_under_load_in_sync_mode_loses_no_acknowledged_token_or_revocation() {
    const ROUNDS: usize = 20;
    let dir = TempDir::new("killloop");
    let config = rocks_config(&dir.path().join("db"), "sync").build();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("kill loop seed {seed}");
    let mut rng = Rng(seed);
    let mut ledger = Ledger::default();
    let began = Instant::now();
    for round in 0..ROUNDS {
        let server = Server::start(&config);
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (addr, stop) = (server.addr, Arc::clone(&stop));
                thread::spawn(move || issue_and_revoke(addr, stop))
            })
            .collect();
        // A random moment within a few hundred milliseconds of load: mid-request.
        thread::sleep(Duration::from_millis(150 + rng.next() % 350));
        server.kill_hard();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            let l = t.join().expect("loading thread");
            ledger.issued.extend(l.issued);
            ledger.revoked.extend(l.revoked);
            ledger.unsure.extend(l.unsure);
        }
        eprintln!(
            "round {round}: {} tokens, {} revocations acknowledged so far",
            ledger.issued.len(),
            ledger.revoked.len()
        );
    }
    let server = Server::start(&config);
    let revoked: std::collections::HashSet<&String> = ledger.revoked.iter().collect();
    let unsure: std::collections::HashSet<&String> = ledger.unsure.iter().collect();
    let kept: Vec<String> = ledger
        .issued
        .iter()
        .filter(|t| !revoked.contains(t) && !unsure.contains(t))
        .cloned()
        .collect();
    let lost = not_valid(&server, &kept);
    let revoked_list: Vec<String> = ledger.revoked.clone();
    let still_valid: Vec<String> = {
        let invalid = not_valid(&server, &revoked_list);
        revoked_list
            .iter()
            .filter(|t| !invalid.contains(t))
            .cloned()
            .collect()
    };
    eprintln!(
        "{ROUNDS} kills in {:?}: {} tokens and {} revocations acknowledged, {} lost tokens, \
         {} lost revocations",
        began.elapsed(),
        ledger.issued.len(),
        ledger.revoked.len(),
        lost.len(),
        still_valid.len()
    );
    assert!(
        ledger.issued.len() > 100 && ledger.revoked.len() > 20,
        "too little load to mean anything: {} tokens, {} revocations",
        ledger.issued.len(),
        ledger.revoked.len()
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged tokens lost: {:?}",
        lost.len(),
        lost.first()
    );
    assert!(
        still_valid.is_empty(),
        "{} acknowledged revocations lost: {:?}",
        still_valid.len(),
        still_valid.first()
    );
}
