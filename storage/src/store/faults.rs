//! Test only: a [`Store`] wrapper that injects stalls and errors into any backend, so chaos
//! tests can make a real RocksDB, Cassandra or SQL store slow or unavailable at run time
//! and watch the server's real error paths (write-behind retries, 503 with `Retry-After`,
//! read-through "cannot tell").
//!
//! The server wraps its store in a [`FaultyStore`] only when `store.test_faults_file` is
//! set. That file holds the current fault, one line, re-read every 100 ms by the wrapper's
//! own thread (`tessera-faults`), so a test flips faults by rewriting it:
//!
//! - `ok` (or an empty or missing file): calls pass straight through.
//! - `stall`: every call blocks until the fault changes. Calls that must not block (the
//!   read-through of a shared store, asked from a worker) are answered once it changes.
//! - `stall N`: every call is held N milliseconds, then goes through.
//! - `error`: every call fails with the backend's unavailable error ([`StoreError::Io`]).
//! - `error F`: a fraction F (0.0–1.0) of calls fail, at random.
//!
//! No call does file I/O: calls read the fault the thread parsed. It touches nothing but the
//! store it wraps and the control file, which it only reads.

use super::{
    Claim, Lookup, Mutation, OwnedTokens, Owner, Revocation, SharedStore, Store, StoreError,
    StoredToken, TokenView, Used,
};
use crate::key::TokenKey;
use crate::record::GrantId;
use futures_channel::oneshot;
use parking_lot::{Condvar, Mutex};
use std::fmt;
use std::future::Future as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::warn;

/// How often the control file is read.
const POLL: Duration = Duration::from_millis(100);
/// How often deferred answers are checked for release.
const TICK: Duration = Duration::from_millis(20);

/// The fault the control file names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    Ok,
    /// Block every call: until the fault changes (`None`), or for this long.
    Stall(Option<Duration>),
    /// Fail this fraction of calls (1.0: all).
    Error(f64),
}

impl Fault {
    /// Parses the control file's text; `None` when it names no fault this module knows.
    pub fn parse(text: &str) -> Option<Fault> {
        let mut words = text.split_whitespace();
        let fault = match (words.next(), words.next()) {
            (None, _) | (Some("ok"), None) => Fault::Ok,
            (Some("stall"), None) => Fault::Stall(None),
            (Some("stall"), Some(ms)) => {
                Fault::Stall(Some(Duration::from_millis(ms.parse().ok()?)))
            }
            (Some("error"), None) => Fault::Error(1.0),
            (Some("error"), Some(f)) => match f.parse::<f64>() {
                Ok(f) if (0.0..=1.0).contains(&f) => Fault::Error(f),
                _ => return None,
            },
            _ => return None,
        };
        words.next().is_none().then_some(fault)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Ok => f.write_str("ok"),
            Fault::Stall(None) => f.write_str("stall"),
            Fault::Stall(Some(d)) => write!(f, "stall {}", d.as_millis()),
            Fault::Error(p) => write!(f, "error {p}"),
        }
    }
}

/// An answer held back by a stall, sent once `ready_at` has passed and the stall is over.
struct Deferred {
    ready_at: Option<Instant>,
    run: Box<dyn FnOnce() + Send>,
}

/// What every call consults, and the thread keeps current.
struct Control {
    path: PathBuf,
    fault: Mutex<Fault>,
    changed: Condvar,
    deferred: Mutex<Vec<Deferred>>,
    /// State of the random choice of `error F` (splitmix64).
    seed: AtomicU64,
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("path", &self.path)
            .field("fault", &*self.fault.lock())
            .field("deferred", &self.deferred.lock().len())
            .finish()
    }
}

/// What a call that must not block does now.
enum Admit {
    Now,
    Fail,
    /// Answer later, once the stall is over (and not before this instant).
    Later(Option<Instant>),
}

impl Control {
    /// Reads the control file; a missing file is `ok`, unreadable text keeps the fault.
    fn read(&self) -> Option<Fault> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => {
                let fault = Fault::parse(&text);
                if fault.is_none() {
                    warn!(file = %self.path.display(), text = text.trim(), "store.test_faults_file names no known fault; keeping the current one");
                }
                fault
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Fault::Ok),
            Err(e) => {
                warn!(file = %self.path.display(), error = %e, "cannot read store.test_faults_file");
                None
            }
        }
    }

    fn set(&self, fault: Fault) {
        let mut current = self.fault.lock();
        if *current != fault {
            warn!(from = %*current, to = %fault, "test fault injection: store fault changed");
            *current = fault;
            self.changed.notify_all();
        }
    }

    /// Whether this call should fail, for `error F`.
    fn roll(&self, fraction: f64) -> bool {
        if fraction >= 1.0 {
            return true;
        }
        let mut z = self
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64) < fraction
    }

    /// Before a call that may block (the flusher, purge, start-up, cluster threads).
    fn enter(&self, backend: &'static str) -> Result<(), StoreError> {
        let mut fault = self.fault.lock();
        loop {
            match *fault {
                Fault::Ok => return Ok(()),
                Fault::Error(p) => {
                    return if self.roll(p) {
                        Err(injected(backend))
                    } else {
                        Ok(())
                    }
                }
                Fault::Stall(None) => self.changed.wait(&mut fault),
                Fault::Stall(Some(d)) => {
                    let _ = self.changed.wait_for(&mut fault, d);
                    return Ok(());
                }
            }
        }
    }

    /// Before a call that must not block (asked from a worker).
    fn admit(&self) -> Admit {
        match *self.fault.lock() {
            Fault::Ok => Admit::Now,
            Fault::Error(p) if self.roll(p) => Admit::Fail,
            Fault::Error(_) => Admit::Now,
            Fault::Stall(None) => Admit::Later(None),
            Fault::Stall(Some(d)) => Admit::Later(Some(Instant::now() + d)),
        }
    }

    fn defer(&self, ready_at: Option<Instant>, run: Box<dyn FnOnce() + Send>) {
        self.deferred.lock().push(Deferred { ready_at, run });
    }

    /// The deferred answers whose time has come, taken out of the list.
    fn due(&self) -> Vec<Deferred> {
        if matches!(*self.fault.lock(), Fault::Stall(None)) {
            return Vec::new();
        }
        let now = Instant::now();
        let mut deferred = self.deferred.lock();
        let (due, wait): (Vec<_>, Vec<_>) = deferred
            .drain(..)
            .partition(|d| d.ready_at.is_none_or(|t| t <= now));
        *deferred = wait;
        due
    }

    /// The `tessera-faults` thread: re-reads the file, releases deferred answers.
    fn run(self: Arc<Self>) {
        let mut last_read = Instant::now();
        loop {
            std::thread::sleep(TICK);
            if last_read.elapsed() >= POLL {
                last_read = Instant::now();
                if let Some(fault) = self.read() {
                    self.set(fault);
                }
            }
            for d in self.due() {
                (d.run)();
            }
        }
    }
}

fn injected(backend: &'static str) -> StoreError {
    StoreError::Io {
        backend,
        message: "unavailable (fault injected by store.test_faults_file)".to_owned(),
    }
}

/// Waits for a oneshot answer on this (non-worker) thread.
fn wait<T>(rx: oneshot::Receiver<T>) -> Result<T, oneshot::Canceled> {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut rx = rx;
    loop {
        match std::pin::Pin::new(&mut rx).poll(&mut cx) {
            std::task::Poll::Ready(v) => return v,
            std::task::Poll::Pending => std::thread::park(),
        }
    }
}

/// A store whose calls go through the fault named in a control file (see the module doc).
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    control: Arc<Control>,
}

impl FaultyStore {
    /// Wraps `inner`, reading the fault from `path` now and every 100 ms from then on.
    pub fn start(inner: Arc<dyn Store>, path: &Path) -> std::io::Result<FaultyStore> {
        let control = Arc::new(Control {
            path: path.to_owned(),
            fault: Mutex::new(Fault::Ok),
            changed: Condvar::new(),
            deferred: Mutex::new(Vec::new()),
            seed: AtomicU64::new(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64),
            ),
        });
        if let Some(fault) = control.read() {
            control.set(fault);
        }
        let thread_control = Arc::clone(&control);
        std::thread::Builder::new()
            .name("tessera-faults".to_owned())
            .spawn(move || thread_control.run())?;
        warn!(store = inner.name(), file = %path.display(), "test fault injection is on (store.test_faults_file): never use this in production");
        Ok(FaultyStore { inner, control })
    }

    /// The fault in force.
    pub fn fault(&self) -> Fault {
        *self.control.fault.lock()
    }

    fn enter(&self) -> Result<(), StoreError> {
        self.control.enter(self.inner.name())
    }

    /// A non-blocking shared-store call: `call` now, an error now, or `call` once the stall
    /// is over, its answer forwarded on a channel of our own.
    fn admitted<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn SharedStore) -> oneshot::Receiver<Result<T, StoreError>> + Send + 'static,
    ) -> oneshot::Receiver<Result<T, StoreError>> {
        let not_shared = || StoreError::Io {
            backend: self.inner.name(),
            message: "not a shared store".to_owned(),
        };
        let (tx, rx) = oneshot::channel();
        match self.control.admit() {
            Admit::Now => match self.inner.shared() {
                Some(shared) => return call(shared),
                None => {
                    let _ = tx.send(Err(not_shared()));
                }
            },
            Admit::Fail => {
                let _ = tx.send(Err(injected(self.inner.name())));
            }
            Admit::Later(ready_at) => {
                let inner = Arc::clone(&self.inner);
                self.control.defer(
                    ready_at,
                    Box::new(move || {
                        let answer = match inner.shared() {
                            Some(shared) => wait(call(shared)).unwrap_or_else(|_| {
                                Err(StoreError::Io {
                                    backend: inner.name(),
                                    message: "the store dropped the request".to_owned(),
                                })
                            }),
                            None => Err(StoreError::Io {
                                backend: inner.name(),
                                message: "not a shared store".to_owned(),
                            }),
                        };
                        let _ = tx.send(answer);
                    }),
                );
            }
        }
        rx
    }

    fn shared_inner(&self) -> Result<&dyn SharedStore, StoreError> {
        self.enter()?;
        self.inner.shared().ok_or_else(|| StoreError::Io {
            backend: self.inner.name(),
            message: "not a shared store".to_owned(),
        })
    }
}

impl Store for FaultyStore {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn apply(&self, batch: &[Mutation], durable: bool) -> Result<(), StoreError> {
        self.enter()?;
        self.inner.apply(batch, durable)
    }

    fn get(&self, key: &TokenKey, now: u32) -> Result<Option<StoredToken>, StoreError> {
        self.enter()?;
        self.inner.get(key, now)
    }

    fn grant_tokens(&self, grant: GrantId, now: u32) -> Result<Vec<TokenKey>, StoreError> {
        self.enter()?;
        self.inner.grant_tokens(grant, now)
    }

    fn scan_live(
        &self,
        now: u32,
        visit: &mut dyn FnMut(TokenKey, TokenView<'_>),
    ) -> Result<u64, StoreError> {
        self.enter()?;
        self.inner.scan_live(now, visit)
    }

    fn purge_expired(&self, now: u32, limit: usize) -> Result<usize, StoreError> {
        self.enter()?;
        self.inner.purge_expired(now, limit)
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.enter()?;
        self.inner.setting(name)
    }

    fn put_setting_if(
        &self,
        name: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StoreError> {
        self.enter()?;
        self.inner.put_setting_if(name, expected, value)
    }

    fn self_expiring(&self) -> bool {
        self.inner.self_expiring()
    }

    fn shared(&self) -> Option<&dyn SharedStore> {
        self.inner.shared().map(|_| self as &dyn SharedStore)
    }
}

impl SharedStore for FaultyStore {
    fn lookup(&self, key: TokenKey, now: u32) -> Lookup {
        self.admitted(move |s| s.lookup(key, now))
    }

    fn claim_use(&self, key: TokenKey, grant: GrantId, ttl_secs: u32) -> Claim {
        self.admitted(move |s| s.claim_use(key, grant, ttl_secs))
    }

    fn used(&self, key: TokenKey) -> Used {
        self.admitted(move |s| s.used(key))
    }

    fn revocations_since(&self, since_ms: u64) -> Result<Vec<Revocation>, StoreError> {
        self.shared_inner()?.revocations_since(since_ms)
    }

    fn revoke_owned(
        &self,
        owner: Owner<'_>,
        which: OwnedTokens,
        now: u32,
    ) -> Result<u64, StoreError> {
        self.shared_inner()?.revoke_owned(owner, which, now)
    }

    fn clients(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.shared_inner()?.clients()
    }

    fn put_client(&self, id: &str, spec: &str) -> Result<(), StoreError> {
        self.shared_inner()?.put_client(id, spec)
    }

    fn create_client(&self, id: &str, spec: &str) -> Result<bool, StoreError> {
        self.shared_inner()?.create_client(id, spec)
    }

    fn replace_client(&self, id: &str, old: &str, new: &str) -> Result<bool, StoreError> {
        self.shared_inner()?.replace_client(id, old, new)
    }

    fn remove_client(&self, id: &str) -> Result<bool, StoreError> {
        self.shared_inner()?.remove_client(id)
    }

    fn users(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.shared_inner()?.users()
    }

    fn put_user(&self, username: &str, spec: &str) -> Result<(), StoreError> {
        self.shared_inner()?.put_user(username, spec)
    }

    fn create_user(&self, username: &str, spec: &str) -> Result<bool, StoreError> {
        self.shared_inner()?.create_user(username, spec)
    }

    fn replace_user(&self, username: &str, old: &str, new: &str) -> Result<bool, StoreError> {
        self.shared_inner()?.replace_user(username, old, new)
    }

    fn remove_user(&self, username: &str) -> Result<bool, StoreError> {
        self.shared_inner()?.remove_user(username)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{key, token, NOW};
    use crate::record::TokenKind;
    use crate::store::memory::MemoryStore;

    fn control_file(name: &str, text: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("tessera-faults-{name}-{}", std::process::id()));
        std::fs::write(&path, text).expect("write control file");
        path
    }

    fn put(store: &dyn Store) -> Result<(), StoreError> {
        store.apply(
            &[Mutation::Put {
                key: key("k"),
                token: token(TokenKind::Access, 0, 60),
            }],
            false,
        )
    }

    /// Waits (bounded) until the wrapper has read `fault` from its file.
    fn until_fault(store: &FaultyStore, fault: Fault) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while store.fault() != fault {
            assert!(Instant::now() < deadline, "fault {fault} never read");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn the_control_file_names_the_faults() {
        assert_eq!(Fault::parse("ok\n"), Some(Fault::Ok));
        assert_eq!(Fault::parse(""), Some(Fault::Ok));
        assert_eq!(Fault::parse("stall"), Some(Fault::Stall(None)));
        assert_eq!(
            Fault::parse("stall 250"),
            Some(Fault::Stall(Some(Duration::from_millis(250))))
        );
        assert_eq!(Fault::parse("error"), Some(Fault::Error(1.0)));
        assert_eq!(Fault::parse(" error 0.3 \n"), Some(Fault::Error(0.3)));
        for bad in ["error 2", "stall soon", "boom", "ok ok", "error 0.5 x"] {
            assert_eq!(Fault::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_error_fault_fails_calls_with_the_backends_io_error_until_it_clears() {
        let path = control_file("error", "error");
        let store = FaultyStore::start(Arc::new(MemoryStore::new()), &path).expect("start");
        let e = put(&store).expect_err("injected error");
        assert!(
            matches!(
                e,
                StoreError::Io {
                    backend: "memory",
                    ..
                }
            ),
            "{e:?}"
        );
        std::fs::write(&path, "ok").expect("rewrite");
        until_fault(&store, Fault::Ok);
        put(&store).expect("passes through");
        assert!(store.get(&key("k"), NOW).expect("get").is_some());
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_fraction_fails_some_calls_and_not_others() {
        let path = control_file("fraction", "error 0.5");
        let store = FaultyStore::start(Arc::new(MemoryStore::new()), &path).expect("start");
        let failed = (0..400).filter(|_| put(&store).is_err()).count();
        assert!((100..300).contains(&failed), "{failed} of 400 failed");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_stall_blocks_calls_until_the_fault_clears() {
        let path = control_file("stall", "stall");
        let store =
            Arc::new(FaultyStore::start(Arc::new(MemoryStore::new()), &path).expect("start"));
        let (tx, rx) = std::sync::mpsc::channel();
        let caller = Arc::clone(&store);
        std::thread::spawn(move || {
            let _ = tx.send(put(caller.as_ref()));
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "a call went through a stall"
        );
        std::fs::write(&path, "ok").expect("rewrite");
        let outcome = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("released when the stall clears");
        assert_eq!(outcome, Ok(()));
        let _ = std::fs::remove_file(path);
    }
}
