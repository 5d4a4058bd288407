//! What a server under test is started with: the TOML config text (`ConfigBuilder`, the
//! suite's standard config with its fixture clients and users, `toml_str` quoting) and the
//! temporary directories its config file and data live in (`TempDir`).
//!
//! It builds text and touches the file system only below `std::env::temp_dir()`; it starts
//! no process and opens no socket (`server.rs` does). The test-side credentials of the
//! standard clients are in `fixtures.rs`; a client added here wants a fixture function there.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

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
    security: Vec<(String, String)>,
    authorize: Vec<(String, String)>,
    oidc: Vec<(String, String)>,
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
            security: Vec::new(),
            authorize: Vec::new(),
            oidc: Vec::new(),
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

    pub fn security(mut self, key: &str, value: &str) -> ConfigBuilder {
        set_key(&mut self.security, key, value);
        self
    }

    pub fn authorize(mut self, key: &str, value: &str) -> ConfigBuilder {
        set_key(&mut self.authorize, key, value);
        self
    }

    pub fn oidc(mut self, key: &str, value: &str) -> ConfigBuilder {
        set_key(&mut self.oidc, key, value);
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
            ("security", &self.security),
            ("authorize", &self.authorize),
            ("oidc", &self.oidc),
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

/// Client blocks of the standard config. Each has a fixture function in `fixtures.rs`.
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
