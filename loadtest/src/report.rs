//! The run's summary: the text printed at the end and the JSON report (`--json`).

use crate::plan::{Op, Plan};
use crate::run::Outcome;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::fmt::Write;
use std::time::UNIX_EPOCH;

#[derive(Debug, Serialize)]
pub struct Summary {
    pub label: String,
    pub scenario: &'static str,
    /// "closed" or "open".
    pub mode: &'static str,
    pub url: String,
    pub connections: usize,
    pub threads: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// Open loop: the scheduled rate.
    pub target_rate: Option<f64>,
    /// Measured requests, good or bad.
    pub requests: u64,
    pub ok: u64,
    pub errors: Errors,
    /// Successful requests per second of the measured phase.
    pub throughput: f64,
    pub latency_us: Latency,
    /// Authorization-code scenario: requests per second (two per iteration) and each
    /// request's own latency; `throughput` and `latency_us` are per iteration.
    pub code_flow: Option<CodeFlow>,
    /// Open loop: requests that went out late because the server had not answered the
    /// previous one (their latency includes the wait).
    pub late_sends: u64,
    /// The run ended before `--duration`: a revoke pool or the `--lines` file ran out, or
    /// `--requests` were done.
    pub stopped_early: bool,
    /// Scenarios fed from a file: how many of its lines were sent (the check before the
    /// load included) and how many it has.
    pub lines: Option<LinesUsed>,
    /// Mixed scenario: successful requests by operation.
    pub ok_by_operation: Vec<(String, u64)>,
    pub mix: Option<String>,
    pub started_unix: u64,
    pub first_error: Option<String>,
    /// `--prefill`: the tokens issued before the warm-up and how long that took.
    pub prefill: Option<PrefillReport>,
    /// `--server-pid`: the server's CPU over the measured phase.
    pub server_cpu: Option<ServerCpu>,
    /// Per second of the measured phase: requests and latency percentiles (µs).
    pub timeline: Vec<Second>,
}

#[derive(Debug, Serialize)]
pub struct PrefillReport {
    pub tokens: usize,
    pub seconds: f64,
    pub tokens_per_s: f64,
}

#[derive(Debug, Serialize)]
pub struct ServerCpu {
    pub pid: u32,
    /// User + system seconds over the measured phase.
    pub seconds: f64,
    /// Of one core, over the measured phase's wall time.
    pub percent: f64,
    /// CPU µs per successful request.
    pub us_per_request: f64,
}

#[derive(Debug, Serialize)]
pub struct LinesUsed {
    pub used: usize,
    pub total: usize,
}

#[derive(Debug, Serialize)]
pub struct Errors {
    pub total: u64,
    /// Answers by status outside 2xx.
    pub by_status: Vec<(u16, u64)>,
    pub wrong_body: u64,
    pub broken_connections: u64,
    pub connect_failed: u64,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Serialize)]
pub struct CodeFlow {
    /// HTTP requests per second: both requests of each successful iteration.
    pub requests_per_s: f64,
    /// Whether each token response had to carry an `id_token` (`openid` in `--scope`).
    pub id_token: bool,
    /// The authorize GET (login, code minted and stored, redirect).
    pub authorize_us: Latency,
    /// The token POST (client authentication, code redeemed, tokens issued).
    pub token_us: Latency,
}

#[derive(Debug, Serialize)]
pub struct Second {
    pub second: usize,
    pub requests: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Latency {
        let us = |ns: u64| ns as f64 / 1_000.0;
        let q = |quantile: f64| {
            if h.is_empty() {
                0.0
            } else {
                us(h.value_at_quantile(quantile))
            }
        };
        Latency {
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: us(h.max()),
            mean: if h.is_empty() {
                0.0
            } else {
                h.mean() / 1_000.0
            },
        }
    }

    fn text(&self) -> String {
        format!(
            "p50 {} · p90 {} · p99 {} · p99.9 {} · max {}",
            fmt_us(self.p50),
            fmt_us(self.p90),
            fmt_us(self.p99),
            fmt_us(self.p999),
            fmt_us(self.max)
        )
    }
}

impl Summary {
    pub fn new(plan: &Plan, outcome: &Outcome) -> Summary {
        let s = &outcome.stats;
        let h = &s.latency_ns;
        let by_status = s
            .by_status
            .iter()
            .enumerate()
            .filter(|(status, n)| **n > 0 && !(200..300).contains(status))
            .map(|(status, n)| (status as u16, *n))
            .collect();
        let measured = outcome.measured.as_secs_f64();
        let code_flow = (plan.scenario.op() == Some(Op::AuthorizationCode)).then(|| CodeFlow {
            requests_per_s: 2.0 * s.ok() as f64 / measured,
            id_token: plan.expects_id_token(),
            authorize_us: Latency::of(&s.steps_ns[0]),
            token_us: Latency::of(&s.steps_ns[1]),
        });
        let full_seconds = measured.floor() as usize;
        Summary {
            label: plan.label.clone(),
            scenario: plan.scenario.name(),
            mode: if plan.rate.is_some() {
                "open"
            } else {
                "closed"
            },
            url: plan.url.clone(),
            connections: plan.connections,
            threads: plan.threads,
            warmup_s: plan.warmup.as_secs_f64(),
            duration_s: measured,
            target_rate: plan.rate,
            requests: s.requests(),
            ok: s.ok(),
            errors: Errors {
                total: s.errors_total(),
                by_status,
                wrong_body: s.wrong_body,
                broken_connections: s.broken,
                connect_failed: s.connect_failed,
            },
            throughput: s.ok() as f64 / measured,
            latency_us: Latency::of(h),
            code_flow,
            late_sends: s.late,
            stopped_early: outcome.exhausted,
            lines: outcome.lines.map(|(used, total)| LinesUsed { used, total }),
            ok_by_operation: Op::ALL
                .into_iter()
                .filter(|op| s.ok_of(*op) > 0)
                .map(|op| (op.name().to_string(), s.ok_of(op)))
                .collect(),
            mix: plan.scenario.op().is_none().then(|| plan.mix.to_string()),
            started_unix: outcome
                .started
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            first_error: s.first_error.clone(),
            prefill: outcome.prefill.map(|p| PrefillReport {
                tokens: p.tokens,
                seconds: p.seconds,
                tokens_per_s: p.tokens as f64 / p.seconds.max(1e-9),
            }),
            server_cpu: plan
                .server_pid
                .zip(outcome.server_cpu)
                .map(|(pid, (seconds, wall))| ServerCpu {
                    pid,
                    seconds,
                    percent: 100.0 * seconds / wall.as_secs_f64().max(1e-9),
                    us_per_request: 1e6 * seconds / (s.ok().max(1) as f64),
                }),
            timeline: s
                .timeline_us
                .iter()
                .take(full_seconds.max(1))
                .enumerate()
                .map(|(second, h)| Second {
                    second,
                    requests: h.len(),
                    p50_us: if h.is_empty() {
                        0
                    } else {
                        h.value_at_quantile(0.5)
                    },
                    p99_us: if h.is_empty() {
                        0
                    } else {
                        h.value_at_quantile(0.99)
                    },
                    max_us: h.max(),
                })
                .collect(),
        }
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    pub fn text(&self) -> String {
        let mut t = String::new();
        let label = if self.label.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.label)
        };
        let mode = match self.target_rate {
            Some(rate) => format!("open loop at {rate:.0} req/s"),
            None => "closed loop".to_string(),
        };
        let _ = writeln!(
            t,
            "{label}{} — {mode}, {} connections, {} thread(s), {:.1} s measured after {:.1} s warm-up",
            self.scenario, self.connections, self.threads, self.duration_s, self.warmup_s
        );
        if let Some(mix) = &self.mix {
            let _ = writeln!(t, "  mix        {mix}");
        }
        let _ = writeln!(
            t,
            "  requests   {}   ok {}   errors {}",
            self.requests, self.ok, self.errors.total
        );
        if self.errors.total > 0 {
            let statuses: Vec<String> = self
                .errors
                .by_status
                .iter()
                .map(|(status, n)| format!("{status}×{n}"))
                .collect();
            let _ = writeln!(
                t,
                "  errors     status [{}]  wrong body {}  broken {}  connect {}",
                statuses.join(" "),
                self.errors.wrong_body,
                self.errors.broken_connections,
                self.errors.connect_failed
            );
            if let Some(first) = &self.first_error {
                let _ = writeln!(
                    t,
                    "  first      {}",
                    first.chars().take(300).collect::<String>()
                );
            }
        }
        match &self.code_flow {
            None => {
                let _ = writeln!(t, "  throughput {:.0} req/s", self.throughput);
                let _ = writeln!(t, "  latency    {}", self.latency_us.text());
            }
            Some(c) => {
                let _ = writeln!(
                    t,
                    "  throughput {:.0} iterations/s ({} each), {:.0} req/s",
                    self.throughput,
                    if c.id_token {
                        "an access token and an ID token"
                    } else {
                        "an access token"
                    },
                    c.requests_per_s
                );
                let _ = writeln!(t, "  iteration  {}", self.latency_us.text());
                let _ = writeln!(t, "  authorize  {}", c.authorize_us.text());
                let _ = writeln!(t, "  token      {}", c.token_us.text());
            }
        }
        if self.target_rate.is_some() {
            let _ = writeln!(t, "  late sends {}", self.late_sends);
        }
        if let Some(p) = &self.prefill {
            let _ = writeln!(
                t,
                "  prefill    {} tokens in {:.1} s ({:.0} tokens/s), before the warm-up",
                p.tokens, p.seconds, p.tokens_per_s
            );
        }
        if let Some(c) = &self.server_cpu {
            let _ = writeln!(
                t,
                "  server CPU {:.2} s ({:.0} % of a core), {:.2} µs per request (pid {})",
                c.seconds, c.percent, c.us_per_request, c.pid
            );
        }
        if let Some(lines) = &self.lines {
            let _ = writeln!(
                t,
                "  lines      {} of {} sent (one before the load, as a check)",
                lines.used, lines.total
            );
        }
        if self.stopped_early {
            let why = if self.lines.is_some() {
                "the --lines file ran out"
            } else {
                "--requests were done or the revoke pool ran out"
            };
            let _ = writeln!(t, "  note       stopped early: {why}");
        }
        if self.ok_by_operation.len() > 1 {
            let ops: Vec<String> = self
                .ok_by_operation
                .iter()
                .map(|(name, n)| format!("{name} {n}"))
                .collect();
            let _ = writeln!(t, "  by op      {}", ops.join(" · "));
        }
        t
    }
}

fn fmt_us(us: f64) -> String {
    if us >= 1_000.0 {
        format!("{:.2} ms", us / 1_000.0)
    } else {
        format!("{us:.0} µs")
    }
}
