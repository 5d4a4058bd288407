//! The response headers of the HTML pages: the `Content-Security-Policy` of each page, the
//! fixed security headers, the per-response CSP nonce, and a writer of `\r\nName: value`
//! lines that refuses a value able to split the response.
//!
//! Pure string building: touches nothing but the CSPRNG (through
//! [`crate::oauth::token_gen`]) for the nonce.
//!
//! Why `form-action` names the client's redirect origin: current browsers apply the
//! `form-action` directive not only to the URL a form is submitted to but also to every
//! redirect that follows the submission. The login and consent forms post to Tessera, which
//! answers with a redirect to the client; with `form-action 'self'` alone the browser blocks
//! that redirect and the user stays stuck on the page (an HTTP-level test still passes).
//! So those pages allow `'self'` and the origin of the redirect URI the flow will use.

use crate::oauth::token_gen::TokenBuf;

/// `Content-Type` of every page.
pub const CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// Headers every page carries besides its `Content-Security-Policy`.
///
/// - `X-Frame-Options: DENY` for browsers older than CSP `frame-ancestors` (clickjacking of
///   the consent button, RFC 6749 §10.13).
/// - `Cache-Control: no-store`: the pages carry CSRF values, codes (form_post) and personal
///   data.
/// - `Referrer-Policy: no-referrer`: the authorize URL (state, login hint) must not leak to
///   whatever the page links or posts to.
/// - `X-Content-Type-Options: nosniff`.
pub const FIXED_HEADERS: [(&str, &str); 4] = [
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
];

/// Length of a CSP nonce: 24 symbols of a 64-symbol alphabet, 144 bits (CSP3 §7.1 asks for
/// at least 128).
const NONCE_LENGTH: usize = 24;

/// A fresh CSP nonce for one response: allows the page's own inline `<style>` (and the
/// form_post page's `<script>`) and nothing injected. The alphabet (`A-Za-z0-9-_`) is
/// within CSP's `base64-value` grammar and needs no escaping in HTML.
pub struct Nonce(TokenBuf);

impl Nonce {
    pub fn generate() -> Nonce {
        Nonce(TokenBuf::generate(NONCE_LENGTH))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Debug for Nonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Nonce(..)")
    }
}

/// Where the forms of a page may be submitted (and, in current browsers, where the redirects
/// after a submission may go).
#[derive(Debug, Clone, Copy)]
pub enum FormAction<'a> {
    /// The page has no form: `form-action 'none'`.
    None,
    /// Forms post to Tessera, which then redirects to this URI: `'self'` and its origin.
    SelfThen(&'a str),
    /// The form posts to this URI itself (form_post response mode): its origin only.
    To(&'a str),
}

/// The `Content-Security-Policy` of a page: nothing may load (`default-src 'none'`), the
/// page's inline style (and script, when `script`) run by `nonce`, no framing, no `<base>`,
/// forms only where [`FormAction`] says.
///
/// When the redirect URI's origin cannot be written as a CSP source (it is not an absolute
/// URI), `form-action` is left out rather than written as `'self'`: a policy that blocks
/// the redirect to the client breaks the flow, while the pages' escaping already keeps
/// injected forms out.
pub fn content_security_policy(nonce: &str, script: bool, form_action: FormAction<'_>) -> String {
    let mut csp = String::with_capacity(200);
    csp.push_str("default-src 'none'; style-src 'nonce-");
    csp.push_str(nonce);
    csp.push('\'');
    if script {
        csp.push_str("; script-src 'nonce-");
        csp.push_str(nonce);
        csp.push('\'');
    }
    match form_action {
        FormAction::None => csp.push_str("; form-action 'none'"),
        FormAction::SelfThen(uri) => {
            if let Some(origin) = redirect_origin(uri) {
                csp.push_str("; form-action 'self' ");
                csp.push_str(&origin);
            }
        }
        FormAction::To(uri) => {
            if let Some(origin) = redirect_origin(uri) {
                csp.push_str("; form-action ");
                csp.push_str(&origin);
            }
        }
    }
    csp.push_str("; frame-ancestors 'none'; base-uri 'none'");
    csp
}

/// The CSP source expression (CSP3 §2.3.1) that allows navigations to `uri`:
///
/// - `http`/`https`: `scheme://host[:port]` (lower-cased; user info dropped);
/// - any other scheme (native apps, `com.example.app:/cb`, RFC 8252 §7.1): the scheme
///   source `com.example.app:`;
/// - an `http`/`https` host that a CSP host source cannot spell (an IPv6 literal such as the
///   loopback `[::1]` of RFC 8252 §7.3, a percent-encoded or non-ASCII name): the scheme
///   source `http:` / `https:`, wider but still a valid policy that lets the flow finish.
///
/// `None` when `uri` has no valid scheme or an `http`/`https` URI has no authority. The
/// result only ever holds `A-Za-z0-9+-.:/` characters, so it cannot break out of the
/// header or the directive.
pub fn redirect_origin(uri: &str) -> Option<String> {
    let colon = uri.find(':')?;
    let scheme = &uri[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    if !first.is_ascii_alphabetic()
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Some(format!("{scheme}:"));
    }
    let rest = uri[colon + 1..].strip_prefix("//")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    // RFC 3986 §3.2: userinfo ends at the last '@' of the authority.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (h, Some(p)),
        _ => (host_port, None),
    };
    if host.is_empty() {
        return None;
    }
    let host_ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if !host_ok || !port_ok {
        return Some(format!("{scheme}:"));
    }
    let mut origin = format!("{scheme}://{}", host.to_ascii_lowercase());
    if let Some(p) = port {
        origin.push(':');
        origin.push_str(p);
    }
    Some(origin)
}

/// A header name or value that cannot be written into a response head.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The name is not an RFC 9110 §5.6.2 token.
    BadName(String),
    /// The value of this header holds CR, LF or another control character (RFC 9110
    /// §5.5): written as is, it would end the header early and let its author add headers
    /// or a body of their own (response splitting).
    BadValue(String),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::BadName(name) => write!(f, "invalid header name {name:?}"),
            HeaderError::BadValue(name) => {
                write!(f, "the value of header {name} holds a control character")
            }
        }
    }
}

impl std::error::Error for HeaderError {}

/// Appends one `\r\nName: value` line per header to `out` (the response encoder appends that
/// buffer verbatim after its own lines). Every header is checked first: on an error nothing
/// is written.
pub fn write_header_lines<N, V>(out: &mut Vec<u8>, headers: &[(N, V)]) -> Result<(), HeaderError>
where
    N: AsRef<str>,
    V: AsRef<str>,
{
    for (name, value) in headers {
        check_header(name.as_ref(), value.as_ref())?;
    }
    for (name, value) in headers {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(name.as_ref().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_ref().as_bytes());
    }
    Ok(())
}

/// Checks one header: a token name (RFC 9110 §5.6.2) and a value without control
/// characters other than horizontal tab (RFC 9110 §5.5 field-value).
pub fn check_header(name: &str, value: &str) -> Result<(), HeaderError> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(HeaderError::BadName(name.to_owned()));
    }
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(HeaderError::BadValue(name.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_forbids_everything_but_the_nonce_and_the_redirect_origin() {
        let csp = content_security_policy(
            "abc",
            false,
            FormAction::SelfThen("https://client.example/cb?x=1"),
        );
        assert_eq!(
            csp,
            "default-src 'none'; style-src 'nonce-abc'; \
             form-action 'self' https://client.example; \
             frame-ancestors 'none'; base-uri 'none'"
        );
        assert!(!csp.contains("unsafe-inline"));
    }

    #[test]
    fn csp_of_a_page_without_a_form_allows_no_form() {
        let csp = content_security_policy("n", false, FormAction::None);
        assert!(csp.contains("form-action 'none'"));
        assert!(!csp.contains("script-src"));
    }

    #[test]
    fn csp_of_form_post_allows_its_script_and_only_the_client_origin() {
        let csp = content_security_policy(
            "n0",
            true,
            FormAction::To("http://127.0.0.1:51004/callback"),
        );
        assert!(csp.contains("script-src 'nonce-n0'"));
        assert!(csp.contains("form-action http://127.0.0.1:51004;"));
        assert!(!csp.contains("'self'"));
    }

    #[test]
    fn csp_leaves_form_action_out_when_the_uri_has_no_origin() {
        // Blocking the redirect would strand the user; an unparseable URI never gets here in
        // practice (redirect URIs are registered), but the policy must stay valid.
        let csp = content_security_policy("n", false, FormAction::SelfThen("not a uri"));
        assert!(!csp.contains("form-action"));
        assert!(csp.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn redirect_origin_of_web_uris_is_scheme_host_and_port() {
        let cases = [
            ("https://client.example/cb", "https://client.example"),
            (
                "https://Client.Example:8443/cb?a=b#f",
                "https://client.example:8443",
            ),
            ("HTTP://app.example", "http://app.example"),
            ("https://user:pw@app.example:1/x", "https://app.example:1"),
            ("http://127.0.0.1:51004/cb", "http://127.0.0.1:51004"),
            ("http://localhost:8798/cb?x=1", "http://localhost:8798"),
            ("https://app.example?x=1", "https://app.example"),
        ];
        for (uri, origin) in cases {
            assert_eq!(redirect_origin(uri).as_deref(), Some(origin), "{uri}");
        }
    }

    #[test]
    fn redirect_origin_of_custom_schemes_is_the_scheme_source() {
        // RFC 8252 §7.1 private-use URI schemes.
        assert_eq!(
            redirect_origin("com.example.app:/oauth2redirect").as_deref(),
            Some("com.example.app:")
        );
        assert_eq!(
            redirect_origin("com.example.app://cb").as_deref(),
            Some("com.example.app:")
        );
    }

    #[test]
    fn redirect_origin_falls_back_to_the_scheme_for_hosts_csp_cannot_spell() {
        // RFC 8252 §7.3 IPv6 loopback: CSP host sources have no IPv6 literal syntax.
        assert_eq!(
            redirect_origin("http://[::1]:8080/cb").as_deref(),
            Some("http:")
        );
        assert_eq!(
            redirect_origin("https://xn--bcher-kva.example/cb").as_deref(),
            Some("https://xn--bcher-kva.example")
        );
        assert_eq!(
            redirect_origin("https://bücher.example/cb").as_deref(),
            Some("https:")
        );
        assert_eq!(
            redirect_origin("https://a.example;script-src *:1/").as_deref(),
            Some("https:")
        );
    }

    #[test]
    fn redirect_origin_refuses_what_is_not_an_absolute_uri() {
        for uri in [
            "",
            "/cb",
            "cb",
            ":x",
            "1abc:/x",
            "https:/x",
            "https:///x",
            "ht tp://a",
        ] {
            assert_eq!(redirect_origin(uri), None, "{uri}");
        }
    }

    #[test]
    fn header_lines_are_written_in_order_with_crlf_before_each() {
        let mut out = b"HTTP/1.1 200 OK".to_vec();
        write_header_lines(&mut out, &[("X-A", "1"), ("Set-Cookie", "a=b; Path=/")])
            .expect("valid");
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nX-A: 1\r\nSet-Cookie: a=b; Path=/");
    }

    #[test]
    fn header_values_with_cr_or_lf_are_refused_and_nothing_is_written() {
        for bad in ["a\r\nX-Evil: 1", "a\nb", "a\rb", "a\0b", "a\x7fb"] {
            let mut out = Vec::new();
            let err = write_header_lines(&mut out, &[("X-Ok", "fine"), ("X-Bad", bad)]);
            assert_eq!(err, Err(HeaderError::BadValue("X-Bad".into())), "{bad:?}");
            assert!(out.is_empty());
        }
        assert!(check_header("X-Tab", "a\tb").is_ok());
        assert!(check_header("Bad Name", "v").is_err());
        assert!(check_header("", "v").is_err());
        assert!(check_header("X-A\r\n", "v").is_err());
    }

    #[test]
    fn nonces_are_fresh_and_in_the_csp_alphabet() {
        let a = Nonce::generate();
        let b = Nonce::generate();
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(a.as_str().len(), NONCE_LENGTH);
        assert!(a
            .as_str()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(format!("{a:?}"), "Nonce(..)");
    }
}
