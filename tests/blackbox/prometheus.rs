//! The operator's monitoring, checked with the operator's tools: a real Prometheus (Debian's
//! `prometheus`, installed by `.ci/setup`; `TESSERA_PROMETHEUS` overrides the path), run with
//! the example `config/prometheus/prometheus.yml` (only the address, the token file, the
//! rule file's path and the intervals changed), scrapes a real Tessera under traffic, loads
//! `config/prometheus/alerts.yml`, and every query of
//! `config/grafana/tessera.json` and of the alert rules is evaluated through Prometheus' HTTP
//! API (`/api/v1/query`): each must return data. A renamed metric or label, a query that does
//! not parse, or a panel built on a series Tessera never exports fails here.
//!
//! Grafana's variables are replaced as Grafana would for this one target: `$job` by the scrape
//! job, `$instance` by its address, `$__rate_interval` by four scrape intervals. An alert rule
//! is written `QUERY OP THRESHOLD`; its QUERY must return data (the comparison is what makes
//! an alert quiet), and every rule must have been evaluated by Prometheus without error.
//! `promtool check config` (the example `config/prometheus/prometheus.yml`), `check rules` and
//! `test rules` run in another test (and in `make alerts`).
//!
//! What runs: a server on RocksDB (so the store's series exist) with `[admin] metrics = true`,
//! and one Prometheus scraping its admin listener every second with the admin bearer token
//! in a `credentials_file`, from its own temporary directory; both are killed when the test
//! ends, pass or fail.

use crate::harness::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How long Prometheus may take to become ready, and every query to return data.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const DATA_TIMEOUT: Duration = Duration::from_secs(90);
/// The scrape and rule evaluation interval of the test's Prometheus.
const SCRAPE_INTERVAL: &str = "1s";
/// `$__rate_interval` as Grafana computes it for a 1 s scrape: at least four scrapes.
const RATE_INTERVAL: &str = "15s";
const JOB: &str = "tessera";

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn tool(var: &str, default: &str) -> String {
    let bin = std::env::var(var).unwrap_or_else(|_| default.to_string());
    assert!(
        Path::new(&bin).exists(),
        "{bin} not found: run .ci/setup (Debian package `prometheus`) or set {var}"
    );
    bin
}

/// A Prometheus process with its own config and data directory, killed on drop.
struct Prometheus {
    child: Child,
    addr: std::net::SocketAddr,
    dir: TempDir,
}

impl Prometheus {
    /// Starts Prometheus with the repository's example `config/prometheus/prometheus.yml`,
    /// pointed at the admin listener `target` with `bearer` in its credentials file, the
    /// example's alert rules, and a one-second scrape and evaluation interval. Each of those
    /// edits must find its place in the example, so the example stays the one tested.
    fn start(target: std::net::SocketAddr, bearer: &str) -> Prometheus {
        let bin = tool("TESSERA_PROMETHEUS", "/usr/bin/prometheus");
        let dir = TempDir::new("prometheus");
        let token_file = dir.write("admin-token", bearer);
        let example = std::fs::read_to_string(repo_file("config/prometheus/prometheus.yml"))
            .expect("config/prometheus/prometheus.yml");
        let mut config = example.clone();
        for (from, to) in [
            ("127.0.0.1:9090", target.to_string()),
            (
                "/etc/prometheus/tessera-admin-token",
                token_file.display().to_string(),
            ),
            (
                "- alerts.yml",
                format!("- {}", repo_file("config/prometheus/alerts.yml").display()),
            ),
            (
                "scrape_interval: 15s",
                format!("scrape_interval: {SCRAPE_INTERVAL}"),
            ),
            (
                "evaluation_interval: 15s",
                format!("evaluation_interval: {SCRAPE_INTERVAL}"),
            ),
            (&format!("job_name: {JOB}"), format!("job_name: {JOB}")),
        ] {
            assert!(
                config.contains(from),
                "the example no longer has {from:?}:\n{example}"
            );
            config = config.replace(from, &to);
        }
        let config_path = dir.write("prometheus.yml", &config);
        // Prometheus cannot announce a port it picked itself: take a free one and hand it
        // over (the gap between the two is a few microseconds on a loopback address).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
        let prometheus = Prometheus { child, addr, dir };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(r) = prometheus.try_get("/-/ready") {
                if r.status == 200 {
                    return prometheus;
                }
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus not ready within {READY_TIMEOUT:?}:\n{}",
                prometheus.log()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    fn try_get(&self, target: &str) -> Result<Response, String> {
        // Not `Conn::connect`, which panics: while Prometheus starts, a refusal is expected.
        std::net::TcpStream::connect(self.addr).map_err(|e| e.to_string())?;
        let mut conn = Conn::connect(self.addr);
        conn.try_send(&raw_request("GET", target, &[], b""))
            .map_err(|e| e.to_string())?;
        conn.try_read_response()
    }

    /// `GET target`, answered 200 with `"status": "success"`; returns `data`.
    fn api(&self, target: &str) -> Value {
        let r = self
            .try_get(target)
            .unwrap_or_else(|e| panic!("GET {target} from Prometheus: {e}"));
        assert_eq!(r.status, 200, "GET {target}: {}", r.summary());
        let body = r.json();
        assert_eq!(body["status"], "success", "GET {target}: {body}");
        body["data"].clone()
    }

    /// The result of an instant query (an error answer, a query that does not parse, fails).
    fn query(&self, promql: &str) -> Value {
        self.api(&format!("/api/v1/query?query={}", urlencode(promql)))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            let log = self.log();
            let tail = &log[log.len().saturating_sub(6000)..];
            eprintln!("---- prometheus log (tail) ----\n{tail}\n---- end ----");
        }
    }
}

/// Whether a query result holds at least one sample.
fn has_data(data: &Value) -> bool {
    match data["resultType"].as_str() {
        Some("vector") | Some("matrix") => data["result"].as_array().is_some_and(|r| !r.is_empty()),
        Some("scalar") | Some("string") => !data["result"].is_null(),
        _ => false,
    }
}

/// Every PromQL query of a Grafana dashboard: the panels' `expr` (rows' nested panels too)
/// and the query variables' `label_values(QUERY, label)` as `QUERY`, variables replaced.
fn dashboard_queries(dashboard: &Value, instance: &str) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(expr)) = map.get("expr") {
                    out.push(expr.clone());
                }
                for child in map.values() {
                    walk(child, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut raw = Vec::new();
    walk(&dashboard["panels"], &mut raw);
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if var["type"] != "query" {
            continue;
        }
        let q = var["query"]["query"]
            .as_str()
            .or_else(|| var["query"].as_str())
            .unwrap_or_else(|| panic!("variable without a query: {var}"));
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|rest| rest.rsplit_once(','))
            .map(|(series, _label)| series.trim())
            .unwrap_or_else(|| panic!("only label_values(QUERY, label) variables: {q}"));
        raw.push(inner.to_string());
    }
    raw.into_iter()
        .map(|q| {
            let q = q
                .replace("$__rate_interval", RATE_INTERVAL)
                .replace("$instance", instance)
                .replace("$job", JOB);
            assert!(!q.contains('$'), "a variable the test does not know: {q}");
            q
        })
        .collect()
}

/// `QUERY OP THRESHOLD` → `QUERY`.
fn alert_query(expr: &str) -> String {
    let expr = expr.trim();
    let cut = [" > ", " < ", " >= ", " <= ", " == ", " != "]
        .iter()
        .filter_map(|op| expr.rfind(op).map(|i| (i, op.len())))
        .max_by_key(|(i, _)| *i);
    let (query, threshold) = match cut {
        Some((i, len)) => (&expr[..i], expr[i + len..].trim()),
        None => panic!("alert expression is not QUERY OP THRESHOLD: {expr}"),
    };
    assert!(
        threshold.parse::<f64>().is_ok(),
        "alert expression is not QUERY OP THRESHOLD: {expr}"
    );
    query.trim().to_string()
}

/// Drives every kind of traffic the dashboard shows, over and over until stopped: the
/// grants, tokeninfo, introspection, revocation, a reused refresh token.
fn drive_traffic(server: &Server, stop: &AtomicBool) {
    let svc = confidential_client();
    let other = other_client();
    while !stop.load(Ordering::Relaxed) {
        let a = server.issue_cc(&svc, None);
        server.issue_cc(&other, Some("read write"));
        assert_eq!(server.tokeninfo(&a.access_token).status, 200);
        assert_eq!(server.introspect(&svc, &a.access_token).status, 200);
        let p = server.issue_password(&svc, ALICE, None);
        let refreshed = server.issue_refresh(&svc, p.refresh_token(), None);
        assert_eq!(
            server.revoke(&svc, &refreshed.access_token, None).status,
            200
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn example_scrape_config_and_alert_rules_pass_promtool_and_the_rules_unit_tests() {
    let promtool = tool("TESSERA_PROMTOOL", "/usr/bin/promtool");
    let dir = repo_file("config/prometheus");
    for args in [
        &["check", "config", "--syntax-only", "prometheus.yml"][..],
        &["check", "rules", "alerts.yml"][..],
        &["test", "rules", "alerts_test.yml"][..],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("run promtool");
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The bearer token of the admin listener the test's Prometheus presents.
const ADMIN_TOKEN: &str = "prometheus-scrape-token-5d1c8e0b94a7f362";

#[test]
fn every_dashboard_and_alert_query_returns_data_from_a_real_prometheus() {
    let data = TempDir::new("prometheus-store");
    let hash = run_cli(&["hash-secret"], Some(ADMIN_TOKEN.as_bytes()));
    assert!(hash.status.success(), "hash-secret: {hash:?}");
    let hash = String::from_utf8(hash.stdout).expect("utf-8");
    let mut config = ConfigBuilder::standard()
        .store("kind", "\"rocksdb\"")
        .store("path", &toml_str(&data.path().display().to_string()))
        .store("flush_interval_ms", "10")
        .build();
    // `[admin] metrics = true`: the series name client ids, so Prometheus scrapes the admin
    // listener with the bearer token, as an operator's would.
    config.push_str(&format!(
        "\n[admin]\nlisten = \"127.0.0.1:0\"\nadmin_token_hash = {}\nmetrics = true\n",
        toml_str(hash.trim())
    ));
    let server = Arc::new(Server::start(&config));
    let target = server.admin_addr.expect("admin listener");
    assert_eq!(
        server.get("/metrics").status,
        404,
        "/metrics left the public listener"
    );
    let prometheus = Prometheus::start(target, ADMIN_TOKEN);

    // The 4xx series (bad client credentials, an unknown path) appear once; after that their
    // rate is a (zero) sample like any other. The password is wrong for a client of its own
    // so the brute-force guard's lockout, which also counts, never blocks the traffic.
    let intruder = Client::new("svc-b", Some("wrong"), AuthMethod::Basic);
    assert_eq!(server.client_credentials(&intruder, None).status, 401);
    assert_eq!(server.get("/no/such/path").status, 404);
    // A used refresh token presented again: refresh reuse (its grant is revoked).
    let svc = confidential_client();
    let p = server.issue_password(&svc, ALICE, None);
    server.issue_refresh(&svc, p.refresh_token(), None);
    assert_eq!(server.refresh(&svc, p.refresh_token(), None).status, 400);

    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (server, stop) = (Arc::clone(&server), Arc::clone(&stop));
        thread::spawn(move || drive_traffic(&server, &stop))
    };

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("config/grafana/tessera.json")).expect("dashboard"),
    )
    .expect("config/grafana/tessera.json is JSON");
    let mut queries: Vec<(String, String)> = dashboard_queries(&dashboard, &target.to_string())
        .into_iter()
        .map(|q| ("dashboard".to_string(), q))
        .collect();
    assert!(queries.len() >= 20, "{queries:?}");

    // The rules as Prometheus loaded them: a rule file it could not load has no groups.
    let groups = prometheus.api("/api/v1/rules")["groups"].clone();
    let rules: Vec<Value> = groups
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(rules.len() >= 8, "alerts.yml not loaded: {groups}");
    for rule in &rules {
        let name = rule["name"].as_str().unwrap_or_default().to_string();
        queries.push((name, alert_query(rule["query"].as_str().expect("query"))));
    }

    let deadline = Instant::now() + DATA_TIMEOUT;
    let mut pending = queries.clone();
    while !pending.is_empty() && Instant::now() < deadline {
        pending.retain(|(_, q)| !has_data(&prometheus.query(q)));
        if !pending.is_empty() {
            thread::sleep(Duration::from_millis(500));
        }
    }
    // Every rule evaluated at least once since the data arrived, and without error.
    let mut unhealthy = Vec::new();
    loop {
        let groups = prometheus.api("/api/v1/rules")["groups"].clone();
        unhealthy.clear();
        for rule in groups
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        {
            if rule["health"] != "ok" {
                unhealthy.push(format!(
                    "{} health {} {}",
                    rule["name"], rule["health"], rule["lastError"]
                ));
            }
        }
        if unhealthy.is_empty() || Instant::now() >= deadline {
            break;
        }
        thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, Ordering::Relaxed);
    traffic.join().expect("traffic thread");

    let up = prometheus.query(&format!("up{{job=\"{JOB}\"}}"));
    assert_eq!(
        up["result"][0]["value"][1], "1",
        "Prometheus does not reach Tessera: {up}"
    );
    assert!(
        pending.is_empty(),
        "{} of {} queries returned no data within {DATA_TIMEOUT:?}:\n{}",
        pending.len(),
        queries.len(),
        pending
            .iter()
            .map(|(from, q)| format!("  [{from}] {q}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(unhealthy.is_empty(), "alert rules in error: {unhealthy:?}");
}

#[test]
fn dashboard_panels_each_have_a_query_on_the_chosen_data_source_and_a_unique_id() {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("config/grafana/tessera.json")).expect("dashboard"),
    )
    .expect("config/grafana/tessera.json is JSON");
    assert_eq!(dashboard["uid"], "tessera-overview");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids = std::collections::BTreeSet::new();
    for panel in panels {
        assert!(ids.insert(panel["id"].as_u64()), "duplicate id: {panel}");
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{} has no query", panel["title"]);
        for t in targets {
            assert!(t["expr"].as_str().is_some_and(|e| !e.is_empty()), "{t}");
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{t}");
        }
    }
    // What the issue asks the dashboard to show.
    let text = dashboard["panels"].to_string();
    for series in [
        "tessera_requests_total",
        "tessera_request_duration_seconds_bucket",
        "tessera_tokens_issued_total",
        "tessera_store_queue_depth",
        "tessera_store_flush_seconds_total",
        "tessera_lockouts_total",
        "tessera_refresh_token_reuse_total",
    ] {
        assert!(text.contains(series), "no panel uses {series}");
    }
}

#[test]
fn alert_query_is_the_expression_before_its_final_comparison() {
    assert_eq!(alert_query("up{job=\"t\"} == 0"), "up{job=\"t\"}");
    assert_eq!(alert_query("a / (b > 1) > 0.05"), "a / (b > 1)");
}
