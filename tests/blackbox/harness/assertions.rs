//! Assertions for the assertion grants (RFC 7523 JWT bearer, RFC 7522 SAML 2.0 bearer) and
//! JWT client authentication, made by tooling nobody on the project wrote: this module runs
//! `tests/tools/assertion.py` (PyJWT and signxml, installed by `.ci/setup` into the venv
//! `$HOME/.cache/tessera/pyassert`; `$TESSERA_PYTHON` names another interpreter) and hands
//! back its output as strings. It also holds the config text of the `[assertions]` and
//! `[[assertion_issuers]]` sections, `JwksServer` (a tiny HTTP server on 127.0.0.1 serving
//! one JWKS, for `jwks_uri`) and the check that an error does not echo the assertion.
//!
//! It starts the Python tool (one process per key or assertion, each waited for) and the
//! JWKS thread, and writes files only inside a `KeyDir` (a `TempDir`). Uses `config` (for
//! `TempDir`, `toml_str`), `response` and `fixtures` (the OAuth error assertions).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use ::base64::Engine as _;
use serde_json::Value;

use super::config::{toml_str, TempDir};
use super::fixtures::{assert_oauth_error, assert_token_error};
use super::response::Response;

/// RFC 7523 §2.1 grant type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// RFC 7522 §2.1 grant type.
pub const SAML2_BEARER: &str = "urn:ietf:params:oauth:grant-type:saml2-bearer";
/// RFC 7523 §2.2 `client_assertion_type`.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The `[assertions] audience` the suite configures: fixed, so every node of a cluster and
/// every assertion made before the server's port is known agree on it.
pub const ASSERTION_AUDIENCE: &str = "https://as.tessera.test/api/oauth/token";

/// The assertion maker.
pub const ASSERTION_TOOL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/assertion.py");

// ---------------------------------------------------------------------------------------------
// Running the tool
// ---------------------------------------------------------------------------------------------

/// The Python that has the tool's packages: `$TESSERA_PYTHON`, else the venv `.ci/setup`
/// makes.
pub fn assertion_python() -> PathBuf {
    if let Some(p) = std::env::var_os("TESSERA_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cache/tessera/pyassert/bin/python")
}

/// Runs `assertion.py ARGS`; returns its stdout without the trailing newline. Panics with
/// the tool's stderr (and how to install it) when it fails.
pub fn run_assertion_tool(args: &[String]) -> String {
    let python = assertion_python();
    let out = Command::new(&python)
        .arg(ASSERTION_TOOL)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} {ASSERTION_TOOL}: {e}. Run .ci/setup (it installs \
                 tests/tools/requirements.txt into $HOME/.cache/tessera/pyassert) or set \
                 TESSERA_PYTHON to a Python with those packages.",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "assertion.py {args:?} failed ({}): {}\n(run .ci/setup if a module is missing)",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("assertion.py prints UTF-8")
        .trim_end()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// The kinds of key the tool makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// RSA 2048 (RS*, PS*; its `.crt` signs SAML).
    Rsa,
    /// P-256 (ES256).
    Ec256,
    /// P-384 (ES384).
    Ec384,
    /// Ed25519 (EdDSA).
    Ed25519,
}

impl KeyKind {
    fn arg(self) -> &'static str {
        match self {
            KeyKind::Rsa => "rsa",
            KeyKind::Ec256 => "ec256",
            KeyKind::Ec384 => "ec384",
            KeyKind::Ed25519 => "ed25519",
        }
    }
}

/// One generated key pair and its files.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// File stem and JWKS `kid`.
    pub name: String,
    pub kind: KeyKind,
    /// `alg` in the JWKS.
    pub alg: String,
    /// PKCS#8 private key PEM.
    pub private: PathBuf,
    /// SubjectPublicKeyInfo PEM (`public_key_files`).
    pub public: PathBuf,
    /// `{"keys": [...]}` with kid = name (`jwks_file`).
    pub jwks: PathBuf,
    /// Self-signed certificate (RSA only; `certificate_files`).
    pub cert: Option<PathBuf>,
}

impl KeyPair {
    /// The certificate; panics for a key that has none.
    pub fn cert(&self) -> &Path {
        self.cert
            .as_deref()
            .unwrap_or_else(|| panic!("key {} ({:?}) has no certificate", self.name, self.kind))
    }

    /// The JWKS document.
    pub fn jwks_json(&self) -> String {
        std::fs::read_to_string(&self.jwks)
            .unwrap_or_else(|e| panic!("read {}: {e}", self.jwks.display()))
    }

    /// The public key PEM file as a TOML string.
    pub fn public_toml(&self) -> String {
        path_toml(&self.public)
    }

    /// The JWKS file as a TOML string.
    pub fn jwks_toml(&self) -> String {
        path_toml(&self.jwks)
    }

    /// The certificate file as a TOML string.
    pub fn cert_toml(&self) -> String {
        path_toml(self.cert())
    }
}

/// A path as a TOML string.
pub fn path_toml(p: &Path) -> String {
    toml_str(p.to_str().expect("UTF-8 temp path"))
}

/// One test's keys: generated on first request by name, kept in the test's own temp dir
/// (removed on drop) with the other files its config names.
#[derive(Debug)]
pub struct KeyDir {
    dir: TempDir,
    keys: HashMap<String, KeyPair>,
}

impl KeyDir {
    pub fn new(tag: &str) -> KeyDir {
        KeyDir {
            dir: TempDir::new(tag),
            keys: HashMap::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A file path inside the directory (not created).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file inside the directory.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        self.dir.write(name, contents)
    }

    /// The key `name`, generated with the kind's default JWKS `alg` (RS256, ES256, ES384,
    /// EdDSA) the first time it is asked for.
    pub fn key(&mut self, name: &str, kind: KeyKind) -> KeyPair {
        let alg = match kind {
            KeyKind::Rsa => "RS256",
            KeyKind::Ec256 => "ES256",
            KeyKind::Ec384 => "ES384",
            KeyKind::Ed25519 => "EdDSA",
        };
        self.key_with_alg(name, kind, alg)
    }

    /// The key `name` whose JWK names `alg` (e.g. an RSA key for PS256).
    pub fn key_with_alg(&mut self, name: &str, kind: KeyKind, alg: &str) -> KeyPair {
        if let Some(k) = self.keys.get(name) {
            assert!(
                k.kind == kind && k.alg == alg,
                "key {name} already made as {:?}/{}, asked for {kind:?}/{alg}",
                k.kind,
                k.alg
            );
            return k.clone();
        }
        let out = run_assertion_tool(&[
            "keys".to_string(),
            format!("--kind={}", kind.arg()),
            format!("--out={}", self.dir.path().display()),
            format!("--name={name}"),
            format!("--alg={alg}"),
        ]);
        let paths: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("assertion.py keys printed {out:?}: {e}"));
        let path = |k: &str| {
            paths
                .get(k)
                .and_then(Value::as_str)
                .map(PathBuf::from)
                .unwrap_or_else(|| panic!("assertion.py keys: no {k} in {out}"))
        };
        let pair = KeyPair {
            name: name.to_string(),
            kind,
            alg: alg.to_string(),
            private: path("private"),
            public: path("public"),
            jwks: path("jwks"),
            cert: (kind == KeyKind::Rsa).then(|| path("cert")),
        };
        self.keys.insert(name.to_string(), pair.clone());
        pair
    }
}

/// One JWKS document holding the keys of every given key pair.
pub fn merge_jwks(keys: &[&KeyPair]) -> String {
    let mut all = Vec::new();
    for k in keys {
        let doc: Value = serde_json::from_str(&k.jwks_json()).expect("JWKS JSON");
        if let Some(Value::Array(list)) = doc.get("keys") {
            all.extend(list.iter().cloned());
        }
    }
    serde_json::json!({ "keys": all }).to_string()
}

// ---------------------------------------------------------------------------------------------
// JWTs
// ---------------------------------------------------------------------------------------------

/// A JWT for `assertion.py jwt`: who signs and how, then the claims. Defaults of the tool:
/// `exp` now + 120 s, `iat` now, a random `jti`, no `nbf`.
#[derive(Debug, Clone)]
pub struct JwtSpec {
    args: Vec<String>,
}

impl JwtSpec {
    fn with(args: Vec<String>) -> JwtSpec {
        let mut all = vec!["jwt".to_string()];
        all.extend(args);
        JwtSpec { args: all }
    }

    /// Signed by `key` with `alg` (RS256, PS256, ES256, ES384, EdDSA, ...), `kid` = the
    /// key's name.
    pub fn signed(key: &KeyPair, alg: &str) -> JwtSpec {
        JwtSpec::with(vec![
            format!("--key={}", key.private.display()),
            format!("--alg={alg}"),
            format!("--kid={}", key.name),
        ])
    }

    /// HS256 with a shared secret (`client_secret_jwt`).
    pub fn hs256(secret: &str) -> JwtSpec {
        JwtSpec::with(vec![
            "--alg=HS256".to_string(),
            format!("--secret={secret}"),
        ])
    }

    /// `alg: none`, empty signature (RFC 7515 §A.5), made by hand.
    pub fn alg_none() -> JwtSpec {
        JwtSpec::with(vec!["--alg-none".to_string()])
    }

    /// HS256 keyed with the bytes of `key`'s public PEM file: the RS/HS confusion forgery.
    pub fn hs256_with_public_key(key: &KeyPair) -> JwtSpec {
        JwtSpec::with(vec![
            format!("--hs256-with-public-key={}", key.public.display()),
            format!("--kid={}", key.name),
        ])
    }

    fn arg(mut self, a: String) -> JwtSpec {
        self.args.push(a);
        self
    }

    pub fn iss(self, v: &str) -> JwtSpec {
        self.arg(format!("--iss={v}"))
    }

    pub fn sub(self, v: &str) -> JwtSpec {
        self.arg(format!("--sub={v}"))
    }

    /// Adds an audience (one is sent as a string, several as an array).
    pub fn aud(self, v: &str) -> JwtSpec {
        self.arg(format!("--aud={v}"))
    }

    /// `iss`, `sub` and one `aud` at once.
    pub fn claims(self, iss: &str, sub: &str, aud: &str) -> JwtSpec {
        self.iss(iss).sub(sub).aud(aud)
    }

    /// `exp` = now + `secs`.
    pub fn exp_in(self, secs: i64) -> JwtSpec {
        self.arg(format!("--exp-in={secs}"))
    }

    pub fn no_exp(self) -> JwtSpec {
        self.arg("--no-exp".to_string())
    }

    /// `nbf` = now + `secs`.
    pub fn nbf_in(self, secs: i64) -> JwtSpec {
        self.arg(format!("--nbf-in={secs}"))
    }

    /// `iat` = now + `secs`.
    pub fn iat_in(self, secs: i64) -> JwtSpec {
        self.arg(format!("--iat-in={secs}"))
    }

    pub fn no_iat(self) -> JwtSpec {
        self.arg("--no-iat".to_string())
    }

    pub fn jti(self, v: &str) -> JwtSpec {
        self.arg(format!("--jti={v}"))
    }

    pub fn no_jti(self) -> JwtSpec {
        self.arg("--no-jti".to_string())
    }

    /// Overrides the `kid` header.
    pub fn kid(self, v: &str) -> JwtSpec {
        self.arg(format!("--kid={v}"))
    }

    /// A JSON object merged into the header.
    pub fn header_extra(self, json: &str) -> JwtSpec {
        self.arg(format!("--header-extra={json}"))
    }

    /// Changes `sub` after signing (header and signature kept).
    pub fn tamper(self) -> JwtSpec {
        self.arg("--tamper".to_string())
    }

    /// The compact JWS.
    pub fn make(&self) -> String {
        let jws = run_assertion_tool(&self.args);
        assert_eq!(
            jws.split('.').count(),
            3,
            "assertion.py {:?} printed {jws:?}, not a compact JWS",
            self.args
        );
        jws
    }
}

// ---------------------------------------------------------------------------------------------
// SAML assertions
// ---------------------------------------------------------------------------------------------

/// A SAML 2.0 assertion for `assertion.py saml`. Defaults of the tool: `NotBefore` now,
/// `NotOnOrAfter` now + 120 s (Conditions and the bearer SubjectConfirmationData), a random
/// `ID`, RSA-SHA256 with exclusive c14n.
#[derive(Debug, Clone)]
pub struct SamlSpec {
    args: Vec<String>,
}

impl SamlSpec {
    /// Signed by `key` (RSA) with its certificate in KeyInfo; `audience` is both the
    /// Audience and the Recipient.
    pub fn signed(key: &KeyPair, issuer: &str, name_id: &str, audience: &str) -> SamlSpec {
        SamlSpec {
            args: vec![
                "saml".to_string(),
                format!("--key={}", key.private.display()),
                format!("--cert={}", key.cert().display()),
                format!("--issuer={issuer}"),
                format!("--name-id={name_id}"),
            ],
        }
        .audience(audience)
        .recipient(audience)
    }

    /// No signature at all.
    pub fn unsigned(issuer: &str, name_id: &str, audience: &str) -> SamlSpec {
        SamlSpec {
            args: vec![
                "saml".to_string(),
                "--unsigned".to_string(),
                format!("--issuer={issuer}"),
                format!("--name-id={name_id}"),
            ],
        }
        .audience(audience)
        .recipient(audience)
    }

    fn arg(mut self, a: String) -> SamlSpec {
        self.args.push(a);
        self
    }

    /// Replaces every `--flag=...` already given.
    fn replace(mut self, flag: &str, value: &str) -> SamlSpec {
        let prefix = format!("{flag}=");
        self.args.retain(|a| !a.starts_with(&prefix));
        self.arg(format!("{flag}={value}"))
    }

    /// Replaces the Audience.
    pub fn audience(self, v: &str) -> SamlSpec {
        self.replace("--audience", v)
    }

    /// Replaces the bearer Recipient.
    pub fn recipient(self, v: &str) -> SamlSpec {
        self.replace("--recipient", v)
    }

    /// No Recipient attribute.
    pub fn no_recipient(mut self) -> SamlSpec {
        self.args.retain(|a| !a.starts_with("--recipient="));
        self
    }

    pub fn confirmation_method(self, uri: &str) -> SamlSpec {
        self.replace("--confirmation-method", uri)
    }

    /// Conditions `NotBefore` = now + `secs`.
    pub fn not_before_in(self, secs: i64) -> SamlSpec {
        self.replace("--not-before-in", &secs.to_string())
    }

    /// `NotOnOrAfter` = now + `secs`.
    pub fn not_on_or_after_in(self, secs: i64) -> SamlSpec {
        self.replace("--not-on-or-after-in", &secs.to_string())
    }

    pub fn id(self, v: &str) -> SamlSpec {
        self.replace("--id", v)
    }

    /// RSA-SHA1 signature and SHA-1 digest.
    pub fn sha1(self) -> SamlSpec {
        self.arg("--sha1".to_string())
    }

    /// `xsw1`..`xsw8`, `comment-in-nameid`, `dtd`, `xxe`, `second-subject`.
    pub fn attack(self, name: &str) -> SamlSpec {
        self.replace("--attack", name)
    }

    /// The NameID the wrapping attacks smuggle in (default `admin`).
    pub fn evil_name_id(self, v: &str) -> SamlSpec {
        self.replace("--evil-name-id", v)
    }

    /// The file the `xxe` entity points at.
    pub fn xxe_file(self, p: &Path) -> SamlSpec {
        self.replace("--xxe-file", &p.display().to_string())
    }

    /// The base64url (unpadded) `assertion` parameter.
    pub fn make(&self) -> String {
        run_assertion_tool(&self.args)
    }

    /// The XML itself (for failure messages).
    pub fn xml(&self) -> String {
        let mut args = self.args.clone();
        args.push("--xml".to_string());
        run_assertion_tool(&args)
    }
}

// ---------------------------------------------------------------------------------------------
// Config text
// ---------------------------------------------------------------------------------------------

/// `[assertions]` with `audience = ASSERTION_AUDIENCE` and `extra` lines (`key = raw TOML`).
/// Appended after `ConfigBuilder::build()`: a table after the arrays of tables is valid TOML.
pub fn assertions_section(extra: &[(&str, &str)]) -> String {
    let mut s = format!(
        "\n[assertions]\naudience = {}\n",
        toml_str(ASSERTION_AUDIENCE)
    );
    for (k, v) in extra {
        s.push_str(&format!("{k} = {v}\n"));
    }
    s
}

/// One `[[assertion_issuers]]` entry; `lines` are its key-specific `key = value` lines
/// (`public_key_files = [...]`, `certificate_files = [...]`, `allow_sha1 = true`).
pub fn issuer_block(id: &str, kind: &str, issuer: &str, clients: &[&str], lines: &str) -> String {
    let clients: Vec<String> = clients.iter().map(|c| toml_str(c)).collect();
    format!(
        "\n[[assertion_issuers]]\nid = {}\nkind = {}\nissuer = {}\nclients = [{}]\n{}\n",
        toml_str(id),
        toml_str(kind),
        toml_str(issuer),
        clients.join(", "),
        lines.trim()
    )
}

// ---------------------------------------------------------------------------------------------
// Requests and checks
// ---------------------------------------------------------------------------------------------

/// The form fields of a JWT client authentication (RFC 7523 §2.2).
pub fn client_assertion_fields(jwt: &str) -> [(&str, &str); 2] {
    [
        ("client_assertion_type", CLIENT_ASSERTION_TYPE),
        ("client_assertion", jwt),
    ]
}

/// Asserts an OAuth error from the token endpoint (status, `error`, `no-store`) that does
/// not echo `assertion` (see `assert_not_echoed`).
pub fn assert_assertion_error(resp: &Response, status: u16, error: &str, assertion: &str) {
    assert_token_error(resp, status, error);
    assert_not_echoed(resp, assertion);
}

/// `assert_oauth_error` (no `Cache-Control` rule: revoke and introspect) plus
/// `assert_not_echoed`.
pub fn assert_endpoint_error(resp: &Response, status: u16, error: &str, assertion: &str) {
    assert_oauth_error(resp, status, error);
    assert_not_echoed(resp, assertion);
}

/// Asserts that the response is one of `(status, error)` and does not echo `assertion`.
pub fn assert_assertion_error_among(resp: &Response, allowed: &[(u16, &str)], assertion: &str) {
    let code = resp
        .json()
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_default();
    let Some((status, error)) = allowed
        .iter()
        .find(|(s, e)| *s == resp.status && *e == code)
    else {
        panic!("expected one of {allowed:?}, got {}", resp.summary());
    };
    assert_oauth_error(resp, *status, error);
    assert_not_echoed(resp, assertion);
}

/// The response (headers and body) must not contain the assertion, any 24-character piece
/// of it, nor (for a JWT) its `jti` or (for SAML) its `ID`: an error description names the
/// failed check and never copies attacker-supplied text back.
pub fn assert_not_echoed(resp: &Response, assertion: &str) {
    let mut everything = resp.text();
    for (name, value) in &resp.headers {
        everything.push_str(name);
        everything.push_str(value);
    }
    assert!(
        !everything.contains(assertion),
        "the response echoes the assertion: {}",
        resp.summary()
    );
    const WINDOW: usize = 24;
    let mut start = 0;
    // Assertions are base64url and '.', so every byte index is a char boundary.
    while assertion.is_ascii() && start + WINDOW <= assertion.len() {
        let piece = &assertion[start..start + WINDOW];
        assert!(
            !everything.contains(piece),
            "the response echoes part of the assertion ({piece:?}): {}",
            resp.summary()
        );
        start += WINDOW / 2;
    }
    for secret in identifiers_of(assertion) {
        assert!(
            !everything.contains(&secret),
            "the response echoes the assertion's identifier {secret:?}: {}",
            resp.summary()
        );
    }
}

/// The `jti` of a JWT, or the `ID` attributes of a SAML assertion, if readable.
fn identifiers_of(assertion: &str) -> Vec<String> {
    let b64 = ::base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = assertion.split('.').collect();
    if parts.len() == 3 {
        let claims = b64
            .decode(parts[1].trim_end_matches('='))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        return claims
            .and_then(|c| c.get("jti").and_then(Value::as_str).map(str::to_string))
            .into_iter()
            .filter(|j| j.len() >= 8)
            .collect();
    }
    let Ok(xml) = b64.decode(assertion.trim_end_matches('=')) else {
        return Vec::new();
    };
    let xml = String::from_utf8_lossy(&xml);
    xml.split(" ID=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|id| id.len() >= 8)
        .map(str::to_string)
        .collect()
}

/// The `user_id` tokeninfo reports for `token`, `None` for a client token; panics unless
/// tokeninfo accepts it.
pub fn user_of(resp: &Response) -> Option<String> {
    assert_eq!(resp.status, 200, "tokeninfo: {}", resp.summary());
    resp.json()
        .get("user_id")
        .and_then(Value::as_str)
        .map(str::to_string)
}

// ---------------------------------------------------------------------------------------------
// JWKS server
// ---------------------------------------------------------------------------------------------

/// The path `JwksServer` answers on.
pub const JWKS_PATH: &str = "/jwks.json";

/// A tiny HTTP/1.1 server on 127.0.0.1 that answers `GET /jwks.json` with the current JWKS
/// (`Connection: close`), 404 anything else, and counts the JWKS requests. Stopped on drop.
#[derive(Debug)]
pub struct JwksServer {
    addr: SocketAddr,
    body: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl JwksServer {
    pub fn start(jwks: &str) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind JWKS server");
        let addr = listener.local_addr().expect("JWKS server address");
        let body = Arc::new(Mutex::new(jwks.to_string()));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (body, hits, stop) = (Arc::clone(&body), Arc::clone(&hits), Arc::clone(&stop));
            thread::Builder::new()
                .name("jwks-server".to_string())
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        if let Ok(stream) = conn {
                            serve_one(stream, &body, &hits);
                        }
                    }
                })
                .expect("spawn JWKS server")
        };
        JwksServer {
            addr,
            body,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/jwks.json`.
    pub fn url(&self) -> String {
        format!("http://{}{JWKS_PATH}", self.addr)
    }

    /// Serves `jwks` from now on (a key rotation at the issuer).
    pub fn serve(&self, jwks: &str) {
        *self.body.lock().unwrap_or_else(PoisonError::into_inner) = jwks.to_string();
    }

    /// How many JWKS requests have been answered.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Reads one request head (5 s limit) and answers it.
fn serve_one(mut stream: TcpStream, body: &Mutex<String>, hits: &AtomicUsize) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut request_line = head.lines().next().unwrap_or("").split(' ');
    let method = request_line.next().unwrap_or("");
    let target = request_line.next().unwrap_or("");
    let response = if method == "GET" && target == JWKS_PATH {
        hits.fetch_add(1, Ordering::SeqCst);
        let json = body.lock().unwrap_or_else(PoisonError::into_inner).clone();
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n\r\n{json}",
            json.len()
        )
    } else {
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
    };
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so the thread sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
