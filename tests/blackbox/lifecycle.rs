//! Failure: a worker that fails stops the server at once.

use crate::harness::*;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

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
