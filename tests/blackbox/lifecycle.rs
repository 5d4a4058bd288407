//! Start-up and failure: the listening socket takes no connection it will not serve, and a
//! worker that fails stops the server at once.

use crate::harness::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// A port nothing listens on right now: bound to port 0, read back, released.
fn free_port() -> u16 {
    let probe = TcpListener::bind("127.0.0.1:0").expect("bind a probe");
    probe.local_addr().expect("probe address").port()
}

/// What one connection attempt saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Refused,
    Served,
    /// Accepted, then reset or closed without an answer.
    Reset,
}

fn attempt(addr: SocketAddr) -> Attempt {
    let mut s = match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Attempt::Refused,
        Err(_) => return Attempt::Reset,
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return Attempt::Reset;
    }
    let mut head = [0u8; 12];
    match s.read_exact(&mut head) {
        Ok(()) if head.starts_with(b"HTTP/1.1 200") => Attempt::Served,
        _ => Attempt::Reset,
    }
}

#[test]
fn start_up_refuses_until_ready_and_never_resets_a_connection() {
    for round in 0..3 {
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let dir = TempDir::new("startup");
        // RocksDB, so start-up has a store to open and recover before it serves.
        let config = ConfigBuilder::standard()
            .server("workers", "2")
            .store("kind", &toml_str("rocksdb"))
            .store(
                "path",
                &toml_str(&dir.path().join("data").display().to_string()),
            )
            .build();
        let config_path = dir.write("tessera.toml", &config);
        let stop = Arc::new(AtomicBool::new(false));
        let hammer = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    seen.push(attempt(addr));
                }
                seen
            })
        };
        let mut child = Command::new(TESSERA)
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--listen")
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tessera");
        // Until well after the server answers: start-up and the first moments of serving.
        let started = Instant::now();
        let mut served_at = None;
        while started.elapsed() < Duration::from_secs(20) {
            if attempt(addr) == Attempt::Served {
                served_at.get_or_insert_with(Instant::now);
            }
            if served_at.is_some_and(|t| t.elapsed() > Duration::from_millis(300)) {
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        let seen = hammer.join().expect("hammer thread");
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            served_at.is_some(),
            "round {round}: the server never answered"
        );
        let first_served = seen.iter().position(|a| *a == Attempt::Served);
        assert!(
            !seen.contains(&Attempt::Reset),
            "round {round}: a connection was accepted and then reset or dropped during \
             start-up ({} attempts: {:?} ...)",
            seen.len(),
            &seen[..seen.len().min(40)]
        );
        if let Some(i) = first_served {
            assert!(
                seen[i..].iter().all(|a| *a == Attempt::Served),
                "round {round}: after the first answer, a connection was refused"
            );
        }
    }
}

#[test]
fn a_failing_worker_stops_the_server_at_once_with_exit_code_1() {
    // The last worker panics 300 ms after it starts serving; the others are healthy and an
    // idle keep-alive connection is open, so nothing but the failure could end the process.
    let mut server = Server::start(
        &ConfigBuilder::standard()
            .server("workers", "3")
            .server("test_panic_worker_after_ms", "300")
            .build(),
    );
    let mut idle = TcpStream::connect(server.addr).expect("connect");
    let _ = idle.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    let started = Instant::now();
    let status = server
        .wait_exit(Duration::from_secs(5))
        .expect("the server was still running 5 s after a worker panicked");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(1), "exit status {status:?}");
    let log = server.stderr();
    assert!(
        log.contains("worker 2 failed"),
        "the log does not name the failed worker:\n{log}"
    );
}
