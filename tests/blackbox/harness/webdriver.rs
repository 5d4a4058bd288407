//! A minimal W3C WebDriver client (https://www.w3.org/TR/webdriver2/) for the browser tests:
//! `Browser` starts Debian's `chromedriver` on a port of its choosing, opens a headless
//! Chromium session with a throw-away profile, and offers the few commands a login flow
//! needs (navigate, current URL, find element by CSS, send keys, click, page source,
//! cookies), and for the status page an element's text, a script's result and a screenshot.
//!
//! It starts processes (chromedriver, which starts Chromium) and talks JSON to chromedriver
//! over `Conn` (`client.rs`), one connection per command; it writes files only through
//! `TempDir` (the profile). chromedriver is started in a process group of its own and the
//! whole group is killed when the `Browser` drops, panic or not, so no Chromium outlives a
//! test. Binaries: `/usr/bin/chromedriver` and `/usr/bin/chromium` (installed by
//! `.ci/setup`), or `TESSERA_CHROMEDRIVER` / `TESSERA_CHROMIUM`.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::client::{raw_request, Conn};
use super::config::TempDir;

/// How long chromedriver may take to say it listens.
const DRIVER_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one command may take: starting Chromium on a busy two-core machine takes
/// seconds, and a navigation waits for the page to load (bounded by `PAGE_LOAD_MS`).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// The session's page-load limit (the WebDriver default is 300 s).
const PAGE_LOAD_MS: u64 = 20_000;

/// The W3C key of an element reference in a command result.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver error answer: the `error` code (`no such element`, `unknown error`, ...)
/// and chromedriver's message.
#[derive(Debug, Clone)]
pub struct WebDriverError {
    pub status: u16,
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.error, self.status, self.message)
    }
}

/// An element found on the current page (valid until the page changes).
#[derive(Debug, Clone)]
pub struct Element {
    id: String,
}

/// One cookie as the browser holds it.
#[derive(Debug, Clone)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub path: String,
    pub domain: String,
    pub http_only: bool,
    pub secure: bool,
    /// `Lax`, `Strict` or `None` as the browser reports it.
    pub same_site: Option<String>,
}

/// A headless Chromium driven through chromedriver; both are killed on drop.
#[derive(Debug)]
pub struct Browser {
    driver: Option<Child>,
    addr: SocketAddr,
    session: Option<String>,
    profile: TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; panics with the reason when it
    /// cannot (for example when `.ci/setup` has not installed the packages).
    pub fn start() -> Browser {
        Browser::try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_start() -> Result<Browser, String> {
        let driver_bin = binary("TESSERA_CHROMEDRIVER", "/usr/bin/chromedriver")?;
        let chromium_bin = binary("TESSERA_CHROMIUM", "/usr/bin/chromium")?;
        let profile = TempDir::new("chromium");
        // `--port=0`: chromedriver binds a free port and prints it, so two tests never
        // race for one. Its own process group, so Drop can kill Chromium with it.
        let mut child = Command::new(&driver_bin)
            .arg("--port=0")
            .arg(format!(
                "--log-path={}",
                profile.path().join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("spawn {driver_bin}: {e} (run .ci/setup)"))?;
        let stdout = child.stdout.take().expect("chromedriver stdout");
        let port = match wait_for_port(stdout) {
            Ok(port) => port,
            Err(e) => {
                kill_group(&mut child);
                return Err(format!("chromedriver did not start: {e}"));
            }
        };
        let mut browser = Browser {
            driver: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            session: None,
            profile,
        };
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "timeouts": { "pageLoad": PAGE_LOAD_MS, "script": 10_000, "implicit": 0 },
                    "goog:chromeOptions": {
                        "binary": chromium_bin,
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--no-first-run",
                            "--no-default-browser-check",
                            "--disable-background-networking",
                            "--disable-component-update",
                            // The crash handler leaves Chromium's process group; without
                            // it every process dies with the group kill in Drop.
                            "--disable-crash-reporter",
                            "--disable-breakpad",
                            "--disable-features=Translate,OptimizationHints,MediaRouter,HttpsUpgrades",
                            format!("--user-data-dir={}", browser.profile.path().join("profile").display()),
                        ],
                    },
                },
            },
        });
        let value = browser
            .command("POST", "/session", Some(&caps))
            .map_err(|e| format!("new session: {e}\n{}", browser.driver_log_tail()))?;
        let id = value
            .get("sessionId")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("new session answer without sessionId: {value}"))?;
        browser.session = Some(id.to_string());
        Ok(browser)
    }

    /// The user-data directory of this Chromium (unique per browser): how a test finds the
    /// browser's processes.
    pub fn profile_dir(&self) -> std::path::PathBuf {
        self.profile.path().join("profile")
    }

    /// The chromedriver process id (the process group of the driver and its Chromium).
    pub fn driver_pid(&self) -> Option<u32> {
        self.driver.as_ref().map(Child::id)
    }

    fn session_path(&self, rest: &str) -> String {
        format!(
            "/session/{}{rest}",
            self.session.as_deref().expect("no WebDriver session")
        )
    }

    /// Sends one WebDriver command and returns its `value`, or the error it answered.
    fn command(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, WebDriverError> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut headers = vec![("Connection", "close")];
        if method == "POST" {
            headers.push(("Content-Type", "application/json; charset=utf-8"));
        }
        let mut conn = Conn::connect(self.addr);
        conn.stream
            .set_read_timeout(Some(COMMAND_TIMEOUT))
            .expect("set_read_timeout");
        let resp = conn
            .try_send(&raw_request(method, path, &headers, body.as_bytes()))
            .map_err(|e| e.to_string())
            .and_then(|()| conn.try_read_response())
            .map_err(|e| WebDriverError {
                status: 0,
                error: "transport".to_string(),
                message: format!("{method} {path}: {e}"),
            })?;
        let json: Value = serde_json::from_slice(&resp.body).map_err(|e| WebDriverError {
            status: resp.status,
            error: "bad answer".to_string(),
            message: format!("{method} {path}: not JSON ({e}): {}", resp.text()),
        })?;
        let value = json.get("value").cloned().unwrap_or(Value::Null);
        if resp.status == 200 {
            return Ok(value);
        }
        Err(WebDriverError {
            status: resp.status,
            error: value
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string(),
            message: value
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        })
    }

    fn must(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.command(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// Navigates to `url` and waits for the load. An unreachable page is an error answer
    /// (`unknown error: net::ERR_CONNECTION_REFUSED`), which the caller may expect.
    pub fn try_navigate(&self, url: &str) -> Result<(), WebDriverError> {
        self.command(
            "POST",
            &self.session_path("/url"),
            Some(&json!({ "url": url })),
        )
        .map(|_| ())
    }

    /// Navigates to `url`; panics when the browser reports an error.
    pub fn navigate(&self, url: &str) {
        self.try_navigate(url)
            .unwrap_or_else(|e| panic!("navigate to {url}: {e}"));
    }

    /// The URL of the top-level page. After a redirect to an unreachable address Chromium
    /// shows its error page, but this is still the address it tried.
    pub fn current_url(&self) -> String {
        match self.must("GET", &self.session_path("/url"), None) {
            Value::String(s) => s,
            other => panic!("current URL is not a string: {other}"),
        }
    }

    /// Waits up to `limit` for the current URL to satisfy `ok`; returns it, or panics with
    /// the last URL and the page.
    pub fn wait_for_url(&self, limit: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let url = self.current_url();
            if ok(&url) {
                return url;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the browser stayed at {url} for {limit:?}; page:\n{}",
                    self.page_source()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The first element matching the CSS `selector`, if any.
    pub fn try_find(&self, selector: &str) -> Option<Element> {
        let body = json!({ "using": "css selector", "value": selector });
        match self.command("POST", &self.session_path("/element"), Some(&body)) {
            Ok(v) => Some(Element {
                id: v
                    .get(ELEMENT_KEY)
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("element reference without {ELEMENT_KEY}: {v}"))
                    .to_string(),
            }),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("find {selector:?}: {e}"),
        }
    }

    /// The first element matching `selector`; panics with the page when there is none.
    pub fn find(&self, selector: &str) -> Element {
        self.wait_for(selector, Duration::ZERO)
    }

    /// Waits up to `limit` for an element matching `selector`.
    pub fn wait_for(&self, selector: &str, limit: Duration) -> Element {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(el) = self.try_find(selector) {
                return el;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no element {selector:?} at {}; page:\n{}",
                    self.current_url(),
                    self.page_source()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Types `text` into `element` (appended to what it holds).
    pub fn send_keys(&self, element: &Element, text: &str) {
        self.must(
            "POST",
            &self.session_path(&format!("/element/{}/value", element.id)),
            Some(&json!({ "text": text })),
        );
    }

    /// Clicks `element`; when the click submits a form, chromedriver waits for the
    /// navigation it starts.
    pub fn click(&self, element: &Element) {
        self.must(
            "POST",
            &self.session_path(&format!("/element/{}/click", element.id)),
            Some(&json!({})),
        );
    }

    /// An attribute of `element` (`None` when absent).
    pub fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        self.must(
            "GET",
            &self.session_path(&format!("/element/{}/attribute/{name}", element.id)),
            None,
        )
        .as_str()
        .map(str::to_string)
    }

    /// The rendered text of `element` (what a reader sees).
    pub fn text(&self, element: &Element) -> String {
        self.must(
            "GET",
            &self.session_path(&format!("/element/{}/text", element.id)),
            None,
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Runs `script` (a function body; `return` gives the result) in the page.
    pub fn execute(&self, script: &str) -> Value {
        self.must(
            "POST",
            &self.session_path("/execute/sync"),
            Some(&json!({ "script": script, "args": [] })),
        )
    }

    /// Resizes the browser window (the viewport a screenshot shows).
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.must(
            "POST",
            &self.session_path("/window/rect"),
            Some(&json!({ "width": width, "height": height })),
        );
    }

    /// A PNG screenshot of the viewport.
    pub fn screenshot_png(&self) -> Vec<u8> {
        use base64::Engine as _;
        let value = self.must("GET", &self.session_path("/screenshot"), None);
        let text = value.as_str().expect("screenshot is base64 text");
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("screenshot is valid base64")
    }

    /// The current page's HTML as the browser serializes it.
    pub fn page_source(&self) -> String {
        match self.must("GET", &self.session_path("/source"), None) {
            Value::String(s) => s,
            other => panic!("page source is not a string: {other}"),
        }
    }

    /// Every cookie visible to the current page (HttpOnly ones included).
    pub fn cookies(&self) -> Vec<Cookie> {
        let value = self.must("GET", &self.session_path("/cookie"), None);
        let list = value.as_array().cloned().unwrap_or_default();
        list.iter()
            .map(|c| {
                let s = |k: &str| {
                    c.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                Cookie {
                    name: s("name"),
                    value: s("value"),
                    path: s("path"),
                    domain: s("domain"),
                    http_only: c.get("httpOnly").and_then(Value::as_bool).unwrap_or(false),
                    secure: c.get("secure").and_then(Value::as_bool).unwrap_or(false),
                    same_site: c
                        .get("sameSite")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                }
            })
            .collect()
    }

    /// The cookie `name` visible to the current page, if any.
    pub fn cookie(&self, name: &str) -> Option<Cookie> {
        self.cookies().into_iter().find(|c| c.name == name)
    }

    /// Ends the session (Chromium quits) and stops chromedriver.
    pub fn quit(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.session.is_some() {
            let path = self.session_path("");
            // Ends Chromium cleanly; whatever is left is killed with the group below.
            let _ = self.command("DELETE", &path, None);
            self.session = None;
        }
        if let Some(mut child) = self.driver.take() {
            kill_group(&mut child);
        }
        // Anything of this browser that left the group (found by its unique profile path).
        for pid in processes_mentioning(&self.profile_dir().display().to_string()) {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .stderr(Stdio::null())
                .status();
        }
    }

    /// The last lines of chromedriver's log, for failure messages.
    fn driver_log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.profile.path().join("chromedriver.log"))
            .unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(30);
        format!("chromedriver log (tail):\n{}", lines[from..].join("\n"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if thread::panicking() && self.session.is_some() {
            if let Ok(Value::String(url)) = self.command("GET", &self.session_path("/url"), None) {
                eprintln!("---- browser was at {url} ----");
            }
        }
        self.shutdown();
    }
}

/// `var` if set, else `default`, which must exist.
fn binary(var: &str, default: &str) -> Result<String, String> {
    let path = std::env::var(var).unwrap_or_else(|_| default.to_string());
    if std::path::Path::new(&path).exists() {
        Ok(path)
    } else {
        Err(format!(
            "{path} not found: run .ci/setup (Debian packages chromium and chromium-driver) \
             or set {var}"
        ))
    }
}

/// Reads chromedriver's stdout until `... started successfully on port N.`, then keeps
/// draining it in a thread so the driver never blocks on a full pipe.
fn wait_for_port(stdout: std::process::ChildStdout) -> Result<u16, String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut seen = String::new();
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(Err(format!("stdout ended: {seen:?}")));
                    return;
                }
                Ok(_) => {}
            }
            seen.push_str(&line);
            if let Some(rest) = line.split("on port ").nth(1) {
                if let Ok(port) = rest.trim().trim_end_matches('.').parse::<u16>() {
                    if port != 0 {
                        let _ = tx.send(Ok(port));
                        break;
                    }
                }
            }
        }
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    rx.recv_timeout(DRIVER_STARTUP_TIMEOUT)
        .map_err(|_| format!("no port announced within {DRIVER_STARTUP_TIMEOUT:?}"))?
}

/// Live processes (not zombies) whose command line contains `needle`: how a test finds
/// the processes of one browser, by its profile directory.
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
            continue;
        };
        if !String::from_utf8_lossy(&cmdline).contains(needle) {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
        if !state.starts_with('Z') && !state.starts_with('X') {
            found.push(pid);
        }
    }
    found
}

/// Kills the process group led by `child` (chromedriver and every Chromium process it
/// started) and reaps the leader.
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .arg(format!("-{}", child.id()))
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}
