//! The live status page of the admin listener: `GET /` ([`page`], a static HTML shell with
//! no data in it) and `GET /admin/status` ([`Status::json`], the figures the page polls).
//!
//! The admin runtime calls [`Status::sample`] once a second. Each sample turns the
//! cumulative counters of [`crate::metrics`] into per-second rates and per-path latency
//! percentiles for that second, and keeps the last [`HISTORY`] samples in a ring, so a page
//! opened now already shows the last minutes. Everything else (tokens per client, live
//! tokens, the store's figures) is read when the JSON is asked for.
//!
//! It reads only what the workers and the flusher already publish (atomics, the table's
//! counts, the registry's client list): no store I/O, no lock a worker takes. Its own lock is
//! held by the admin thread alone (sample and render never overlap for long).

use crate::metrics::{RouteTotals, BUCKETS_US};
use crate::oauth::types::GrantType;
use crate::router::RouteLabel;
use crate::state::App;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;

/// Samples kept: five minutes at one a second.
pub const HISTORY: usize = 300;
const ROUTES: usize = RouteLabel::ALL.len();
const GRANTS: usize = GrantType::ALL.len();

const PAGE: &str = include_str!("status.html");

/// The page: HTML, CSS and script inline, no external asset, no data (it fetches
/// `/admin/status` with the token the operator gives it).
pub fn page() -> &'static [u8] {
    PAGE.as_bytes()
}

/// The security header fields of [`page`]: a Content-Security-Policy that lets only the
/// page's own inline script and style run (by their SHA-256) and lets it fetch only from
/// its own origin, so nothing injected into it (a client id is shown on it) can run or
/// send the admin token elsewhere; no framing, no referrer, no sniffing.
pub fn page_headers(headers: &mut Vec<u8>) {
    static CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "default-src 'none'; script-src '{}'; style-src '{}'; connect-src 'self'; \
             img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            inline_hash(PAGE, "script"),
            inline_hash(PAGE, "style"),
        )
    });
    crate::http::response::header(headers, "Content-Security-Policy", &CSP);
    crate::http::response::header(headers, "X-Content-Type-Options", "nosniff");
    crate::http::response::header(headers, "Referrer-Policy", "no-referrer");
}

/// `sha256-BASE64` of the text inside the page's one `<tag>` element (CSP Level 2 §4.2).
fn inline_hash(page: &str, tag: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let body = page
        .split_once(&open)
        .and_then(|(_, rest)| rest.split_once(&close))
        .map_or("", |(inside, _)| inside);
    let digest = sha2::Sha256::digest(body.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The sampler and its history ring.
#[derive(Debug)]
pub struct Status {
    inner: Mutex<History>,
}

#[derive(Debug)]
struct History {
    /// The cumulative figures at the previous sample; `None` before the first.
    last: Option<Cumulative>,
    ring: VecDeque<Sample>,
}

/// Counters since start, as read at one sample.
#[derive(Debug, Clone)]
struct Cumulative {
    at_ms: u64,
    routes: [RouteTotals; ROUTES],
    issued: [u64; GRANTS],
    batches: u64,
    flush_us: u64,
    store_errors: u64,
    rejected: u64,
}

/// One second of history.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at_ms: u64,
    /// Requests per second, by route.
    rate: [f32; ROUTES],
    /// Latency percentiles of that second in milliseconds; NaN when a path had no request.
    p50_ms: [f32; ROUTES],
    p99_ms: [f32; ROUTES],
    client_errors: f32,
    server_errors: f32,
    /// Tokens issued per second, by grant.
    issued: [f32; GRANTS],
    live_tokens: u64,
    queue_depth: u64,
    /// Mean batch write time of that second in milliseconds; NaN when nothing was written.
    flush_ms: f32,
    store_errors: f32,
    rejected: f32,
}

impl Default for Status {
    fn default() -> Status {
        Status::new()
    }
}

impl Status {
    pub fn new() -> Status {
        Status {
            inner: Mutex::new(History {
                last: None,
                ring: VecDeque::with_capacity(HISTORY),
            }),
        }
    }

    /// Takes one sample of `app` (the admin runtime calls this once a second).
    pub fn sample(&self, app: &App) {
        let now = read_cumulative(app, crate::clock::now_millis());
        let live_tokens = app.table.len() as u64;
        let queue_depth = app.writer.as_ref().map_or(0, |w| w.queue_depth() as u64);
        let mut h = self.inner.lock();
        if let Some(prev) = &h.last {
            let sample = difference(prev, &now, live_tokens, queue_depth);
            if h.ring.len() == HISTORY {
                h.ring.pop_front();
            }
            h.ring.push_back(sample);
        }
        h.last = Some(now);
    }

    /// The figures of `GET /admin/status`, as JSON appended to `out`.
    pub fn json(&self, app: &App, out: &mut Vec<u8>) {
        let view = {
            let h = self.inner.lock();
            View::new(app, &h.ring)
        };
        // Serializing plain data into a Vec cannot fail; an error would be a bug in a
        // Serialize impl, answered with whatever was written (the page reports bad JSON).
        if let Err(e) = serde_json::to_writer(&mut *out, &view) {
            tracing::error!(error = %e, "status JSON");
        }
    }
}

fn read_cumulative(app: &App, at_ms: u64) -> Cumulative {
    let metrics = &app.metrics;
    let mut routes = [RouteTotals::default(); ROUTES];
    for (label, totals) in RouteLabel::ALL.into_iter().zip(routes.iter_mut()) {
        metrics.route_totals(label, totals);
    }
    let mut issued = [0; GRANTS];
    for (grant, n) in GrantType::ALL.into_iter().zip(issued.iter_mut()) {
        *n = (0..metrics.client_slots())
            .map(|c| metrics.issued_total(c, grant))
            .sum();
    }
    let stat = |f: fn(&tessera_storage::writer::WriterStats) -> u64| {
        app.writer.as_ref().map_or(0, |w| f(w.stats()))
    };
    Cumulative {
        at_ms,
        routes,
        issued,
        batches: stat(|s| s.batches.load(Ordering::Relaxed)),
        flush_us: stat(|s| s.flush_us_total.load(Ordering::Relaxed)),
        store_errors: stat(|s| s.errors.load(Ordering::Relaxed)),
        rejected: stat(|s| s.rejected.load(Ordering::Relaxed)),
    }
}

/// The second between two cumulative readings.
fn difference(prev: &Cumulative, now: &Cumulative, live_tokens: u64, queue_depth: u64) -> Sample {
    // The sampler ticks once a second, but a late tick must not inflate the rates.
    let secs = (now.at_ms.saturating_sub(prev.at_ms).max(1)) as f32 / 1e3;
    let per_sec = |a: u64, b: u64| round2(b.saturating_sub(a) as f32 / secs);
    let mut s = Sample {
        at_ms: now.at_ms,
        rate: [0.0; ROUTES],
        p50_ms: [f32::NAN; ROUTES],
        p99_ms: [f32::NAN; ROUTES],
        client_errors: 0.0,
        server_errors: 0.0,
        issued: [0.0; GRANTS],
        live_tokens,
        queue_depth,
        flush_ms: f32::NAN,
        store_errors: per_sec(prev.store_errors, now.store_errors),
        rejected: per_sec(prev.rejected, now.rejected),
    };
    let (mut client_errors, mut server_errors) = (0, 0);
    for r in 0..ROUTES {
        let (a, b) = (&prev.routes[r], &now.routes[r]);
        s.rate[r] = per_sec(a.requests, b.requests);
        client_errors += b.client_errors.saturating_sub(a.client_errors);
        server_errors += b.server_errors.saturating_sub(a.server_errors);
        let mut buckets = [0; BUCKETS_US.len()];
        for (i, d) in buckets.iter_mut().enumerate() {
            *d = b.buckets[i].saturating_sub(a.buckets[i]);
        }
        let observed = b.observed.saturating_sub(a.observed);
        s.p50_ms[r] = quantile_ms(&buckets, observed, 0.5);
        s.p99_ms[r] = quantile_ms(&buckets, observed, 0.99);
    }
    s.client_errors = per_sec(0, client_errors);
    s.server_errors = per_sec(0, server_errors);
    for g in 0..GRANTS {
        s.issued[g] = per_sec(prev.issued[g], now.issued[g]);
    }
    let batches = now.batches.saturating_sub(prev.batches);
    if batches > 0 {
        let us = now.flush_us.saturating_sub(prev.flush_us);
        s.flush_ms = round2(us as f32 / batches as f32 / 1e3);
    }
    s
}

/// The `q` quantile in milliseconds of `observed` latencies counted in `buckets` (per
/// bucket of [`BUCKETS_US`], not cumulative; those above the last bound are in none), found
/// as Prometheus' `histogram_quantile` does: linear within the bucket that holds it. NaN
/// when nothing was observed; the last bound when the quantile lies beyond it.
fn quantile_ms(buckets: &[u64; BUCKETS_US.len()], observed: u64, q: f64) -> f32 {
    if observed == 0 {
        return f32::NAN;
    }
    let rank = q * observed as f64;
    let mut below = 0u64;
    let mut lower_us = 0u64;
    for (count, &upper_us) in buckets.iter().zip(BUCKETS_US.iter()) {
        if *count > 0 && (below + count) as f64 >= rank {
            let within = (rank - below as f64) / *count as f64;
            let us = lower_us as f64 + (upper_us - lower_us) as f64 * within;
            return round2((us / 1e3) as f32);
        }
        below += count;
        lower_us = upper_us;
    }
    round2((lower_us as f64 / 1e3) as f32)
}

/// Two decimals are all the page shows; fewer digits keep the JSON small.
fn round2(x: f32) -> f32 {
    (x * 100.0).round() / 100.0
}

/// `NaN` serializes as `null` (serde_json writes non-finite floats as null).
type Series = Vec<f32>;

/// The JSON of `/admin/status`.
#[derive(Serialize)]
struct View<'a> {
    version: &'static str,
    now_ms: u64,
    /// Seconds between samples.
    interval_seconds: u32,
    live_tokens: usize,
    grants: usize,
    /// Since start.
    tokens_issued: TokensIssued,
    /// Since start.
    counters: Counters,
    store: Option<StoreView<'a>>,
    history: HistoryView,
}

#[derive(Serialize)]
struct TokensIssued {
    total: u64,
    by_grant: BTreeMap<&'static str, u64>,
    /// Clients that were issued a token, busiest first, at most [`MAX_CLIENTS`].
    by_client: Vec<ClientIssued>,
    /// The clients issued a token that `by_client` leaves out, and their tokens.
    others: Others,
}

#[derive(Serialize, Debug, Default, PartialEq, Eq)]
struct Others {
    clients: usize,
    total: u64,
}

/// The most clients `/admin/status` lists by name: the page polls it every second, and a
/// registry of thousands of clients would make every answer as large.
const MAX_CLIENTS: usize = 50;

/// The `max` busiest clients (ties by id), and what the rest add up to.
fn busiest(mut clients: Vec<ClientIssued>, max: usize) -> (Vec<ClientIssued>, Others) {
    clients.sort_by(|a, b| b.total.cmp(&a.total).then(a.client_id.cmp(&b.client_id)));
    let rest = clients.split_off(max.min(clients.len()));
    let others = Others {
        clients: rest.len(),
        total: rest.iter().map(|c| c.total).sum(),
    };
    (clients, others)
}

#[derive(Serialize)]
struct ClientIssued {
    client_id: String,
    total: u64,
    by_grant: BTreeMap<&'static str, u64>,
}

#[derive(Serialize)]
struct Counters {
    requests: u64,
    client_errors: u64,
    server_errors: u64,
    client_auth_failures: u64,
    user_auth_failures: u64,
    lockouts: u64,
    refresh_token_reuse: u64,
    code_reuse: u64,
    revoked_tokens: u64,
    rate_limited: u64,
    open_connections: u64,
}

#[derive(Serialize)]
struct StoreView<'a> {
    kind: &'a str,
    queue_depth: usize,
    queue_capacity: usize,
    batches_total: u64,
    errors_total: u64,
    rejected_total: u64,
    flush_max_seconds: f64,
    write_age_seconds: f64,
}

#[derive(Serialize)]
struct HistoryView {
    /// Sample times, Unix milliseconds.
    t: Vec<u64>,
    /// Per path with a request in the window: requests/s, p50 and p99 in ms.
    paths: BTreeMap<&'static str, PathHistory>,
    client_errors: Series,
    server_errors: Series,
    /// Tokens issued per second, per grant with one in the window.
    issued: BTreeMap<&'static str, Series>,
    live_tokens: Vec<u64>,
    queue_depth: Vec<u64>,
    flush_ms: Series,
    store_errors: Series,
    rejected: Series,
}

#[derive(Serialize)]
struct PathHistory {
    rate: Series,
    p50_ms: Series,
    p99_ms: Series,
}

impl<'a> View<'a> {
    fn new(app: &'a App, ring: &VecDeque<Sample>) -> View<'a> {
        let m = &app.metrics;
        let clients = app.registry.clients();
        let by_client: Vec<ClientIssued> = clients
            .iter()
            .filter_map(|c| {
                let by_grant: BTreeMap<&'static str, u64> = GrantType::ALL
                    .into_iter()
                    .map(|g| (g.as_str(), m.issued_total(c.index, g)))
                    .filter(|(_, n)| *n > 0)
                    .collect();
                let total = by_grant.values().sum();
                (total > 0).then(|| ClientIssued {
                    client_id: c.id.to_string(),
                    total,
                    by_grant,
                })
            })
            .collect();
        let (by_client, others) = busiest(by_client, MAX_CLIENTS);
        let mut by_grant = BTreeMap::new();
        for g in GrantType::ALL {
            let n: u64 = (0..m.client_slots()).map(|c| m.issued_total(c, g)).sum();
            if n > 0 {
                by_grant.insert(g.as_str(), n);
            }
        }
        let mut counters = Counters {
            requests: 0,
            client_errors: 0,
            server_errors: 0,
            client_auth_failures: m.total(|w| &w.client_auth_failures),
            user_auth_failures: m.total(|w| &w.user_auth_failures),
            lockouts: m.total(|w| &w.lockouts),
            refresh_token_reuse: m.total(|w| &w.refresh_reuse),
            code_reuse: m.total(|w| &w.code_reuse),
            revoked_tokens: m.total(|w| &w.revoked),
            rate_limited: m.total(|w| &w.address_rate_limited)
                + (0..m.client_slots())
                    .map(|c| m.client_rate_limited_total(c))
                    .sum::<u64>(),
            open_connections: m.total(|w| &w.open_connections),
        };
        let mut totals = RouteTotals::default();
        for label in RouteLabel::ALL {
            m.route_totals(label, &mut totals);
            counters.requests += totals.requests;
            counters.client_errors += totals.client_errors;
            counters.server_errors += totals.server_errors;
        }
        let store = match (&app.writer, &app.store) {
            (Some(w), Some(store)) => {
                let stats = w.stats();
                Some(StoreView {
                    kind: store.name(),
                    queue_depth: w.queue_depth(),
                    queue_capacity: app.config.store.queue_capacity,
                    batches_total: stats.batches.load(Ordering::Relaxed),
                    errors_total: stats.errors.load(Ordering::Relaxed),
                    rejected_total: stats.rejected.load(Ordering::Relaxed),
                    flush_max_seconds: stats.flush_us_max.load(Ordering::Relaxed) as f64 / 1e6,
                    write_age_seconds: stats.write_age_ms(crate::clock::now_millis()) as f64 / 1e3,
                })
            }
            _ => None,
        };
        View {
            version: env!("CARGO_PKG_VERSION"),
            now_ms: crate::clock::now_millis(),
            interval_seconds: 1,
            live_tokens: app.table.len(),
            grants: app.table.grant_count(),
            tokens_issued: TokensIssued {
                total: by_grant.values().sum(),
                by_grant,
                by_client,
                others,
            },
            counters,
            store,
            history: HistoryView::new(ring),
        }
    }
}

impl HistoryView {
    fn new(ring: &VecDeque<Sample>) -> HistoryView {
        let series = |f: &dyn Fn(&Sample) -> f32| ring.iter().map(f).collect::<Series>();
        let mut paths = BTreeMap::new();
        for label in RouteLabel::ALL {
            let r = label.index();
            if ring.iter().any(|s| s.rate[r] > 0.0) {
                paths.insert(
                    label.path(),
                    PathHistory {
                        rate: series(&|s| s.rate[r]),
                        p50_ms: series(&|s| s.p50_ms[r]),
                        p99_ms: series(&|s| s.p99_ms[r]),
                    },
                );
            }
        }
        let mut issued = BTreeMap::new();
        for g in GrantType::ALL {
            if ring.iter().any(|s| s.issued[g.index()] > 0.0) {
                issued.insert(g.as_str(), series(&|s| s.issued[g.index()]));
            }
        }
        HistoryView {
            t: ring.iter().map(|s| s.at_ms).collect(),
            paths,
            client_errors: series(&|s| s.client_errors),
            server_errors: series(&|s| s.server_errors),
            issued,
            live_tokens: ring.iter().map(|s| s.live_tokens).collect(),
            queue_depth: ring.iter().map(|s| s.queue_depth).collect(),
            flush_ms: series(&|s| s.flush_ms),
            store_errors: series(&|s| s.store_errors),
            rejected: series(&|s| s.rejected),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(pairs: &[(usize, u64)]) -> [u64; BUCKETS_US.len()] {
        let mut b = [0; BUCKETS_US.len()];
        for &(i, n) in pairs {
            b[i] = n;
        }
        b
    }

    #[test]
    fn quantile_interpolates_within_the_bucket_that_holds_it_as_histogram_quantile_does() {
        // 100 requests between 100 and 250 µs: the median is half way, 175 µs.
        let b = buckets(&[(2, 100)]);
        assert_eq!(quantile_ms(&b, 100, 0.5), 0.18);
        // 99 fast (≤ 50 µs) and 1 in (1, 2.5] ms: p99 is the top of the first bucket.
        let b = buckets(&[(0, 99), (5, 1)]);
        assert_eq!(quantile_ms(&b, 100, 0.99), 0.05);
        // p99.9 is 90% into the (1, 2.5] ms bucket.
        assert_eq!(quantile_ms(&b, 100, 0.999), 2.35);
    }

    #[test]
    fn quantile_is_nan_without_requests_and_the_last_bound_beyond_it() {
        assert!(quantile_ms(&buckets(&[]), 0, 0.5).is_nan());
        // Two requests over a second: in no bucket.
        assert_eq!(quantile_ms(&buckets(&[]), 2, 0.99), 1000.0);
    }

    fn cumulative(at_ms: u64, token_requests: u64, flush_us: u64, batches: u64) -> Cumulative {
        let mut routes = [RouteTotals::default(); ROUTES];
        let token = RouteLabel::Route(crate::router::Route::Token).index();
        routes[token].requests = token_requests;
        routes[token].observed = token_requests;
        routes[token].buckets[1] = token_requests;
        routes[token].server_errors = token_requests / 10;
        Cumulative {
            at_ms,
            routes,
            issued: [token_requests; GRANTS],
            batches,
            flush_us,
            store_errors: 0,
            rejected: 0,
        }
    }

    #[test]
    fn a_sample_holds_per_second_rates_over_the_time_that_really_passed() {
        let a = cumulative(10_000, 100, 0, 0);
        let b = cumulative(12_000, 300, 6_000, 3);
        let s = difference(&a, &b, 7, 2);
        let token = RouteLabel::Route(crate::router::Route::Token).index();
        assert_eq!(s.rate[token], 100.0, "200 requests in 2 s");
        assert_eq!(s.server_errors, 10.0);
        assert_eq!(s.issued[0], 100.0);
        assert_eq!(s.flush_ms, 2.0, "6 ms over 3 batches");
        assert_eq!((s.live_tokens, s.queue_depth), (7, 2));
        assert!(s.p99_ms[token] > 0.05 && s.p99_ms[token] <= 0.1);
        let other = RouteLabel::Other.index();
        assert_eq!(s.rate[other], 0.0);
        assert!(s.p50_ms[other].is_nan(), "no request: no percentile");
    }

    #[test]
    fn history_lists_only_paths_and_grants_seen_in_the_window_and_writes_gaps_as_null() {
        let a = cumulative(0, 0, 0, 0);
        let b = cumulative(1_000, 50, 0, 0);
        let mut ring = VecDeque::new();
        ring.push_back(difference(&a, &a, 0, 0));
        ring.push_back(difference(&a, &b, 0, 0));
        let h = HistoryView::new(&ring);
        assert_eq!(
            h.paths.keys().copied().collect::<Vec<_>>(),
            ["/api/oauth/token"]
        );
        let json = serde_json::to_value(&h).expect("json");
        assert_eq!(
            json["paths"]["/api/oauth/token"]["rate"],
            serde_json::json!([0.0, 50.0])
        );
        assert_eq!(
            json["paths"]["/api/oauth/token"]["p50_ms"][0],
            serde_json::Value::Null
        );
        assert_eq!(json["flush_ms"], serde_json::json!([null, null]));
    }

    #[test]
    fn status_lists_the_busiest_clients_by_name_and_sums_the_rest() {
        let client = |id: &str, total| ClientIssued {
            client_id: id.to_owned(),
            total,
            by_grant: BTreeMap::new(),
        };
        let all = vec![
            client("c", 5),
            client("a", 9),
            client("b", 5),
            client("d", 1),
        ];
        let (listed, others) = busiest(all, 2);
        let ids: Vec<&str> = listed.iter().map(|c| c.client_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"], "busiest first, ties by id");
        assert_eq!(
            others,
            Others {
                clients: 2,
                total: 6
            }
        );
        let (listed, others) = busiest(vec![client("a", 1)], 2);
        assert_eq!((listed.len(), others), (1, Others::default()));
    }

    #[test]
    fn page_csp_names_the_hash_of_its_one_inline_script_and_style() {
        let page = std::str::from_utf8(page()).expect("utf-8");
        assert_eq!(page.matches("<script>").count(), 1);
        assert_eq!(page.matches("<style>").count(), 1);
        let mut headers = Vec::new();
        page_headers(&mut headers);
        let headers = String::from_utf8(headers).expect("utf-8");
        let script = inline_hash(page, "script");
        assert!(
            headers.contains(&format!("script-src '{script}'")),
            "{headers}"
        );
        assert_ne!(script, inline_hash("", "script"), "the script was found");
        assert!(headers.contains("connect-src 'self'"), "{headers}");
        assert!(!headers.contains("unsafe"), "{headers}");
    }

    #[test]
    fn the_page_is_self_contained_and_keeps_the_token_out_of_requests_urls() {
        let page = std::str::from_utf8(page()).expect("utf-8");
        assert!(page.starts_with("<!doctype html>"), "{}", &page[..40]);
        // The SVG namespace is a name that is never fetched.
        let page = page.replace("'http://www.w3.org/2000/svg'", "");
        for external in ["http://", "https://", "src=", "@import", "url("] {
            assert!(!page.contains(external), "external asset: {external}");
        }
        // The token travels in the Authorization header, read from the fragment or typed.
        assert!(page.contains("'Authorization': 'Bearer '"));
        assert!(page.contains("sessionStorage"));
        assert!(page.contains("/admin/status"));
    }
}
