//! Provisioning before the run: the access tokens that tokeninfo / introspect / revoke need
//! and the refresh tokens of the refresh chains, all obtained through the server's own API
//! (client_credentials and password grants). Runs on the main thread, before load starts.

use crate::client::{json_str, Conn};
use crate::plan::{Op, Plan, Scenario};
use crate::scenario::Encoder;
use std::cell::RefCell;
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
}

const PROVISION_CONNECTIONS: usize = 16;

pub fn provision(plan: &Plan) -> Result<Assets, String> {
    let (access_needed, refresh_needed) = needs(plan);
    if access_needed == 0 && refresh_needed == 0 {
        return Ok(Assets::default());
    }
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let started = Instant::now();
    let enc = Encoder::new(plan);
    let quiet = plan.quiet;
    let addr = plan.addr;
    let access = rt.block_on(fetch(
        addr,
        enc.client_credentials(),
        access_needed,
        b"access_token",
        quiet,
    ))?;
    let refresh = rt.block_on(fetch(
        addr,
        enc.password(&plan.username, &plan.password),
        refresh_needed,
        b"refresh_token",
        quiet,
    ))?;
    if !quiet && access_needed + refresh_needed > 0 {
        eprintln!(
            "provisioned {} access and {} refresh tokens in {:.1} s",
            access.len(),
            refresh.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(Assets { access, refresh })
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
        Scenario::Baseline | Scenario::ClientCredentials | Scenario::Password => (0, 0),
    }
}

/// Sends `request` until `count` answers carried the JSON member `field`.
async fn fetch(
    addr: std::net::SocketAddr,
    request: Vec<u8>,
    count: usize,
    field: &'static [u8],
    quiet: bool,
) -> Result<Vec<Vec<u8>>, String> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let out = Rc::new(RefCell::new(Vec::with_capacity(count)));
    let request = Rc::new(request);
    let mut tasks = Vec::new();
    for _ in 0..PROVISION_CONNECTIONS.min(count) {
        let out = Rc::clone(&out);
        let request = Rc::clone(&request);
        tasks.push(monoio::spawn(async move {
            let mut conn = Conn::connect(addr)
                .await
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            loop {
                if out.borrow().len() >= count {
                    return Ok::<(), String>(());
                }
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
                let token = json_str(body, field).ok_or_else(|| {
                    format!(
                        "the answer has no {}: {}",
                        String::from_utf8_lossy(field),
                        String::from_utf8_lossy(body)
                    )
                })?;
                {
                    let mut out = out.borrow_mut();
                    if out.len() < count {
                        out.push(token.to_vec());
                        if !quiet && out.len() % 100_000 == 0 {
                            eprint!("\rprovisioning: {} / {count}", out.len());
                            let _ = std::io::stderr().flush();
                        }
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
    if !quiet && count >= 100_000 {
        eprintln!();
    }
    Ok(Rc::try_unwrap(out)
        .map(RefCell::into_inner)
        .unwrap_or_default())
}
