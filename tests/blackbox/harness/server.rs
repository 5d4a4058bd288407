//! The server under test: `Server` starts the real `tessera serve` on port 0 with a config
//! file in its own `TempDir`, reads the `listening on ...` line for the port, sends signals,
//! waits for the exit and kills the child when dropped (printing the tail of its stderr when
//! a test failed). Its request helpers (`get`, `post_as`, `token`, `revoke`, `metrics`, ...)
//! open a new connection per request. `run_cli` runs the other subcommands.
//!
//! This is the one file that starts processes; it reaches the server only through `Conn`
//! (`client.rs`) and writes files only through `TempDir` (`config.rs`). The server must
//! announce its port within 30 s and a CLI run must end within 30 s.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::client::{basic_auth, form, raw_form_post, raw_request, urlencode, Conn};
use super::config::{default_config, TempDir};
use super::fixtures::{Client, Issued};
use super::metrics::Metrics;
use super::response::Response;

/// Path of the binary under test.
pub const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

/// How long the server may take to print `listening on ...`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

pub const TOKEN_PATH: &str = "/api/oauth/token";
pub const REVOKE_PATH: &str = "/api/oauth/revoke";
pub const TOKENINFO_PATH: &str = "/api/oauth/tokeninfo";
pub const INTROSPECT_PATH: &str = "/api/oauth/introspect";

/// A running `tessera serve`, killed on drop.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// The `server.listen_plain` listener (announced on stdout's second line), if any.
    pub plain_addr: Option<SocketAddr>,
    /// The `[admin] listen` listener (announced after the others), if any.
    pub admin_addr: Option<SocketAddr>,
    /// With `[server.tls]`: the client side, trusting the test CA; every request helper
    /// then speaks TLS to `addr`.
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    dir: TempDir,
    pub config_path: PathBuf,
    stderr_path: PathBuf,
}

impl Server {
    /// Starts `tessera serve --config FILE --listen 127.0.0.1:0` with `config_toml` and
    /// waits for its `listening on 127.0.0.1:PORT` line.
    pub fn start(config_toml: &str) -> Server {
        Server::try_start(config_toml).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a server with `default_config()`.
    pub fn start_default() -> Server {
        Server::start(&default_config())
    }

    /// Starts a server whose config has `[server.tls]`; the request helpers connect with
    /// `client` (server name `localhost`).
    pub fn start_tls(config_toml: &str, client: std::sync::Arc<rustls::ClientConfig>) -> Server {
        let mut server = Server::start(config_toml);
        server.tls = Some(client);
        server
    }

    pub fn try_start(config_toml: &str) -> Result<Server, String> {
        let dir = TempDir::new("serve");
        let config_path = dir.write("tessera.toml", config_toml);
        let stderr_path = dir.path().join("stderr.log");
        let stderr_file = std::fs::File::create(&stderr_path).expect("create stderr log");
        let mut child = Command::new(TESSERA)
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr_file))
            .spawn()
            .map_err(|e| format!("spawn {TESSERA}: {e}"))?;
        let stdout = child.stdout.take().expect("child stdout");
        let rx = spawn_stdout_reader(stdout);
        let line = match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Some(line)) => line,
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                return Err(format!(
                    "tessera serve did not print `listening on ...` (exit: {status:?})\n\
                     config:\n{config_toml}\nstderr:\n{log}"
                ));
            }
        };
        let addr_text = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("unexpected first stdout line {line:?}"))?;
        let addr: SocketAddr = addr_text
            .parse()
            .map_err(|e| format!("cannot parse address in {line:?}: {e}"))?;
        if addr.port() == 0 || !addr.ip().is_loopback() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "server announced {addr}, expected 127.0.0.1:<port>"
            ));
        }
        // `plain listener on ...` follows at once when there is one.
        let plain_addr = if config_toml.contains("listen_plain") {
            let line = rx
                .recv_timeout(STARTUP_TIMEOUT)
                .ok()
                .flatten()
                .unwrap_or_default();
            line.trim()
                .strip_prefix("plain listener on ")
                .and_then(|a| a.parse().ok())
        } else {
            None
        };
        // `admin listener on ...` comes last when the config has `[admin]` with `listen`.
        let admin_addr = if config_toml.lines().any(|l| l.trim() == "[admin]") {
            let line = rx
                .recv_timeout(STARTUP_TIMEOUT)
                .ok()
                .flatten()
                .unwrap_or_default();
            line.trim()
                .strip_prefix("admin listener on ")
                .and_then(|a| a.parse().ok())
        } else {
            None
        };
        Ok(Server {
            child: Some(child),
            addr,
            plain_addr,
            admin_addr,
            tls: None,
            dir,
            config_path,
            stderr_path,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server already reaped").id()
    }

    /// The server's stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends a signal with `kill -SIG pid`.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} failed: {status:?}");
    }

    /// SIGKILL (no shutdown, no flush: a crash), then waits for the process to be gone.
    pub fn kill_hard(mut self) {
        self.signal("KILL");
        self.wait_exit(Duration::from_secs(10))
            .expect("server dies on SIGKILL");
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut().expect("server already reaped");
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Some(status);
                }
                Ok(None) => {}
                Err(e) => panic!("try_wait: {e}"),
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            None => false,
            Some(c) => matches!(c.try_wait(), Ok(None)),
        }
    }

    pub fn conn(&self) -> Conn {
        match &self.tls {
            None => Conn::connect(self.addr),
            Some(client) => {
                Conn::connect_tls(self.addr, std::sync::Arc::clone(client), "localhost")
            }
        }
    }

    /// Sends raw bytes on a new connection and reads one response.
    pub fn send_raw(&self, bytes: &[u8]) -> Response {
        self.conn().roundtrip(bytes)
    }

    /// Sends `bytes` on a new connection and checks that the server answers `status` and
    /// then closes the connection (how malformed or over-limit requests are refused).
    pub fn assert_rejected_and_closed(&self, bytes: &[u8], status: u16) {
        let mut conn = self.conn();
        conn.send(bytes);
        let r = conn.read_response();
        assert_eq!(r.status, status, "{}", r.summary());
        conn.assert_closed();
    }

    /// `GET path` on a new connection.
    pub fn get(&self, path: &str) -> Response {
        self.send_raw(&raw_request("GET", path, &[], b""))
    }

    /// `GET path` with extra headers.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.send_raw(&raw_request("GET", path, headers, b""))
    }

    /// A form POST, optionally with Basic credentials (`(id, secret)`, form-urlencoded first).
    pub fn post_form(&self, path: &str, body: &str, basic: Option<(&str, &str)>) -> Response {
        let auth = basic.map(|(id, secret)| basic_auth(id, secret));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        self.send_raw(&raw_form_post(path, body, &headers))
    }

    /// A form POST with extra headers.
    pub fn post_form_with(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> Response {
        self.send_raw(&raw_form_post(path, body, headers))
    }

    /// A form POST to `path` authenticated as `client`, with the given fields.
    pub fn post_as(&self, path: &str, client: &Client, fields: &[(&str, &str)]) -> Response {
        self.send_raw(&form_post_as(path, client, fields))
    }

    /// `post_as` on a connection from the local address `from` (another peer to the
    /// server, e.g. `127.0.0.2`).
    pub fn post_as_from(
        &self,
        from: IpAddr,
        path: &str,
        client: &Client,
        fields: &[(&str, &str)],
    ) -> Response {
        Conn::connect_from(from, self.addr).roundtrip(&form_post_as(path, client, fields))
    }

    /// Token request (`POST /api/oauth/token`) as `client`.
    pub fn token(&self, client: &Client, fields: &[(&str, &str)]) -> Response {
        self.post_as(TOKEN_PATH, client, fields)
    }

    /// `grant_type=client_credentials`, with an optional `scope`.
    pub fn client_credentials(&self, client: &Client, scope: Option<&str>) -> Response {
        let mut fields = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            fields.push(("scope", s));
        }
        self.token(client, &fields)
    }

    /// `grant_type=password`, with an optional `scope`.
    pub fn password(&self, client: &Client, user: (&str, &str), scope: Option<&str>) -> Response {
        let mut fields = vec![
            ("grant_type", "password"),
            ("username", user.0),
            ("password", user.1),
        ];
        if let Some(s) = scope {
            fields.push(("scope", s));
        }
        self.token(client, &fields)
    }

    /// `grant_type=refresh_token`, with an optional `scope`.
    pub fn refresh(&self, client: &Client, refresh_token: &str, scope: Option<&str>) -> Response {
        let mut fields = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        if let Some(s) = scope {
            fields.push(("scope", s));
        }
        self.token(client, &fields)
    }

    /// A successful client_credentials issuance; panics otherwise.
    pub fn issue_cc(&self, client: &Client, scope: Option<&str>) -> Issued {
        Issued::from_response(self.client_credentials(client, scope))
    }

    /// A successful password issuance; panics otherwise.
    pub fn issue_password(
        &self,
        client: &Client,
        user: (&str, &str),
        scope: Option<&str>,
    ) -> Issued {
        Issued::from_response(self.password(client, user, scope))
    }

    /// A successful refresh; panics otherwise.
    pub fn issue_refresh(
        &self,
        client: &Client,
        refresh_token: &str,
        scope: Option<&str>,
    ) -> Issued {
        Issued::from_response(self.refresh(client, refresh_token, scope))
    }

    /// `GET /api/oauth/tokeninfo?access_token=TOKEN`.
    pub fn tokeninfo(&self, token: &str) -> Response {
        self.get(&format!(
            "{TOKENINFO_PATH}?access_token={}",
            urlencode(token)
        ))
    }

    /// `POST /api/oauth/revoke` as `client`, with an optional `token_type_hint`.
    pub fn revoke(&self, client: &Client, token: &str, hint: Option<&str>) -> Response {
        let mut fields = vec![("token", token)];
        if let Some(h) = hint {
            fields.push(("token_type_hint", h));
        }
        self.post_as(REVOKE_PATH, client, &fields)
    }

    /// `POST /api/oauth/introspect` as `client`.
    pub fn introspect(&self, client: &Client, token: &str) -> Response {
        self.post_as(INTROSPECT_PATH, client, &[("token", token)])
    }

    /// `GET /metrics`, parsed.
    pub fn metrics(&self) -> Metrics {
        let r = self.get("/metrics");
        assert_eq!(r.status, 200, "GET /metrics: {}", r.summary());
        Metrics::parse(&r.text())
    }
}

/// The raw bytes of a form POST to `path` authenticated as `client`, with `fields`.
fn form_post_as(path: &str, client: &Client, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut form_fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut headers = Vec::new();
    client.apply(&mut form_fields, &mut headers);
    let body = form(&borrowed(&form_fields));
    raw_form_post(path, &body, &borrowed(&headers))
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            let log = self.stderr();
            let tail: String = if log.len() > 8000 {
                log[log.len() - 8000..].to_string()
            } else {
                log
            };
            eprintln!("---- tessera stderr (tail) ----\n{tail}\n---- end of stderr ----");
        }
    }
}

/// Forwards the first stdout line, then keeps draining stdout so the child never blocks on a
/// full pipe. Sends `None` if stdout ends before a line.
fn spawn_stdout_reader(stdout: ChildStdout) -> mpsc::Receiver<Option<String>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        // Every line goes to the receiver (which may have stopped listening); the pipe is
        // read to its end so the server never blocks on a full stdout.
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(n) if n > 0 => {
                    let _ = tx.send(Some(line));
                }
                _ => {
                    let _ = tx.send(None);
                    return;
                }
            }
        }
    });
    rx
}

/// Borrows owned name/value pairs as the `&str` pairs `form` and `raw_form_post` take.
fn borrowed(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

/// Runs `tessera ARGS` with `stdin` fed in, with a 30 s limit; returns its output.
pub fn run_cli(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(TESSERA)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn tessera {args:?}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("child stdin");
        pipe.write_all(input).expect("write child stdin");
        drop(pipe);
    }
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(out) => out.expect("wait for tessera"),
        Err(_) => {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            panic!("tessera {args:?} did not finish within 30 s");
        }
    }
}

/// A `tessera serve` watched from before it announces anything (start-up itself: the
/// sd_notify tests), killed on drop. Its stdout is piped, stderr goes to `stderr_path`.
#[derive(Debug)]
pub struct Serving {
    pub child: Child,
    pub stderr_path: PathBuf,
}

impl Serving {
    /// Starts `tessera serve --config CONFIG --listen 127.0.0.1:0` with `env` added to the
    /// environment.
    pub fn spawn(config: &std::path::Path, env: &[(&str, &std::ffi::OsStr)]) -> Serving {
        let stderr_path = config.with_extension("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).expect("create stderr log");
        let child = Command::new(TESSERA)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {TESSERA}: {e}"));
        Serving { child, stderr_path }
    }

    /// The first line of stdout (`listening on ...`), within 30 s.
    pub fn first_line(&mut self) -> Option<String> {
        let stdout = self.child.stdout.take()?;
        spawn_stdout_reader(stdout)
            .recv_timeout(STARTUP_TIMEOUT)
            .ok()
            .flatten()
    }

    /// Waits up to 30 s for the exit.
    pub fn wait_exit(&mut self) -> Option<ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("--- tessera stderr ---\n{}", self.stderr());
        }
    }
}
