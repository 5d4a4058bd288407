//! The command line (`Args`) and its checking into a run plan (`Plan::from_args`; the plan
//! types live in `plan`). Nothing here does I/O except resolving the target host name once.

use crate::plan::{Mix, Paths, Plan, Scenario};
use clap::Parser;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::time::Duration;

/// Load generator for Tessera's OAuth endpoints.
///
/// Closed loop (default): every connection sends its next request as soon as the previous
/// answer arrived. Open loop (`--rate`): requests are scheduled at a constant total rate and
/// latency is measured from each request's intended send time, so a stalled server shows up
/// in the percentiles instead of slowing the load down (no coordinated omission).
///
/// The jwt-bearer, saml2-bearer and token-body scenarios send one line of `--lines` per
/// request, each once (assertions are single-use); the run stops when the file runs out.
/// `tessera-loadtest gen-keys --help` and `tessera-loadtest gen-assertions --help` make the
/// keys and the assertions.
#[derive(Debug, Parser)]
#[command(name = "tessera-loadtest", version)]
pub struct Args {
    /// Base URL of the server, e.g. http://127.0.0.1:8080 (plain HTTP only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// baseline | client-credentials | password | tokeninfo | introspect | refresh | revoke |
    /// authorization-code | jwt-bearer | saml2-bearer | token-body | mixed
    #[arg(long, default_value = "client-credentials")]
    pub scenario: Scenario,
    /// Open connections (keep-alive, one request in flight each).
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Load threads, each a single-threaded runtime owning its share of the connections.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Measured time: 10s, 500ms, 2m, or plain seconds.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load before the measurement starts, not recorded.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Open loop at this many requests per second in total (all threads and connections).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Stop after this many requests in total (warm-up included), e.g. to load a known
    /// number of tokens. The run ends early when they are done.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Mixed-scenario weights, e.g. tokeninfo=80,client-credentials=15,refresh=3,revoke=2.
    #[arg(
        long,
        default_value = "tokeninfo=80,client-credentials=15,refresh=3,revoke=2"
    )]
    pub mix: Mix,
    #[arg(long, default_value = "svc-a")]
    pub client_id: String,
    #[arg(long, default_value = "bench-secret")]
    pub client_secret: String,
    /// Send client credentials in the form body instead of the Authorization header.
    #[arg(long)]
    pub client_auth_in_body: bool,
    /// Send no client credentials (self-issued JWT bearer assertions: the assertion
    /// authenticates its client).
    #[arg(long, conflicts_with = "client_auth_in_body")]
    pub no_client_auth: bool,
    /// jwt-bearer / saml2-bearer: a file of assertions, one per line (a compact JWS, or a
    /// base64url SAML assertion); token-body: a file of whole form bodies for the token
    /// endpoint, one per line, sent as they are. Read into memory before the run; each line
    /// is sent once (one line checks the server before the load), and the run stops when
    /// the file runs out.
    #[arg(long)]
    pub lines: Option<PathBuf>,
    /// Resource owner for the password, refresh and authorization-code scenarios.
    #[arg(long, default_value = "bench")]
    pub username: String,
    #[arg(long, default_value = "bench-password")]
    pub password: String,
    /// `scope` parameter of token requests and of the authorization-code scenario's
    /// authorize requests (none when empty). With `openid` in it, every code exchange must
    /// also return an `id_token`.
    #[arg(long, default_value = "")]
    pub scope: String,
    /// `redirect_uri` of the authorization-code scenario: one the client has registered
    /// (the redirect is read, never followed).
    #[arg(long, default_value = "http://127.0.0.1/cb")]
    pub redirect_uri: String,
    /// Tokens provisioned before the run for tokeninfo / introspect (reused round-robin) and
    /// revoke (each revoked once; a connection whose share runs out stops). Default: 10000,
    /// or 400000 for revoke.
    #[arg(long)]
    pub pool: Option<usize>,
    #[arg(long, default_value = "/api/oauth/authorize")]
    pub authorize_path: String,
    #[arg(long, default_value = "/api/oauth/token")]
    pub token_path: String,
    #[arg(long, default_value = "/api/oauth/tokeninfo")]
    pub tokeninfo_path: String,
    #[arg(long, default_value = "/api/oauth/introspect")]
    pub introspect_path: String,
    #[arg(long, default_value = "/api/oauth/revoke")]
    pub revoke_path: String,
    #[arg(long, default_value = "/health")]
    pub health_path: String,
    /// Issue this many client_credentials tokens (the scenario's client and scope, closed
    /// loop on all --connections, as fast as the server answers) before the warm-up, so the
    /// run measures a server holding N more live tokens; prints how long it took. The
    /// tokeninfo / introspect / revoke pool is then drawn from these tokens, evenly spread
    /// over their issuance (the rest of the pool, if --pool is larger, as before).
    #[arg(long, default_value_t = 0)]
    pub prefill: u64,
    /// Report this process's CPU time (user + system, from /proc/PID/stat) over the
    /// measured phase, in total and per successful request: the server's cost per request,
    /// without the prefill, provisioning or warm-up. Linux only.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Write the JSON report here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the latency chart (SVG) here. Open-loop runs with --json get one next to the
    /// JSON file by default.
    #[arg(long)]
    pub chart: Option<PathBuf>,
    /// A label for the reports (e.g. "tessera" or "node-oidc-provider").
    #[arg(long, default_value = "")]
    pub label: String,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
    /// Print the server configuration the authorization-code scenario needs for these
    /// options (`[authorize]`, the client, the user) as TOML, and exit.
    #[arg(long)]
    pub print_server_config: bool,
}

impl Plan {
    /// Checks the command line into a plan; the `--url` host is resolved here, once.
    pub fn from_args(a: &Args) -> Result<Plan, String> {
        let rest = a
            .url
            .strip_prefix("http://")
            .ok_or_else(|| format!("--url {}: only http:// URLs are supported", a.url))?;
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            return Err(format!("--url {}: no host", a.url));
        }
        let with_port = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("--url {}: {e}", a.url))?
            .next()
            .ok_or_else(|| format!("--url {}: the host has no address", a.url))?;
        if a.connections == 0 {
            return Err("--connections must be at least 1".into());
        }
        if a.threads == 0 || a.threads > a.connections {
            return Err("--threads must be between 1 and --connections".into());
        }
        if a.duration.is_zero() {
            return Err("--duration must be more than zero".into());
        }
        if let Some(rate) = a.rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err("--rate must be a positive number of requests per second".into());
            }
        }
        let from_file = a.scenario.op().is_some_and(|op| op.reads_lines());
        if from_file && a.lines.is_none() {
            return Err(format!(
                "--scenario {} needs --lines FILE (one single-use line per request)",
                a.scenario.name()
            ));
        }
        if !from_file && a.lines.is_some() {
            return Err(format!(
                "--lines is for the jwt-bearer, saml2-bearer and token-body scenarios, not {}",
                a.scenario.name()
            ));
        }
        if a.scenario == Scenario::Mixed && a.mix.total() == 0 {
            return Err("--mix: the weights add up to zero".into());
        }
        let pool = a.pool.unwrap_or(match a.scenario {
            Scenario::Revoke => 400_000,
            _ => 10_000,
        });
        if pool == 0 {
            return Err("--pool must be at least 1".into());
        }
        if a.server_pid.is_some() && !std::path::Path::new("/proc/self/stat").exists() {
            return Err("--server-pid needs /proc (Linux)".into());
        }
        let prefill = usize::try_from(a.prefill)
            .map_err(|_| format!("--prefill {}: too many for this machine", a.prefill))?;
        let chart = a.chart.clone().or_else(|| match (a.rate, &a.json) {
            (Some(_), Some(json)) => Some(json.with_extension("svg")),
            _ => None,
        });
        Ok(Plan {
            url: a.url.clone(),
            addr,
            host: authority.to_string(),
            scenario: a.scenario,
            connections: a.connections,
            threads: a.threads,
            duration: a.duration,
            warmup: a.warmup,
            rate: a.rate,
            requests: a.requests,
            mix: a.mix.clone(),
            client_id: a.client_id.clone(),
            client_secret: a.client_secret.clone(),
            client_auth_in_body: a.client_auth_in_body,
            no_client_auth: a.no_client_auth,
            lines: a.lines.clone(),
            username: a.username.clone(),
            password: a.password.clone(),
            scope: a.scope.clone(),
            redirect_uri: a.redirect_uri.clone(),
            pool,
            prefill,
            server_pid: a.server_pid,
            paths: Paths {
                authorize: a.authorize_path.clone(),
                token: a.token_path.clone(),
                tokeninfo: a.tokeninfo_path.clone(),
                introspect: a.introspect_path.clone(),
                revoke: a.revoke_path.clone(),
                health: a.health_path.clone(),
            },
            json: a.json.clone(),
            chart,
            label: a.label.clone(),
            quiet: a.quiet,
        })
    }
}

/// `10s`, `250ms`, `2m`, `1.5` (seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (10s, 250ms, 2m)"))?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(format!("{s:?} is not a duration"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_ms_s_m_and_plain_seconds() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn basic_auth_form_encodes_id_and_secret_rfc6749_2_3_1() {
        let args = Args::parse_from([
            "tessera-loadtest",
            "--url",
            "http://127.0.0.1:1",
            "--client-id",
            "a b",
            "--client-secret",
            "p:w",
        ]);
        let plan = Plan::from_args(&args).expect("plan");
        // "a+b:p%3Aw"
        assert_eq!(plan.basic_auth(), "Basic YStiOnAlM0F3");
    }

    #[test]
    fn scenarios_fed_from_a_file_need_one_and_the_others_refuse_it() {
        let plan = |extra: &[&str]| {
            let mut argv = vec!["tessera-loadtest", "--url", "http://127.0.0.1:1"];
            argv.extend_from_slice(extra);
            Plan::from_args(&Args::parse_from(argv))
        };
        assert!(plan(&["--scenario", "jwt-bearer"]).is_err());
        assert!(plan(&["--scenario", "client-credentials", "--lines", "x"]).is_err());
        let p = plan(&["--scenario", "saml2-bearer", "--lines", "x"]).expect("plan");
        assert_eq!(p.lines, Some(PathBuf::from("x")));
        assert!(Args::try_parse_from([
            "tessera-loadtest",
            "--no-client-auth",
            "--client-auth-in-body"
        ])
        .is_err());
    }

    #[test]
    fn only_plain_http_urls_are_accepted() {
        let args = Args::parse_from(["tessera-loadtest", "--url", "https://127.0.0.1:1"]);
        assert!(Plan::from_args(&args).is_err());
    }
}
