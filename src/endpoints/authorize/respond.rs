//! The authorize path's answers: redirects to the client (query, fragment, or a
//! `form_post` page), the error page, and the login and consent pages with their cookies
//! and security headers.
//!
//! May touch: the page rendering of [`crate::pages`] and the response buffers.

use super::super::Ctx;
use crate::http::response::header;
use crate::http::{Method, Reply, Request};
use crate::oauth::authorize::Target;
use crate::oauth::params::Params;
use crate::oauth::redirect::ResponseMode;
use crate::oauth::token_gen::TokenBuf;
use crate::oauth::OAuthError;
use crate::pages::views::{ConsentView, ErrorView, FormPostView, LoginView};
use crate::pages::{cookie, csrf, Page};
use tessera_storage::Sym;
use tracing::error;

/// The response being built for one authorize request.
pub struct Out<'a, 'r> {
    ctx: Ctx<'a>,
    method: Method,
    cookie: Option<&'r [u8]>,
    body: &'r mut Vec<u8>,
    headers: &'r mut Vec<u8>,
}

impl std::fmt::Debug for Out<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Out").field("method", &self.method).finish()
    }
}

impl<'a, 'r> Out<'a, 'r> {
    pub fn new(
        ctx: Ctx<'a>,
        req: &Request<'r>,
        body: &'r mut Vec<u8>,
        headers: &'r mut Vec<u8>,
    ) -> Out<'a, 'r> {
        Out {
            ctx,
            method: req.method,
            cookie: req.cookie,
            body,
            headers,
        }
    }

    /// Cookies get `Secure` when the issuer is served over https (TLS here or at a proxy).
    fn secure(&self) -> bool {
        self.ctx.app.issuer().starts_with("https://")
    }

    /// A new login session's cookie.
    pub fn set_session_cookie(&mut self, value: Option<&TokenBuf>) {
        let Some(value) = value else { return };
        let ttl = u64::from(self.ctx.app.config.authorize.session_ttl_secs);
        if let Ok(c) = cookie::session_cookie(value.as_str(), ttl, self.secure()) {
            header(self.headers, "Set-Cookie", &c);
        }
    }

    /// A page: its body, its headers (CSP, framing, caching).
    fn page(&mut self, page: Result<Page, crate::pages::PagesError>) -> Reply {
        match page {
            Ok(page) => {
                self.body.clear();
                self.body.extend_from_slice(page.body.as_bytes());
                if page.write_headers(self.headers).is_err() {
                    error!("a page header held a control character; not sent");
                }
                Reply::html(page.status)
            }
            Err(e) => {
                // An operator's template that fails at render time: say so in the log, and
                // give the user something better than a blank page.
                error!(error = %e, "rendering an authorize page failed");
                self.body.clear();
                self.body
                    .extend_from_slice(b"<!doctype html><title>Error</title><p>server error</p>");
                Reply {
                    no_store: true,
                    ..Reply::html(500)
                }
            }
        }
    }

    /// RFC 6749 §4.1.2.1: an unknown client or a bad redirect URI is shown, never
    /// redirected.
    pub fn error_page(&mut self, code: &str, description: &str) -> Reply {
        let page = self.ctx.app.pages.error(&ErrorView {
            error: code,
            description: Some(description),
        });
        let mut reply = self.page(page);
        reply.status = 400;
        reply
    }

    /// After a POST (a login or consent form) the browser must follow with a GET.
    fn redirect_status(&self) -> u16 {
        if self.method == Method::Post {
            303
        } else {
            302
        }
    }

    fn deliver(&mut self, target: &Target<'_>, fields: &[(&str, &str)], issuer: &str) -> Reply {
        if target.mode == ResponseMode::FormPost {
            let all = target.form_fields(fields, issuer);
            let page = self.ctx.app.pages.form_post(&FormPostView {
                redirect_uri: &target.redirect_uri,
                fields: &all,
            });
            return self.page(page);
        }
        let location = target.success(fields, issuer);
        header(self.headers, "Location", &location);
        self.body.clear();
        Reply::redirect(self.redirect_status())
    }

    pub fn redirect_success(
        &mut self,
        target: &Target<'_>,
        fields: &[(&str, String)],
        issuer: &str,
    ) -> Reply {
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
        self.deliver(target, &borrowed, issuer)
    }

    /// RFC 6749 §4.1.2.1, §4.2.2.1: the error back to the client, with `state` and `iss`.
    pub fn redirect_error(&mut self, target: &Target<'_>, e: &OAuthError) -> Reply {
        let [(n1, v1), (n2, v2)] = Target::error_fields(e);
        let issuer = self.ctx.app.issuer();
        self.deliver(target, &[(n1, &v1), (n2, &v2)], issuer)
    }

    /// The login page, carrying the request's parameters through the form.
    pub fn login_page(
        &mut self,
        target: &Target<'_>,
        params: &Params<'_>,
        message: Option<&str>,
    ) -> Reply {
        let csrf_cookie = self
            .cookie
            .and_then(|h| cookie::find(h, cookie::CSRF_COOKIE));
        let login = csrf::login_csrf(csrf_cookie);
        if let Some(fresh) = &login.set_cookie {
            if let Ok(c) = cookie::csrf_cookie(fresh.as_str(), self.secure()) {
                header(self.headers, "Set-Cookie", &c);
            }
        }
        let fields = carried(params);
        let username = params.username.as_deref().or(params.login_hint.as_deref());
        let page = self.ctx.app.pages.login(&LoginView {
            client_id: &target.client.id,
            client_name: None,
            redirect_uri: &target.redirect_uri,
            params: &fields,
            csrf: &login.field,
            username,
            error: message,
        });
        self.page(page)
    }

    /// The consent page for `user`, its form bound to the session `session_value` and to
    /// this request.
    pub fn consent_page(
        &mut self,
        target: &Target<'_>,
        params: &Params<'_>,
        user: Sym,
        scope: &str,
        session_value: &str,
    ) -> Reply {
        let app = self.ctx.app;
        let fields = carried(params);
        let token = csrf::consent_token(&consent_binding(session_value, params));
        let user = app.syms.users.resolve(user).unwrap_or_default();
        let page = app.pages.consent(&ConsentView {
            client_id: &target.client.id,
            client_name: None,
            redirect_uri: &target.redirect_uri,
            user: &user,
            scope,
            params: &fields,
            csrf: &token,
        });
        self.page(page)
    }
}

/// The parameters of an authorization request (RFC 6749 §4.1.1, §4.2.1; OpenID Connect
/// Core §3.1.2.1) a page's form carries back: the recognised ones, each at most once, as
/// validated — never the raw query, whose unknown pairs could push a real one out.
pub fn carried<'p>(params: &'p Params<'p>) -> Vec<(&'static str, &'p str)> {
    [
        ("response_type", &params.response_type),
        ("client_id", &params.client_id),
        ("redirect_uri", &params.redirect_uri),
        ("scope", &params.scope),
        ("state", &params.state),
        ("nonce", &params.nonce),
        ("code_challenge", &params.code_challenge),
        ("code_challenge_method", &params.code_challenge_method),
        ("prompt", &params.prompt),
        ("max_age", &params.max_age),
        ("login_hint", &params.login_hint),
        ("response_mode", &params.response_mode),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
    .collect()
}

/// What the consent form's CSRF value is derived from: the session cookie's value and the
/// request the page showed, so an answer allows exactly what was on the page (a value taken
/// from one consent page does not allow another request, with more scopes or without
/// `prompt=login`).
pub fn consent_binding(session_value: &str, params: &Params<'_>) -> String {
    let mut bound = String::with_capacity(session_value.len() + 256);
    bound.push_str(session_value);
    for (name, value) in carried(params) {
        bound.push('\0');
        bound.push_str(name);
        bound.push('=');
        bound.push_str(value);
    }
    bound
}
