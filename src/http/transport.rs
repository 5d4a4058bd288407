//! The byte stream a connection reads requests from and writes responses to: a plain TCP
//! stream, or a TLS session over one ([`super::tls::TlsStream`]). The connection loop
//! ([`super::conn`]) is generic over it, so the plain path pays nothing for TLS.
//!
//! Buffers are owned and handed back (monoio's io_uring I/O takes ownership of the buffer
//! for the duration of the operation). Dropping a pending future (a timeout, shutdown) may
//! lose bytes in flight; the connection loop only does that when it closes the connection.

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use std::future::Future;
use std::io;

/// A connection's byte stream.
pub trait Transport {
    /// Appends what arrives next to `buf`, at most its spare capacity (which must not be
    /// zero); `Ok(0)` at the end of the stream.
    fn read_more(&mut self, buf: Vec<u8>) -> impl Future<Output = (io::Result<usize>, Vec<u8>)>;

    /// Writes all of `buf`.
    fn write_all(&mut self, buf: Vec<u8>) -> impl Future<Output = (io::Result<()>, Vec<u8>)>;

    /// Ends the sending side (TLS: `close_notify`, then the TCP FIN); errors are moot.
    fn shutdown(&mut self) -> impl Future<Output = ()>;
}

impl Transport for TcpStream {
    async fn read_more(&mut self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let len = buf.len();
        let (result, slice) = AsyncReadRent::read(self, buf.slice_mut(len..)).await;
        (result, slice.into_inner())
    }

    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let (result, buf) = AsyncWriteRentExt::write_all(self, buf).await;
        (result.map(|_| ()), buf)
    }

    async fn shutdown(&mut self) {
        let _ = AsyncWriteRent::shutdown(self).await;
    }
}
