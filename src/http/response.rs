//! Response encoding: status line, headers and body appended to the connection's reused
//! write buffer. Every response carries `Content-Length` (no chunked responses), so
//! HTTP/1.0 clients read it the same way.

use super::json::JsonObject;

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
    /// `Retry-After` seconds of a 503.
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

    pub fn empty(status: u16) -> Reply {
        Reply {
            content_type: None,
            ..Reply::json(status)
        }
    }
}

/// Writes `{"error":code,"error_description":description}` into `body`.
pub fn error_body(body: &mut Vec<u8>, code: &str, description: &str) {
    body.clear();
    let mut o = JsonObject::new(body);
    o.str("error", code);
    if !description.is_empty() {
        o.str("error_description", description);
    }
    o.finish();
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Appends the whole response to `out`.
pub fn encode(
    out: &mut Vec<u8>,
    reply: &Reply,
    body: &[u8],
    close: bool,
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
    if close || reply.close {
        out.extend_from_slice(b"\r\nConnection: close");
    }
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
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
            b"{}",
            true,
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
}
