//! Response encoding: status line, headers and body appended to the connection's reused
//! write buffer. Every response carries `Content-Length` (no chunked responses), so
//! HTTP/1.0 clients read it the same way.

use super::json::JsonObject;
#[cfg(test)]
use crate::oauth::error::allowed;
pub use crate::oauth::error::description_chars;

/// What an endpoint answers; the body is written separately into the body buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    /// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
    pub no_store: bool,
    /// Add `WWW-Authenticate: Basic realm="..."`.
    pub basic_challenge: bool,
    /// The `Allow` header of a 405.
    pub allow: Option<&'static str>,
    /// `Retry-After` seconds of a 503 or 429.
    pub retry_after: Option<u32>,
    /// Close the connection after this response.
    pub close: bool,
}

impl Reply {
    pub const JSON: &'static str = "application/json";

    pub fn json(status: u16) -> Reply {
        Reply {
            status,
            content_type: Some(Reply::JSON),
            no_store: false,
            basic_challenge: false,
            allow: None,
            retry_after: None,
            close: false,
        }
    }

    /// A JSON response that must not be cached (tokens, token facts, OAuth errors).
    pub fn sensitive_json(status: u16) -> Reply {
        Reply {
            no_store: true,
            ..Reply::json(status)
        }
    }

    pub const HTML: &'static str = "text/html; charset=utf-8";

    /// An HTML page of the authorize path. The page brings its own `Cache-Control:
    /// no-store` among its security header fields (`crate::pages`), so it is not doubled
    /// here.
    pub fn html(status: u16) -> Reply {
        Reply {
            content_type: Some(Reply::HTML),
            ..Reply::json(status)
        }
    }

    /// A redirect (the `Location` is among the extra header fields), never cached: it
    /// carries a code or tokens.
    pub fn redirect(status: u16) -> Reply {
        Reply {
            content_type: None,
            no_store: true,
            ..Reply::json(status)
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            content_type: None,
            ..Reply::json(status)
        }
    }
}

/// How a response travels on its connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// `Connection: close`, and the connection closes after this response.
    pub close: bool,
    /// `Connection: keep-alive`: an HTTP/1.0 client asked to keep the connection, and
    /// RFC 9112 §9.3 / Appendix C.2.2 has the server confirm it.
    pub announce_keep_alive: bool,
    /// A `HEAD` request (RFC 9110 §9.3.2): the headers a GET would get, no body.
    pub head_only: bool,
}

impl Delivery {
    pub const CLOSE: Delivery = Delivery {
        close: true,
        announce_keep_alive: false,
        head_only: false,
    };
}

/// Writes `{"error":code,"error_description":description}` into `body`, the description
/// limited to the characters RFC 6749 §5.2 allows ([`description_chars`]).
pub fn error_body(body: &mut Vec<u8>, code: &str, description: &str) {
    body.clear();
    let mut o = JsonObject::new(body);
    o.str("error", code);
    if !description.is_empty() {
        o.str("error_description", &description_chars(description));
    }
    o.finish();
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Adds the header field `name: value` to `headers` (the extra fields of a response). A
/// value with a control character (CR or LF above all, which would end the field and start
/// another) is not sent at all: the caller's bug must not become header injection.
pub fn header(headers: &mut Vec<u8>, name: &str, value: &str) {
    if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        debug_assert!(false, "header {name} with a control character");
        return;
    }
    headers.extend_from_slice(b"\r\n");
    headers.extend_from_slice(name.as_bytes());
    headers.extend_from_slice(b": ");
    headers.extend_from_slice(value.as_bytes());
}

/// Appends the whole response to `out`: `(extra, body)` are the extra header fields (from
/// [`header`]) and the body.
pub fn encode(
    out: &mut Vec<u8>,
    reply: &Reply,
    (extra, body): (&[u8], &[u8]),
    delivery: Delivery,
    date: &[u8],
    realm: &str,
) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(n.format(reply.status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(reply.status).as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date);
    if let Some(ct) = reply.content_type {
        out.extend_from_slice(b"\r\nContent-Type: ");
        out.extend_from_slice(ct.as_bytes());
    }
    out.extend_from_slice(b"\r\nContent-Length: ");
    out.extend_from_slice(n.format(body.len()).as_bytes());
    if reply.no_store {
        out.extend_from_slice(b"\r\nCache-Control: no-store\r\nPragma: no-cache");
    }
    if reply.basic_challenge {
        out.extend_from_slice(b"\r\nWWW-Authenticate: Basic realm=\"");
        out.extend_from_slice(realm.as_bytes());
        out.push(b'"');
    }
    if let Some(allow) = reply.allow {
        out.extend_from_slice(b"\r\nAllow: ");
        out.extend_from_slice(allow.as_bytes());
    }
    if let Some(secs) = reply.retry_after {
        out.extend_from_slice(b"\r\nRetry-After: ");
        out.extend_from_slice(n.format(secs).as_bytes());
    }
    out.extend_from_slice(extra);
    if delivery.close || reply.close {
        out.extend_from_slice(b"\r\nConnection: close");
    } else if delivery.announce_keep_alive {
        out.extend_from_slice(b"\r\nConnection: keep-alive");
    }
    out.extend_from_slice(b"\r\n\r\n");
    if !delivery.head_only {
        out.extend_from_slice(body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_status_headers_and_body() {
        let mut out = Vec::new();
        let reply = Reply {
            basic_challenge: true,
            ..Reply::sensitive_json(401)
        };
        encode(
            &mut out,
            &reply,
            (b"", b"{}"),
            Delivery::CLOSE,
            b"Mon, 23 Nov 2026 00:00:00 GMT",
            "tessera",
        );
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{text}");
        assert!(text.contains("\r\nContent-Length: 2\r\n"));
        assert!(text.contains("\r\nCache-Control: no-store\r\nPragma: no-cache"));
        assert!(text.contains("\r\nWWW-Authenticate: Basic realm=\"tessera\""));
        assert!(text.contains("\r\nConnection: close\r\n\r\n{}"));
    }

    #[test]
    fn extra_header_fields_are_sent_and_never_split_by_a_newline() {
        let mut extra = Vec::new();
        header(&mut extra, "Location", "https://app.example/cb?code=x");
        if cfg!(not(debug_assertions)) {
            header(&mut extra, "Location", "x\r\nSet-Cookie: a=b");
        }
        let mut out = Vec::new();
        encode(
            &mut out,
            &Reply::empty(302),
            (&extra, b""),
            Delivery::default(),
            b"d",
            "r",
        );
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("\r\nLocation: https://app.example/cb?code=x\r\n"),
            "{text}"
        );
        assert!(!text.contains("Set-Cookie"), "{text}");
    }

    #[test]
    fn rfc9110_9_3_2_head_gets_the_get_headers_without_the_body() {
        let mut out = Vec::new();
        let delivery = Delivery {
            head_only: true,
            ..Delivery::default()
        };
        encode(
            &mut out,
            &Reply::json(200),
            (b"", b"{\"status\":\"ok\"}"),
            delivery,
            b"d",
            "r",
        );
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("\r\nContent-Length: 15\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "{text}");
    }

    #[test]
    fn http10_keep_alive_is_announced_and_close_wins() {
        let mut out = Vec::new();
        let keep = Delivery {
            announce_keep_alive: true,
            ..Delivery::default()
        };
        encode(&mut out, &Reply::json(200), (b"", b""), keep, b"d", "r");
        assert!(String::from_utf8_lossy(&out).contains("\r\nConnection: keep-alive\r\n"));
        out.clear();
        let both = Delivery {
            close: true,
            ..keep
        };
        encode(&mut out, &Reply::json(200), (b"", b""), both, b"d", "r");
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(!text.contains("keep-alive"));
    }

    #[test]
    fn rfc6749_5_2_error_description_holds_only_the_allowed_characters() {
        let hostile = "scope \"a\\b\" § é\u{0}\n\t\u{7f}x ~";
        let clean = description_chars(hostile);
        assert!(clean.bytes().all(allowed), "{clean}");
        assert_eq!(clean, "scope 'a/b' section  ?????x ~");
        assert!(matches!(
            description_chars("plain text (RFC 6749 section 3.1)"),
            std::borrow::Cow::Borrowed(_)
        ));
        let mut body = Vec::new();
        error_body(&mut body, "invalid_scope", hostile);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let d = v["error_description"].as_str().expect("description");
        assert!(d.bytes().all(allowed), "{d}");
    }

    /// Walks every error description the server can produce: each string literal (and
    /// each literal part of a `format!`) that reaches an `OAuthError`, a `ParseError` or
    /// `error_body` in the source, plus the HTTP layer's own. Dynamic parts are echoed
    /// input, which `description_chars` cleans; the literal parts must be clean already,
    /// so common errors cost no allocation.
    #[test]
    fn rfc6749_5_2_every_description_literal_in_the_source_is_clean() {
        use crate::http::request::ParseError;
        for e in [
            ParseError::Malformed("x"),
            ParseError::RequestLineTooLong,
            ParseError::HeadersTooLarge("x"),
            ParseError::BodyTooLarge,
            ParseError::UnsupportedTransferCoding,
        ] {
            assert!(e.description().bytes().all(allowed), "{e:?}");
        }
        // Every module that writes responses (configuration and CLI errors never reach one).
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut checked = 0;
        let mut stack: Vec<std::path::PathBuf> = [
            "oauth",
            "endpoints",
            "http",
            "writes.rs",
            "service.rs",
            "worker.rs",
        ]
        .iter()
        .map(|p| std::path::Path::new(src).join(p))
        .collect();
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).expect("read src") {
                    stack.push(entry.expect("entry").path());
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read file");
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for (i, line) in code.lines().enumerate() {
                let t = line.trim_start();
                if t.starts_with("//") {
                    continue;
                }
                let is_description = [
                    "OAuthError::",
                    "ParseError::Malformed(",
                    "ParseError::HeadersTooLarge(",
                    "error_body(",
                ]
                .iter()
                .any(|k| t.contains(k));
                // Multi-line constructor calls put the literal on the next lines.
                let prev = code.lines().nth(i.saturating_sub(1)).unwrap_or("");
                let prev2 = code.lines().nth(i.saturating_sub(2)).unwrap_or("");
                let continued = [
                    "OAuthError::",
                    "error_body(",
                    "Malformed(",
                    "HeadersTooLarge(",
                ]
                .iter()
                .any(|k| prev.contains(k) || prev2.contains(k));
                if !(is_description || continued) || !t.contains('"') {
                    continue;
                }
                for literal in t.split('"').skip(1).step_by(2) {
                    checked += 1;
                    assert!(
                        literal.bytes().all(allowed),
                        "{}:{}: description literal {literal:?} has characters RFC 6749 section 5.2 does not allow",
                        path.display(),
                        i + 1
                    );
                }
            }
        }
        assert!(
            checked > 40,
            "only {checked} literals found: is the walk broken?"
        );
    }
}
