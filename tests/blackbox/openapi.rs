//! `docs/openapi.json` against the server it describes (issue 16).
//!
//! - The document itself: valid JSON, OpenAPI 3.1, every `$ref` resolves, and it lists every
//!   route of `src/router.rs` with exactly the methods the router serves (and its `Allow`
//!   header names) — so a route added to the router without its documentation fails here.
//! - Schemathesis (pinned in `tests/tools/requirements.txt`, installed by `.ci/setup` into the
//!   project's venv) generates requests from the document and sends them to a real Tessera
//!   with every check on: `not_a_server_error`, `status_code_conformance`,
//!   `content_type_conformance`, `response_schema_conformance`,
//!   `response_headers_conformance`, and the rest (`negative_data_rejection`,
//!   `positive_data_acceptance`, `unsupported_method`, `allow_header_conformance`,
//!   `missing_required_header`, `ignored_auth`, …). Its configuration is
//!   `tests/openapi/schemathesis.toml` (what is tuned per operation, and why) and its hook
//!   `tests/openapi/tessera_hooks.py` (the bearer token of tokeninfo and userinfo). The
//!   requests are realistic: Basic credentials of a real client, a real access token of a
//!   user with `openid`, a registered client and redirect URI at the authorization endpoint.
//!   Generation is deterministic, so a failure reproduces; the output names each failure
//!   with a `curl` line to replay it.

use crate::harness::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn document() -> Value {
    let path = repo().join("docs/openapi.json");
    let text = std::fs::read_to_string(&path).expect("read docs/openapi.json");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("docs/openapi.json is not JSON: {e}"))
}

/// `(path, Allow header)` of every route in `src/router.rs`'s `ROUTES` table, read from the
/// source: each entry holds exactly two string literals, the path and the `Allow` value.
fn router_routes() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("src/router.rs")).expect("read src/router.rs");
    let start = text.find("const ROUTES").expect("ROUTES in src/router.rs");
    let table = &text[start..];
    let table = &table[..table.find("];").expect("end of ROUTES")];
    let literals: Vec<&str> = table.split('"').skip(1).step_by(2).collect();
    assert!(
        literals.len() % 2 == 0,
        "ROUTES entries are no longer (path, .., allow): {literals:?}"
    );
    let routes: Vec<(String, String)> = literals
        .chunks(2)
        .map(|pair| (pair[0].to_owned(), pair[1].to_owned()))
        .collect();
    for (path, allow) in &routes {
        assert!(path.starts_with('/'), "{path} is not a path");
        assert!(
            allow
                .split(", ")
                .all(|m| ["GET", "HEAD", "POST"].contains(&m)),
            "{allow} is not an Allow value"
        );
    }
    routes
}

/// `(path, Allow header)` of every route of the admin listener, read from
/// `src/admin_api/mod.rs`: its match arms `"/path" => (Route::X, "GET, HEAD")` (the Allow
/// value empty for a route that checks its methods itself).
fn admin_routes() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("src/admin_api/mod.rs"))
        .expect("read src/admin_api/mod.rs");
    let routes: Vec<(String, String)> = text
        .lines()
        .filter(|l| l.contains("=> (Route::"))
        .filter_map(|l| {
            let literals: Vec<&str> = l.split('"').skip(1).step_by(2).collect();
            match literals.as_slice() {
                [path, .., allow] if path.starts_with('/') => {
                    Some(((*path).to_owned(), (*allow).to_owned()))
                }
                _ => None,
            }
        })
        .collect();
    assert!(routes.len() >= 5, "only {} admin routes read", routes.len());
    routes
}

const OPERATIONS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every `$ref` in `v` (they are all local, `#/...`).
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn openapi_json_is_openapi_3_1_and_every_ref_resolves() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(
        found.len() > 50,
        "only {} $refs: is the walk broken?",
        found.len()
    );
    for r in found {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r}: only local references"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
}

#[test]
fn openapi_json_lists_every_route_of_the_router_with_its_methods() {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    let routes = router_routes();
    assert!(routes.len() >= 12, "only {} routes read", routes.len());
    for (path, allow) in &routes {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} (src/router.rs) is not in docs/openapi.json"));
        let documented: BTreeSet<String> = OPERATIONS
            .iter()
            .filter(|m| item.get(**m).is_some())
            .map(|m| m.to_uppercase())
            .collect();
        let served: BTreeSet<String> = allow.split(", ").map(str::to_owned).collect();
        assert_eq!(documented, served, "{path}: documented methods vs Allow");
        for m in &documented {
            let op = &item[m.to_lowercase()];
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{m} {path}: no success response"
            );
        }
    }
    // Nothing public is documented that the router does not serve; the rest is the admin
    // listener's.
    for path in paths.keys() {
        let public = routes.iter().any(|(p, _)| p == path);
        let admin = path == "/" || path == "/openapi.json" || path.starts_with("/admin/");
        assert!(public || admin, "{path} is documented but not routed");
    }
}

#[test]
fn openapi_json_lists_every_route_of_the_admin_listener() {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    for (path, allow) in admin_routes() {
        let item = paths
            .get(&path)
            .unwrap_or_else(|| panic!("{path} (src/admin_api) is not in docs/openapi.json"));
        // An empty Allow: the route answers several paths below it and checks its methods
        // itself (`/admin/clients/...`); its sub-paths are documented with their methods.
        for m in allow.split(", ").filter(|m| !m.is_empty()) {
            // HEAD is GET without the body; the document lists it where the public router
            // serves it, and the admin listener serves it with every GET.
            if m == "HEAD" {
                continue;
            }
            assert!(
                item.get(m.to_lowercase()).is_some(),
                "{m} {path}: served by the admin listener, not in docs/openapi.json"
            );
        }
    }
}

/// The Schemathesis executable of the venv `.ci/setup` makes (beside the assertion tool's
/// Python; `$TESSERA_PYTHON` names another).
fn schemathesis() -> PathBuf {
    let python = crate::harness::assertions::assertion_python();
    let exe = python.with_file_name("schemathesis");
    assert!(
        exe.exists(),
        "{} not found: run .ci/setup (it installs tests/tools/requirements.txt)",
        exe.display()
    );
    exe
}

/// Client of the Basic credentials Schemathesis sends: every grant a generated token
/// request can name that needs no signed assertion, and the OpenID scopes.
const API_CLIENT: (&str, &str) = ("openapi-svc", "openapi-secret");
/// The browser client of the authorization and logout endpoints.
const WEB_CLIENT: &str = "openapi-web";
const WEB_REDIRECT_URI: &str = "https://app.example/cb";
const WEB_LOGOUT_URI: &str = "https://app.example/signed-out";
const USER: (&str, &str) = ("olivia", "olivia-pw");

fn config() -> String {
    ConfigBuilder::standard()
        // Schemathesis sends wrong credentials on purpose (`ignored_auth`); a lockout of the
        // test's own address would turn the rest of the run into 429s.
        .security("failed_auth_limit", "10000")
        .security("failed_auth_limit_per_address", "10000")
        .client(&format!(
            r#"id = "{}"
secret = "{}"
grant_types = ["client_credentials", "password", "refresh_token"]
scopes = ["openid", "profile", "email", "read"]
default_scopes = ["read"]
metadata = {{ team = "api" }}"#,
            API_CLIENT.0, API_CLIENT.1
        ))
        .client(&format!(
            r#"id = "{WEB_CLIENT}"
secret = "web-secret"
grant_types = ["authorization_code", "implicit", "refresh_token"]
scopes = ["openid", "profile", "email", "read"]
redirect_uris = ["{WEB_REDIRECT_URI}"]
post_logout_redirect_uris = ["{WEB_LOGOUT_URI}"]"#
        ))
        .user(&format!(
            r#"username = "{}"
password = "{}"
claims = {{ name = "Olivia", email = "olivia@example.com" }}"#,
            USER.0, USER.1
        ))
        .build()
}

/// The admin bearer token of the test server, and the `[admin]` section carrying its hash.
const ADMIN_TOKEN: &str = "openapi-admin-token-0123456789abcdef";

fn admin_section() -> String {
    let out = run_cli(&["hash-secret"], Some(ADMIN_TOKEN.as_bytes()));
    assert!(out.status.success(), "hash-secret: {out:?}");
    let hash = String::from_utf8(out.stdout).expect("utf-8");
    format!(
        "\n[admin]\nlisten = \"127.0.0.1:0\"\nadmin_token_hash = {}\n",
        toml_str(hash.trim())
    )
}

/// The environment of a run: the credentials and the browser client.
fn run_env(token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("TESSERA_CLIENT_ID", API_CLIENT.0.to_owned()),
        ("TESSERA_CLIENT_SECRET", API_CLIENT.1.to_owned()),
        ("TESSERA_ACCESS_TOKEN", token.to_owned()),
        ("TESSERA_ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
        ("TESSERA_WEB_CLIENT_ID", WEB_CLIENT.to_owned()),
        ("TESSERA_WEB_REDIRECT_URI", WEB_REDIRECT_URI.to_owned()),
        ("TESSERA_WEB_LOGOUT_URI", WEB_LOGOUT_URI.to_owned()),
    ]
}

/// Starts the test server (public and admin listeners) and issues the access token of a
/// user with `openid`.
fn start() -> (Server, String) {
    let server = Server::start(&format!("{}{}", config(), admin_section()));
    let api = Client::new(API_CLIENT.0, Some(API_CLIENT.1), AuthMethod::Basic);
    let token = server.issue_password(&api, USER, Some("openid profile email read"));
    (server, token.access_token)
}

/// Runs Schemathesis over the operations `filter` selects against `base_url`, with `env`;
/// panics with its report unless every check passed.
fn run_schemathesis(base_url: &str, filter: &[&str], env: &[(&'static str, String)]) {
    let dir = repo().join("tests/openapi");
    // Schemathesis may write a cache or reports into its working directory.
    let work = TempDir::new("schemathesis");
    let mut cmd = Command::new(schemathesis());
    cmd.arg("--config-file")
        .arg(dir.join("schemathesis.toml"))
        .arg("run")
        .arg(repo().join("docs/openapi.json"))
        .args(filter)
        .env("TESSERA_URL", base_url)
        .env("TESSERA_SCHEMATHESIS_HOOKS", dir.join("tessera_hooks.py"))
        // No colours, no cache of earlier runs' failures: the same run every time.
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(work.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run schemathesis");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "Schemathesis found nonconformance ({}):\n{report}",
        out.status
    );
    // A run that tested nothing would pass too.
    assert!(
        report.contains("passed") && !report.contains("Tested: 0"),
        "Schemathesis tested nothing:\n{report}"
    );
}

#[test]
fn schemathesis_public_paths_conform_to_openapi_json_with_every_check() {
    let (server, token) = start();
    let base = format!("http://127.0.0.1:{}", server.port());
    run_schemathesis(&base, &["--exclude-tag", "admin"], &run_env(&token));
    // The run did not take the server down, and the real token is still good.
    assert_eq!(server.tokeninfo(&token).status, 200);
}

/// The admin listener with the admin bearer token: its own paths (tag `admin`) and the two
/// it shares with the public listener, `/health` and `/metrics` (which needs the token
/// there).
#[test]
fn schemathesis_admin_api_conforms_to_openapi_json_with_every_check() {
    let (server, token) = start();
    let admin = server.admin_addr.expect("admin listener address");
    run_schemathesis(
        &format!("http://{admin}"),
        &[
            "--include-path-regex",
            "^/(|openapi\\.json|health|metrics|admin/.*)$",
        ],
        &run_env(&token),
    );
}

/// Found by Schemathesis (`positive_data_acceptance`): every parameter of RP-initiated logout
/// is optional (OpenID Connect RP-Initiated Logout 1.0 §2), so a POST without a body — and
/// so without a `Content-Type` — is a logout, not a malformed form.
#[test]
fn rp_initiated_logout_2_a_post_without_a_body_signs_out() {
    let server = Server::start_default();
    let r = server.send_raw(
        b"POST /api/oauth/logout HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(
        r.header("set-cookie")
            .is_some_and(|c| c.starts_with("tessera_session=;")),
        "{}",
        r.summary()
    );
    // A body that is not a form is still refused (with the error page).
    let r = server.send_raw(
        b"POST /api/oauth/logout HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    );
    assert_eq!(r.status, 400, "{}", r.summary());
}

/// Found by Schemathesis (`negative_data_rejection`): serde reads a struct from a JSON array
/// too, member by member, so `[null, "pw"]` was a user update that set a password. Every
/// admin API body is a JSON object; anything else is 400 `invalid_request` and changes
/// nothing. Found reading the answers: user and revocation bodies that did not fit were
/// called `invalid_client_metadata`.
#[test]
fn admin_api_a_body_that_is_not_a_json_object_or_does_not_fit_is_invalid_request() {
    let (server, _) = start();
    let admin = server.admin_addr.expect("admin listener address");
    let call = |method: &str, path: &str, json: &str| {
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
            json.len()
        );
        let mut stream = std::net::TcpStream::connect(admin).expect("connect admin");
        std::io::Write::write_all(&mut stream, raw.as_bytes()).expect("send");
        let mut out = String::new();
        std::io::Read::read_to_string(&mut stream, &mut out).expect("read");
        out
    };
    let created = call(
        "POST",
        "/admin/users",
        r#"{"username":"eve","password":"first-pass"}"#,
    );
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    for (method, path, json) in [
        ("PUT", "/admin/users/eve", r#"[null, "second-pass"]"#),
        ("POST", "/admin/users", r#"["mallory", "pw", {}]"#),
        ("POST", "/admin/clients", r#"["c1"]"#),
        ("POST", "/admin/revoke", r#"["svc-a"]"#),
        ("PUT", "/admin/users/eve", r#""second-pass""#),
    ] {
        let r = call(method, path, json);
        assert!(r.starts_with("HTTP/1.1 400"), "{method} {path} {json}: {r}");
        assert!(r.contains(r#""error":"invalid_request""#), "{r}");
    }
    // A user or a revocation is no client metadata (RFC 7591 §3.2.2): a member that does not
    // fit is `invalid_request`, as the admin API contract says.
    for (path, json) in [
        (
            "/admin/users",
            r#"{"username":"zed","password":"pw","role":"x"}"#,
        ),
        ("/admin/users", r#"{"username":5,"password":"pw"}"#),
        ("/admin/revoke", r#"{"client":"svc-a"}"#),
    ] {
        let r = call("POST", path, json);
        assert!(r.starts_with("HTTP/1.1 400"), "{path} {json}: {r}");
        assert!(
            r.contains(r#""error":"invalid_request""#),
            "{path} {json}: {r}"
        );
    }
    let api = Client::new(API_CLIENT.0, Some(API_CLIENT.1), AuthMethod::Basic);
    assert_eq!(
        server.password(&api, ("eve", "first-pass"), None).status,
        200
    );
    assert_eq!(
        server.password(&api, ("eve", "second-pass"), None).status,
        400
    );
    assert!(call("GET", "/admin/users/mallory", "").starts_with("HTTP/1.1 404"));
}
