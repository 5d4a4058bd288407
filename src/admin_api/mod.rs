//! The admin listener (`[admin] listen`): the management API, the live status page, the
//! OpenAPI document and, with `[admin] metrics = true`, `/metrics`. Never served on the
//! public listeners.
//!
//! - [`server`]: the `tessera-admin` thread, its runtime and accept loop.
//! - this file: [`AdminService`] — routing and the bearer-token check.
//! - [`status`]: the status page and the history it draws.
//! - `clients`, `users`, `tokens`, `store`: the management calls (issue 16's contract,
//!   documented in docs/openapi.json). Client and user changes go through
//!   [`crate::manage`], the implementation `tessera client` / `tessera user` share.
//! - `reply`: the JSON bodies and errors of the management API.
//!
//! Every path needs `Authorization: Bearer <admin token>`, checked in constant time
//! against `admin.admin_token_hash`, except `GET /` (the status page's shell, which holds
//! no data and asks for the token), `/health` and `/openapi.json`.

mod clients;
mod reply;
mod revoke;
pub mod server;
pub mod status;
mod store;
mod tokens;
mod users;

use crate::config::Config;
use crate::http::response::{error_body, header};
use crate::http::{Method, Reply, Request, Service};
use crate::manage::directory::Directory;
use crate::manage::ManageError;
use crate::oauth::secret::SecretHash;
use crate::state::App;
use std::sync::Arc;

/// The realm of the admin listener's `WWW-Authenticate` challenges.
const REALM: &str = "tessera-admin";

/// The OpenAPI 3.1 document of the public paths and of this API.
static OPENAPI: &[u8] = include_bytes!("../../docs/openapi.json");

/// The request service of the admin listener (lives on the admin thread).
#[derive(Debug)]
pub struct AdminService {
    app: Arc<App>,
    /// `admin.admin_token_hash`, parsed once. `None` only if the config was not validated,
    /// and then every authenticated call is refused.
    token: Option<SecretHash>,
    status: status::Status,
}

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Page,
    Health,
    OpenApi,
    Metrics,
    Status,
    /// `/admin/clients[/...]`, `/admin/users[/...]`: the rest of the path is theirs.
    Clients,
    Users,
    Revoke,
    Tokens,
    Store,
}

/// One management call: the App and the request.
#[derive(Clone, Copy)]
struct Call<'a, 'r> {
    app: &'a Arc<App>,
    req: &'a Request<'r>,
}

impl Route {
    /// The route of `path` and the methods it answers (HEAD goes with GET).
    fn of(path: &str) -> Option<(Route, &'static str)> {
        Some(match path {
            "/" => (Route::Page, "GET, HEAD"),
            "/health" => (Route::Health, "GET, HEAD"),
            "/openapi.json" => (Route::OpenApi, "GET, HEAD"),
            "/metrics" => (Route::Metrics, "GET, HEAD"),
            "/admin/status" => (Route::Status, "GET, HEAD"),
            "/admin/revoke" => (Route::Revoke, "POST"),
            "/admin/tokens" => (Route::Tokens, "GET, HEAD"),
            "/admin/store" => (Route::Store, "GET, HEAD"),
            p if p == "/admin/clients" || p.starts_with("/admin/clients/") => (Route::Clients, ""),
            p if p == "/admin/users" || p.starts_with("/admin/users/") => (Route::Users, ""),
            _ => return None,
        })
    }

    /// Routes that check their methods themselves (they answer several).
    fn own_methods(self) -> bool {
        matches!(self, Route::Clients | Route::Users | Route::Revoke)
    }

    fn public(self) -> bool {
        matches!(self, Route::Page | Route::Health | Route::OpenApi)
    }
}

impl AdminService {
    pub fn new(app: Arc<App>) -> AdminService {
        let token = token_hash(&app.config);
        AdminService {
            app,
            token,
            status: status::Status::new(),
        }
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// One sample of the status page's history (the admin thread calls it each second).
    pub fn sample(&self) {
        self.status.sample(&self.app);
    }

    /// Whether `req` carries the admin bearer token.
    fn authorized(&self, req: &Request<'_>) -> bool {
        let Some(hash) = &self.token else {
            return false;
        };
        let Some(value) = req.authorization else {
            return false;
        };
        // RFC 6750 §2.1: the scheme is case-insensitive, one space, then the token.
        match value.split_at_checked(7) {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case(b"bearer ") => hash.verify(token),
            _ => false,
        }
    }
}

fn token_hash(config: &Config) -> Option<SecretHash> {
    config
        .admin
        .admin_token_hash
        .as_deref()
        .and_then(|h| SecretHash::parse(h).ok())
}

impl Service for AdminService {
    async fn call(&self, req: &Request<'_>, body: &mut Vec<u8>, headers: &mut Vec<u8>) -> Reply {
        let Some((route, allow)) = Route::of(req.path) else {
            error_body(body, "not_found", "no such path on the admin listener");
            return Reply::json(404);
        };
        if !route.own_methods() && !matches!(req.method, Method::Get | Method::Head) {
            return not_allowed(body, allow);
        }
        if !route.public() && !self.authorized(req) {
            return unauthorized(req, body, headers);
        }
        let call = Call {
            app: &self.app,
            req,
        };
        match route {
            Route::Page => {
                body.extend_from_slice(status::page());
                status::page_headers(headers);
                Reply {
                    no_store: true,
                    ..Reply::html(200)
                }
            }
            Route::Health => {
                body.extend_from_slice(br#"{"status":"ok"}"#);
                Reply::json(200)
            }
            Route::OpenApi => {
                body.extend_from_slice(OPENAPI);
                Reply::json(200)
            }
            Route::Metrics => {
                let clients = self.app.clients();
                crate::endpoints::metrics::render(&self.app, &clients, body)
            }
            Route::Status => {
                self.status.json(&self.app, body);
                Reply::sensitive_json(200)
            }
            Route::Clients => {
                clients::handle(call, &req.path["/admin/clients".len()..], body).await
            }
            Route::Users => users::handle(call, &req.path["/admin/users".len()..], body).await,
            Route::Revoke => tokens::revoke_handler(call, body).await,
            Route::Tokens => tokens::counts_handler(call, body).await,
            Route::Store => store::handle(call, body).await,
        }
    }

    fn realm(&self) -> &str {
        REALM
    }
}

/// 401 with a Bearer challenge (RFC 6750 §3): `invalid_token` when a token was sent.
fn unauthorized(req: &Request<'_>, body: &mut Vec<u8>, headers: &mut Vec<u8>) -> Reply {
    crate::audit::admin_auth_failed(req.peer, req.authorization.is_some());
    let challenge = if req.authorization.is_some() {
        error_body(body, "invalid_token", "the admin token is not valid");
        format!("Bearer realm=\"{REALM}\", error=\"invalid_token\"")
    } else {
        error_body(
            body,
            "invalid_token",
            "this call needs the admin bearer token",
        );
        format!("Bearer realm=\"{REALM}\"")
    };
    header(headers, "WWW-Authenticate", &challenge);
    Reply::sensitive_json(401)
}

/// 405 with the methods the path answers.
fn not_allowed(body: &mut Vec<u8>, allow: &'static str) -> Reply {
    error_body(
        body,
        "method_not_allowed",
        "method not allowed on this path",
    );
    Reply {
        allow: Some(allow),
        ..Reply::sensitive_json(405)
    }
}

/// Runs `f` on the admin runtime's blocking pool; `None` if it was cancelled (shutdown).
async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    monoio::spawn_blocking(f).await.ok()
}

/// Reads the client and user directory on the blocking pool (a shared store's I/O). `Err`
/// is the finished reply: the store's error, or 503 when the task was cancelled.
async fn read_directory<T: Send + 'static>(
    call: Call<'_, '_>,
    body: &mut Vec<u8>,
    read: impl FnOnce(Directory<'_>, &Config) -> Result<T, ManageError> + Send + 'static,
) -> Result<T, Reply> {
    let app = call.app.clone();
    settle(
        body,
        blocking(move || read(Directory::of(app.directory.as_ref()), &app.config)).await,
    )
}

/// Changes the directory on the blocking pool (store I/O, argon2id), then serves the change
/// on this node at once. `Err` is the finished reply, as for [`read_directory`].
async fn change_directory<T: Send + 'static>(
    call: Call<'_, '_>,
    body: &mut Vec<u8>,
    change: impl FnOnce(Directory<'_>, &Config) -> Result<T, ManageError> + Send + 'static,
) -> Result<T, Reply> {
    let app = call.app.clone();
    let done = blocking(move || {
        let done = change(Directory::of(app.directory.as_ref()), &app.config)?;
        reload_registry(&app);
        Ok(done)
    })
    .await;
    settle(body, done)
}

fn settle<T>(body: &mut Vec<u8>, done: Option<Result<T, ManageError>>) -> Result<T, Reply> {
    match done {
        Some(Ok(value)) => Ok(value),
        Some(Err(e)) => Err(reply::manage_error(body, &e)),
        None => Err(reply::cancelled(body)),
    }
}

/// A percent-decoded path segment (a client id or username); `None` if it is not UTF-8.
fn segment(raw: &str) -> Option<String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// After a change to the directory: this node serves it at once (other nodes sharing the
/// store within `revocation_propagation_ms`). A failed read leaves the registry as it was
/// until the next reload.
fn reload_registry(app: &App) {
    let dir = Directory::of(app.directory.as_ref());
    if let Err(e) = crate::cluster::sync::reload(&app.config, dir, &app.registry) {
        tracing::warn!(error = %e, "cannot reload clients and users after an admin change");
    }
}

/// An admin change, for the audit log.
fn audit(call: Call<'_, '_>, action: &str, object: &str, id: &str) {
    crate::audit::admin_change(action, object, id, call.req.peer);
}
