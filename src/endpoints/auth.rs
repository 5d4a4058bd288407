//! Authentication behind the brute-force guard ([`crate::guard`]): the client
//! authentication of the token, revoke and introspection endpoints, and the resource-owner
//! login of the password grant and of the authorize path, whose password check
//! ([`check_password`]) runs on the password-hash pool, off the worker.
//!
//! An [`Attempt`] asks the guard before anything is verified — a locked address or identity
//! gets 429 with `Retry-After` and costs no hash, even with the right credentials — and
//! reports the outcome after: a failure counts for the identity (client id or username)
//! from this address and for the address itself, a success forgets the identity's
//! failures. Failures and lockouts are counted in the metrics, each lockout is logged at
//! warn with the identity and the address (never a secret), and both are audit events
//! ([`crate::audit`]).

use super::once::use_once;
use super::Ctx;
use crate::audit;
use crate::guard::{Failure, Identity, Key, Verdict};
use crate::http::Request;
use crate::oauth::client_auth::{presented, verify, AssertionRules};
use crate::oauth::clients::Client;
use crate::oauth::error::ErrorCode;
use crate::oauth::params::Params;
use crate::oauth::OAuthError;
use crate::registry::password_pool::PoolError;
use crate::state::App;
use tessera_storage::Sym;
use tracing::warn;

/// Logged identities are cut to this many characters: they are whatever the caller sent.
const LOGGED_IDENTITY_CHARS: usize = 128;

/// One authentication attempt from one address, and possibly one identity, under the guard.
#[derive(Debug)]
pub struct Attempt<'a, 'i> {
    ctx: Ctx<'a>,
    address: Key,
    identity: Option<(Identity<'i>, Key)>,
    /// The identity has failures on record to forget if it succeeds.
    tracked: bool,
    now: u64,
}

impl<'a> Attempt<'a, 'static> {
    /// Starts an attempt from the request's address: 429 while the address is locked out.
    pub fn begin(ctx: Ctx<'a>) -> Result<Attempt<'a, 'static>, OAuthError> {
        let guard = &ctx.app.guard;
        let now = crate::clock::monotonic_millis();
        let address = guard.key(Identity::Address, ctx.peer);
        admit(guard.check(address, now))?;
        Ok(Attempt {
            ctx,
            address,
            identity: None,
            tracked: false,
            now,
        })
    }
}

impl<'a, 'i> Attempt<'a, 'i> {
    /// Names the identity trying: 429 while it is locked out from this address.
    pub fn identify<'j>(self, identity: Identity<'j>) -> Result<Attempt<'a, 'j>, OAuthError> {
        let guard = &self.ctx.app.guard;
        let key = guard.key(identity, self.ctx.peer);
        let tracked = admit(guard.check(key, self.now))?;
        Ok(Attempt {
            ctx: self.ctx,
            address: self.address,
            identity: Some((identity, key)),
            tracked,
            now: self.now,
        })
    }

    /// Client authentication (RFC 6749 §2.3) under the guard: the credentials are read,
    /// the claimed client id is checked against the guard, and only then verified.
    ///
    /// A client assertion's `jti` is used up store-wide after it verified: a replay is
    /// `invalid_client`, and counts as a failure.
    pub async fn client(
        self,
        req: &Request<'_>,
        params: &Params<'_>,
    ) -> Result<&'a Client, OAuthError> {
        let credentials = match presented(req.authorization, params) {
            Ok(c) => c,
            Err(e) => {
                // Basic credentials that do not decode: a failure with no identity to
                // pin it on, so it counts for the address only.
                if e.code == ErrorCode::InvalidClient {
                    self.failed();
                }
                return Err(e);
            }
        };
        let attempt = match credentials.client_id() {
            Some(id) => self.identify(Identity::Client(id))?,
            None => self,
        };
        let ctx = attempt.ctx;
        let a = &ctx.app.assertions;
        let audiences = a.client_audiences(req.path);
        let rules = AssertionRules {
            audiences: &audiences,
            time: a.time(ctx.now),
        };
        let authenticated = match verify(ctx.clients, &credentials, &rules) {
            Ok(authenticated) => authenticated,
            Err(e) => {
                attempt.failed();
                return Err(e);
            }
        };
        if let Some(once) = authenticated.once {
            let mut writes = ctx.app.begin_writes()?;
            let used = use_once(
                ctx,
                authenticated.client,
                once,
                assertion_replayed,
                &mut writes,
            )
            .await;
            if let Err(e) = used {
                if e.code == ErrorCode::InvalidClient {
                    attempt.failed();
                }
                return Err(e);
            }
            writes.commit().await?;
        }
        attempt.succeeded();
        Ok(authenticated.client)
    }

    /// The identity proved itself: forget its failures.
    pub fn succeeded(self) {
        if let (Some((_, key)), true) = (self.identity, self.tracked) {
            self.ctx.app.guard.succeeded(key);
        }
    }

    /// The identity (or, without one, the address) failed to authenticate.
    pub fn failed(self) {
        let ctx = self.ctx;
        match self.identity {
            Some((Identity::User(_), _)) => ctx.metrics.user_auth_failures.inc(),
            _ => ctx.metrics.client_auth_failures.inc(),
        }
        match self.identity {
            Some((Identity::User(name), _)) => audit::user_login_failed(ctx.peer, name),
            Some((Identity::Client(id), _)) => audit::client_auth_failed(ctx.peer, Some(id)),
            _ => audit::client_auth_failed(ctx.peer, None),
        }
        let guard = &ctx.app.guard;
        if let Some((identity, key)) = self.identity {
            self.lockout(identity, guard.failed(key, self.now));
        }
        self.lockout(Identity::Address, guard.failed(self.address, self.now));
    }

    fn lockout(&self, identity: Identity<'_>, failure: Failure) {
        let Failure::LockedOut {
            lockout_secs,
            in_a_row,
        } = failure
        else {
            return;
        };
        self.ctx.metrics.lockouts.inc();
        audit::lockout(self.ctx.peer, identity, lockout_secs, in_a_row);
        let name = identity.name();
        let name = name
            .char_indices()
            .nth(LOGGED_IDENTITY_CHARS)
            .map_or(name, |(end, _)| &name[..end]);
        warn!(
            kind = identity.kind(),
            identity = ?name,
            address = %self.ctx.peer,
            lockout_secs,
            in_a_row,
            "too many failed authentications; locked out"
        );
    }
}

fn assertion_replayed() -> OAuthError {
    OAuthError::invalid_client("client assertion refused: its jti was already used")
}

/// `Ok(tracked)` when the guard lets the key try, the 429 error when it is locked out.
fn admit(verdict: Verdict) -> Result<bool, OAuthError> {
    match verdict {
        Verdict::Open { tracked } => Ok(tracked),
        Verdict::Locked { retry_after_secs } => {
            Err(OAuthError::too_many_failed_attempts(retry_after_secs))
        }
    }
}

/// The resource owner whose `password` is right, `None` when the username is unknown or
/// the password wrong. An unknown username costs the same as a known one (a decoy hash
/// is checked), so timing does not tell which usernames exist.
pub async fn check_password(
    app: &App,
    username: &str,
    password: &str,
) -> Result<Option<Sym>, OAuthError> {
    let users = app.users();
    let user = users.get(username);
    let hash = user.map_or(&users.decoy, |u| &u.hash);
    let verified = app
        .passwords
        .verify(hash, password)
        .await
        .map_err(|e| match e {
            PoolError::Busy => OAuthError::temporarily_unavailable(
                "too many password checks in progress; retry shortly",
            ),
            PoolError::Stopped => OAuthError::new(
                ErrorCode::ServerError,
                "password verification is unavailable",
            ),
        })?;
    Ok(user.filter(|_| verified).map(|u| u.sym))
}
