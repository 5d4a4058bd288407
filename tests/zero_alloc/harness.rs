//! Counts the heap allocations a worker thread makes per request (issue 17), shared by
//! the `zero_alloc` test and `bench/src/bin/allocs.rs` (which includes this file by path).
//!
//! The binary that includes it installs `allocation-counter`'s global allocator, which
//! counts per thread: only the worker thread is measured, never the client, the flusher or
//! the purge thread. Its count is read once, when the measured closure returns, so a
//! measurement serves requests on a fresh worker (`tessera::worker::run` on a thread of
//! ours, one connection) and shuts it down. The worker's own start-up and shutdown cost the
//! same in every run; what one run's requests cost is the difference between a run with
//! `warm + n` requests and one with `warm`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use tessera::config::Config;
use tessera::shutdown::Shutdown;
use tessera::state::App;

/// A confidential client with Basic authentication, one with body authentication, the
/// memory store (no I/O), no request log.
pub const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:0"
workers = 1

[store]
kind = "memory"

[[clients]]
id = "svc-a"
secret = "plain-secret-for-dev-only"
grant_types = ["client_credentials"]
scopes = ["read", "write"]
default_scopes = ["read"]
metadata = { department = "Engineering" }

[[clients]]
id = "svc-post"
secret = "post-secret-for-dev-only"
auth_method = "client_secret_post"
grant_types = ["client_credentials"]
scopes = ["read"]
"#;

/// `svc-a:plain-secret-for-dev-only`, base64.
pub const BASIC_SVC_A: &str = "c3ZjLWE6cGxhaW4tc2VjcmV0LWZvci1kZXYtb25seQ==";

/// The shared state of a one-worker server, built as `tessera serve` builds it.
pub fn app() -> Arc<App> {
    let config = Config::parse(CONFIG).expect("the harness config is valid");
    Arc::new(App::new(config, 1).expect("a memory-store app starts"))
}

/// One HTTP/1.1 request, as bytes, sent over a keep-alive connection.
pub fn post(path: &str, authorization: Option<&str>, body: &str) -> Vec<u8> {
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\n{auth}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub fn get(path: &str, authorization: Option<&str>) -> Vec<u8> {
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n{auth}\r\n").into_bytes()
}

/// A blocking keep-alive client (it runs on its own thread, so its allocations are not
/// counted; it reuses one buffer anyway).
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    /// Sends `request`, reads the whole response; its status and body.
    pub fn exchange(&mut self, request: &[u8]) -> io::Result<(u16, &[u8])> {
        self.stream.write_all(request)?;
        self.buf.clear();
        let mut chunk = [0u8; 8192];
        loop {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = head_end(&self.buf) {
                let length = content_length(&self.buf[..end]);
                if self.buf.len() >= end + length {
                    let status = std::str::from_utf8(self.buf.get(9..12).unwrap_or_default())
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    return Ok((status, &self.buf[end..end + length]));
                }
            }
        }
    }
}

fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn content_length(head: &[u8]) -> usize {
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    head.lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Allocations on a fresh worker's thread, from its start to its shutdown, while `client`
/// talks to it.
pub fn worker_allocations(app: &Arc<App>, client: impl FnOnce(SocketAddr) + Send) -> u64 {
    let socket = tessera::server::bind(SocketAddr::from(([127, 0, 0, 1], 0)), 1)
        .expect("bind 127.0.0.1:0")
        .remove(0);
    let addr = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("an IP address");
    let shutdown = Shutdown::new();
    let (listening, listened) = std::sync::mpsc::channel();
    let worker_app = Arc::clone(app);
    let worker_shutdown = shutdown.clone();
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name("tessera-worker-0".to_owned())
            .spawn_scoped(s, move || {
                let mut served = Ok(());
                let info = allocation_counter::measure(|| {
                    served = tessera::worker::run(
                        0,
                        socket,
                        None,
                        worker_app,
                        worker_shutdown,
                        || true,
                        || {
                            let _ = listening.send(());
                        },
                    );
                });
                served.expect("the worker serves");
                info.count_total
            })
            .expect("spawn the worker");
        listened.recv().expect("the worker listens");
        client(addr);
        shutdown.trigger();
        worker.join().expect("the worker does not panic")
    })
}

/// Allocations that `n` requests made by `request(i)` cost on a warm worker: a run of
/// `warm + n` requests on one connection minus a run of `warm`, on fresh workers (a first
/// run warms what the app keeps across workers: interned names, table capacity). Every
/// response must have status `expect`.
///
/// The least of up to `ATTEMPTS` pairs of runs: once in a while a run costs one allocation
/// more than its twin, whatever its length (the runtime's own bookkeeping — a timer level,
/// an event buffer — at a moment that depends on the scheduling of the two threads). One
/// allocation per request would show in every pair.
pub fn extra_allocations(
    app: &Arc<App>,
    warm: usize,
    n: usize,
    expect: u16,
    request: &(dyn Fn(usize) -> Vec<u8> + Sync),
) -> u64 {
    const ATTEMPTS: usize = 3;
    let mut offset = 0;
    let mut run = |count: usize| {
        let requests: Vec<Vec<u8>> = (offset..offset + count).map(request).collect();
        offset += count;
        worker_allocations(app, |addr| {
            let mut c = Client::connect(addr).expect("connect");
            for r in &requests {
                let (status, body) = c.exchange(r).expect("a response");
                assert_eq!(status, expect, "response {}", String::from_utf8_lossy(body));
            }
        })
    };
    run(warm);
    let mut least = u64::MAX;
    for _ in 0..ATTEMPTS {
        let base = run(warm);
        let measured = run(warm + n);
        least = least.min(measured.saturating_sub(base));
        if least == 0 {
            break;
        }
    }
    least
}
