//! `GET|POST /api/oauth/authorize` (RFC 6749 §3.1, §4.1.1, §4.2.1; OpenID Connect Core
//! §3.1.2): the I/O around the decisions of [`crate::oauth::authorize`].
//!
//! One request walks: parse → client and redirect URI (else an error page, never a
//! redirect) → the rest of the request (else an error redirect) → the session cookie (a
//! read-through) → a submitted login form or Basic login (the password check on the
//! password-hash pool, behind the brute-force guard) → a submitted consent answer →
//! [`next_step`]: the login page, the consent page, an error redirect, or the code /
//! implicit tokens, written durably before the redirect that carries them.
//!
//! - [`session`]: login sessions and remembered consent as store records.
//! - [`respond`]: redirects, `form_post` pages, error pages, the login and consent pages.

mod respond;
pub mod session;

use super::auth::{check_password, Attempt};
use super::{form, Ctx};
use crate::guard::Identity;
use crate::http::{Method, Reply, Request};
use crate::oauth::authorize::{next_step, target, validate, Answer, Situation, Step, Target};
use crate::oauth::client_auth::basic_credentials;
use crate::oauth::grants::{authorization_code, implicit};
use crate::oauth::params::Params;
use crate::oauth::OAuthError;
use crate::pages::{cookie, csrf};
use respond::Out;

pub async fn handle(
    ctx: Ctx<'_>,
    req: &Request<'_>,
    body: &mut Vec<u8>,
    headers: &mut Vec<u8>,
) -> Reply {
    let mut out = Out::new(ctx, req, body, headers);
    let raw: &[u8] = match req.method {
        Method::Post => {
            if let Err(e) = form(req) {
                return out.error_page(e.code.as_str(), &e.description);
            }
            req.body
        }
        _ => req.query,
    };
    let params = match Params::parse(raw) {
        Ok(p) => p,
        // RFC 6749 §4.1.2.1: a malformed request goes back to the client when the client
        // and its redirect URI are known beyond doubt.
        Err(e) => {
            let first = Params::parse_first(raw);
            let unique = |v: &Option<_>, name: &str| {
                v.is_some()
                    && form_urlencoded::parse(raw)
                        .filter(|(n, _)| n == name)
                        .count()
                        == 1
            };
            return match target(ctx.clients, &first) {
                Ok(t)
                    if unique(&first.client_id, "client_id")
                        && (first.redirect_uri.is_none()
                            || unique(&first.redirect_uri, "redirect_uri")) =>
                {
                    out.redirect_error(&t, &e)
                }
                _ => out.error_page(e.code.as_str(), &e.description),
            };
        }
    };
    let target = match target(ctx.clients, &params) {
        Ok(t) => t,
        Err(e) => return out.error_page(e.code(), e.description()),
    };
    match authorize(ctx, req, &params, &target, &mut out).await {
        Ok(reply) => reply,
        Err(e) => out.redirect_error(&target, &e),
    }
}

/// Everything after the redirect target is known: any error from here is redirected.
async fn authorize(
    ctx: Ctx<'_>,
    req: &Request<'_>,
    params: &Params<'_>,
    target: &Target<'_>,
    out: &mut Out<'_, '_>,
) -> Result<Reply, OAuthError> {
    let app = ctx.app;
    let client = target.client;
    let request = validate(target, &app.syms.scopes, params)?;
    let post = req.method == Method::Post;
    let mut session = session::find(ctx, req.cookie).await?;
    let mut fresh_login = false;
    let mut set_session: Option<crate::oauth::token_gen::TokenBuf> = None;
    let mut writes = None;
    let mut fresh_session = None;

    // A submitted login form.
    if post && params.username.is_some() {
        let csrf_cookie = req
            .cookie
            .and_then(|h| cookie::find(h, cookie::CSRF_COOKIE));
        if csrf::verify_login(csrf_cookie, params.csrf.as_deref()).is_err() {
            return Ok(out.login_page(target, params, Some(crate::pages::views::FORM_EXPIRED)));
        }
        let username = params.username.as_deref().unwrap_or_default();
        let password = params.password.as_deref().unwrap_or_default();
        let attempt = match Attempt::begin(ctx).and_then(|a| a.identify(Identity::User(username))) {
            Ok(a) => a,
            Err(_) => {
                return Ok(out.login_page(
                    target,
                    params,
                    Some(crate::pages::views::TOO_MANY_ATTEMPTS),
                ))
            }
        };
        match check_password(app, username, password).await? {
            Some(user) => {
                attempt.succeeded();
                let mut w = app.begin_writes()?;
                let (value, s) = session::create(ctx, &mut w, user);
                w.require_durable();
                writes = Some(w);
                set_session = Some(value);
                session = None;
                fresh_login = true;
                // The new session replaces whatever the cookie named.
                fresh_session = Some(s);
            }
            None => {
                attempt.failed();
                return Ok(out.login_page(
                    target,
                    params,
                    Some(crate::pages::views::WRONG_CREDENTIALS),
                ));
            }
        }
    } else if app.config.authorize.allow_basic_login {
        // Scripted clients: the resource owner's credentials in `Authorization: Basic`.
        if let Some((username, password)) = req.authorization.and_then(basic_credentials) {
            let attempt = Attempt::begin(ctx)?.identify(Identity::User(&username))?;
            match check_password(app, &username, &password).await? {
                Some(user) => {
                    attempt.succeeded();
                    fresh_session = Some(crate::oauth::authorize::Session {
                        user,
                        auth_time: ctx.now,
                    });
                    fresh_login = true;
                }
                None => {
                    attempt.failed();
                    return Err(OAuthError::new(
                        crate::oauth::ErrorCode::AccessDenied,
                        "invalid resource owner credentials",
                    ));
                }
            }
        }
    }
    let current = match fresh_session {
        Some(s) => Some(s),
        None => session.map(|(s, _)| s),
    };

    // A submitted consent answer, bound to the session by its CSRF value.
    let answer = match (post, params.consent.as_deref()) {
        (true, Some(a)) if !fresh_login => {
            // Bound to the session and to the very request the page showed.
            let bound = session.map(|(_, v)| respond::consent_binding(v, params));
            if csrf::verify_consent(bound.as_deref(), params.csrf.as_deref()).is_err() {
                return Err(OAuthError::invalid_request(
                    "the consent form expired or did not come from this server",
                ));
            }
            Some(Answer::parse(a)?)
        }
        _ => None,
    };

    let remembered = match current {
        Some(s)
            if answer.is_none() && client.consent == crate::oauth::types::ConsentMode::Prompt =>
        {
            match session::consented(ctx, s.user, client).await? {
                Some(have) => Target::consent_covers(&app.syms.scopes, have, &request.scope),
                None => false,
            }
        }
        _ => false,
    };
    let step = next_step(
        &request,
        client,
        Situation {
            session: current,
            fresh_login,
            remembered_consent: remembered,
            answer,
            now: ctx.now,
        },
    );
    let (session_used, remember) = match step {
        Step::Login => {
            commit(writes).await?;
            out.set_session_cookie(set_session.as_ref());
            return Ok(out.login_page(target, params, None));
        }
        Step::Consent(s) => {
            commit(writes).await?;
            out.set_session_cookie(set_session.as_ref());
            let value = set_session
                .as_ref()
                .map(|v| v.as_str())
                .or(session.map(|(_, v)| v))
                .unwrap_or_default();
            return Ok(out.consent_page(target, params, s.user, &request.scope, value));
        }
        Step::Fail(e) => {
            commit(writes).await?;
            out.set_session_cookie(set_session.as_ref());
            return Err(e);
        }
        Step::Issue { session, remember } => (session, remember),
    };

    // Authenticated (and, where asked, consented): the scope set is worth interning now.
    let scope = app.syms.scopes.intern(&request.scope);
    // The consent remembered so far, read before queue room is taken: the page may have
    // been shown by another node.
    let old_consent = if remember {
        session::consented(ctx, session_used.user, client).await?
    } else {
        None
    };
    let mut w = match writes {
        Some(w) => w,
        None => app.begin_writes()?,
    };
    if remember {
        session::remember_consent(ctx, &mut w, session_used.user, client, scope, old_consent);
        w.require_durable();
    }
    let issuer = app.issuer();
    let reply = if request.response_type.is_implicit() {
        let issued = request
            .response_type
            .access_token()
            .then(|| implicit::issue(&mut w, client, session_used.user, scope, ctx.now));
        w.commit().await?;
        let id_token = if request.response_type.id_token() {
            Some(
                super::claims::id_token(
                    ctx,
                    client,
                    session_used,
                    scope,
                    request.nonce,
                    issued.as_ref().map(|i| i.access.as_str()),
                )
                .await?,
            )
        } else {
            None
        };
        out.set_session_cookie(set_session.as_ref());
        if let Some(issued) = &issued {
            ctx.metrics
                .issued(client.index, crate::oauth::types::GrantType::Implicit);
            crate::audit::token_issued(
                &app.syms,
                ctx.peer,
                &client.id,
                crate::oauth::types::GrantType::Implicit,
                issued,
            );
            let mut fields: Vec<(&str, String)> = vec![
                ("access_token", issued.access.as_str().to_owned()),
                ("token_type", app.config.tokens.token_type.clone()),
                ("expires_in", issued.expires_in.to_string()),
            ];
            app.syms.scopes.with(issued.scope, |s| {
                if !s.is_empty() {
                    fields.push(("scope", s.to_owned()));
                }
            });
            if let Some(t) = id_token {
                fields.push(("id_token", t));
            }
            out.redirect_success(target, &fields, issuer)
        } else {
            let fields = vec![("id_token", id_token.unwrap_or_default())];
            out.redirect_success(target, &fields, issuer)
        }
    } else {
        let bindings = authorization_code::Bindings {
            redirect_uri: target.redirect_uri.as_str().into(),
            redirect_uri_sent: target.redirect_uri_sent,
            code_challenge: request.pkce.map(|(_, c)| c.into()),
            code_challenge_method: request.pkce.map(|(m, _)| m.as_str().into()),
            nonce: request.nonce.map(Into::into),
            auth_time: session_used.auth_time,
        };
        let a = &app.config.authorize;
        let new = authorization_code::mint(
            client,
            session_used.user,
            scope,
            bindings,
            (a.code_length, a.code_ttl_secs),
            ctx.now,
        );
        // In the store before the redirect goes out, in every durability mode: the client
        // may redeem it on any node the moment it arrives.
        let stored = crate::codes::to_stored(&new.record, &app.syms);
        if app.codes.insert(new.key, new.record).is_err() {
            drop(w);
            return Err(OAuthError::temporarily_unavailable(
                "too many authorization codes outstanding for this user; redeem them or retry later",
            ));
        }
        w.put_stored(new.key, stored);
        if let Err(e) = w.commit().await {
            app.codes.take(&new.key);
            return Err(e);
        }
        out.set_session_cookie(set_session.as_ref());
        out.redirect_success(target, &[("code", new.code.as_str().to_owned())], issuer)
    };
    Ok(reply)
}

/// Commits a login's session record (if any) before a page goes out.
async fn commit(writes: Option<crate::writes::Writes<'_>>) -> Result<(), OAuthError> {
    match writes {
        Some(w) => w.commit().await,
        None => Ok(()),
    }
}
