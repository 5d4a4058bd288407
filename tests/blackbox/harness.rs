//! Shared fixtures for the black-box suite: start the real `tessera` binary on port 0 with a
//! generated config, talk raw HTTP/1.1 to it over `std::net::TcpStream`, and decode the
//! answers (status line, headers, `Content-Length` or chunked body, JSON).
//!
//! Everything here has a timeout: sockets read and write with a 10 s limit, the server must
//! announce its port within 30 s, and a fixture that is dropped kills its child process, so a
//! broken server fails a test instead of hanging the suite.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// Path of the binary under test.
pub const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

/// How long any socket read or write may block before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the server may take to print `listening on ...`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

pub const TOKEN_PATH: &str = "/api/oauth/token";
pub const REVOKE_PATH: &str = "/api/oauth/revoke";
pub const TOKENINFO_PATH: &str = "/api/oauth/tokeninfo";
pub const INTROSPECT_PATH: &str = "/api/oauth/introspect";

/// The characters a token may contain (RFC 6749 §A.12 / RFC 6750 §2.1 `b64token` subset).
pub const TOKEN_ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// ---------------------------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------------------------

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A directory under the system temp dir, unique per process and call, removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "tessera-blackbox-{}-{}-{}-{}",
            tag,
            std::process::id(),
            n,
            nanos
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to `name` inside the directory and returns the full path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, contents).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Quotes `s` as a TOML basic string.
pub fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML config assembled from sections of `key = value` lines (values are raw TOML), plus
/// `[[clients]]` and `[[users]]` blocks. Setting a key that is already there replaces it.
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    server: Vec<(String, String)>,
    store: Vec<(String, String)>,
    tokens: Vec<(String, String)>,
    clients: Vec<String>,
    users: Vec<String>,
}

fn set_key(section: &mut Vec<(String, String)>, key: &str, value: &str) {
    if let Some(entry) = section.iter_mut().find(|(k, _)| k == key) {
        entry.1 = value.to_string();
    } else {
        section.push((key.to_string(), value.to_string()));
    }
}

impl ConfigBuilder {
    /// An empty config: no sections, no clients, no users.
    pub fn empty() -> ConfigBuilder {
        ConfigBuilder {
            server: Vec::new(),
            store: Vec::new(),
            tokens: Vec::new(),
            clients: Vec::new(),
            users: Vec::new(),
        }
    }

    /// The suite's standard config: two workers, in-memory store, the documented token
    /// defaults written out, and every fixture client and user below.
    pub fn standard() -> ConfigBuilder {
        let mut b = ConfigBuilder::empty()
            .server("listen", "\"127.0.0.1:0\"")
            .server("workers", "2")
            .server("max_body_bytes", "65536")
            .server("keepalive_timeout_secs", "60")
            .server("request_timeout_secs", "10")
            .server("shutdown_grace_secs", "5")
            .server("realm", "\"tessera\"")
            .store("kind", "\"memory\"")
            .store("purge_interval_secs", "60")
            .tokens("access_token_ttl_secs", "3600")
            .tokens("access_token_length", "54")
            .tokens("token_type", "\"Bearer\"")
            .tokens("refresh_token_ttl_secs", "43200")
            .tokens("refresh_token_length", "46")
            .tokens("refresh_policy", "\"rotate\"");
        b.clients
            .extend(standard_clients().into_iter().map(String::from));
        b.users
            .extend(standard_users().into_iter().map(String::from));
        b
    }

    pub fn server(mut self, key: &str, value: &str) -> ConfigBuilder {
        set_key(&mut self.server, key, value);
        self
    }

    pub fn store(mut self, key: &str, value: &str) -> ConfigBuilder {
        set_key(&mut self.store, key, value);
        self
    }

    pub fn tokens(mut self, key: &str, value: &str) -> ConfigBuilder {
        set_key(&mut self.tokens, key, value);
        self
    }

    /// Adds one `[[clients]]` entry; `body` is its `key = value` lines.
    pub fn client(mut self, body: &str) -> ConfigBuilder {
        self.clients.push(body.to_string());
        self
    }

    /// Adds one `[[users]]` entry; `body` is its `key = value` lines.
    pub fn user(mut self, body: &str) -> ConfigBuilder {
        self.users.push(body.to_string());
        self
    }

    pub fn build(&self) -> String {
        let mut out = String::new();
        for (name, section) in [
            ("server", &self.server),
            ("store", &self.store),
            ("tokens", &self.tokens),
        ] {
            if section.is_empty() {
                continue;
            }
            let _ = writeln!(out, "[{name}]");
            for (k, v) in section {
                let _ = writeln!(out, "{k} = {v}");
            }
            out.push('\n');
        }
        for c in &self.clients {
            let _ = writeln!(out, "[[clients]]\n{}\n", c.trim());
        }
        for u in &self.users {
            let _ = writeln!(out, "[[users]]\n{}\n", u.trim());
        }
        out
    }
}

/// The standard config as TOML text.
pub fn default_config() -> String {
    ConfigBuilder::standard().build()
}

/// Client blocks of the standard config. Each has a fixture function below.
fn standard_clients() -> Vec<&'static str> {
    vec![
        // confidential_client(): Basic auth, every grant, global refresh policy (rotate).
        r#"id = "svc-a"
secret = "secret-a"
auth_method = "client_secret_basic"
grant_types = ["client_credentials", "password", "refresh_token"]
scopes = ["read", "write"]
default_scopes = ["read"]
metadata = { department = "Engineering" }"#,
        // other_client(): a second confidential client, for cross-client checks.
        r#"id = "svc-b"
secret = "secret-b"
grant_types = ["client_credentials", "password", "refresh_token"]
scopes = ["read", "write"]
default_scopes = ["read"]
metadata = { department = "Sales" }"#,
        // post_client(): credentials in the form body.
        r#"id = "svc-post"
secret = "secret-post"
auth_method = "client_secret_post"
grant_types = ["client_credentials", "password", "refresh_token"]
scopes = ["read", "write"]
default_scopes = ["read"]"#,
        // public_client(): no secret, client_id only.
        r#"id = "spa-public"
auth_method = "none"
grant_types = ["password", "refresh_token"]
scopes = ["read", "write"]
default_scopes = ["read"]"#,
        // preserve_client()
        r#"id = "svc-preserve"
secret = "secret-preserve"
grant_types = ["client_credentials", "password", "refresh_token"]
scopes = ["read", "write"]
default_scopes = ["read"]
refresh_policy = "preserve""#,
        // none_policy_client()
        r#"id = "svc-none"
secret = "secret-none"
grant_types = ["client_credentials", "password", "refresh_token"]
scopes = ["read", "write"]
default_scopes = ["read"]
refresh_policy = "none""#,
        // short_token_client(): per-client overrides of the global token settings.
        r#"id = "svc-short"
secret = "secret-short"
grant_types = ["client_credentials", "password", "refresh_token"]
scopes = ["read", "write"]
default_scopes = ["read"]
access_token_length = 40
access_token_ttl_secs = 120
refresh_token_length = 32"#,
        // no_refresh_client(): password grant allowed, refresh_token grant not.
        r#"id = "svc-norefresh"
secret = "secret-norefresh"
grant_types = ["client_credentials", "password"]
scopes = ["read", "write"]
default_scopes = ["read"]"#,
        // cc_only_client()
        r#"id = "svc-cc-only"
secret = "secret-cc-only"
grant_types = ["client_credentials"]
scopes = ["read", "write"]
default_scopes = ["read"]"#,
        // special_client(): id and secret that need form-urlencoding inside Basic credentials.
        r#"id = "svc:special"
secret = "p@ss:w rd+/%&="
grant_types = ["client_credentials"]
scopes = ["read"]
default_scopes = ["read"]"#,
        // metadata_client(): several metadata values, one needing JSON escaping.
        r#"id = "svc-meta"
secret = "secret-meta"
grant_types = ["client_credentials", "password", "refresh_token"]
scopes = ["read", "write", "admin"]
default_scopes = ["read", "write"]
metadata = { department = "Engineering", cost_center = "CC-42", note = "say \"hi\"\\n<ok>" }"#,
    ]
}

/// The argon2id PHC string of `CAROL_PASSWORD` (m=19456, t=2, p=1), made with the reference
/// libargon2.
pub const CAROL_PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$dGVzc2VyYXNhbHR2YWx1ZQ$C/UTirRwSEV4ml9m26QxXGeK3A5DyAJe3PBMvUbSVZI";
pub const CAROL_PASSWORD: &str = "wonderland-2";

/// User blocks of the standard config. No user has an argon2id `password_hash` here: the
/// server then computes an argon2id decoy at start-up, which costs about a second in a debug
/// build, so only the tests about argon2 users add `CAROL_USER`.
fn standard_users() -> Vec<&'static str> {
    vec![
        r#"username = "alice"
password = "alice-pw""#,
        r#"username = "bob"
password = "p@ss w0rd&=+%""#,
    ]
}

/// A `[[users]]` block for `carol`, whose password is stored as `CAROL_PASSWORD_HASH`.
pub const CAROL_USER: &str = r#"username = "carol"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$dGVzc2VyYXNhbHR2YWx1ZQ$C/UTirRwSEV4ml9m26QxXGeK3A5DyAJe3PBMvUbSVZI""#;

pub const ALICE: (&str, &str) = ("alice", "alice-pw");
pub const BOB: (&str, &str) = ("bob", "p@ss w0rd&=+%");

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

/// How a client presents its credentials (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
    /// `client_id` only (public client).
    None,
}

/// Credentials a test presents; not necessarily ones the server knows.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub secret: Option<String>,
    pub method: AuthMethod,
}

impl Client {
    pub fn new(id: &str, secret: Option<&str>, method: AuthMethod) -> Client {
        Client {
            id: id.to_string(),
            secret: secret.map(str::to_string),
            method,
        }
    }

    /// The same client presenting its credentials another way.
    pub fn using(&self, method: AuthMethod) -> Client {
        Client {
            method,
            ..self.clone()
        }
    }

    /// The same client presenting another secret.
    pub fn with_secret(&self, secret: &str) -> Client {
        Client {
            secret: Some(secret.to_string()),
            ..self.clone()
        }
    }

    /// Adds this client's credentials to a request's form fields and headers.
    pub fn apply(&self, form: &mut Vec<(String, String)>, headers: &mut Vec<(String, String)>) {
        match self.method {
            AuthMethod::Basic => headers.push((
                "Authorization".to_string(),
                basic_auth(&self.id, self.secret.as_deref().unwrap_or("")),
            )),
            AuthMethod::Post => {
                form.push(("client_id".to_string(), self.id.clone()));
                if let Some(s) = &self.secret {
                    form.push(("client_secret".to_string(), s.clone()));
                }
            }
            AuthMethod::None => form.push(("client_id".to_string(), self.id.clone())),
        }
    }
}

/// `svc-a`: confidential, `client_secret_basic`, every grant, scopes read/write (default
/// read), metadata `department = "Engineering"`, global refresh policy (`rotate`).
pub fn confidential_client() -> Client {
    Client::new("svc-a", Some("secret-a"), AuthMethod::Basic)
}

/// `svc-b`: a second confidential client (metadata `department = "Sales"`).
pub fn other_client() -> Client {
    Client::new("svc-b", Some("secret-b"), AuthMethod::Basic)
}

/// `svc-post`: confidential, `client_secret_post`.
pub fn post_client() -> Client {
    Client::new("svc-post", Some("secret-post"), AuthMethod::Post)
}

/// `spa-public`: public client (`auth_method = "none"`), grants password and refresh_token.
pub fn public_client() -> Client {
    Client::new("spa-public", None, AuthMethod::None)
}

/// `svc-preserve`: per-client `refresh_policy = "preserve"`.
pub fn preserve_client() -> Client {
    Client::new("svc-preserve", Some("secret-preserve"), AuthMethod::Basic)
}

/// `svc-none`: per-client `refresh_policy = "none"`.
pub fn none_policy_client() -> Client {
    Client::new("svc-none", Some("secret-none"), AuthMethod::Basic)
}

/// `svc-short`: access_token_length 40, access_token_ttl_secs 120, refresh_token_length 32.
pub fn short_token_client() -> Client {
    Client::new("svc-short", Some("secret-short"), AuthMethod::Basic)
}

/// `svc-norefresh`: grants client_credentials and password, not refresh_token.
pub fn no_refresh_client() -> Client {
    Client::new("svc-norefresh", Some("secret-norefresh"), AuthMethod::Basic)
}

/// `svc-cc-only`: grants client_credentials only.
pub fn cc_only_client() -> Client {
    Client::new("svc-cc-only", Some("secret-cc-only"), AuthMethod::Basic)
}

/// `svc:special` with secret `p@ss:w rd+/%&=`: both need form-urlencoding in Basic.
pub fn special_client() -> Client {
    Client::new("svc:special", Some("p@ss:w rd+/%&="), AuthMethod::Basic)
}

/// `svc-meta`: scopes read/write/admin (default read write) and three metadata fields.
pub fn metadata_client() -> Client {
    Client::new("svc-meta", Some("secret-meta"), AuthMethod::Basic)
}

// ---------------------------------------------------------------------------------------------
// Encoding helpers
// ---------------------------------------------------------------------------------------------

/// `application/x-www-form-urlencoded` encoding of one name or value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Encodes name/value pairs as a form body.
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn form_owned(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(ALPHABET[(n >> 18) as usize & 63] as char);
        out.push(ALPHABET[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// `Basic base64(urlencode(id):urlencode(secret))` as RFC 6749 §2.3.1 asks.
pub fn basic_auth(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64(format!("{}:{}", urlencode(id), urlencode(secret)).as_bytes())
    )
}

/// Builds a raw HTTP/1.1 request with `Host`, the given headers and, when `body` is not
/// empty or the method is POST, a `Content-Length`.
pub fn raw_request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (k, v) in headers {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    if !body.is_empty() || method == "POST" {
        let _ = write!(out, "Content-Length: {}\r\n", body.len());
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A form POST as raw bytes.
pub fn raw_form_post(target: &str, body: &str, extra_headers: &[(&str, &str)]) -> Vec<u8> {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    headers.extend_from_slice(extra_headers);
    raw_request("POST", target, &headers, body.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// One decoded HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a comma-separated header contains `token` (case-insensitive), e.g.
    /// `Connection: close` or `Cache-Control: no-store`.
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers_named(name)
            .iter()
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}): status {} body {:?}",
                self.status,
                self.text()
            )
        })
    }

    /// String field `name` of the JSON body; panics when missing.
    pub fn json_str(&self, name: &str) -> String {
        match self.json().get(name) {
            Some(Value::String(s)) => s.clone(),
            other => panic!(
                "expected string field {name:?} in {}, got {other:?}",
                self.text()
            ),
        }
    }

    /// Integer field `name` of the JSON body; panics when missing.
    pub fn json_i64(&self, name: &str) -> i64 {
        match self.json().get(name).and_then(Value::as_i64) {
            Some(n) => n,
            None => panic!("expected integer field {name:?} in {}", self.text()),
        }
    }

    /// Whether the response says the connection will close.
    pub fn closes(&self) -> bool {
        self.header_has_token("Connection", "close")
    }

    /// A one-line summary for assertion messages.
    pub fn summary(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        format!(
            "{} {} {} [{}] {:?}",
            self.version,
            self.status,
            self.reason,
            headers.join(" | "),
            self.text()
        )
    }
}

fn find_subslice(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What reading a connection to its end found.
#[derive(Debug, PartialEq, Eq)]
pub enum CloseOutcome {
    /// `read` returned 0 (FIN) or the connection was reset.
    Closed,
    /// The read timed out with the connection still open.
    StillOpen,
}

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

/// One client connection with a read buffer that keeps bytes of the next response.
#[derive(Debug)]
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("set_read_timeout");
        stream
            .set_write_timeout(Some(IO_TIMEOUT))
            .expect("set_write_timeout");
        stream.set_nodelay(true).expect("set_nodelay");
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes all of `bytes` (one `write_all`, so usually one segment).
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write to server: {e}"));
        let _ = self.stream.flush();
    }

    /// Like `send`, but returns the error instead of panicking (the server may have closed).
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Writes `bytes` in pieces of `piece` bytes with `pause` between them.
    pub fn send_slowly(&mut self, bytes: &[u8], piece: usize, pause: Duration) {
        for chunk in bytes.chunks(piece.max(1)) {
            self.send(chunk);
            thread::sleep(pause);
        }
    }

    /// Reads more bytes into the buffer; Ok(0) at end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 16 * 1024];
        let n = self.stream.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    fn fill_or_err(&mut self, what: &str) -> Result<(), String> {
        match self.fill() {
            Ok(0) => Err(format!(
                "connection closed while reading {what}; buffered {:?}",
                String::from_utf8_lossy(&self.buf)
            )),
            Ok(_) => Ok(()),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                Err(format!(
                    "timed out reading {what} (no bytes within the socket read timeout); \
                     buffered {:?}",
                    String::from_utf8_lossy(&self.buf)
                ))
            }
            Err(e) => Err(format!(
                "error while reading {what}: {e} ({:?}); buffered {:?}",
                e.kind(),
                String::from_utf8_lossy(&self.buf)
            )),
        }
    }

    /// Reads one response, or says why it could not.
    pub fn try_read_response(&mut self) -> Result<Response, String> {
        let head_end = loop {
            if let Some(i) = find_subslice(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if self.buf.len() > 1 << 20 {
                return Err("response head over 1 MiB".to_string());
            }
            self.fill_or_err("response head")?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end + 4);

        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let reason = parts.next().unwrap_or_default().to_string();
        if !version.starts_with("HTTP/1.") {
            return Err(format!("bad status line {status_line:?}"));
        }
        let mut headers = Vec::new();
        for line in lines {
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| format!("bad header line {line:?}"))?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let mut resp = Response {
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
        };

        let chunked = resp
            .header("Transfer-Encoding")
            .map(|v| v.to_ascii_lowercase().contains("chunked"))
            .unwrap_or(false);
        if chunked {
            resp.body = self.read_chunked_body()?;
        } else if let Some(cl) = resp.header("Content-Length") {
            let len: usize = cl
                .parse()
                .map_err(|_| format!("bad Content-Length {cl:?}"))?;
            while self.buf.len() < len {
                self.fill_or_err("response body")?;
            }
            resp.body = self.buf.drain(..len).collect();
        } else if status < 200 || status == 204 || status == 304 {
            // No body.
        } else {
            // Body delimited by close.
            loop {
                match self.fill() {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
                    Err(e) => return Err(format!("reading close-delimited body: {e}")),
                }
            }
            resp.body = std::mem::take(&mut self.buf);
        }
        Ok(resp)
    }

    fn read_chunked_body(&mut self) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find_subslice(&self.buf, b"\r\n") {
                    break i;
                }
                self.fill_or_err("chunk size")?;
            };
            let line = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            self.buf.drain(..line_end + 2);
            let size_str = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_str, 16)
                .map_err(|_| format!("bad chunk size line {line:?}"))?;
            if size == 0 {
                // Trailers until an empty line.
                loop {
                    let end = loop {
                        if let Some(i) = find_subslice(&self.buf, b"\r\n") {
                            break i;
                        }
                        self.fill_or_err("chunked trailer")?;
                    };
                    self.buf.drain(..end + 2);
                    if end == 0 {
                        return Ok(body);
                    }
                }
            }
            while self.buf.len() < size + 2 {
                self.fill_or_err("chunk data")?;
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
        }
    }

    /// Reads one response; panics with the reason when it cannot.
    pub fn read_response(&mut self) -> Response {
        self.try_read_response()
            .unwrap_or_else(|e| panic!("reading response: {e}"))
    }

    /// Reads `n` responses in order (for pipelined requests).
    pub fn read_responses(&mut self, n: usize) -> Vec<Response> {
        (0..n)
            .map(|i| {
                self.try_read_response()
                    .unwrap_or_else(|e| panic!("reading response {} of {n}: {e}", i + 1))
            })
            .collect()
    }

    /// Sends `bytes` and reads one response.
    pub fn roundtrip(&mut self, bytes: &[u8]) -> Response {
        self.send(bytes);
        self.read_response()
    }

    /// Waits up to `limit` for the server to close the connection. Bytes that arrive first
    /// are a failure (they are shown in the panic message).
    pub fn wait_closed(&mut self, limit: Duration) -> CloseOutcome {
        let deadline = Instant::now() + limit;
        loop {
            if !self.buf.is_empty() {
                panic!(
                    "expected the server to close, but it sent {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return CloseOutcome::StillOpen;
            }
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("set_read_timeout");
            let r = self.fill();
            self.stream
                .set_read_timeout(Some(IO_TIMEOUT))
                .expect("set_read_timeout");
            match r {
                Ok(0) => return CloseOutcome::Closed,
                Ok(_) => continue,
                Err(e)
                    if e.kind() == io::ErrorKind::ConnectionReset
                        || e.kind() == io::ErrorKind::ConnectionAborted
                        || e.kind() == io::ErrorKind::BrokenPipe =>
                {
                    return CloseOutcome::Closed
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return CloseOutcome::StillOpen
                }
                Err(e) => panic!("unexpected read error while waiting for close: {e}"),
            }
        }
    }

    /// Asserts that the server closes the connection within 5 s without sending more bytes.
    pub fn assert_closed(&mut self) {
        assert_eq!(
            self.wait_closed(Duration::from_secs(5)),
            CloseOutcome::Closed,
            "server kept the connection open"
        );
    }

    /// Asserts that nothing arrives and the connection stays open for `d`.
    pub fn assert_open_for(&mut self, d: Duration) {
        assert_eq!(
            self.wait_closed(d),
            CloseOutcome::StillOpen,
            "server closed a connection that should have stayed open"
        );
    }

    /// Whether a response (or anything) arrives within `d`, without consuming it.
    pub fn data_within(&mut self, d: Duration) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        self.stream
            .set_read_timeout(Some(d))
            .expect("set_read_timeout");
        let r = self.fill();
        self.stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("set_read_timeout");
        matches!(r, Ok(n) if n > 0)
    }

    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

// ---------------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------------

/// A running `tessera serve`, killed on drop.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
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
        Ok(Server {
            child: Some(child),
            addr,
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
        Conn::connect(self.addr)
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
        let mut form: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut headers = Vec::new();
        client.apply(&mut form, &mut headers);
        let hdrs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.send_raw(&raw_form_post(path, &form_owned(&form), &hdrs))
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
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    rx
}

// ---------------------------------------------------------------------------------------------
// Token responses
// ---------------------------------------------------------------------------------------------

/// A successful token response.
#[derive(Debug, Clone)]
pub struct Issued {
    pub response: Response,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: i64,
    pub token_type: String,
    pub scope: String,
}

impl Issued {
    pub fn from_response(response: Response) -> Issued {
        assert_eq!(
            response.status,
            200,
            "expected a successful token response, got {}",
            response.summary()
        );
        let json = response.json();
        let refresh_token = match json.get("refresh_token") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => panic!("refresh_token is not a string: {other:?}"),
        };
        Issued {
            access_token: response.json_str("access_token"),
            refresh_token,
            expires_in: response.json_i64("expires_in"),
            token_type: response.json_str("token_type"),
            scope: response.json_str("scope"),
            response,
        }
    }

    /// The refresh token; panics when none was issued.
    pub fn refresh_token(&self) -> &str {
        self.refresh_token
            .as_deref()
            .unwrap_or_else(|| panic!("no refresh_token in {}", self.response.summary()))
    }
}

/// The space-separated scope string as a set.
pub fn scope_set(s: &str) -> BTreeSet<String> {
    s.split(' ')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Asserts that `token` has `len` characters from the token alphabet.
pub fn assert_token_shape(token: &str, len: usize) {
    assert_eq!(
        token.len(),
        len,
        "token {token:?} should be {len} characters"
    );
    assert!(
        token.chars().all(|c| TOKEN_ALPHABET.contains(c)),
        "token {token:?} has characters outside A-Z a-z 0-9 - _"
    );
}

// ---------------------------------------------------------------------------------------------
// Error assertions
// ---------------------------------------------------------------------------------------------

/// Asserts an OAuth JSON error: status, `application/json`, `error` code and a string
/// `error_description`.
pub fn assert_oauth_error(resp: &Response, status: u16, error: &str) {
    assert_eq!(
        resp.status,
        status,
        "expected {status} {error}, got {}",
        resp.summary()
    );
    let ct = resp.header("Content-Type").unwrap_or("");
    assert!(
        ct.to_ascii_lowercase().starts_with("application/json"),
        "error Content-Type should be application/json: {}",
        resp.summary()
    );
    let json = resp.json();
    assert_eq!(
        json.get("error").and_then(Value::as_str),
        Some(error),
        "wrong error code: {}",
        resp.summary()
    );
    assert!(
        json.get("error_description")
            .map(Value::is_string)
            .unwrap_or(false),
        "error_description should be a string: {}",
        resp.summary()
    );
}

/// `assert_oauth_error` plus the token-endpoint rule that errors are not cached either.
pub fn assert_token_error(resp: &Response, status: u16, error: &str) {
    assert_oauth_error(resp, status, error);
    assert!(
        resp.header_has_token("Cache-Control", "no-store"),
        "error response should carry Cache-Control: no-store: {}",
        resp.summary()
    );
}

/// `invalid_client` 401 with `WWW-Authenticate: Basic realm="<realm>"` (RFC 6749 §5.2, for a
/// request that tried Basic authentication).
pub fn assert_invalid_client_basic(resp: &Response, realm: &str) {
    assert_oauth_error(resp, 401, "invalid_client");
    let www = resp.header("WWW-Authenticate").unwrap_or_else(|| {
        panic!(
            "401 after Basic authentication needs WWW-Authenticate: {}",
            resp.summary()
        )
    });
    let expected = format!("Basic realm=\"{realm}\"");
    assert!(
        www.trim().eq_ignore_ascii_case(&expected) || www.trim().starts_with(&expected),
        "WWW-Authenticate should be {expected:?}, got {www:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Prometheus text
// ---------------------------------------------------------------------------------------------

/// One sample line of the Prometheus text format.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed `/metrics` page.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub text: String,
    pub samples: Vec<Sample>,
    /// `# TYPE name kind` lines.
    pub types: BTreeMap<String, String>,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut samples = Vec::new();
        let mut types = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut it = rest.split_whitespace();
                if let (Some(n), Some(k)) = (it.next(), it.next()) {
                    types.insert(n.to_string(), k.to_string());
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            if let Some(s) = parse_sample(line) {
                samples.push(s);
            } else {
                panic!("unparseable metrics line {line:?}");
            }
        }
        Metrics {
            text: text.to_string(),
            samples,
            types,
        }
    }

    /// Samples named `name` whose labels include every pair in `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The value of the one sample named `name` with exactly these labels; panics when there
    /// is none.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self
            .find(name, labels)
            .into_iter()
            .filter(|s| s.labels.len() == labels.len())
            .collect();
        match found.as_slice() {
            [s] => s.value,
            [] => panic!("no sample {name}{labels:?} in metrics:\n{}", self.text),
            _ => panic!(
                "several samples {name}{labels:?} in metrics:\n{}",
                self.text
            ),
        }
    }
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (name, labels, rest) = if let Some(open) = line.find('{') {
        let close = line.rfind('}')?;
        let name = &line[..open];
        let labels = parse_labels(&line[open + 1..close])?;
        (name, labels, &line[close + 1..])
    } else {
        let mut it = line.splitn(2, ' ');
        let name = it.next()?;
        (name, BTreeMap::new(), it.next().unwrap_or(""))
    };
    let value_text = rest.split_whitespace().next()?;
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.trim().to_string(),
        labels,
        value,
    })
}

fn parse_labels(s: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i] == b',' || bytes[i] == b' ') {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let eq = s[i..].find('=')? + i;
        let key = s[i..eq].trim().to_string();
        i = eq + 1;
        if bytes.get(i) != Some(&b'"') {
            return None;
        }
        i += 1;
        let mut val = String::new();
        while i < bytes.len() && bytes[i] != b'"' {
            if bytes[i] == b'\\' && i + 1 < bytes.len() {
                i += 1;
                val.push(match bytes[i] {
                    b'n' => '\n',
                    c => c as char,
                });
            } else {
                val.push(bytes[i] as char);
            }
            i += 1;
        }
        i += 1;
        out.insert(key, val);
    }
    Some(out)
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

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
