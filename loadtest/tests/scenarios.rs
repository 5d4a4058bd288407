//! Short real runs of `tessera-loadtest` against the real `tessera` server: a server on
//! port 0 with the in-memory store, the load generator's binary run as a user runs it, its
//! exit status and JSON report checked.
//!
//! The server binary is the `tessera` next to the load generator's (the same target
//! directory and profile), or `$TESSERA_BIN`. `cargo test --release --workspace` builds
//! it; with `-p tessera-loadtest` alone, build it first
//! (`cargo build --release --workspace --bins`), or the test fails saying so.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Output, Stdio};

const LOADTEST: &str = env!("CARGO_BIN_EXE_tessera-loadtest");

/// The code-flow client of these tests (the secret is long enough not to be warned about).
const CLIENT: [&str; 4] = [
    "--client-id",
    "web-a",
    "--client-secret",
    "web-a-secret-0123456789abcdef",
];

fn tessera_bin() -> PathBuf {
    let bin = std::env::var_os("TESSERA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(LOADTEST).with_file_name("tessera"));
    assert!(
        bin.exists(),
        "no server binary at {}: run `cargo build --release --workspace --bins` first \
         (or set TESSERA_BIN)",
        bin.display()
    );
    bin
}

/// A `tessera serve` process, killed on drop.
struct Server {
    child: Child,
    addr: String,
    _stdout: BufReader<ChildStdout>,
    _dir: TempDir,
}

impl Server {
    /// Starts a one-worker server on 127.0.0.1:0 with the memory store and `extra` config.
    fn start(extra: &str) -> Server {
        let dir = TempDir::new();
        let config = dir.0.join("tessera.toml");
        let text = format!(
            "[server]\nworkers = 1\n[store]\nkind = \"memory\"\n[log]\nlevel = \"warn\"\n{extra}"
        );
        std::fs::write(&config, text).expect("write the config");
        let mut child = Command::new(tessera_bin())
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tessera");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let addr = loop {
            line.clear();
            if stdout
                .read_line(&mut line)
                .expect("read the server's stdout")
                == 0
            {
                let _ = child.kill();
                panic!("tessera exited before listening (its stderr is above)");
            }
            if let Some(addr) = line.trim().strip_prefix("listening on ") {
                break addr.to_string();
            }
        };
        Server {
            child,
            addr,
            _stdout: stdout,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tessera-loadtest-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn loadtest(args: &[&str]) -> Output {
    Command::new(LOADTEST)
        .args(args)
        .output()
        .expect("run tessera-loadtest")
}

/// The server configuration the scenario asks for (`--print-server-config`), so the test
/// also shows that what the load generator prints is a configuration the server accepts.
fn code_flow_config(scope: &str) -> String {
    let mut args = vec!["--scenario", "authorization-code", "--scope", scope];
    args.extend_from_slice(&CLIENT);
    args.push("--print-server-config");
    let out = loadtest(&args);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).expect("UTF-8 config")
}

/// A short closed-loop run; returns the JSON report.
fn run(server: &Server, args: &[&str]) -> serde_json::Value {
    let dir = TempDir::new();
    let json = dir.0.join("report.json");
    let url = server.url();
    let json_arg = json.to_string_lossy().into_owned();
    let mut all = vec![
        "--url",
        &url,
        "--duration",
        "1s",
        "--warmup",
        "200ms",
        "--connections",
        "4",
        "--quiet",
        "--json",
        &json_arg,
    ];
    all.extend_from_slice(args);
    let out = loadtest(&all);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tessera-loadtest {all:?}: {}\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report = std::fs::read_to_string(&json).expect("the JSON report");
    serde_json::from_str(&report).expect("a JSON report")
}

fn code_flow_args(scope: &str) -> Vec<&str> {
    let mut args = vec!["--scenario", "authorization-code", "--scope", scope];
    args.extend_from_slice(&CLIENT);
    args
}

#[test]
fn authorization_code_iterations_log_in_by_basic_and_exchange_the_code_rfc6749_4_1() {
    let server = Server::start(&code_flow_config("read"));
    let r = run(&server, &code_flow_args("read"));
    assert_eq!(r["scenario"], "authorization-code");
    assert_eq!(r["errors"]["total"], 0, "{r:#}");
    let ok = r["ok"].as_u64().expect("ok");
    assert!(ok > 0, "{r:#}");
    let flow = &r["code_flow"];
    assert_eq!(flow["id_token"], false);
    // Two requests per iteration; both steps timed, each shorter than the whole iteration.
    let iterations = r["throughput"].as_f64().expect("throughput");
    let requests = flow["requests_per_s"].as_f64().expect("requests_per_s");
    assert!((requests - 2.0 * iterations).abs() < 1e-6, "{r:#}");
    let iteration_p50 = r["latency_us"]["p50"].as_f64().expect("p50");
    for step in ["authorize_us", "token_us"] {
        let p50 = flow[step]["p50"].as_f64().expect("step p50");
        assert!(p50 > 0.0 && p50 < iteration_p50, "{step}: {r:#}");
    }
}

#[test]
fn authorization_code_with_openid_requires_an_id_token_in_every_exchange() {
    let server = Server::start(&code_flow_config("openid read"));
    let r = run(&server, &code_flow_args("openid read"));
    assert_eq!(r["errors"]["total"], 0, "{r:#}");
    assert!(r["ok"].as_u64().expect("ok") > 0, "{r:#}");
    assert_eq!(r["code_flow"]["id_token"], true);
}

#[test]
fn authorization_code_iterations_mix_with_other_operations() {
    // One client for the whole mix: the code client, so the other operation is the health
    // check (the code client may not use client_credentials).
    let server = Server::start(&code_flow_config("read"));
    let mut args = vec![
        "--scenario",
        "mixed",
        "--mix",
        "authorization-code=1,baseline=1",
    ];
    args.extend_from_slice(&["--scope", "read"]);
    args.extend_from_slice(&CLIENT);
    let r = run(&server, &args);
    assert_eq!(r["errors"]["total"], 0, "{r:#}");
    let by_op: Vec<(String, u64)> =
        serde_json::from_value(r["ok_by_operation"].clone()).expect("ok_by_operation");
    assert!(
        by_op
            .iter()
            .any(|(op, n)| op == "authorization-code" && *n > 0),
        "{by_op:?}"
    );
    assert!(
        r["code_flow"].is_null(),
        "per-iteration figures only for the plain scenario"
    );
}

#[test]
fn a_server_without_basic_login_fails_the_check_before_the_load_and_says_what_it_needs() {
    // The same client and user, but `allow_basic_login` left at its default (off): the
    // authorize endpoint answers with its login page.
    let config = code_flow_config("read").replace("allow_basic_login = true", "");
    let server = Server::start(&config);
    let url = server.url();
    let mut args = vec!["--url", url.as_str(), "--duration", "1s", "--quiet"];
    args.extend(code_flow_args("read"));
    let out = loadtest(&args);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the authorize endpoint answered 200")
            && err.contains("allow_basic_login = true"),
        "{err}"
    );
}

/// A client_credentials client for the scenarios fed from a file.
const CC_CONFIG: &str = "[[clients]]\nid = \"svc-a\"\nsecret = \"bench-secret-0123456789abcdef\"\n\
                         grant_types = [\"client_credentials\"]\nscopes = [\"read\"]\n";

#[test]
fn token_body_lines_are_each_sent_once_and_the_run_stops_when_they_run_out() {
    let server = Server::start(CC_CONFIG);
    let dir = TempDir::new();
    let lines = dir.0.join("bodies.txt");
    let count = 2_000;
    let body = "grant_type=client_credentials&scope=read\n".repeat(count);
    std::fs::write(&lines, body).expect("write the lines");
    let lines_arg = lines.to_string_lossy().into_owned();
    let json = dir.0.join("report.json");
    let json_arg = json.to_string_lossy().into_owned();
    let url = server.url();
    let out = loadtest(&[
        "--url",
        &url,
        "--scenario",
        "token-body",
        "--lines",
        &lines_arg,
        "--client-secret",
        "bench-secret-0123456789abcdef",
        "--connections",
        "4",
        // Far more than 2 000 requests' worth: the file, not the clock, ends the run.
        "--duration",
        "30s",
        "--warmup",
        "0s",
        "--quiet",
        "--json",
        &json_arg,
    ]);
    assert!(out.status.success(), "{out:?}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON report"))
            .expect("a JSON report");
    assert_eq!(r["errors"]["total"], 0, "{r:#}");
    assert_eq!(r["stopped_early"], true, "{r:#}");
    assert_eq!(r["lines"]["used"], count, "{r:#}");
    assert_eq!(r["lines"]["total"], count, "{r:#}");
    // Every line but the one sent as the check before the load, each once.
    assert_eq!(r["requests"], count - 1, "{r:#}");
    assert!(r["duration_s"].as_f64().expect("duration") < 30.0, "{r:#}");
}

#[test]
fn a_server_refusing_the_first_assertion_fails_the_check_before_the_load_rfc7522() {
    // This server knows no SAML issuer (nor, before issue 13, the grant at all).
    let server = Server::start(CC_CONFIG);
    let dir = TempDir::new();
    let lines = dir.0.join("saml.txt");
    std::fs::write(&lines, "PHNhbWw-\nPHNhbWw-\n").expect("write the lines");
    let url = server.url();
    let lines_arg = lines.to_string_lossy().into_owned();
    let out = loadtest(&[
        "--url",
        &url,
        "--scenario",
        "saml2-bearer",
        "--lines",
        &lines_arg,
        "--client-secret",
        "bench-secret-0123456789abcdef",
        "--duration",
        "1s",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the saml2-bearer check (the first line of") && err.contains("answered 4"),
        "{err}"
    );
}

/// A client that may use client_credentials (the prefill's grant).
const CC_CLIENT: &str = "[[clients]]\nid = \"svc-a\"\nsecret = \"svc-a-secret-0123456789abcdef\"\n\
     grant_types = [\"client_credentials\"]\nscopes = [\"read\"]\n";

/// The server's `tessera_live_tokens` gauge, read from its `/metrics`.
fn live_tokens(server: &Server) -> u64 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(&server.addr).expect("connect for /metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .expect("send /metrics");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read /metrics");
    text.lines()
        .find_map(|l| l.strip_prefix("tessera_live_tokens "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no tessera_live_tokens in {text}"))
}

#[test]
fn prefill_issues_exactly_n_tokens_before_the_run_and_tokeninfo_probes_among_them() {
    let server = Server::start(CC_CLIENT);
    let pid = server.child.id().to_string();
    let r = run(
        &server,
        &[
            "--scenario",
            "tokeninfo",
            "--client-id",
            "svc-a",
            "--client-secret",
            "svc-a-secret-0123456789abcdef",
            "--scope",
            "read",
            "--prefill",
            "3000",
            "--pool",
            "50",
            "--server-pid",
            &pid,
        ],
    );
    assert_eq!(r["errors"]["total"], 0, "{r:#}");
    assert!(r["ok"].as_u64().expect("ok") > 0, "{r:#}");
    assert_eq!(r["prefill"]["tokens"], 3000, "{r:#}");
    assert!(r["prefill"]["seconds"].as_f64().expect("seconds") > 0.0);
    // The pool came out of the prefill: tokeninfo issues nothing, so the server holds the
    // prefilled tokens and not one more.
    assert_eq!(live_tokens(&server), 3000);
    let cpu = &r["server_cpu"];
    assert_eq!(
        cpu["pid"].as_u64().map(|p| p.to_string()),
        Some(pid),
        "{r:#}"
    );
    assert!(
        cpu["us_per_request"].as_f64().expect("µs per request") > 0.0,
        "{r:#}"
    );
}

#[test]
fn a_pool_larger_than_the_prefill_is_completed_by_provisioning() {
    let server = Server::start(CC_CLIENT);
    let r = run(
        &server,
        &[
            "--scenario",
            "introspect",
            "--client-id",
            "svc-a",
            "--client-secret",
            "svc-a-secret-0123456789abcdef",
            "--prefill",
            "20",
            "--pool",
            "30",
        ],
    );
    assert_eq!(r["errors"]["total"], 0, "{r:#}");
    assert_eq!(r["prefill"]["tokens"], 20, "{r:#}");
    assert!(r["server_cpu"].is_null(), "{r:#}");
    assert_eq!(live_tokens(&server), 20 + 10);
}
