//! A TLS session over a TCP stream: rustls' sans-I/O server connection driven with
//! monoio's owned buffers, so the connection loop reads and writes plaintext through the
//! same [`Transport`] as plain TCP.
//!
//! Records read from the socket wait in `incoming` until rustls takes them (it may take
//! part of a read: the rest stays, nothing is lost between calls); records rustls produces
//! are gathered in `outgoing` and written in one socket write. Both buffers live as long
//! as the connection and are reused. Knows nothing of certificates or configuration: the
//! caller hands [`accept`] a ready `rustls::ServerConfig` (see `crate::tls`).

use super::transport::Transport;
use monoio::net::TcpStream;
use rustls::{HandshakeKind, ServerConfig, ServerConnection};
use std::io::{self, Read};
use std::sync::Arc;

/// How much of the socket is read at a time: a TLS record is at most 16 KiB plus framing,
/// and rustls accepts a record in pieces, so a smaller read only costs another call.
const READ_SIZE: usize = 8 * 1024;
/// The most plaintext copied out of rustls per call (it holds at most a few records).
const PLAINTEXT_CHUNK: usize = 32 * 1024;
/// How long closing may wait to send close_notify.
const CLOSE_NOTIFY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// A server-side TLS session on a TCP connection.
pub struct TlsStream {
    io: TcpStream,
    conn: ServerConnection,
    /// Records read from the socket; rustls has taken `incoming[..taken]`.
    incoming: Vec<u8>,
    taken: usize,
    /// Records on their way to the socket.
    outgoing: Vec<u8>,
    /// The peer closed its sending side (rustls has been told).
    eof: bool,
    /// A write failed or was cut short: records may have been lost, so no close_notify.
    broken: bool,
}

impl std::fmt::Debug for TlsStream {
    // The session holds keys: show nothing of it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("handshaking", &self.conn.is_handshaking())
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

/// A completed handshake.
#[derive(Debug)]
pub struct Accepted {
    pub stream: TlsStream,
    /// The client resumed an earlier session (a ticket or a session id): no certificate
    /// signature was needed.
    pub resumed: bool,
}

/// Runs the server side of the handshake on `io`. Bound it with a timeout: a client that
/// stalls mid-handshake would otherwise hold the connection. An error has already sent the
/// client its alert where TLS calls for one.
pub async fn accept(io: TcpStream, config: Arc<ServerConfig>) -> io::Result<Accepted> {
    let conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut stream = TlsStream {
        io,
        conn,
        incoming: Vec::with_capacity(READ_SIZE),
        taken: 0,
        outgoing: Vec::new(),
        eof: false,
        broken: false,
    };
    loop {
        stream.flush_records().await?;
        if !stream.conn.is_handshaking() {
            break;
        }
        if stream.eof {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the client closed the connection during the TLS handshake",
            ));
        }
        stream.receive().await?;
    }
    let resumed = stream.conn.handshake_kind() == Some(HandshakeKind::Resumed);
    Ok(Accepted { stream, resumed })
}

impl TlsStream {
    /// Hands rustls more records: what is left of the last socket read, else a new read.
    /// Errors in the records answer the client with an alert before they are returned.
    async fn receive(&mut self) -> io::Result<()> {
        if self.taken == self.incoming.len() {
            self.incoming.clear();
            self.taken = 0;
            self.incoming.reserve(READ_SIZE);
            let buf = std::mem::take(&mut self.incoming);
            let (result, buf) = self.io.read_more(buf).await;
            self.incoming = buf;
            if result? == 0 {
                self.eof = true;
                // An empty read is how rustls learns of the end of the stream.
                self.conn.read_tls(&mut io::empty())?;
            }
        }
        if self.taken < self.incoming.len() {
            let mut rest = &self.incoming[self.taken..];
            self.taken += self.conn.read_tls(&mut rest)?;
        }
        if let Err(e) = self.conn.process_new_packets() {
            // rustls queued the alert that tells the client why.
            let _ = self.flush_records().await;
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        Ok(())
    }

    /// Writes every record rustls has queued. Marked broken until it completes, so a
    /// write cut off by an error or by a dropped future (a timeout) is never followed by a
    /// close_notify that would claim the stream ended cleanly.
    async fn flush_records(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.broken = true;
            self.outgoing.clear();
            while self.conn.wants_write() {
                self.conn.write_tls(&mut self.outgoing)?;
            }
            let out = std::mem::take(&mut self.outgoing);
            let (result, out) = self.io.write_all(out).await;
            self.outgoing = out;
            result?;
            self.broken = false;
        }
        Ok(())
    }
}

impl Transport for TlsStream {
    async fn read_more(&mut self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let len = buf.len();
        let room = (buf.capacity() - len).clamp(1, PLAINTEXT_CHUNK);
        loop {
            buf.resize(len + room, 0);
            let read = self.conn.reader().read(&mut buf[len..]);
            match read {
                // Ok(0): the client sent close_notify.
                Ok(n) => {
                    buf.truncate(len + n);
                    return (Ok(n), buf);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => buf.truncate(len),
                // UnexpectedEof: the stream ended without close_notify.
                Err(e) => {
                    buf.truncate(len);
                    return (Err(e), buf);
                }
            }
            if let Err(e) = self.receive().await {
                return (Err(e), buf);
            }
            // Post-handshake messages (a key update) may call for an answer.
            if let Err(e) = self.flush_records().await {
                return (Err(e), buf);
            }
        }
    }

    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let mut written = 0;
        while written < buf.len() {
            // rustls takes plaintext up to its buffer limit; flushing makes room again.
            match io::Write::write(&mut self.conn.writer(), &buf[written..]) {
                Ok(n) => written += n,
                Err(e) => return (Err(e), buf),
            }
            if let Err(e) = self.flush_records().await {
                return (Err(e), buf);
            }
        }
        (Ok(()), buf)
    }

    async fn shutdown(&mut self) {
        // Bounded: a peer that stopped reading (its window at zero) must not hold the
        // connection open for the sake of a goodbye.
        if !self.broken {
            self.conn.send_close_notify();
            let _ = monoio::time::timeout(CLOSE_NOTIFY_TIMEOUT, self.flush_records()).await;
        }
        Transport::shutdown(&mut self.io).await;
    }
}
