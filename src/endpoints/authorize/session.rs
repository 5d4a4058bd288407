//! Login sessions and remembered consent, as records in the token table and the store.
//!
//! A session is a random value in the `tessera_session` cookie; the record under its key
//! (kind `Session`: the user, `auth_time` as `issued_at`, the expiry) is written durably
//! before the cookie is sent, so every node of a cluster finds it by read-through without
//! sticky routing, and logout deletes it like a revoked token (durable, and propagated to
//! the other nodes by the revocation log). Consent is a record (kind `Consent`) under a key
//! derived from the user and the client, holding the consented scopes.
//!
//! May touch: the app's token table and store (through `Writes` and the read-through) and
//! the page helpers for cookies.

use super::super::Ctx;
use crate::cluster::read_through;
use crate::oauth::authorize::Session;
use crate::oauth::clients::Client;
use crate::oauth::token_gen::TokenBuf;
use crate::oauth::tokens::TokenOps;
use crate::oauth::OAuthError;
use crate::pages::cookie;
use tessera_storage::{GrantId, Sym, TokenKey, TokenKind, TokenRecord};

/// Characters of a session cookie value (258 bits).
const SESSION_LENGTH: usize = 43;

/// The session a request's `tessera_session` cookie names, with that cookie value: live, of
/// a user who still exists. A store that cannot answer is an error, never "no session".
pub async fn find<'r>(
    ctx: Ctx<'_>,
    cookie_header: Option<&'r [u8]>,
) -> Result<Option<(Session, &'r str)>, OAuthError> {
    let Some(value) = cookie_header.and_then(|h| cookie::find(h, cookie::SESSION_COOKIE)) else {
        return Ok(None);
    };
    if value.is_empty() || value.len() > 256 {
        return Ok(None);
    }
    let key = TokenKey::of(value.as_bytes());
    let app = ctx.app;
    let found = read_through::lookup(app.tokens(), ctx.clients, ctx.peer, &key, ctx.now).await?;
    let Some(record) = found.filter(|r| r.kind == TokenKind::Session && r.is_live(ctx.now)) else {
        return Ok(None);
    };
    let Some(user) = record.user else {
        return Ok(None);
    };
    // A user removed since the login has no session any more.
    let exists = app
        .syms
        .users
        .with(user, |name| app.users().get(name).is_some());
    Ok(exists.then_some((
        Session {
            user,
            auth_time: record.issued_at,
        },
        value,
    )))
}

/// Starts a session for `user` now: its record is written durably (the caller commits
/// `writes`), and the returned cookie value goes into `Set-Cookie`.
pub fn create<O: TokenOps + ?Sized>(
    ctx: Ctx<'_>,
    writes: &mut O,
    user: Sym,
) -> (TokenBuf, Session) {
    let value = TokenBuf::generate(SESSION_LENGTH);
    let syms = &ctx.app.syms;
    writes.insert(
        TokenKey::of(value.as_bytes()),
        TokenRecord {
            grant: GrantId::NONE,
            // A session belongs to no client.
            client: syms.clients.intern(""),
            user: Some(user),
            scope: syms.scopes.intern(""),
            meta: None,
            issued_at: ctx.now,
            expires_at: ctx
                .now
                .saturating_add(ctx.app.config.authorize.session_ttl_secs),
            kind: TokenKind::Session,
        },
    );
    (
        value,
        Session {
            user,
            auth_time: ctx.now,
        },
    )
}

/// The key of `user`'s consent to `client`.
pub fn consent_key(ctx: Ctx<'_>, user: Sym, client: &Client) -> TokenKey {
    ctx.app.syms.users.with(user, |name| {
        let mut k = Vec::with_capacity(9 + name.len() + client.id.len());
        k.extend_from_slice(b"consent\0");
        k.extend_from_slice(name.as_bytes());
        k.push(0);
        k.extend_from_slice(client.id.as_bytes());
        TokenKey::of(&k)
    })
}

/// The scopes `user` consented to for `client`, if that consent is still remembered.
pub async fn consented(
    ctx: Ctx<'_>,
    user: Sym,
    client: &Client,
) -> Result<Option<Sym>, OAuthError> {
    let key = consent_key(ctx, user, client);
    let app = ctx.app;
    let found = read_through::lookup(app.tokens(), ctx.clients, ctx.peer, &key, ctx.now).await?;
    Ok(found
        .filter(|r| {
            r.kind == TokenKind::Consent && { r.client } == client.sym && { r.user } == Some(user)
        })
        .map(|r| r.scope))
}

/// Remembers that `user` consented to `scope` for `client`, on top of `old` (what they
/// consented to before, read by [`consented`]); the caller commits `writes`.
pub fn remember_consent<O: TokenOps + ?Sized>(
    ctx: Ctx<'_>,
    writes: &mut O,
    user: Sym,
    client: &Client,
    scope: Sym,
    old: Option<Sym>,
) {
    let key = consent_key(ctx, user, client);
    let scopes = &ctx.app.syms.scopes;
    let scope = match old {
        Some(old) if old != scope => {
            let union = scopes.with(old, |have| {
                scopes.with(scope, |new| {
                    let mut all: Vec<&str> = have.split(' ').filter(|s| !s.is_empty()).collect();
                    for s in new.split(' ').filter(|s| !s.is_empty()) {
                        if !all.contains(&s) {
                            all.push(s);
                        }
                    }
                    all.join(" ")
                })
            });
            // Bounded: unions of one client's scopes, for users who logged in.
            scopes.intern(&union)
        }
        _ => scope,
    };
    writes.insert(
        key,
        TokenRecord {
            grant: GrantId::NONE,
            client: client.sym,
            user: Some(user),
            scope,
            meta: None,
            issued_at: ctx.now,
            expires_at: ctx
                .now
                .saturating_add(ctx.app.config.authorize.consent_ttl_secs),
            kind: TokenKind::Consent,
        },
    );
}
