//! The admin listener's thread (`tessera-admin`): one single-threaded monoio runtime (epoll:
//! a handful of operators and scrapers need no io_uring) serving `[admin] listen` with the
//! same HTTP connection loop as the workers, over TLS when `[admin.tls]` is set.
//!
//! The management calls read and write the store, scan the token table and hash
//! passwords; they run on the runtime's small blocking pool (`monoio::spawn_blocking`), so
//! neither a worker nor this thread's other connections wait on them. The status page's
//! sampler ticks here once a second.
//!
//! Touches the listener socket, the App (through [`super::AdminService`]) and the shutdown
//! signal; nothing here runs on a worker thread.

use super::AdminService;
use crate::http::admission::IdleSlot;
use crate::http::conn::{self, ConnContext};
use crate::http::date::DateCache;
use crate::http::Limits;
use crate::shutdown::{LocalSignal, Shutdown};
use crate::state::App;
use monoio::net::{TcpListener, TcpStream};
use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, warn};

/// Connections the admin listener serves at once; more are closed on accept. Operators,
/// a Prometheus or two and a status page need a few; the cap keeps a misbehaving script
/// from holding file descriptors the workers need.
const MAX_CONNECTIONS: usize = 64;
/// Threads for the management calls' store I/O, table scans and password hashing.
const BLOCKING_THREADS: usize = 2;
/// How often the status page's history takes a sample.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// The running admin listener.
#[derive(Debug)]
pub struct AdminThread {
    pub addr: SocketAddr,
    pub handle: std::thread::JoinHandle<()>,
}

/// Starts the admin thread on `socket` (bound, not yet listening) and returns once it
/// listens, or with the error that kept it from doing so.
pub fn start(
    socket: socket2::Socket,
    app: Arc<App>,
    shutdown: Shutdown,
) -> io::Result<AdminThread> {
    let addr = socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket"))?;
    let (started, outcome) = std::sync::mpsc::channel::<io::Result<()>>();
    let handle = std::thread::Builder::new()
        .name("tessera-admin".to_owned())
        .spawn(move || {
            let ready = || -> io::Result<_> {
                let rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                    .enable_timer()
                    .attach_thread_pool(Box::new(monoio::blocking::DefaultThreadPool::new(
                        BLOCKING_THREADS,
                    )))
                    .build()?;
                socket.listen(128)?;
                let listener: std::net::TcpListener = socket.into();
                listener.set_nonblocking(true)?;
                Ok((rt, listener))
            };
            let (mut rt, listener) = match ready() {
                Ok(r) => r,
                Err(e) => {
                    let _ = started.send(Err(e));
                    return;
                }
            };
            let _ = started.send(Ok(()));
            if let Err(e) = rt.block_on(serve(listener, app, shutdown.clone())) {
                warn!(error = %e, "admin listener failed; the public listeners keep serving");
            }
        })?;
    match outcome.recv() {
        Ok(Ok(())) => Ok(AdminThread { addr, handle }),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => {
            let _ = handle.join();
            Err(io::Error::other("the admin thread ended before listening"))
        }
    }
}

/// The state the admin connections share on this thread.
struct Local {
    service: AdminService,
    limits: Limits,
    signal: LocalSignal,
    date: DateCache,
    open: Cell<usize>,
}

async fn serve(
    listener: std::net::TcpListener,
    app: Arc<App>,
    shutdown: Shutdown,
) -> io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let s = &app.config.server;
    let limits = Limits {
        max_body_bytes: s.max_body_bytes,
        keepalive_timeout: Duration::from_secs(s.keepalive_timeout_secs),
        request_timeout: Duration::from_secs(s.request_timeout_secs),
        first_request_timeout: Duration::from_secs(s.first_request_timeout_secs()),
    };
    let local = Rc::new(Local {
        service: AdminService::new(Arc::clone(&app)),
        limits,
        signal: LocalSignal::default(),
        date: DateCache::default(),
        open: Cell::new(0),
    });
    // The sampler of the status page's history; ends with the runtime.
    {
        let local = Rc::clone(&local);
        monoio::spawn(async move {
            loop {
                local.service.sample();
                monoio::time::sleep(SAMPLE_EVERY).await;
            }
        });
    }
    // Awaited inside this future, never by a detached task (see `worker::serve`).
    let mut global = std::pin::pin!(shutdown.wait());
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = &mut global => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                if local.open.get() >= MAX_CONNECTIONS {
                    debug!(%peer, "admin listener full; connection closed");
                    continue;
                }
                local.open.set(local.open.get() + 1);
                let l = Rc::clone(&local);
                monoio::spawn(async move {
                    l.connection(stream, peer).await;
                    l.open.set(l.open.get() - 1);
                });
            }
            Err(e) => {
                warn!(error = %e, "admin accept failed");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    drop(listener);
    local.signal.fire();
    let deadline = Instant::now() + Duration::from_secs(app.config.server.shutdown_grace_secs);
    while local.open.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

impl Local {
    async fn connection(&self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let idle = IdleSlot::standalone();
        let ctx = ConnContext {
            limits: &self.limits,
            shutdown: &self.signal,
            date: &self.date,
            peer: peer.ip().to_canonical(),
            idle: &idle,
            accepted: Instant::now(),
        };
        // `[admin.tls]`, replaced on SIGHUP like the main listener's.
        let Some(tls) = &self.service.app().admin_tls else {
            conn::serve(stream, &ctx, &self.service).await;
            return;
        };
        let handshake = crate::http::tls::accept(stream, tls.current());
        let outcome = monoio::select! {
            r = monoio::time::timeout(self.limits.first_request_timeout, handshake) => r,
            _ = self.signal.wait() => return,
        };
        match outcome {
            Ok(Ok(accepted)) => conn::serve(accepted.stream, &ctx, &self.service).await,
            // A client without an acceptable certificate (mutual TLS) ends here.
            Ok(Err(e)) => debug!(%peer, error = %e, "admin TLS handshake failed"),
            Err(_) => debug!(%peer, "admin TLS handshake timed out"),
        }
    }
}
