//! The raw HTTP/1.1 client the tests talk through: request bytes built by hand
//! (`raw_request`, `raw_form_post`, and the form, urlencoding and Basic encoders they use)
//! and `Conn`, one `TcpStream` (in clear, or under a rustls client session) with a read
//! buffer that frames responses by `Content-Length`, chunked encoding or close, keeps the
//! bytes of pipelined responses, and tells a closed connection from an open one.
//!
//! It touches sockets only, never a process or a file. Every read and write has the
//! `IO_TIMEOUT` limit, so a server that stops answering fails the test instead of hanging it.
//! It writes exactly the bytes it is given: malformed requests are the tests' business.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ::base64::Engine as _;

use super::response::Response;

/// How long any socket read or write may block before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// `application/x-www-form-urlencoded` encoding of one name or value: `A-Z a-z 0-9 * - . _`
/// stay, a space becomes `+`, every other byte (UTF-8) becomes `%XX` in upper-case hex.
pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Encodes name/value pairs as a form body: `name=value` joined by `&`, both urlencoded.
pub fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(data: &[u8]) -> String {
    ::base64::engine::general_purpose::STANDARD.encode(data)
}

/// `Basic base64(urlencode(id):urlencode(secret))` as RFC 6749 §2.3.1 asks.
pub fn basic_auth(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64(format!("{}:{}", urlencode(id), urlencode(secret)).as_bytes())
    )
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// Builds a raw HTTP/1.1 request with `Host`, the given headers and, when `body` is not
/// empty or the method is POST, a `Content-Length`.
pub fn raw_request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (k, v) in headers {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    if !body.is_empty() || method == "POST" {
        let _ = write!(out, "Content-Length: {}\r\n", body.len());
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A form POST as raw bytes.
pub fn raw_form_post(target: &str, body: &str, extra_headers: &[(&str, &str)]) -> Vec<u8> {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    headers.extend_from_slice(extra_headers);
    raw_request("POST", target, &headers, body.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

fn find_subslice(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What reading a connection to its end found.
#[derive(Debug, PartialEq, Eq)]
pub enum CloseOutcome {
    /// `read` returned 0 (FIN) or the connection was reset.
    Closed,
    /// The read timed out with the connection still open.
    StillOpen,
}

/// One client connection with a read buffer that keeps bytes of the next response.
#[derive(Debug)]
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// The TLS session, when the connection speaks TLS (`connect_tls`).
    tls: Option<rustls::ClientConnection>,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        Conn::over(stream)
    }

    /// Connects from the local address `from` (bound before connecting), so the server
    /// sees another peer: Linux routes all of 127.0.0.0/8 to the loopback interface, so
    /// `127.0.0.2` reaches a server listening on `127.0.0.1`.
    pub fn connect_from(from: IpAddr, addr: SocketAddr) -> Conn {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .expect("socket");
        socket
            .bind(&SocketAddr::new(from, 0).into())
            .unwrap_or_else(|e| panic!("bind to {from}: {e}"));
        socket
            .connect_timeout(&addr.into(), IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect from {from} to {addr}: {e}"));
        Conn::over(socket.into())
    }

    /// Connects and completes a TLS handshake for the name `server_name` with `config`.
    pub fn connect_tls(
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> Conn {
        Conn::try_connect_tls(addr, config, server_name)
            .unwrap_or_else(|e| panic!("TLS connection to {addr}: {e}"))
    }

    /// Like `connect_tls`, but returns the handshake's error.
    pub fn try_connect_tls(
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> io::Result<Conn> {
        let name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let session = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
        let mut conn = Conn::connect(addr);
        conn.tls = Some(session);
        conn.handshake()?;
        Ok(conn)
    }

    fn handshake(&mut self) -> io::Result<()> {
        if let Some(tls) = self.tls.as_mut() {
            while tls.is_handshaking() {
                tls.complete_io(&mut self.stream)?;
            }
        }
        Ok(())
    }

    /// The TLS session (`None` in clear): what was negotiated.
    pub fn tls(&self) -> Option<&rustls::ClientConnection> {
        self.tls.as_ref()
    }

    fn over(stream: TcpStream) -> Conn {
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("set_read_timeout");
        stream
            .set_write_timeout(Some(IO_TIMEOUT))
            .expect("set_write_timeout");
        stream.set_nodelay(true).expect("set_nodelay");
        Conn {
            stream,
            buf: Vec::new(),
            tls: None,
        }
    }

    /// Writes all of `bytes` (one `write_all`, so usually one segment).
    pub fn send(&mut self, bytes: &[u8]) {
        self.try_send(bytes)
            .unwrap_or_else(|e| panic!("write to server: {e}"));
    }

    /// Like `send`, but returns the error instead of panicking (the server may have closed).
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.tls.as_mut() {
            None => {
                self.stream.write_all(bytes)?;
                self.stream.flush()
            }
            Some(tls) => {
                let mut s = rustls::Stream::new(tls, &mut self.stream);
                s.write_all(bytes)?;
                s.flush()
            }
        }
    }

    /// Writes `bytes` in pieces of `piece` bytes with `pause` between them.
    pub fn send_slowly(&mut self, bytes: &[u8], piece: usize, pause: Duration) {
        for chunk in bytes.chunks(piece.max(1)) {
            self.send(chunk);
            thread::sleep(pause);
        }
    }

    /// Reads more bytes into the buffer; Ok(0) at end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 16 * 1024];
        let n = match self.tls.as_mut() {
            None => self.stream.read(&mut tmp)?,
            Some(tls) => rustls::Stream::new(tls, &mut self.stream).read(&mut tmp)?,
        };
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    fn fill_or_err(&mut self, what: &str) -> Result<(), String> {
        match self.fill() {
            Ok(0) => Err(format!(
                "connection closed while reading {what}; buffered {:?}",
                String::from_utf8_lossy(&self.buf)
            )),
            Ok(_) => Ok(()),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                Err(format!(
                    "timed out reading {what} (no bytes within the socket read timeout); \
                     buffered {:?}",
                    String::from_utf8_lossy(&self.buf)
                ))
            }
            Err(e) => Err(format!(
                "error while reading {what}: {e} ({:?}); buffered {:?}",
                e.kind(),
                String::from_utf8_lossy(&self.buf)
            )),
        }
    }

    /// Reads one response, or says why it could not.
    pub fn try_read_response(&mut self) -> Result<Response, String> {
        let head_end = loop {
            if let Some(i) = find_subslice(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if self.buf.len() > 1 << 20 {
                return Err("response head over 1 MiB".to_string());
            }
            self.fill_or_err("response head")?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end + 4);
        let mut resp = Response::parse_head(&head)?;

        let chunked = resp
            .header("Transfer-Encoding")
            .map(|v| v.to_ascii_lowercase().contains("chunked"))
            .unwrap_or(false);
        if chunked {
            resp.body = self.read_chunked_body()?;
        } else if let Some(cl) = resp.header("Content-Length") {
            let len: usize = cl
                .parse()
                .map_err(|_| format!("bad Content-Length {cl:?}"))?;
            while self.buf.len() < len {
                self.fill_or_err("response body")?;
            }
            resp.body = self.buf.drain(..len).collect();
        } else if resp.status < 200 || resp.status == 204 || resp.status == 304 {
            // No body.
        } else {
            // Body delimited by close.
            loop {
                match self.fill() {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
                    Err(e) => return Err(format!("reading close-delimited body: {e}")),
                }
            }
            resp.body = std::mem::take(&mut self.buf);
        }
        Ok(resp)
    }

    fn read_chunked_body(&mut self) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find_subslice(&self.buf, b"\r\n") {
                    break i;
                }
                self.fill_or_err("chunk size")?;
            };
            let line = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            self.buf.drain(..line_end + 2);
            let size_str = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_str, 16)
                .map_err(|_| format!("bad chunk size line {line:?}"))?;
            if size == 0 {
                // Trailers until an empty line.
                loop {
                    let end = loop {
                        if let Some(i) = find_subslice(&self.buf, b"\r\n") {
                            break i;
                        }
                        self.fill_or_err("chunked trailer")?;
                    };
                    self.buf.drain(..end + 2);
                    if end == 0 {
                        return Ok(body);
                    }
                }
            }
            while self.buf.len() < size + 2 {
                self.fill_or_err("chunk data")?;
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
        }
    }

    /// Reads one response; panics with the reason when it cannot.
    pub fn read_response(&mut self) -> Response {
        self.try_read_response()
            .unwrap_or_else(|e| panic!("reading response: {e}"))
    }

    /// Reads `n` responses in order (for pipelined requests).
    pub fn read_responses(&mut self, n: usize) -> Vec<Response> {
        (0..n)
            .map(|i| {
                self.try_read_response()
                    .unwrap_or_else(|e| panic!("reading response {} of {n}: {e}", i + 1))
            })
            .collect()
    }

    /// Sends `bytes` and reads one response.
    pub fn roundtrip(&mut self, bytes: &[u8]) -> Response {
        self.send(bytes);
        self.read_response()
    }

    /// Waits up to `limit` for the server to close the connection. Bytes that arrive first
    /// are a failure (they are shown in the panic message).
    pub fn wait_closed(&mut self, limit: Duration) -> CloseOutcome {
        let deadline = Instant::now() + limit;
        loop {
            if !self.buf.is_empty() {
                panic!(
                    "expected the server to close, but it sent {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return CloseOutcome::StillOpen;
            }
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("set_read_timeout");
            let r = self.fill();
            self.stream
                .set_read_timeout(Some(IO_TIMEOUT))
                .expect("set_read_timeout");
            match r {
                Ok(0) => return CloseOutcome::Closed,
                Ok(_) => continue,
                Err(e)
                    if e.kind() == io::ErrorKind::ConnectionReset
                        || e.kind() == io::ErrorKind::ConnectionAborted
                        || e.kind() == io::ErrorKind::BrokenPipe =>
                {
                    return CloseOutcome::Closed
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return CloseOutcome::StillOpen
                }
                Err(e) => panic!("unexpected read error while waiting for close: {e}"),
            }
        }
    }

    /// Asserts that the server closes the connection within 5 s without sending more bytes.
    pub fn assert_closed(&mut self) {
        assert_eq!(
            self.wait_closed(Duration::from_secs(5)),
            CloseOutcome::Closed,
            "server kept the connection open"
        );
    }

    /// Asserts that nothing arrives and the connection stays open for `d`.
    pub fn assert_open_for(&mut self, d: Duration) {
        assert_eq!(
            self.wait_closed(d),
            CloseOutcome::StillOpen,
            "server closed a connection that should have stayed open"
        );
    }

    /// Whether a response (or anything) arrives within `d`, without consuming it.
    pub fn data_within(&mut self, d: Duration) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        self.stream
            .set_read_timeout(Some(d))
            .expect("set_read_timeout");
        let r = self.fill();
        self.stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("set_read_timeout");
        matches!(r, Ok(n) if n > 0)
    }

    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}
