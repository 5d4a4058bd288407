//! Using up a one-time value — a client assertion's or a JWT bearer assertion's `jti`, a
//! SAML assertion's `ID` — for the whole cluster, before the request that carries it goes
//! on (RFC 7523 §3 item 7, RFC 7522 §3 item 8).
//!
//! With a shared store the store decides (`SharedStore::claim_use`, a lightweight
//! transaction on Cassandra): of any number of requests racing on any number of nodes,
//! one wins, and the use is remembered until the value expires. Without one, this node's
//! table decides (`Writes::use_once`) and the used marker is written durably, so the value
//! stays used after a restart — also after `kill -9` right after the answer. A store that
//! cannot answer is 503, never "replayed".

use super::Ctx;
use crate::cluster::read_through::Unavailable;
use crate::oauth::clients::Client;
use crate::oauth::once::OneTime;
use crate::oauth::OAuthError;
use crate::writes::Writes;
use tessera_storage::{GrantId, TokenKind, TokenRecord};

/// Uses `once` up as part of the request's `writes`; `replayed` is the error when it was
/// used before. The caller reserved `writes` first, so once the value is used up the
/// tokens can be issued: a 503 for a full write queue never burns an assertion.
pub async fn use_once(
    ctx: Ctx<'_>,
    client: &Client,
    once: OneTime,
    replayed: fn() -> OAuthError,
    writes: &mut Writes<'_>,
) -> Result<(), OAuthError> {
    let app = ctx.app;
    if let Some(shared) = app.shared_store() {
        // Remembered for a skew longer than needed: a node whose clock lags must not see
        // the row expire while it would still accept the assertion.
        let ttl = once.ttl(ctx.now).saturating_add(app.assertions.skew as u32);
        return match shared.claim_use(once.key, GrantId::NONE, ttl).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => {
                ctx.metrics.assertion_replays.inc();
                Err(replayed())
            }
            Ok(Err(_)) | Err(_) => Err(Unavailable.into()),
        };
    }
    let marker = TokenRecord {
        grant: GrantId::NONE,
        client: client.sym,
        user: None,
        scope: client.default_scope,
        meta: None,
        issued_at: ctx.now,
        expires_at: once.until.max(ctx.now.saturating_add(1)),
        kind: TokenKind::Used,
    };
    if writes.use_once(once.key, marker, ctx.now) {
        Ok(())
    } else {
        ctx.metrics.assertion_replays.inc();
        Err(replayed())
    }
}
