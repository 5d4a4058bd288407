//! One iteration of the authorization-code scenario on a connection: the authorize GET with
//! the resource owner's Basic login, the code read out of the redirect, then the code
//! exchange at the token endpoint (RFC 6749 §4.1 with PKCE, RFC 7636). Used by the load
//! threads (`run`) and by the check before a run (`provision`); it does the two exchanges
//! and nothing else (no statistics, no verdict on the token response).

use crate::client::{Answer, ClientError, Conn};
use crate::scenario::{code_of_redirect, Encoder};
use std::net::SocketAddr;
use std::time::Instant;

/// How an iteration ended.
#[derive(Debug)]
pub struct Iteration {
    /// The token endpoint's answer; or the authorize answer when it carried no code (an
    /// error page, an error redirect, a login page), which is then the iteration's outcome.
    pub answer: Result<Answer, ClientError>,
    /// When the authorize answer with a code arrived (`None`: the iteration stopped there).
    pub authorized: Option<Instant>,
}

/// Runs one iteration: `authorize` is the encoded authorize request (`Encoder::authorize_into`
/// with the challenge of `verifier`), `token` a buffer for the token request; both are the
/// caller's reused buffers, handed back. `conn` may be replaced by a new connection when the
/// server closed the first one after the redirect.
pub async fn code_iteration(
    conn: &mut Conn,
    addr: SocketAddr,
    enc: &Encoder,
    verifier: &[u8],
    authorize: Vec<u8>,
    mut token: Vec<u8>,
) -> (Iteration, Vec<u8>, Vec<u8>) {
    let (answer, authorize) = conn.exchange(authorize).await;
    let stop = |answer| Iteration {
        answer,
        authorized: None,
    };
    let first = match answer {
        Ok(a) => a,
        Err(e) => return (stop(Err(e)), authorize, token),
    };
    let code = match conn.location(&first) {
        Some(location) if first.status == 302 => code_of_redirect(location),
        _ => None,
    };
    let Some(code) = code else {
        return (stop(Ok(first)), authorize, token);
    };
    // The code is copied into the token request before the connection reads again.
    enc.code_exchange_into(&mut token, code, verifier);
    let authorized = Instant::now();
    if first.close {
        match Conn::connect(addr).await {
            Ok(c) => *conn = c,
            Err(e) => {
                let it = Iteration {
                    answer: Err(ClientError::Io(e)),
                    authorized: Some(authorized),
                };
                return (it, authorize, token);
            }
        }
    }
    let (answer, token) = conn.exchange(token).await;
    let it = Iteration {
        answer,
        authorized: Some(authorized),
    };
    (it, authorize, token)
}
