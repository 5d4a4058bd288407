//! The OAuth side of the suite: the credentials a test presents (`Client`, `AuthMethod` and
//! one function per client of the standard config, such as `confidential_client()`), what a
//! successful token response holds (`Issued`), and the assertions on token shape and on OAuth
//! error responses (RFC 6749 §5.2, RFC 6750).
//!
//! It builds values and checks `Response`s; it touches no socket, process or file. The server
//! side of each fixture client (its `[[clients]]` block) is in `config.rs`, and so are the
//! standard users' credentials (`ALICE`, `BOB`, `CAROL_PASSWORD`), next to their `[[users]]`
//! blocks.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::client::basic_auth;
use super::response::Response;

/// The characters a token may contain (RFC 6749 §A.12 / RFC 6750 §2.1 `b64token` subset).
pub const TOKEN_ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

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

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
