//! HTTP/1.1: bytes in, requests out, responses back.
//!
//! - [`limits`]: every limit and its status, in one place.
//! - [`request`]: the head parser (httparse → offsets) and body framing.
//! - [`chunked`]: chunked request bodies.
//! - [`response`]: the response encoder and [`Reply`].
//! - [`json`]: the JSON object writer endpoints use for bodies.
//! - [`date`]: the cached `Date` header.
//! - [`transport`]: the byte stream under a connection — plain TCP, or [`tls`]: a rustls
//!   session driven over monoio's owned buffers.
//! - [`admission`]: which connections a worker keeps under a flood — the per-address
//!   limit, idle eviction at the worker's cap.
//! - [`conn`]: one connection's loop — read, parse, call the [`Service`], write — with
//!   keep-alive, pipelining, timeouts and shutdown.
//!
//! Nothing here knows about OAuth: the connection hands each complete [`Request`] to a
//! [`Service`] and writes back what it answers.

pub mod admission;
pub mod chunked;
pub mod conn;
pub mod date;
pub mod json;
pub mod limits;
pub mod request;
pub mod response;
pub mod tls;
pub mod transport;

pub use limits::Limits;
pub use request::{Method, Request};
pub use response::Reply;

use std::future::Future;

/// What a connection calls for each complete request.
pub trait Service {
    /// Answers `req`, writing the response body into `body` and any header fields beyond
    /// the ones [`Reply`] describes into `headers` (with [`response::header`]); both are
    /// cleared beforehand.
    fn call(
        &self,
        req: &Request<'_>,
        body: &mut Vec<u8>,
        headers: &mut Vec<u8>,
    ) -> impl Future<Output = Reply>;

    /// Told about requests the HTTP layer answered itself (400, 408, 413, ...), for metrics.
    fn protocol_error(&self, _status: u16) {}

    /// Told about a connection closed because it had not begun its first request within
    /// [`Limits::first_request_timeout`], for metrics.
    fn first_request_timeout(&self) {}

    /// The realm of `WWW-Authenticate` challenges.
    fn realm(&self) -> &str {
        "tessera"
    }
}
