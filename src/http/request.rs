//! Request heads: httparse over the connection's read buffer, reduced to the offsets of
//! the few fields Tessera uses, and the body framing (RFC 9112 §6).
//!
//! The head is kept as ranges rather than slices so the connection can go on reading the
//! body into the same buffer; [`Request`] then borrows everything from it at once.
//! "Not enough bytes yet" is `Ok(None)`, an ordinary outcome rather than an error.
//!
//! Work is linear in the bytes received: [`HeadScan`] remembers how far a partial head was
//! looked at, so a head trickling in one byte per read is scanned once, and httparse runs
//! once, when the blank line that ends the head has arrived.

use super::limits::{Limits, MAX_HEADERS, MAX_HEADER_BYTES, MAX_REQUEST_LINE};
use std::net::IpAddr;
use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Other,
}

impl Method {
    fn from_str(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            _ => Method::Other,
        }
    }
}

/// How the body of a request is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(usize),
    Chunked,
}

/// A parsed request head, as offsets into the buffer it was parsed from.
#[derive(Clone, Debug)]
pub struct Head {
    pub method: Method,
    pub path: Range<usize>,
    pub query: Range<usize>,
    pub keep_alive: bool,
    pub content_type: Option<Range<usize>>,
    pub authorization: Option<Range<usize>>,
    /// The first `Cookie` field (RFC 6265 §5.4: a user agent sends one).
    pub cookie: Option<Range<usize>>,
    /// `Expect: 100-continue` in an HTTP/1.1 request (RFC 9110 §10.1.1: ignored in 1.0).
    pub expect_continue: bool,
    /// An HTTP/1.0 request: persistence must be announced with `Connection: keep-alive`.
    pub http10: bool,
    pub framing: Framing,
    /// Bytes of the head, including the blank line that ends it.
    pub len: usize,
}

/// A request that cannot be served; each maps to one status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// 400: the bytes are not an HTTP/1.x request.
    Malformed(&'static str),
    /// 414
    RequestLineTooLong,
    /// 431
    HeadersTooLarge(&'static str),
    /// 413
    BodyTooLarge,
    /// 501: a transfer coding Tessera does not implement.
    UnsupportedTransferCoding,
}

impl ParseError {
    pub fn status(self) -> u16 {
        match self {
            ParseError::Malformed(_) => 400,
            ParseError::RequestLineTooLong => 414,
            ParseError::HeadersTooLarge(_) => 431,
            ParseError::BodyTooLarge => 413,
            ParseError::UnsupportedTransferCoding => 501,
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            ParseError::Malformed(why) => why,
            ParseError::RequestLineTooLong => "request line exceeds 8192 bytes",
            ParseError::HeadersTooLarge(why) => why,
            ParseError::BodyTooLarge => "request body exceeds server.max_body_bytes",
            ParseError::UnsupportedTransferCoding => {
                "only the chunked transfer coding is supported"
            }
        }
    }
}

/// A complete request, every field borrowed from the connection's buffers. Its `Debug`
/// shows the shape, never the query, credentials or body (they may hold tokens).
pub struct Request<'a> {
    pub method: Method,
    pub path: &'a str,
    /// The query string without `?` (empty when absent).
    pub query: &'a [u8],
    pub content_type: Option<&'a [u8]>,
    pub authorization: Option<&'a [u8]>,
    pub cookie: Option<&'a [u8]>,
    pub body: &'a [u8],
    /// The address of the connection's peer (IPv4-mapped IPv6 addresses as IPv4). The HTTP
    /// layer only carries it; what it means is the service's business.
    pub peer: IpAddr,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query_bytes", &self.query.len())
            .field(
                "content_type",
                &self.content_type.map(String::from_utf8_lossy),
            )
            .field("authorization", &self.authorization.map(|_| "<redacted>"))
            .field("cookie", &self.cookie.map(|_| "<redacted>"))
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl<'a> Request<'a> {
    /// Builds the request view of `head` over `buf`, with `body` from wherever it was
    /// decoded, from a connection with `peer`.
    pub fn new(head: &Head, buf: &'a [u8], body: &'a [u8], peer: IpAddr) -> Request<'a> {
        let range = |r: &Range<usize>| &buf[r.clone()];
        Request {
            method: head.method,
            path: std::str::from_utf8(range(&head.path)).unwrap_or(""),
            query: range(&head.query),
            content_type: head.content_type.as_ref().map(range),
            authorization: head.authorization.as_ref().map(range),
            cookie: head.cookie.as_ref().map(range),
            body,
            peer: peer.to_canonical(),
        }
    }

    /// True when the media type is `application/x-www-form-urlencoded` (parameters such
    /// as `charset` allowed, case-insensitive per RFC 9110 §8.3.1).
    pub fn is_form(&self) -> bool {
        let Some(ct) = self.content_type else {
            return false;
        };
        let media = ct.split(|&b| b == b';').next().unwrap_or(b"");
        media
            .trim_ascii()
            .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
    }
}

/// The range `part` occupies inside `buf`; `part` must be a sub-slice of `buf` (anything
/// else yields an empty range rather than a panic).
fn offset(buf: &[u8], part: &[u8]) -> Range<usize> {
    match (part.as_ptr() as usize).checked_sub(buf.as_ptr() as usize) {
        Some(start) if start + part.len() <= buf.len() => start..start + part.len(),
        _ => 0..0,
    }
}

/// How far a partial head has been looked at, kept by the connection between reads and
/// reset for each request.
#[derive(Debug, Default, Clone, Copy)]
pub struct HeadScan {
    /// Bytes of the buffer already searched for the end of the head.
    scanned: usize,
    /// Length of the request line including its `\n`, once seen.
    line_len: Option<usize>,
    /// Bytes examined so far (searches plus the one httparse run), for tests.
    pub examined: usize,
}

impl HeadScan {
    /// The end of the head (just past the empty line) if it has arrived. Resumes where the
    /// last search stopped, so each byte is searched once.
    fn head_end(&mut self, buf: &[u8]) -> Result<Option<usize>, ParseError> {
        let line_len = match self.line_len {
            Some(n) => n,
            None => {
                let from = self.scanned;
                let found = buf[from..].iter().position(|&b| b == b'\n');
                self.examined += found.map_or(buf.len() - from, |n| n + 1);
                match found {
                    None if buf.len() > MAX_REQUEST_LINE => {
                        return Err(ParseError::RequestLineTooLong)
                    }
                    None => {
                        self.scanned = buf.len();
                        return Ok(None);
                    }
                    Some(n) if from + n > MAX_REQUEST_LINE => {
                        return Err(ParseError::RequestLineTooLong)
                    }
                    Some(n) => {
                        self.line_len = Some(from + n + 1);
                        self.scanned = from + n + 1;
                        from + n + 1
                    }
                }
            }
        };
        // A head without header fields ends right after its request line.
        if buf[line_len..].starts_with(b"\r\n") || buf[line_len..].starts_with(b"\n") {
            return Ok(Some(line_len + if buf[line_len] == b'\r' { 2 } else { 1 }));
        }
        // Otherwise at the first `\n` followed by an optional `\r` and another `\n`. Back
        // up two bytes so a terminator split across reads is still seen.
        let from = self.scanned.saturating_sub(2).max(line_len);
        self.examined += buf.len() - from;
        let mut i = from;
        while let Some(n) = buf[i..].iter().position(|&b| b == b'\n') {
            let nl = i + n;
            match (buf.get(nl + 1), buf.get(nl + 2)) {
                (Some(b'\n'), _) => return Ok(Some(nl + 2)),
                (Some(b'\r'), Some(b'\n')) => return Ok(Some(nl + 3)),
                (None, _) | (Some(b'\r'), None) => break,
                _ => i = nl + 1,
            }
        }
        self.scanned = buf.len();
        if buf.len() - line_len > MAX_HEADER_BYTES + 4 {
            return Err(ParseError::HeadersTooLarge(
                "header section exceeds 16384 bytes",
            ));
        }
        Ok(None)
    }
}

/// Parses the head at the start of `buf`, resuming the search `scan` remembers from earlier
/// calls with a shorter `buf`. `Ok(None)`: the head is not complete yet.
pub fn parse_head(
    buf: &[u8],
    limits: &Limits,
    scan: &mut HeadScan,
) -> Result<Option<Head>, ParseError> {
    let Some(end) = scan.head_end(buf)? else {
        return Ok(None);
    };
    let line_len = scan.line_len.unwrap_or(0);
    scan.examined += end;
    let buf = &buf[..end];

    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if buf.len() - line_len > MAX_HEADER_BYTES + 4 {
                return Err(ParseError::HeadersTooLarge(
                    "header section exceeds 16384 bytes",
                ));
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ParseError::HeadersTooLarge("more than 100 header fields"))
        }
        Err(httparse::Error::Version) => {
            return Err(ParseError::Malformed("unsupported HTTP version"))
        }
        Err(_) => return Err(ParseError::Malformed("malformed HTTP request")),
    };
    if len - line_len > MAX_HEADER_BYTES + 4 {
        return Err(ParseError::HeadersTooLarge(
            "header section exceeds 16384 bytes",
        ));
    }

    let method = Method::from_str(req.method.unwrap_or(""));
    let mut target = req.path.unwrap_or("");
    // RFC 9112 §3.2.2: a server MUST accept the absolute form (`http://host/path`).
    if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        target = rest.find('/').map_or(&rest[rest.len()..], |i| &rest[i..]);
    }
    if !target.starts_with('/') && !target.is_empty() {
        return Err(ParseError::Malformed(
            "request target must be an absolute path",
        ));
    }
    let target_range = offset(buf, target.as_bytes());
    let (path, query) = match target.find('?') {
        Some(q) => (
            target_range.start..target_range.start + q,
            target_range.start + q + 1..target_range.end,
        ),
        None => (target_range.clone(), target_range.end..target_range.end),
    };
    let minor = req.version.unwrap_or(1);

    let mut keep_alive = minor == 1;
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut content_type = None;
    let mut authorization = None;
    let mut cookie = None;
    let mut expect_continue = false;
    let http10 = minor == 0;
    let mut host = false;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        let value = h.value.trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_content_length(value)?;
            // RFC 9112 §6.3: differing lengths are unrecoverable framing.
            if content_length.is_some_and(|m| m != n) {
                return Err(ParseError::Malformed("conflicting Content-Length fields"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding = true;
            // The final coding must be chunked (RFC 9112 §6.3); others are not implemented.
            let mut codings = value
                .split(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .filter(|c| !c.is_empty());
            let last = codings.clone().next_back();
            if last.is_none_or(|c| !c.eq_ignore_ascii_case(b"chunked")) {
                return Err(ParseError::Malformed(
                    "the final transfer coding must be chunked",
                ));
            }
            if chunked || codings.any(|c| !c.eq_ignore_ascii_case(b"chunked")) {
                return Err(ParseError::UnsupportedTransferCoding);
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && minor == 0 {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"content-type") {
            content_type = Some(offset(buf, value));
        } else if name.eq_ignore_ascii_case(b"authorization") {
            if authorization.is_some() {
                return Err(ParseError::Malformed("more than one Authorization field"));
            }
            authorization = Some(offset(buf, value));
        } else if name.eq_ignore_ascii_case(b"cookie") {
            if cookie.is_none() {
                cookie = Some(offset(buf, value));
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            expect_continue = !http10 && value.eq_ignore_ascii_case(b"100-continue");
        } else if name.eq_ignore_ascii_case(b"host") {
            if host {
                return Err(ParseError::Malformed("more than one Host field"));
            }
            host = true;
        }
    }
    // RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400.
    if minor == 1 && !host {
        return Err(ParseError::Malformed(
            "HTTP/1.1 request without a Host header",
        ));
    }
    let framing = match (transfer_encoding, content_length) {
        // RFC 9112 §6.1: both is a request-smuggling shape; refuse it.
        (true, Some(_)) => {
            return Err(ParseError::Malformed(
                "both Transfer-Encoding and Content-Length",
            ))
        }
        (true, None) if minor == 0 => {
            return Err(ParseError::Malformed(
                "Transfer-Encoding in an HTTP/1.0 request",
            ))
        }
        (true, None) => Framing::Chunked,
        (false, Some(n)) if n > limits.max_body_bytes => return Err(ParseError::BodyTooLarge),
        (false, Some(0)) | (false, None) => Framing::None,
        (false, Some(n)) => Framing::Length(n),
    };
    Ok(Some(Head {
        method,
        path,
        query,
        keep_alive,
        content_type,
        authorization,
        cookie,
        expect_continue,
        http10,
        framing,
        len,
    }))
}

fn parse_content_length(value: &[u8]) -> Result<usize, ParseError> {
    const BAD: ParseError = ParseError::Malformed("invalid Content-Length");
    if value.is_empty() || value.len() > 15 || !value.iter().all(u8::is_ascii_digit) {
        return Err(BAD);
    }
    value
        .iter()
        .try_fold(0usize, |n, &d| {
            n.checked_mul(10)?.checked_add(usize::from(d - b'0'))
        })
        .ok_or(BAD)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<Head>, ParseError> {
        parse_head(s.as_bytes(), &Limits::default(), &mut HeadScan::default())
    }

    /// Feeds `raw` one byte more per call, as a client sending a byte per segment would,
    /// with one scan state; returns the head and the bytes examined in total.
    fn trickle(raw: &[u8]) -> (Result<Option<Head>, ParseError>, usize) {
        let mut scan = HeadScan::default();
        for cut in 1..raw.len() {
            match parse_head(&raw[..cut], &Limits::default(), &mut scan) {
                Ok(None) => {}
                other => return (other, scan.examined),
            }
        }
        let done = parse_head(raw, &Limits::default(), &mut scan);
        (done, scan.examined)
    }

    #[test]
    fn a_head_arriving_byte_by_byte_is_examined_a_linear_number_of_times() {
        let mut raw = String::from("POST /api/oauth/token HTTP/1.1\r\nHost: a\r\n");
        for i in 0..150 {
            raw.push_str(&format!("X-Filler-{i}: {}\r\n", "v".repeat(60)));
        }
        raw.truncate(raw.len() - 2);
        raw.push_str("\r\n\r\n");
        // 100 fields is the limit; use fewer so the head is valid.
        let valid: String = raw
            .split_inclusive("\r\n")
            .take(60)
            .chain(std::iter::once("\r\n"))
            .collect();
        let (head, examined) = trickle(valid.as_bytes());
        let head = head.expect("ok").expect("complete");
        assert_eq!(head.len, valid.len());
        // Each read searches its new byte plus the two before it (a terminator may span
        // reads), and httparse runs once: a few times the length, not len²/2.
        assert!(
            examined <= 5 * valid.len(),
            "examined {examined} bytes of a {}-byte head",
            valid.len()
        );
    }

    #[test]
    fn head_terminators_split_across_reads_are_found() {
        for raw in [
            "GET /a HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /a HTTP/1.1\nHost: a\n\n",
            "GET /a HTTP/1.0\r\n\r\n",
        ] {
            let (head, _) = trickle(raw.as_bytes());
            let head = head.expect(raw).expect(raw);
            assert_eq!(head.len, raw.len(), "{raw:?}");
        }
    }

    #[test]
    fn rfc9110_10_1_1_expect_continue_is_ignored_in_http10() {
        let h = parse("POST / HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
            .expect("ok")
            .expect("complete");
        assert!(!h.expect_continue);
        assert!(h.http10);
        let h = parse(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
        )
        .expect("ok")
        .expect("complete");
        assert!(h.expect_continue);
    }

    #[test]
    fn complete_head_with_length_body() {
        let raw = "POST /api/oauth/token?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nhello";
        let h = parse(raw).expect("ok").expect("complete");
        assert_eq!(h.method, Method::Post);
        assert_eq!(&raw[h.path.clone()], "/api/oauth/token");
        assert_eq!(&raw[h.query.clone()], "x=1");
        assert_eq!(h.framing, Framing::Length(5));
        assert!(h.keep_alive);
        assert_eq!(&raw[h.len..], "hello");
        let req = Request::new(&h, raw.as_bytes(), b"hello", IpAddr::from([127, 0, 0, 1]));
        assert!(req.is_form());
        assert_eq!(req.peer, IpAddr::from([127, 0, 0, 1]));
    }

    #[test]
    fn an_ipv4_mapped_ipv6_peer_is_carried_as_ipv4() {
        let raw = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let h = parse(raw).expect("ok").expect("complete");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("address");
        let req = Request::new(&h, raw.as_bytes(), b"", mapped);
        assert_eq!(req.peer, IpAddr::from([192, 0, 2, 7]));
    }

    #[test]
    fn every_prefix_of_a_head_is_incomplete_not_an_error() {
        let raw = "GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        for cut in 0..raw.len() {
            assert!(matches!(parse(&raw[..cut]), Ok(None)), "cut at {cut}");
        }
        let h = parse(raw).expect("ok").expect("complete");
        assert!(!h.keep_alive);
    }

    #[test]
    fn rfc9112_6_1_both_length_and_chunked_is_rejected() {
        let e = parse(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        assert_eq!(e.expect_err("must fail").status(), 400);
    }

    #[test]
    fn unknown_transfer_coding_is_501_and_non_final_chunked_is_400() {
        let e = parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!(e.expect_err("must fail").status(), 501);
        let e = parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
        assert_eq!(e.expect_err("must fail").status(), 400);
    }

    #[test]
    fn long_request_line_is_414_even_before_it_ends() {
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(9000));
        assert_eq!(parse(&long[..8500]).expect_err("must fail").status(), 414);
    }

    #[test]
    fn too_many_or_too_large_headers_are_431() {
        let mut many = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..101 {
            many.push_str(&format!("X-{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(parse(&many).expect_err("must fail").status(), 431);
        let big = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n",
            "v".repeat(17_000)
        );
        assert_eq!(parse(&big).expect_err("must fail").status(), 431);
    }

    #[test]
    fn declared_body_over_the_limit_is_413_before_reading_it() {
        let e = parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 70000\r\n\r\n");
        assert_eq!(e.expect_err("must fail").status(), 413);
    }

    #[test]
    fn http10_closes_unless_keep_alive_is_asked_for() {
        assert!(
            !parse("GET / HTTP/1.0\r\n\r\n")
                .expect("ok")
                .expect("complete")
                .keep_alive
        );
        let h = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .expect("ok")
            .expect("complete");
        assert!(h.keep_alive);
    }

    #[test]
    fn rfc9112_3_2_2_absolute_form_target_is_accepted() {
        let raw = "GET http://example.com/health?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let h = parse(raw).expect("ok").expect("complete");
        assert_eq!(&raw[h.path.clone()], "/health");
        assert_eq!(&raw[h.query.clone()], "x=1");
    }

    #[test]
    fn rfc9112_3_2_http11_without_host_is_400() {
        assert_eq!(
            parse("GET / HTTP/1.1\r\n\r\n")
                .expect_err("must fail")
                .status(),
            400
        );
    }

    #[test]
    fn bad_content_length_is_400() {
        for v in ["-1", "1a", "", "99999999999999999999", "+5"] {
            let raw = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {v}\r\n\r\n");
            assert_eq!(parse(&raw).expect_err(v).status(), 400, "{v}");
        }
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(
            parse("\x16\x03\x01\x02\x00\x01\x00\r\n\r\n")
                .expect_err("must fail")
                .status(),
            400
        );
    }
}
