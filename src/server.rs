//! Start and stop: bind the listening sockets, start the purge thread and one worker thread
//! per socket, and wait for them.
//!
//! Sockets are bound here, before any runtime exists, so that a requested port 0 resolves
//! once and every worker's `SO_REUSEPORT` socket shares that port; tests bind port 0 and read
//! the address back from [`Running::local_addr`].
//!
//! Start-up never resets a connection. [`bind`] only binds: a bound socket that does not
//! listen takes no connections (a client is refused, as before the process started). Each
//! worker builds its runtime and reports ready; only when every worker is ready does
//! [`start`] let them `listen` and accept. A worker that cannot start fails the start-up
//! before any socket has listened, so no connection was ever queued on a socket that then
//! closes (closing a listening socket resets the connections in its backlog).
//!
//! A worker that fails later — an error out of its accept loop, or a panic — triggers the
//! shared [`Shutdown`] from its own thread at once, so the others stop too and
//! [`Running::wait`] returns that failure, naming the worker.

use crate::shutdown::Shutdown;
use crate::state::App;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

/// Binds `count` sockets on `addr` with `SO_REUSEPORT`, so the kernel will spread incoming
/// connections over the workers. They do not listen yet: each worker calls `listen` once
/// every worker is ready to serve (see [`start`]).
pub fn bind(addr: SocketAddr, count: usize) -> io::Result<Vec<Socket>> {
    refuse_if_taken(addr)?;
    let mut sockets = Vec::with_capacity(count);
    let mut addr = addr;
    for _ in 0..count.max(1) {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.bind(&addr.into())?;
        // Port 0 resolves on the first bind; the others join that port.
        if let Some(bound) = socket.local_addr()?.as_socket() {
            addr = bound;
        }
        sockets.push(socket);
    }
    Ok(sockets)
}

/// `SO_REUSEPORT` lets any process of the same user join a port: a second `tessera serve`
/// on the same address would start without error and silently take a share of the
/// connections. A probe bound without it fails while anyone listens there (`SO_REUSEADDR`
/// still lets it past connections in TIME_WAIT left by a previous run), so a taken address
/// is refused at start-up. Port 0 always gets a fresh port.
fn refuse_if_taken(addr: SocketAddr) -> io::Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    probe.set_reuse_address(true)?;
    probe.bind(&addr.into()).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            io::Error::new(e.kind(), format!("{addr} is in use by another process"))
        } else {
            e
        }
    })
}

/// File descriptors beyond the client connections: listeners, store files, the runtimes'
/// own descriptors, threads' pipes.
const SPARE_FDS: usize = 1024;

/// Raises the soft RLIMIT_NOFILE to the hard limit (a process may always do that), so the
/// configured connection caps are not cut short by the usual soft limit of 1024; logs the
/// result, and warns when even the hard limit is below what `connections` need.
fn raise_nofile_limit(connections: usize) {
    let needed = connections.saturating_add(SPARE_FDS) as u64;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < needed => warn!(
            limit,
            needed,
            "the open-file limit (RLIMIT_NOFILE) is below workers × server.max_connections_per_worker plus spare: accepts past it fail (raise the hard limit, e.g. LimitNOFILE= in systemd)"
        ),
        Ok(limit) => info!(limit, "open-file limit (RLIMIT_NOFILE)"),
        Err(e) => warn!(error = %e, "could not raise the open-file limit (RLIMIT_NOFILE)"),
    }
}

/// Start-up handshake between [`start`] and the workers: each worker reports ready (or
/// failed) and waits; `start` opens the gate once all are ready, or closes it at the first
/// failure.
#[derive(Debug, Default)]
struct StartGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    ready: usize,
    listening: usize,
    failed: bool,
    /// `Some(true)`: serve; `Some(false)`: start-up abandoned.
    open: Option<bool>,
}

impl StartGate {
    /// Called by a worker whose runtime is built: waits for the verdict. `true` means
    /// listen and serve; `false` means another worker failed and this one should return.
    fn ready(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.ready += 1;
        self.changed.notify_all();
        loop {
            if let Some(open) = state.open {
                return open;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Called by a worker once its socket listens.
    fn listening(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.listening += 1;
        self.changed.notify_all();
    }

    /// Waits until `workers` listen; `false` if one failed first.
    fn all_listening(&self, workers: usize) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while state.listening < workers && !state.failed {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        !state.failed
    }

    fn fail(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.failed = true;
        self.changed.notify_all();
    }

    /// Waits until `workers` are ready or one failed, then tells them all. Returns whether
    /// they serve.
    fn decide(&self, workers: usize) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while state.ready < workers && !state.failed {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        let open = !state.failed;
        state.open = Some(open);
        self.changed.notify_all();
        open
    }
}

/// The text of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// A started server.
#[derive(Debug)]
pub struct Running {
    app: Arc<App>,
    addr: SocketAddr,
    /// The `server.listen_plain` listener's address, if there is one.
    plain_addr: Option<SocketAddr>,
    workers: Vec<JoinHandle<io::Result<()>>>,
    purge: JoinHandle<()>,
    /// Keeps the node in step with the others sharing the store (shared stores only).
    cluster: Option<JoinHandle<()>>,
    /// Fetches `jwks_uri` keys (when some client or issuer names one, or the store is
    /// shared).
    jwks: Option<JoinHandle<()>>,
    /// The admin listener (`[admin] listen`).
    admin: Option<crate::admin_api::server::AdminThread>,
    shutdown: Shutdown,
}

/// Starts one worker per bound socket and the purge thread. Returns once every worker is
/// listening; if one cannot start, stops the others (none of which has listened yet) and
/// returns its error.
/// Starts one worker per socket of `sockets`; `plain` is empty, or holds one
/// `server.listen_plain` socket per worker; `admin` is the `[admin] listen` socket.
pub fn start(
    sockets: Vec<Socket>,
    plain: Vec<Socket>,
    admin: Option<Socket>,
    app: Arc<App>,
    shutdown: Shutdown,
) -> io::Result<Running> {
    let addr = match sockets.first().map(Socket::local_addr).transpose()? {
        Some(a) => a
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket"))?,
        None => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no listener to serve",
            ))
        }
    };
    let plain_addr = plain
        .first()
        .and_then(|s| s.local_addr().ok())
        .and_then(|a| a.as_socket());
    let count = sockets.len();
    raise_nofile_limit(count * app.config.server.max_connections_per_worker);
    let gate = Arc::new(StartGate::default());
    let mut workers = Vec::with_capacity(count);
    let mut plain = plain.into_iter();
    for (index, socket) in sockets.into_iter().enumerate() {
        let plain = plain.next();
        let app = Arc::clone(&app);
        let thread_shutdown = shutdown.clone();
        let thread_gate = Arc::clone(&gate);
        let spawned = std::thread::Builder::new()
            .name(format!("tessera-worker-{index}"))
            .spawn(move || run_worker(index, (socket, plain), app, thread_shutdown, &thread_gate));
        match spawned {
            Ok(handle) => workers.push(handle),
            Err(e) => {
                // The workers already started see the gate closed and return.
                gate.fail();
                gate.decide(count);
                shutdown.trigger();
                for w in workers {
                    let _ = w.join();
                }
                return Err(e);
            }
        }
    }
    // Open the gate once all are ready; return once all listen, so the address announced
    // after this answers on every worker's socket.
    if !(gate.decide(count) && gate.all_listening(count)) {
        shutdown.trigger();
        let mut first = None;
        for w in workers {
            if let Ok(Err(e)) = w.join() {
                first.get_or_insert(e);
            }
        }
        return Err(first.unwrap_or_else(|| io::Error::other("a worker failed to start")));
    }

    let admin = match admin {
        None => None,
        Some(socket) => {
            match crate::admin_api::server::start(socket, Arc::clone(&app), shutdown.clone()) {
                Ok(a) => Some(a),
                Err(e) => {
                    shutdown.trigger();
                    for w in workers {
                        let _ = w.join();
                    }
                    return Err(io::Error::new(e.kind(), format!("admin listener: {e}")));
                }
            }
        }
    };
    let purge = {
        let shutdown = shutdown.clone();
        let app = Arc::clone(&app);
        std::thread::Builder::new()
            .name("tessera-purge".to_owned())
            .spawn(move || purge_loop(&app, &shutdown))?
    };
    let cluster = match app.cluster_node() {
        None => None,
        Some(_) => {
            let app = Arc::clone(&app);
            let shutdown = shutdown.clone();
            Some(
                std::thread::Builder::new()
                    .name("tessera-cluster".to_owned())
                    .spawn(move || {
                        if let Some(node) = app.cluster_node() {
                            crate::cluster::sync::run(&node, &shutdown);
                        }
                    })?,
            )
        }
    };
    // `jwks_uri` keys, fetched off the workers. With a shared store a client added later
    // may name one, so the thread runs whenever the store is shared too.
    let keys = Arc::clone(app.registry.keys());
    let jwks = if keys.remotes().is_empty() && app.shared_store().is_none() {
        None
    } else {
        let refresh = Duration::from_secs(u64::from(app.config.assertions.jwks_refresh_secs));
        Some(crate::registry::jwks_fetch::spawn(
            move || keys.remotes(),
            refresh,
            shutdown.clone(),
        )?)
    };
    Ok(Running {
        app,
        addr,
        plain_addr,
        workers,
        purge,
        cluster,
        jwks,
        admin,
        shutdown,
    })
}

/// One worker thread: runs the worker and, if it fails — an error or a panic — logs it,
/// fails the start-up if that was still going on, and stops the server at once.
fn run_worker(
    index: usize,
    (socket, plain): (Socket, Option<Socket>),
    app: Arc<App>,
    shutdown: Shutdown,
    gate: &StartGate,
) -> io::Result<()> {
    let worker_shutdown = shutdown.clone();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::worker::run(
            index,
            socket,
            plain,
            app,
            worker_shutdown,
            || gate.ready(),
            || gate.listening(),
        )
    }))
    .unwrap_or_else(|payload| {
        Err(io::Error::other(format!(
            "panicked: {}",
            panic_message(payload.as_ref())
        )))
    })
    .map_err(|e| io::Error::new(e.kind(), format!("worker {index} failed: {e}")));
    if let Err(e) = &outcome {
        // Ends the start-up if it was still going on; harmless after.
        gate.fail();
        error!(worker = index, error = %e, "worker failed; shutting down");
        // One failed worker stops the others: a half-served port is worse than none.
        shutdown.trigger();
    }
    outcome
}

impl Running {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The plain health-check listener's address (`server.listen_plain`), if any.
    pub fn plain_addr(&self) -> Option<SocketAddr> {
        self.plain_addr
    }

    /// The admin listener's address (`[admin] listen`), if any.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|a| a.addr)
    }

    /// Waits until every worker has stopped: after a signal, or at once when one of them
    /// fails (its thread triggers the shutdown). Returns the first worker error, if any;
    /// its message names the worker.
    pub fn wait(self) -> io::Result<()> {
        let mut result = Ok(());
        for (i, w) in self.workers.into_iter().enumerate() {
            // `run_worker` catches panics; this covers one in its own logging.
            let outcome = w
                .join()
                .unwrap_or_else(|_| Err(io::Error::other(format!("worker {i} panicked"))));
            if let Err(e) = outcome {
                self.shutdown.trigger();
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        self.shutdown.trigger();
        self.purge.thread().unpark();
        let _ = self.purge.join();
        if let Some(cluster) = self.cluster {
            cluster.thread().unpark();
            let _ = cluster.join();
        }
        if let Some(jwks) = self.jwks {
            jwks.thread().unpark();
            let _ = jwks.join();
        }
        if let Some(admin) = self.admin {
            let _ = admin.handle.join();
        }
        // Every accepted change reaches the store before the process exits.
        if let Some(writer) = &self.app.writer {
            let pending = writer.queue_depth();
            let started = Instant::now();
            writer.shutdown(Duration::from_secs(
                self.app.config.server.shutdown_grace_secs,
            ));
            info!(
                pending,
                took_ms = started.elapsed().as_millis() as u64,
                "store writes drained"
            );
        }
        result
    }
}

/// Every `purge_interval_secs`, reclaims expired records; ends at shutdown.
fn purge_loop(app: &App, shutdown: &Shutdown) {
    let interval = Duration::from_secs(app.config.store.purge_interval_secs);
    loop {
        let deadline = Instant::now() + interval;
        while !shutdown.is_triggered() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // Woken early by `Running::wait` at shutdown; the short cap covers a missed unpark.
            std::thread::park_timeout(left.min(Duration::from_millis(500)));
        }
        if shutdown.is_triggered() {
            return;
        }
        let started = Instant::now();
        let now = crate::clock::now_secs();
        let stats = app.table.purge_expired(now);
        let codes = app.codes.purge_expired(now);
        let total = (stats.access + stats.refresh + codes) as u64;
        app.purged_total.fetch_add(total, Ordering::Relaxed);
        let stored = app
            .store
            .as_deref()
            .map_or(0, |store| purge_store(store, now, shutdown));
        debug!(
            access = stats.access,
            refresh = stats.refresh,
            grants = stats.grants,
            codes,
            stored,
            took_us = started.elapsed().as_micros() as u64,
            "purged expired tokens"
        );
    }
}

/// Deletes expired tokens from the store in bounded batches (this thread, never a worker).
fn purge_store(store: &dyn tessera_storage::store::Store, now: u32, shutdown: &Shutdown) -> usize {
    const BATCH: usize = 10_000;
    let mut total = 0;
    while !shutdown.is_triggered() {
        match store.purge_expired(now, BATCH) {
            Ok(n) => {
                total += n;
                if n < BATCH {
                    break;
                }
            }
            Err(e) => {
                // The next interval tries again; lookups already ignore expired records.
                warn!(store = store.name(), error = %e, "purging expired tokens from the store failed");
                break;
            }
        }
    }
    total
}

pub fn log_started(running: &Running, workers: usize) {
    let tls = running.app.tls.is_some();
    info!(addr = %running.addr, tls, workers, "tessera listening");
    if let Some(plain) = running.plain_addr {
        info!(addr = %plain, "plain listener for /health and /metrics");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_an_address_another_socket_listens_on_is_refused() {
        // Another server's workers: SO_REUSEPORT sockets, listening.
        let first = bind("127.0.0.1:0".parse().expect("addr"), 2).expect("first server");
        for s in &first {
            s.listen(16).expect("listen");
        }
        let addr = first[0]
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .expect("bound address");
        let e = bind(addr, 2).expect_err("taken");
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
        drop(first);
        assert_eq!(bind(addr, 2).expect("free again").len(), 2);
    }

    #[test]
    fn start_gate_opens_only_when_every_worker_is_ready() {
        let gate = Arc::new(StartGate::default());
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let gate = Arc::clone(&gate);
                std::thread::spawn(move || gate.ready())
            })
            .collect();
        assert!(gate.decide(3));
        assert!(workers.into_iter().all(|w| w.join().unwrap_or(false)));
    }

    #[test]
    fn start_gate_closes_for_every_worker_when_one_fails() {
        let gate = Arc::new(StartGate::default());
        let ready = {
            let gate = Arc::clone(&gate);
            std::thread::spawn(move || gate.ready())
        };
        gate.fail();
        assert!(!gate.decide(3));
        assert_eq!(
            ready.join().ok(),
            Some(false),
            "told to serve after a failure"
        );
        assert!(!gate.all_listening(3));
    }

    #[test]
    fn bound_sockets_refuse_connections_until_a_worker_listens() {
        let sockets = bind(SocketAddr::from(([127, 0, 0, 1], 0)), 2).expect("bind");
        let addr = sockets[0]
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .expect("address");
        assert_ne!(addr.port(), 0);
        assert_eq!(
            sockets[1].local_addr().ok().and_then(|a| a.as_socket()),
            Some(addr),
            "both sockets share the port"
        );
        let refused = std::net::TcpStream::connect(addr).map_err(|e| e.kind());
        assert_eq!(refused.err(), Some(io::ErrorKind::ConnectionRefused));
        sockets[0].listen(16).expect("listen");
        assert!(std::net::TcpStream::connect(addr).is_ok());
    }
}
