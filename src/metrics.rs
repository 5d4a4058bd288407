//! Metrics in Prometheus text format (exposition format 0.0.4).
//!
//! Each worker owns a [`WorkerMetrics`] and is its only writer, so counters are bumped with
//! a plain load and store (no locked read-modify-write, no cache line shared between
//! cores). `/metrics` sums the workers' values when it is scraped, and the admin status
//! page reads the same sums through [`Metrics::route_totals`] and [`Metrics::issued_total`].
//!
//! # Naming
//!
//! Names follow the Prometheus conventions (<https://prometheus.io/docs/practices/naming/>):
//! the `tessera_` prefix, base units spelled at the end of the name (`_seconds`, `_bytes`),
//! `_total` on every counter and on nothing else, and client ids under the one label name
//! `client_id`. The process figures use the names every Prometheus client library uses
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...), so stock dashboards
//! and alerts work. `config/grafana/tessera.json` and `config/prometheus/alerts.yml` are
//! built on these names; `tests/blackbox/prometheus.rs` evaluates every query in both against
//! a real Prometheus scraping a real server, so a rename here fails that test.
//!
//! This module only counts and renders: it touches no store and no socket; the one file it
//! reads is `/proc/self` (for the process figures), at scrape time.

use crate::oauth::types::GrantType;
use crate::router::RouteLabel;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Statuses counted individually; anything else is counted as "other".
const STATUSES: [u16; 18] = [
    200, 302, 303, 400, 401, 403, 404, 405, 408, 413, 414, 429, 431, 500, 501, 503, 100, 0,
];
/// Latency bucket upper bounds, in microseconds.
pub const BUCKETS_US: [u64; 14] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000,
];
const ROUTES: usize = RouteLabel::ALL.len();

/// A counter with a single writer thread and any number of readers.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub fn add(&self, n: u64) {
        // Single writer: a load and a store are enough, and cheaper than fetch_add.
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [Counter; BUCKETS_US.len()],
    sum_us: Counter,
    count: Counter,
}

impl Histogram {
    fn observe(&self, us: u64) {
        if let Some(i) = BUCKETS_US.iter().position(|&b| us <= b) {
            self.buckets[i].inc();
        }
        self.sum_us.add(us);
        self.count.inc();
    }
}

/// One worker's metrics.
#[derive(Debug)]
pub struct WorkerMetrics {
    requests: [[Counter; STATUSES.len()]; ROUTES],
    latency: [Histogram; ROUTES],
    /// Tokens issued, by client index and grant type.
    issued: Box<[[Counter; GrantType::ALL.len()]]>,
    pub revoked: Counter,
    /// Used refresh tokens presented again (RFC 9700 §4.14.2); each revoked its grant.
    pub refresh_reuse: Counter,
    pub code_reuse: Counter,
    /// Assertions (grant or client authentication) whose `jti` / `ID` was already used.
    pub assertion_replays: Counter,
    pub open_connections: Counter,
    pub rejected_connections: Counter,
    /// Connections closed before their first request, at `first_request_timeout_secs`.
    pub closed_first_request_timeout: Counter,
    /// Connections closed on accept: their address had `max_connections_per_address` open.
    pub closed_address_limit: Counter,
    /// Idle connections closed to make room at `max_connections_per_worker`.
    pub closed_evicted_idle: Counter,
    /// Failed client authentications (token, revoke, introspect).
    pub client_auth_failures: Counter,
    /// Failed resource-owner logins (password grant).
    pub user_auth_failures: Counter,
    /// Lockouts the brute-force guard started.
    pub lockouts: Counter,
    /// TLS handshakes completed with a full handshake / by resuming a session.
    pub tls_full: Counter,
    pub tls_resumed: Counter,
    /// TLS handshakes that failed or timed out (bad client, wrong protocol, scanner).
    pub tls_failures: Counter,
    /// Token requests refused over their client's rate limit, by client index.
    rate_limited: Box<[Counter]>,
    /// Requests refused over their source address's rate limit.
    pub address_rate_limited: Counter,
}

impl WorkerMetrics {
    fn new(clients: usize) -> WorkerMetrics {
        WorkerMetrics {
            requests: Default::default(),
            latency: Default::default(),
            issued: (0..clients).map(|_| Default::default()).collect(),
            revoked: Counter::default(),
            refresh_reuse: Counter::default(),
            code_reuse: Counter::default(),
            assertion_replays: Counter::default(),
            open_connections: Counter::default(),
            rejected_connections: Counter::default(),
            closed_first_request_timeout: Counter::default(),
            closed_address_limit: Counter::default(),
            closed_evicted_idle: Counter::default(),
            client_auth_failures: Counter::default(),
            user_auth_failures: Counter::default(),
            lockouts: Counter::default(),
            tls_full: Counter::default(),
            tls_resumed: Counter::default(),
            tls_failures: Counter::default(),
            rate_limited: (0..clients).map(|_| Counter::default()).collect(),
            address_rate_limited: Counter::default(),
        }
    }

    pub fn request(&self, route: RouteLabel, status: u16, took: Duration) {
        let s = STATUSES
            .iter()
            .position(|&x| x == status)
            .unwrap_or(STATUSES.len() - 1);
        self.requests[route.index()][s].inc();
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency[route.index()].observe(us);
    }

    pub fn issued(&self, client_index: usize, grant: GrantType) {
        if let Some(c) = self.issued.get(client_index) {
            c[grant.index()].inc();
        }
    }

    /// A token request of client `client_index` refused over its rate limit.
    pub fn client_rate_limited(&self, client_index: usize) {
        if let Some(c) = self.rate_limited.get(client_index) {
            c.inc();
        }
    }
}

/// All workers' metrics.
#[derive(Debug)]
pub struct Metrics {
    workers: Vec<WorkerMetrics>,
}

/// One path's request figures since start (see [`Metrics::route_totals`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteTotals {
    /// Requests answered, any status.
    pub requests: u64,
    /// Answered 4xx.
    pub client_errors: u64,
    /// Answered 5xx (or a status the metrics do not count on its own).
    pub server_errors: u64,
    /// Latency observations per bucket of [`BUCKETS_US`] (not cumulative).
    pub buckets: [u64; BUCKETS_US.len()],
    /// Latency observations in all (those above the last bound are in no bucket).
    pub observed: u64,
}

/// Values that are not per-worker counters, gathered at scrape time.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    pub live_tokens: usize,
    pub grants: usize,
    pub purged_total: u64,
}

impl Metrics {
    pub fn new(workers: usize, clients: usize) -> Metrics {
        Metrics {
            workers: (0..workers.max(1))
                .map(|_| WorkerMetrics::new(clients))
                .collect(),
        }
    }

    pub fn worker(&self, index: usize) -> &WorkerMetrics {
        &self.workers[index.min(self.workers.len() - 1)]
    }

    /// Every worker's figures for `route` since start, summed into `out` (overwritten).
    pub fn route_totals(&self, route: RouteLabel, out: &mut RouteTotals) {
        *out = RouteTotals::default();
        for w in &self.workers {
            for (si, status) in STATUSES.iter().enumerate() {
                let n = w.requests[route.index()][si].get();
                out.requests += n;
                match status {
                    400..=499 => out.client_errors += n,
                    // `0` is "other": a status not counted on its own, never a success.
                    500..=599 | 0 => out.server_errors += n,
                    _ => {}
                }
            }
            let h = &w.latency[route.index()];
            for (bi, b) in h.buckets.iter().enumerate() {
                out.buckets[bi] += b.get();
            }
            out.observed += h.count.get();
        }
    }

    /// Tokens issued since start to client `client_index` by `grant`, all workers summed.
    pub fn issued_total(&self, client_index: usize, grant: GrantType) -> u64 {
        self.workers
            .iter()
            .filter_map(|w| w.issued.get(client_index))
            .map(|c| c[grant.index()].get())
            .sum()
    }

    /// Token requests of client `client_index` refused over its rate limit since start.
    pub fn client_rate_limited_total(&self, client_index: usize) -> u64 {
        self.workers
            .iter()
            .filter_map(|w| w.rate_limited.get(client_index))
            .map(Counter::get)
            .sum()
    }

    /// How many client indices the issued counters have room for.
    pub fn client_slots(&self) -> usize {
        self.workers.first().map_or(0, |w| w.issued.len())
    }

    /// One counter of every worker, summed: `metrics.total(|w| &w.lockouts)`.
    pub fn total(&self, counter: impl Fn(&WorkerMetrics) -> &Counter) -> u64 {
        self.workers.iter().map(|w| counter(w).get()).sum()
    }

    /// Renders every metric; `client_id(i)` names client `i`.
    pub fn render<'a>(
        &self,
        out: &mut Vec<u8>,
        gauges: Gauges,
        client_id: impl Fn(usize) -> &'a str,
    ) {
        let mut s = String::with_capacity(4096);
        let sum = |f: &dyn Fn(&WorkerMetrics) -> u64| self.workers.iter().map(f).sum::<u64>();

        s.push_str("# HELP tessera_requests_total HTTP requests answered, by path and status.\n");
        s.push_str("# TYPE tessera_requests_total counter\n");
        for route in RouteLabel::ALL {
            for (si, status) in STATUSES.iter().enumerate() {
                let n = sum(&|w| w.requests[route.index()][si].get());
                if n > 0 {
                    let status = if *status == 0 {
                        "other".to_owned()
                    } else {
                        status.to_string()
                    };
                    let _ = writeln!(
                        s,
                        "tessera_requests_total{{path=\"{}\",status=\"{status}\"}} {n}",
                        route.path()
                    );
                }
            }
        }

        s.push_str("# HELP tessera_request_duration_seconds Time from a complete request to its response, by path.\n");
        s.push_str("# TYPE tessera_request_duration_seconds histogram\n");
        for route in RouteLabel::ALL {
            let count = sum(&|w| w.latency[route.index()].count.get());
            if count == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (bi, bound) in BUCKETS_US.iter().enumerate() {
                cumulative += sum(&|w| w.latency[route.index()].buckets[bi].get());
                let _ = writeln!(
                    s,
                    "tessera_request_duration_seconds_bucket{{path=\"{}\",le=\"{}\"}} {cumulative}",
                    route.path(),
                    *bound as f64 / 1e6
                );
            }
            let _ = writeln!(
                s,
                "tessera_request_duration_seconds_bucket{{path=\"{}\",le=\"+Inf\"}} {count}",
                route.path()
            );
            let sum_us = sum(&|w| w.latency[route.index()].sum_us.get());
            let _ = writeln!(
                s,
                "tessera_request_duration_seconds_sum{{path=\"{}\"}} {}",
                route.path(),
                sum_us as f64 / 1e6
            );
            let _ = writeln!(
                s,
                "tessera_request_duration_seconds_count{{path=\"{}\"}} {count}",
                route.path()
            );
        }

        s.push_str(
            "# HELP tessera_tokens_issued_total Access tokens issued, by grant type and client.\n",
        );
        s.push_str("# TYPE tessera_tokens_issued_total counter\n");
        let clients = self.workers.first().map_or(0, |w| w.issued.len());
        for ci in 0..clients {
            for g in GrantType::ALL {
                let n = sum(&|w| w.issued[ci][g.index()].get());
                if n > 0 {
                    let _ = writeln!(
                        s,
                        "tessera_tokens_issued_total{{grant=\"{}\",client_id=\"{}\"}} {n}",
                        g.as_str(),
                        escape_label_value(client_id(ci))
                    );
                }
            }
        }

        s.push_str(
            "# HELP tessera_auth_failures_total Failed authentications: client (token, revoke, introspect) or user (password grant).\n",
        );
        s.push_str("# TYPE tessera_auth_failures_total counter\n");
        for (kind, n) in [
            ("client", sum(&|w| w.client_auth_failures.get())),
            ("user", sum(&|w| w.user_auth_failures.get())),
        ] {
            let _ = writeln!(s, "tessera_auth_failures_total{{kind=\"{kind}\"}} {n}");
        }

        s.push_str("# HELP tessera_tls_handshakes_total TLS handshakes completed, by whether the client resumed an earlier session (a ticket or a session id).\n");
        s.push_str("# TYPE tessera_tls_handshakes_total counter\n");
        for (resumed, n) in [
            ("false", sum(&|w| w.tls_full.get())),
            ("true", sum(&|w| w.tls_resumed.get())),
        ] {
            let _ = writeln!(
                s,
                "tessera_tls_handshakes_total{{resumed=\"{resumed}\"}} {n}"
            );
        }

        s.push_str(
            "# HELP tessera_connections_closed_total Connections the server closed to resist a flood, by reason.\n",
        );
        s.push_str("# TYPE tessera_connections_closed_total counter\n");
        for (reason, n) in [
            (
                "first_request_timeout",
                sum(&|w| w.closed_first_request_timeout.get()),
            ),
            ("address_limit", sum(&|w| w.closed_address_limit.get())),
            ("evicted_idle", sum(&|w| w.closed_evicted_idle.get())),
        ] {
            let _ = writeln!(
                s,
                "tessera_connections_closed_total{{reason=\"{reason}\"}} {n}"
            );
        }

        // One series per client that was ever limited (clients are bounded by the
        // registry's metric indices), and one for the per-address limit, always shown.
        s.push_str(
            "# HELP tessera_rate_limited_total Requests refused with 429 over a rate limit: a client's on the token endpoint, or a source address's.\n",
        );
        s.push_str("# TYPE tessera_rate_limited_total counter\n");
        let _ = writeln!(
            s,
            "tessera_rate_limited_total{{limit=\"address\"}} {}",
            sum(&|w| w.address_rate_limited.get())
        );
        for ci in 0..clients {
            let n = sum(&|w| w.rate_limited.get(ci).map_or(0, Counter::get));
            if n > 0 {
                let _ = writeln!(
                    s,
                    "tessera_rate_limited_total{{limit=\"client\",client_id=\"{}\"}} {n}",
                    escape_label_value(client_id(ci))
                );
            }
        }

        let gauges_text = [
            (
                "tessera_live_tokens",
                "gauge",
                "Token records held in memory (expired ones count until purged).",
                gauges.live_tokens as u64,
            ),
            (
                "tessera_grants",
                "gauge",
                "Grants with a live refresh token link set.",
                gauges.grants as u64,
            ),
            (
                "tessera_purged_tokens_total",
                "counter",
                "Expired token records reclaimed by the purge.",
                gauges.purged_total,
            ),
            (
                "tessera_revoked_tokens_total",
                "counter",
                "Revocation requests that removed a token.",
                sum(&|w| w.revoked.get()),
            ),
            (
                "tessera_refresh_token_reuse_total",
                "counter",
                "Used refresh tokens presented again; each revoked its whole grant.",
                sum(&|w| w.refresh_reuse.get()),
            ),
            (
                "tessera_code_reuse_total",
                "counter",
                "Used authorization codes presented again; each revoked the tokens issued from it.",
                sum(&|w| w.code_reuse.get()),
            ),
            (
                "tessera_assertion_replay_total",
                "counter",
                "JWT or SAML assertions (grants and client authentication) presented again after their single use.",
                sum(&|w| w.assertion_replays.get()),
            ),
            (
                "tessera_open_connections",
                "gauge",
                "Client connections open now.",
                sum(&|w| w.open_connections.get()),
            ),
            (
                "tessera_rejected_connections_total",
                "counter",
                "Connections refused with 503 at the per-worker limit.",
                sum(&|w| w.rejected_connections.get()),
            ),
            (
                "tessera_tls_handshake_failures_total",
                "counter",
                "TLS handshakes that failed or did not finish within first_request_timeout_secs.",
                sum(&|w| w.tls_failures.get()),
            ),
            (
                "tessera_lockouts_total",
                "counter",
                "Lockouts started by the brute-force guard (an identity or an address).",
                sum(&|w| w.lockouts.get()),
            ),
        ];
        for (name, kind, help, value) in gauges_text {
            write_single(&mut s, name, kind, help, "", value as f64);
        }
        write_single(
            &mut s,
            "tessera_build_info",
            "gauge",
            "Always 1; the version label says which Tessera answers.",
            concat!("{version=\"", env!("CARGO_PKG_VERSION"), "\"}"),
            1.0,
        );
        render_process(&mut s, &Process::read());
        out.extend_from_slice(s.as_bytes());
    }
}

/// The process figures every Prometheus client library exports, read from `/proc/self`.
/// A figure the kernel does not give (another OS, a restricted `/proc`) is left out.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Process {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    /// Unix seconds.
    pub start_time_seconds: Option<f64>,
}

/// Clock ticks per second in `/proc`'s figures: USER_HZ, which the kernel fixes at 100 for
/// this interface whatever its internal tick rate.
const USER_HZ: f64 = 100.0;

impl Process {
    pub fn read() -> Process {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let boot = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64);
        Process {
            open_fds,
            ..Process::parse(&stat, &status, &limits, &boot)
        }
    }

    /// The figures in the text of `/proc/self/stat`, `/proc/self/status`,
    /// `/proc/self/limits` and `/proc/stat`.
    pub fn parse(stat: &str, status: &str, limits: &str, boot: &str) -> Process {
        // The command name (field 2) is in parentheses and may hold spaces or `)`: the
        // fields that follow start after the last `)`. After it, field 3 is at index 0.
        let fields: Vec<&str> = stat
            .rfind(')')
            .map(|i| stat[i + 1..].split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        let cpu_seconds = field(14)
            .zip(field(15))
            .map(|(user, system)| (user + system) as f64 / USER_HZ);
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .map(|k| k * 1024)
        };
        let max_fds = limits
            .lines()
            .find_map(|l| l.strip_prefix("Max open files"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok());
        let btime = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<u64>().ok());
        let start_time_seconds = field(22)
            .zip(btime)
            .map(|(ticks, btime)| btime as f64 + ticks as f64 / USER_HZ);
        Process {
            cpu_seconds,
            resident_bytes: kib("VmRSS:"),
            virtual_bytes: kib("VmSize:"),
            open_fds: None,
            max_fds,
            start_time_seconds,
        }
    }
}

fn render_process(s: &mut String, p: &Process) {
    let figures = [
        (
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent.",
            p.cpu_seconds,
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size.",
            p.resident_bytes.map(|b| b as f64),
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size.",
            p.virtual_bytes.map(|b| b as f64),
        ),
        (
            "process_open_fds",
            "gauge",
            "Open file descriptors (connections, the store's files, listeners).",
            p.open_fds.map(|n| n as f64),
        ),
        (
            "process_max_fds",
            "gauge",
            "The open file descriptor limit (RLIMIT_NOFILE, LimitNOFILE= under systemd).",
            p.max_fds.map(|n| n as f64),
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch.",
            p.start_time_seconds,
        ),
    ];
    for (name, kind, help, value) in figures {
        if let Some(v) = value {
            write_single(s, name, kind, help, "", v);
        }
    }
}

/// The write-behind's figures: queue depth, batches, flush latency, errors, rejections.
pub fn render_store(
    out: &mut Vec<u8>,
    store: &str,
    depth: usize,
    capacity: usize,
    stats: &tessera_storage::writer::WriterStats,
    now_ms: u64,
) {
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let mut s = String::with_capacity(1024);
    let batches = load(&stats.batches);
    let lines = [
        (
            "tessera_store_queue_depth",
            "gauge",
            "Changes accepted and not yet written to the store (queued or in the batch being written); at most store.queue_capacity.",
            depth as f64,
        ),
        (
            "tessera_store_queue_capacity",
            "gauge",
            "store.queue_capacity: the queue depth at which issuance answers 503.",
            capacity as f64,
        ),
        (
            "tessera_store_batches_total",
            "counter",
            "Batches written to the store.",
            batches as f64,
        ),
        (
            "tessera_store_mutations_total",
            "counter",
            "Changes written to the store.",
            load(&stats.mutations) as f64,
        ),
        (
            "tessera_store_last_batch_size",
            "gauge",
            "Changes in the most recent batch.",
            load(&stats.last_batch) as f64,
        ),
        (
            "tessera_store_flush_seconds_total",
            "counter",
            "Time spent writing batches.",
            load(&stats.flush_us_total) as f64 / 1e6,
        ),
        (
            "tessera_store_flush_max_seconds",
            "gauge",
            "Longest batch write since start.",
            load(&stats.flush_us_max) as f64 / 1e6,
        ),
        (
            "tessera_store_errors_total",
            "counter",
            "Failed batch writes (each retried).",
            load(&stats.errors) as f64,
        ),
        (
            "tessera_store_write_age_seconds",
            "gauge",
            "How long the batch the flusher is writing or retrying now has taken so far (0 when idle): grows while the store stalls or fails.",
            stats.write_age_ms(now_ms) as f64 / 1e3,
        ),
        (
            "tessera_store_rejected_total",
            "counter",
            "Requests answered 503 because the queue was full.",
            load(&stats.rejected) as f64,
        ),
    ];
    let labels = format!("{{store=\"{store}\"}}");
    for (name, kind, help, value) in lines {
        write_single(&mut s, name, kind, help, &labels, value);
    }
    out.extend_from_slice(s.as_bytes());
}

/// One metric with a single series: HELP, TYPE and the sample.
fn write_single(s: &mut String, name: &str, kind: &str, help: &str, labels: &str, value: f64) {
    let _ = writeln!(
        s,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{labels} {value}"
    );
}

/// A label value as the text exposition format wants it between its double quotes:
/// backslash, double quote and line feed are escaped (`\\`, `\"`, `\n`), every other
/// character, non-ASCII UTF-8 and control characters included, is written as it is. (JSON
/// escaping is not the same: its `\t` or `\u0001` is an invalid escape to a Prometheus
/// parser, and it would add the quotes itself.)
fn escape_label_value(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (tessera (w) 1) S 1 4242 4242 0 -1 4194560 9000 0 3 0 250 75 0 0 20 0 5 0 12345 1234567168 3000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn process_figures_come_from_proc_after_the_last_parenthesis_of_the_command_name() {
        let p = Process::parse(
            STAT,
            "Name:\ttessera\nVmSize:\t 1205632 kB\nVmRSS:\t   12000 kB\n",
            "Limit                     Soft Limit           Hard Limit           Units\nMax open files            65536                524288               files\n",
            "cpu  1 2 3\nbtime 1700000000\n",
        );
        assert_eq!(
            p.cpu_seconds,
            Some(3.25),
            "utime 250 + stime 75 ticks at USER_HZ"
        );
        assert_eq!(p.resident_bytes, Some(12_000 * 1024));
        assert_eq!(p.virtual_bytes, Some(1_205_632 * 1024));
        assert_eq!(p.max_fds, Some(65_536));
        assert_eq!(p.start_time_seconds, Some(1_700_000_123.45));
    }

    #[test]
    fn process_figures_missing_from_proc_are_left_out_of_the_exposition() {
        let p = Process::parse("", "", "", "");
        assert_eq!(p, Process::default());
        let mut s = String::new();
        render_process(&mut s, &p);
        assert_eq!(s, "");
    }

    #[test]
    fn process_figures_of_this_process_are_rendered_with_conventional_names() {
        let mut s = String::new();
        render_process(&mut s, &Process::read());
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
        ] {
            assert!(s.contains(&format!("\n{name} ")), "{name} missing:\n{s}");
        }
    }

    #[test]
    fn every_counter_ends_in_total_and_nothing_else_does() {
        let metrics = Metrics::new(2, 1);
        let w = metrics.worker(0);
        w.request(RouteLabel::Other, 200, Duration::from_micros(70));
        w.issued(0, GrantType::ClientCredentials);
        w.client_rate_limited(0);
        let mut out = Vec::new();
        let gauges = Gauges {
            live_tokens: 1,
            grants: 0,
            purged_total: 0,
        };
        metrics.render(&mut out, gauges, |_| "svc");
        let stats = tessera_storage::writer::WriterStats::default();
        render_store(&mut out, "memory", 0, 8, &stats, 0);
        let text = String::from_utf8(out).expect("utf-8");
        let mut types = 0;
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("# TYPE ") else {
                continue;
            };
            types += 1;
            let (name, kind) = rest.split_once(' ').expect("name and kind");
            assert!(
                name.starts_with("tessera_") || name.starts_with("process_"),
                "{name}"
            );
            assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
            assert!(!name.contains("_total_"), "{line}");
        }
        assert!(types > 20, "{text}");
        assert!(
            !text.contains("client=\""),
            "client ids go under client_id:\n{text}"
        );
    }

    #[test]
    fn route_totals_sum_workers_and_split_errors_by_class() {
        let metrics = Metrics::new(2, 0);
        let token = RouteLabel::Route(crate::router::Route::Token);
        metrics
            .worker(0)
            .request(token, 200, Duration::from_micros(40));
        metrics
            .worker(1)
            .request(token, 401, Duration::from_micros(300));
        metrics
            .worker(1)
            .request(token, 503, Duration::from_secs(3));
        metrics
            .worker(1)
            .request(RouteLabel::Other, 404, Duration::ZERO);
        let mut t = RouteTotals::default();
        metrics.route_totals(token, &mut t);
        assert_eq!(t.requests, 3);
        assert_eq!(t.client_errors, 1);
        assert_eq!(t.server_errors, 1);
        assert_eq!(t.observed, 3);
        assert_eq!(t.buckets[0], 1, "40 µs is in the 50 µs bucket");
        assert_eq!(t.buckets[3], 1, "300 µs is in the 500 µs bucket");
        assert_eq!(t.buckets.iter().sum::<u64>(), 2, "3 s is above every bound");
    }

    #[test]
    fn issued_total_sums_workers_per_client_and_grant() {
        let metrics = Metrics::new(2, 2);
        metrics.worker(0).issued(1, GrantType::Password);
        metrics.worker(1).issued(1, GrantType::Password);
        metrics.worker(1).issued(0, GrantType::Password);
        assert_eq!(metrics.issued_total(1, GrantType::Password), 2);
        assert_eq!(metrics.issued_total(1, GrantType::ClientCredentials), 0);
        assert_eq!(metrics.issued_total(7, GrantType::Password), 0);
    }

    #[test]
    fn label_value_escapes_backslash() {
        assert_eq!(escape_label_value(r"dom\svc"), r"dom\\svc");
    }

    #[test]
    fn label_value_escapes_double_quote() {
        assert_eq!(escape_label_value(r#"svc"a"#), r#"svc\"a"#);
    }

    #[test]
    fn label_value_escapes_line_feed_as_backslash_n() {
        assert_eq!(escape_label_value("svc\na"), r"svc\na");
    }

    #[test]
    fn label_value_keeps_non_ascii_and_other_characters_verbatim() {
        assert_eq!(escape_label_value("café-客户/1\t'"), "café-客户/1\t'");
        assert_eq!(escape_label_value("svc-a"), "svc-a");
    }
}
