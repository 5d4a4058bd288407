//! Every HTTP limit in one place, with the status each one answers with.

use std::time::Duration;

/// Request line (method, target, version) longer than this → 414 URI Too Long.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// Header section (after the request line) larger than this → 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// More header fields than this → 431.
pub const MAX_HEADERS: usize = 100;
/// Chunk-size lines and trailers may add this much framing on top of the body limit.
pub const MAX_CHUNK_FRAMING: usize = 16 * 1024;
/// Responses are flushed once this much is queued, so a long pipeline cannot grow the
/// write buffer without bound.
pub const FLUSH_THRESHOLD: usize = 64 * 1024;

/// The configurable limits of one server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Body larger than this → 413 Content Too Large.
    pub max_body_bytes: usize,
    /// An idle keep-alive connection is closed after this.
    pub keepalive_timeout: Duration,
    /// A request not complete this long after its first byte → 408.
    pub request_timeout: Duration,
    /// A new connection that has not begun its first request this long after it was
    /// accepted is closed without a response (`server.first_request_timeout_secs`); a TLS
    /// handshake counts against it too.
    pub first_request_timeout: Duration,
}

impl Limits {
    /// The most a connection's read buffer may ever hold for one request.
    pub fn max_buffered(&self) -> usize {
        MAX_REQUEST_LINE + MAX_HEADER_BYTES + 4 + self.max_body_bytes + MAX_CHUNK_FRAMING
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 * 1024,
            keepalive_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            first_request_timeout: Duration::from_secs(5),
        }
    }
}
