//! Fetching the JWKS of `jwks_uri` keys (issue 13: clients' and assertion issuers' keys):
//! [`fetch_once`] at start-up, so the first request already has keys, then one plain
//! background thread ([`spawn`]) — never a monoio worker — that refetches each uri every
//! `refresh`, sooner when a verifier asked for it ([`RemoteKeys::request_refresh`], an
//! unknown `kid`: the issuer rotated) or when the last fetch failed, but never more often
//! than once per [`MIN_REFETCH`] per uri, so assertions naming made-up kids cannot make us
//! hammer an issuer.
//!
//! A failed fetch keeps the last good key set and logs a warning with the uri and the error
//! (never a key). A successful fetch replaces the set whole, even with fewer keys: a key
//! the issuer withdrew must stop verifying.
//!
//! May touch: the network (HTTP GET of the configured uris, through `ureq`), the
//! [`RemoteKeys`] it is given, `crate::shutdown`, and the logs. Nothing else.

use crate::oauth::jose::{KeyError, KeySet, RemoteKeys};
use crate::shutdown::Shutdown;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing::{debug, warn};
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

/// Largest JWKS document accepted, in bytes.
pub const MAX_JWKS_BYTES: u64 = 1 << 20;
/// Shortest time between two fetches of one uri, whatever asks for them.
pub const MIN_REFETCH: Duration = Duration::from_secs(10);
/// Time to establish a connection (DNS, TCP, TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for a whole fetch, connection to last byte.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed (a JWKS moved behind a CDN); an `https` uri never follows one to
/// plain `http`.
const MAX_REDIRECTS: u32 = 3;
/// How often the thread looks at the uris' due times and at shutdown.
const TICK: Duration = Duration::from_millis(500);

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// No response: DNS, connection, TLS, timeout, a bad uri (ureq's description).
    Http(String),
    /// A response other than 200.
    Status(u16),
    /// The body is longer than [`MAX_JWKS_BYTES`].
    TooLarge,
    /// The body is not a usable JWKS.
    Keys(KeyError),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Http(e) => write!(f, "request failed: {e}"),
            FetchError::Status(s) => write!(f, "HTTP status {s}, not 200"),
            FetchError::TooLarge => write!(f, "the JWKS is larger than {MAX_JWKS_BYTES} bytes"),
            FetchError::Keys(e) => write!(f, "unusable JWKS: {e}"),
        }
    }
}

impl std::error::Error for FetchError {}

/// Fetches `remote`'s uri once and installs its keys; the number of usable keys. On failure
/// the current keys stay. Blocking (up to about 10 s): start-up or the fetcher thread only.
pub fn fetch_once(remote: &RemoteKeys) -> Result<usize, FetchError> {
    remote.note_fetch(Instant::now());
    let body = get(remote.uri())?;
    let keys = KeySet::from_jwks(&body).map_err(FetchError::Keys)?;
    let count = keys.len();
    remote.replace(keys);
    Ok(count)
}

/// Starts the fetcher thread. It ends soon after `stop` is triggered (at most one
/// [`TICK`], or the fetch under way); unparking its thread wakes it at once.
pub fn spawn(
    remotes: impl Fn() -> Vec<Arc<RemoteKeys>> + Send + 'static,
    refresh: Duration,
    stop: Shutdown,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tessera-jwks".to_owned())
        .spawn(move || run(&remotes, refresh, MIN_REFETCH, &stop))
}

/// The fetcher loop; `min_gap` is [`MIN_REFETCH`] except in tests. `remotes` is asked for
/// the uris on every round: a client kept in a shared store may add one at any time.
fn run(
    remotes: &dyn Fn() -> Vec<Arc<RemoteKeys>>,
    refresh: Duration,
    min_gap: Duration,
    stop: &Shutdown,
) {
    // Uris whose last fetch failed (or that have no keys yet) are retried after `min_gap`,
    // not after a whole refresh interval.
    let mut failed: HashSet<String> = HashSet::new();
    let tick = TICK
        .min(min_gap)
        .min(refresh)
        .max(Duration::from_millis(10));
    while !stop.is_triggered() {
        for remote in remotes() {
            if stop.is_triggered() {
                return;
            }
            let retry = failed.contains(remote.uri()) || remote.keys().is_empty();
            if !due(&remote, Instant::now(), refresh, min_gap, retry) {
                continue;
            }
            remote.take_refresh_request();
            match fetch_once(&remote) {
                Ok(count) => {
                    failed.remove(remote.uri());
                    debug!(uri = remote.uri(), keys = count, "fetched a jwks_uri");
                }
                Err(error) => {
                    failed.insert(remote.uri().to_owned());
                    warn!(
                        uri = remote.uri(),
                        %error,
                        "could not fetch a jwks_uri; keeping its last keys"
                    );
                }
            }
        }
        std::thread::park_timeout(tick);
    }
}

fn due(
    remote: &RemoteKeys,
    now: Instant,
    refresh: Duration,
    min_gap: Duration,
    retry: bool,
) -> bool {
    let Some(at) = remote.last_fetch() else {
        return true;
    };
    let age = now.saturating_duration_since(at);
    age >= refresh || (age >= min_gap && (retry || remote.refresh_requested()))
}

/// GET `uri`: 200 and at most [`MAX_JWKS_BYTES`] of body.
fn get(uri: &str) -> Result<Vec<u8>, FetchError> {
    let agent = agent(uri.starts_with("https:"));
    let mut response = agent
        .get(uri)
        .header("Accept", "application/jwk-set+json, application/json")
        .call()
        .map_err(http_error)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(FetchError::Status(status));
    }
    response
        .body_mut()
        .with_config()
        .limit(MAX_JWKS_BYTES)
        .read_to_vec()
        .map_err(http_error)
}

fn http_error(e: ureq::Error) -> FetchError {
    match e {
        ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge,
        ureq::Error::StatusCode(s) => FetchError::Status(s),
        e => FetchError::Http(e.to_string()),
    }
}

/// A client with the timeouts and TLS of this module: native-tls (OpenSSL) with the
/// system's CA roots. One per fetch: a fetch every few minutes needs no connection pool.
fn agent(https_only: bool) -> ureq::Agent {
    let tls = TlsConfig::builder()
        .provider(TlsProvider::NativeTls)
        .root_certs(RootCerts::PlatformVerifier)
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .https_only(https_only)
        .http_status_as_error(false)
        .max_redirects(MAX_REDIRECTS)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(TOTAL_TIMEOUT))
        .max_idle_connections(0)
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::jose::testkeys::{self, TestKey};
    use parking_lot::Mutex;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// A one-route HTTP/1.1 server on 127.0.0.1 answering every GET with the current
    /// `(status, body)`.
    struct JwksServer {
        uri: String,
        response: Arc<Mutex<(u16, Vec<u8>)>>,
        requests: Arc<AtomicUsize>,
        stop: Arc<AtomicBool>,
        addr: std::net::SocketAddr,
    }

    impl JwksServer {
        fn start(status: u16, body: Vec<u8>) -> JwksServer {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            let response = Arc::new(Mutex::new((status, body)));
            let requests = Arc::new(AtomicUsize::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let (r, n, s) = (
                Arc::clone(&response),
                Arc::clone(&requests),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if s.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let (status, body) = r.lock().clone();
                    n.fetch_add(1, Ordering::SeqCst);
                    serve(stream, status, &body);
                }
            });
            JwksServer {
                uri: format!("http://{addr}/jwks.json"),
                response,
                requests,
                stop,
                addr,
            }
        }

        fn set(&self, status: u16, body: Vec<u8>) {
            *self.response.lock() = (status, body);
        }

        fn requests(&self) -> usize {
            self.requests.load(Ordering::SeqCst)
        }
    }

    impl Drop for JwksServer {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr);
        }
    }

    fn serve(stream: TcpStream, status: u16, body: &[u8]) {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            if line == "\r\n" {
                break;
            }
            line.clear();
        }
        let mut stream = reader.into_inner();
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
    }

    fn jwks(keys: &[(TestKey, &str)]) -> Vec<u8> {
        let keys: Vec<_> = keys
            .iter()
            .map(|(k, kid)| testkeys::jwk(*k, Some(kid), None))
            .collect();
        serde_json::json!({ "keys": keys }).to_string().into_bytes()
    }

    fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn fetch_once_installs_the_served_keys() {
        let server = JwksServer::start(200, jwks(&[(TestKey::Rsa, "r1"), (TestKey::P256, "e1")]));
        let remote = RemoteKeys::new(&server.uri);
        assert_eq!(fetch_once(&remote), Ok(2));
        assert!(remote.keys().has_kid("r1") && remote.keys().has_kid("e1"));
        assert!(remote.last_fetch().is_some());
        assert_eq!(server.requests(), 1);
    }

    #[test]
    fn failed_fetch_keeps_the_last_good_keys() {
        let server = JwksServer::start(200, jwks(&[(TestKey::Ed25519, "k1")]));
        let remote = RemoteKeys::new(&server.uri);
        assert_eq!(fetch_once(&remote), Ok(1));
        server.set(500, b"oops".to_vec());
        assert_eq!(fetch_once(&remote), Err(FetchError::Status(500)));
        server.set(200, b"<html>".to_vec());
        assert_eq!(
            fetch_once(&remote),
            Err(FetchError::Keys(KeyError::NotJwks))
        );
        server.set(200, vec![b' '; MAX_JWKS_BYTES as usize + 1]);
        assert_eq!(fetch_once(&remote), Err(FetchError::TooLarge));
        assert!(remote.keys().has_kid("k1"));
    }

    #[test]
    fn unreachable_uri_is_an_error_not_a_panic() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let remote = RemoteKeys::new(&format!("http://{addr}/jwks.json"));
        assert!(matches!(fetch_once(&remote), Err(FetchError::Http(_))));
        let remote = RemoteKeys::new("not a uri");
        assert!(matches!(fetch_once(&remote), Err(FetchError::Http(_))));
    }

    #[test]
    fn https_goes_through_native_tls_and_fails_cleanly_on_a_plain_server() {
        // A TLS handshake against a plain-HTTP server: an error, not a panic (ureq panics
        // when native-tls is asked for its built-in WebPKI roots; we use the system's).
        let server = JwksServer::start(200, jwks(&[(TestKey::Rsa, "r")]));
        let remote = RemoteKeys::new(&server.uri.replacen("http:", "https:", 1));
        assert!(matches!(fetch_once(&remote), Err(FetchError::Http(_))));
        assert!(remote.keys().is_empty());
    }

    #[test]
    fn thread_refreshes_every_interval_and_stops() {
        let server = JwksServer::start(200, jwks(&[(TestKey::Rsa, "old")]));
        let remote = Arc::new(RemoteKeys::new(&server.uri));
        let stop = Shutdown::new();
        let r = Arc::clone(&remote);
        let handle = spawn(
            move || vec![Arc::clone(&r)],
            Duration::from_millis(100),
            stop.clone(),
        )
        .expect("spawn");
        wait_until("the first fetch", || remote.keys().has_kid("old"));
        server.set(200, jwks(&[(TestKey::Rsa, "new")]));
        wait_until("the refresh", || remote.keys().has_kid("new"));
        assert!(
            !remote.keys().has_kid("old"),
            "a withdrawn key stops verifying"
        );
        stop.trigger();
        handle.thread().unpark();
        handle.join().expect("join");
    }

    #[test]
    fn requested_refresh_is_early_but_paced() {
        let server = JwksServer::start(200, jwks(&[(TestKey::P256, "a")]));
        let remote = Arc::new(RemoteKeys::new(&server.uri));
        assert_eq!(fetch_once(&remote), Ok(1));
        let stop = Shutdown::new();
        let (r, s) = (Arc::clone(&remote), stop.clone());
        let min_gap = Duration::from_millis(300);
        let handle = std::thread::spawn(move || {
            run(
                &move || vec![Arc::clone(&r)],
                Duration::from_secs(3600),
                min_gap,
                &s,
            )
        });
        server.set(200, jwks(&[(TestKey::P256, "b")]));
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(server.requests(), 1, "no refresh without a request");
        let asked = Instant::now();
        remote.request_refresh();
        wait_until("the requested refresh", || remote.keys().has_kid("b"));
        assert_eq!(server.requests(), 2);
        // Asking again at once waits for the minimum gap.
        remote.request_refresh();
        std::thread::sleep(Duration::from_millis(50));
        if asked.elapsed() < min_gap {
            assert_eq!(server.requests(), 2, "paced by the minimum gap");
        }
        wait_until("the paced refresh", || server.requests() == 3);
        stop.trigger();
        handle.thread().unpark();
        handle.join().expect("join");
    }

    #[test]
    fn failed_start_up_fetch_is_retried_soon() {
        let server = JwksServer::start(503, Vec::new());
        let remote = Arc::new(RemoteKeys::new(&server.uri));
        assert_eq!(fetch_once(&remote), Err(FetchError::Status(503)));
        let stop = Shutdown::new();
        let (r, s) = (Arc::clone(&remote), stop.clone());
        let handle = std::thread::spawn(move || {
            run(
                &move || vec![Arc::clone(&r)],
                Duration::from_secs(3600),
                Duration::from_millis(100),
                &s,
            )
        });
        server.set(200, jwks(&[(TestKey::Ed25519, "e")]));
        wait_until("the retry", || remote.keys().has_kid("e"));
        stop.trigger();
        handle.thread().unpark();
        handle.join().expect("join");
    }
}
