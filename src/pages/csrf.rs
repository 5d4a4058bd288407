//! Cross-site request forgery protection of the login and consent forms (RFC 6749 §10.12).
//!
//! - **Login** (no session yet): double submit. The browser holds a random cookie
//!   `tessera_csrf` (43 characters from the CSPRNG, set when the login page is first shown);
//!   the form's hidden `csrf` field carries a value derived from it. Another site can make
//!   the browser post the form but can neither read the cookie nor, with `SameSite=Lax`,
//!   have it sent on a cross-site POST.
//! - **Consent** (a session exists): the field is derived from the session cookie's value,
//!   so only a page that was given the session's field (Tessera's own consent page) can
//!   submit the session's consent; nothing is stored.
//!
//! A field is `base64url(SHA-256(label ‖ cookie value))` with a different label per form,
//! so a login field is never a valid consent field and the field never reveals the cookie
//! (the session value is a credential). Comparisons are constant time.
//!
//! Pure: touches the CSPRNG ([`crate::oauth::token_gen`]) and nothing else.

use crate::oauth::token_gen::TokenBuf;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Name of the hidden form field that carries the CSRF value.
pub const CSRF_FIELD: &str = "csrf";

/// Length of a new `tessera_csrf` cookie value: 258 bits.
pub const CSRF_COOKIE_LENGTH: usize = 43;

/// Shortest `tessera_csrf` value accepted from a browser (192 bits); shorter ones, or ones
/// with other characters, are replaced by a fresh cookie when the login page is shown.
const MIN_COOKIE_LENGTH: usize = 32;
/// Longest one (the longest token [`TokenBuf`] makes).
const MAX_COOKIE_LENGTH: usize = crate::oauth::token_gen::MAX_TOKEN_LENGTH;

/// Domain separation: the same cookie value gives different fields for different forms.
const LOGIN_LABEL: &[u8] = b"tessera csrf login\0";
const CONSENT_LABEL: &[u8] = b"tessera csrf consent\0";

/// The value of a form's hidden `csrf` field (43 characters, `A-Za-z0-9-_`).
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfToken(String);

impl CsrfToken {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Derived from a credential: never printed.
impl std::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfToken(..)")
    }
}

/// Why a form's CSRF check failed. The caller shows the form again (login: with a fresh
/// cookie if the browser had none) rather than telling an attacker which part was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsrfError {
    /// The request carried no (well-formed) `tessera_csrf` or `tessera_session` cookie.
    MissingCookie,
    /// The form had no `csrf` field.
    MissingField,
    /// The field does not belong to the cookie.
    Mismatch,
}

impl std::fmt::Display for CsrfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CsrfError::MissingCookie => "the form's cookie is missing",
            CsrfError::MissingField => "the form's csrf field is missing",
            CsrfError::Mismatch => "the form's csrf field does not match its cookie",
        })
    }
}

impl std::error::Error for CsrfError {}

/// What the login page needs for CSRF: the hidden field's value, and the cookie to set
/// when the browser did not already hold a usable one.
#[derive(Debug)]
pub struct LoginCsrf {
    /// Goes into the login page's `csrf` field ([`super::LoginView::csrf`]).
    pub field: CsrfToken,
    /// `Some(value)`: send `Set-Cookie: ` [`super::cookie::csrf_cookie`]`(value, secure)`
    /// with the page. `None`: the browser's cookie is kept.
    pub set_cookie: Option<TokenBuf>,
}

/// The login form's CSRF value for a browser that sent `cookie` (the `tessera_csrf` value,
/// from [`super::cookie::find`]): derived from that cookie when it is well formed, else from
/// a fresh random cookie to be set with the page.
pub fn login_csrf(cookie: Option<&str>) -> LoginCsrf {
    match cookie.filter(|c| well_formed(c)) {
        Some(c) => LoginCsrf {
            field: derive(LOGIN_LABEL, c),
            set_cookie: None,
        },
        None => {
            let fresh = TokenBuf::generate(CSRF_COOKIE_LENGTH);
            LoginCsrf {
                field: derive(LOGIN_LABEL, fresh.as_str()),
                set_cookie: Some(fresh),
            }
        }
    }
}

/// Checks a submitted login form: `field` (the `csrf` form value) must be the one derived
/// from `cookie` (the request's `tessera_csrf`).
pub fn verify_login(cookie: Option<&str>, field: Option<&str>) -> Result<(), CsrfError> {
    let cookie = cookie.filter(|c| well_formed(c));
    verify(LOGIN_LABEL, cookie, field)
}

/// The consent form's CSRF value for the session whose cookie value is `session`.
pub fn consent_token(session: &str) -> CsrfToken {
    derive(CONSENT_LABEL, session)
}

/// Checks a submitted consent form: `field` must be the one derived from `session` (the
/// request's `tessera_session` value). Whether the session itself is valid is the caller's
/// check.
pub fn verify_consent(session: Option<&str>, field: Option<&str>) -> Result<(), CsrfError> {
    verify(CONSENT_LABEL, session.filter(|s| !s.is_empty()), field)
}

fn verify(label: &[u8], cookie: Option<&str>, field: Option<&str>) -> Result<(), CsrfError> {
    let cookie = cookie.ok_or(CsrfError::MissingCookie)?;
    let field = field
        .filter(|f| !f.is_empty())
        .ok_or(CsrfError::MissingField)?;
    let expected = derive(label, cookie);
    // `ct_eq` on slices of different lengths is false; the length is public anyway.
    if bool::from(expected.0.as_bytes().ct_eq(field.as_bytes())) {
        Ok(())
    } else {
        Err(CsrfError::Mismatch)
    }
}

fn derive(label: &[u8], cookie: &str) -> CsrfToken {
    let mut h = Sha256::new();
    h.update(label);
    h.update(cookie.as_bytes());
    CsrfToken(URL_SAFE_NO_PAD.encode(h.finalize()))
}

/// A cookie value Tessera could have made: long enough and in the token alphabet.
fn well_formed(cookie: &str) -> bool {
    (MIN_COOKIE_LENGTH..=MAX_COOKIE_LENGTH).contains(&cookie.len())
        && cookie
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> (String, CsrfToken) {
        let csrf = login_csrf(None);
        let cookie = csrf.set_cookie.expect("a new cookie").as_str().to_owned();
        (cookie, csrf.field)
    }

    #[test]
    fn a_browser_without_cookie_gets_a_fresh_random_one() {
        let a = login_csrf(None);
        let b = login_csrf(None);
        let ca = a.set_cookie.expect("cookie");
        let cb = b.set_cookie.expect("cookie");
        assert_eq!(ca.as_str().len(), CSRF_COOKIE_LENGTH);
        assert_ne!(ca.as_str(), cb.as_str());
        assert_ne!(a.field, b.field);
        assert_eq!(a.field.as_str().len(), 43);
    }

    #[test]
    fn a_browser_with_a_good_cookie_keeps_it_and_gets_the_same_field() {
        let (cookie, field) = fresh();
        let again = login_csrf(Some(&cookie));
        assert!(again.set_cookie.is_none());
        assert_eq!(again.field, field);
    }

    #[test]
    fn a_short_or_odd_cookie_is_replaced() {
        for bad in [
            "",
            "short",
            &"x".repeat(31),
            &format!("{}!", "a".repeat(40)),
        ] {
            let csrf = login_csrf(Some(bad));
            assert!(csrf.set_cookie.is_some(), "{bad:?}");
        }
    }

    #[test]
    fn login_form_with_its_own_field_passes() {
        let (cookie, field) = fresh();
        assert_eq!(verify_login(Some(&cookie), Some(field.as_str())), Ok(()));
    }

    #[test]
    fn login_form_with_a_tampered_field_fails() {
        let (cookie, field) = fresh();
        let mut tampered = field.as_str().to_owned();
        let last = if tampered.ends_with('A') { "B" } else { "A" };
        tampered.replace_range(42.., last);
        assert_eq!(
            verify_login(Some(&cookie), Some(&tampered)),
            Err(CsrfError::Mismatch)
        );
        assert_eq!(
            verify_login(Some(&cookie), Some(&field.as_str()[..42])),
            Err(CsrfError::Mismatch)
        );
        // The cookie itself is not a valid field.
        assert_eq!(
            verify_login(Some(&cookie), Some(&cookie)),
            Err(CsrfError::Mismatch)
        );
    }

    #[test]
    fn login_form_without_cookie_or_field_fails() {
        let (cookie, field) = fresh();
        assert_eq!(
            verify_login(None, Some(field.as_str())),
            Err(CsrfError::MissingCookie)
        );
        assert_eq!(
            verify_login(Some("short"), Some(field.as_str())),
            Err(CsrfError::MissingCookie)
        );
        assert_eq!(
            verify_login(Some(&cookie), None),
            Err(CsrfError::MissingField)
        );
        assert_eq!(
            verify_login(Some(&cookie), Some("")),
            Err(CsrfError::MissingField)
        );
    }

    #[test]
    fn login_fields_of_two_browsers_are_not_interchangeable() {
        let (cookie_a, field_a) = fresh();
        let (cookie_b, field_b) = fresh();
        assert_eq!(
            verify_login(Some(&cookie_a), Some(field_b.as_str())),
            Err(CsrfError::Mismatch)
        );
        assert_eq!(
            verify_login(Some(&cookie_b), Some(field_a.as_str())),
            Err(CsrfError::Mismatch)
        );
    }

    #[test]
    fn consent_field_belongs_to_its_session() {
        let session = TokenBuf::generate(43);
        let other = TokenBuf::generate(43);
        let field = consent_token(session.as_str());
        assert_eq!(
            verify_consent(Some(session.as_str()), Some(field.as_str())),
            Ok(())
        );
        assert_eq!(
            verify_consent(Some(other.as_str()), Some(field.as_str())),
            Err(CsrfError::Mismatch)
        );
        assert_eq!(
            verify_consent(None, Some(field.as_str())),
            Err(CsrfError::MissingCookie)
        );
        assert_eq!(
            verify_consent(Some(""), Some(field.as_str())),
            Err(CsrfError::MissingCookie)
        );
        assert_eq!(
            verify_consent(Some(session.as_str()), None),
            Err(CsrfError::MissingField)
        );
    }

    #[test]
    fn login_and_consent_fields_are_swapped_in_vain() {
        // The same cookie value yields different fields per form (domain separation).
        let value = TokenBuf::generate(43);
        let login = login_csrf(Some(value.as_str())).field;
        let consent = consent_token(value.as_str());
        assert_ne!(login, consent);
        assert_eq!(
            verify_consent(Some(value.as_str()), Some(login.as_str())),
            Err(CsrfError::Mismatch)
        );
        assert_eq!(
            verify_login(Some(value.as_str()), Some(consent.as_str())),
            Err(CsrfError::Mismatch)
        );
    }

    #[test]
    fn the_field_does_not_reveal_the_session() {
        let session = TokenBuf::generate(43);
        let field = consent_token(session.as_str());
        assert_ne!(field.as_str(), session.as_str());
        assert!(!field.as_str().contains(&session.as_str()[..8]));
        assert_eq!(format!("{field:?}"), "CsrfToken(..)");
    }
}
