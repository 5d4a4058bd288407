//! What each page shows: plain structs the authorize and logout endpoints fill, and their
//! conversion into template variables. The variable names listed on each view are the
//! contract with operators' templates (`config/templates/*.html` lists them too).
//!
//! Pure data: touches nothing.

use super::csrf::CsrfToken;
use minijinja::{context, Value};

/// Where the login and consent forms post.
pub const AUTHORIZE_ACTION: &str = "/api/oauth/authorize";

/// Login page message after a failed password check.
pub const WRONG_CREDENTIALS: &str = "Wrong username or password.";
/// Login page message when the form's CSRF check failed (an old or forged form).
pub const FORM_EXPIRED: &str = "This form has expired. Please sign in again.";
/// Login page message while the brute-force guard locks the account or address out.
pub const TOO_MANY_ATTEMPTS: &str = "Too many failed attempts. Please try again later.";

/// Form fields of the pages themselves. An authorize parameter of one of these names is
/// never repeated as a hidden input: the request could otherwise plant a second `password`,
/// `csrf` or `consent` value in the form.
pub const RESERVED_FIELDS: [&str; 4] = ["username", "password", "csrf", "consent"];

/// The login page (replaceable: `[authorize] login_template`).
///
/// Template variables: `nonce`, `action`, `csrf`, `params` (list of `{name, value}`),
/// `client_id`, `client_name`, `username`, `error` (string or none).
pub struct LoginView<'a> {
    pub client_id: &'a str,
    /// Shown to the user; the page shows `client_id` when `None`.
    pub client_name: Option<&'a str>,
    /// The redirect URI the flow will use after the login: its origin goes into the page's
    /// CSP `form-action` (see [`super::headers`]).
    pub redirect_uri: &'a str,
    /// Every parameter of the authorize request, repeated as hidden inputs so the POST
    /// carries the request on (names in [`RESERVED_FIELDS`] are left out).
    pub params: &'a [(&'a str, &'a str)],
    /// The hidden `csrf` field ([`super::csrf::login_csrf`]).
    pub csrf: &'a CsrfToken,
    /// Pre-filled into `username`: the request's `login_hint`, or the name just tried.
    pub username: Option<&'a str>,
    /// A message above the form: [`WRONG_CREDENTIALS`], [`FORM_EXPIRED`], ...
    pub error: Option<&'a str>,
}

/// The consent page (replaceable: `[authorize] consent_template`).
///
/// Template variables: `nonce`, `action`, `csrf`, `params` (list of `{name, value}`),
/// `client_id`, `client_name`, `user`, `scopes` (list of `{name, description}`).
pub struct ConsentView<'a> {
    pub client_id: &'a str,
    pub client_name: Option<&'a str>,
    /// As in [`LoginView::redirect_uri`].
    pub redirect_uri: &'a str,
    /// The signed-in user.
    pub user: &'a str,
    /// The requested scope, space-delimited (RFC 6749 §3.3).
    pub scope: &'a str,
    pub params: &'a [(&'a str, &'a str)],
    /// The hidden `csrf` field ([`super::csrf::consent_token`] of the session).
    pub csrf: &'a CsrfToken,
}

/// The error page (built in): an unknown client or a redirect URI that does not match,
/// which must not be redirected (RFC 6749 §4.1.2.1). Status 400.
///
/// Template variables: `nonce`, `error`, `description` (string or none).
#[derive(Debug)]
pub struct ErrorView<'a> {
    /// The RFC 6749 error code (`invalid_request`, `unauthorized_client`, ...).
    pub error: &'a str,
    pub description: Option<&'a str>,
}

/// The form_post response page (built in; OAuth 2.0 Form Post Response Mode §2): the
/// response parameters as hidden inputs of a form posted to the redirect URI.
///
/// Template variables: `nonce`, `redirect_uri`, `fields` (list of `{name, value}`).
pub struct FormPostView<'a> {
    /// The client's redirect URI (already checked against its registration).
    pub redirect_uri: &'a str,
    /// `code`, `state`, `iss`, `id_token`, `access_token`, ... in the order to send them.
    pub fields: &'a [(&'a str, &'a str)],
}

/// The human description of a scope on the consent page: the OpenID Connect Core §5.4 and
/// §11 scopes are explained, any other scope is shown by its name.
pub fn scope_description(scope: &str) -> &str {
    match scope {
        "openid" => "Sign you in with your account",
        "profile" => "Your name and basic profile information",
        "email" => "Your email address",
        "offline_access" => "Keep access while you are not using it",
        other => other,
    }
}

impl std::fmt::Debug for LoginView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginView")
            .field("client_id", &self.client_id)
            .field("client_name", &self.client_name)
            .field("redirect_uri", &self.redirect_uri)
            .field("params", &self.params)
            .field("username", &self.username)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ConsentView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentView")
            .field("client_id", &self.client_id)
            .field("user", &self.user)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The fields are codes and tokens: only their names are printed.
impl std::fmt::Debug for FormPostView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.fields.iter().map(|(n, _)| *n).collect();
        f.debug_struct("FormPostView")
            .field("redirect_uri", &self.redirect_uri)
            .field("fields", &names)
            .finish()
    }
}

fn pairs(list: &[(&str, &str)], skip_reserved: bool) -> Value {
    list.iter()
        .filter(|(name, _)| !(skip_reserved && RESERVED_FIELDS.contains(name)))
        .map(|(name, value)| context! { name => *name, value => *value })
        .collect::<Vec<Value>>()
        .into()
}

impl LoginView<'_> {
    pub(super) fn context(&self, nonce: &str) -> Value {
        context! {
            nonce => nonce,
            action => AUTHORIZE_ACTION,
            csrf => self.csrf.as_str(),
            params => pairs(self.params, true),
            client_id => self.client_id,
            client_name => self.client_name.unwrap_or(self.client_id),
            username => self.username.unwrap_or(""),
            error => self.error,
        }
    }
}

impl ConsentView<'_> {
    pub(super) fn context(&self, nonce: &str) -> Value {
        let scopes: Vec<Value> = self
            .scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(|s| context! { name => s, description => scope_description(s) })
            .collect();
        context! {
            nonce => nonce,
            action => AUTHORIZE_ACTION,
            csrf => self.csrf.as_str(),
            params => pairs(self.params, true),
            client_id => self.client_id,
            client_name => self.client_name.unwrap_or(self.client_id),
            user => self.user,
            scopes => scopes,
        }
    }
}

impl ErrorView<'_> {
    pub(super) fn context(&self, nonce: &str) -> Value {
        context! {
            nonce => nonce,
            error => self.error,
            description => self.description,
        }
    }
}

impl FormPostView<'_> {
    pub(super) fn context(&self, nonce: &str) -> Value {
        context! {
            nonce => nonce,
            redirect_uri => self.redirect_uri,
            fields => pairs(self.fields, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openid_scopes_are_described_and_others_named() {
        assert_eq!(scope_description("email"), "Your email address");
        assert_ne!(scope_description("openid"), "openid");
        assert_ne!(scope_description("profile"), "profile");
        assert_ne!(scope_description("offline_access"), "offline_access");
        assert_eq!(scope_description("orders:read"), "orders:read");
    }

    #[test]
    fn form_post_debug_shows_field_names_not_values() {
        let v = FormPostView {
            redirect_uri: "https://c.example/cb",
            fields: &[("code", "SECRETCODE"), ("state", "s")],
        };
        let d = format!("{v:?}");
        assert!(d.contains("code"));
        assert!(!d.contains("SECRETCODE"));
    }
}
