//! Redirect URIs: which registered URIs are acceptable, whether a presented `redirect_uri`
//! matches one, and how a response is appended to it.
//!
//! Matching is exact string comparison (RFC 9700 §4.1.3: no patterns, no prefix
//! matching, no normalisation an attacker could steer), with the one exception native apps
//! need: a loopback `http` URI matches on any port (RFC 8252 §7.3), since the app listens
//! on whatever port the operating system gives it. Pure functions over strings.

/// Why a registered redirect URI is refused, for the configuration error.
pub fn check_registered(uri: &str) -> Result<(), String> {
    if uri.is_empty() || uri.len() > MAX_URI_LENGTH {
        return Err(format!(
            "must be an absolute URI of 1 to {MAX_URI_LENGTH} characters"
        ));
    }
    if uri.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("must not contain spaces or control characters".into());
    }
    let Some(scheme) = scheme(uri) else {
        return Err(format!(
            "{uri:?} is not an absolute URI (RFC 6749 section 3.1.2 needs a scheme)"
        ));
    };
    // Schemes that run or read something in the browser instead of reaching the client
    // (RFC 9700 §4.1.3 / RFC 6749 §10.6: a redirect must deliver to the client).
    if ["javascript", "data", "vbscript", "file", "blob"]
        .iter()
        .any(|bad| scheme.eq_ignore_ascii_case(bad))
    {
        return Err(format!("the {scheme}: scheme cannot be a redirect URI"));
    }
    if uri.contains('#') {
        return Err("must not contain a fragment (RFC 6749 section 3.1.2)".into());
    }
    Ok(())
}

/// Longest redirect URI accepted, registered or presented.
pub const MAX_URI_LENGTH: usize = 2048;

/// The URI's scheme (RFC 3986 §3.1: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`), if it
/// has one.
pub fn scheme(uri: &str) -> Option<&str> {
    let (scheme, _) = uri.split_once(':')?;
    let mut bytes = scheme.bytes();
    let first = bytes.next()?;
    (first.is_ascii_alphabetic()
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
    .then_some(scheme)
}

/// Whether `presented` is `registered`, exactly or (for a loopback `http` URI) on another
/// port.
pub fn matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    match (loopback_parts(registered), loopback_parts(presented)) {
        (Some((host_r, rest_r)), Some((host_p, rest_p))) => host_r == host_p && rest_r == rest_p,
        _ => false,
    }
}

/// `(host, path-and-query)` of an `http://127.0.0.1[:port]…` or `http://[::1][:port]…`
/// URI, the port dropped. RFC 8252 §7.3 names the IP literals; `localhost` is not a
/// loopback match (§8.3: it may resolve elsewhere).
fn loopback_parts(uri: &str) -> Option<(&'static str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let (host, after) = if let Some(r) = rest.strip_prefix("127.0.0.1") {
        ("127.0.0.1", r)
    } else if let Some(r) = rest.strip_prefix("[::1]") {
        ("[::1]", r)
    } else {
        return None;
    };
    let after = match after.strip_prefix(':') {
        Some(port_on) => {
            let digits = port_on.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 5 {
                return None;
            }
            &port_on[digits..]
        }
        None => after,
    };
    // The authority must end here: `http://127.0.0.1.evil.example/` or
    // `http://127.0.0.1@evil.example/` are other hosts.
    match after.as_bytes().first() {
        None | Some(b'/' | b'?') => Some((host, after)),
        _ => None,
    }
}

/// Where an authorization response's parameters go (OAuth 2.0 Multiple Response Type
/// Encoding Practices §2.1, OAuth 2.0 Form Post Response Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

impl ResponseMode {
    pub fn parse(s: &str) -> Option<ResponseMode> {
        match s {
            "query" => Some(ResponseMode::Query),
            "fragment" => Some(ResponseMode::Fragment),
            "form_post" => Some(ResponseMode::FormPost),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
            ResponseMode::FormPost => "form_post",
        }
    }
}

/// `uri` with `params` added in the query (keeping any query it has, RFC 6749 §3.1.2) or
/// as the fragment. Values are form-encoded, so nothing in them can end the URI's
/// component or start a header.
pub fn with_params(uri: &str, mode: ResponseMode, params: &[(&str, &str)]) -> String {
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        encoded.append_pair(name, value);
    }
    let encoded = encoded.finish();
    let mut out = String::with_capacity(uri.len() + 1 + encoded.len());
    out.push_str(uri);
    match mode {
        ResponseMode::Fragment => out.push('#'),
        ResponseMode::Query | ResponseMode::FormPost if uri.contains('?') => {
            if !uri.ends_with('?') && !uri.ends_with('&') {
                out.push('&');
            }
        }
        ResponseMode::Query | ResponseMode::FormPost => out.push('?'),
    }
    out.push_str(&encoded);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9700_4_1_3_redirect_uris_match_exactly() {
        let r = "https://app.example/cb";
        assert!(matches(r, r));
        for other in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://app.example/CB",
            "https://app.example.evil/cb",
            "https://app.example/cb#x",
            "http://app.example/cb",
            "https://app.example:443/cb",
        ] {
            assert!(!matches(r, other), "{other}");
        }
    }

    #[test]
    fn rfc8252_7_3_loopback_redirect_uris_match_on_any_port() {
        assert!(matches("http://127.0.0.1/cb", "http://127.0.0.1:53127/cb"));
        assert!(matches("http://127.0.0.1:8000/cb", "http://127.0.0.1:9/cb"));
        assert!(matches("http://[::1]/cb?x=1", "http://[::1]:61000/cb?x=1"));
        for (registered, presented) in [
            ("http://127.0.0.1/cb", "http://127.0.0.1:5/other"),
            ("http://127.0.0.1/cb", "http://[::1]:5/cb"),
            ("http://127.0.0.1/cb", "https://127.0.0.1:5/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1.evil.example/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1@evil.example/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:123456/cb"),
            ("http://localhost/cb", "http://localhost:5/cb"),
        ] {
            assert!(!matches(registered, presented), "{presented}");
        }
    }

    #[test]
    fn rfc6749_3_1_2_registered_uris_are_absolute_without_fragment() {
        assert!(check_registered("https://app.example/cb").is_ok());
        assert!(check_registered("com.example.app:/oauth2redirect").is_ok());
        assert!(check_registered("http://127.0.0.1/cb").is_ok());
        for bad in [
            "",
            "/cb",
            "app.example/cb",
            "https://app.example/cb#f",
            "https://app.example/c b",
            "https://app.example/\r\nX: y",
            "1http://x",
            "javascript:alert(1)",
            "JavaScript://x/%0aalert(1)",
            "data:text/html,x",
        ] {
            assert!(check_registered(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rfc6749_4_1_2_parameters_go_in_the_query_or_the_fragment_encoded() {
        let p = [("code", "a b&c=d"), ("state", "s#1")];
        assert_eq!(
            with_params("https://app/cb", ResponseMode::Query, &p),
            "https://app/cb?code=a+b%26c%3Dd&state=s%231"
        );
        assert_eq!(
            with_params("https://app/cb?x=1", ResponseMode::Query, &p[..1]),
            "https://app/cb?x=1&code=a+b%26c%3Dd"
        );
        assert_eq!(
            with_params("https://app/cb", ResponseMode::Fragment, &p[1..]),
            "https://app/cb#state=s%231"
        );
        let header_injection = with_params(
            "https://app/cb",
            ResponseMode::Query,
            &[("state", "x\r\nSet-Cookie: a=b")],
        );
        assert!(!header_injection.contains('\r') && !header_injection.contains('\n'));
    }
}
