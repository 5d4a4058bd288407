//! The admin listener (issue 16): `[admin] listen`, the bearer admin token, `/metrics`
//! moved there, and the management API — clients (RFC 7591 / 7592 field names), users,
//! revocation, token counts, store status — on the embedded RocksDB store (the default)
//! and in memory. Two nodes sharing PostgreSQL: `cluster_sql::admin_*`.

use crate::harness::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub const ADMIN_TOKEN: &str = "admin-token-for-tests-0123456789abcdef";

/// `[admin]` for a test config: port 0 on loopback, the test token's hash.
pub fn admin_section(extra: &str) -> String {
    let out = run_cli(&["hash-secret"], Some(ADMIN_TOKEN.as_bytes()));
    assert!(out.status.success(), "hash-secret failed");
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    format!("\n[admin]\nlisten = \"127.0.0.1:0\"\nadmin_token_hash = \"{hash}\"\n{extra}\n")
}

/// A client of the admin API.
pub struct Admin {
    pub addr: SocketAddr,
    pub token: String,
}

impl Admin {
    pub fn of(server: &Server) -> Admin {
        Admin {
            addr: server
                .admin_addr
                .expect("the server announced its admin listener"),
            token: ADMIN_TOKEN.to_owned(),
        }
    }

    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Response {
        let auth = format!("Bearer {}", self.token);
        let text = body.map(|b| b.to_string()).unwrap_or_default();
        let mut headers = vec![("Authorization", auth.as_str())];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let mut conn = Conn::connect(self.addr);
        conn.roundtrip(&raw_request(method, path, &headers, text.as_bytes()))
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Response {
        self.request("POST", path, Some(body))
    }

    pub fn put(&self, path: &str, body: &Value) -> Response {
        self.request("PUT", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Response {
        self.request("DELETE", path, None)
    }

    /// Creates a client_credentials client; returns its secret.
    pub fn create_cc_client(&self, id: &str, scope: &str) -> String {
        let r = self.post(
            "/admin/clients",
            &json!({"client_id": id, "grant_types": ["client_credentials"], "scope": scope}),
        );
        assert_eq!(r.status, 201, "{}", r.summary());
        r.json_str("client_secret")
    }
}

fn memory_server(extra_admin: &str) -> Server {
    Server::start(&format!(
        "{}{}",
        default_config(),
        admin_section(extra_admin)
    ))
}

/// RocksDB in `sync` mode: a token acknowledged is durable, so a kill -9 after it loses
/// nothing (the clients and users themselves are written synchronously in every mode).
fn rocksdb_config(dir: &TempDir) -> String {
    let mut config = ConfigBuilder::standard()
        .store("kind", "\"rocksdb\"")
        .store("durability", "\"sync\"")
        .store(
            "path",
            &toml_str(&dir.path().join("db").display().to_string()),
        )
        .build();
    config.push_str(&admin_section(""));
    config
}

fn status_of(r: &Response) -> (u16, String) {
    let error = r
        .json()
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    (r.status, error)
}

#[test]
fn admin_calls_need_the_bearer_token_and_get_a_bearer_challenge_without_it() {
    let server = memory_server("");
    let admin = Admin::of(&server);
    let mut conn = Conn::connect(admin.addr);
    let none = conn.roundtrip(&raw_request("GET", "/admin/clients", &[], b""));
    assert_eq!(none.status, 401, "{}", none.summary());
    let challenge = none
        .header("WWW-Authenticate")
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer realm=\"tessera-admin\""),
        "{challenge}"
    );
    let wrong = Admin {
        token: "not-the-admin-token".to_owned(),
        ..Admin::of(&server)
    }
    .get("/admin/clients");
    assert_eq!(status_of(&wrong), (401, "invalid_token".to_owned()));
    assert!(wrong
        .header("WWW-Authenticate")
        .unwrap_or_default()
        .contains("error=\"invalid_token\""));
    // A client's Basic credentials are not an admin token.
    let basic = conn.roundtrip(&raw_request(
        "GET",
        "/admin/clients",
        &[("Authorization", &basic_auth("svc-a", "secret-a"))],
        b"",
    ));
    assert_eq!(basic.status, 401);
    let ok = admin.get("/admin/clients");
    assert_eq!(ok.status, 200, "{}", ok.summary());
    // The page shell, the health check and the OpenAPI document need no token.
    for path in ["/", "/health", "/openapi.json"] {
        let r = conn.roundtrip(&raw_request("GET", path, &[], b""));
        assert_eq!(r.status, 200, "{path}: {}", r.summary());
    }
    let status = conn.roundtrip(&raw_request("GET", "/admin/status", &[], b""));
    assert_eq!(status.status, 401, "the figures need the token");
}

#[test]
fn the_admin_api_is_never_served_on_the_public_listener() {
    let server = memory_server("");
    for path in [
        "/admin/clients",
        "/admin/status",
        "/admin/store",
        "/openapi.json",
    ] {
        let r = server.get_with(path, &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))]);
        assert_eq!(
            r.status,
            404,
            "{path} on the public listener: {}",
            r.summary()
        );
    }
}

#[test]
fn with_admin_metrics_true_metrics_are_only_on_the_admin_listener_behind_the_token() {
    let server = memory_server("metrics = true");
    server.issue_cc(&confidential_client(), None);
    assert_eq!(
        server.get("/metrics").status,
        404,
        "not on the public listener"
    );
    let admin = Admin::of(&server);
    let r = admin.get("/metrics");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(
        r.text().contains("tessera_tokens_issued_total"),
        "{}",
        r.text()
    );
    let mut conn = Conn::connect(admin.addr);
    let anonymous = conn.roundtrip(&raw_request("GET", "/metrics", &[], b""));
    assert_eq!(anonymous.status, 401, "client ids are not for anyone");
}

#[test]
fn without_admin_metrics_the_public_metrics_stay_where_they_were() {
    let server = memory_server("");
    assert_eq!(server.get("/metrics").status, 200);
}

#[test]
fn rfc7591_a_client_created_through_the_api_gets_tokens_at_once_and_its_secret_is_shown_once() {
    let server = memory_server("");
    let admin = Admin::of(&server);
    let created = admin.post(
        "/admin/clients",
        &json!({
            "client_id": "api-made",
            "grant_types": ["client_credentials"],
            "scope": "read write",
            "metadata": {"tier": "gold"},
            "access_token_lifetime_secs": 120,
            "rate_limit": {"per_second": 50, "burst": 100}
        }),
    );
    assert_eq!(created.status, 201, "{}", created.summary());
    assert_eq!(created.header("Cache-Control"), Some("no-store"));
    let body = created.json();
    let secret = body["client_secret"]
        .as_str()
        .expect("client_secret")
        .to_owned();
    assert_eq!(secret.len(), 32);
    assert_eq!(body["client_secret_expires_at"], 0);
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(body["source"], "store");
    let client = Client::new("api-made", Some(&secret), AuthMethod::Basic);
    let issued = server.issue_cc(&client, Some("read"));
    assert_eq!(issued.expires_in, 120, "the client's own lifetime");
    let info = server.tokeninfo(&issued.access_token);
    assert_eq!(
        info.json()["tier"],
        "gold",
        "metadata stored with the token"
    );
    // Read back: everything but the secret.
    let read = admin.get("/admin/clients/api-made");
    assert_eq!(read.status, 200);
    assert!(!read.text().contains(&secret), "{}", read.text());
    assert!(read.json().get("client_secret").is_none());
    assert_eq!(read.json()["scope"], "read write");
    let list = admin.get("/admin/clients");
    let ids: Vec<&str> = list.json()["clients"]
        .as_array()
        .expect("clients")
        .iter()
        .filter_map(|c| c["client_id"].as_str())
        .map(|s| Box::leak(s.to_owned().into_boxed_str()) as &str)
        .collect();
    assert!(
        ids.contains(&"api-made") && ids.contains(&"svc-a"),
        "{ids:?}"
    );
}

#[test]
fn rfc7591_3_2_2_bad_metadata_gets_the_rfc_error_code_and_changes_nothing() {
    let server = memory_server("");
    let admin = Admin::of(&server);
    let cases = [
        (
            json!({"client_id": "w", "grant_types": ["authorization_code"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"client_id": "w", "grant_types": ["nonsense"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_id": "w", "grant_types": ["client_credentials"], "client_name": "x"}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_id": "w", "grant_types": ["client_credentials"], "rate_limit": {"per_second": 0, "burst": 1}}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_id": "w", "grant_types": ["password"], "token_endpoint_auth_method": "none", "rate_limit": {"per_second": 5, "burst": 5}}),
            "invalid_client_metadata",
        ),
    ];
    for (body, code) in cases {
        let r = admin.post("/admin/clients", &body);
        assert_eq!(
            status_of(&r),
            (400, code.to_owned()),
            "{body}: {}",
            r.summary()
        );
    }
    assert_eq!(
        admin.get("/admin/clients/w").status,
        404,
        "nothing was stored"
    );
    // Not JSON at all, or not said to be.
    let mut conn = Conn::connect(admin.addr);
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let text = conn.roundtrip(&raw_request(
        "POST",
        "/admin/clients",
        &[("Authorization", &auth), ("Content-Type", "text/plain")],
        b"{}",
    ));
    assert_eq!(status_of(&text), (415, "unsupported_media_type".to_owned()));
    let broken = conn.roundtrip(&raw_request(
        "POST",
        "/admin/clients",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        b"{\"client_id\": ",
    ));
    assert_eq!(status_of(&broken), (400, "invalid_request".to_owned()));
}

#[test]
fn a_client_of_the_configuration_file_can_be_read_but_not_changed() {
    let server = memory_server("");
    let admin = Admin::of(&server);
    let read = admin.get("/admin/clients/svc-a");
    assert_eq!(read.status, 200);
    assert_eq!(read.json()["source"], "config");
    let put = admin.put(
        "/admin/clients/svc-a",
        &json!({"grant_types": ["client_credentials"]}),
    );
    assert_eq!(status_of(&put), (409, "conflict".to_owned()));
    assert_eq!(admin.delete("/admin/clients/svc-a").status, 409);
    assert_eq!(
        admin.post("/admin/clients/svc-a/secret", &json!({})).status,
        409
    );
    let dup = admin.post(
        "/admin/clients",
        &json!({"client_id": "svc-a", "grant_types": ["client_credentials"]}),
    );
    assert_eq!(dup.status, 409);
    server.issue_cc(&confidential_client(), None);
}

#[test]
fn rfc7592_2_2_put_replaces_the_client_and_the_change_is_served_at_once() {
    let server = memory_server("");
    let admin = Admin::of(&server);
    let secret = admin.create_cc_client("changing", "read write");
    let client = Client::new("changing", Some(&secret), AuthMethod::Basic);
    server.issue_cc(&client, Some("write"));
    let put = admin.put(
        "/admin/clients/changing",
        &json!({"grant_types": ["client_credentials"], "scope": "read"}),
    );
    assert_eq!(put.status, 200, "{}", put.summary());
    assert_eq!(put.json()["scope"], "read");
    let refused = server.client_credentials(&client, Some("write"));
    assert_oauth_error(&refused, 400, "invalid_scope");
    server.issue_cc(&client, Some("read"));
    // The secret cannot be set by PUT, and the body may not name another client.
    let r = admin.put(
        "/admin/clients/changing",
        &json!({"grant_types": ["client_credentials"], "client_secret": "x".repeat(40)}),
    );
    assert_eq!(r.status, 400);
    let r = admin.put(
        "/admin/clients/changing",
        &json!({"client_id": "other", "grant_types": ["client_credentials"]}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        admin
            .put(
                "/admin/clients/nobody",
                &json!({"grant_types": ["client_credentials"]})
            )
            .status,
        404
    );
}

#[test]
fn a_rotated_secret_works_at_once_and_the_old_one_stops() {
    let server = memory_server("");
    let admin = Admin::of(&server);
    let old = admin.create_cc_client("rotating", "read");
    let r = admin.request("POST", "/admin/clients/rotating/secret", None);
    assert_eq!(r.status, 200, "{}", r.summary());
    let new = r.json_str("client_secret");
    assert_ne!(new, old);
    server.issue_cc(
        &Client::new("rotating", Some(&new), AuthMethod::Basic),
        None,
    );
    let refused = server.client_credentials(
        &Client::new("rotating", Some(&old), AuthMethod::Basic),
        None,
    );
    assert_oauth_error(&refused, 401, "invalid_client");
}

#[test]
fn rfc7592_2_3_deleting_a_client_revokes_its_tokens_and_refuses_it() {
    let server = memory_server("");
    let admin = Admin::of(&server);
    let secret = admin.create_cc_client("doomed", "read");
    let client = Client::new("doomed", Some(&secret), AuthMethod::Basic);
    let issued = server.issue_cc(&client, None);
    assert_eq!(server.tokeninfo(&issued.access_token).status, 200);
    let r = admin.delete("/admin/clients/doomed");
    assert_eq!(r.status, 204, "{}", r.summary());
    assert!(r.body.is_empty());
    assert_eq!(
        server.tokeninfo(&issued.access_token).status,
        400,
        "token revoked"
    );
    assert_oauth_error(
        &server.client_credentials(&client, None),
        401,
        "invalid_client",
    );
    assert_eq!(admin.get("/admin/clients/doomed").status, 404);
    assert_eq!(admin.delete("/admin/clients/doomed").status, 404);
}

#[test]
fn users_made_through_the_api_log_in_and_their_password_is_never_returned() {
    let server = memory_server("");
    let admin = Admin::of(&server);
    let r = admin.post(
        "/admin/users",
        &json!({"username": "carol", "password": "carol-password-1", "claims": {"name": "Carol"}}),
    );
    assert_eq!(r.status, 201, "{}", r.summary());
    assert!(!r.text().contains("carol-password-1") && !r.text().contains("argon2"));
    let issued = server.issue_password(&confidential_client(), ("carol", "carol-password-1"), None);
    let got = admin.get("/admin/users/carol");
    assert_eq!(got.json()["claims"]["name"], "Carol");
    assert!(!got.text().contains("password"), "{}", got.text());
    let list = admin.get("/admin/users");
    assert!(list.text().contains("\"carol\"") && !list.text().contains("argon2"));
    // A new password: the old one stops, and so do the refresh tokens it obtained.
    let r = admin.put(
        "/admin/users/carol",
        &json!({"password": "carol-password-2"}),
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_oauth_error(
        &server.password(&confidential_client(), ("carol", "carol-password-1"), None),
        400,
        "invalid_grant",
    );
    assert_oauth_error(
        &server.refresh(&confidential_client(), issued.refresh_token(), None),
        400,
        "invalid_grant",
    );
    let again = server.issue_password(&confidential_client(), ("carol", "carol-password-2"), None);
    // Deleting the user revokes every token of theirs.
    assert_eq!(admin.delete("/admin/users/carol").status, 204);
    assert_eq!(server.tokeninfo(&again.access_token).status, 400);
    assert_oauth_error(
        &server.password(&confidential_client(), ("carol", "carol-password-2"), None),
        400,
        "invalid_grant",
    );
}

#[test]
fn admin_revoke_by_client_by_user_and_by_grant() {
    let server = memory_server("");
    let admin = Admin::of(&server);
    let a = server.issue_cc(&confidential_client(), None);
    let b = server.issue_password(&confidential_client(), ALICE, None);
    let c = server.issue_password(&other_client(), BOB, None);
    // By grant: the grant id of a token, as the audit log names it, is not on the wire;
    // an unknown grant revokes nothing.
    let r = admin.post("/admin/revoke", &json!({"grant_id": "12345"}));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json()["revoked"], 0);
    let r = admin.post("/admin/revoke", &json!({"username": "alice"}));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(
        r.json()["revoked"].as_u64().unwrap_or(0) >= 2,
        "{}",
        r.text()
    );
    assert_eq!(server.tokeninfo(&b.access_token).status, 400);
    assert_eq!(
        server.tokeninfo(&a.access_token).status,
        200,
        "alice's only"
    );
    let r = admin.post("/admin/revoke", &json!({"client_id": "svc-a"}));
    assert_eq!(r.status, 200);
    assert_eq!(server.tokeninfo(&a.access_token).status, 400);
    assert_eq!(
        server.tokeninfo(&c.access_token).status,
        200,
        "another client's stays"
    );
    for body in [
        json!({}),
        json!({"client_id": "a", "username": "b"}),
        json!({"grant_id": "x"}),
    ] {
        let r = admin.post("/admin/revoke", &body);
        assert_eq!(status_of(&r), (400, "invalid_request".to_owned()), "{body}");
    }
}

#[test]
fn admin_tokens_counts_live_access_and_refresh_tokens_per_client() {
    let server = memory_server("");
    let admin = Admin::of(&server);
    for _ in 0..3 {
        server.issue_cc(&confidential_client(), None);
    }
    server.issue_password(&other_client(), BOB, None);
    let r = admin.get("/admin/tokens");
    assert_eq!(r.status, 200, "{}", r.summary());
    let json = r.json();
    let find = |id: &str| {
        json["clients"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["client_id"] == id).cloned())
            .unwrap_or_else(|| panic!("{id} in {json}"))
    };
    assert_eq!(find("svc-a")["access_tokens"], 3);
    assert_eq!(find("svc-b")["access_tokens"], 1);
    assert_eq!(find("svc-b")["refresh_tokens"], 1);
    assert_eq!(json["live_tokens"], 5);
}

#[test]
fn unknown_paths_and_methods_are_404_and_405_with_allow() {
    let server = memory_server("");
    let admin = Admin::of(&server);
    assert_eq!(admin.get("/admin/nothing").status, 404);
    let r = admin.request("PATCH", "/admin/clients", None);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD, POST"));
    let r = admin.request("DELETE", "/admin/store", None);
    assert_eq!(r.status, 405);
    let r = admin.request("GET", "/admin/revoke", None);
    assert_eq!(r.header("Allow"), Some("POST"));
}

#[test]
fn clients_and_users_made_through_the_api_survive_a_restart_on_the_embedded_store() {
    let dir = TempDir::new("admin-rocks");
    let config = rocksdb_config(&dir);
    let (secret, token) = {
        let server = Server::start(&config);
        let admin = Admin::of(&server);
        let secret = admin.create_cc_client("kept", "read");
        let r = admin.post(
            "/admin/users",
            &json!({"username": "dora", "password": "dora-pw-1"}),
        );
        assert_eq!(r.status, 201);
        let store = admin.get("/admin/store");
        assert_eq!(store.json()["kind"], "rocksdb", "{}", store.text());
        assert_eq!(store.json()["peers"], json!([]));
        let client = Client::new("kept", Some(&secret), AuthMethod::Basic);
        let token = server.issue_cc(&client, None).access_token;
        server.kill_hard();
        (secret, token)
    };
    let server = Server::start(&config);
    let client = Client::new("kept", Some(&secret), AuthMethod::Basic);
    server.issue_cc(&client, None);
    assert_eq!(
        server.tokeninfo(&token).status,
        200,
        "its token was recovered"
    );
    server.issue_password(&confidential_client(), ("dora", "dora-pw-1"), None);
    // Deleted on the embedded store: revoked durably, so a restart does not bring it back.
    let admin = Admin::of(&server);
    assert_eq!(admin.delete("/admin/clients/kept").status, 204);
    drop(server);
    let server = Server::start(&config);
    assert_eq!(
        server.tokeninfo(&token).status,
        400,
        "stays revoked after restart"
    );
    assert_oauth_error(
        &server.client_credentials(&client, None),
        401,
        "invalid_client",
    );
}

#[test]
fn admin_store_reports_the_write_behind() {
    let dir = TempDir::new("admin-store");
    let server = Server::start(&rocksdb_config(&dir));
    let admin = Admin::of(&server);
    server.issue_cc(&confidential_client(), None);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = admin.get("/admin/store").json();
        assert_eq!(s["durability"], "sync");
        assert!(s["queue_capacity"].as_u64().unwrap_or(0) > 0, "{s}");
        if s["batches_total"].as_u64().unwrap_or(0) > 0 {
            assert!(s["last_flush_at"].as_u64().unwrap_or(0) > 0, "{s}");
            assert_eq!(s["errors_total"], 0);
            break;
        }
        assert!(Instant::now() < deadline, "no flush reported: {s}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_concurrent_creations_of_one_client_id_give_one_201_and_one_409() {
    let server = memory_server("");
    let addr = server.admin_addr.expect("admin");
    let threads: Vec<_> = (0..2)
        .map(|i| {
            std::thread::spawn(move || {
                let admin = Admin {
                    addr,
                    token: ADMIN_TOKEN.to_owned(),
                };
                admin
                    .post(
                        "/admin/clients",
                        &json!({"client_id": "raced", "grant_types": ["client_credentials"], "scope": format!("s{i}")}),
                    )
                    .status
            })
        })
        .collect();
    let mut statuses: Vec<u16> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    statuses.sort();
    assert_eq!(statuses, [201, 409]);
}

#[test]
fn config_without_admin_token_hash_is_refused_naming_the_key() {
    let dir = TempDir::new("admin-config");
    let path = dir.write("t.toml", "[admin]\nlisten = \"127.0.0.1:9999\"\n");
    let out = run_cli(
        &["check-config", "--config", &path.display().to_string()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("admin.admin_token_hash"), "{err}");
}

/// `[admin.tls]` with `client_ca_file`: the admin listener speaks only TLS, and a client
/// without a certificate from that CA gets nothing, not even a 401; with one, the bearer
/// token is still required.
#[test]
fn mutual_tls_on_the_admin_listener_refuses_a_client_without_a_certificate() {
    use crate::tls::TestCa;
    let ca = TestCa::new();
    let leaf = ca.leaf("admin");
    let other_ca = TestCa::new();
    let tls = format!(
        "[admin.tls]\ncert_file = {}\nkey_file = {}\nclient_ca_file = {}\n",
        toml_str(&leaf.cert_file.display().to_string()),
        toml_str(&leaf.key_file.display().to_string()),
        toml_str(&ca.ca_file().display().to_string()),
    );
    let server = Server::start(&format!("{}{}", default_config(), admin_section(&tls)));
    let addr = server.admin_addr.expect("admin listener");
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let get = raw_request("GET", "/admin/store", &[("Authorization", &auth)], b"");
    // No certificate, or one from another CA: the handshake or the first read fails.
    for client in [ca.client(), other_ca.client_with_certificate("intruder")] {
        let answered = Conn::try_connect_tls(addr, client, "localhost")
            .ok()
            .and_then(|mut c| {
                c.try_send(&get).ok()?;
                c.try_read_response().ok()
            });
        assert!(
            answered.is_none(),
            "answered without a good certificate: {answered:?}"
        );
    }
    // Plain HTTP on the TLS port gets no HTTP answer either.
    let mut plain = Conn::connect(addr);
    let _ = plain.try_send(&get);
    assert!(plain.try_read_response().is_err());
    let mut conn = Conn::connect_tls(addr, ca.client_with_certificate("operator"), "localhost");
    let r = conn.roundtrip(&get);
    assert_eq!(r.status, 200, "{}", r.summary());
    let r = conn.roundtrip(&raw_request("GET", "/admin/store", &[], b""));
    assert_eq!(r.status, 401, "the certificate does not replace the token");
}
