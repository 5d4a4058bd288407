//! One worker thread: a single-threaded monoio runtime, its own `SO_REUSEPORT` listeners
//! (the main one, and the plain health-check one of `server.listen_plain`), and the
//! connections it accepts (the accept loop, the connection limit, the TLS handshake, the
//! drain at shutdown). What a request does is [`crate::service`]'s business. Workers share only
//! `Arc<App>`; everything else — buffers, the date cache, the shutdown signal, metrics
//! writes — is local to the thread.

use crate::config::DriverKind;
use crate::http::admission::{Admission, Ticket, Verdict};
use crate::http::conn::{self, ConnContext};
use crate::http::date::DateCache;
use crate::http::response::{encode, error_body, Delivery};
use crate::http::tls;
use crate::http::{Limits, Reply, Service};
use crate::metrics::WorkerMetrics;
use crate::service::{HealthOnly, WorkerService};
use crate::shutdown::{LocalSignal, Shutdown};
use crate::state::App;
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};
use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

/// Connections the kernel queues on a worker's socket until it accepts them.
const BACKLOG: i32 = 4096;

/// The I/O driver a worker ended up with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    IoUring,
    Epoll,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::IoUring => "io_uring",
            Driver::Epoll => "epoll",
        }
    }
}

/// A worker's state, shared by its tasks through `Rc`.
#[derive(Debug)]
pub struct Worker {
    service: WorkerService,
    index: usize,
    limits: Limits,
    signal: LocalSignal,
    date: DateCache,
    active: Cell<usize>,
    admission: Admission,
}

impl Worker {
    fn app(&self) -> &App {
        self.service.app()
    }

    fn metrics(&self) -> &WorkerMetrics {
        self.service.metrics()
    }
}

/// The runtime a worker built, on the driver it ended up with.
enum Runtime {
    IoUring(monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>>),
    Epoll(monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>>),
}

/// Which listener a connection came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    /// `server.listen`: TLS with `[server.tls]`, else plain.
    Main,
    /// `server.listen_plain`: plain HTTP, health checks and metrics only.
    Plain,
}

/// Runs worker `index` on the current thread until shutdown has drained it.
///
/// `socket` (and `plain`, the `server.listen_plain` socket) is bound but not listening. Once the runtime is built the worker calls
/// `ready`, which waits until every worker is ready: `true` means listen and serve,
/// `false` means start-up was abandoned (another worker failed) and the socket closes
/// without ever having taken a connection. `listening` is called once the socket listens.
pub fn run(
    index: usize,
    socket: socket2::Socket,
    plain: Option<socket2::Socket>,
    app: Arc<App>,
    shutdown: Shutdown,
    ready: impl FnOnce() -> bool,
    listening: impl FnOnce(),
) -> io::Result<()> {
    // This thread's fresh token puts go to the store on its own write-behind lane.
    tessera_storage::writer::set_thread_lane(index);
    let s = &app.config.server;
    if s.pin_cores {
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        if let Some(core) = cores.get(index % cores.len().max(1)) {
            if !core_affinity::set_for_current(*core) {
                warn!(
                    worker = index,
                    core = core.id,
                    "could not pin worker to its core"
                );
            }
        }
    }
    let limits = Limits {
        max_body_bytes: s.max_body_bytes,
        keepalive_timeout: Duration::from_secs(s.keepalive_timeout_secs),
        request_timeout: Duration::from_secs(s.request_timeout_secs),
        first_request_timeout: Duration::from_secs(s.first_request_timeout_secs()),
    };
    let admission = Admission::new(Arc::clone(&app.addresses), s.max_connections_per_worker);
    let rt = build_runtime(index, s.driver)?;
    let worker = Rc::new(Worker {
        service: WorkerService::new(app, index),
        index,
        limits,
        signal: LocalSignal::default(),
        date: DateCache::default(),
        active: Cell::new(0),
        admission,
    });
    if !ready() {
        return Ok(());
    }
    let listen = |socket: socket2::Socket| -> io::Result<std::net::TcpListener> {
        socket.listen(BACKLOG)?;
        let listener: std::net::TcpListener = socket.into();
        listener.set_nonblocking(true)?;
        Ok(listener)
    };
    let listener = listen(socket)?;
    let plain = plain.map(listen).transpose()?;
    listening();
    match rt {
        Runtime::IoUring(mut rt) => rt.block_on(serve(worker, listener, plain, shutdown)),
        Runtime::Epoll(mut rt) => rt.block_on(serve(worker, listener, plain, shutdown)),
    }
}

/// A worker's io_uring runtime, its ring set up with `IORING_SETUP_COOP_TASKRUN`.
///
/// Without the flag, each completion that arrives while the worker runs in user space makes
/// the kernel interrupt the worker's core (an IPI, expensive in a VM) so that the completion
/// is posted at once. The worker enters the kernel on every turn of its loop anyway (to
/// submit, or to wait), so the completion is only deferred to the next turn. Measured open
/// loop at 50 k req/s: 16.2 → 12.8 µs of server CPU per client_credentials request
/// (bench/RESULTS.md, "Open-loop CPU"). Kernels before 5.19 refuse the flag; the plain ring
/// is used there.
fn build_uring() -> io::Result<monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>>> {
    let mut coop = io_uring::IoUring::builder();
    coop.setup_coop_taskrun();
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .uring_builder(coop)
        .enable_timer()
        .build()
        .or_else(|_| {
            monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                .enable_timer()
                .build()
        })
}

/// io_uring where asked for (or, with `auto`, where the kernel allows it), else epoll.
fn build_runtime(index: usize, driver: DriverKind) -> io::Result<Runtime> {
    let want_uring = match driver {
        DriverKind::Epoll => false,
        DriverKind::IoUring => true,
        DriverKind::Auto => monoio::utils::detect_uring(),
    };
    if want_uring {
        match build_uring() {
            Ok(rt) => {
                info!(
                    worker = index,
                    driver = Driver::IoUring.as_str(),
                    "worker started"
                );
                return Ok(Runtime::IoUring(rt));
            }
            Err(e) if driver == DriverKind::Auto => {
                warn!(worker = index, error = %e, "io_uring unavailable, falling back to epoll");
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("server.driver = \"io_uring\": {e}"),
                ))
            }
        }
    }
    let rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()?;
    info!(
        worker = index,
        driver = Driver::Epoll.as_str(),
        "worker started"
    );
    Ok(Runtime::Epoll(rt))
}

async fn serve(
    worker: Rc<Worker>,
    listener: std::net::TcpListener,
    plain: Option<std::net::TcpListener>,
    shutdown: Shutdown,
) -> io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let plain = plain.map(TcpListener::from_std).transpose()?;
    // The process-wide shutdown is awaited here, inside this future, and never by a task
    // spawned on its own: when this future ends — returned, or dropped by a panic unwinding
    // through the runtime — its registration with `Shutdown` goes with it. A detached task
    // outlived a failed worker's runtime, and the `trigger` that followed woke (and
    // dropped) it from another thread while holding the event's lock: a deadlock.
    let mut global = std::pin::pin!(shutdown.wait());
    let server = &worker.app().config.server;
    // Test only (`server.test_panic_worker_after_ms`): the last worker panics, so tests see
    // what a failing worker does to the server.
    if server.test_panic_worker_after_ms > 0
        && worker.index + 1 == worker.app().config.worker_count()
    {
        let after = Duration::from_millis(server.test_panic_worker_after_ms);
        let index = worker.index;
        monoio::spawn(async move {
            monoio::time::sleep(after).await;
            panic!("server.test_panic_worker_after_ms: worker {index} panics as configured");
        });
    }
    loop {
        let (accepted, side) = monoio::select! {
            r = listener.accept() => (r, Side::Main),
            r = accept_on(plain.as_ref()) => (r, Side::Plain),
            _ = &mut global => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let accepted = Instant::now();
                let Some((stream, ticket)) = admit(&worker, stream, peer.ip(), side) else {
                    continue;
                };
                worker.active.set(worker.active.get() + 1);
                worker
                    .metrics()
                    .open_connections
                    .set(worker.active.get() as u64);
                let w = Rc::clone(&worker);
                monoio::spawn(async move {
                    let ctx = ConnContext {
                        limits: &w.limits,
                        shutdown: &w.signal,
                        date: &w.date,
                        peer: peer.ip(),
                        idle: &ticket.idle,
                        accepted,
                    };
                    // A bug in one request must not take the worker and all its connections down.
                    if CatchUnwind(std::pin::pin!(w.connection(stream, side, &ctx)))
                        .await
                        .is_err()
                    {
                        error!(
                            worker = w.index,
                            "connection task panicked; connection dropped"
                        );
                    }
                    w.active.set(w.active.get() - 1);
                    w.metrics().open_connections.set(w.active.get() as u64);
                    drop(ticket);
                });
            }
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning on accept.
                warn!(worker = worker.index, error = %e, "accept failed");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    drop(listener);
    // Idle connections wait on this; each finishes its request in flight and closes.
    worker.signal.fire();
    let grace = Duration::from_secs(worker.app().config.server.shutdown_grace_secs);
    let deadline = Instant::now() + grace;
    while worker.active.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    if worker.active.get() > 0 {
        warn!(
            worker = worker.index,
            open = worker.active.get(),
            "shutdown grace period over, closing connections"
        );
    }
    Ok(())
}

/// Accepts on `listener`, or never when there is none.
async fn accept_on(
    listener: Option<&TcpListener>,
) -> io::Result<(TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

impl Worker {
    /// Serves one accepted connection: the TLS handshake first on a TLS listener, then the
    /// HTTP connection loop.
    async fn connection(&self, stream: TcpStream, side: Side, ctx: &ConnContext<'_>) {
        // Responses are written whole; Nagle would only delay them.
        let _ = stream.set_nodelay(true);
        match (side, &self.app().tls) {
            (Side::Plain, _) => conn::serve(stream, ctx, &HealthOnly(&self.service)).await,
            (Side::Main, None) => conn::serve(stream, ctx, &self.service).await,
            // Boxed: the TLS session and its connection loop are a large future, and every
            // plain connection's task would otherwise be sized for it (about 6 KiB each).
            (Side::Main, Some(tls)) => Box::pin(self.tls_connection(stream, tls, ctx)).await,
        }
    }

    /// A connection on the TLS listener: the handshake, then the HTTP connection loop over
    /// the session.
    async fn tls_connection(
        &self,
        stream: TcpStream,
        tls: &crate::tls::TlsState,
        ctx: &ConnContext<'_>,
    ) {
        // The handshake counts against the first request's time: a client that stalls
        // mid-handshake must not hold the connection any longer than one that sends nothing.
        let handshake = tls::accept(stream, tls.current());
        let left = self
            .limits
            .first_request_timeout
            .saturating_sub(ctx.accepted.elapsed());
        let metrics = self.metrics();
        // A handshake in progress is evictable like an idle connection: under a flood of
        // clients that connect and stall, the oldest of them make room for new ones.
        let outcome = monoio::select! {
            biased;
            r = monoio::time::timeout(left, handshake) => r,
            _ = ctx.idle.idle() => return,
            _ = ctx.shutdown.wait() => return,
        };
        match outcome {
            Ok(Ok(accepted)) => {
                if accepted.resumed {
                    metrics.tls_resumed.inc();
                } else {
                    metrics.tls_full.inc();
                }
                conn::serve(accepted.stream, ctx, &self.service).await;
            }
            Ok(Err(e)) => {
                metrics.tls_failures.inc();
                // Scanners and plain-HTTP clients fail here all day: not worth a warning.
                debug!(peer = %ctx.peer, error = %e, "TLS handshake failed");
            }
            Err(_elapsed) => {
                metrics.tls_failures.inc();
                debug!(peer = %ctx.peer, "TLS handshake timed out");
            }
        }
    }
}

/// Applies [`Admission`] to a connection just accepted: the stream and its ticket if it is
/// to be served; otherwise it has been closed (address limit) or handed to [`reject`].
fn admit(
    worker: &Rc<Worker>,
    stream: TcpStream,
    peer: std::net::IpAddr,
    side: Side,
) -> Option<(TcpStream, Ticket)> {
    match worker.admission.admit(peer, worker.active.get()) {
        Verdict::Serve { ticket, evicted } => {
            if evicted {
                worker.metrics().closed_evicted_idle.inc();
            }
            Some((stream, ticket))
        }
        Verdict::AddressLimit => {
            worker.metrics().closed_address_limit.inc();
            None
        }
        Verdict::Full => {
            worker.metrics().rejected_connections.inc();
            // A TLS client cannot read a plain 503: it just sees the close.
            if side == Side::Plain || worker.app().tls.is_none() {
                monoio::spawn(reject(stream, Rc::clone(worker)));
            }
            None
        }
    }
}

/// Over the connection limit: say so and close, rather than leave the client hanging.
async fn reject(mut stream: TcpStream, worker: Rc<Worker>) {
    let mut body = Vec::new();
    error_body(
        &mut body,
        "temporarily_unavailable",
        "too many connections; retry shortly",
    );
    let mut out = Vec::with_capacity(256);
    let reply = Reply {
        retry_after: Some(1),
        ..Reply::json(503)
    };
    encode(
        &mut out,
        &reply,
        (&[], &body),
        Delivery::CLOSE,
        &worker.date.now(),
        worker.service.realm(),
    );
    let _ = monoio::time::timeout(Duration::from_secs(1), stream.write_all(out)).await;
    let _ = stream.shutdown().await;
}

/// Polls the inner future, turning a panic into `Err` instead of unwinding the worker.
struct CatchUnwind<F>(F);

impl<F: std::future::Future + Unpin> std::future::Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            std::pin::Pin::new(inner).poll(cx)
        })) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(_) => std::task::Poll::Ready(Err(())),
        }
    }
}
