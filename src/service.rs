//! The request service of one worker: what [`crate::http`] calls for each parsed request.
//! It reads the current client registry, runs [`crate::endpoints::dispatch`] and counts the
//! request in the worker's metrics. Lives on its worker thread only (it is not `Send`).

use crate::endpoints::{dispatch, Ctx};
use crate::http::{Reply, Request, Service};
use crate::metrics::WorkerMetrics;
use crate::oauth::clients::Clients;
use crate::router::RouteLabel;
use crate::state::App;
use arc_swap::{ArcSwap, Cache};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct WorkerService {
    app: Arc<App>,
    index: usize,
    /// Notices a replaced client registry with one atomic load per request.
    cache: RefCell<Cache<Arc<ArcSwap<Clients>>, Arc<Clients>>>,
    /// The registry requests use. The extra `Rc` is the point: a request clones it
    /// without touching the `Arc`'s reference count, which every worker would otherwise
    /// bounce between cores; the `Arc` is cloned only when the registry was replaced.
    #[allow(clippy::redundant_allocation)]
    current: RefCell<Rc<Arc<Clients>>>,
}

impl WorkerService {
    pub fn new(app: Arc<App>, index: usize) -> WorkerService {
        let mut cache = Cache::new(app.registry.clients_cell());
        let current = Rc::new(Arc::clone(cache.load()));
        WorkerService {
            app,
            index,
            cache: RefCell::new(cache),
            current: RefCell::new(current),
        }
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    pub fn metrics(&self) -> &WorkerMetrics {
        self.app.metrics.worker(self.index)
    }

    /// The current client registry.
    #[allow(clippy::redundant_allocation)]
    fn clients(&self) -> Rc<Arc<Clients>> {
        let mut cache = self.cache.borrow_mut();
        let latest = cache.load();
        let mut current = self.current.borrow_mut();
        if !Arc::ptr_eq(latest, &current) {
            *current = Rc::new(Arc::clone(latest));
        }
        Rc::clone(&current)
    }
}

impl Service for WorkerService {
    async fn call(&self, req: &Request<'_>, body: &mut Vec<u8>, headers: &mut Vec<u8>) -> Reply {
        let started = Instant::now();
        let clients = self.clients();
        let ctx = Ctx {
            app: &self.app,
            clients: &clients,
            metrics: self.metrics(),
            now: crate::clock::now_secs(),
            peer: req.peer,
        };
        let (label, reply) = dispatch(ctx, req, body, headers).await;
        self.metrics()
            .request(label, reply.status, started.elapsed());
        reply
    }

    fn protocol_error(&self, status: u16) {
        self.metrics()
            .request(RouteLabel::Other, status, Duration::ZERO);
    }

    fn first_request_timeout(&self) {
        self.metrics().closed_first_request_timeout.inc();
    }

    fn realm(&self) -> &str {
        &self.app.config.server.realm
    }
}

/// The service of the plain listener beside a TLS one (`server.listen_plain`): load-balancer
/// health checks and Prometheus scrapes only. Everything else would put credentials and
/// tokens on the wire in clear (RFC 6749 §3.2, §10.3), so it is refused before any of it is
/// read.
#[derive(Debug)]
pub struct HealthOnly<'a>(pub &'a WorkerService);

/// The paths the plain listener serves.
const PLAIN_PATHS: [&str; 2] = ["/health", "/metrics"];

impl Service for HealthOnly<'_> {
    async fn call(&self, req: &Request<'_>, body: &mut Vec<u8>, headers: &mut Vec<u8>) -> Reply {
        if PLAIN_PATHS.contains(&req.path) {
            return self.0.call(req, body, headers).await;
        }
        crate::http::response::error_body(
            body,
            "invalid_request",
            "this plain-HTTP listener serves only /health and /metrics; use the TLS listener",
        );
        self.0
            .metrics()
            .request(RouteLabel::Other, 403, Duration::ZERO);
        Reply::json(403)
    }

    fn protocol_error(&self, status: u16) {
        self.0.protocol_error(status);
    }

    fn first_request_timeout(&self) {
        self.0.first_request_timeout();
    }

    fn realm(&self) -> &str {
        self.0.realm()
    }
}
