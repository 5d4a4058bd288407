//! `grant_type=authorization_code` (RFC 6749 §4.1.3): the I/O around the pure steps of
//! [`crate::oauth::grants::authorization_code`].
//!
//! Finding the code: this node's code table, else (with a shared store) a read from the
//! store — a code another node issued. A code already used is recognised from the used
//! marker here or in the store, or from the store's record of the claim. The single use is
//! the store's conditional consume with a shared store (a lightweight transaction, so of
//! any number of redemptions racing on any nodes exactly one wins) and this node's code
//! table without one. With a shared store the tokens are written durably before the claim,
//! so that the revocation by a racing loser finds them in the store. A second use revokes
//! every token issued from the first, on every node (RFC 6749 §4.1.2), and is
//! `invalid_grant`.

use super::super::claims;
use super::super::Ctx;
use crate::cluster::read_through::{self, Unavailable};
use crate::oauth::authorize::Session;
use crate::oauth::clients::Client;
use crate::oauth::grants::authorization_code::{self, Code};
use crate::oauth::issue::Issued;
use crate::oauth::params::Params;
use crate::oauth::tokens::TokenOps;
use crate::oauth::OAuthError;
use tessera_storage::{GrantId, TokenKey, TokenKind, TokenRecord};
use tracing::warn;

/// What the store says about a code this node does not hold.
enum Found {
    Code(Code),
    Used(GrantId),
    Nothing,
}

/// Redeems the request's code: the tokens, and an ID token when `openid` was granted.
pub async fn redeem(
    ctx: Ctx<'_>,
    client: &Client,
    params: &Params<'_>,
) -> Result<(Issued, Option<String>), OAuthError> {
    let app = ctx.app;
    let presented = Params::required(&params.code, "code")?;
    let key = TokenKey::of(presented.as_bytes());
    let code = match app.codes.get(&key, ctx.now) {
        Some(code) => code,
        None => match find(ctx, &key).await? {
            Found::Code(code) => code,
            Found::Used(grant) => return Err(reuse(ctx, client, grant).await),
            Found::Nothing => {
                return Err(OAuthError::invalid_grant(
                    "authorization code is unknown, expired or already used",
                ))
            }
        },
    };
    authorization_code::check(&code, client, params, ctx.now)?;
    let used = TokenRecord {
        grant: code.grant,
        client: code.client,
        user: Some(code.user),
        scope: code.scope,
        meta: None,
        issued_at: code.issued_at,
        expires_at: code.expires_at,
        kind: TokenKind::Used,
    };
    // Reserve the store's queue room before the code is used up.
    let mut writes = app.begin_writes()?;
    let issued = match app.shared_store() {
        Some(shared) => {
            // The tokens are durable in the store *before* the use is claimed. A redemption
            // racing on another node that loses the claim revokes the grant, and the store
            // deletes the tokens of the grant it finds linked at that moment: tokens written
            // after the claim would survive that revocation (and be read through again on
            // every node). Written first, the winner's tokens are there for the loser's
            // revocation to find. A claim that fails leaves tokens nobody was given.
            let mut marker = app.begin_writes()?;
            let issued = authorization_code::issue(&mut writes, client, &code, ctx.now);
            writes.require_durable();
            writes.commit().await?;
            let ttl = code.expires_at.saturating_sub(ctx.now).max(1);
            match shared.claim_use(key, code.grant, ttl).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => {
                    drop(marker);
                    return Err(reuse(ctx, client, code.grant).await);
                }
                Ok(Err(_)) | Err(_) => return Err(Unavailable.into()),
            }
            app.codes.take(&key);
            // Only after the claim: a used marker written before it would turn the retry of
            // a request that failed with 503 into a second use on another node.
            marker.mark_used(key, used);
            if let Err(e) = marker.commit().await {
                // The claim itself records the use in the store; the marker only repeats it.
                warn!(error = ?e, "the used marker of a redeemed code was not written");
            }
            issued
        }
        None => {
            // Of concurrent redemptions on this (only) node, one takes the code.
            if app.codes.take(&key).is_none() {
                drop(writes);
                return Err(reuse(ctx, client, code.grant).await);
            }
            writes.mark_used(key, used);
            let issued = authorization_code::issue(&mut writes, client, &code, ctx.now);
            writes.commit().await?;
            issued
        }
    };
    let openid = app
        .syms
        .scopes
        .with(code.scope, |s| s.split(' ').any(|t| t == "openid"));
    let id_token = if openid {
        Some(
            claims::id_token(
                ctx,
                client,
                Session {
                    user: code.user,
                    auth_time: code.bindings.auth_time,
                },
                code.scope,
                code.bindings.nonce.as_deref(),
                Some(issued.access.as_str()),
            )
            .await?,
        )
    } else {
        None
    };
    Ok((issued, id_token))
}

/// A code this node does not hold: a used marker here, or whatever the shared store has.
async fn find(ctx: Ctx<'_>, key: &TokenKey) -> Result<Found, OAuthError> {
    let app = ctx.app;
    if let Some(r) = app.table.get(key, ctx.now) {
        return Ok(match r.kind {
            TokenKind::Used => Found::Used(r.grant),
            _ => Found::Nothing,
        });
    }
    let tokens = app.tokens();
    if let Some(stored) = read_through::fetch_code(tokens, ctx.peer, key, ctx.now).await? {
        // A shared store may keep a code's record after its use (Cassandra records the use
        // in the claim only): ask about the use before any token is minted for the code.
        // Minting would re-open the grant in this node's table and cut the links of its
        // tokens read through earlier, which the revocation could then no longer reach.
        if let Some(grant) = read_through::used(tokens, ctx.peer, key).await? {
            return Ok(Found::Used(grant));
        }
        return Ok(match crate::codes::from_stored(&stored, &app.syms) {
            Some(code) => Found::Code(code),
            None => Found::Nothing,
        });
    }
    // Gone: if the store remembers its use (the claim, or the used marker another node
    // wrote), this is a second use.
    if let Some(grant) = read_through::used(tokens, ctx.peer, key).await? {
        return Ok(Found::Used(grant));
    }
    let marker = read_through::lookup(tokens, ctx.clients, ctx.peer, key, ctx.now).await?;
    Ok(match marker {
        Some(r) if r.kind == TokenKind::Used => Found::Used(r.grant),
        _ => Found::Nothing,
    })
}

/// RFC 6749 §4.1.2: "If an authorization code is used more than once, the authorization
/// server MUST deny the request and SHOULD revoke (when possible) all tokens previously
/// issued based on that authorization code." Durable, on every node.
async fn reuse(ctx: Ctx<'_>, client: &Client, grant: GrantId) -> OAuthError {
    let revoked = async {
        let mut writes = ctx.app.begin_writes()?;
        writes.revoke_grant(grant);
        writes.commit().await
    };
    if let Err(e) = revoked.await {
        // The second use is refused either way; the client may retry the revocation by
        // presenting the code again.
        return e;
    }
    ctx.metrics.code_reuse.inc();
    crate::audit::code_reuse(ctx.peer, &client.id, grant);
    warn!(
        client = %client.id,
        grant = { grant.0 },
        "an authorization code was used again; every token issued from it is revoked (RFC 6749 section 4.1.2)"
    );
    OAuthError::invalid_grant(
        "authorization code was already used; every token issued from it is revoked",
    )
}
