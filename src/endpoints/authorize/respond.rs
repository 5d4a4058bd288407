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
use crate::pages::views::{ConsentView, ErrorView, FormPostView, LoginView, RESERVED_FIELDS};
use crate::pages::{cookie, csrf, Page};
use std::borrow::Cow;
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
        raw: &[u8],
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
        let carried = carried(raw);
        let fields: Vec<(&str, &str)> = carried.iter().map(|(n, v)| (&**n, &**v)).collect();
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

    /// The consent page for `user`, its form bound to the session `session_value`.
    pub fn consent_page(
        &mut self,
        target: &Target<'_>,
        raw: &[u8],
        _params: &Params<'_>,
        user: Sym,
        scope: Sym,
        session_value: &str,
    ) -> Reply {
        let app = self.ctx.app;
        let carried = carried(raw);
        let fields: Vec<(&str, &str)> = carried.iter().map(|(n, v)| (&**n, &**v)).collect();
        let token = csrf::consent_token(session_value);
        let user = app.syms.users.resolve(user).unwrap_or_default();
        let scope = app.syms.scopes.resolve(scope).unwrap_or_default();
        let page = app.pages.consent(&ConsentView {
            client_id: &target.client.id,
            client_name: None,
            redirect_uri: &target.redirect_uri,
            user: &user,
            scope: &scope,
            params: &fields,
            csrf: &token,
        });
        self.page(page)
    }
}

/// The authorize parameters a page's form carries back: every pair of the request except
/// the form's own fields (and never the credentials).
fn carried(raw: &[u8]) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    form_urlencoded::parse(raw)
        .filter(|(n, v)| !v.is_empty() && !RESERVED_FIELDS.contains(&&**n))
        .take(64)
        .collect()
}
