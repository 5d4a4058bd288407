//! What one load thread saw, and the merge of all threads: the latency histogram
//! (HdrHistogram, nanoseconds), a per-second timeline for the chart, answers by status,
//! and failures by kind. Recording a request allocates nothing.

use crate::plan::Op;
use hdrhistogram::Histogram;

/// Latencies from 1 µs to 60 s, three significant digits.
const LOW_NS: u64 = 1_000;
const HIGH_NS: u64 = 60_000_000_000;
/// Per-second timeline: microseconds, two significant digits (it only feeds the chart).
const TIMELINE_HIGH_US: u64 = 60_000_000;

#[derive(Debug, Clone)]
pub struct Stats {
    pub latency_ns: Histogram<u64>,
    /// Authorization-code iterations that got as far as the code exchange: the latency of
    /// each of their two requests from its own send, `[authorize GET, token POST]`
    /// (`latency_ns` has the whole iteration).
    pub steps_ns: [Histogram<u64>; 2],
    /// One histogram (µs) per second of the measured phase.
    pub timeline_us: Vec<Histogram<u64>>,
    /// Answers by HTTP status (index = status), correct or not.
    pub by_status: Vec<u64>,
    /// 2xx answers whose body was not what the operation must return.
    pub wrong_body: u64,
    /// Exchanges that broke (reset, closed early, unparsable).
    pub broken: u64,
    /// Failed connection attempts.
    pub connect_failed: u64,
    /// Successful answers by operation.
    pub ok_by_op: [u64; Op::COUNT],
    /// Open loop: requests sent after their intended time because the connection was still
    /// waiting for the previous answer (their latency counts from the intended time).
    pub late: u64,
    pub first_error: Option<String>,
}

impl Stats {
    pub fn new(seconds: usize) -> Stats {
        let timeline = (0..seconds.max(1)).map(|_| timeline_histogram()).collect();
        Stats {
            latency_ns: latency_histogram(),
            steps_ns: [latency_histogram(), latency_histogram()],
            timeline_us: timeline,
            by_status: vec![0; 600],
            wrong_body: 0,
            broken: 0,
            connect_failed: 0,
            ok_by_op: [0; Op::COUNT],
            late: 0,
            first_error: None,
        }
    }

    /// Records a finished exchange that started `second` whole seconds into the measured
    /// phase and took `ns`.
    pub fn record_latency(&mut self, second: usize, ns: u64) {
        self.latency_ns.saturating_record(ns.clamp(LOW_NS, HIGH_NS));
        if let Some(h) = self.timeline_us.get_mut(second) {
            h.saturating_record((ns / 1_000).clamp(1, TIMELINE_HIGH_US));
        }
    }

    /// Records the two requests of a code-flow iteration (see `steps_ns`).
    pub fn record_steps(&mut self, authorize_ns: u64, token_ns: u64) {
        for (h, ns) in self.steps_ns.iter_mut().zip([authorize_ns, token_ns]) {
            h.saturating_record(ns.clamp(LOW_NS, HIGH_NS));
        }
    }

    pub fn record_status(&mut self, status: u16) {
        if let Some(n) = self.by_status.get_mut(usize::from(status)) {
            *n += 1;
        }
    }

    pub fn note_error(&mut self, what: impl FnOnce() -> String) {
        if self.first_error.is_none() {
            self.first_error = Some(what());
        }
    }

    pub fn ok(&self) -> u64 {
        self.ok_by_op.iter().sum()
    }

    pub fn non_2xx(&self) -> u64 {
        self.by_status
            .iter()
            .enumerate()
            .filter(|(status, _)| !(200..300).contains(status))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn errors_total(&self) -> u64 {
        self.non_2xx() + self.wrong_body + self.broken + self.connect_failed
    }

    /// Measured requests: every recorded exchange, good or bad.
    pub fn requests(&self) -> u64 {
        self.latency_ns.len()
    }

    pub fn merge(&mut self, other: &Stats) {
        // Same bounds on both sides: addition cannot fail.
        let _ = self.latency_ns.add(&other.latency_ns);
        for (mine, theirs) in self.steps_ns.iter_mut().zip(&other.steps_ns) {
            let _ = mine.add(theirs);
        }
        for (mine, theirs) in self.timeline_us.iter_mut().zip(&other.timeline_us) {
            let _ = mine.add(theirs);
        }
        for (mine, theirs) in self.by_status.iter_mut().zip(&other.by_status) {
            *mine += theirs;
        }
        for (mine, theirs) in self.ok_by_op.iter_mut().zip(&other.ok_by_op) {
            *mine += theirs;
        }
        self.wrong_body += other.wrong_body;
        self.broken += other.broken;
        self.connect_failed += other.connect_failed;
        self.late += other.late;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }

    pub fn ok_of(&self, op: Op) -> u64 {
        self.ok_by_op[op.index()]
    }
}

fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOW_NS, HIGH_NS, 3).expect("constant histogram bounds are valid")
}

fn timeline_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, TIMELINE_HIGH_US, 2).expect("constant histogram bounds are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_2xx_answers_are_errors_never_successes() {
        let mut s = Stats::new(1);
        s.record_status(200);
        s.record_status(201);
        s.record_status(401);
        s.record_status(503);
        s.ok_by_op[Op::Tokeninfo.index()] += 2;
        assert_eq!(s.non_2xx(), 2);
        assert_eq!(s.errors_total(), 2);
        assert_eq!(s.ok(), 2);
    }

    #[test]
    fn merge_adds_histograms_counts_and_timelines() {
        let mut a = Stats::new(2);
        let mut b = Stats::new(2);
        a.record_latency(0, 50_000);
        b.record_latency(1, 2_000_000);
        b.record_steps(20_000, 30_000);
        b.broken += 1;
        b.note_error(|| "reset".into());
        a.merge(&b);
        assert_eq!(a.steps_ns[0].len(), 1);
        assert!(a.steps_ns[1].max() >= 29_900);
        assert_eq!(a.requests(), 2);
        assert_eq!(a.timeline_us[1].len(), 1);
        assert_eq!(a.broken, 1);
        assert_eq!(a.first_error.as_deref(), Some("reset"));
        assert!(a.latency_ns.max() >= 1_990_000);
    }
}
