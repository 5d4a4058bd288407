//! Write-behind: table changes go to a store on a named flusher thread, never on a worker.
//!
//! Workers describe what they changed in the table as [`Change`]s and hand them over
//! bounded crossbeam channels. The flusher (`tessera-flusher`) gathers them into batches,
//! turns interned symbols back into strings, and applies each batch to the [`Store`] in one
//! atomic write.
//!
//! Lanes, and why their order is safe. The common write — a newly issued token — touches
//! only its worker's own queue and counter, never a line every worker writes:
//! - Each worker thread (named by [`set_thread_lane`] when it starts) has a *lane*: a
//!   bounded channel only it sends on, and its own count of queue room. Every other thread
//!   (admin, purge, read-through, tests) uses the *shared* channel and the shared count.
//! - Only *fresh* puts travel on a lane ([`Permit::push_fresh`]): the record of a key that
//!   never existed before and nobody can know yet (a newly minted token). Every other
//!   change — a delete, a grant's delete, a put that overwrites or re-inserts a key (used
//!   markers, sessions, consents), an acknowledgement, the stop marker — goes to the shared
//!   channel ([`Permit::push`]), in order.
//! - The flusher rule: whenever the flusher takes a message from the shared channel, it
//!   *first* drains every lane (a snapshot taken after it took the message) into the batch,
//!   then appends the message. It also drains the lanes at the end of every gathering and
//!   at shutdown.
//!
//! Why this cannot reorder anything that matters: a change that depends on a fresh put —
//! the revocation of the token just issued, the acknowledgement a `sync` request awaits,
//! the delete of a grant the token joined — is pushed after that put was pushed (the put
//! is pushed before the token enters the table, and nobody learns a token before it is in
//! the table or the response went out). So when the flusher takes the dependent message,
//! the put is already on its lane and the drain places it first. Fresh puts pushed after
//! the message may land ahead of it: harmless, since a key that never existed is touched
//! by nothing earlier. Within one channel order is kept, so everything that is not fresh is
//! written exactly in the order it was pushed, as with a single queue.
//!
//! Durability, as numbered steps:
//! 1. A request that will change the table first [`WriteBehind::reserve`]s queue room in
//!    its lane's count (off the workers: the shared count). A full count (the store is
//!    slow or down) refuses it *before* anything changes, and the request answers 503 —
//!    nothing that was accepted is ever dropped for lack of room. A change holds its room
//!    until the store has it, not merely until the flusher took it into a batch:
//!    `queue_capacity`, split between the lanes and the shared count, bounds every change
//!    not yet written, including the batch that a stalled or failing store is holding up.
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
//!    the flusher drains the lanes and writes all of it, and only then the process exits.

use crate::intern::Symbols;
use crate::key::TokenKey;
use crate::record::{GrantId, TokenRecord};
use crate::store::{Mutation, Store, StoreError, Token};
use crossbeam_channel::{
    bounded, Receiver, RecvTimeoutError, Select, Sender, TryRecvError, TrySendError,
};
use futures_channel::oneshot;
use parking_lot::Mutex;
use std::cell::Cell;
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
/// The least queue room a lane (or the shared count) gets. With less `queue_capacity` per
/// worker, fewer workers get lanes (down to none: one shared queue), so the configured
/// capacity is never exceeded and a lane always fits the largest request, and the shared
/// count an admin revocation chunk.
pub const MIN_LANE_ROOM: usize = 512;

/// No lane: the thread uses the shared channel.
const NO_LANE: usize = usize::MAX;

thread_local! {
    /// The lane of the worker running on this thread (see [`set_thread_lane`]).
    static LANE: Cell<usize> = const { Cell::new(NO_LANE) };
}

/// Names the current thread as worker `index`: from now on its fresh puts travel on lane
/// `index` of every writer that has one (a writer with fewer lanes uses its shared
/// channel). Called once when a worker thread starts.
pub fn set_thread_lane(index: usize) {
    LANE.with(|l| l.set(index));
}

fn thread_lane() -> usize {
    LANE.with(Cell::get)
}

/// A count of queue room, alone on its cache line: each worker bumps only its own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Room {
    used: AtomicUsize,
}

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
    /// Worker threads that get a lane of their own (the server's worker count; 0: every
    /// change goes through the shared channel). Fewer when `queue_capacity` is too small
    /// to give each [`MIN_LANE_ROOM`].
    pub lanes: usize,
}

/// How many lanes `wanted` lanes become with `capacity`, and the room each lane gets (the
/// shared count gets the rest): every part at least [`MIN_LANE_ROOM`], or no lanes at all.
fn split(capacity: usize, wanted: usize) -> (usize, usize) {
    let lanes = wanted.min((capacity / MIN_LANE_ROOM).saturating_sub(1));
    (lanes, capacity / (lanes + 1))
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

/// A message on the shared channel. `room` is the count the message's room was reserved
/// in (a lane's, or the shared one), given back once the store has the change.
enum Msg {
    Change {
        room: usize,
        change: Change,
    },
    Ack {
        room: usize,
        tx: oneshot::Sender<Result<(), StoreError>>,
    },
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
    /// Declared before `lanes`, so it is dropped first and the flusher sees the end of the
    /// shared channel (its signal to finish) before any lane closes.
    tx: Sender<Msg>,
    /// One per worker with a lane; only that worker sends on it.
    lanes: Box<[Sender<Change>]>,
    /// Queue room held per lane, then (last) the shared count.
    rooms: Arc<[Room]>,
    /// The room each count may hold, in the order of `rooms`.
    room_capacity: Box<[usize]>,
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
            Msg::Change { room, change } => write!(f, "Change({room}, {change:?})"),
            Msg::Ack { room, .. } => write!(f, "Ack({room})"),
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
        let (lanes, lane_room) = split(capacity, config.lanes);
        // Every change may come this way (a full lane spills here), so it has room for all.
        let (tx, rx) = bounded(capacity + SLACK);
        let (lane_tx, lane_rx): (Vec<_>, Vec<_>) = (0..lanes).map(|_| bounded(lane_room)).unzip();
        let rooms: Arc<[Room]> = (0..=lanes).map(|_| Room::default()).collect();
        let room_capacity: Box<[usize]> = (0..=lanes)
            .map(|i| {
                if i < lanes {
                    lane_room
                } else {
                    capacity - lane_room * lanes
                }
            })
            .collect();
        let stats = Arc::new(WriterStats::default());
        let flusher = Flusher {
            rx,
            lanes: lane_rx.into_boxed_slice(),
            store,
            symbols,
            config,
            rooms: Arc::clone(&rooms),
            stats: Arc::clone(&stats),
            observer,
        };
        let thread = std::thread::Builder::new()
            .name("tessera-flusher".to_owned())
            .spawn(move || flusher.run())?;
        Ok(WriteBehind {
            tx,
            lanes: lane_tx.into_boxed_slice(),
            rooms,
            room_capacity,
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
        self.rooms
            .iter()
            .map(|r| r.used.load(Ordering::Relaxed))
            .sum()
    }

    /// How many workers have a lane of their own (see [`WriterConfig::lanes`]).
    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }

    /// Reserves room for `changes` changes (plus an acknowledgement in `sync` mode), or
    /// refuses when the queue is full. Call before changing the table. Only the calling
    /// worker's own count is checked (off the workers: the shared count).
    pub fn reserve(&self, changes: usize) -> Result<Permit<'_>, Backpressure> {
        let n = changes + usize::from(self.durability == Durability::Sync);
        let room = thread_lane().min(self.lanes.len());
        let capacity = self.room_capacity[room];
        let ok = self.rooms[room]
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur + n <= capacity).then_some(cur + n)
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
                    room,
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
        if let Err(TrySendError::Full(msg)) = self.tx.try_send(msg) {
            let _ = self.tx.send(msg);
        }
    }
}

/// Room reserved in the queue for one request's changes.
#[derive(Debug)]
pub struct Permit<'a> {
    writer: &'a WriteBehind,
    /// The count the room was reserved in; also the lane fresh puts take, when it is one.
    room: usize,
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

    /// Takes room for one more message: from the reservation, or beyond it.
    fn take_room(&mut self) {
        if self.left > 0 {
            self.left -= 1;
        } else {
            self.writer.rooms[self.room]
                .used
                .fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Queues one change for the flusher, in order with every change pushed before it by
    /// any thread. The safe default for every change.
    pub fn push(&mut self, change: Change) {
        self.take_room();
        let room = self.room;
        self.writer.send(Msg::Change { room, change });
    }

    /// Queues the put of a *fresh* key — one that never existed before (a newly minted
    /// token) — on the worker's own lane. Only for such puts: the
    /// flusher may write it ahead of changes pushed before it (see the module doc), and
    /// must therefore be pushed before anyone can learn the key, i.e. before the key enters
    /// the table. Anything else is sent as [`Permit::push`] would.
    pub fn push_fresh(&mut self, change: Change) {
        let fresh = matches!(change, Change::Put { .. } | Change::PutStored { .. });
        let Some(lane) = self.writer.lanes.get(self.room).filter(|_| fresh) else {
            return self.push(change);
        };
        self.take_room();
        // A full lane (more pushed than reserved) spills into the shared channel: in order
        // there, which is always safe.
        if let Err(TrySendError::Full(change) | TrySendError::Disconnected(change)) =
            lane.try_send(change)
        {
            let room = self.room;
            self.writer.send(Msg::Change { room, change });
        }
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
        self.take_room();
        let room = self.room;
        self.writer.send(Msg::Ack { room, tx });
        Some(rx)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.left > 0 {
            self.writer.rooms[self.room]
                .used
                .fetch_sub(self.left, Ordering::AcqRel);
        }
    }
}

struct Flusher {
    rx: Receiver<Msg>,
    /// Lane `i`'s changes hold their room in `rooms[i]`.
    lanes: Box<[Receiver<Change>]>,
    store: Arc<dyn Store>,
    symbols: Arc<Symbols>,
    config: WriterConfig,
    rooms: Arc<[Room]>,
    stats: Arc<WriterStats>,
    observer: Option<Arc<dyn WriteObserver>>,
}

/// One batch being gathered.
struct Batch {
    mutations: Vec<Mutation>,
    /// How many of `mutations` hold room in each count (indexed like `Flusher::rooms`).
    held: Vec<usize>,
    acks: Vec<oneshot::Sender<Result<(), StoreError>>>,
    stop: Option<std::sync::mpsc::Sender<()>>,
}

impl Batch {
    fn new(rooms: usize) -> Batch {
        Batch {
            mutations: Vec::new(),
            held: vec![0; rooms],
            acks: Vec::new(),
            stop: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.mutations.is_empty() && self.acks.is_empty()
    }
}

impl Flusher {
    fn run(self) {
        let mut batch = Batch::new(self.rooms.len());
        loop {
            if !self.wait(&mut batch) {
                // Every sender is gone: nothing more can arrive. Whatever the lanes still
                // held was drained by `wait`.
                if !batch.is_empty() {
                    self.write(&mut batch);
                }
                return;
            }
            self.gather(&mut batch);
            if !batch.is_empty() {
                self.write(&mut batch);
            }
            if let Some(done) = batch.stop.take() {
                let _ = done.send(());
                return;
            }
        }
    }

    /// Waits until something arrives on the shared channel or a lane and starts the batch
    /// with it; `false` once the writer is gone.
    fn wait(&self, batch: &mut Batch) -> bool {
        if !self.lanes.is_empty() {
            // Blocks on every channel at once: an idle flusher costs nothing, and a worker
            // wakes it only when its lane was empty and the flusher asleep.
            let mut select = Select::new();
            select.recv(&self.rx);
            for lane in self.lanes.iter() {
                select.recv(lane);
            }
            select.ready();
            match self.rx.try_recv() {
                Ok(msg) => self.take(msg, batch),
                Err(TryRecvError::Empty) => self.drain_lanes(batch),
                Err(TryRecvError::Disconnected) => {
                    self.drain_lanes(batch);
                    return false;
                }
            }
            return true;
        }
        match self.rx.recv() {
            Ok(msg) => {
                self.take(msg, batch);
                true
            }
            Err(_) => false,
        }
    }

    /// Moves every change waiting on a lane into the batch. Bounded by each lane's capacity,
    /// so workers pushing meanwhile cannot keep it going; everything pushed before the call
    /// began is within that bound (a lane holds no more than its capacity).
    fn drain_lanes(&self, batch: &mut Batch) {
        for (room, lane) in self.lanes.iter().enumerate() {
            for _ in 0..lane.capacity().unwrap_or(0) {
                let Ok(change) = lane.try_recv() else {
                    break;
                };
                batch.mutations.push(self.mutation(change));
                batch.held[room] += 1;
            }
        }
    }

    /// Takes one message from the shared channel into the batch — after draining the lanes,
    /// so every fresh put pushed before the message comes before it (see the module doc).
    fn take(&self, msg: Msg, batch: &mut Batch) {
        self.drain_lanes(batch);
        match msg {
            // The change keeps its queue room until the batch is written (see `write`).
            Msg::Change { room, change } => {
                batch.mutations.push(self.mutation(change));
                batch.held[room] += 1;
            }
            Msg::Ack { room, tx } => {
                self.rooms[room].used.fetch_sub(1, Ordering::AcqRel);
                batch.acks.push(tx);
            }
            Msg::Stop(s) => batch.stop = Some(s),
        }
    }

    /// Adds to the batch: in `async` mode until the flush interval has passed since the
    /// batch began; in `sync` mode, or once the batch holds an acknowledgement (a
    /// revocation in `async` mode), whatever is queued right now (group commit: everything
    /// that arrived during the previous fsync shares the next one). At shutdown, everything.
    /// Ends with the lanes drained.
    fn gather(&self, batch: &mut Batch) {
        let deadline = Instant::now() + self.config.flush_interval;
        while batch.mutations.len() < MAX_BATCH {
            let now_only = batch.stop.is_some()
                || self.config.durability == Durability::Sync
                || !batch.acks.is_empty();
            let msg = if now_only {
                match self.rx.try_recv() {
                    Ok(m) => m,
                    Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
                }
            } else {
                match self.rx.recv_deadline(deadline) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            self.take(msg, batch);
        }
        self.drain_lanes(batch);
    }

    /// While a batch keeps failing, requests waiting for an acknowledgement must not wait
    /// for the store to come back: their acknowledgements are answered with the error at once
    /// (503 for the client), and their changes join the failing batch, in order, to be
    /// written when the store returns. Like every change in a batch they keep holding their
    /// queue room until written, so the queue still bounds what waits in memory.
    fn refuse_waiting(&self, batch: &mut Batch, error: &StoreError) {
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Ack { room, tx } => {
                    // The changes it acknowledges, fresh ones included, join the batch first.
                    self.drain_lanes(batch);
                    self.rooms[room].used.fetch_sub(1, Ordering::AcqRel);
                    let _ = tx.send(Err(error.clone()));
                }
                other => self.take(other, batch),
            }
        }
        self.drain_lanes(batch);
    }

    /// The written (or abandoned) batch's changes give their queue room back (one change is
    /// one mutation).
    fn release(&self, batch: &mut Batch) {
        for (room, held) in batch.held.iter_mut().enumerate() {
            if *held > 0 {
                self.rooms[room].used.fetch_sub(*held, Ordering::AcqRel);
                *held = 0;
            }
        }
        batch.mutations.clear();
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
                    self.release(batch);
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
                            lost = batch.mutations.len()
                                + self.rx.len()
                                + self.lanes.iter().map(Receiver::len).sum::<usize>(),
                            "shutting down with the store still failing; unwritten changes are lost"
                        );
                        // They no longer wait for the store: the queue's figures say so.
                        self.release(batch);
                        self.stats.write_began_ms.store(0, Ordering::Relaxed);
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
            lanes: 0,
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

    /// A writer with `lanes` lanes, each [`MIN_LANE_ROOM`] of room (and as much shared).
    fn with_lanes(store: Arc<dyn Store>, symbols: &Arc<Symbols>, cfg: WriterConfig) -> WriteBehind {
        let w = WriteBehind::start(store, Arc::clone(symbols), cfg).expect("start");
        assert_eq!(
            w.lanes(),
            cfg.lanes,
            "queue_capacity too small for the lanes asked"
        );
        w
    }

    fn lanes_config(durability: Durability, lanes: usize) -> WriterConfig {
        WriterConfig {
            lanes,
            ..config(durability, MIN_LANE_ROOM * (lanes + 1))
        }
    }

    /// Runs `f` on a new thread named as worker `lane`.
    fn on_lane<'scope, T: Send + 'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        lane: usize,
        f: impl FnOnce() -> T + Send + 'scope,
    ) -> std::thread::ScopedJoinHandle<'scope, T> {
        scope.spawn(move || {
            set_thread_lane(lane);
            f()
        })
    }

    #[test]
    fn a_token_revoked_on_another_worker_right_after_its_issue_stays_deleted_in_the_store() {
        const ROUNDS: u32 = 5_000;
        let store = Arc::new(MemoryStore::new());
        let symbols = Arc::new(Symbols::default());
        let cfg = WriterConfig {
            flush_interval: Duration::from_micros(200),
            ..lanes_config(Durability::Async, 2)
        };
        let w = with_lanes(store.clone(), &symbols, cfg);
        let key = |i: u32| TokenKey::of(&i.to_le_bytes());
        // How many keys worker 0 has pushed; worker 1 deletes each once it is counted here
        // (a client revoking the token the moment its response arrives).
        let issued = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            on_lane(scope, 0, || {
                for i in 0..ROUNDS {
                    let mut p = loop {
                        if let Ok(p) = w.reserve(1) {
                            break p;
                        }
                        std::thread::yield_now();
                    };
                    p.push_fresh(Change::Put {
                        key: key(i),
                        record: record(&symbols),
                    });
                    drop(p);
                    issued.store(i as usize + 1, Ordering::Release);
                }
            });
            on_lane(scope, 1, || {
                for i in 0..ROUNDS {
                    while issued.load(Ordering::Acquire) <= i as usize {
                        std::hint::spin_loop();
                    }
                    let mut p = loop {
                        if let Ok(p) = w.reserve(1) {
                            break p;
                        }
                        std::thread::yield_now();
                    };
                    p.push(Change::Delete {
                        key: key(i),
                        issued_at: NOW,
                    });
                }
            });
        });
        w.shutdown(Duration::from_secs(10));
        let mut resurrected = Vec::new();
        store
            .scan_live(NOW, &mut |k, _| resurrected.push(k))
            .expect("scan");
        assert!(
            resurrected.is_empty(),
            "{} revoked tokens are back in the store",
            resurrected.len()
        );
        assert!(
            w.stats().batches.load(Ordering::Relaxed) > 1,
            "one batch: the race was never run"
        );
        assert_eq!(w.queue_depth(), 0);
    }

    #[test]
    fn a_sync_acknowledgement_is_written_after_the_same_workers_fresh_put() {
        let store = Arc::new(MemoryStore::new());
        let symbols = Arc::new(Symbols::default());
        let cfg = WriterConfig {
            // Keeps the flusher busy writing while the worker pushes the put and the ack.
            write_delay: Duration::from_millis(20),
            ..lanes_config(Durability::Sync, 1)
        };
        let w = with_lanes(store.clone(), &symbols, cfg);
        std::thread::scope(|scope| {
            on_lane(scope, 0, || {
                for i in 0..20u8 {
                    let key = TokenKey::of(&[i]);
                    let mut p = w.reserve(1).expect("room");
                    p.push_fresh(Change::Put {
                        key,
                        record: record(&symbols),
                    });
                    let ack = p.finish().expect("sync mode acknowledges");
                    assert_eq!(futures_executor_block_on(ack), Ok(Ok(())));
                    assert!(
                        store.get(&key, NOW).expect("get").is_some(),
                        "put {i} acknowledged before it was written"
                    );
                }
            });
        });
        w.shutdown(Duration::from_secs(5));
        assert_eq!(w.queue_depth(), 0);
    }

    #[test]
    fn a_full_lane_refuses_while_another_lane_and_the_shared_queue_still_accept() {
        let w = with_lanes(
            Arc::new(MemoryStore::new()),
            &Arc::new(Symbols::default()),
            lanes_config(Durability::Async, 2),
        );
        std::thread::scope(|scope| {
            let w = &w;
            let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
            let (full_tx, full_rx) = std::sync::mpsc::channel::<()>();
            let holder = on_lane(scope, 0, move || {
                let _held = w.reserve(MIN_LANE_ROOM).expect("the whole lane");
                assert_eq!(w.reserve(1).err(), Some(Backpressure), "lane 0 is full");
                full_tx.send(()).expect("tell");
                let _ = hold_rx.recv();
            });
            full_rx.recv().expect("lane 0 filled");
            let other = on_lane(scope, 1, move || w.reserve(1).map(|p| p.left))
                .join()
                .expect("lane 1");
            assert_eq!(other, Ok(1), "another worker's lane is not affected");
            assert!(w.reserve(1).is_ok(), "the shared queue is not affected");
            assert_eq!(w.queue_depth(), MIN_LANE_ROOM);
            hold_tx.send(()).expect("release");
            holder.join().expect("lane 0");
        });
        assert_eq!(w.queue_depth(), 0);
        w.shutdown(Duration::from_secs(5));
    }

    #[test]
    fn a_store_down_while_lanes_hold_puts_and_a_revocation_waits_loses_nothing_and_keeps_the_order()
    {
        const N: u32 = 200;
        let store = Arc::new(Flaky::default());
        store.down.store(true, Ordering::SeqCst);
        let symbols = Arc::new(Symbols::default());
        let cfg = WriterConfig {
            flush_interval: Duration::from_millis(1),
            ..lanes_config(Durability::Async, 2)
        };
        let w = with_lanes(store.clone(), &symbols, cfg);
        let key = |i: u32| TokenKey::of(&i.to_le_bytes());
        std::thread::scope(|scope| {
            let w = &w;
            let symbols = &symbols;
            on_lane(scope, 0, move || {
                for i in 0..N {
                    let mut p = w.reserve(1).expect("room in lane 0");
                    p.push_fresh(Change::Put {
                        key: key(i),
                        record: record(symbols),
                    });
                }
            })
            .join()
            .expect("lane 0");
            // Another worker revokes the first token while the store is still down: the
            // revocation is refused (503), its delete stays queued behind the puts.
            let outcome = on_lane(scope, 1, move || {
                let mut p = w.reserve(1).expect("room");
                p.push(Change::Delete {
                    key: key(0),
                    issued_at: NOW,
                });
                p.require_durable();
                let ack = p.finish().expect("acknowledged");
                futures_executor_block_on(ack)
            })
            .join()
            .expect("lane 1");
            assert!(matches!(outcome, Ok(Err(_))), "{outcome:?}");
        });
        assert!(w.queue_depth() > 0, "accepted changes keep their room");
        store.down.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(10);
        while w.queue_depth() > 0 {
            assert!(Instant::now() < deadline, "never written after the outage");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            store.get(&key(0), NOW).expect("get").is_none(),
            "the revoked token came back"
        );
        for i in 1..N {
            assert!(
                store.get(&key(i), NOW).expect("get").is_some(),
                "put {i} lost"
            );
        }
        w.shutdown(Duration::from_secs(5));
    }

    #[test]
    fn shutdown_drains_every_lane_and_the_shared_queue() {
        let store = Arc::new(MemoryStore::new());
        let symbols = Arc::new(Symbols::default());
        let cfg = WriterConfig {
            // Only shutdown makes the flusher write what the lanes hold.
            flush_interval: Duration::from_secs(30),
            ..lanes_config(Durability::Async, 3)
        };
        let w = with_lanes(store.clone(), &symbols, cfg);
        const EACH: u32 = 300;
        std::thread::scope(|scope| {
            for lane in 0..3u32 {
                let (w, symbols) = (&w, &symbols);
                on_lane(scope, lane as usize, move || {
                    for i in 0..EACH {
                        let mut p = w.reserve(1).expect("room");
                        p.push_fresh(Change::Put {
                            key: TokenKey::of(&(lane * EACH + i).to_le_bytes()),
                            record: record(symbols),
                        });
                    }
                });
            }
        });
        for i in 3 * EACH..4 * EACH {
            let mut p = w.reserve(1).expect("room");
            p.push(Change::Put {
                key: TokenKey::of(&i.to_le_bytes()),
                record: record(&symbols),
            });
        }
        w.shutdown(Duration::from_secs(10));
        assert_eq!(
            store.scan_live(NOW, &mut |_, _| {}).expect("scan"),
            u64::from(4 * EACH)
        );
        assert_eq!(w.queue_depth(), 0);
    }

    #[test]
    fn a_queue_too_small_for_lanes_gives_fewer_lanes_and_never_more_room_than_configured() {
        assert_eq!(split(8, 4), (0, 8));
        assert_eq!(split(2 * MIN_LANE_ROOM, 4), (1, MIN_LANE_ROOM));
        assert_eq!(split(65_536, 2), (2, 21_845));
        for (capacity, wanted) in [(8, 2), (1_000, 3), (5_000, 8), (65_536, 64)] {
            let (lanes, room) = split(capacity, wanted);
            assert!(lanes <= wanted);
            assert!(lanes == 0 || room >= MIN_LANE_ROOM, "{capacity}/{wanted}");
            let shared = capacity - room * lanes;
            assert!(shared >= room.min(capacity), "{capacity}/{wanted}");
        }
        // A worker whose index has no lane uses the shared queue's room.
        let w = WriteBehind::start(
            Arc::new(MemoryStore::new()),
            Arc::new(Symbols::default()),
            WriterConfig {
                lanes: 4,
                ..config(Durability::Async, 8)
            },
        )
        .expect("start");
        assert_eq!(w.lanes(), 0);
        std::thread::scope(|scope| {
            let w = &w;
            let got = on_lane(scope, 3, move || {
                let _all = w.reserve(8).expect("the whole queue");
                w.reserve(1).err()
            })
            .join()
            .expect("worker");
            assert_eq!(got, Some(Backpressure));
        });
        w.shutdown(Duration::from_secs(5));
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
