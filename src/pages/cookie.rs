//! The browser cookies of the authorize path: finding one in a `Cookie:` request header
//! (RFC 6265 §5.4) and building the `Set-Cookie` values (RFC 6265 §4.1) of the session
//! cookie `tessera_session` and the login CSRF cookie `tessera_csrf`.
//!
//! Pure byte and string work on values the caller hands in; touches nothing else.
//!
//! Both cookies are `HttpOnly` (no script needs them), `SameSite=Lax` (sent on the top-level
//! GET navigation from a client to `/authorize`, so single sign-on works, but not on a
//! cross-site POST, so another site cannot submit the login or consent form with them),
//! scoped to `Path=/api/oauth`, and `Secure` when Tessera is served over TLS.

/// The session cookie: a random token naming the session record.
pub const SESSION_COOKIE: &str = "tessera_session";
/// The login form's double-submit CSRF cookie (see [`super::csrf`]).
pub const CSRF_COOKIE: &str = "tessera_csrf";
/// Path of both cookies: every endpoint that reads them is under it.
pub const COOKIE_PATH: &str = "/api/oauth";

/// The value of the first cookie called `name` in a `Cookie` header value (RFC 6265 §5.4:
/// `name=value` pairs separated by `;`, spaces around them tolerated, a value optionally in
/// double quotes). The first match wins: user agents list cookies with longer paths first,
/// so it is the most specific one.
///
/// `None` when there is no such cookie or its value holds a byte outside RFC 6265's
/// `cookie-octet` (a later cookie of the same name is not consulted then: what an attacker
/// might have placed first must not make the lookup fall through to another value). One
/// pass over the header, no allocation: the work is bounded by the header's size, which the
/// HTTP parser limits.
pub fn find<'h>(header: &'h [u8], name: &str) -> Option<&'h str> {
    let name = name.as_bytes();
    for pair in header.split(|&b| b == b';') {
        let pair = trim(pair);
        let Some(eq) = pair.iter().position(|&b| b == b'=') else {
            continue;
        };
        if trim(&pair[..eq]) != name {
            continue;
        }
        let mut value = trim(&pair[eq + 1..]);
        if value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' {
            value = &value[1..value.len() - 1];
        }
        if !value.iter().all(|&b| is_cookie_octet(b)) {
            return None;
        }
        // Every cookie-octet is ASCII, so this cannot fail.
        return std::str::from_utf8(value).ok();
    }
    None
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 6265 §4.1.1 `cookie-octet`: visible ASCII except `"`, `,`, `;` and `\`.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// A cookie value Tessera was asked to set holds a byte outside `cookie-octet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieValueError;

impl std::fmt::Display for CookieValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a cookie value may hold only RFC 6265 cookie-octets")
    }
}

impl std::error::Error for CookieValueError {}

/// `Set-Cookie` value of a new session: `tessera_session=<value>; Path=/api/oauth; HttpOnly;
/// SameSite=Lax; Max-Age=<max_age_secs>` and `; Secure` when `secure` (served over TLS).
pub fn session_cookie(
    value: &str,
    max_age_secs: u64,
    secure: bool,
) -> Result<String, CookieValueError> {
    set_cookie(SESSION_COOKIE, value, Some(max_age_secs), secure)
}

/// `Set-Cookie` value that ends the session in the browser (logout): empty, `Max-Age=0`.
pub fn clear_session_cookie(secure: bool) -> String {
    build(SESSION_COOKIE, "", Some(0), secure)
}

/// `Set-Cookie` value of the login CSRF cookie. It has no `Max-Age`: it lasts as long as
/// the browser session, so a login page left open for a while can still be submitted.
pub fn csrf_cookie(value: &str, secure: bool) -> Result<String, CookieValueError> {
    set_cookie(CSRF_COOKIE, value, None, secure)
}

/// `Set-Cookie` value that removes the login CSRF cookie (`Max-Age=0`).
pub fn clear_csrf_cookie(secure: bool) -> String {
    build(CSRF_COOKIE, "", Some(0), secure)
}

fn set_cookie(
    name: &str,
    value: &str,
    max_age_secs: Option<u64>,
    secure: bool,
) -> Result<String, CookieValueError> {
    if !value.bytes().all(is_cookie_octet) {
        return Err(CookieValueError);
    }
    Ok(build(name, value, max_age_secs, secure))
}

fn build(name: &str, value: &str, max_age_secs: Option<u64>, secure: bool) -> String {
    let mut s = String::with_capacity(name.len() + value.len() + 80);
    s.push_str(name);
    s.push('=');
    s.push_str(value);
    s.push_str("; Path=");
    s.push_str(COOKIE_PATH);
    s.push_str("; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age_secs {
        s.push_str("; Max-Age=");
        s.push_str(itoa::Buffer::new().format(age));
    }
    if secure {
        s.push_str("; Secure");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6265_5_4_cookie_header_is_searched_by_name() {
        let h = b"a=1; tessera_session=abc-DEF_123; b=2";
        assert_eq!(find(h, SESSION_COOKIE), Some("abc-DEF_123"));
        assert_eq!(find(h, "a"), Some("1"));
        assert_eq!(find(h, "b"), Some("2"));
        assert_eq!(find(h, "c"), None);
        assert_eq!(find(b"", "a"), None);
    }

    #[test]
    fn spaces_and_tabs_around_pairs_are_tolerated() {
        let h = b"  a = 1 ;\ttessera_csrf=xyz\t;b=2;;  ";
        assert_eq!(find(h, "a"), Some("1"));
        assert_eq!(find(h, CSRF_COOKIE), Some("xyz"));
        assert_eq!(find(h, "b"), Some("2"));
    }

    #[test]
    fn the_first_cookie_of_a_name_wins() {
        assert_eq!(find(b"s=first; s=second", "s"), Some("first"));
    }

    #[test]
    fn names_match_exactly_not_by_prefix_or_case() {
        let h = b"xtessera_session=1; tessera_session_old=2; TESSERA_SESSION=3";
        assert_eq!(find(h, SESSION_COOKIE), None);
        assert_eq!(find(b"a=; b=2", "a"), Some(""));
    }

    #[test]
    fn quoted_values_are_unquoted() {
        assert_eq!(find(br#"a="v1"; b="""#, "a"), Some("v1"));
        assert_eq!(find(br#"b="""#, "b"), Some(""));
    }

    #[test]
    fn pairs_without_equals_sign_are_skipped() {
        assert_eq!(find(b"flag; a=1", "a"), Some("1"));
        assert_eq!(find(b"a; a=1", "a"), Some("1"));
    }

    #[test]
    fn a_value_with_bytes_outside_cookie_octet_is_not_returned() {
        assert_eq!(find(b"a=x y", "a"), None);
        assert_eq!(find(b"a=\xff\xfe", "a"), None);
        assert_eq!(find(b"a=x\\y", "a"), None);
        // The bad first value does not fall through to a second one.
        assert_eq!(find(b"a=x,y; a=ok", "a"), None);
    }

    #[test]
    fn a_long_header_is_scanned_once() {
        let mut h = Vec::new();
        for i in 0..2000 {
            h.extend_from_slice(format!("c{i}=v; ").as_bytes());
        }
        h.extend_from_slice(b"tessera_session=last");
        assert_eq!(find(&h, SESSION_COOKIE), Some("last"));
    }

    #[test]
    fn session_cookie_attributes() {
        assert_eq!(
            session_cookie("tok", 28800, false).expect("valid"),
            "tessera_session=tok; Path=/api/oauth; HttpOnly; SameSite=Lax; Max-Age=28800"
        );
        assert_eq!(
            session_cookie("tok", 60, true).expect("valid"),
            "tessera_session=tok; Path=/api/oauth; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
    }

    #[test]
    fn clearing_cookies_sets_max_age_zero() {
        assert_eq!(
            clear_session_cookie(true),
            "tessera_session=; Path=/api/oauth; HttpOnly; SameSite=Lax; Max-Age=0; Secure"
        );
        assert_eq!(
            clear_csrf_cookie(false),
            "tessera_csrf=; Path=/api/oauth; HttpOnly; SameSite=Lax; Max-Age=0"
        );
    }

    #[test]
    fn csrf_cookie_lasts_the_browser_session() {
        assert_eq!(
            csrf_cookie("c", false).expect("valid"),
            "tessera_csrf=c; Path=/api/oauth; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn values_that_could_add_attributes_or_split_the_header_are_refused() {
        for bad in ["a; Domain=evil", "a\r\nX: y", "a b", "a,b", "\"a\"", "ü"] {
            assert_eq!(
                session_cookie(bad, 1, false),
                Err(CookieValueError),
                "{bad:?}"
            );
            assert_eq!(csrf_cookie(bad, false), Err(CookieValueError), "{bad:?}");
        }
    }

    #[test]
    fn a_set_cookie_value_round_trips_through_find() {
        let set = session_cookie("Zz-_09", 5, true).expect("valid");
        let sent = set.split(';').next().expect("pair");
        assert_eq!(find(sent.as_bytes(), SESSION_COOKIE), Some("Zz-_09"));
    }
}
