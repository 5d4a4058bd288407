//! TLS on the listener (issue 15; RFC 6749 §3.2, §10.3): `[server.tls]` with a test CA made
//! here (rcgen), every endpoint over TLS, clients nobody here wrote (curl, Python requests),
//! session resumption and its metric, `min_version`, the certificate reload on SIGHUP, the
//! plain health-check listener, `check-config` on bad files, and handshakes that fail or
//! stall.

use crate::authorize::{exchange, web_client, web_code, web_config, WEB_REDIRECT};
use crate::cluster::eventually;
use crate::harness::assertions::assertion_python;
use crate::harness::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// A CA made for one test, the server certificates it signs, and their files.
pub(crate) struct TestCa {
    dir: TempDir,
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A server certificate for `localhost` and 127.0.0.1, written as PEM files.
pub(crate) struct Leaf {
    pub(crate) cert_file: PathBuf,
    pub(crate) key_file: PathBuf,
    der: Vec<u8>,
}

impl TestCa {
    pub(crate) fn new() -> TestCa {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Tessera test CA");
        let cert = params.self_signed(&key).expect("CA certificate");
        let dir = TempDir::new("tls");
        dir.write("ca.pem", &cert.pem());
        TestCa { dir, cert, key }
    }

    pub(crate) fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Signs a new server certificate (a fresh key each time) into `NAME.crt` / `NAME.key`.
    pub(crate) fn leaf(&self, name: &str) -> Leaf {
        let key = KeyPair::generate().expect("server key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server params");
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("server certificate");
        Leaf {
            cert_file: self.dir.write(&format!("{name}.crt"), &cert.pem()),
            key_file: self.dir.write(&format!("{name}.key"), &key.serialize_pem()),
            der: cert.der().to_vec(),
        }
    }

    /// A rustls client trusting this CA, offering `versions` and ALPN http/1.1.
    fn client_with(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.der().clone()).expect("CA root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    pub(crate) fn client(&self) -> Arc<rustls::ClientConfig> {
        self.client_with(rustls::DEFAULT_VERSIONS)
    }

    /// A rustls client trusting this CA that presents a client certificate `name` signed
    /// by it (mutual TLS).
    pub(crate) fn client_with_certificate(&self, name: &str) -> Arc<rustls::ClientConfig> {
        let key = KeyPair::generate().expect("client key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("client certificate");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.der().clone()).expect("CA root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()),
        );
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(rustls::DEFAULT_VERSIONS)
            .expect("versions")
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![cert.der().clone()], key_der)
            .expect("client certificate");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// `base` with `[server.tls]` naming `leaf`'s files.
fn tls_config(base: ConfigBuilder, leaf: &Leaf, extra: &str) -> String {
    base.server(
        "tls",
        &format!(
            "{{ cert_file = {}, key_file = {}{extra} }}",
            toml_str(&leaf.cert_file.display().to_string()),
            toml_str(&leaf.key_file.display().to_string())
        ),
    )
    .build()
}

fn tls_server(ca: &TestCa, leaf: &Leaf) -> Server {
    Server::start_tls(
        &tls_config(ConfigBuilder::standard(), leaf, ""),
        ca.client(),
    )
}

/// The certificate a new TLS connection to `server` is shown.
fn served_certificate(server: &Server, ca: &TestCa) -> Vec<u8> {
    let conn = Conn::connect_tls(server.addr, ca.client(), "localhost");
    let tls = conn.tls().expect("a TLS connection");
    tls.peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .expect("a server certificate")
}

#[test]
fn rfc6749_3_2_every_endpoint_answers_over_tls() {
    let ca = TestCa::new();
    let leaf = ca.leaf("server");
    let server = Server::start_tls(&tls_config(web_config(), &leaf, ""), ca.client());

    let conn = server.conn();
    let tls = conn.tls().expect("TLS");
    assert_eq!(tls.alpn_protocol(), Some(&b"http/1.1"[..]), "ALPN http/1.1");
    drop(conn);

    // Token endpoint, every grant the standard config has.
    let cc = server.issue_cc(&confidential_client(), Some("read"));
    let pw = server.issue_password(&confidential_client(), ALICE, None);
    let refreshed = server.refresh(&confidential_client(), pw.refresh_token(), None);
    assert_eq!(refreshed.status, 200, "{}", refreshed.summary());
    // tokeninfo, introspect, revoke.
    assert_eq!(server.tokeninfo(&cc.access_token).status, 200);
    let intro = server.introspect(&confidential_client(), &cc.access_token);
    assert_eq!(intro.json()["active"], true, "{}", intro.summary());
    assert_eq!(
        server
            .revoke(&confidential_client(), &cc.access_token, None)
            .status,
        200
    );
    assert_eq!(server.tokeninfo(&cc.access_token).status, 400);

    // The authorize path with its login and consent pages, cookies `Secure` under TLS, the
    // code exchanged, userinfo; discovery names https URLs.
    let pkce = Pkce::new();
    let (code, agent) = web_code(&server, &pkce, "openid profile");
    assert!(agent.cookies.contains_key("tessera_session"));
    let tokens = exchange(&server, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
    assert_eq!(tokens.status, 200, "{}", tokens.summary());
    let access = tokens.json_str("access_token");
    let info = server.get_with(
        "/api/oauth/userinfo",
        &[("Authorization", &format!("Bearer {access}"))],
    );
    assert_eq!(info.status, 200, "{}", info.summary());
    let discovery = server.get("/.well-known/openid-configuration");
    assert_eq!(discovery.status, 200);
    let issuer = format!("https://127.0.0.1:{}", server.port());
    assert_eq!(
        discovery.json_str("issuer"),
        issuer,
        "default issuer is https"
    );
    assert!(discovery.json_str("token_endpoint").starts_with("https://"));
    assert_eq!(server.get("/api/oauth/jwks").status, 200);
    assert_eq!(
        server.get("/.well-known/oauth-authorization-server").status,
        200
    );
    assert_eq!(server.get("/health").status, 200);
    let m = server.metrics();
    assert!(m.value("tessera_tls_handshakes_total", &[("resumed", "false")]) >= 1.0);
}

#[test]
fn rfc6265_4_1_2_5_session_cookies_are_secure_under_tls() {
    let ca = TestCa::new();
    let leaf = ca.leaf("server");
    let server = Server::start_tls(&tls_config(web_config(), &leaf, ""), ca.client());
    let mut agent = Agent::new();
    let login = agent.authorize(
        &server,
        &code_query("web", WEB_REDIRECT, "openid", &Pkce::new(), ""),
    );
    assert_eq!(login.status, 200, "{}", login.summary());
    let cookies = login.headers_named("Set-Cookie").join(" | ");
    assert!(cookies.contains("; Secure"), "{cookies}");
}

#[test]
fn curl_and_python_requests_get_tokens_over_tls_verifying_the_ca() {
    let ca = TestCa::new();
    let leaf = ca.leaf("server");
    let server = tls_server(&ca, &leaf);
    let url = format!("https://localhost:{}/api/oauth/token", server.port());
    let client = confidential_client();
    let (id, secret) = (client.id.clone(), client.secret.clone().expect("secret"));

    let out = Command::new("curl")
        .args(["-sS", "--fail-with-body", "--max-time", "10", "--cacert"])
        .arg(ca.ca_file())
        .args([
            "-u",
            &format!("{id}:{secret}"),
            "-d",
            "grant_type=client_credentials",
        ])
        .arg(&url)
        .output()
        .expect("run curl");
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl: {body} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(body.contains("\"access_token\""), "{body}");

    // Without the CA, curl refuses the server: the certificate really is checked.
    let untrusted = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-d",
            "grant_type=client_credentials",
        ])
        .arg(&url)
        .output()
        .expect("run curl");
    assert!(!untrusted.status.success(), "curl trusted an unknown CA");

    let script = r#"
import sys, requests
r = requests.post(sys.argv[1], data={"grant_type": "client_credentials"},
                  auth=(sys.argv[2], sys.argv[3]), verify=sys.argv[4], timeout=10)
print(r.status_code, r.json()["token_type"], len(r.json()["access_token"]))
"#;
    let out = Command::new(assertion_python())
        .args(["-c", script, &url, &id, &secret])
        .arg(ca.ca_file())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python requests: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "200 Bearer 54");
}

#[test]
fn rfc8446_2_2_a_second_connection_resumes_and_the_metric_counts_it() {
    let ca = TestCa::new();
    let leaf = ca.leaf("server");
    let server = tls_server(&ca, &leaf);
    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        // One client config = one session cache: the second connection offers the ticket.
        let client = ca.client_with(versions);
        let mut first = Conn::connect_tls(server.addr, Arc::clone(&client), "localhost");
        // TLS 1.3 tickets arrive after the handshake: read a response to receive them.
        let r = first.roundtrip(&raw_request("GET", "/health", &[], b""));
        assert_eq!(r.status, 200);
        let second = Conn::connect_tls(server.addr, client, "localhost");
        assert_eq!(
            second.tls().and_then(|t| t.handshake_kind()),
            Some(rustls::HandshakeKind::Resumed),
            "{versions:?}"
        );
    }
    // The server counts a handshake when the client's Finished arrives, which may be just
    // after the client has moved on.
    wait_until(Duration::from_secs(5), || {
        server
            .metrics()
            .value("tessera_tls_handshakes_total", &[("resumed", "true")])
            >= 2.0
    });
}

#[test]
fn min_version_1_3_refuses_a_tls_1_2_client() {
    let ca = TestCa::new();
    let leaf = ca.leaf("server");
    let config = tls_config(ConfigBuilder::standard(), &leaf, ", min_version = \"1.3\"");
    let server = Server::start_tls(&config, ca.client());
    let tls12 = ca.client_with(&[&rustls::version::TLS12]);
    assert!(Conn::try_connect_tls(server.addr, tls12, "localhost").is_err());
    let conn = Conn::connect_tls(server.addr, ca.client(), "localhost");
    assert_eq!(
        conn.tls().and_then(|t| t.protocol_version()),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert!(
        server
            .metrics()
            .value("tessera_tls_handshake_failures_total", &[])
            >= 1.0
    );

    // The default accepts TLS 1.2.
    let default = tls_server(&ca, &leaf);
    let tls12 = ca.client_with(&[&rustls::version::TLS12]);
    assert!(Conn::try_connect_tls(default.addr, tls12, "localhost").is_ok());
}

#[test]
fn sighup_reloads_the_certificate_and_a_bad_pair_keeps_the_current_one() {
    let ca = TestCa::new();
    let live = ca.leaf("live");
    let server = tls_server(&ca, &live);
    assert_eq!(served_certificate(&server, &ca), live.der);
    // A keep-alive connection opened before the reload.
    let mut before = server.conn();
    assert_eq!(
        before
            .roundtrip(&raw_request("GET", "/health", &[], b""))
            .status,
        200
    );

    let next = ca.leaf("next");
    std::fs::copy(&next.cert_file, &live.cert_file).expect("copy cert");
    std::fs::copy(&next.key_file, &live.key_file).expect("copy key");
    server.signal("HUP");
    wait_until(Duration::from_secs(5), || {
        served_certificate(&server, &ca) == next.der
    });
    assert!(server.stderr().contains("TLS certificate and key reloaded"));
    // The connection from before keeps working on its session.
    assert_eq!(
        before
            .roundtrip(&raw_request("GET", "/health", &[], b""))
            .status,
        200
    );

    // A certificate without its key (the key file not yet replaced): refused, logged, and
    // the pair in use stays.
    let third = ca.leaf("third");
    std::fs::copy(&third.cert_file, &live.cert_file).expect("copy cert");
    server.signal("HUP");
    wait_until(Duration::from_secs(5), || {
        server.stderr().contains("TLS reload refused")
    });
    assert!(server.stderr().contains("server.tls.key_file"));
    assert_eq!(served_certificate(&server, &ca), next.der);
    assert_eq!(
        server
            .issue_cc(&confidential_client(), None)
            .access_token
            .len(),
        54
    );
}

#[test]
fn listen_plain_serves_health_and_metrics_only_and_the_tls_port_refuses_plain_http() {
    let ca = TestCa::new();
    let leaf = ca.leaf("server");
    let config = tls_config(
        ConfigBuilder::standard().server("listen_plain", "\"127.0.0.1:0\""),
        &leaf,
        "",
    );
    let server = Server::start_tls(&config, ca.client());
    let plain = server.plain_addr.expect("plain listener announced");
    let get = |path: &str| Conn::connect(plain).roundtrip(&raw_request("GET", path, &[], b""));
    assert_eq!(get("/health").status, 200);
    assert_eq!(get("/metrics").status, 200);
    let token = Conn::connect(plain).roundtrip(&raw_form_post(
        TOKEN_PATH,
        "grant_type=client_credentials",
        &[("Authorization", &basic_auth("svc-a", "x"))],
    ));
    assert_oauth_error(&token, 403, "invalid_request");
    assert_oauth_error(
        &get("/api/oauth/tokeninfo?access_token=x"),
        403,
        "invalid_request",
    );

    // Plain HTTP on the TLS port gets no HTTP answer, and the failure is counted.
    let mut clear = Conn::connect(server.addr);
    let _ = clear.try_send(&raw_request("GET", "/health", &[], b""));
    assert!(
        clear.try_read_response().is_err(),
        "no HTTP response in clear"
    );
    wait_until(Duration::from_secs(5), || {
        server
            .metrics()
            .value("tessera_tls_handshake_failures_total", &[])
            >= 1.0
    });
}

#[test]
fn a_client_that_stalls_in_the_handshake_is_closed() {
    let ca = TestCa::new();
    let leaf = ca.leaf("server");
    let config = tls_config(
        ConfigBuilder::standard().server("first_request_timeout_secs", "1"),
        &leaf,
        "",
    );
    let server = Server::start_tls(&config, ca.client());
    // Half a ClientHello record header, then nothing.
    let mut stalled = Conn::connect(server.addr);
    stalled.send(&[0x16, 0x03, 0x01]);
    assert!(matches!(
        stalled.wait_closed(Duration::from_secs(8)),
        CloseOutcome::Closed
    ));
    wait_until(Duration::from_secs(5), || {
        server
            .metrics()
            .value("tessera_tls_handshake_failures_total", &[])
            >= 1.0
    });
    // Meanwhile the server serves.
    server.issue_cc(&confidential_client(), None);
}

#[test]
fn check_config_refuses_missing_or_mismatched_tls_files_naming_the_key() {
    let ca = TestCa::new();
    let good = ca.leaf("good");
    let other = ca.leaf("other");
    let dir = TempDir::new("tls-check");
    let check = |config: &str| {
        let path = dir.write("tessera.toml", config);
        run_cli(
            &["check-config", "--config", &path.display().to_string()],
            None,
        )
    };

    let ok = check(&tls_config(ConfigBuilder::standard(), &good, ""));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let missing = Leaf {
        cert_file: dir.path().join("absent.crt"),
        key_file: good.key_file.clone(),
        der: Vec::new(),
    };
    let out = check(&tls_config(ConfigBuilder::standard(), &missing, ""));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.tls.cert_file") && err.contains("absent.crt"),
        "{err}"
    );

    let crossed = Leaf {
        cert_file: good.cert_file.clone(),
        key_file: other.key_file.clone(),
        der: Vec::new(),
    };
    let out = check(&tls_config(ConfigBuilder::standard(), &crossed, ""));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.tls.key_file"), "{err}");

    // The server itself refuses to start on the same pair, naming the key.
    let start = Server::try_start(&tls_config(ConfigBuilder::standard(), &crossed, ""));
    let why = start.expect_err("started with a mismatched pair");
    assert!(why.contains("server.tls.key_file"), "{why}");
}

/// Polls `ok` until it holds, or panics after `limit`.
fn wait_until(limit: Duration, mut ok: impl FnMut() -> bool) {
    eventually(std::time::Instant::now(), limit, "condition", || {
        ok().then_some(()).ok_or_else(|| "not yet".to_owned())
    });
}

#[test]
fn at_the_connection_cap_stalled_handshakes_make_room_for_a_new_client() {
    let ca = TestCa::new();
    let leaf = ca.leaf("server");
    let config = tls_config(
        ConfigBuilder::standard()
            .server("workers", "1")
            .server("max_connections_per_worker", "4")
            .server("first_request_timeout_secs", "30")
            .server("keepalive_timeout_secs", "60"),
        &leaf,
        "",
    );
    let server = Server::start_tls(&config, ca.client());
    // Four connections that never send a ClientHello fill the worker.
    let stalled: Vec<Conn> = (0..4).map(|_| Conn::connect(server.addr)).collect();
    std::thread::sleep(Duration::from_millis(200));
    // A real client still gets in (well before the 30 s first-request timeout): the oldest
    // stalled handshake is closed to make room.
    let issued = server.issue_cc(&confidential_client(), None);
    assert_eq!(issued.access_token.len(), 54);
    let m = server.metrics();
    assert!(
        m.value(
            "tessera_connections_closed_total",
            &[("reason", "evicted_idle")]
        ) >= 1.0
    );
    drop(stalled);
}
