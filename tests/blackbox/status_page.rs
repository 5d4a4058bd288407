//! The live status page of the admin listener (`GET /` and `GET /admin/status`), loaded in a
//! real headless Chromium (Debian's `chromium` and `chromium-driver`, through
//! `harness::webdriver`) while the server is under load: the figures it shows must move.
//!
//! Artifact: the screenshot of the page under load is written to
//! `$CARGO_TARGET_TMPDIR/status_page/status.png` (with the default target directory,
//! `target/tmp/status_page/status.png`), kept after the run for CI to collect.

use crate::harness::*;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const ADMIN_TOKEN: &str = "status-page-admin-token-7f3a9c21e4b8d605";
/// How long the figures may take to move (the page polls once a second).
const MOVE_TIMEOUT: Duration = Duration::from_secs(30);

/// The standard config on RocksDB (so the store's figures exist) with the admin listener.
fn admin_server(data: &TempDir) -> Server {
    let out = run_cli(&["hash-secret"], Some(ADMIN_TOKEN.as_bytes()));
    assert!(out.status.success(), "hash-secret: {out:?}");
    let hash = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    let mut config = ConfigBuilder::standard()
        .store("kind", "\"rocksdb\"")
        .store("path", &toml_str(&data.path().display().to_string()))
        .store("flush_interval_ms", "10")
        .build();
    config.push_str(&format!(
        "\n[admin]\nlisten = \"127.0.0.1:0\"\nadmin_token_hash = {}\n",
        toml_str(&hash)
    ));
    let server = Server::start(&config);
    assert!(server.admin_addr.is_some(), "no `admin listener on` line");
    server
}

fn admin_url(server: &Server, rest: &str) -> String {
    format!(
        "http://{}{rest}",
        server.admin_addr.expect("admin listener")
    )
}

/// Token requests of several grants and clients, tokeninfo and revocations, until stopped.
fn load(server: Arc<Server>, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let (a, b) = (confidential_client(), other_client());
        while !stop.load(Ordering::Relaxed) {
            let t = server.issue_cc(&a, None);
            server.issue_cc(&b, None);
            server.tokeninfo(&t.access_token);
            let p = server.issue_password(&a, ALICE, None);
            server.issue_refresh(&a, p.refresh_token(), None);
            server.revoke(&a, &t.access_token, None);
            thread::sleep(Duration::from_millis(5));
        }
    })
}

/// The figures the page shows, as the page itself holds them (`data-value` of each tile,
/// the number of points drawn in each chart, the rows of the per-client table).
fn shown(browser: &Browser) -> Value {
    browser.execute(
        "const v = (id) => document.getElementById(id).dataset.value; \
         const pts = (id) => Number(document.getElementById(id).dataset.points || 0); \
         return { \
           dashboard: !document.getElementById('dashboard').hidden, \
           updated: Number(v('updated')), \
           requests: Number(v('tile-requests')), \
           issued: Number(v('tile-issued')), \
           rate: v('tile-rate'), \
           live: v('tile-live'), \
           queue: v('tile-queue'), \
           rate_points: pts('chart-rate'), \
           p99_points: pts('chart-p99'), \
           issued_points: pts('chart-issued'), \
           samples: pts('chart-live'), \
           clients: Number(document.getElementById('clients').dataset.rows || 0), \
           client_text: document.getElementById('clients').innerText, \
           url: location.href, \
           stored: sessionStorage.getItem('tessera-admin-token') \
         };",
    )
}

fn wait_until(browser: &Browser, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + MOVE_TIMEOUT;
    loop {
        let v = shown(browser);
        if ok(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}; the page shows {v}");
        thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn status_page_under_load_shows_request_rates_tokens_and_store_figures_that_move() {
    let data = TempDir::new("status-page");
    let server = Arc::new(admin_server(&data));
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = load(Arc::clone(&server), Arc::clone(&stop));

    let browser = Browser::start();
    browser.set_window_size(1400, 1600);
    browser.navigate(&admin_url(&server, &format!("/#token={ADMIN_TOKEN}")));
    let first = wait_until(&browser, "the page shows figures", |v| {
        v["dashboard"] == true && v["requests"].as_f64().is_some_and(|n| n > 0.0)
    });
    // The token moved from the address bar into the tab's session storage.
    assert!(
        !first["url"].as_str().unwrap_or("").contains(ADMIN_TOKEN),
        "{first}"
    );
    assert_eq!(first["stored"], ADMIN_TOKEN);

    let later = wait_until(&browser, "the figures move under load", |v| {
        v["updated"].as_f64() > first["updated"].as_f64()
            && v["requests"].as_f64() > first["requests"].as_f64()
            && v["issued"].as_f64() > first["issued"].as_f64()
            && v["rate_points"].as_u64() > first["rate_points"].as_u64()
            && v["p99_points"].as_u64().is_some_and(|n| n > 0)
            && v["issued_points"].as_u64().is_some_and(|n| n > 0)
            && v["rate"].as_str().and_then(|r| r.parse::<f64>().ok()) > Some(0.0)
    });
    assert!(later["clients"].as_u64() >= Some(2), "{later}");
    let clients = later["client_text"].as_str().unwrap_or_default();
    assert!(
        clients.contains("svc-a") && clients.contains("svc-b"),
        "{clients}"
    );
    assert!(
        later["live"].as_str().is_some_and(|s| !s.is_empty()),
        "{later}"
    );
    assert!(
        later["queue"].as_str().is_some_and(|s| !s.is_empty()),
        "{later}"
    );

    // A few more seconds of history make the screenshot worth looking at.
    wait_until(&browser, "ten seconds of history", |v| {
        v["samples"].as_u64().is_some_and(|n| n >= 10)
    });
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status_page");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    let png = browser.screenshot_png();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(dir.join("status.png"), &png).expect("write screenshot");

    stop.store(true, Ordering::Relaxed);
    traffic.join().expect("load thread");
}

#[test]
fn status_page_asks_for_the_token_and_says_when_the_server_refuses_it() {
    let data = TempDir::new("status-page-login");
    let server = admin_server(&data);
    let browser = Browser::start();
    browser.navigate(&admin_url(&server, "/"));
    let input = browser.wait_for("#login:not([hidden]) #token", Duration::from_secs(10));
    browser.send_keys(&input, "not-the-admin-token");
    browser.click(&browser.find("#login button"));
    let error = browser.wait_for("#login-error", Duration::from_secs(10));
    let deadline = Instant::now() + MOVE_TIMEOUT;
    while browser.text(&error).is_empty() {
        assert!(Instant::now() < deadline, "no refusal shown");
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        browser.text(&error).contains("refused"),
        "{}",
        browser.text(&error)
    );
    assert_eq!(shown(&browser)["dashboard"], false);

    let input = browser.find("#token");
    browser.send_keys(&input, ADMIN_TOKEN);
    browser.click(&browser.find("#login button"));
    wait_until(&browser, "the right token shows the figures", |v| {
        v["dashboard"] == true && v["updated"].as_f64().is_some_and(|t| t > 0.0)
    });
}

#[test]
fn admin_status_needs_the_token_and_keeps_history_for_a_page_opened_later() {
    let data = TempDir::new("status-json");
    let server = admin_server(&data);
    let admin = server.admin_addr.expect("admin listener");
    let get = |headers: &[(&str, &str)]| {
        Conn::connect(admin).roundtrip(&raw_request("GET", "/admin/status", headers, b""))
    };
    let r = get(&[]);
    assert_eq!(r.status, 401, "{}", r.summary());
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    // The sampler runs once a second whether or not anyone looks: a page opened later
    // still gets the seconds before it.
    let history_until = |ok: &dyn Fn(&Value) -> bool| {
        let deadline = Instant::now() + MOVE_TIMEOUT;
        loop {
            let r = get(&[("Authorization", &bearer)]);
            assert_eq!(r.status, 200, "{}", r.summary());
            let ct = r.header("content-type").unwrap_or("").to_string();
            assert!(ct.starts_with("application/json"), "{ct}");
            let body = r.json();
            if ok(&body) {
                return body;
            }
            assert!(Instant::now() < deadline, "history never got there: {body}");
            thread::sleep(Duration::from_millis(300));
        }
    };
    history_until(&|b| b["history"]["t"].as_array().map_or(0, Vec::len) >= 1);
    server.issue_cc(&confidential_client(), None);
    let body = history_until(&|b| {
        b["history"]["paths"]["/api/oauth/token"]["rate"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x.as_f64() > Some(0.0)))
            && b["history"]["t"].as_array().map_or(0, Vec::len) >= 3
    });
    assert_eq!(body["tokens_issued"]["by_grant"]["client_credentials"], 1);
    assert_eq!(body["tokens_issued"]["by_client"][0]["client_id"], "svc-a");
    assert_eq!(body["tokens_issued"]["others"]["clients"], 0);
    assert_eq!(body["live_tokens"], 1);
    assert_eq!(body["store"]["kind"], "rocksdb");
    let t = body["history"]["t"].as_array().expect("t");
    assert_eq!(
        body["history"]["live_tokens"].as_array().map(Vec::len),
        Some(t.len())
    );
}
