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
use tessera_storage::{GrantId, TokenKind, TokenRecord};

/// Uses `once` up; `replayed` is the error when it was used before.
pub async fn use_once(
    ctx: Ctx<'_>,
    client: &Client,
    once: OneTime,
    replayed: fn() -> OAuthError,
) -> Result<(), OAuthError> {
    let app = ctx.app;
    if let Some(shared) = app.shared_store() {
        return match shared
            .claim_use(once.key, GrantId::NONE, once.ttl(ctx.now))
            .await
        {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => {
                ctx.metrics.assertion_replays.inc();
                Err(replayed())
            }
            Ok(Err(_)) | Err(_) => Err(Unavailable.into()),
        };
    }
    let mut writes = app.begin_writes()?;
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
    let fresh = writes.use_once(once.key, marker, ctx.now);
    writes.commit().await?;
    if fresh {
        Ok(())
    } else {
        ctx.metrics.assertion_replays.inc();
        Err(replayed())
    }
}
