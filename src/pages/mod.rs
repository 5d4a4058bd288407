//! The HTML pages of the authorize path: what they show, how they are rendered, and the
//! headers, cookies and CSRF values that go with them.
//!
//! - [`views`]: the plain structs an endpoint fills (login, consent, error, form_post).
//! - [`Pages`]: the compiled templates; `login` and `consent` may be the operator's own
//!   (`[authorize] login_template`, `consent_template`), loaded once at start-up by
//!   [`Pages::load`]; the error, signed-out and form_post pages are built in. Every value is
//!   HTML-escaped by the template engine (text and quoted attributes alike).
//! - [`headers`]: each page's `Content-Security-Policy` (a fresh nonce per response) and
//!   the fixed security headers, and a writer of header lines that refuses CR/LF.
//! - [`cookie`]: finding a cookie in a `Cookie` header; the `Set-Cookie` values of
//!   `tessera_session` and `tessera_csrf`.
//! - [`csrf`]: the login form's double-submit value and the consent form's session-bound
//!   value.
//!
//! Rendering only: nothing here knows the server state, a store, the network or the
//! configuration beyond the two template files [`Pages::load`] reads. The endpoints do the
//! HTTP around it (parse the cookie header, write the page and its header lines).

pub mod cookie;
pub mod csrf;
pub mod headers;
pub mod views;

pub use csrf::{CsrfError, CsrfToken, LoginCsrf};
pub use headers::{HeaderError, CONTENT_TYPE};
pub use views::{ConsentView, ErrorView, FormPostView, LoginView};

use headers::{content_security_policy, FormAction, Nonce};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use std::path::{Path, PathBuf};

/// The default login page, also shipped as `config/templates/login.html` for operators to
/// start from. Embedded, so the binary needs no file.
pub const DEFAULT_LOGIN_TEMPLATE: &str = include_str!("../../config/templates/login.html");
/// The default consent page (`config/templates/consent.html`).
pub const DEFAULT_CONSENT_TEMPLATE: &str = include_str!("../../config/templates/consent.html");
const ERROR_TEMPLATE: &str = include_str!("templates/error.html");
const SIGNED_OUT_TEMPLATE: &str = include_str!("templates/signed_out.html");
const FORM_POST_TEMPLATE: &str = include_str!("templates/form_post.html");

/// Configuration keys of the replaceable templates, named in errors.
pub const LOGIN_TEMPLATE_KEY: &str = "authorize.login_template";
pub const CONSENT_TEMPLATE_KEY: &str = "authorize.consent_template";

const LOGIN: &str = "login.html";
const CONSENT: &str = "consent.html";
const ERROR: &str = "error.html";
const SIGNED_OUT: &str = "signed_out.html";
const FORM_POST: &str = "form_post.html";

/// Why the pages could not be loaded or a page could not be rendered.
#[derive(Debug)]
#[non_exhaustive]
pub enum PagesError {
    /// An operator's template could not be read, does not compile, fails to render, or
    /// lacks a field the flow needs. A configuration error of `key`.
    Template {
        key: &'static str,
        path: PathBuf,
        message: String,
    },
    /// A page failed to render for a request (an operator's template tripping over a
    /// value, an undefined variable): an internal fault, not the client's.
    Render { page: &'static str, message: String },
    /// The form_post redirect URI has a scheme a browser would run or read locally.
    UnsafeRedirectUri,
}

impl std::fmt::Display for PagesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PagesError::Template { key, path, message } => {
                write!(f, "{key}: {}: {message}", path.display())
            }
            PagesError::Render { page, message } => {
                write!(f, "rendering the {page} page failed: {message}")
            }
            PagesError::UnsafeRedirectUri => {
                f.write_str("form_post to a javascript:, data:, vbscript: or file: URI")
            }
        }
    }
}

impl std::error::Error for PagesError {}

/// A rendered page: status, body and the header lines to send with it (besides
/// `Content-Type: ` [`CONTENT_TYPE`] and whatever `Set-Cookie` the endpoint adds).
pub struct Page {
    /// 200, or 400 for the error page.
    pub status: u16,
    pub body: String,
    /// `Content-Security-Policy` first, then [`headers::FIXED_HEADERS`].
    pub headers: Vec<(&'static str, String)>,
}

impl Page {
    fn new(status: u16, body: String, csp: String) -> Page {
        let mut headers = Vec::with_capacity(1 + headers::FIXED_HEADERS.len());
        headers.push(("Content-Security-Policy", csp));
        for (name, value) in headers::FIXED_HEADERS {
            headers.push((name, value.to_owned()));
        }
        Page {
            status,
            body,
            headers,
        }
    }

    /// Appends the page's header lines (`\r\nName: value` each) to `out`.
    pub fn write_headers(&self, out: &mut Vec<u8>) -> Result<(), HeaderError> {
        headers::write_header_lines(out, &self.headers)
    }

    /// The value of one of the page's headers.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The body may hold a code or tokens (form_post): not printed.
impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .field("headers", &self.headers)
            .finish()
    }
}

/// The compiled page templates. Built once at start-up and shared (read-only) by workers.
pub struct Pages {
    env: Environment<'static>,
    /// Which templates are the operator's (for messages).
    login_path: Option<PathBuf>,
    consent_path: Option<PathBuf>,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("login_template", &self.login_path)
            .field("consent_template", &self.consent_path)
            .finish()
    }
}

impl Pages {
    /// The built-in pages only.
    pub fn builtin() -> Pages {
        // The built-in templates are tested to compile; `load` with no paths cannot fail.
        Self::load(None, None).unwrap_or_else(|_| Pages {
            env: base_environment(),
            login_path: None,
            consent_path: None,
        })
    }

    /// Compiles the pages, with the operator's login and consent templates where given
    /// (`[authorize] login_template`, `consent_template`). Each operator template is read,
    /// compiled and rendered once with sample values, and must show the fields the flow
    /// needs (`csrf`, `username`, `password`; `consent` with `allow` and `deny`), so a
    /// broken template stops start-up with an error naming its key instead of failing
    /// every login.
    pub fn load(login: Option<&Path>, consent: Option<&Path>) -> Result<Pages, PagesError> {
        let mut env = base_environment();
        let builtin = [
            (LOGIN, DEFAULT_LOGIN_TEMPLATE),
            (CONSENT, DEFAULT_CONSENT_TEMPLATE),
            (ERROR, ERROR_TEMPLATE),
            (SIGNED_OUT, SIGNED_OUT_TEMPLATE),
            (FORM_POST, FORM_POST_TEMPLATE),
        ];
        for (name, source) in builtin {
            env.add_template(name, source)
                .map_err(|e| PagesError::Render {
                    page: name,
                    message: e.to_string(),
                })?;
        }
        for (key, name, path) in [
            (LOGIN_TEMPLATE_KEY, LOGIN, login),
            (CONSENT_TEMPLATE_KEY, CONSENT, consent),
        ] {
            let Some(path) = path else { continue };
            let fail = |message: String| PagesError::Template {
                key,
                path: path.to_owned(),
                message,
            };
            let source = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
            env.add_template_owned(name, source)
                .map_err(|e| fail(describe(&e)))?;
        }
        let pages = Pages {
            env,
            login_path: login.map(Path::to_owned),
            consent_path: consent.map(Path::to_owned),
        };
        pages
            .check_login()
            .map_err(|message| PagesError::Template {
                key: LOGIN_TEMPLATE_KEY,
                path: pages.login_path.clone().unwrap_or_default(),
                message,
            })?;
        pages
            .check_consent()
            .map_err(|message| PagesError::Template {
                key: CONSENT_TEMPLATE_KEY,
                path: pages.consent_path.clone().unwrap_or_default(),
                message,
            })?;
        Ok(pages)
    }

    /// The login page.
    pub fn login(&self, view: &LoginView<'_>) -> Result<Page, PagesError> {
        let nonce = Nonce::generate();
        let body = self.render(LOGIN, view.context(nonce.as_str()))?;
        let csp = content_security_policy(
            nonce.as_str(),
            false,
            FormAction::SelfThen(view.redirect_uri),
        );
        Ok(Page::new(200, body, csp))
    }

    /// The consent page.
    pub fn consent(&self, view: &ConsentView<'_>) -> Result<Page, PagesError> {
        let nonce = Nonce::generate();
        let body = self.render(CONSENT, view.context(nonce.as_str()))?;
        let csp = content_security_policy(
            nonce.as_str(),
            false,
            FormAction::SelfThen(view.redirect_uri),
        );
        Ok(Page::new(200, body, csp))
    }

    /// The error page (status 400), for the errors that must not be redirected.
    pub fn error(&self, view: &ErrorView<'_>) -> Result<Page, PagesError> {
        let nonce = Nonce::generate();
        let body = self.render(ERROR, view.context(nonce.as_str()))?;
        let csp = content_security_policy(nonce.as_str(), false, FormAction::None);
        Ok(Page::new(400, body, csp))
    }

    /// The page shown after a logout without a post-logout redirect.
    pub fn signed_out(&self) -> Result<Page, PagesError> {
        let nonce = Nonce::generate();
        let ctx = minijinja::context! { nonce => nonce.as_str() };
        let body = self.render(SIGNED_OUT, ctx)?;
        let csp = content_security_policy(nonce.as_str(), false, FormAction::None);
        Ok(Page::new(200, body, csp))
    }

    /// The form_post response: a page that posts `fields` to `redirect_uri` at once.
    pub fn form_post(&self, view: &FormPostView<'_>) -> Result<Page, PagesError> {
        let scheme = view
            .redirect_uri
            .split_once(':')
            .map(|(s, _)| s.trim().to_ascii_lowercase());
        if matches!(
            scheme.as_deref(),
            Some("javascript" | "data" | "vbscript" | "file" | "blob")
        ) {
            return Err(PagesError::UnsafeRedirectUri);
        }
        let nonce = Nonce::generate();
        let body = self.render(FORM_POST, view.context(nonce.as_str()))?;
        let csp = content_security_policy(nonce.as_str(), true, FormAction::To(view.redirect_uri));
        Ok(Page::new(200, body, csp))
    }

    fn render(&self, name: &'static str, ctx: Value) -> Result<String, PagesError> {
        let render_error = |e: minijinja::Error| PagesError::Render {
            page: name,
            message: describe(&e),
        };
        self.env
            .get_template(name)
            .map_err(render_error)?
            .render(ctx)
            .map_err(render_error)
    }

    /// Renders the login page with sample values and checks it shows what the flow reads.
    fn check_login(&self) -> Result<(), String> {
        let csrf = csrf::login_csrf(None).field;
        let view = LoginView {
            client_id: "sample-client",
            client_name: Some("Sample client"),
            redirect_uri: "https://client.example/cb",
            params: &[("response_type", "code"), ("state", "sample-state")],
            csrf: &csrf,
            username: Some("sample-user"),
            error: Some("sample-error"),
        };
        let page = self.login(&view).map_err(|e| e.to_string())?;
        require(
            &page.body,
            &[csrf.as_str(), "sample-state"],
            &[("name", "username"), ("name", "password"), ("name", "csrf")],
        )
    }

    /// Renders the consent page with sample values and checks it shows what the flow reads.
    fn check_consent(&self) -> Result<(), String> {
        let csrf = csrf::consent_token("sample-session");
        let view = ConsentView {
            client_id: "sample-client",
            client_name: None,
            redirect_uri: "https://client.example/cb",
            user: "sample-user",
            scope: "openid profile",
            params: &[("response_type", "code"), ("state", "sample-state")],
            csrf: &csrf,
        };
        let page = self.consent(&view).map_err(|e| e.to_string())?;
        require(
            &page.body,
            &[csrf.as_str(), "sample-state"],
            &[
                ("name", "consent"),
                ("value", "allow"),
                ("value", "deny"),
                ("name", "csrf"),
            ],
        )
    }
}

/// Every template renders with HTML escaping, whatever its name, and an undefined variable
/// (a typo in an operator's template) is an error rather than an empty string.
fn base_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env
}

/// Checks that a sample rendering shows the `values` given to it and has the attributes
/// `attributes` (`name="username"`, quoted either way or not at all).
fn require(body: &str, values: &[&str], attributes: &[(&str, &str)]) -> Result<(), String> {
    const HINT: &str = "the form must post the fields username and password (login) or \
        consent=allow|deny (consent), the hidden field csrf = {{ csrf }}, and every entry of \
        {{ params }} as a hidden input";
    if let Some(missing) = values.iter().find(|v| !body.contains(**v)) {
        return Err(format!(
            "the rendered page lacks the value {missing:?}: {HINT}"
        ));
    }
    for (attr, value) in attributes {
        let found = [
            format!("{attr}=\"{value}\""),
            format!("{attr}='{value}'"),
            format!("{attr}={value}"),
        ]
        .iter()
        .any(|a| body.contains(a.as_str()));
        if !found {
            return Err(format!(
                "the rendered page has no {attr}=\"{value}\": {HINT}"
            ));
        }
    }
    Ok(())
}

/// A template error with its line, as operators need it.
fn describe(e: &minijinja::Error) -> String {
    let mut s = e.kind().to_string();
    if let Some(detail) = e.detail() {
        s.push_str(": ");
        s.push_str(detail);
    }
    if let Some(line) = e.line() {
        s.push_str(&format!(" (line {line})"));
    }
    s
}

#[cfg(test)]
mod tests;
