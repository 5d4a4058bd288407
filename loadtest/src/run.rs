//! The load itself: `--threads` threads, each a single-threaded monoio runtime driving its
//! share of the connections, closed loop or open loop, and a progress line on the main
//! thread. Each connection keeps one request in flight; request buffers, the read buffer
//! and the statistics are reused, so the steady state allocates nothing.
//!
//! Open loop (`--rate`): connection `g` of `N` sends its k-th request at the intended time
//! `t0 + g/rate + k·N/rate`. If the previous answer is still outstanding at that moment the
//! request goes out late and its latency counts from the intended time, so a server stall
//! shows up as latency rather than as a politely slower load (coordinated omission). Waits
//! are spun rather than slept (see `wait_until`), so the schedule is exact to microseconds.

use crate::client::{json_str, Answer, ClientError, Conn};
use crate::flow::code_iteration;
use crate::plan::{Op, Plan, Scenario};
use crate::provision::{Assets, Prefilled};
use crate::scenario::{Encoder, Pkce};
use crate::stats::Stats;
use std::cell::RefCell;
use std::future::Future;
use std::io::{IsTerminal, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

/// The merged result of a run.
#[derive(Debug)]
pub struct Outcome {
    pub stats: Stats,
    /// Length of the measured phase: `--duration`, or less when a revoke pool ran out.
    pub measured: Duration,
    /// The run stopped before `--duration`: a revoke pool or the `--lines` file ran out, or
    /// `--requests` were done.
    pub exhausted: bool,
    /// Scenarios fed from a file: (lines sent, lines in the file), the check's included.
    pub lines: Option<(usize, usize)>,
    pub started: SystemTime,
    /// A load thread died; the numbers are incomplete.
    pub thread_failed: bool,
    /// `--server-pid`: the server's CPU seconds and the wall time over the measured phase.
    pub server_cpu: Option<(f64, Duration)>,
    /// What `--prefill` did before the run.
    pub prefill: Option<Prefilled>,
}

/// Per-thread counters the progress line reads.
#[derive(Debug, Default)]
struct Progress {
    done: AtomicU64,
    errors: AtomicU64,
}

/// Times shared by every thread.
#[derive(Debug, Clone, Copy)]
struct Clock {
    t0: Instant,
    measure_start: Instant,
    end: Instant,
}

pub fn run(plan: &Plan, assets: Assets) -> Outcome {
    let assets = Arc::new(assets);
    let seconds = plan.duration.as_secs_f64().ceil() as usize;
    let ready = Arc::new(Barrier::new(plan.threads + 1));
    let go = Arc::new(Barrier::new(plan.threads + 1));
    let clock = Arc::new(OnceLock::new());
    let progress: Vec<Arc<Progress>> = (0..plan.threads).map(|_| Arc::default()).collect();
    let exhausted = Arc::new(AtomicBool::new(false));
    let budget = Arc::new(AtomicU64::new(0));
    // Nanoseconds after t0 at which the last connection whose pool ran out stopped.
    let last_finish = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for thread in 0..plan.threads {
        let plan = plan.clone();
        let assets = Arc::clone(&assets);
        let (ready, go, clock) = (Arc::clone(&ready), Arc::clone(&go), Arc::clone(&clock));
        let progress = Arc::clone(&progress[thread]);
        let exhausted = Arc::clone(&exhausted);
        let last_finish = Arc::clone(&last_finish);
        let budget = Arc::clone(&budget);
        let spawned = std::thread::Builder::new()
            .name(format!("load-{thread}"))
            .spawn(move || {
                let mut rt = match crate::runtime::build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        eprintln!("tessera-loadtest: cannot start a runtime: {e}");
                        ready.wait();
                        go.wait();
                        return Stats::new(seconds);
                    }
                };
                let shared = Rc::new(ThreadShared::new(&plan, &assets, seconds, progress, budget));
                rt.block_on(thread_main(
                    shared,
                    thread,
                    ready,
                    go,
                    clock,
                    exhausted,
                    last_finish,
                ))
            });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                eprintln!("tessera-loadtest: cannot start a load thread: {e}");
                std::process::exit(1);
            }
        }
    }
    ready.wait();
    let t0 = Instant::now();
    let measure_start = t0 + plan.warmup;
    let end = measure_start + plan.duration;
    let _ = clock.set(Clock {
        t0,
        measure_start,
        end,
    });
    let started = SystemTime::now();
    let cpu_start = plan
        .server_pid
        .map(|pid| crate::server_cpu::StartSample::at(pid, measure_start));
    go.wait();
    show_progress(plan, &handles, &progress, t0, measure_start, end);

    let mut stats = Stats::new(seconds);
    let mut thread_failed = false;
    for h in handles {
        match h.join() {
            Ok(s) => stats.merge(&s),
            Err(_) => {
                eprintln!("tessera-loadtest: a load thread panicked");
                thread_failed = true;
            }
        }
    }
    // Right after the last answer: the server's CPU until now belongs to the measured phase.
    let server_cpu = cpu_start
        .zip(plan.server_pid)
        .and_then(|(s, pid)| s.until_now(pid));
    let exhausted = exhausted.load(Ordering::Relaxed);
    let measured = if exhausted {
        let finish_ns = last_finish.load(Ordering::Relaxed);
        let finish = t0 + Duration::from_nanos(finish_ns);
        finish
            .saturating_duration_since(measure_start)
            .min(plan.duration)
            .max(Duration::from_millis(1))
    } else {
        plan.duration
    };
    Outcome {
        stats,
        measured,
        exhausted,
        lines: assets.lines.as_ref().map(|l| (l.used(), l.len())),
        started,
        thread_failed,
        server_cpu,
        prefill: assets.prefill,
    }
}

fn show_progress(
    plan: &Plan,
    handles: &[std::thread::JoinHandle<Stats>],
    progress: &[Arc<Progress>],
    t0: Instant,
    measure_start: Instant,
    end: Instant,
) {
    let tty = std::io::stderr().is_terminal();
    let mut last_done = 0u64;
    let mut last_at = t0;
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(100));
        let now = Instant::now();
        if now.duration_since(last_at) < Duration::from_secs(1) && now < end {
            continue;
        }
        let done: u64 = progress
            .iter()
            .map(|p| p.done.load(Ordering::Relaxed))
            .sum();
        let errors: u64 = progress
            .iter()
            .map(|p| p.errors.load(Ordering::Relaxed))
            .sum();
        let rate = (done - last_done) as f64 / now.duration_since(last_at).as_secs_f64();
        last_done = done;
        last_at = now;
        if plan.quiet {
            continue;
        }
        let phase = if now < measure_start {
            "warm-up"
        } else if now < end {
            "measuring"
        } else {
            "finishing"
        };
        let line = format!(
            "[{:>5.1} s] {phase:<9} {:>9.0} req/s  {done:>10} done  {errors} errors",
            now.duration_since(t0).as_secs_f64(),
            rate
        );
        if tty {
            eprint!("\r{line}");
        } else {
            eprintln!("{line}");
        }
        let _ = std::io::stderr().flush();
    }
    if tty && !plan.quiet {
        eprintln!();
    }
}

/// What the connections of one thread share.
struct ThreadShared {
    plan: Plan,
    enc: Encoder,
    health: Vec<u8>,
    client_credentials: Vec<u8>,
    password: Vec<u8>,
    /// Code-flow token responses must carry an `id_token` (`openid` was asked for).
    id_token: bool,
    /// Pre-encoded tokeninfo / introspect requests, one per pool token.
    tokeninfo: Vec<Vec<u8>>,
    introspect: Vec<Vec<u8>>,
    assets: Arc<Assets>,
    stats: RefCell<Stats>,
    progress: Arc<Progress>,
    /// Requests started so far by every thread, against `--requests`.
    budget: Arc<AtomicU64>,
}

impl ThreadShared {
    fn new(
        plan: &Plan,
        assets: &Arc<Assets>,
        seconds: usize,
        progress: Arc<Progress>,
        budget: Arc<AtomicU64>,
    ) -> Self {
        let enc = Encoder::new(plan);
        let uses = |op: Op| match plan.scenario.op() {
            Some(o) => o == op,
            None => plan.mix.weight(op) > 0,
        };
        let pool_requests = |op: Op, f: &dyn Fn(&[u8]) -> Vec<u8>| -> Vec<Vec<u8>> {
            if uses(op) {
                assets.access.iter().map(|t| f(t)).collect()
            } else {
                Vec::new()
            }
        };
        ThreadShared {
            health: enc.health(),
            client_credentials: enc.client_credentials(),
            password: enc.password(&plan.username, &plan.password),
            id_token: plan.expects_id_token(),
            tokeninfo: pool_requests(Op::Tokeninfo, &|t| enc.tokeninfo(t)),
            introspect: pool_requests(Op::Introspect, &|t| enc.introspect(t)),
            enc,
            plan: plan.clone(),
            assets: Arc::clone(assets),
            stats: RefCell::new(Stats::new(seconds)),
            progress,
            budget,
        }
    }
}

async fn thread_main(
    shared: Rc<ThreadShared>,
    thread: usize,
    ready: Arc<Barrier>,
    go: Arc<Barrier>,
    clock: Arc<OnceLock<Clock>>,
    exhausted: Arc<AtomicBool>,
    last_finish: Arc<AtomicU64>,
) -> Stats {
    let plan = &shared.plan;
    // This thread's connections: every `threads`-th global index.
    let mine: Vec<usize> = (thread..plan.connections).step_by(plan.threads).collect();
    let mut conns = Vec::with_capacity(mine.len());
    for _ in &mine {
        conns.push(Conn::connect(plan.addr).await.ok());
    }
    ready.wait();
    go.wait();
    let Some(&clock) = clock.get() else {
        return shared.stats.borrow().clone();
    };
    let finished = |ran_out: bool| {
        if ran_out {
            exhausted.store(true, Ordering::Relaxed);
            let at = clock.t0.elapsed().as_nanos() as u64;
            last_finish.fetch_max(at, Ordering::Relaxed);
        }
    };
    let states: Vec<ConnState> = mine
        .into_iter()
        .zip(conns)
        .map(|(g, conn)| ConnState::new(Rc::clone(&shared), g, conn, clock))
        .collect();
    if plan.rate.is_some() {
        // Open loop: every connection is polled from this one task (see `PollAll`).
        let futures = states
            .into_iter()
            .map(|s| Box::pin(s.drive()) as Pin<Box<dyn Future<Output = bool>>>)
            .collect();
        // In a spawned task: the thread's main future is polled with a no-op waker, so a
        // self-wake there would never run it again.
        for ran_out in monoio::spawn(PollAll::new(futures)).await {
            finished(ran_out);
        }
    } else {
        let tasks: Vec<_> = states
            .into_iter()
            .map(|s| monoio::spawn(s.drive()))
            .collect();
        for t in tasks {
            finished(t.await);
        }
    }
    let stats = shared.stats.borrow().clone();
    stats
}

/// Slots for tokens a mixed-scenario connection issued and may revoke later.
const OWN_TOKENS: usize = 16;

struct ConnState {
    shared: Rc<ThreadShared>,
    /// Global connection index.
    g: usize,
    conn: Option<Conn>,
    clock: Clock,
    out: Vec<u8>,
    refresh: Vec<u8>,
    own: Vec<Vec<u8>>,
    own_len: usize,
    rng: u64,
    /// The PKCE pair of the current authorization-code iteration, and its token request.
    pkce: Pkce,
    token_out: Vec<u8>,
    cursor: usize,
    revoked: usize,
}

enum Next {
    Send(Op),
    /// Nothing left to send (revoke pool share, `--lines` file or `--requests` used up).
    Exhausted,
}

impl ConnState {
    fn new(shared: Rc<ThreadShared>, g: usize, conn: Option<Conn>, clock: Clock) -> Self {
        let refresh = shared.assets.refresh.get(g).cloned().unwrap_or_default();
        let pool = shared.tokeninfo.len().max(shared.introspect.len()).max(1);
        ConnState {
            g,
            conn,
            clock,
            out: Vec::with_capacity(512),
            refresh,
            own: (0..OWN_TOKENS).map(|_| Vec::with_capacity(64)).collect(),
            own_len: 0,
            // Distinct, non-zero xorshift seeds per connection, and per run (the code flow's
            // PKCE verifiers come from it; the server does not care, but a rerun against the
            // same server should not repeat them).
            rng: (0x9E37_79B9_7F4A_7C15
                ^ run_seed()
                ^ (g as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03))
                | 1,
            pkce: Pkce::from_octets(&[0; 32]),
            token_out: Vec::with_capacity(512),
            cursor: g * 7919 % pool,
            revoked: 0,
            shared,
        }
    }

    /// Runs the connection until the end of the run. Returns whether it ran out of tokens.
    async fn drive(mut self) -> bool {
        let shared = Rc::clone(&self.shared);
        let plan = &shared.plan;
        let clock = self.clock;
        let interval = plan
            .rate
            .map(|rate| Duration::from_secs_f64(plan.connections as f64 / rate));
        let mut intended = plan
            .rate
            .map(|rate| clock.t0 + Duration::from_secs_f64(self.g as f64 / rate));
        let mut prev_done = clock.t0;
        let give_up = clock.end + Duration::from_secs(10);
        loop {
            if let Some(at) = intended {
                if at >= clock.end {
                    return false;
                }
                wait_until(at).await;
            } else if Instant::now() >= clock.end {
                return false;
            }
            let op = match self.next_op() {
                Next::Send(op) => op,
                Next::Exhausted => return true,
            };
            if self.conn.is_none() {
                match Conn::connect(plan.addr).await {
                    Ok(c) => self.conn = Some(c),
                    Err(e) => {
                        if Instant::now() >= clock.measure_start {
                            let mut s = self.shared.stats.borrow_mut();
                            s.connect_failed += 1;
                            s.note_error(|| format!("connect {}: {e}", plan.addr));
                        }
                        self.shared.progress.errors.fetch_add(1, Ordering::Relaxed);
                        wait_until(Instant::now() + Duration::from_millis(10)).await;
                        if let (Some(at), Some(step)) = (intended.as_mut(), interval) {
                            *at += step;
                        }
                        continue;
                    }
                }
            }
            let Some(conn) = self.conn.as_mut() else {
                continue;
            };
            let sent = Instant::now();
            let out = std::mem::take(&mut self.out);
            let token_out = std::mem::take(&mut self.token_out);
            let left = give_up.saturating_duration_since(sent);
            let verifier = self.pkce.verifier;
            let exchange = async {
                if op == Op::AuthorizationCode {
                    let (it, out, token_out) =
                        code_iteration(conn, plan.addr, &shared.enc, &verifier, out, token_out)
                            .await;
                    (it.answer, it.authorized, out, token_out)
                } else {
                    let (result, out) = conn.exchange(out).await;
                    (result, None, out, token_out)
                }
            };
            let (result, authorized, out, token_out) =
                match monoio::time::timeout(left, exchange).await {
                    Ok(done) => done,
                    Err(_) => {
                        let mut s = self.shared.stats.borrow_mut();
                        s.broken += 1;
                        s.note_error(|| "no answer within 10 s after the end of the run".into());
                        return false;
                    }
                };
            self.out = out;
            self.token_out = token_out;
            let done = Instant::now();
            // Late because the previous answer was still outstanding: count from the
            // intended time. Late only because of timer slack: count from the send.
            let start = match intended {
                Some(at) if prev_done > at => at,
                _ => sent,
            };
            let late = matches!(intended, Some(at) if prev_done > at);
            prev_done = done;
            if let (Some(at), Some(step)) = (intended.as_mut(), interval) {
                *at += step;
            }
            let measured = start >= clock.measure_start && start < clock.end;
            if let (Some(at), true) = (authorized, measured) {
                self.shared
                    .stats
                    .borrow_mut()
                    .record_steps(nanos(at - sent), nanos(done - at));
            }
            self.settle(op, result, start, done, measured, late);
        }
    }

    /// Picks the next operation and writes its request into `self.out`.
    fn next_op(&mut self) -> Next {
        let shared = Rc::clone(&self.shared);
        if let Some(limit) = shared.plan.requests {
            if shared.budget.fetch_add(1, Ordering::Relaxed) >= limit {
                return Next::Exhausted;
            }
        }
        let mut op = match shared.plan.scenario.op() {
            Some(op) => op,
            None => {
                let n = (self.next_random() % u64::from(shared.plan.mix.total())) as u32;
                shared.plan.mix.pick(n)
            }
        };
        if op == Op::Revoke && shared.plan.scenario == Scenario::Mixed {
            if self.own_len == 0 {
                op = Op::ClientCredentials;
            } else {
                self.own_len -= 1;
                let token = std::mem::take(&mut self.own[self.own_len]);
                shared.enc.revoke_into(&mut self.out, &token);
                self.own[self.own_len] = token;
                return Next::Send(op);
            }
        }
        self.out.clear();
        match op {
            Op::Health => self.out.extend_from_slice(&shared.health),
            Op::ClientCredentials => self.out.extend_from_slice(&shared.client_credentials),
            Op::Password => self.out.extend_from_slice(&shared.password),
            Op::Tokeninfo => {
                self.cursor = (self.cursor + 1) % shared.tokeninfo.len().max(1);
                match shared.tokeninfo.get(self.cursor) {
                    Some(req) => self.out.extend_from_slice(req),
                    None => return Next::Exhausted,
                }
            }
            Op::Introspect => {
                self.cursor = (self.cursor + 1) % shared.introspect.len().max(1);
                match shared.introspect.get(self.cursor) {
                    Some(req) => self.out.extend_from_slice(req),
                    None => return Next::Exhausted,
                }
            }
            Op::Refresh => {
                let rt = std::mem::take(&mut self.refresh);
                shared.enc.refresh_into(&mut self.out, &rt);
                self.refresh = rt;
            }
            Op::AuthorizationCode => {
                // A fresh pair per iteration: 32 octets from the connection's generator,
                // one SHA-256 (well under a microsecond; the server spends tens of
                // microseconds on the iteration).
                let mut octets = [0u8; 32];
                for chunk in octets.chunks_exact_mut(8) {
                    chunk.copy_from_slice(&self.next_random().to_le_bytes());
                }
                self.pkce = Pkce::from_octets(&octets);
                shared
                    .enc
                    .authorize_into(&mut self.out, &self.pkce.challenge);
            }
            Op::JwtBearer | Op::Saml2Bearer | Op::TokenBody => {
                // The next unused line of the whole run (every thread takes from the same
                // cursor): an assertion is single-use server-wide.
                match shared.assets.lines.as_ref().and_then(|l| l.take()) {
                    Some(line) => shared.enc.line_into(&mut self.out, op, line),
                    None => return Next::Exhausted,
                }
            }
            Op::Revoke => {
                // Connection g revokes pool tokens g, g+N, g+2N, …, each once.
                let index = self.g + self.revoked * shared.plan.connections;
                self.revoked += 1;
                match shared.assets.access.get(index) {
                    Some(token) => shared.enc.revoke_into(&mut self.out, token),
                    None => return Next::Exhausted,
                }
            }
        }
        Next::Send(op)
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: plenty for picking operations by weight.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Checks the answer, updates chains and statistics.
    fn settle(
        &mut self,
        op: Op,
        result: Result<Answer, ClientError>,
        start: Instant,
        done: Instant,
        measured: bool,
        late: bool,
    ) {
        let shared = Rc::clone(&self.shared);
        let progress = &shared.progress;
        progress.done.fetch_add(1, Ordering::Relaxed);
        let answer = match result {
            Ok(a) => a,
            Err(e) => {
                self.conn = None;
                progress.errors.fetch_add(1, Ordering::Relaxed);
                if measured {
                    let mut s = shared.stats.borrow_mut();
                    s.broken += 1;
                    s.note_error(|| format!("{}: {e}", op.name()));
                    s.record_latency(self.second(start), nanos(done - start));
                }
                return;
            }
        };
        // Out of `self` while the body is borrowed, so the follow-up can update the chains.
        let conn = self.conn.take();
        let good = match conn.as_ref() {
            Some(conn) => {
                let body = conn.body(&answer);
                let success = (200..300).contains(&answer.status);
                let body_ok = op
                    .expects()
                    .is_none_or(|want| crate::client::find(body, want).is_some())
                    && !(op == Op::AuthorizationCode
                        && shared.id_token
                        && crate::client::find(body, b"\"id_token\"").is_none());
                if success && body_ok {
                    self.follow_up(op, body);
                } else if measured {
                    let text = String::from_utf8_lossy(body);
                    // A code-flow iteration that stopped at the authorize step: its redirect
                    // says why (an `error` parameter).
                    let location = conn
                        .location(&answer)
                        .map(|l| format!(" (Location: {})", String::from_utf8_lossy(l)))
                        .unwrap_or_default();
                    shared.stats.borrow_mut().note_error(|| {
                        format!(
                            "{} answered {}{location}: {}",
                            op.name(),
                            answer.status,
                            text
                        )
                    });
                }
                (success, body_ok)
            }
            None => (false, false),
        };
        if !answer.close {
            self.conn = conn;
        }
        if !(good.0 && good.1) {
            progress.errors.fetch_add(1, Ordering::Relaxed);
        }
        if measured {
            let mut s = shared.stats.borrow_mut();
            s.record_status(answer.status);
            match good {
                (true, true) => s.ok_by_op[op.index()] += 1,
                (true, false) => s.wrong_body += 1,
                _ => {}
            }
            if late {
                s.late += 1;
            }
            s.record_latency(self.second(start), nanos(done - start));
        }
    }

    /// Keeps what a successful answer hands on: a rotated refresh token, an issued token
    /// to revoke later.
    fn follow_up(&mut self, op: Op, body: &[u8]) {
        match op {
            Op::Refresh => {
                if let Some(rt) = json_str(body, b"refresh_token") {
                    self.refresh.clear();
                    self.refresh.extend_from_slice(rt);
                }
            }
            Op::ClientCredentials
                if self.shared.plan.scenario == Scenario::Mixed
                    && self.shared.plan.mix.weight(Op::Revoke) > 0
                    && self.own_len < OWN_TOKENS =>
            {
                if let Some(token) = json_str(body, b"access_token") {
                    let slot = &mut self.own[self.own_len];
                    slot.clear();
                    slot.extend_from_slice(token);
                    self.own_len += 1;
                }
            }
            _ => {}
        }
    }

    fn second(&self, start: Instant) -> usize {
        start
            .saturating_duration_since(self.clock.measure_start)
            .as_secs() as usize
    }
}

/// A per-run seed: the clock's nanoseconds.
fn run_seed() -> u64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Spins (yielding to the other tasks and the I/O driver) until `at`. Not the runtime's
/// timer: its 1 ms wheel would bunch the schedule into bursts, and it only fires when the
/// whole thread parks, which a busy open-loop thread never does. The load core runs hot in
/// open loop; that is the price of an exact schedule.
async fn wait_until(at: Instant) {
    while Instant::now() < at {
        YieldNow(false).await;
    }
}

/// Polls every connection future of an open-loop thread from one task.
///
/// Why not one task per connection: a monoio task that wakes itself is put back at the
/// *front* of the run queue, so a connection spinning towards its send time would starve
/// connections whose answers have arrived. With one task, every pass polls every
/// connection, and the runtime reaps I/O completions between passes.
struct PollAll<T> {
    futures: Vec<Option<Pin<Box<dyn Future<Output = T>>>>>,
    results: Vec<Option<T>>,
}

impl<T> PollAll<T> {
    fn new(futures: Vec<Pin<Box<dyn Future<Output = T>>>>) -> Self {
        let results = futures.iter().map(|_| None).collect();
        PollAll {
            futures: futures.into_iter().map(Some).collect(),
            results,
        }
    }
}

impl<T: Unpin> Future for PollAll<T> {
    type Output = Vec<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<T>> {
        let this = self.get_mut();
        let mut pending = false;
        for (slot, result) in this.futures.iter_mut().zip(this.results.iter_mut()) {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *result = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(this.results.iter_mut().filter_map(Option::take).collect())
        }
    }
}

/// Gives the other tasks and the I/O driver a turn.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
