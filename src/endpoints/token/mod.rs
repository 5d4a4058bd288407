//! `POST /api/oauth/token` (RFC 6749 §3.2): authenticate the client, pick the grant, answer
//! with the token response of §5.1 or the error of §5.2.
//!
//! The I/O around the pure grants lives here (the assertion grants' in [`assertion`], the
//! code grant's in [`code`]): the brute-force guard around client
//! authentication and the resource-owner login ([`super::auth`]), the read-through of a
//! presented refresh token, the password check on the password-hash pool, and committing
//! the grant's changes to the write-behind (in `sync` mode, waiting until they are durable).

mod assertion;
mod code;
pub mod format;

use super::auth::Attempt;
use super::{form, Ctx};
use crate::audit;
use crate::cluster::read_through;
use crate::cluster::read_through::Unavailable;
use crate::guard::Identity;
use crate::http::{Reply, Request};
use crate::oauth::clients::Client;
use crate::oauth::error::ErrorCode;
use crate::oauth::grants::{client_credentials, password, refresh_token};
use crate::oauth::issue::Issued;
use crate::oauth::params::Params;
use crate::oauth::tokens::TokenOps;
use crate::oauth::types::{GrantType, RefreshPolicy};
use crate::oauth::OAuthError;
use format::{Fields, Format};
use tessera_storage::{GrantId, RevokeOutcome, Sym, TokenKey, TokenKind, TokenRecord};
use tracing::warn;

pub async fn handle(
    ctx: Ctx<'_>,
    req: &Request<'_>,
    body: &mut Vec<u8>,
) -> Result<Reply, OAuthError> {
    let attempt = Attempt::begin(ctx)?;
    let params = form(req)?;
    // Once the form is read, errors too are answered in the requested format.
    let format = Format::from_param(params.format.as_deref())?;
    match answer(ctx, req, attempt, params, format, body).await {
        Ok(reply) => Ok(reply),
        Err(e) => Ok(format::error_reply(format, &e, body)),
    }
}

/// Authenticates the client, runs the grant and writes its token response in `format`.
async fn answer(
    ctx: Ctx<'_>,
    req: &Request<'_>,
    attempt: Attempt<'_, 'static>,
    params: Params<'_>,
    format: Format,
    body: &mut Vec<u8>,
) -> Result<Reply, OAuthError> {
    // A JWT bearer request without any client authentication: the assertion, signed by
    // the client it names, is the authentication (the gateway's way).
    if params.grant_type.as_deref() == Some(GrantType::JwtBearer.as_str())
        && assertion::is_self_authenticating(req.authorization, &params)
    {
        let (client, issued) = assertion::jwt_bearer_self(ctx, &params).await?;
        ctx.metrics.issued(client.index, GrantType::JwtBearer);
        audit::token_issued(
            &ctx.app.syms,
            ctx.peer,
            &client.id,
            GrantType::JwtBearer,
            &issued,
        );
        write_token_response(ctx, &issued, None, format, body);
        return Ok(format.reply(200));
    }
    let client = attempt.client(req, &params).await?;
    // Issue 15: only now, so that a wrong secret never takes from the client's bucket.
    super::rate_limit::client(ctx, client)?;
    let name = Params::required(&params.grant_type, "grant_type")?;
    let grant = GrantType::from_wire(name).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant type '{name}' is not supported"),
        )
    })?;
    if !client.allows(grant) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client may not use the {} grant",
            grant.as_str()
        )));
    }
    let app = ctx.app;
    let scopes = &app.syms.scopes;
    let mut id_token = None;
    let issued = match grant {
        GrantType::AuthorizationCode => {
            let (issued, token) = code::redeem(ctx, client, &params).await?;
            id_token = token;
            issued
        }
        // Never a `grant_type` (the match above does not produce it).
        GrantType::Implicit => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "the implicit grant is used at the authorization endpoint",
            ))
        }
        GrantType::RefreshToken => refresh(ctx, client, &params).await?,
        GrantType::JwtBearer => assertion::jwt_bearer(ctx, client, &params).await?,
        GrantType::Saml2Bearer => assertion::saml_bearer(ctx, client, &params).await?,
        GrantType::Password => {
            // The password check runs before any queue room is taken: it may wait for the
            // pool.
            let login = password::request(scopes, client, &params)?;
            // RFC 6749 §4.3.2: the guard first — a locked-out username costs no hash.
            let attempt = Attempt::begin(ctx)?.identify(Identity::User(login.username))?;
            let scope = login.scope;
            let user = super::auth::check_password(app, login.username, login.password).await?;
            match user {
                Some(_) => attempt.succeeded(),
                None => attempt.failed(),
            }
            let mut writes = app.begin_writes()?;
            let outcome = password::grant(&mut writes, client, scope, user, ctx.now);
            writes.commit().await?;
            outcome?
        }
        GrantType::ClientCredentials => {
            // Reserve the store's queue room before the grant changes anything.
            let mut writes = app.begin_writes()?;
            let outcome = client_credentials::grant(&mut writes, scopes, client, &params, ctx.now);
            writes.commit().await?;
            outcome?
        }
    };
    ctx.metrics.issued(client.index, grant);
    audit::token_issued(&ctx.app.syms, ctx.peer, &client.id, grant, &issued);
    write_token_response(ctx, &issued, id_token.as_deref(), format, body);
    Ok(format.reply(200))
}

/// The refresh grant with the I/O around its pure steps: the read-through of a token
/// another node issued, the check for a used token presented again, and — with a shared
/// store, for the `rotate` and `none` policies — the cluster-wide claim that makes the use
/// single across every node. A store that cannot answer is 503, never `invalid_grant`.
async fn refresh(ctx: Ctx<'_>, client: &Client, params: &Params<'_>) -> Result<Issued, OAuthError> {
    let app = ctx.app;
    let presented = Params::required(&params.refresh_token, "refresh_token")?;
    let key = TokenKey::of(presented.as_bytes());
    let found = read_through::lookup(app.tokens(), ctx.clients, ctx.peer, &key, ctx.now).await?;
    // Used here before (this node, or the store it recovered from): a replay.
    if let Some(grant) = found.and_then(|r| refresh_token::replay_of(&r, client)) {
        return reuse(ctx, client, grant).await;
    }
    let shared = app.shared_store();
    if found.is_none() {
        // Gone here: if the store remembers its use, this is a replay (RFC 9700 §4.14.2).
        // A claim without a grant is an assertion's `jti`, not a refresh token's use.
        let used = read_through::used(app.tokens(), ctx.peer, &key).await?;
        if let Some(grant) = used.filter(|g| !g.is_none()) {
            return reuse(ctx, client, grant).await;
        }
    }
    // Reserve the store's queue room before anything is used up.
    let mut writes = app.begin_writes()?;
    let checked = refresh_token::check(&writes, &app.syms.scopes, client, params, ctx.now)?;
    let rotate = client.tokens.refresh_policy == RefreshPolicy::Rotate;
    match shared {
        Some(shared) if rotate => rotate_shared(ctx, client, shared, writes, checked).await,
        Some(shared) if checked.single_use(client) => {
            let (grant, ttl) = (checked.record.grant, checked.record.seconds_left(ctx.now));
            match shared.claim_use(checked.key, grant, ttl).await {
                Ok(Ok(true)) => {}
                // Another request, on this node or another, used it first: a replay.
                Ok(Ok(false)) => {
                    drop(writes);
                    return reuse(ctx, client, grant).await;
                }
                Ok(Err(_)) | Err(_) => return Err(Unavailable.into()),
            }
            let outcome = refresh_token::issue(&mut writes, client, checked, ctx.now);
            writes.commit().await?;
            outcome
        }
        _ => {
            let outcome = refresh_token::issue(&mut writes, client, checked, ctx.now);
            // Committed whatever the outcome: a failed rotation has still used the token up.
            writes.commit().await?;
            outcome
        }
    }
}

/// A rotation with a shared store, ordered so that racing nodes cannot leave a live token
/// behind: the new pair is written durably *before* the use is claimed — a node that loses
/// the claim revokes the grant, and the store's grant delete removes the tokens linked to
/// the grant at that moment, so the winner's must already be there — and the old token is
/// used up (deleted, marked used) only *after* the claim, so a claim the store cannot
/// answer (503) leaves it valid for the client's retry. The pair minted for a failed claim
/// is discarded; nobody was given it.
async fn rotate_shared(
    ctx: Ctx<'_>,
    client: &Client,
    shared: &dyn tessera_storage::store::SharedStore,
    mut writes: crate::writes::Writes<'_>,
    checked: refresh_token::Checked<'_>,
) -> Result<Issued, OAuthError> {
    let app = ctx.app;
    let (key, old) = (checked.key, checked.record);
    let mut after = app.begin_writes()?;
    let mut deferred = DeferConsume { inner: &mut writes };
    let issued = refresh_token::issue(&mut deferred, client, checked, ctx.now)?;
    writes.require_durable();
    writes.commit().await?;
    let minted = [
        Some(TokenKey::of(issued.access.as_bytes())),
        issued
            .refresh
            .as_ref()
            .map(|r| TokenKey::of(r.as_str().as_bytes())),
    ];
    let ttl = old.seconds_left(ctx.now).max(1);
    match shared.claim_use(key, old.grant, ttl).await {
        Ok(Ok(true)) => {
            let same =
                |r: &TokenRecord| { r.kind } == TokenKind::Refresh && { r.grant } == { old.grant };
            after.consume_if(&key, ctx.now, &same);
            after.commit().await?;
            Ok(issued)
        }
        Ok(Ok(false)) => {
            drop(after);
            reuse(ctx, client, old.grant).await
        }
        Ok(Err(_)) | Err(_) => {
            for k in minted.into_iter().flatten() {
                after.discard(&k);
            }
            let _ = after.commit().await;
            Err(Unavailable.into())
        }
    }
}

/// [`TokenOps`] that leaves the single-use step for later: `consume_if` only checks the
/// record (see [`rotate_shared`]); everything else goes to the inner operations.
struct DeferConsume<'a, 'w> {
    inner: &'a mut crate::writes::Writes<'w>,
}

impl TokenOps for DeferConsume<'_, '_> {
    fn lookup(&self, key: &TokenKey, now: u32) -> Option<TokenRecord> {
        self.inner.lookup(key, now)
    }

    fn insert(&mut self, key: TokenKey, record: TokenRecord) {
        self.inner.insert(key, record);
    }

    fn insert_minted(&mut self, key: TokenKey, record: TokenRecord) {
        self.inner.insert_minted(key, record);
    }

    fn consume_if(
        &mut self,
        key: &TokenKey,
        now: u32,
        take: &dyn Fn(&TokenRecord) -> bool,
    ) -> Option<TokenRecord> {
        self.inner.lookup(key, now).filter(|r| take(r))
    }

    fn discard(&mut self, key: &TokenKey) {
        self.inner.discard(key);
    }

    fn open_grant(
        &mut self,
        grant: GrantId,
        client: Sym,
        refresh: Option<TokenKey>,
        access: (TokenKey, u32),
    ) {
        self.inner.open_grant(grant, client, refresh, access);
    }

    fn join_grant(
        &mut self,
        grant: GrantId,
        access: (TokenKey, u32),
        refresh: Option<TokenKey>,
        now: u32,
    ) -> bool {
        self.inner.join_grant(grant, access, refresh, now)
    }

    fn close_grant(&mut self, grant: GrantId) {
        self.inner.close_grant(grant);
    }

    fn revoke(&mut self, key: &TokenKey, client: Sym, now: u32) -> RevokeOutcome {
        self.inner.revoke(key, client, now)
    }

    fn revoke_grant(&mut self, grant: GrantId) -> usize {
        self.inner.revoke_grant(grant)
    }
}

/// A used refresh token was presented again: revoke its whole grant — the refresh token
/// that replaced it and every access token — on every node, count and log it (never the
/// token), and refuse.
async fn reuse(ctx: Ctx<'_>, client: &Client, grant: GrantId) -> Result<Issued, OAuthError> {
    let mut writes = ctx.app.begin_writes()?;
    writes.revoke_grant(grant);
    writes.commit().await?;
    ctx.metrics.refresh_reuse.inc();
    audit::refresh_token_reuse(ctx.peer, &client.id, grant);
    warn!(
        client = %client.id,
        grant = { grant.0 },
        "a used refresh token was presented again; every token of its grant is revoked (RFC 9700 section 4.14.2)"
    );
    Err(OAuthError::invalid_grant(
        "refresh token was already used; every token of its grant is revoked",
    ))
}

/// RFC 6749 §5.1, in the requested [`Format`].
fn write_token_response(
    ctx: Ctx<'_>,
    issued: &Issued,
    id_token: Option<&str>,
    format: Format,
    body: &mut Vec<u8>,
) {
    let mut o = Fields::new(format, body, "token");
    o.str("access_token", issued.access.as_str())
        .str("token_type", &ctx.app.config.tokens.token_type)
        .num("expires_in", u64::from(issued.expires_in));
    if let Some(r) = &issued.refresh {
        o.str("refresh_token", r.as_str());
    }
    ctx.app.syms.scopes.with(issued.scope, |scope| {
        if !scope.is_empty() {
            o.str("scope", scope);
        }
    });
    if let Some(t) = id_token {
        o.str("id_token", t);
    }
    o.finish();
}
