//! The live status page of the admin listener (`GET /` and `GET /admin/status`), loaded in a
//! real headless Chromium (Debian's `chromium` and `chromium-driver`, through
//! `harness::webdriver`) while the server is under load: the figures it shows must move.
//!
//! Artifact: the screenshot of the page under load is written to
//! `$CARGO_TARGET_TMPDIR/status_page/status.png` (with the default target directory,
//! `target/tmp/status_page/status.png`), kept after the run for CI to collect.

use crate::harness::*;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// What the load thread did: requests answered, and the first few that were not answered
/// as expected (with when), so a page that stops moving says whether the traffic stopped.
#[derive(Default)]
struct LoadLog {
    rounds: AtomicU64,
    server_errors: AtomicU64,
    failures: Mutex<Vec<String>>,
}

impl LoadLog {
    fn record(&self, started: Instant, what: String) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if f.len() < 5 {
            f.push(format!(
                "at {:.1} s: {what}",
                started.elapsed().as_secs_f64()
            ));
        }
    }

    fn summary(&self) -> String {
        let f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        format!(
            "load: {} rounds, {} 5xx answers, first failures: {f:?}",
            self.rounds.load(Ordering::Relaxed),
            self.server_errors.load(Ordering::Relaxed)
        )
    }
}

/// Token requests of several grants and clients, tokeninfo and revocations, until stopped.
/// A round that fails is logged and the traffic goes on: the page's figures are what this
/// test checks, and a round lost to a slow machine must not stop them moving.
fn load(server: Arc<Server>, stop: Arc<AtomicBool>, log: Arc<LoadLog>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let (a, b) = (confidential_client(), other_client());
        let started = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            // Every answer is counted before anything reads it, so a 5xx that also ends
            // the round (an unparsable token response) is still counted.
            let seen = |r: Response| {
                if r.status >= 500 {
                    log.server_errors.fetch_add(1, Ordering::Relaxed);
                }
                r
            };
            let round = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let t = Issued::from_response(seen(server.client_credentials(&a, None)));
                seen(server.client_credentials(&b, None));
                seen(server.tokeninfo(&t.access_token));
                let p = Issued::from_response(seen(server.password(&a, ALICE, None)));
                let r = seen(server.refresh(&a, p.refresh_token(), None));
                seen(server.revoke(&a, &t.access_token, None));
                Issued::from_response(r);
            }));
            match round {
                Ok(()) => {
                    log.rounds.fetch_add(1, Ordering::Relaxed);
                }
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    log.record(started, what);
                }
            }
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

fn wait_until(
    browser: &Browser,
    what: &str,
    context: &dyn Fn() -> String,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    let mut looks = 0;
    loop {
        let v = shown(browser);
        looks += 1;
        if ok(&v) {
            return v;
        }
        assert!(
            started.elapsed() < MOVE_TIMEOUT,
            "{what}: not within {:.1} s ({looks} looks); {}; the page shows {v}",
            started.elapsed().as_secs_f64(),
            context()
        );
        thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn status_page_under_load_shows_request_rates_tokens_and_store_figures_that_move() {
    let data = TempDir::new("status-page");
    let server = Arc::new(admin_server(&data));
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(LoadLog::default());
    let traffic = load(Arc::clone(&server), Arc::clone(&stop), Arc::clone(&log));
    let context = || log.summary();

    let browser = Browser::start();
    browser.set_window_size(1400, 1600);
    browser.navigate(&admin_url(&server, &format!("/#token={ADMIN_TOKEN}")));
    let first = wait_until(&browser, "the page shows figures", &context, |v| {
        v["dashboard"] == true && v["requests"].as_f64().is_some_and(|n| n > 0.0)
    });
    // The token moved from the address bar into the tab's session storage.
    assert!(
        !first["url"].as_str().unwrap_or("").contains(ADMIN_TOKEN),
        "{first}"
    );
    assert_eq!(first["stored"], ADMIN_TOKEN);

    let later = wait_until(&browser, "the figures move under load", &context, |v| {
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
    wait_until(&browser, "ten seconds of history", &context, |v| {
        v["samples"].as_u64().is_some_and(|n| n >= 10)
    });
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status_page");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    let png = browser.screenshot_png();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(dir.join("status.png"), &png).expect("write screenshot");

    stop.store(true, Ordering::Relaxed);
    traffic.join().expect("load thread");
    // A slow round is tolerated above; a server fault under this load is not.
    assert_eq!(
        log.server_errors.load(Ordering::Relaxed),
        0,
        "{}",
        log.summary()
    );
    assert!(log.rounds.load(Ordering::Relaxed) > 0, "{}", log.summary());
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
    wait_until(
        &browser,
        "the right token shows the figures",
        &String::new,
        |v| v["dashboard"] == true && v["updated"].as_f64().is_some_and(|t| t > 0.0),
    );
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
