//! Start and stop: bind the listeners, start the purge thread and one worker thread per
//! listener, and wait for them.
//!
//! Listeners are bound here, before any runtime exists, so that a requested port 0 resolves
//! once and every worker's `SO_REUSEPORT` socket shares that port; tests bind port 0 and read
//! the address back from [`Running::local_addr`].
//!
//! A worker that fails — an error out of its accept loop, or a panic — triggers the shared
//! [`Shutdown`] from its own thread at once, so the others stop too and [`Running::wait`]
//! returns that failure, naming the worker.

use crate::shutdown::Shutdown;
use crate::state::App;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

/// Binds `count` listeners on `addr` with `SO_REUSEPORT`, so the kernel spreads incoming
/// connections over the workers.
pub fn bind(addr: SocketAddr, count: usize) -> io::Result<Vec<std::net::TcpListener>> {
    let mut listeners = Vec::with_capacity(count);
    let mut addr = addr;
    for _ in 0..count.max(1) {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.bind(&addr.into())?;
        socket.listen(4096)?;
        let listener: std::net::TcpListener = socket.into();
        // Port 0 resolves on the first bind; the others join that port.
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
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
    workers: Vec<JoinHandle<io::Result<()>>>,
    purge: JoinHandle<()>,
    /// Keeps the node in step with the others sharing the store (shared stores only).
    cluster: Option<JoinHandle<()>>,
    shutdown: Shutdown,
}

/// Starts one worker per listener and the purge thread.
pub fn start(
    listeners: Vec<std::net::TcpListener>,
    app: Arc<App>,
    shutdown: Shutdown,
) -> io::Result<Running> {
    let addr = match listeners.first() {
        Some(l) => l.local_addr()?,
        None => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no listener to serve",
            ))
        }
    };
    let mut workers = Vec::with_capacity(listeners.len());
    for (index, listener) in listeners.into_iter().enumerate() {
        let app = Arc::clone(&app);
        let shutdown = shutdown.clone();
        workers.push(
            std::thread::Builder::new()
                .name(format!("tessera-worker-{index}"))
                .spawn(move || run_worker(index, listener, app, shutdown))?,
        );
    }
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
    Ok(Running {
        app,
        addr,
        workers,
        purge,
        cluster,
        shutdown,
    })
}

/// One worker thread: runs the worker and, if it fails — an error or a panic — logs it
/// and stops the server at once.
fn run_worker(
    index: usize,
    listener: std::net::TcpListener,
    app: Arc<App>,
    shutdown: Shutdown,
) -> io::Result<()> {
    let worker_shutdown = shutdown.clone();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::worker::run(index, listener, app, worker_shutdown)
    }))
    .unwrap_or_else(|payload| {
        Err(io::Error::other(format!(
            "panicked: {}",
            panic_message(payload.as_ref())
        )))
    })
    .map_err(|e| io::Error::new(e.kind(), format!("worker {index} failed: {e}")));
    if let Err(e) = &outcome {
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
        let total = (stats.access + stats.refresh) as u64;
        app.purged_total.fetch_add(total, Ordering::Relaxed);
        let stored = app
            .store
            .as_deref()
            .map_or(0, |store| purge_store(store, now, shutdown));
        debug!(
            access = stats.access,
            refresh = stats.refresh,
            grants = stats.grants,
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

pub fn log_started(addr: SocketAddr, workers: usize) {
    info!(%addr, workers, "tessera listening");
}
