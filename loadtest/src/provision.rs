//! Provisioning before the run: the `--prefill` tokens (N client_credentials tokens issued
//! to fill the server's table, of which only an evenly spread sample is kept, for the pool),
//! the access tokens that tokeninfo / introspect / revoke need and the refresh tokens of the
//! refresh chains, all obtained through the server's own API (client_credentials and
//! password grants); for the authorization-code scenario, the
//! server configuration it needs (`server_config`, `--print-server-config`) and one checked
//! iteration before the load starts; for the scenarios fed from a file, the file read into
//! memory and its first line sent as a check. Runs on the main thread, before load starts.

use crate::client::{find, json_str, Conn};
use crate::flow::code_iteration;
use crate::lines::Lines;
use crate::plan::{Op, Plan, Scenario};
use crate::scenario::{Encoder, Pkce};
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::rc::Rc;
use std::time::Instant;

/// What the load threads start from.
#[derive(Debug, Default)]
pub struct Assets {
    /// Access tokens (tokeninfo / introspect pool, or the tokens to revoke).
    pub access: Vec<Vec<u8>>,
    /// One refresh token per connection, for the refresh chains.
    pub refresh: Vec<Vec<u8>>,
    /// The `--lines` file of a scenario fed from a file, its first line already used.
    pub lines: Option<Lines>,
    /// What `--prefill` did, when asked.
    pub prefill: Option<Prefilled>,
}

/// The `--prefill` tokens issued before the run.
#[derive(Debug, Clone, Copy)]
pub struct Prefilled {
    pub tokens: usize,
    pub seconds: f64,
}

/// One batch of token requests: `count` answers over `connections` connections, keeping
/// the `field` of answers 0, `keep_every`, 2·`keep_every`, … up to `keep_max` of them.
struct Batch {
    count: usize,
    connections: usize,
    keep_every: usize,
    keep_max: usize,
    field: &'static [u8],
    /// The progress line's name for the batch; none with `--quiet`.
    progress: Option<&'static str>,
}

impl Batch {
    /// Every answer's token is kept.
    fn all(count: usize, field: &'static [u8], quiet: bool) -> Batch {
        Batch {
            count,
            connections: PROVISION_CONNECTIONS,
            keep_every: 1,
            keep_max: count,
            field,
            progress: (!quiet).then_some("provisioning"),
        }
    }
}

const PROVISION_CONNECTIONS: usize = 16;

/// The server configuration the authorization-code scenario needs, for the plan's client,
/// redirect URI, scopes and resource owner: Basic login at the authorize endpoint, a
/// client that skips consent (else every iteration would stop at the consent page) and may
/// use only the code grant (so each exchange issues one access token and no refresh
/// token), and the user with a plain `password`, which the server hashes with its fast
/// keyed hash (a `password_hash`, argon2, would make every login an argon2 check and the
/// scenario a measure of argon2).
pub fn server_config(plan: &Plan) -> String {
    // JSON strings are TOML basic strings (the same escapes).
    let q = |s: &str| serde_json::Value::from(s).to_string();
    let scopes: Vec<String> = plan
        .scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(q)
        .collect();
    format!(
        "[authorize]\n\
         allow_basic_login = true\n\
         \n\
         [[clients]]\n\
         id = {}\n\
         secret = {}\n\
         grant_types = [\"authorization_code\"]\n\
         scopes = [{}]\n\
         redirect_uris = [{}]\n\
         consent = \"skip\"\n\
         \n\
         [[users]]\n\
         username = {}\n\
         password = {}\n",
        q(&plan.client_id),
        q(&plan.client_secret),
        scopes.join(", "),
        q(&plan.redirect_uri),
        q(&plan.username),
        q(&plan.password),
    )
}

pub fn provision(plan: &Plan) -> Result<Assets, String> {
    let mut rt = crate::runtime::build().map_err(|e| format!("cannot start a runtime: {e}"))?;
    let enc = Encoder::new(plan);
    let (access_needed, refresh_needed) = needs(plan);
    if let (Some(op), Some(path)) = (
        plan.scenario.op().filter(|op| op.reads_lines()),
        &plan.lines,
    ) {
        let lines = Lines::load(path)?;
        rt.block_on(check_first_line(plan, op, &lines))?;
        let (prefill, _) = rt.block_on(prefill(plan, &enc, 0))?;
        return Ok(Assets {
            lines: Some(lines),
            prefill,
            ..Assets::default()
        });
    }
    let (prefill, mut access) = rt.block_on(prefill(plan, &enc, access_needed))?;
    let code_flow = match plan.scenario {
        Scenario::AuthorizationCode => true,
        Scenario::Mixed => plan.mix.weight(Op::AuthorizationCode) > 0,
        _ => false,
    };
    let access_missing = access_needed.saturating_sub(access.len());
    if access_missing == 0 && refresh_needed == 0 && !code_flow {
        return Ok(Assets {
            access,
            prefill,
            ..Assets::default()
        });
    }
    if code_flow {
        rt.block_on(check_code_flow(plan)).map_err(|e| {
            format!(
                "the authorization-code scenario's first iteration failed: {e}\n\
                 The server needs (tessera-loadtest --print-server-config):\n{}",
                server_config(plan)
            )
        })?;
    }
    let started = Instant::now();
    let quiet = plan.quiet;
    let addr = plan.addr;
    access.extend(rt.block_on(fetch(
        addr,
        enc.client_credentials(),
        Batch::all(access_missing, b"access_token", quiet),
    ))?);
    let refresh = rt.block_on(fetch(
        addr,
        enc.password(&plan.username, &plan.password),
        Batch::all(refresh_needed, b"refresh_token", quiet),
    ))?;
    if !quiet && access_missing + refresh_needed > 0 {
        eprintln!(
            "provisioned {access_missing} access and {} refresh tokens in {:.1} s",
            refresh.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(Assets {
        access,
        refresh,
        lines: None,
        prefill,
    })
}

/// Issues the `--prefill` tokens, if any; returns what was done and up to `sample` of the
/// tokens, spread evenly over the prefill (early and late tokens sit in differently grown
/// parts of the server's table). Only the sample is kept in memory.
async fn prefill(
    plan: &Plan,
    enc: &Encoder,
    sample: usize,
) -> Result<(Option<Prefilled>, Vec<Vec<u8>>), String> {
    if plan.prefill == 0 {
        return Ok((None, Vec::new()));
    }
    let started = Instant::now();
    let batch = Batch {
        count: plan.prefill,
        connections: plan.connections,
        keep_every: (plan.prefill / sample.max(1)).max(1),
        keep_max: sample,
        field: b"access_token",
        progress: (!plan.quiet).then_some("prefill"),
    };
    let kept = fetch(plan.addr, enc.client_credentials(), batch)
        .await
        .map_err(|e| format!("--prefill: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    // Printed even with --quiet: how long the table took to fill is part of the result.
    eprintln!(
        "prefilled {} tokens in {seconds:.1} s ({:.0} tokens/s)",
        plan.prefill,
        plan.prefill as f64 / seconds.max(1e-9)
    );
    let done = Prefilled {
        tokens: plan.prefill,
        seconds,
    };
    Ok((Some(done), kept))
}

/// (access tokens, refresh tokens) the plan needs.
fn needs(plan: &Plan) -> (usize, usize) {
    match plan.scenario {
        Scenario::Tokeninfo | Scenario::Introspect | Scenario::Revoke => (plan.pool, 0),
        Scenario::Refresh => (0, plan.connections),
        Scenario::Mixed => {
            let pool = if plan.mix.weight(Op::Tokeninfo) + plan.mix.weight(Op::Introspect) > 0 {
                plan.pool
            } else {
                0
            };
            let chains = if plan.mix.weight(Op::Refresh) > 0 {
                plan.connections
            } else {
                0
            };
            (pool, chains)
        }
        Scenario::Baseline
        | Scenario::ClientCredentials
        | Scenario::Password
        | Scenario::AuthorizationCode
        | Scenario::JwtBearer
        | Scenario::Saml2Bearer
        | Scenario::TokenBody => (0, 0),
    }
}

/// One code-flow iteration, checked as the load threads check it, so a server without the
/// configuration fails here with a reason instead of with a run full of errors.
async fn check_code_flow(plan: &Plan) -> Result<(), String> {
    let enc = Encoder::new(plan);
    let mut conn = Conn::connect(plan.addr)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", plan.addr))?;
    let pkce = Pkce::from_octets(&[7; 32]);
    let mut authorize = Vec::new();
    enc.authorize_into(&mut authorize, &pkce.challenge);
    let (it, _, _) = code_iteration(
        &mut conn,
        plan.addr,
        &enc,
        &pkce.verifier,
        authorize,
        Vec::new(),
    )
    .await;
    let answer = it.answer.map_err(|e| e.to_string())?;
    let body = conn.body(&answer);
    let step = if it.authorized.is_some() {
        "the token endpoint"
    } else {
        "the authorize endpoint"
    };
    let id_token_missing = plan.expects_id_token() && find(body, b"\"id_token\"").is_none();
    if answer.status != 200 || find(body, b"\"access_token\"").is_none() || id_token_missing {
        let location = conn
            .location(&answer)
            .map(|l| format!(" (Location: {})", String::from_utf8_lossy(l)))
            .unwrap_or_default();
        let body: String = String::from_utf8_lossy(body).chars().take(300).collect();
        return Err(format!(
            "{step} answered {}{location}: {body}",
            answer.status
        ));
    }
    Ok(())
}

/// Sends the file's first line, checked as the load threads check every answer, so a server
/// that refuses the grant (not configured, keys or issuer missing, assertions expired) fails
/// here with its own error instead of with a run full of errors.
async fn check_first_line(plan: &Plan, op: Op, lines: &Lines) -> Result<(), String> {
    let line = lines
        .take()
        .ok_or_else(|| "the --lines file is empty".to_string())?;
    let mut request = Vec::new();
    Encoder::new(plan).line_into(&mut request, op, line);
    let mut conn = Conn::connect(plan.addr)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", plan.addr))?;
    let (answer, _) = conn.exchange(request).await;
    let answer = answer.map_err(|e| e.to_string())?;
    let body = conn.body(&answer);
    if (200..300).contains(&answer.status) && op.expects().is_none_or(|w| find(body, w).is_some()) {
        return Ok(());
    }
    let body: String = String::from_utf8_lossy(body).chars().take(300).collect();
    Err(format!(
        "the {} check (the first line of {}) was answered {}: {body}",
        op.name(),
        plan.lines
            .as_ref()
            .map_or_else(String::new, |p| p.display().to_string()),
        answer.status
    ))
}

/// Sends `request` until `batch.count` answers carried the JSON member `batch.field`;
/// returns the tokens the batch keeps. Exactly `count` requests are sent: each connection
/// claims a request's index before sending it.
async fn fetch(
    addr: std::net::SocketAddr,
    request: Vec<u8>,
    batch: Batch,
) -> Result<Vec<Vec<u8>>, String> {
    if batch.count == 0 {
        return Ok(Vec::new());
    }
    let batch = Rc::new(batch);
    let claimed = Rc::new(Cell::new(0usize));
    let answered = Rc::new(Cell::new(0usize));
    let out = Rc::new(RefCell::new(Vec::with_capacity(
        batch.keep_max.min(batch.count),
    )));
    let request = Rc::new(request);
    let mut tasks = Vec::new();
    for _ in 0..batch.connections.min(batch.count) {
        let (out, request, batch) = (Rc::clone(&out), Rc::clone(&request), Rc::clone(&batch));
        let (claimed, answered) = (Rc::clone(&claimed), Rc::clone(&answered));
        tasks.push(monoio::spawn(async move {
            let mut conn = Conn::connect(addr)
                .await
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            loop {
                let index = claimed.get();
                if index >= batch.count {
                    return Ok::<(), String>(());
                }
                claimed.set(index + 1);
                let (answer, _) = conn.exchange(Rc::clone(&request)).await;
                let answer = answer.map_err(|e| e.to_string())?;
                let body = conn.body(&answer);
                if !(200..300).contains(&answer.status) {
                    return Err(format!(
                        "the server answered {}: {}",
                        answer.status,
                        String::from_utf8_lossy(body)
                    ));
                }
                let token = json_str(body, batch.field).ok_or_else(|| {
                    format!(
                        "the answer has no {}: {}",
                        String::from_utf8_lossy(batch.field),
                        String::from_utf8_lossy(body)
                    )
                })?;
                if index % batch.keep_every == 0 {
                    let mut out = out.borrow_mut();
                    if out.len() < batch.keep_max {
                        out.push(token.to_vec());
                    }
                }
                let done = answered.get() + 1;
                answered.set(done);
                if let Some(what) = batch.progress {
                    if done % 100_000 == 0 {
                        eprint!("\r{what}: {done} / {}", batch.count);
                        let _ = std::io::stderr().flush();
                    }
                }
                if answer.close {
                    conn = Conn::connect(addr)
                        .await
                        .map_err(|e| format!("cannot reconnect to {addr}: {e}"))?;
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    if batch.progress.is_some() && batch.count >= 100_000 {
        eprintln!();
    }
    Ok(Rc::try_unwrap(out)
        .map(RefCell::into_inner)
        .unwrap_or_default())
}
