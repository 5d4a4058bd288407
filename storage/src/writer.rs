//! Write-behind: table changes go to a store on a named flusher thread, never on a worker.
//!
//! Workers describe what they changed in the table as [`Change`]s and hand them over a
//! bounded crossbeam channel. The flusher (`tessera-flusher`) gathers them into batches,
//! turns interned symbols back into strings, and applies each batch to the [`Store`] in one
//! atomic write.
//!
//! Durability, as numbered steps:
//! 1. A request that will change the table first [`WriteBehind::reserve`]s queue room. A
//!    full queue (the store is slow or down) refuses it *before* anything changes, and the
//!    request answers 503 — nothing that was accepted is ever dropped for lack of room. A
//!    change holds its room until the store has it, not merely until the flusher took it
//!    into a batch: `queue_capacity` bounds every change not yet written, including the
//!    batch that a stalled or failing store is holding up.
//! 2. The request changes the in-memory table and pushes its changes; lookups see them at
//!    once.
//! 3. `async`: the response goes out now. The flusher writes whatever arrived within
//!    `flush_interval` (or a full batch) with the WAL written but not fsynced. A killed
//!    process loses nothing the flusher has written; a crash loses at most what was queued,
//!    i.e. at most one flush interval of changes.
//! 4. `sync` (group commit): the request also queues an acknowledgement and awaits it. The
//!    flusher writes everything queued so far as one batch with a synced WAL, then
//!    acknowledges every waiting request at once: one fsync serves the whole batch. An
//!    acknowledged response therefore survives `kill -9` and power loss.
//! 5. A revocation is durable before it is acknowledged, in either mode: its permit is
//!    marked [`Permit::require_durable`], so it queues an acknowledgement as in `sync`
//!    mode. The flusher stops gathering as soon as it takes one (no `flush_interval` wait),
//!    writes the batch with a synced WAL and only then acknowledges. Issuance in `async`
//!    mode stays asynchronous: losing an issued token inconveniences a client, losing a
//!    revocation lets a stolen token back in.
//! 6. A failing store: the batch is kept and retried with exponential backoff (10 ms to
//!    1 s); the failure is logged once per burst, counted in the stats, and requests
//!    waiting on an acknowledgement are answered with the error (503) while their changes
//!    stay queued.
//! 7. Shutdown: [`WriteBehind::shutdown`] queues a stop marker behind everything accepted,
//!    the flusher writes all of it, and only then the process exits.

use crate::intern::Symbols;
use crate::key::TokenKey;
use crate::record::{GrantId, TokenRecord};
use crate::store::{Mutation, Store, StoreError, Token};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TryRecvError};
use futures_channel::oneshot;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// Most changes written in one batch.
const MAX_BATCH: usize = 8192;
/// Messages one request may push beyond its reservation without failing (a safety margin:
/// reservations are sized for the largest request).
const SLACK: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Respond at once; written within `flush_interval`.
    Async,
    /// Respond once the WAL holding the change is synced (group commit).
    Sync,
}

#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    pub durability: Durability,
    pub flush_interval: Duration,
    pub queue_capacity: usize,
    /// Added before every store write. For tests of backpressure and outages only.
    pub write_delay: Duration,
    /// How long shutdown keeps retrying a failing store before giving up.
    pub drain_timeout: Duration,
}

/// A change made to the table, as the flusher receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Put {
        key: TokenKey,
        record: TokenRecord,
    },
    /// `issued_at` is the removed token's (see [`Mutation::Delete`]).
    Delete {
        key: TokenKey,
        issued_at: u32,
    },
    DeleteGrant {
        grant: GrantId,
    },
    /// A record whose strings are not interned (an authorization code: its bindings are
    /// unique to it, and interned strings are never freed).
    PutStored {
        key: TokenKey,
        token: crate::store::StoredToken,
    },
}

enum Msg {
    Change(Change),
    Ack(oneshot::Sender<Result<(), StoreError>>),
    Stop(std::sync::mpsc::Sender<()>),
}

/// Told, on the flusher thread, about every batch the store has just accepted. The
/// read-through of a shared store uses it to know when a removal has reached the store
/// (until then, reading the token back from the store would undo the removal).
pub trait WriteObserver: Send + Sync + std::fmt::Debug {
    fn written(&self, batch: &[Mutation]);
}

/// The queue is full: the store is not keeping up. Answer 503 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backpressure;

/// Counters for metrics; read with relaxed loads.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub mutations: AtomicU64,
    pub flush_us_total: AtomicU64,
    pub flush_us_max: AtomicU64,
    pub last_batch: AtomicU64,
    pub errors: AtomicU64,
    pub rejected: AtomicU64,
    /// When the flusher began writing the batch it is writing or retrying now (Unix
    /// milliseconds; 0 when idle): a stalled or failing store shows as a growing age.
    pub write_began_ms: AtomicU64,
    /// When the last batch was written (Unix milliseconds; 0 before the first).
    pub last_flush_ms: AtomicU64,
    /// How long the last batch took to write, in microseconds.
    pub last_flush_us: AtomicU64,
}

impl WriterStats {
    /// How long the batch under way has been written or retried, at `now_ms` (0: none).
    pub fn write_age_ms(&self, now_ms: u64) -> u64 {
        match self.write_began_ms.load(Ordering::Relaxed) {
            0 => 0,
            began => now_ms.saturating_sub(began),
        }
    }
}

/// A store write taking longer than this is logged when it completes (a stalled store).
const SLOW_WRITE: Duration = Duration::from_secs(1);

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[derive(Debug)]
pub struct WriteBehind {
    tx: Sender<Msg>,
    outstanding: Arc<AtomicUsize>,
    capacity: usize,
    durability: Durability,
    stats: Arc<WriterStats>,
    /// Set while requests are being refused for a full queue, so the refusal and the
    /// recovery are each logged once per burst, not once per request.
    refusing: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Change(c) => write!(f, "Change({c:?})"),
            Msg::Ack(_) => f.write_str("Ack"),
            Msg::Stop(_) => f.write_str("Stop"),
        }
    }
}

impl WriteBehind {
    /// Starts the flusher thread for `store`.
    pub fn start(
        store: Arc<dyn Store>,
        symbols: Arc<Symbols>,
        config: WriterConfig,
    ) -> std::io::Result<WriteBehind> {
        Self::start_observed(store, symbols, config, None)
    }

    /// [`WriteBehind::start`], telling `observer` about every batch once it is written.
    pub fn start_observed(
        store: Arc<dyn Store>,
        symbols: Arc<Symbols>,
        config: WriterConfig,
        observer: Option<Arc<dyn WriteObserver>>,
    ) -> std::io::Result<WriteBehind> {
        let capacity = config.queue_capacity.max(1);
        let (tx, rx) = bounded(capacity + SLACK);
        let outstanding = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(WriterStats::default());
        let flusher = Flusher {
            rx,
            store,
            symbols,
            config,
            outstanding: Arc::clone(&outstanding),
            stats: Arc::clone(&stats),
            observer,
        };
        let thread = std::thread::Builder::new()
            .name("tessera-flusher".to_owned())
            .spawn(move || flusher.run())?;
        Ok(WriteBehind {
            tx,
            outstanding,
            capacity,
            durability: config.durability,
            stats,
            refusing: AtomicBool::new(false),
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }

    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Changes accepted but not yet written to the store (queued, or in the batch being
    /// written or retried).
    pub fn queue_depth(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Reserves room for `changes` changes (plus an acknowledgement in `sync` mode), or
    /// refuses when the queue is full. Call before changing the table.
    pub fn reserve(&self, changes: usize) -> Result<Permit<'_>, Backpressure> {
        let n = changes + usize::from(self.durability == Durability::Sync);
        let ok = self
            .outstanding
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur + n <= self.capacity).then_some(cur + n)
            });
        match ok {
            Ok(_) => {
                if self.refusing.load(Ordering::Relaxed)
                    && self.refusing.swap(false, Ordering::Relaxed)
                {
                    info!("write queue has room again; accepting writes");
                }
                Ok(Permit {
                    writer: self,
                    left: n,
                    acked: false,
                    durable: false,
                })
            }
            Err(_) => {
                self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                if !self.refusing.swap(true, Ordering::Relaxed) {
                    warn!(
                        capacity = self.capacity,
                        "write queue full: the store is not keeping up; answering 503 until it catches up"
                    );
                }
                Err(Backpressure)
            }
        }
    }

    /// Stops accepting, waits until everything accepted is written (or `timeout` passes
    /// with the store still failing), and joins the flusher.
    pub fn shutdown(&self, timeout: Duration) {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        if self.tx.send_timeout(Msg::Stop(done_tx), timeout).is_ok() {
            let _ = done_rx.recv_timeout(timeout + Duration::from_secs(1));
        }
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }

    fn send(&self, msg: Msg) {
        // The reservation guarantees room; SLACK covers a request that pushes more than it
        // reserved. If even that is exhausted, wait rather than lose an accepted change.
        if let Err(crossbeam_channel::TrySendError::Full(msg)) = self.tx.try_send(msg) {
            let _ = self.tx.send(msg);
        }
    }
}

/// Room reserved in the queue for one request's changes.
#[derive(Debug)]
pub struct Permit<'a> {
    writer: &'a WriteBehind,
    left: usize,
    acked: bool,
    /// Acknowledge only once durable, also in `async` mode (a revocation).
    durable: bool,
}

impl Permit<'_> {
    /// Makes [`Permit::finish`] return an acknowledgement in `async` mode too, answered
    /// once every change queued before it is in the store with a synced WAL. The flusher
    /// writes such a batch at once rather than after `flush_interval`.
    pub fn require_durable(&mut self) {
        self.durable = true;
    }

    /// Queues one change for the flusher.
    pub fn push(&mut self, change: Change) {
        if self.left > 0 {
            self.left -= 1;
        } else {
            self.writer.outstanding.fetch_add(1, Ordering::AcqRel);
        }
        self.writer.send(Msg::Change(change));
    }

    /// Ends the request's changes. In `sync` mode, or when [`Permit::require_durable`] was
    /// called, returns the acknowledgement to await: it resolves once every change queued
    /// so far (by this request and every one before it) is durable.
    pub fn finish(mut self) -> Option<oneshot::Receiver<Result<(), StoreError>>> {
        let wanted = self.writer.durability == Durability::Sync || self.durable;
        if !wanted || self.acked {
            return None;
        }
        self.acked = true;
        let (tx, rx) = oneshot::channel();
        if self.left > 0 {
            self.left -= 1;
        } else {
            self.writer.outstanding.fetch_add(1, Ordering::AcqRel);
        }
        self.writer.send(Msg::Ack(tx));
        Some(rx)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.left > 0 {
            self.writer
                .outstanding
                .fetch_sub(self.left, Ordering::AcqRel);
        }
    }
}

struct Flusher {
    rx: Receiver<Msg>,
    store: Arc<dyn Store>,
    symbols: Arc<Symbols>,
    config: WriterConfig,
    outstanding: Arc<AtomicUsize>,
    stats: Arc<WriterStats>,
    observer: Option<Arc<dyn WriteObserver>>,
}

/// One batch being gathered.
#[derive(Default)]
struct Batch {
    mutations: Vec<Mutation>,
    acks: Vec<oneshot::Sender<Result<(), StoreError>>>,
    stop: Option<std::sync::mpsc::Sender<()>>,
}

impl Flusher {
    fn run(self) {
        let mut batch = Batch::default();
        loop {
            let Ok(first) = self.rx.recv() else {
                // Every sender is gone: nothing more can arrive.
                return;
            };
            self.take(first, &mut batch);
            self.gather(&mut batch);
            if !batch.mutations.is_empty() || !batch.acks.is_empty() {
                self.write(&mut batch);
            }
            if let Some(done) = batch.stop.take() {
                let _ = done.send(());
                return;
            }
        }
    }

    fn take(&self, msg: Msg, batch: &mut Batch) {
        match msg {
            // The change keeps its queue room until the batch is written (see `write`).
            Msg::Change(c) => batch.mutations.push(self.mutation(c)),
            Msg::Ack(a) => {
                self.outstanding.fetch_sub(1, Ordering::AcqRel);
                batch.acks.push(a);
            }
            Msg::Stop(s) => batch.stop = Some(s),
        }
    }

    /// Adds to the batch: in `async` mode until the flush interval has passed since the
    /// batch began; in `sync` mode, or once the batch holds an acknowledgement (a
    /// revocation in `async` mode), whatever is queued right now (group commit: everything
    /// that arrived during the previous fsync shares the next one). At shutdown, everything.
    fn gather(&self, batch: &mut Batch) {
        let deadline = Instant::now() + self.config.flush_interval;
        while batch.mutations.len() < MAX_BATCH {
            let now_only = batch.stop.is_some()
                || self.config.durability == Durability::Sync
                || !batch.acks.is_empty();
            let msg = if now_only {
                match self.rx.try_recv() {
                    Ok(m) => m,
                    Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => return,
                }
            } else {
                match self.rx.recv_deadline(deadline) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => return,
                }
            };
            self.take(msg, batch);
        }
    }

    /// While a batch keeps failing, requests waiting for an acknowledgement must not wait
    /// for the store to come back: their acknowledgements are answered with the error at once
    /// (503 for the client), and their changes join the failing batch, in order, to be
    /// written when the store returns. Like every change in a batch they keep holding their
    /// queue room until written, so the queue still bounds what waits in memory.
    fn refuse_waiting(&self, batch: &mut Batch, error: &StoreError) {
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Change(c) => batch.mutations.push(self.mutation(c)),
                Msg::Ack(a) => {
                    self.outstanding.fetch_sub(1, Ordering::AcqRel);
                    let _ = a.send(Err(error.clone()));
                }
                Msg::Stop(s) => batch.stop = Some(s),
            }
        }
    }

    fn mutation(&self, change: Change) -> Mutation {
        match change {
            Change::Put { key, record } => {
                let s = &self.symbols;
                let name =
                    |i: &crate::Interner, sym| i.resolve(sym).unwrap_or_else(|| Arc::from(""));
                Mutation::Put {
                    key,
                    token: Token {
                        kind: record.kind,
                        grant: record.grant,
                        client: name(&s.clients, record.client),
                        user: record.user.map(|u| name(&s.users, u)),
                        scope: name(&s.scopes, record.scope),
                        meta: record.meta.map(|m| name(&s.meta, m)),
                        issued_at: record.issued_at,
                        expires_at: record.expires_at,
                    },
                }
            }
            Change::Delete { key, issued_at } => Mutation::Delete { key, issued_at },
            Change::DeleteGrant { grant } => Mutation::DeleteGrant { grant },
            Change::PutStored { key, token } => Mutation::Put { key, token },
        }
    }

    /// Writes the batch, retrying until it succeeds (or shutdown's drain time is over).
    fn write(&self, batch: &mut Batch) {
        let mut backoff = Duration::from_millis(10);
        let mut failures = 0u64;
        let began = Instant::now();
        self.stats
            .write_began_ms
            .store(unix_ms(), Ordering::Relaxed);
        loop {
            if !self.config.write_delay.is_zero() {
                std::thread::sleep(self.config.write_delay);
            }
            // Synced in `sync` mode, and for a batch someone waits on (a revocation).
            let durable = self.config.durability == Durability::Sync || !batch.acks.is_empty();
            let started = Instant::now();
            match self.store.apply(&batch.mutations, durable) {
                Ok(()) => {
                    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    self.stats.batches.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .mutations
                        .fetch_add(batch.mutations.len() as u64, Ordering::Relaxed);
                    self.stats
                        .last_batch
                        .store(batch.mutations.len() as u64, Ordering::Relaxed);
                    self.stats.flush_us_total.fetch_add(us, Ordering::Relaxed);
                    self.stats.flush_us_max.fetch_max(us, Ordering::Relaxed);
                    self.stats.last_flush_us.store(us, Ordering::Relaxed);
                    self.stats.last_flush_ms.store(unix_ms(), Ordering::Relaxed);
                    self.stats.write_began_ms.store(0, Ordering::Relaxed);
                    if failures > 0 {
                        info!(
                            store = self.store.name(),
                            failures,
                            took_ms = began.elapsed().as_millis() as u64,
                            "store writes recovered"
                        );
                    } else if started.elapsed() > SLOW_WRITE {
                        warn!(
                            store = self.store.name(),
                            took_ms = started.elapsed().as_millis() as u64,
                            changes = batch.mutations.len(),
                            "store write stalled"
                        );
                    }
                    if let Some(observer) = &self.observer {
                        observer.written(&batch.mutations);
                    }
                    for ack in batch.acks.drain(..) {
                        let _ = ack.send(Ok(()));
                    }
                    // Written: the batch's changes give their queue room back (one change is
                    // one mutation).
                    self.outstanding
                        .fetch_sub(batch.mutations.len(), Ordering::AcqRel);
                    batch.mutations.clear();
                    return;
                }
                Err(e) => {
                    failures += 1;
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    if failures == 1 {
                        warn!(store = self.store.name(), error = %e, pending = batch.mutations.len(), "store write failed; retrying with backoff");
                    }
                    // Waiting requests learn now; their changes stay in the batch.
                    for ack in batch.acks.drain(..) {
                        let _ = ack.send(Err(e.clone()));
                    }
                    if batch.stop.is_some() && began.elapsed() > self.config.drain_timeout {
                        error!(
                            store = self.store.name(),
                            lost = batch.mutations.len() + self.rx.len(),
                            "shutting down with the store still failing; unwritten changes are lost"
                        );
                        // They no longer wait for the store: the queue's figures say so.
                        self.outstanding
                            .fetch_sub(batch.mutations.len(), Ordering::AcqRel);
                        self.stats.write_began_ms.store(0, Ordering::Relaxed);
                        batch.mutations.clear();
                        return;
                    }
                    let until = Instant::now() + backoff;
                    while Instant::now() < until {
                        self.refuse_waiting(batch, &e);
                        std::thread::sleep(Duration::from_millis(10).min(backoff));
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::NOW;
    use crate::record::TokenKind;
    use crate::store::memory::MemoryStore;

    fn record(symbols: &Symbols) -> TokenRecord {
        TokenRecord {
            grant: GrantId::NONE,
            client: symbols.clients.intern("svc-a"),
            user: None,
            scope: symbols.scopes.intern("read"),
            meta: None,
            issued_at: NOW,
            expires_at: NOW + 60,
            kind: TokenKind::Access,
        }
    }

    fn config(durability: Durability, capacity: usize) -> WriterConfig {
        WriterConfig {
            durability,
            flush_interval: Duration::from_millis(5),
            queue_capacity: capacity,
            write_delay: Duration::ZERO,
            drain_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn shutdown_drains_everything_accepted() {
        let store = Arc::new(MemoryStore::new());
        let symbols = Arc::new(Symbols::default());
        let w = WriteBehind::start(
            store.clone(),
            symbols.clone(),
            config(Durability::Async, 100_000),
        )
        .expect("start");
        for i in 0..10_000u32 {
            let mut p = w.reserve(1).expect("room");
            p.push(Change::Put {
                key: TokenKey::of(&i.to_le_bytes()),
                record: record(&symbols),
            });
        }
        w.shutdown(Duration::from_secs(10));
        assert_eq!(store.scan_live(NOW, &mut |_, _| {}).expect("scan"), 10_000);
        let t = store
            .get(&TokenKey::of(&7u32.to_le_bytes()), NOW)
            .expect("get")
            .expect("present");
        assert_eq!((&*t.client, &*t.scope), ("svc-a", "read"));
    }

    #[test]
    fn full_queue_refuses_before_anything_changes() {
        let store = Arc::new(MemoryStore::new());
        let cfg = WriterConfig {
            write_delay: Duration::from_millis(200),
            ..config(Durability::Async, 3)
        };
        let w = WriteBehind::start(store, Arc::new(Symbols::default()), cfg).expect("start");
        let a = w.reserve(2).expect("room for two");
        let b = w.reserve(1).expect("room for one more");
        assert_eq!(w.reserve(1).err(), Some(Backpressure));
        drop(a);
        assert!(w.reserve(2).is_ok(), "an unused reservation is released");
        drop(b);
        assert_eq!(w.stats().rejected.load(Ordering::Relaxed), 1);
        w.shutdown(Duration::from_secs(5));
    }

    #[test]
    fn sync_acknowledgement_arrives_after_the_write() {
        let store = Arc::new(MemoryStore::new());
        let symbols = Arc::new(Symbols::default());
        let w = WriteBehind::start(
            store.clone(),
            symbols.clone(),
            config(Durability::Sync, 100),
        )
        .expect("start");
        let key = TokenKey::of(b"k");
        let mut p = w.reserve(1).expect("room");
        p.push(Change::Put {
            key,
            record: record(&symbols),
        });
        let ack = p.finish().expect("sync mode acknowledges");
        let outcome = futures_executor_block_on(ack);
        assert_eq!(outcome, Ok(Ok(())));
        assert!(
            store.get(&key, NOW).expect("get").is_some(),
            "acknowledged before it was written"
        );
        w.shutdown(Duration::from_secs(5));
    }

    /// A store that fails while `down` is set, then behaves like the memory store.
    #[derive(Debug, Default)]
    struct Flaky {
        inner: MemoryStore,
        down: std::sync::atomic::AtomicBool,
        /// Batches accepted so far.
        applied: AtomicUsize,
        /// Of those, the ones written `durable` (synced WAL).
        synced: AtomicUsize,
    }

    impl Store for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }
        fn apply(&self, batch: &[Mutation], durable: bool) -> Result<(), StoreError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::Io {
                    backend: "flaky",
                    message: "down".into(),
                });
            }
            self.inner.apply(batch, durable)?;
            self.applied.fetch_add(1, Ordering::SeqCst);
            if durable {
                self.synced.fetch_add(1, Ordering::SeqCst);
            }
            Ok(())
        }
        fn get(
            &self,
            key: &TokenKey,
            now: u32,
        ) -> Result<Option<crate::store::StoredToken>, StoreError> {
            self.inner.get(key, now)
        }
        fn grant_tokens(&self, grant: GrantId, now: u32) -> Result<Vec<TokenKey>, StoreError> {
            self.inner.grant_tokens(grant, now)
        }
        fn scan_live(
            &self,
            now: u32,
            visit: &mut dyn FnMut(TokenKey, crate::store::TokenView<'_>),
        ) -> Result<u64, StoreError> {
            self.inner.scan_live(now, visit)
        }
        fn purge_expired(&self, now: u32, limit: usize) -> Result<usize, StoreError> {
            self.inner.purge_expired(now, limit)
        }
        fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
            self.inner.setting(name)
        }
        fn put_setting_if(
            &self,
            name: &str,
            expected: Option<&str>,
            value: &str,
        ) -> Result<bool, StoreError> {
            self.inner.put_setting_if(name, expected, value)
        }
    }

    #[test]
    fn sync_requests_during_an_outage_are_refused_promptly_and_written_after_it() {
        let store = Arc::new(Flaky::default());
        store.down.store(true, Ordering::SeqCst);
        let symbols = Arc::new(Symbols::default());
        let w = WriteBehind::start(
            store.clone(),
            symbols.clone(),
            config(Durability::Sync, 100),
        )
        .expect("start");
        let mut keys = Vec::new();
        for i in 0..3u8 {
            let key = TokenKey::of(&[i]);
            keys.push(key);
            let mut p = w.reserve(1).expect("room");
            p.push(Change::Put {
                key,
                record: record(&symbols),
            });
            let ack = p.finish().expect("sync mode acknowledges");
            // Answered at all while the store is still down: the request was refused during
            // the outage rather than held until the store came back.
            let outcome = futures_executor_block_on(ack);
            assert!(matches!(outcome, Ok(Err(_))), "request {i}: {outcome:?}");
        }
        store.down.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(5);
        while keys
            .iter()
            .any(|k| store.get(k, NOW).ok().flatten().is_none())
        {
            assert!(
                Instant::now() < deadline,
                "changes accepted during the outage were lost"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        w.shutdown(Duration::from_secs(5));
        assert_eq!(
            w.queue_depth(),
            0,
            "queue room held after the changes were written"
        );
    }

    /// `async` mode with a flush interval far longer than the test: only a revocation's
    /// acknowledgement can make the flusher write.
    fn slow_async() -> WriterConfig {
        WriterConfig {
            flush_interval: Duration::from_secs(30),
            ..config(Durability::Async, 100)
        }
    }

    /// A writer in `slow_async` mode over a [`Flaky`] store, with `queued` put and left
    /// to the flush interval.
    fn slow_async_with(queued: TokenKey, down: bool) -> (Arc<Flaky>, WriteBehind) {
        let store = Arc::new(Flaky::default());
        store.down.store(down, Ordering::SeqCst);
        let symbols = Arc::new(Symbols::default());
        let w = WriteBehind::start(store.clone(), symbols.clone(), slow_async()).expect("start");
        let mut p = w.reserve(1).expect("room");
        p.push(Change::Put {
            key: queued,
            record: record(&symbols),
        });
        assert!(p.finish().is_none(), "issuance stays asynchronous");
        (store, w)
    }

    #[test]
    fn async_revocation_is_written_synced_before_it_is_acknowledged() {
        let revoked = TokenKey::of(b"revoked");
        let (store, w) = slow_async_with(revoked, false);
        let mut p = w.reserve(1).expect("room");
        p.push(Change::Delete {
            key: revoked,
            issued_at: NOW,
        });
        p.require_durable();
        let ack = p
            .finish()
            .expect("a revocation is acknowledged in async mode");
        let started = Instant::now();
        assert_eq!(futures_executor_block_on(ack), Ok(Ok(())));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the revocation waited for the flush interval: {:?}",
            started.elapsed()
        );
        assert!(store.get(&revoked, NOW).expect("get").is_none());
        // The issuance queued before it went in the same batch, synced.
        assert_eq!(store.applied.load(Ordering::SeqCst), 1);
        assert_eq!(store.synced.load(Ordering::SeqCst), 1, "written unsynced");
        w.shutdown(Duration::from_secs(5));
    }

    #[test]
    fn a_durable_permit_without_changes_waits_for_everything_queued_before_it() {
        // A revocation retried after a 503 finds the token already gone from the table; its
        // 200 must still wait until the earlier delete is in the store.
        let key = TokenKey::of(b"queued");
        let (store, w) = slow_async_with(key, false);
        let mut barrier = w.reserve(0).expect("room");
        barrier.require_durable();
        let ack = barrier.finish().expect("acknowledged");
        assert_eq!(futures_executor_block_on(ack), Ok(Ok(())));
        assert!(store.get(&key, NOW).expect("get").is_some());
        w.shutdown(Duration::from_secs(5));
    }

    #[test]
    fn async_revocation_during_an_outage_is_refused_promptly_and_written_after_it() {
        let key = TokenKey::of(b"revoked");
        let (store, w) = slow_async_with(key, true);
        for i in 0..2 {
            // The first joins the failing batch; the second arrives while it is failing.
            let mut p = w.reserve(1).expect("room");
            p.push(Change::Delete {
                key,
                issued_at: NOW,
            });
            p.require_durable();
            let ack = p.finish().expect("acknowledged");
            let outcome = futures_executor_block_on(ack);
            assert!(matches!(outcome, Ok(Err(_))), "revocation {i}: {outcome:?}");
        }
        store.down.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(5);
        while store.applied.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "never written after the outage");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(store.get(&key, NOW).expect("get").is_none());
        w.shutdown(Duration::from_secs(5));
        assert_eq!(w.queue_depth(), 0);
    }

    /// Records what it is told, and how many batches the store had accepted by then.
    #[derive(Debug)]
    struct Seen {
        store: Arc<Flaky>,
        batches: Mutex<Vec<(Vec<Mutation>, usize)>>,
    }

    impl WriteObserver for Seen {
        fn written(&self, batch: &[Mutation]) {
            let applied = self.store.applied.load(Ordering::SeqCst);
            self.batches.lock().push((batch.to_vec(), applied));
        }
    }

    #[test]
    fn observer_hears_of_a_batch_only_once_the_store_holds_it() {
        let store = Arc::new(Flaky::default());
        store.down.store(true, Ordering::SeqCst);
        let seen = Arc::new(Seen {
            store: Arc::clone(&store),
            batches: Mutex::new(Vec::new()),
        });
        let symbols = Arc::new(Symbols::default());
        let w = WriteBehind::start_observed(
            store.clone(),
            symbols.clone(),
            config(Durability::Async, 100),
            Some(seen.clone()),
        )
        .expect("start");
        let key = TokenKey::of(b"removed");
        let mut p = w.reserve(2).expect("room");
        p.push(Change::Put {
            key,
            record: record(&symbols),
        });
        p.push(Change::Delete {
            key,
            issued_at: NOW,
        });
        drop(p);
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            seen.batches.lock().is_empty(),
            "told of a batch the store refused"
        );
        store.down.store(false, Ordering::SeqCst);
        w.shutdown(Duration::from_secs(5));
        let batches = seen.batches.lock();
        let told: Vec<&Mutation> = batches.iter().flat_map(|(b, _)| b).collect();
        assert_eq!(told.len(), 2, "{told:?}");
        assert!(matches!(told[0], Mutation::Put { key: k, .. } if *k == key));
        assert_eq!(
            told[1],
            &Mutation::Delete {
                key,
                issued_at: NOW
            }
        );
        for (i, (_, applied)) in batches.iter().enumerate() {
            assert!(
                *applied > i,
                "told of batch {i} before the store accepted it"
            );
        }
    }

    #[test]
    fn a_batch_held_up_by_a_stalled_store_keeps_its_queue_room_until_written() {
        let control =
            std::env::temp_dir().join(format!("tessera-writer-stall-{}", std::process::id()));
        std::fs::write(&control, "stall").expect("control file");
        let memory = Arc::new(MemoryStore::new());
        let store = Arc::new(
            crate::store::faults::FaultyStore::start(memory.clone(), &control).expect("wrap"),
        );
        let symbols = Arc::new(Symbols::default());
        let w = WriteBehind::start(store, symbols.clone(), config(Durability::Async, 10))
            .expect("start");
        let put = |w: &WriteBehind, i: u8, n: usize| -> Result<(), Backpressure> {
            let mut p = w.reserve(n)?;
            for j in 0..n {
                p.push(Change::Put {
                    key: TokenKey::of(&[i, j as u8]),
                    record: record(&symbols),
                });
            }
            Ok(())
        };
        put(&w, 0, 1).expect("room");
        // The flusher has taken the change and is stuck writing it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while w.stats().write_began_ms.load(Ordering::Relaxed) == 0 {
            assert!(Instant::now() < deadline, "the flusher never began writing");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(w.queue_depth(), 1, "the change being written counts");
        put(&w, 1, 9).expect("room for the rest of the capacity");
        assert_eq!(
            put(&w, 2, 1),
            Err(Backpressure),
            "more changes waiting for the store than queue_capacity"
        );
        std::fs::write(&control, "ok").expect("control file");
        w.shutdown(Duration::from_secs(10));
        assert_eq!(w.queue_depth(), 0);
        assert_eq!(memory.scan_live(NOW, &mut |_, _| {}).expect("scan"), 10);
        let _ = std::fs::remove_file(control);
    }

    /// A minimal executor for one future, so the test needs no async runtime.
    fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
