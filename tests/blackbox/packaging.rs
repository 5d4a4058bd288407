//! What the Debian package's systemd unit (`config/systemd/tessera.service`, `Type=notify`)
//! relies on in the binary: `tessera serve` tells the service manager `READY=1` only once the
//! store is recovered and every listener (public, plain, admin) accepts, says `STOPPING=1` when it shuts down, and
//! never says ready when it cannot start (sd_notify(3)).
//!
//! The test plays systemd: it binds a Unix datagram socket and hands its path to the server
//! in `NOTIFY_SOCKET`. Recovery is held up with the test-only `store.test_faults_file`
//! (`stall`), so "not ready while the store is being recovered" is checked while it really
//! is, not raced. The package build and install itself is `make package` (`.ci/run`).

use crate::harness::*;
use std::ffi::OsStr;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The service manager's end of `NOTIFY_SOCKET`.
struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    fn bind(dir: &TempDir) -> NotifySocket {
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        NotifySocket { socket, path }
    }

    /// The next notification's `KEY=value` lines, or `None` if none arrives within `limit`.
    fn next_within(&self, limit: Duration) -> Option<Vec<String>> {
        self.socket
            .set_read_timeout(Some(limit))
            .expect("set read timeout");
        let mut buf = vec![0u8; 4096];
        match self.socket.recv(&mut buf) {
            Ok(n) => Some(
                String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .map(str::to_owned)
                    .collect(),
            ),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
            Err(e) => panic!("recv on the notify socket: {e}"),
        }
    }

    /// Notifications until one has `line`; panics if none does within 30 s.
    fn wait_for(&self, line: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let Some(message) = self.next_within(Duration::from_secs(30)) else {
                panic!("no {line} within 30 s; notifications so far: {seen:?}");
            };
            if message.iter().any(|l| l == line) {
                return message;
            }
            seen.push(message);
        }
    }

    fn env(&self) -> [(&'static str, &OsStr); 1] {
        [("NOTIFY_SOCKET", self.path.as_os_str())]
    }
}

fn status(message: &[String]) -> Option<&str> {
    message.iter().find_map(|l| l.strip_prefix("STATUS="))
}

/// Every `IP:PORT` a `STATUS=` line names, in order (`listening on A, plain B, admin C`).
fn status_addrs(message: &[String]) -> Vec<SocketAddr> {
    let addrs: Vec<SocketAddr> = status(message)
        .unwrap_or_default()
        .split([' ', ','])
        .filter_map(|word| word.parse().ok())
        .collect();
    assert!(!addrs.is_empty(), "no address in the status of {message:?}");
    addrs
}

fn write_fault(path: &Path, fault: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, format!("{fault}\n")).expect("write faults file");
    std::fs::rename(&tmp, path).expect("rename faults file");
}

fn health_status(addr: SocketAddr) -> u16 {
    let mut conn = Conn::connect(addr);
    conn.roundtrip(&raw_request(
        "GET",
        "/health",
        &[("Connection", "close")],
        b"",
    ))
    .status
}

#[test]
fn ready_is_notified_only_once_the_store_is_recovered_and_every_listener_accepts() {
    let dir = TempDir::new("notify");
    let notify = NotifySocket::bind(&dir);
    let faults = dir.path().join("faults");
    // Every store call blocks, the recovery scan included, until the fault is lifted.
    write_fault(&faults, "stall");
    let hashed = run_cli(&["hash-secret"], Some(b"an admin token of the notify test"));
    assert!(hashed.status.success(), "hash-secret: {hashed:?}");
    let token_hash = String::from_utf8_lossy(&hashed.stdout).trim().to_owned();
    let config = format!(
        "{}\n[admin]\nlisten = \"127.0.0.1:0\"\nadmin_token_hash = {}\n",
        ConfigBuilder::standard()
            .store("kind", "\"rocksdb\"")
            .store(
                "path",
                &toml_str(&dir.path().join("db").display().to_string())
            )
            .store("test_faults_file", &toml_str(&faults.display().to_string()))
            .build(),
        toml_str(&token_hash)
    );
    let config_path = dir.write("tessera.toml", &config);
    let mut server = Serving::spawn(&config_path, &notify.env());

    let starting = notify
        .next_within(Duration::from_secs(30))
        .expect("a STATUS= while the store is being recovered");
    assert!(
        !starting.iter().any(|l| l == "READY=1"),
        "ready before recovery: {starting:?}"
    );
    let addr = status_addrs(&starting)[0];
    assert_ne!(addr.port(), 0, "the status names the bound port");
    // Bound but not listening: refused, as before the process started.
    let refused = TcpStream::connect(addr).map_err(|e| e.kind());
    assert_eq!(refused.err(), Some(ErrorKind::ConnectionRefused));
    // While recovery is stalled nothing more may be said, READY=1 least of all.
    let early = notify.next_within(Duration::from_secs(1));
    assert_eq!(early, None, "a notification while the recovery was stalled");

    write_fault(&faults, "ok");
    let ready = notify.wait_for("READY=1");
    // At READY=1 every listener takes connections and answers: the public one, then the
    // admin one (its /health needs no token).
    let listeners = status_addrs(&ready);
    assert_eq!(listeners.len(), 2, "public and admin listeners: {ready:?}");
    assert_eq!(listeners[0], addr, "{ready:?}");
    for listener in &listeners {
        assert_eq!(health_status(*listener), 200, "/health on {listener}");
    }
    let announced = server.first_line().unwrap_or_default();
    assert_eq!(announced.trim(), format!("listening on {addr}"));
}

#[test]
fn stopping_is_notified_when_sigterm_begins_the_graceful_shutdown() {
    let dir = TempDir::new("notify");
    let notify = NotifySocket::bind(&dir);
    let config_path = dir.write("tessera.toml", &default_config());
    let mut server = Serving::spawn(&config_path, &notify.env());
    let ready = notify.wait_for("READY=1");
    let addr = status_addrs(&ready)[0];
    assert_eq!(health_status(addr), 200);

    let pid = server.child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let stopping = notify.wait_for("STOPPING=1");
    assert!(
        status(&stopping).is_some_and(|s| s.starts_with("shutting down")),
        "{stopping:?}"
    );
    let exit = server.wait_exit().expect("exits after SIGTERM");
    assert!(exit.success(), "exit after SIGTERM: {exit:?}");
}

#[test]
fn ready_is_never_notified_when_the_store_cannot_be_opened() {
    let dir = TempDir::new("notify");
    let notify = NotifySocket::bind(&dir);
    // A file where RocksDB wants its directory.
    let not_a_dir = dir.write("db", "not a directory\n");
    let config = ConfigBuilder::standard()
        .store("kind", "\"rocksdb\"")
        .store("path", &toml_str(&not_a_dir.display().to_string()))
        .build();
    let config_path = dir.write("tessera.toml", &config);
    let mut server = Serving::spawn(&config_path, &notify.env());
    let exit = server
        .wait_exit()
        .expect("exits when the store cannot open");
    assert_eq!(exit.code(), Some(1), "{}", server.stderr());
    let mut messages = Vec::new();
    while let Some(message) = notify.next_within(Duration::from_millis(200)) {
        messages.push(message);
    }
    // The last word is why, for `systemctl status`.
    let last = messages.last().and_then(|m| status(m)).unwrap_or_default();
    assert!(
        last.starts_with("cannot start: ") && last.contains(&*not_a_dir.to_string_lossy()),
        "the last status does not say why: {messages:?}"
    );
    assert!(
        !messages.iter().flatten().any(|l| l == "READY=1"),
        "READY=1 from a server that did not start: {messages:?}"
    );
}
