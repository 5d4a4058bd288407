//! Operations: `/health`, `/metrics`, graceful shutdown on SIGTERM and the command line
//! (`serve`, `check-config`, `hash-secret`, `--version`).

use std::net::TcpStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::*;

// ---- health and metrics ----------------------------------------------------------------

#[test]
fn health_answers_200_status_ok() {
    let server = Server::start_default();
    let r = server.get("/health");
    assert_eq!(r.status, 200, "{}", r.summary());
    let ct = r.header("Content-Type").unwrap_or("");
    assert!(
        ct.to_ascii_lowercase().starts_with("application/json"),
        "{}",
        r.summary()
    );
    assert_eq!(r.json(), serde_json::json!({"status": "ok"}));
}

#[test]
fn metrics_is_prometheus_text_version_0_0_4() {
    let server = Server::start_default();
    let r = server.get("/metrics");
    assert_eq!(r.status, 200, "{}", r.summary());
    let ct = r.header("Content-Type").unwrap_or("").to_ascii_lowercase();
    assert!(ct.starts_with("text/plain"), "{}", r.summary());
    assert!(ct.contains("version=0.0.4"), "{}", r.summary());
    // Every non-comment line parses as a sample.
    Metrics::parse(&r.text());
}

#[test]
fn metrics_count_requests_issued_tokens_and_live_tokens() {
    let server = Server::start_default();
    server.issue_cc(&confidential_client(), None);
    let m = server.metrics();
    assert_eq!(
        m.value(
            "tessera_requests_total",
            &[("path", TOKEN_PATH), ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            "tessera_tokens_issued_total",
            &[("grant", "client_credentials"), ("client_id", "svc-a")]
        ),
        1.0
    );
    assert_eq!(m.value("tessera_live_tokens", &[]), 1.0);
}

#[test]
fn metrics_request_duration_histogram_has_buckets_sum_and_count() {
    let server = Server::start_default();
    server.issue_cc(&confidential_client(), None);
    let m = server.metrics();
    let buckets = m.find(
        "tessera_request_duration_seconds_bucket",
        &[("path", TOKEN_PATH)],
    );
    assert!(buckets.len() >= 2, "expected several buckets:\n{}", m.text);
    assert!(
        buckets.iter().all(|s| s.labels.contains_key("le")),
        "every bucket has an le label:\n{}",
        m.text
    );
    let inf: Vec<_> = buckets
        .iter()
        .filter(|s| s.labels.get("le").map(String::as_str) == Some("+Inf"))
        .collect();
    assert_eq!(inf.len(), 1, "one +Inf bucket:\n{}", m.text);
    assert_eq!(inf[0].value, 1.0);
    // Buckets are cumulative.
    let mut by_le: Vec<(f64, f64)> = buckets
        .iter()
        .map(|s| {
            let le = s.labels["le"].as_str();
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("numeric le")
            };
            (bound, s.value)
        })
        .collect();
    by_le.sort_by(|a, b| a.0.partial_cmp(&b.0).expect("comparable"));
    assert!(
        by_le.windows(2).all(|w| w[0].1 <= w[1].1),
        "buckets must be cumulative:\n{}",
        m.text
    );
    let count = m.find(
        "tessera_request_duration_seconds_count",
        &[("path", TOKEN_PATH)],
    );
    assert_eq!(count.len(), 1, "{}", m.text);
    assert_eq!(count[0].value, 1.0);
    let sum = m.find(
        "tessera_request_duration_seconds_sum",
        &[("path", TOKEN_PATH)],
    );
    assert_eq!(sum.len(), 1, "{}", m.text);
    assert!(sum[0].value > 0.0 && sum[0].value < 10.0, "{}", m.text);
}

#[test]
fn metrics_declare_counter_gauge_and_histogram_types() {
    let server = Server::start_default();
    server.issue_cc(&confidential_client(), None);
    let m = server.metrics();
    let ty = |name: &str| m.types.get(name).map(String::as_str);
    assert_eq!(ty("tessera_requests_total"), Some("counter"), "{}", m.text);
    assert_eq!(
        ty("tessera_tokens_issued_total"),
        Some("counter"),
        "{}",
        m.text
    );
    assert_eq!(ty("tessera_live_tokens"), Some("gauge"), "{}", m.text);
    assert_eq!(
        ty("tessera_request_duration_seconds"),
        Some("histogram"),
        "{}",
        m.text
    );
}

#[test]
fn metrics_add_up_across_workers_and_grants() {
    let server = Server::start_default();
    // Several connections so that both workers serve some of the requests.
    for _ in 0..4 {
        server.issue_cc(&confidential_client(), None);
    }
    let p = server.issue_password(&confidential_client(), ALICE, None);
    server.issue_refresh(&confidential_client(), p.refresh_token(), None);
    let r = server.client_credentials(&confidential_client().with_secret("x"), None);
    assert_eq!(r.status, 401);
    let m = server.metrics();
    assert_eq!(
        m.value(
            "tessera_requests_total",
            &[("path", TOKEN_PATH), ("status", "200")]
        ),
        6.0
    );
    assert_eq!(
        m.value(
            "tessera_requests_total",
            &[("path", TOKEN_PATH), ("status", "401")]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            "tessera_tokens_issued_total",
            &[("grant", "client_credentials"), ("client_id", "svc-a")]
        ),
        4.0
    );
    assert_eq!(
        m.value(
            "tessera_tokens_issued_total",
            &[("grant", "password"), ("client_id", "svc-a")]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            "tessera_tokens_issued_total",
            &[("grant", "refresh_token"), ("client_id", "svc-a")]
        ),
        1.0
    );
}

#[test]
fn metrics_live_tokens_drops_after_revocation() {
    let server = Server::start_default();
    let a = server.issue_cc(&confidential_client(), None);
    server.issue_cc(&confidential_client(), None);
    assert_eq!(server.metrics().value("tessera_live_tokens", &[]), 2.0);
    let r = server.revoke(&confidential_client(), &a.access_token, None);
    assert_eq!(r.status, 200);
    assert_eq!(server.metrics().value("tessera_live_tokens", &[]), 1.0);
}

// ---- graceful shutdown -----------------------------------------------------------------

#[test]
fn sigterm_on_an_idle_server_exits_0_within_a_few_seconds() {
    let mut server = Server::start_default();
    assert_eq!(server.get("/health").status, 200);
    server.signal("TERM");
    let status = server
        .wait_exit(Duration::from_secs(8))
        .expect("server still running 8 s after SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

#[test]
fn sigterm_lets_a_request_in_flight_complete_and_refuses_new_connections() {
    let mut server = Server::start_default();
    let addr = server.addr;
    let mut conn = server.conn();
    // The request is in flight: head and half of the body received.
    let req = raw_form_post(
        TOKEN_PATH,
        "grant_type=client_credentials&scope=write",
        &[("Authorization", &basic_auth("svc-a", "secret-a"))],
    );
    let cut = req.len() - 10;
    conn.send(&req[..cut]);
    thread::sleep(Duration::from_millis(200));

    server.signal("TERM");

    // New connections are refused once the signal is handled.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Err(_) => break,
            Ok(_) => {
                assert!(
                    Instant::now() < deadline,
                    "new connections still accepted 3 s after SIGTERM"
                );
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
    assert!(
        server.is_running(),
        "server exited before finishing the request in flight"
    );

    conn.send(&req[cut..]);
    let r = conn.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json_str("scope"), "write");
    conn.assert_closed();

    let status = server
        .wait_exit(Duration::from_secs(8))
        .expect("server still running 8 s after SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

#[test]
fn sigterm_closes_idle_keep_alive_connections_and_exits_0() {
    let mut server = Server::start_default();
    let mut conn = server.conn();
    assert_eq!(
        conn.roundtrip(&raw_request("GET", "/health", &[], b""))
            .status,
        200
    );
    server.signal("TERM");
    assert_eq!(
        conn.wait_closed(Duration::from_secs(8)),
        CloseOutcome::Closed,
        "idle keep-alive connection still open 8 s after SIGTERM"
    );
    let status = server
        .wait_exit(Duration::from_secs(8))
        .expect("server still running 8 s after SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

// ---- command line ----------------------------------------------------------------------

#[test]
fn version_flag_prints_the_package_version() {
    let out = run_cli(&["--version"], None);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(env!("CARGO_PKG_VERSION")),
        "--version printed {stdout:?}"
    );
}

/// Runs `tessera check-config` on the file at `path`.
fn check_config(path: &Path) -> std::process::Output {
    run_cli(
        &["check-config", "--config", path.to_str().expect("utf-8")],
        None,
    )
}

#[test]
fn check_config_accepts_the_repository_example_config() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/tessera.toml");
    if !Path::new(path).exists() {
        eprintln!("skipping: {path} does not exist");
        return;
    }
    let out = run_cli(&["check-config", "--config", path], None);
    assert!(
        out.status.success(),
        "check-config rejected {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_accepts_the_suite_default_config() {
    let dir = TempDir::new("check");
    let path = dir.write("ok.toml", &default_config());
    let out = check_config(&path);
    assert!(
        out.status.success(),
        "check-config rejected the standard config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_rejects_an_unknown_key_and_names_it() {
    let dir = TempDir::new("check");
    let config = format!("[server]\nlisen = \"x\"\n\n{}", {
        // The clients and users of the standard config, without its [server] section.
        let full = ConfigBuilder::standard().build();
        let start = full.find("[store]").expect("store section");
        full[start..].to_string()
    });
    let path = dir.write("bad.toml", &config);
    let out = check_config(&path);
    assert!(!out.status.success(), "unknown key accepted");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.lisen"), "stderr: {stderr}");
}

#[test]
fn check_config_rejects_default_scopes_outside_scopes_and_names_the_key() {
    let dir = TempDir::new("check");
    let config = ConfigBuilder::empty()
        .client(
            r#"id = "svc-x"
secret = "s"
grant_types = ["client_credentials"]
scopes = ["read"]
default_scopes = ["read", "write"]"#,
        )
        .build();
    let path = dir.write("bad.toml", &config);
    let out = check_config(&path);
    assert!(!out.status.success(), "bad default_scopes accepted");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("clients[0].default_scopes"),
        "stderr: {stderr}"
    );
}

#[test]
fn check_config_rejects_an_unknown_key_in_a_client_and_names_it() {
    let dir = TempDir::new("check");
    let config = ConfigBuilder::empty()
        .client(
            r#"id = "svc-x"
secret = "s"
grant_types = ["client_credentials"]
scopes = ["read"]
default_scopes = ["read"]"#,
        )
        .client(
            r#"id = "svc-y"
secret = "s"
grant_type = ["client_credentials"]
scopes = ["read"]
default_scopes = ["read"]"#,
        )
        .build();
    let path = dir.write("bad.toml", &config);
    let out = check_config(&path);
    assert!(!out.status.success(), "unknown client key accepted");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("clients[1].grant_type"), "stderr: {stderr}");
}

#[test]
fn check_config_warns_about_client_secrets_under_128_bits_and_still_accepts_them() {
    let dir = TempDir::new("weak");
    let path = dir.write(
        "weak.toml",
        r#"
[[clients]]
id = "short"
secret = "only-12-char"
grant_types = ["client_credentials"]
[[clients]]
id = "long"
secret = "a-random-secret-of-32-characters"
grant_types = ["client_credentials"]
"#,
    );
    let out = run_cli(
        &["check-config", "--config", path.to_str().expect("utf-8")],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rejected: {stderr}");
    assert!(
        stderr.contains("clients[0].secret (short) is 12 characters"),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("(long)"), "stderr: {stderr}");
    assert!(
        !stderr.contains("only-12-char"),
        "the warning echoes the secret: {stderr}"
    );
}

#[test]
fn check_config_accepts_flat_cassandra_keys_and_names_their_new_place() {
    let dir = TempDir::new("check");
    let check = |name: &str, config: String| {
        let path = dir.write(name, &config);
        let out = check_config(&path);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{name} rejected: {stderr}");
        stderr
    };
    // The spelling from before [store.cassandra]: accepted, with one warning per key.
    let stderr = check(
        "flat.toml",
        ConfigBuilder::standard()
            .store("keyspace", "\"flat_ks\"")
            .store("tls_verify", "true")
            .build(),
    );
    for key in ["keyspace", "tls_verify"] {
        let warning = format!("store.{key} is deprecated; use store.cassandra.{key}");
        assert!(stderr.contains(&warning), "no {warning:?} in: {stderr}");
    }
    // The nested spelling: no warning.
    let stderr = check(
        "nested.toml",
        ConfigBuilder::standard()
            .store("cassandra.keyspace", "\"nested_ks\"")
            .build(),
    );
    assert!(!stderr.contains("deprecated"), "stderr: {stderr}");
}

/// `sync` on Cassandra at write consistency ANY: an acknowledged write could be a hint only.
fn sync_at_any_config() -> String {
    ConfigBuilder::standard()
        .store("kind", "\"cassandra\"")
        .store("durability", "\"sync\"")
        .store("cassandra.write_consistency", "\"ANY\"")
        .build()
}

#[test]
fn check_config_refuses_sync_durability_with_write_consistency_any_and_says_why() {
    let dir = TempDir::new("check");
    let path = dir.write("sync-any.toml", &sync_at_any_config());
    let out = check_config(&path);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needed in [
        "store.cassandra.write_consistency",
        "store.durability",
        "hint",
    ] {
        assert!(stderr.contains(needed), "no {needed:?} in: {stderr}");
    }
    // The default pairing, async with ANY, stays valid.
    let path = dir.write(
        "async-any.toml",
        &ConfigBuilder::standard()
            .store("kind", "\"cassandra\"")
            .store("cassandra.write_consistency", "\"ANY\"")
            .build(),
    );
    let out = check_config(&path);
    assert!(
        out.status.success(),
        "async with ANY rejected: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn serve_refuses_sync_durability_with_write_consistency_any() {
    let err = match Server::try_start(&sync_at_any_config()) {
        Ok(_) => panic!("server started with sync durability at ANY"),
        Err(e) => e,
    };
    assert!(
        err.contains("store.cassandra.write_consistency") && err.contains("store.durability"),
        "{err}"
    );
}

#[test]
fn serve_with_an_invalid_config_exits_non_zero_without_listening() {
    let r = Server::try_start("[server]\nlisen = \"x\"\n");
    assert!(r.is_err(), "server started with an unknown key");
}

#[test]
fn hash_secret_output_authenticates_the_client_with_the_secret() {
    let out = run_cli(&["hash-secret"], Some(b"s3cr3t-from-stdin"));
    assert!(
        out.status.success(),
        "hash-secret failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!hash.is_empty(), "hash-secret printed nothing");
    assert!(
        !hash.contains("s3cr3t-from-stdin"),
        "the hash must not contain the secret: {hash}"
    );
    let config = ConfigBuilder::standard()
        .client(&format!(
            r#"id = "svc-hashed"
secret_hash = {}
grant_types = ["client_credentials"]
scopes = ["read"]
default_scopes = ["read"]"#,
            toml_str(&hash)
        ))
        .build();
    let server = Server::start(&config);
    let client = Client::new("svc-hashed", Some("s3cr3t-from-stdin"), AuthMethod::Basic);
    let issued = server.issue_cc(&client, None);
    assert_token_shape(&issued.access_token, 54);
    let r = server.client_credentials(&client.with_secret("s3cr3t-from-stdin\n"), None);
    assert_invalid_client_basic(&r, "tessera");
    let r = server.client_credentials(&client.with_secret(&hash), None);
    assert_invalid_client_basic(&r, "tessera");
}

#[test]
fn hash_secret_salts_each_hash() {
    let a = run_cli(&["hash-secret"], Some(b"same-secret"));
    let b = run_cli(&["hash-secret"], Some(b"same-secret"));
    assert!(a.status.success() && b.status.success());
    assert_ne!(
        String::from_utf8_lossy(&a.stdout).trim(),
        String::from_utf8_lossy(&b.stdout).trim(),
        "two hashes of one secret should differ (random salt)"
    );
}

#[test]
fn sigterm_exits_0_after_the_grace_period_even_if_a_request_never_completes() {
    let config = ConfigBuilder::standard()
        .server("shutdown_grace_secs", "1")
        .build();
    let mut server = Server::start(&config);
    let mut conn = server.conn();
    conn.send(b"POST /api/oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial");
    thread::sleep(Duration::from_millis(200));
    server.signal("TERM");
    let status = server
        .wait_exit(Duration::from_secs(6))
        .expect("server still running 6 s after SIGTERM with shutdown_grace_secs = 1");
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

#[test]
fn metrics_do_not_create_a_series_per_unknown_path() {
    let server = Server::start_default();
    for i in 0..20 {
        assert_eq!(server.get(&format!("/scan/{i}/admin.php")).status, 404);
    }
    let m = server.metrics();
    assert!(
        !m.text.contains("/scan/"),
        "unknown paths must not become label values:\n{}",
        m.text
    );
}

#[test]
fn hash_secret_argon2_output_works_as_a_users_password_hash() {
    let out = run_cli(&["hash-secret", "--argon2"], Some(b"dave's password"));
    assert!(
        out.status.success(),
        "hash-secret --argon2 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        hash.starts_with("$argon2id$"),
        "not an argon2id PHC string: {hash}"
    );
    let config = ConfigBuilder::standard()
        .user(&format!(
            "username = \"dave\"\npassword_hash = {}",
            toml_str(&hash)
        ))
        .build();
    let server = Server::start(&config);
    let issued = server.issue_password(&confidential_client(), ("dave", "dave's password"), None);
    assert_eq!(
        server.tokeninfo(&issued.access_token).json_str("user_id"),
        "dave"
    );
}
