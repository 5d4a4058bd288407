//! One HTTP/1.1 keep-alive client connection: write a request, read exactly one response,
//! hand back its status and body. The read buffer lives as long as the connection, so a
//! request costs no allocation once the buffer has grown to the largest response.

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use std::fmt;
use std::io;
use std::net::SocketAddr;

/// Why an exchange failed (as opposed to a server answering with an error status).
#[derive(Debug)]
pub enum ClientError {
    Io(io::Error),
    /// The server closed the connection before a whole response arrived.
    Closed,
    /// The response was not valid HTTP/1.1 as this client reads it.
    Protocol(&'static str),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "I/O error: {e}"),
            ClientError::Closed => f.write_str("connection closed by the server"),
            ClientError::Protocol(what) => write!(f, "bad response: {what}"),
        }
    }
}

/// The parts of a response the load generator looks at.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    pub status: u16,
    /// The server will close the connection after this response.
    pub close: bool,
    body: (usize, usize),
    /// Where the `Location` header's value is in the read buffer, if there is one.
    location: Option<(usize, usize)>,
    /// The body was de-chunked into the connection's `dechunked` buffer.
    chunked: bool,
}

#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    dechunked: Vec<u8>,
}

const MAX_RESPONSE: usize = 1 << 20;

impl Conn {
    pub async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
            dechunked: Vec::new(),
        })
    }

    /// Sends `req` and reads its response. The request buffer comes back either way.
    pub async fn exchange<B: IoBuf>(&mut self, req: B) -> (Result<Answer, ClientError>, B) {
        let (written, req) = self.stream.write_all(req).await;
        if let Err(e) = written {
            return (Err(ClientError::Io(e)), req);
        }
        (self.read_response().await, req)
    }

    pub fn body(&self, answer: &Answer) -> &[u8] {
        let (from, to) = answer.body;
        if answer.chunked {
            &self.dechunked[from..to]
        } else {
            &self.buf[from..to]
        }
    }

    /// The `Location` header of `answer`, the last one read.
    pub fn location(&self, answer: &Answer) -> Option<&[u8]> {
        answer.location.map(|(from, to)| &self.buf[from..to])
    }

    async fn read_response(&mut self) -> Result<Answer, ClientError> {
        self.buf.clear();
        loop {
            if self.buf.len() == self.buf.capacity() {
                if self.buf.len() >= MAX_RESPONSE {
                    return Err(ClientError::Protocol("response larger than 1 MiB"));
                }
                self.buf.reserve(self.buf.len());
            }
            let len = self.buf.len();
            let buf = std::mem::take(&mut self.buf);
            let (res, slice) = self.stream.read(buf.slice_mut(len..)).await;
            self.buf = slice.into_inner();
            match res {
                Ok(0) => return Err(ClientError::Closed),
                Ok(_) => {}
                Err(e) => return Err(ClientError::Io(e)),
            }
            if let Some(answer) = self.parse()? {
                return Ok(answer);
            }
        }
    }

    /// `Ok(None)` while the response is incomplete.
    fn parse(&mut self) -> Result<Option<Answer>, ClientError> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        let head_len = match resp.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(ClientError::Protocol("unparsable response head")),
        };
        let status = resp.code.unwrap_or(0);
        let mut length: Option<usize> = None;
        let mut chunked = false;
        let mut close = resp.version == Some(0);
        let mut location = None;
        let base = self.buf.as_ptr() as usize;
        for h in resp.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let v = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or(ClientError::Protocol("bad Content-Length"))?;
                length = Some(v);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = h.value.eq_ignore_ascii_case(b"chunked");
            } else if h.name.eq_ignore_ascii_case("connection") {
                close = h.value.eq_ignore_ascii_case(b"close");
            } else if h.name.eq_ignore_ascii_case("location") {
                // httparse hands out slices of the read buffer: keep their offsets.
                let from = h.value.as_ptr() as usize - base;
                location = Some((from, from + h.value.len()));
            }
        }
        if status == 204 || status == 304 || (100..200).contains(&status) {
            length = Some(0);
        }
        if chunked {
            return match dechunk(&self.buf[head_len..], &mut self.dechunked)? {
                Some(n) => Ok(Some(Answer {
                    status,
                    close,
                    body: (0, n),
                    location,
                    chunked: true,
                })),
                None => Ok(None),
            };
        }
        let Some(length) = length else {
            return Err(ClientError::Protocol(
                "no Content-Length (bodies delimited by close are not supported)",
            ));
        };
        let end = head_len + length;
        if self.buf.len() < end {
            return Ok(None);
        }
        if self.buf.len() > end {
            return Err(ClientError::Protocol("bytes after the response"));
        }
        Ok(Some(Answer {
            status,
            close,
            body: (head_len, end),
            location,
            chunked: false,
        }))
    }
}

/// Decodes a complete chunked body into `out`; `Ok(None)` while incomplete.
fn dechunk(mut data: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, ClientError> {
    out.clear();
    loop {
        let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = data[..line_end]
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default();
        let size = std::str::from_utf8(size_text)
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .ok_or(ClientError::Protocol("bad chunk size"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            // Trailers end with an empty line.
            return Ok(data
                .windows(2)
                .position(|w| w == b"\r\n")
                .map(|_| out.len()));
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// The value of `"name":"…"` in a JSON body, found without parsing the whole document
/// (token responses from Tessera and its peers put no escapes inside token values).
pub fn json_str<'a>(body: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut from = 0;
    while let Some(pos) = find(&body[from..], name) {
        let at = from + pos;
        from = at + 1;
        // `"name"` followed by optional spaces, `:`, optional spaces, `"`.
        let quoted = at > 0 && body[at - 1] == b'"' && body.get(at + name.len()) == Some(&b'"');
        if !quoted {
            continue;
        }
        let mut i = at + name.len() + 1;
        while body.get(i) == Some(&b' ') {
            i += 1;
        }
        if body.get(i) != Some(&b':') {
            continue;
        }
        i += 1;
        while body.get(i) == Some(&b' ') {
            i += 1;
        }
        if body.get(i) != Some(&b'"') {
            continue;
        }
        let value = &body[i + 1..];
        let end = value.iter().position(|&b| b == b'"')?;
        return Some(&value[..end]);
    }
    None
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_str_finds_a_member_value() {
        let body = br#"{"access_token":"abc","token_type":"Bearer","refresh_token" : "r-1"}"#;
        assert_eq!(json_str(body, b"access_token"), Some(&b"abc"[..]));
        assert_eq!(json_str(body, b"refresh_token"), Some(&b"r-1"[..]));
        assert_eq!(json_str(body, b"token"), None);
        assert_eq!(json_str(body, b"scope"), None);
    }

    #[test]
    fn dechunk_reassembles_a_chunked_body_rfc9112_7_1() {
        let mut out = Vec::new();
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n", &mut out).expect("valid"),
            Some(5)
        );
        assert_eq!(out, b"abcde");
        assert_eq!(dechunk(b"3\r\nab", &mut out).expect("partial"), None);
        assert!(dechunk(b"zz\r\n", &mut out).is_err());
    }
}
