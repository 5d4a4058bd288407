//! Write-behind persistence on the embedded RocksDB store: restarts, `kill -9`, the data
//! directory's failure cases, and backpressure when the store cannot keep up.
//!
//! Every test owns its data directory, so servers of parallel tests never share one.

use crate::harness::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The standard config on RocksDB in `data`, with `durability`.
fn rocks_config(data: &std::path::Path, durability: &str) -> ConfigBuilder {
    ConfigBuilder::standard()
        .store("kind", "\"rocksdb\"")
        .store("path", &toml_str(&data.display().to_string()))
        .store("durability", &toml_str(durability))
        .store("flush_interval_ms", "10")
}

fn assert_valid(server: &Server, token: &str) {
    let r = server.tokeninfo(token);
    assert_eq!(
        r.status,
        200,
        "token should be valid after restart: {}",
        r.summary()
    );
}

fn assert_invalid(server: &Server, token: &str) {
    let r = server.tokeninfo(token);
    assert_token_error(&r, 400, "invalid_token");
}

/// The refresh grant refuses `refresh_token` (used up or revoked).
fn assert_refresh_refused(server: &Server, client: &Client, refresh_token: &str) {
    assert_token_error(
        &server.refresh(client, refresh_token, None),
        400,
        "invalid_grant",
    );
}

/// Checks many tokens over one keep-alive connection; returns those tokeninfo rejected.
fn rejected_tokens(server: &Server, tokens: &[String]) -> Vec<String> {
    let mut conn = server.conn();
    tokens
        .iter()
        .filter(|t| {
            let path = format!("{TOKENINFO_PATH}?access_token={}", urlencode(t));
            conn.roundtrip(&raw_request("GET", &path, &[], b"")).status != 200
        })
        .cloned()
        .collect()
}

fn stop_gracefully(mut server: Server) {
    server.signal("TERM");
    let status = server
        .wait_exit(Duration::from_secs(20))
        .expect("server exits after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn restart_keeps_tokens_revocations_and_refresh_tokens() {
    let data = TempDir::new("data");
    let config = rocks_config(&data.path().join("db"), "async").build();
    let client = confidential_client();

    let server = Server::start(&config);
    let kept = server.issue_cc(&client, Some("read write"));
    let revoked = server.issue_cc(&client, None);
    let owner = server.issue_password(&client, ALICE, None);
    let rotated = server.issue_password(&client, ALICE, None);
    let fresh = server.issue_refresh(&client, rotated.refresh_token(), None);
    assert_eq!(
        server.revoke(&client, &revoked.access_token, None).status,
        200
    );
    stop_gracefully(server);

    let server = Server::start(&config);
    assert!(
        server
            .stderr()
            .contains("token table rebuilt from the store"),
        "{}",
        server.stderr()
    );
    let info = server.tokeninfo(&kept.access_token);
    assert_eq!(info.status, 200, "{}", info.summary());
    assert_eq!(info.json_str("audience"), "svc-a");
    assert_eq!(scope_set(&info.json_str("scope")), scope_set("read write"));
    assert_eq!(info.json_str("department"), "Engineering");
    assert!(info.json_i64("expires_in") > 3500);
    let owned = server.tokeninfo(&owner.access_token);
    assert_eq!(owned.json_str("user_id"), "alice", "{}", owned.summary());
    assert_invalid(&server, &revoked.access_token);
    // A refresh token issued before the restart still refreshes, and so does the
    // successor of a rotated-out one.
    server.issue_refresh(&client, owner.refresh_token(), None);
    let after = server.issue_refresh(&client, fresh.refresh_token(), None);
    // The rotated-out token stays used up, and is remembered as used across the restart:
    // presenting it is a replay, which revokes its grant, the newest tokens included
    // (RFC 9700 §4.14.2).
    assert_refresh_refused(&server, &client, rotated.refresh_token());
    assert_refresh_refused(&server, &client, after.refresh_token());
    assert_invalid(&server, &after.access_token);
    assert_eq!(
        server
            .metrics()
            .value("tessera_refresh_token_reuse_total", &[]),
        1.0
    );
}

#[test]
fn rfc9700_4_14_2_a_replay_is_recognised_after_kill_9_once_the_rotation_was_written() {
    let data = TempDir::new("data");
    let config = rocks_config(&data.path().join("db"), "sync").build();
    let client = confidential_client();
    let server = Server::start(&config);
    let first = server.issue_password(&client, ALICE, None);
    // sync: the rotation, and with it the used marker, is durable before the answer.
    let second = server.issue_refresh(&client, first.refresh_token(), None);
    server.kill_hard();

    let server = Server::start(&config);
    assert_refresh_refused(&server, &client, first.refresh_token());
    assert_refresh_refused(&server, &client, second.refresh_token());
    assert_invalid(&server, &second.access_token);
}

#[test]
fn rfc7009_cascade_holds_across_restart() {
    let data = TempDir::new("data");
    let config = rocks_config(&data.path().join("db"), "async").build();
    let client = confidential_client();
    let server = Server::start(&config);
    let first = server.issue_password(&client, ALICE, None);
    let second = server.issue_refresh(&client, first.refresh_token(), None);
    stop_gracefully(server);

    let server = Server::start(&config);
    // Revoking the grant's refresh token after the restart still reaches access tokens
    // issued before it: grant links are rebuilt from the store.
    assert_eq!(
        server.revoke(&client, second.refresh_token(), None).status,
        200
    );
    assert_invalid(&server, &first.access_token);
    assert_invalid(&server, &second.access_token);
    stop_gracefully(server);

    let server = Server::start(&config);
    assert_invalid(&server, &first.access_token);
    assert_invalid(&server, &second.access_token);
    assert_refresh_refused(&server, &client, second.refresh_token());
}

/// Issues client_credentials tokens from `threads` keep-alive connections until `stop`;
/// returns every token the server acknowledged with 200.
fn issue_concurrently(
    server: &Server,
    threads: usize,
    stop: Arc<AtomicBool>,
) -> Vec<thread::JoinHandle<Vec<String>>> {
    let auth = basic_auth("svc-a", "secret-a");
    (0..threads)
        .map(|_| {
            let addr = server.addr;
            let stop = Arc::clone(&stop);
            let request = raw_form_post(
                TOKEN_PATH,
                "grant_type=client_credentials",
                &[("Authorization", &auth)],
            );
            thread::spawn(move || {
                let mut got = Vec::new();
                let mut conn = Conn::connect(addr);
                while !stop.load(Ordering::Relaxed) {
                    if conn.try_send(&request).is_err() {
                        break;
                    }
                    match conn.try_read_response() {
                        Ok(r) if r.status == 200 => got.push(r.json_str("access_token")),
                        Ok(r) => panic!("issuance failed before the kill: {}", r.summary()),
                        // The server died mid-request: this one was never acknowledged.
                        Err(_) => break,
                    }
                }
                got
            })
        })
        .collect()
}

#[test]
fn sync_mode_kill_9_during_concurrent_issuance_loses_no_acknowledged_token() {
    let data = TempDir::new("data");
    let config = rocks_config(&data.path().join("db"), "sync").build();
    let server = Server::start(&config);
    let stop = Arc::new(AtomicBool::new(false));
    let workers = issue_concurrently(&server, 4, Arc::clone(&stop));
    thread::sleep(Duration::from_millis(1500));
    // Killed while the issuing threads are still sending.
    server.kill_hard();
    stop.store(true, Ordering::Relaxed);
    let acknowledged: Vec<String> = workers
        .into_iter()
        .flat_map(|h| h.join().expect("issuer thread"))
        .collect();
    assert!(
        acknowledged.len() > 50,
        "too few tokens issued to mean anything: {}",
        acknowledged.len()
    );

    let server = Server::start(&config);
    let lost = rejected_tokens(&server, &acknowledged);
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged tokens were lost",
        lost.len(),
        acknowledged.len()
    );
}

#[test]
fn async_mode_kill_9_loses_nothing_older_than_the_flush_window() {
    let data = TempDir::new("data");
    let config = rocks_config(&data.path().join("db"), "async").build();
    let server = Server::start(&config);
    let client = confidential_client();
    let tokens: Vec<String> = (0..200)
        .map(|_| server.issue_cc(&client, None).access_token)
        .collect();
    // Far longer than flush_interval_ms = 10: every one of them has been written.
    thread::sleep(Duration::from_millis(300));
    server.kill_hard();

    let server = Server::start(&config);
    let lost = rejected_tokens(&server, &tokens);
    assert!(
        lost.is_empty(),
        "{} of {} tokens older than the flush window were lost",
        lost.len(),
        tokens.len()
    );
}

#[test]
fn async_mode_revocation_acknowledged_survives_kill_9() {
    let data = TempDir::new("data");
    // Issuance waits up to 3 s for the flusher; a revocation must not.
    let config = rocks_config(&data.path().join("db"), "async")
        .store("flush_interval_ms", "3000")
        .build();
    let client = confidential_client();
    let server = Server::start(&config);
    let access = server.issue_cc(&client, None);
    let granted = server.issue_password(&client, ALICE, None);
    let kept = server.issue_cc(&client, None);
    // A graceful stop writes everything: the tokens are in the store before the revocation,
    // so only the revocation's own write can keep them out after the kill.
    stop_gracefully(server);

    let server = Server::start(&config);
    let started = Instant::now();
    assert_eq!(
        server.revoke(&client, &access.access_token, None).status,
        200
    );
    assert_eq!(
        server
            .revoke(&client, granted.refresh_token(), Some("refresh_token"))
            .status,
        200
    );
    let took = started.elapsed();
    server.kill_hard();
    assert!(
        took < Duration::from_millis(2500),
        "revocations waited for the flush interval: {took:?}"
    );

    let server = Server::start(&config);
    assert_invalid(&server, &access.access_token);
    // RFC 7009 §2.1: the grant's access token went with its refresh token.
    assert_invalid(&server, &granted.access_token);
    assert_refresh_refused(&server, &client, granted.refresh_token());
    assert_valid(&server, &kept.access_token);
}

#[test]
fn full_write_queue_answers_503_with_retry_after_and_lookups_keep_working() {
    let data = TempDir::new("data");
    // Every store write takes 400 ms and only a few changes may wait: the queue fills.
    let config = rocks_config(&data.path().join("db"), "async")
        .store("queue_capacity", "8")
        .store("write_delay_ms", "400")
        .build();
    let server = Server::start(&config);
    let client = confidential_client();
    let early = server.issue_cc(&client, None);

    let accepted = Arc::new(Mutex::new(vec![early.access_token.clone()]));
    let mut refused = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while refused.is_none() && Instant::now() < deadline {
        let r = server.client_credentials(&client, None);
        match r.status {
            200 => accepted
                .lock()
                .expect("lock")
                .push(r.json_str("access_token")),
            503 => refused = Some(r),
            other => panic!("unexpected status {other}: {}", r.summary()),
        }
    }
    let refused = refused.expect("the queue never filled");
    assert_oauth_error(&refused, 503, "temporarily_unavailable");
    assert!(
        refused.header("Retry-After").is_some(),
        "{}",
        refused.summary()
    );
    // Lookups do not need the store.
    assert_valid(&server, &early.access_token);
    // Once the store catches up, writes are accepted again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = server.client_credentials(&client, None);
        if r.status == 200 {
            accepted
                .lock()
                .expect("lock")
                .push(r.json_str("access_token"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes never recovered: {}",
            r.summary()
        );
        thread::sleep(Duration::from_millis(100));
    }
    // Nothing that was accepted is dropped: shutdown drains the queue into the store.
    stop_gracefully(server);
    let server = Server::start(&rocks_config(&data.path().join("db"), "async").build());
    let tokens = accepted.lock().expect("lock").clone();
    let lost = rejected_tokens(&server, &tokens);
    assert!(
        lost.is_empty(),
        "{} of {} accepted tokens were lost",
        lost.len(),
        tokens.len()
    );
}

fn start_fails_naming(config: &str, path_text: &str, reason: &str) {
    let dir = TempDir::new("badstore");
    let config_path = dir.write("tessera.toml", config);
    let out = run_cli(
        &[
            "serve",
            "--config",
            &config_path.display().to_string(),
            "--listen",
            "127.0.0.1:0",
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "server started on a bad data directory"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(path_text),
        "error does not name {path_text}: {stderr}"
    );
    assert!(
        stderr.contains(reason),
        "error does not say {reason:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn data_directory_that_is_a_file_is_a_clear_error() {
    let data = TempDir::new("data");
    let file = data.write("db", "this is a file");
    start_fails_naming(
        &rocks_config(&file, "async").build(),
        &file.display().to_string(),
        "not a directory",
    );
}

#[test]
fn data_directory_locked_by_another_tessera_is_a_clear_error() {
    let data = TempDir::new("data");
    let db = data.path().join("db");
    let config = rocks_config(&db, "async").build();
    let _first = Server::start(&config);
    start_fails_naming(&config, &db.display().to_string(), "locked");
}

#[test]
fn data_directory_that_cannot_be_created_is_a_clear_error() {
    // Nothing can be created under /proc, even by root (which ignores permission bits).
    let db = std::path::Path::new("/proc/tessera-cannot-exist/db");
    start_fails_naming(
        &rocks_config(db, "async").build(),
        "/proc/tessera-cannot-exist/db",
        "cannot create",
    );
}

#[test]
fn corrupt_data_directory_is_a_clear_error() {
    let data = TempDir::new("data");
    let db = data.path().join("db");
    let config = rocks_config(&db, "async").build();
    let server = Server::start(&config);
    server.issue_cc(&confidential_client(), None);
    stop_gracefully(server);
    let mut corrupted = 0;
    for entry in std::fs::read_dir(&db).expect("data dir").flatten() {
        if entry.file_name().to_string_lossy().starts_with("MANIFEST") {
            std::fs::write(entry.path(), b"not a manifest at all").expect("corrupt");
            corrupted += 1;
        }
    }
    assert!(corrupted > 0, "no MANIFEST file to corrupt");
    start_fails_naming(&config, &db.display().to_string(), "cannot use store");
}
