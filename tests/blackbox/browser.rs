//! The authorization code flow in a real browser (issue 12): headless Chromium, driven over
//! WebDriver (`harness::webdriver`), opens the authorize URL, logs in on the login page,
//! allows on the consent page and lands on the client's redirect URI with `code`, `state`
//! and `iss` (RFC 6749 §4.1.2, RFC 9207); the code is then exchanged at the token endpoint
//! with its PKCE verifier (RFC 7636 §4.5) for an access token and an `id_token`. What an
//! HTTP-level test cannot see, the browser does: a `Content-Security-Policy` `form-action`
//! that blocks the redirect after the consent form, a cookie the browser refuses.
//!
//! The `webdriver_*` tests check the WebDriver client itself against tiny pages served from
//! a thread (`LocalSite`), with no Tessera involved.
//!
//! Needs Debian's `chromium` and `chromium-driver` (installed by `.ci/setup`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use ::base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::harness::*;

/// How long a page may take to appear after a click or a navigation.
const PAGE_WAIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// A tiny web site served from a thread
// ---------------------------------------------------------------------------------------------

/// One request `LocalSite` received.
#[derive(Debug, Clone)]
struct SiteRequest {
    method: String,
    /// Path and query, as sent.
    target: String,
    body: String,
}

impl SiteRequest {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

type Handler = dyn Fn(&SiteRequest) -> String + Send + Sync;

/// An HTTP/1.1 server on 127.0.0.1 answering every request with `handler`'s raw response
/// (one request per connection, `Connection: close`). It records the requests; its thread
/// lives until the test process ends.
struct LocalSite {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<SiteRequest>>>,
}

impl LocalSite {
    fn start(handler: impl Fn(&SiteRequest) -> String + Send + Sync + 'static) -> LocalSite {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind local site");
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let handler: Arc<Handler> = Arc::new(handler);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let handler = Arc::clone(&handler);
                let seen = Arc::clone(&seen);
                // A thread per connection: Chromium opens speculative connections that may
                // never carry a request.
                thread::spawn(move || serve_one(stream, &*handler, &seen));
            }
        });
        LocalSite { addr, requests }
    }

    fn url(&self, target: &str) -> String {
        format!("http://{}{target}", self.addr)
    }

    fn requests(&self) -> Vec<SiteRequest> {
        self.requests.lock().expect("requests lock").clone()
    }
}

fn serve_one(stream: TcpStream, handler: &Handler, seen: &Mutex<Vec<SiteRequest>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 {
            return;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let req = SiteRequest {
        method,
        target,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    seen.lock().expect("requests lock").push(req.clone());
    let mut stream = stream;
    let _ = stream.write_all(handler(&req).as_bytes());
    let _ = stream.flush();
}

/// A raw `200` HTML response with extra header lines (each ending in `\r\n`).
fn html(extra_headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
}

/// A raw `303 See Other` to `location`, with extra header lines.
fn see_other(location: &str, extra_headers: &str) -> String {
    format!(
        "HTTP/1.1 303 See Other\r\nLocation: {location}\r\nContent-Length: 0\r\n\
         Connection: close\r\n{extra_headers}\r\n"
    )
}

/// A loopback port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr").port()
}

/// The query (or fragment) parameters of `url`.
fn url_params(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let query = query.split('#').next().unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A login form like the authorize endpoint's: `username`, `password`, and the two consent
/// buttons, posted to `/login`.
const FORM_PAGE: &str = r#"<!doctype html><html><head><title>Sign in</title></head><body>
<form method="post" action="/login">
<input name="username" autocomplete="username"><input name="password" type="password">
<button type="submit" name="consent" value="allow">Allow</button>
<button type="submit" name="consent" value="deny">Deny</button>
</form></body></html>"#;

// ---------------------------------------------------------------------------------------------
// The WebDriver client itself
// ---------------------------------------------------------------------------------------------

#[test]
fn webdriver_fills_a_form_submits_it_and_reads_the_resulting_url_and_cookie() {
    let site = LocalSite::start(|req| match (req.method.as_str(), req.path()) {
        ("GET", "/form") => html("", FORM_PAGE),
        ("POST", "/login") => {
            let fields: HashMap<String, String> = form_urlencoded::parse(req.body.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let user = fields.get("username").cloned().unwrap_or_default();
            let pass = fields.get("password").cloned().unwrap_or_default();
            let button = fields.get("consent").cloned().unwrap_or_default();
            see_other(
                &format!(
                    "/done?{}",
                    form(&[("user", &user), ("pass", &pass), ("consent", &button)])
                ),
                "Set-Cookie: sid=s3cr3t; Path=/; HttpOnly; SameSite=Lax\r\n",
            )
        }
        ("GET", "/done") => html("", "<p id=welcome>welcome</p>"),
        _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    });
    let browser = Browser::start();
    browser.navigate(&site.url("/form"));
    browser.send_keys(&browser.find("input[name=username]"), "alice");
    browser.send_keys(&browser.find("input[name=password]"), "p@ss w0rd&=+%");
    browser.click(&browser.find("button[name=consent][value=allow]"));

    let url = browser.wait_for_url(PAGE_WAIT, |u| u.contains("/done"));
    assert!(url.starts_with(&site.url("/done?")), "{url}");
    let params = url_params(&url);
    assert_eq!(params["user"], "alice");
    assert_eq!(
        params["pass"], "p@ss w0rd&=+%",
        "typed text arrives unchanged"
    );
    assert_eq!(
        params["consent"], "allow",
        "the clicked button's value is submitted"
    );
    assert!(browser.page_source().contains("welcome"));
    let sid = browser.cookie("sid").expect("cookie sid");
    assert_eq!(sid.value, "s3cr3t");
    assert!(sid.http_only, "HttpOnly cookies are listed too");
    assert_eq!(sid.same_site.as_deref(), Some("Lax"));
    assert!(site.requests().iter().any(|r| r.method == "POST"));
}

#[test]
fn webdriver_reads_a_redirect_target_that_is_unreachable() {
    // The end of an authorization flow whose redirect URI nothing serves: Chromium shows its
    // error page, and the current URL is still the redirect target with the code.
    let target = format!(
        "http://127.0.0.1:{}/cb?code=c0de&state=st4te&iss=http%3A%2F%2F127.0.0.1",
        closed_port()
    );
    let location = target.clone();
    let site = LocalSite::start(move |req| match req.method.as_str() {
        "POST" => see_other(&location, ""),
        _ => html("", FORM_PAGE),
    });
    let browser = Browser::start();
    browser.navigate(&site.url("/form"));
    browser.send_keys(&browser.find("input[name=username]"), "alice");
    browser.click(&browser.find("button[name=consent][value=allow]"));
    let url = browser.wait_for_url(PAGE_WAIT, |u| u.contains("/cb?"));
    assert_eq!(url, target);
    assert_eq!(url_params(&url)["code"], "c0de");

    // Navigating there directly is an error answer; the URL is the same.
    let direct = format!("http://127.0.0.1:{}/cb?code=other", closed_port());
    let _ = browser.try_navigate(&direct);
    assert_eq!(browser.current_url(), direct);
}

#[test]
fn webdriver_sees_a_csp_form_action_self_block_the_redirect_to_another_origin() {
    // Why the browser test exists (issue 12): a consent page with `form-action 'self'`
    // passes every HTTP-level test, but Chromium applies form-action to the redirect that
    // follows the submission and never reaches the client.
    let client = LocalSite::start(|_| html("", "<p>client callback</p>"));
    let callback = client.url("/cb?code=c0de");
    let location = callback.clone();
    let site = LocalSite::start(move |req| match req.method.as_str() {
        "POST" => see_other(&location, ""),
        _ => html(
            "Content-Security-Policy: default-src 'none'; form-action 'self'\r\n",
            FORM_PAGE,
        ),
    });
    let browser = Browser::start();
    browser.navigate(&site.url("/form"));
    browser.click(&browser.find("button[name=consent][value=allow]"));
    thread::sleep(Duration::from_secs(1));
    let url = browser.current_url();
    assert!(
        !url.starts_with(&callback),
        "form-action 'self' should have blocked the cross-origin redirect, browser at {url}"
    );
    assert!(
        client.requests().is_empty(),
        "the callback was reached: {:?}",
        client.requests()
    );
}

#[test]
fn webdriver_leaves_no_process_behind_when_a_test_panics() {
    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = thread::spawn(move || {
        let browser = Browser::start();
        browser.navigate("about:blank");
        let profile = browser.profile_dir().display().to_string();
        assert!(
            !processes_mentioning(&profile).is_empty(),
            "no Chromium process found for {profile}"
        );
        let _ = tx.send((profile, browser.driver_pid()));
        panic!("a test failing with the browser open");
    })
    .join();
    assert!(outcome.is_err(), "the thread should have panicked");
    let (profile, driver_pid) = rx.recv().expect("profile dir");
    // SIGKILL is asynchronous: give the kernel a moment to tear the processes down.
    let mut left = processes_mentioning(&profile);
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        thread::sleep(Duration::from_millis(100));
        left = processes_mentioning(&profile);
    }
    assert!(left.is_empty(), "left behind: {left:#?}");
    let driver = driver_pid.expect("driver pid");
    let stat = std::fs::read_to_string(format!("/proc/{driver}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z"),
        "chromedriver {driver} still runs: {stat}"
    );
}

// ---------------------------------------------------------------------------------------------
// The authorization code flow against Tessera
// ---------------------------------------------------------------------------------------------

const WEB_CLIENT_ID: &str = "web-app";
const WEB_CLIENT_SECRET: &str = "web-app-secret-0123456789";
const ALICE_PASSWORD: &str = "alice-browser-pw";

fn web_client() -> Client {
    Client::new(WEB_CLIENT_ID, Some(WEB_CLIENT_SECRET), AuthMethod::Basic)
}

/// A server with one web client whose redirect URI is `redirect_uri`, and the user alice.
fn start_server(redirect_uri: &str) -> Server {
    let config = ConfigBuilder::empty()
        .server("listen", "\"127.0.0.1:0\"")
        .server("workers", "2")
        .store("kind", "\"memory\"")
        .client(&format!(
            r#"id = {id}
secret = {secret}
auth_method = "client_secret_basic"
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "email"]
redirect_uris = [{redirect}]"#,
            id = toml_str(WEB_CLIENT_ID),
            secret = toml_str(WEB_CLIENT_SECRET),
            redirect = toml_str(redirect_uri),
        ))
        .user(&format!(
            r#"username = "alice"
password = {pw}
claims = {{ name = "Alice Liddell", email = "alice@example.com" }}"#,
            pw = toml_str(ALICE_PASSWORD)
        ))
        .build();
    Server::start(&config)
}

/// A PKCE verifier and its S256 challenge (RFC 7636 §4.1, §4.2).
fn pkce_pair() -> (String, String) {
    let verifier: String = {
        use rand::Rng as _;
        let mut rng = rand::rng();
        (0..64)
            .map(|_| {
                let i = rng.random_range(0..TOKEN_ALPHABET.len());
                TOKEN_ALPHABET.as_bytes()[i] as char
            })
            .collect()
    };
    let challenge = ::base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The claims of a JWS compact token, unverified (the relying-party test verifies
/// signatures with a real library; here only the values matter).
fn jwt_claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).expect("JWS payload");
    let bytes = ::base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// What one authorize request asks for.
struct AuthRequest {
    state: String,
    nonce: String,
    verifier: String,
    url: String,
}

fn auth_request(server: &Server, redirect_uri: &str, extra: &[(&str, &str)]) -> AuthRequest {
    let (verifier, challenge) = pkce_pair();
    let (_, state) = pkce_pair();
    let (_, nonce) = pkce_pair();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", WEB_CLIENT_ID),
        ("redirect_uri", redirect_uri),
        ("scope", "openid profile"),
        ("state", state.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("nonce", nonce.as_str()),
    ];
    params.extend_from_slice(extra);
    let url = format!(
        "http://{}/api/oauth/authorize?{}",
        server.addr,
        form(&params).replace('+', "%20")
    );
    AuthRequest {
        state,
        nonce,
        verifier,
        url,
    }
}

/// Checks the redirect the browser landed on and returns its code.
fn code_from_redirect(server: &Server, redirect_uri: &str, req: &AuthRequest, url: &str) -> String {
    assert!(
        url.starts_with(&format!("{redirect_uri}?")),
        "not the redirect URI: {url}"
    );
    let params = url_params(url);
    assert!(!params.contains_key("error"), "error redirect: {url}");
    assert_eq!(
        params.get("state"),
        Some(&req.state),
        "state (RFC 6749 §4.1.2)"
    );
    assert_eq!(
        params.get("iss").map(String::as_str),
        Some(format!("http://{}", server.addr).as_str()),
        "iss (RFC 9207 §2)"
    );
    params.get("code").cloned().expect("code in the redirect")
}

/// Exchanges `code` and checks the token response: access and refresh tokens, and an
/// `id_token` for alice carrying the request's nonce.
fn exchange(server: &Server, redirect_uri: &str, req: &AuthRequest, code: &str) -> Issued {
    let resp = server.token(
        &web_client(),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &req.verifier),
        ],
    );
    assert_eq!(resp.status, 200, "code exchange: {}", resp.summary());
    let id_token = resp.json_str("id_token");
    let issued = Issued::from_response(resp);
    assert!(issued.refresh_token.is_some(), "the client may refresh");
    let claims = jwt_claims(&id_token);
    assert_eq!(claims["sub"], "alice");
    // `aud` may be the client id or an array holding it (OpenID Connect Core §2).
    assert!(
        claims["aud"] == WEB_CLIENT_ID
            || claims["aud"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == WEB_CLIENT_ID)),
        "aud: {}",
        claims["aud"]
    );
    assert_eq!(
        claims["iss"].as_str(),
        Some(format!("http://{}", server.addr).as_str())
    );
    assert_eq!(claims["nonce"].as_str(), Some(req.nonce.as_str()));
    issued
}

/// Logs in as alice and allows on the consent page; returns the URL the browser lands on.
fn log_in_and_consent(browser: &Browser, req: &AuthRequest, redirect_uri: &str) -> String {
    browser.navigate(&req.url);
    browser.send_keys(
        &browser.wait_for("input[name=username]", PAGE_WAIT),
        "alice",
    );
    browser.send_keys(&browser.find("input[name=password]"), ALICE_PASSWORD);
    browser.click(
        &browser.find("form button[type=submit], form input[type=submit], form button:not([type])"),
    );
    browser.click(&browser.wait_for("[name=consent][value=allow]", PAGE_WAIT));
    browser.wait_for_url(PAGE_WAIT, |u| u.starts_with(redirect_uri))
}

#[test]
fn authorization_code_flow_in_a_browser_logs_in_consents_and_redeems_the_code() {
    let callback = LocalSite::start(|_| html("", "<p>signed in</p>"));
    let redirect_uri = callback.url("/cb");
    let server = start_server(&redirect_uri);
    let browser = Browser::start();

    let req = auth_request(&server, &redirect_uri, &[]);
    let landed = log_in_and_consent(&browser, &req, &redirect_uri);
    let code = code_from_redirect(&server, &redirect_uri, &req, &landed);
    assert!(
        callback.requests().iter().any(|r| r.target.contains(&code)),
        "the client's callback received the code"
    );
    let issued = exchange(&server, &redirect_uri, &req, &code);
    assert_token_shape(&issued.access_token, 54);

    // The session cookie as the browser kept it. WebDriver lists the cookies the current
    // document would send, and the cookie's path is /api/oauth: look from a page there.
    browser.navigate(&format!("http://{}/api/oauth/jwks", server.addr));
    let session = browser
        .cookie("tessera_session")
        .expect("the browser holds the session cookie");
    assert!(session.http_only, "tessera_session is HttpOnly");
    assert_eq!(session.same_site.as_deref(), Some("Lax"));
    assert!(!session.secure, "no Secure flag over plain HTTP");
}

#[test]
fn prompt_none_with_a_session_and_remembered_consent_gets_a_code_without_a_page() {
    let callback = LocalSite::start(|_| html("", "<p>signed in</p>"));
    let redirect_uri = callback.url("/cb");
    let server = start_server(&redirect_uri);
    let browser = Browser::start();

    let first = auth_request(&server, &redirect_uri, &[]);
    let landed = log_in_and_consent(&browser, &first, &redirect_uri);
    let code = code_from_redirect(&server, &redirect_uri, &first, &landed);
    exchange(&server, &redirect_uri, &first, &code);

    // Single sign-on in the browser: straight back to the client.
    let again = auth_request(&server, &redirect_uri, &[("prompt", "none")]);
    browser.navigate(&again.url);
    let landed = browser.wait_for_url(PAGE_WAIT, |u| u.starts_with(&redirect_uri));
    let code = code_from_redirect(&server, &redirect_uri, &again, &landed);
    exchange(&server, &redirect_uri, &again, &code);

    // And over plain HTTP with the browser's cookie: the answer is the redirect itself,
    // not a page. (The cookie's path is /api/oauth: read it from a page there.)
    browser.navigate(&format!("http://{}/api/oauth/jwks", server.addr));
    let session = browser
        .cookie("tessera_session")
        .expect("the browser holds the session cookie");
    let third = auth_request(&server, &redirect_uri, &[("prompt", "none")]);
    let target = third
        .url
        .strip_prefix(&format!("http://{}", server.addr))
        .expect("path");
    let cookie = format!("tessera_session={}", session.value);
    let resp = server.get_with(target, &[("Cookie", &cookie)]);
    assert!(
        resp.status == 302 || resp.status == 303,
        "prompt=none with a session answers a redirect: {}",
        resp.summary()
    );
    let location = resp.header("Location").expect("Location").to_string();
    let code = code_from_redirect(&server, &redirect_uri, &third, &location);
    exchange(&server, &redirect_uri, &third, &code);

    // Without the cookie, prompt=none cannot show a login page: login_required.
    let fourth = auth_request(&server, &redirect_uri, &[("prompt", "none")]);
    let target = fourth
        .url
        .strip_prefix(&format!("http://{}", server.addr))
        .expect("path");
    let resp = server.get(target);
    let location = resp.header("Location").unwrap_or_default().to_string();
    assert_eq!(
        url_params(&location).get("error").map(String::as_str),
        Some("login_required"),
        "{}",
        resp.summary()
    );
}
