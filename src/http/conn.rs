//! One connection's loop: read into a reused buffer, serve every complete request in it
//! (pipelining: responses queue in request order), flush, repeat.
//!
//! Buffers live as long as the connection: the read buffer (grown on demand up to
//! [`Limits::max_buffered`]), the write buffer, a response-body scratch buffer and a buffer
//! for decoded chunked bodies. Requests borrow from them; nothing is allocated per request
//! once they have grown to the connection's working size.
//!
//! Timeouts: a new connection that has not begun its first request is closed without a
//! response after `first_request_timeout` (counted from when it was opened, so empty lines
//! do not extend it); an idle connection (no partial request buffered) is closed after
//! `keepalive_timeout`, as soon as the worker shuts down, or when the worker evicts it to make
//! room for a new connection (see [`super::admission`]); a request whose bytes started
//! arriving must be complete within `request_timeout`, else 408 and close. Writes are bounded
//! by `request_timeout` too, so a client that stops reading cannot pin the connection.

use super::admission::IdleSlot;
use super::chunked::{self, ChunkState};
use super::date::DateCache;
use super::limits::{Limits, FLUSH_THRESHOLD};
use super::request::{parse_head, Framing, HeadScan, Method, Request};
use super::response::{encode, error_body, Delivery, Reply};
use super::transport::Transport;
use super::Service;
use crate::shutdown::LocalSignal;
use std::net::IpAddr;
use std::time::Instant;

const INITIAL_READ: usize = 4096;
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the connection shares with its worker, and where it comes from.
#[derive(Debug)]
pub struct ConnContext<'a> {
    pub limits: &'a Limits,
    pub shutdown: &'a LocalSignal,
    pub date: &'a DateCache,
    /// The peer's address, handed to every request as [`Request::peer`].
    pub peer: IpAddr,
    /// The connection's entry in its worker's idle list: its idle waits can be cut short.
    pub idle: &'a IdleSlot,
    /// When the connection was accepted: its first request must begin within
    /// `first_request_timeout` of this, a TLS handshake included.
    pub accepted: Instant,
}

/// How serving the buffered requests ended.
enum Served {
    /// Everything complete was served; read more.
    NeedMore,
    /// The write buffer is full: flush, then serve the rest without reading.
    Flush,
    /// Flush, then close.
    Close,
    /// Flush, then close after draining what the client is still sending (an error
    /// response to a request whose body may still be arriving).
    CloseLingering,
}

/// Lingering close: how long and how much to drain after an error response.
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(1);
const LINGER_BYTES: usize = 256 * 1024;

/// Serves `stream` until the client closes, a timeout, an error, or shutdown.
pub async fn serve<T: Transport, S: Service>(mut stream: T, ctx: &ConnContext<'_>, service: &S) {
    let mut state = ConnState {
        rbuf: Vec::with_capacity(INITIAL_READ),
        // Allocated by the first response, so a connection that never sends a request (a
        // flood) costs only its read buffer.
        out: Vec::new(),
        body: Vec::new(),
        headers: Vec::new(),
        chunked: Vec::new(),
        start: 0,
        opened: ctx.accepted,
        first: true,
        request_began: None,
        continue_sent: false,
        head_scan: HeadScan::default(),
        chunk_state: ChunkState::default(),
    };
    loop {
        let served = state.serve_buffered(ctx, service).await;
        if !state.out.is_empty() {
            let out = std::mem::take(&mut state.out);
            let write = stream.write_all(out);
            let Ok((res, mut out)) = monoio::time::timeout(ctx.limits.request_timeout, write).await
            else {
                return;
            };
            if res.is_err() {
                return;
            }
            out.clear();
            state.out = out;
        }
        match served {
            Served::Close => {
                stream.shutdown().await;
                return;
            }
            Served::CloseLingering => {
                linger(stream, state.rbuf).await;
                return;
            }
            Served::Flush => continue,
            Served::NeedMore => {}
        }
        state.compact();
        if !state.read(&mut stream, ctx, service).await {
            return;
        }
    }
}

/// Half-closes, then reads and discards for a bounded time, so the kernel does not answer
/// the client's unread bytes with a reset that could destroy the error response in flight
/// (RFC 9112 §9.6).
async fn linger<T: Transport>(mut stream: T, mut buf: Vec<u8>) {
    stream.shutdown().await;
    let deadline = Instant::now() + LINGER_TIME;
    let mut drained = 0;
    buf.clear();
    buf.reserve(INITIAL_READ);
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        match monoio::time::timeout(left, stream.read_more(buf)).await {
            Ok((Ok(n), b)) if n > 0 => {
                drained += n;
                buf = b;
                buf.clear();
            }
            _ => return,
        }
    }
}

struct ConnState {
    rbuf: Vec<u8>,
    out: Vec<u8>,
    body: Vec<u8>,
    /// Header fields the service added (`\r\nName: value` each).
    headers: Vec<u8>,
    chunked: Vec<u8>,
    /// Bytes of `rbuf` before this offset are served requests.
    start: usize,
    /// When the connection was opened: the first request must begin within
    /// `first_request_timeout` of it.
    opened: Instant,
    /// No request has been served yet.
    first: bool,
    /// When the first byte of the request being received arrived.
    request_began: Option<Instant>,
    continue_sent: bool,
    /// How far the head of the request being received has been searched.
    head_scan: HeadScan,
    /// How far its chunked body has been decoded.
    chunk_state: ChunkState,
}

impl ConnState {
    async fn serve_buffered<S: Service>(&mut self, ctx: &ConnContext<'_>, service: &S) -> Served {
        loop {
            // RFC 9112 §2.2: ignore empty lines before a request line.
            while self.start < self.rbuf.len() && matches!(self.rbuf[self.start], b'\r' | b'\n') {
                self.start += 1;
            }
            if self.start == self.rbuf.len() {
                self.request_began = None;
                return Served::NeedMore;
            }
            if self.request_began.is_none() {
                self.request_began = Some(Instant::now());
            }
            let buf = &self.rbuf[self.start..];
            let head = match parse_head(buf, ctx.limits, &mut self.head_scan) {
                Ok(Some(head)) => head,
                Ok(None) => return Served::NeedMore,
                Err(e) => {
                    self.protocol_error(ctx, service, e.status(), e.description());
                    return Served::CloseLingering;
                }
            };
            let (body, consumed): (&[u8], usize) = match head.framing {
                Framing::None => (&[], head.len),
                Framing::Length(n) => {
                    if buf.len() < head.len + n {
                        self.ask_continue(head.expect_continue);
                        return Served::NeedMore;
                    }
                    (&buf[head.len..head.len + n], head.len + n)
                }
                Framing::Chunked => {
                    match chunked::decode(
                        &buf[head.len..],
                        &mut self.chunked,
                        ctx.limits.max_body_bytes,
                        &mut self.chunk_state,
                    ) {
                        Ok(Some(n)) => (&self.chunked[..], head.len + n),
                        Ok(None) => {
                            self.ask_continue(head.expect_continue);
                            return Served::NeedMore;
                        }
                        Err(e) => {
                            self.protocol_error(ctx, service, e.status(), e.description());
                            return Served::CloseLingering;
                        }
                    }
                }
            };
            let request = Request::new(&head, buf, body, ctx.peer);
            self.body.clear();
            self.headers.clear();
            let reply = service
                .call(&request, &mut self.body, &mut self.headers)
                .await;
            let close = !head.keep_alive || reply.close || ctx.shutdown.is_fired();
            let delivery = Delivery {
                close,
                announce_keep_alive: head.http10,
                head_only: head.method == Method::Head,
            };
            encode(
                &mut self.out,
                &reply,
                (&self.headers, &self.body),
                delivery,
                &ctx.date.now(),
                service.realm(),
            );
            self.start += consumed;
            self.first = false;
            self.request_began = None;
            self.continue_sent = false;
            self.head_scan = HeadScan::default();
            self.chunk_state = ChunkState::default();
            if close {
                return Served::Close;
            }
            if self.out.len() >= FLUSH_THRESHOLD {
                return Served::Flush;
            }
        }
    }

    /// RFC 9110 §10.1.1: a client waiting on `Expect: 100-continue` gets the interim
    /// response before it sends the body.
    fn ask_continue(&mut self, expected: bool) {
        if expected && !self.continue_sent {
            self.out.extend_from_slice(CONTINUE);
            self.continue_sent = true;
        }
    }

    fn protocol_error<S: Service>(
        &mut self,
        ctx: &ConnContext<'_>,
        service: &S,
        status: u16,
        why: &str,
    ) {
        service.protocol_error(status);
        error_body(
            &mut self.body,
            if status == 408 {
                "request_timeout"
            } else {
                "invalid_request"
            },
            why,
        );
        encode(
            &mut self.out,
            &Reply::json(status),
            (&[], &self.body),
            Delivery::CLOSE,
            &ctx.date.now(),
            service.realm(),
        );
    }

    /// Drops served bytes from the front of the read buffer.
    fn compact(&mut self) {
        if self.start > 0 {
            self.rbuf.drain(..self.start);
            self.start = 0;
        }
    }

    /// Reads more bytes. `false`: the connection is done (EOF, error, timeout, shutdown).
    async fn read<T: Transport, S: Service>(
        &mut self,
        stream: &mut T,
        ctx: &ConnContext<'_>,
        service: &S,
    ) -> bool {
        let idle = self.rbuf.is_empty();
        let limit = ctx.limits.max_buffered();
        if self.rbuf.capacity() - self.rbuf.len() < 1024 {
            let grow = self.rbuf.capacity().max(INITIAL_READ);
            let room = limit.saturating_sub(self.rbuf.len());
            if room == 0 {
                // The parser bounds every part of a request, so this is a safety net only.
                self.protocol_error(
                    ctx,
                    service,
                    413,
                    "request exceeds the server's buffer limit",
                );
                let out = std::mem::take(&mut self.out);
                let _ =
                    monoio::time::timeout(ctx.limits.request_timeout, stream.write_all(out)).await;
                return false;
            }
            self.rbuf.reserve(grow.min(room));
        }
        let rbuf = std::mem::take(&mut self.rbuf);
        let read = stream.read_more(rbuf);
        let result = if idle {
            // A connection that never sent a request gets the short first-byte timeout
            // (silently closed, as nginx does: there is no request to answer, and a 408
            // could be read as the answer to a request the client sends meanwhile).
            let limit = if self.first {
                let left = ctx.limits.first_request_timeout;
                left.saturating_sub(self.opened.elapsed())
            } else {
                ctx.limits.keepalive_timeout
            };
            let wait = monoio::time::timeout(limit, read);
            // Biased to the read: a request that arrived in the same turn as an eviction or
            // the shutdown is served, not dropped unanswered.
            monoio::select! {
                biased;
                r = wait => r,
                _ = ctx.shutdown.wait() => return false,
                _ = ctx.idle.idle() => return false,
            }
        } else {
            let began = self.request_began.unwrap_or_else(Instant::now);
            let left = ctx.limits.request_timeout.saturating_sub(began.elapsed());
            monoio::time::timeout(left, read).await
        };
        match result {
            Ok((Ok(n), buf)) if n > 0 => {
                self.rbuf = buf;
                true
            }
            Ok(_) => false,
            Err(_elapsed) if idle => {
                if self.first {
                    service.first_request_timeout();
                }
                false
            }
            Err(_elapsed) => {
                self.protocol_error(ctx, service, 408, "request not received in time");
                let out = std::mem::take(&mut self.out);
                let _ =
                    monoio::time::timeout(ctx.limits.request_timeout, stream.write_all(out)).await;
                stream.shutdown().await;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::json::JsonObject;
    use monoio::net::TcpStream;
    use std::io::{Read, Write};
    use std::time::Duration;

    /// Echoes the path and body length, so tests can see what the connection parsed.
    struct Echo;

    impl Service for Echo {
        async fn call(&self, req: &Request<'_>, body: &mut Vec<u8>, _: &mut Vec<u8>) -> Reply {
            let mut o = JsonObject::new(body);
            o.str("path", req.path)
                .num("body", req.body.len() as u64)
                .finish();
            Reply::json(200)
        }
    }

    /// Runs one connection of `Echo` on a monoio runtime in a thread; returns the client side.
    fn connect(limits: Limits) -> std::net::TcpStream {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .enable_timer()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let (std_stream, _) = listener.accept().expect("accept");
                std_stream.set_nonblocking(true).expect("nonblocking");
                let stream = TcpStream::from_std(std_stream).expect("from_std");
                let signal = LocalSignal::default();
                let date = DateCache::default();
                let idle = IdleSlot::standalone();
                let ctx = ConnContext {
                    limits: &limits,
                    shutdown: &signal,
                    date: &date,
                    peer: IpAddr::from([127, 0, 0, 1]),
                    idle: &idle,
                    accepted: Instant::now(),
                };
                serve(stream, &ctx, &Echo).await;
            });
        });
        let s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s
    }

    fn read_all(s: &mut std::net::TcpStream) -> String {
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn request_split_byte_by_byte_is_served() {
        let mut s = connect(Limits::default());
        let raw =
            b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
        for b in raw {
            s.write_all(&[*b]).expect("write");
            s.flush().expect("flush");
        }
        let resp = read_all(&mut s);
        assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
        assert!(resp.ends_with(r#"{"path":"/x","body":3}"#), "{resp}");
    }

    #[test]
    fn pipelined_requests_are_answered_in_order() {
        let mut s = connect(Limits::default());
        s.write_all(
            b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        )
        .expect("write");
        let resp = read_all(&mut s);
        let one = resp.find(r#""path":"/1""#).expect("first");
        let two = resp.find(r#""path":"/2","body":2"#).expect("second");
        let three = resp.find(r#""path":"/3""#).expect("third");
        assert!(one < two && two < three, "{resp}");
    }

    #[test]
    fn incomplete_request_times_out_with_408() {
        let limits = Limits {
            request_timeout: Duration::from_millis(200),
            ..Limits::default()
        };
        let mut s = connect(limits);
        s.write_all(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
            .expect("write");
        let resp = read_all(&mut s);
        assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    }

    fn first_request_limits() -> Limits {
        Limits {
            first_request_timeout: Duration::from_millis(200),
            keepalive_timeout: Duration::from_secs(60),
            ..Limits::default()
        }
    }

    #[test]
    fn a_connection_that_never_sends_is_closed_without_a_response_at_first_request_timeout() {
        let mut s = connect(first_request_limits());
        let mut buf = [0u8; 64];
        // Ok(0): closed with nothing written (the client's read timeout is 5 s).
        assert_eq!(s.read(&mut buf).expect("closed, not timed out"), 0);
    }

    #[test]
    fn after_its_first_request_a_connection_is_kept_for_the_keepalive_timeout() {
        let mut s = connect(first_request_limits());
        s.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
            .expect("write");
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.ends_with(b"}") {
            let n = s.read(&mut buf).expect("response");
            assert!(n > 0, "closed early");
            got.extend_from_slice(&buf[..n]);
        }
        s.set_read_timeout(Some(Duration::from_millis(600)))
            .expect("timeout");
        let err = s
            .read(&mut buf)
            .expect_err("still open: the read times out");
        assert!(matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ));
    }

    #[test]
    fn expect_100_continue_gets_an_interim_response() {
        let mut s = connect(Limits::default());
        s.write_all(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
            .expect("write");
        let mut first = [0u8; 25];
        s.read_exact(&mut first).expect("interim");
        assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
        s.write_all(b"ok").expect("write body");
        let resp = read_all(&mut s);
        assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
    }

    #[test]
    fn malformed_request_gets_400_and_close() {
        let mut s = connect(Limits::default());
        s.write_all(b"\x00\x01garbage\r\n\r\n").expect("write");
        let resp = read_all(&mut s);
        assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
        assert!(resp.contains("Connection: close"));
    }

    #[test]
    fn rfc9110_9_3_2_head_response_has_no_body_so_the_next_pipelined_response_parses() {
        let mut s = connect(Limits::default());
        s.write_all(
            b"HEAD /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        )
        .expect("write");
        let resp = read_all(&mut s);
        let second = resp.find("HTTP/1.1 200 OK").and_then(|first| {
            resp[first + 1..]
                .find("HTTP/1.1 200 OK")
                .map(|n| n + first + 1)
        });
        let second = second.expect("two responses");
        // The HEAD response ends right at its blank line: no body bytes before the next.
        assert!(resp[..second].ends_with("\r\n\r\n"), "{resp}");
        assert!(!resp[..second].contains("path"), "{resp}");
        assert!(resp[..second].contains("Content-Length: 22"), "{resp}");
        assert!(
            resp[second..].ends_with(r#"{"path":"/2","body":0}"#),
            "{resp}"
        );
    }

    #[test]
    fn rfc9110_10_1_1_no_100_continue_for_http10_and_keep_alive_is_announced() {
        let mut s = connect(Limits::default());
        s.write_all(b"POST /x HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: keep-alive\r\n\r\n")
            .expect("write");
        std::thread::sleep(Duration::from_millis(100));
        s.write_all(b"okGET /y HTTP/1.0\r\n\r\n").expect("write");
        let resp = read_all(&mut s);
        assert!(!resp.contains("100 Continue"), "{resp}");
        assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
        let first_end = resp.find(r#""body":2}"#).expect("first response");
        assert!(
            resp[..first_end].contains("Connection: keep-alive\r\n"),
            "{resp}"
        );
        // The second HTTP/1.0 request did not ask to keep the connection: it is closed.
        assert!(
            resp[first_end..].contains("Connection: close\r\n"),
            "{resp}"
        );
    }
}
