//! `POST /api/oauth/revoke` (RFC 7009): a client revokes one of its tokens. The answer is
//! 200 with an empty body whether or not the token existed (§2.2). A token issued to
//! another client is refused (§2.1: "the request is refused") with 403
//! `unauthorized_client`, as the gateway Tessera replaces answers, and stays valid.
//! Revoking a refresh token also revokes the access tokens of its grant (§2.1).

use super::auth::Attempt;
use super::{form, Ctx};
use crate::http::{Reply, Request};
use crate::oauth::params::Params;
use crate::oauth::tokens::TokenOps;
use crate::oauth::{ErrorCode, OAuthError};
use tessera_storage::{RevokeOutcome, TokenKey};

pub async fn handle(
    ctx: Ctx<'_>,
    req: &Request<'_>,
    _body: &mut Vec<u8>,
) -> Result<Reply, OAuthError> {
    let attempt = Attempt::begin(ctx)?;
    let params = form(req)?;
    let client = attempt.client(req, &params).await?;
    let token = Params::required(&params.token, "token")?;
    // §2.1: the hint only speeds up the lookup; keys are shared by both kinds, so it is not
    // needed, and an unknown hint value is ignored rather than refused.
    let key = TokenKey::of(token.as_bytes());
    // A token another node issued must be revoked here too: fetch it into the table first.
    // If the store cannot tell whether it exists, 503: a 200 would claim a revocation that
    // did not happen.
    crate::cluster::read_through::lookup(ctx.app.tokens(), ctx.clients, ctx.peer, &key, ctx.now)
        .await?;
    let mut writes = ctx.app.begin_writes()?;
    let outcome = writes.revoke(&key, client.sym, ctx.now);
    writes.commit().await?;
    match outcome {
        RevokeOutcome::Revoked {
            kind,
            grant,
            cascaded,
            ..
        } => {
            ctx.metrics.revoked.inc();
            crate::audit::token_revoked(ctx.peer, &client.id, kind, grant, cascaded);
        }
        RevokeOutcome::NotOwner => {
            return Err(OAuthError::new(
                ErrorCode::NotTokenOwner,
                "the token was issued to another client (RFC 7009 section 2.1)",
            ))
        }
        RevokeOutcome::NotFound => {}
    }
    Ok(Reply {
        no_store: true,
        ..Reply::empty(200)
    })
}
