//! The encoding of every request of a plan into bytes (the scenarios, operations and
//! weights themselves are in `plan`), and the authorization-code scenario's PKCE pairs and
//! reading of the code out of the authorize redirect. Pure functions: no I/O.

use crate::plan::{Op, Paths, Plan};
use base64::Engine;
use sha2::{Digest, Sha256};

/// Encodes requests. Static requests are encoded once; per-token requests are written into
/// a caller's reused buffer.
#[derive(Debug, Clone)]
pub struct Encoder {
    host: String,
    /// The `Authorization` header value; `None` with `--no-client-auth` or when the
    /// credentials go in the body.
    basic: Option<String>,
    /// `&client_id=…&client_secret=…` when credentials go in the body.
    body_credentials: Option<String>,
    /// `&scope=…` or empty.
    scope: String,
    /// The authorize request up to the PKCE challenge (`GET /authorize?…&code_challenge=`).
    authorize_head: String,
    /// The rest of it after the challenge: the request line's end, `Host` and the resource
    /// owner's `Authorization: Basic`.
    authorize_tail: String,
    redirect_uri: String,
    /// `grant_type=urn:…:jwt-bearer&scope=…&assertion=` (RFC 7523 §2.1), the assertion
    /// comes after it.
    jwt_bearer_head: String,
    /// The same for the SAML 2.0 bearer grant (RFC 7522 §2.1).
    saml2_bearer_head: String,
    paths: Paths,
}

impl Encoder {
    pub fn new(plan: &Plan) -> Encoder {
        let enc = |s: &str| -> String { form_urlencoded::byte_serialize(s.as_bytes()).collect() };
        let scope = if plan.scope.is_empty() {
            String::new()
        } else {
            format!("&scope={}", enc(&plan.scope))
        };
        let assertion_head = |grant: &str| format!("grant_type={}{scope}&assertion=", enc(grant));
        Encoder {
            host: plan.host.clone(),
            basic: (!plan.client_auth_in_body && !plan.no_client_auth).then(|| plan.basic_auth()),
            jwt_bearer_head: assertion_head(crate::plan::JWT_BEARER),
            saml2_bearer_head: assertion_head(crate::plan::SAML2_BEARER),
            body_credentials: (plan.client_auth_in_body && !plan.no_client_auth).then(|| {
                format!(
                    "&client_id={}&client_secret={}",
                    enc(&plan.client_id),
                    enc(&plan.client_secret)
                )
            }),
            // RFC 6749 §4.1.1 with RFC 7636 §4.3. The state is constant: nothing here
            // follows the redirect, so there is no user agent session to bind it to.
            authorize_head: format!(
                "GET {}?response_type=code&client_id={}&redirect_uri={}{}&state=lt\
                 &code_challenge_method=S256&code_challenge=",
                plan.paths.authorize,
                enc(&plan.client_id),
                enc(&plan.redirect_uri),
                scope,
            ),
            authorize_tail: format!(
                " HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\n\r\n",
                plan.host,
                plan.user_basic_auth()
            ),
            redirect_uri: plan.redirect_uri.clone(),
            scope,
            paths: plan.paths.clone(),
        }
    }

    /// The authorize request of a code-flow iteration, with the resource owner's Basic
    /// login and `challenge` (S256), into `out` (cleared first).
    pub fn authorize_into(&self, out: &mut Vec<u8>, challenge: &[u8]) {
        out.clear();
        out.extend_from_slice(self.authorize_head.as_bytes());
        out.extend_from_slice(challenge);
        out.extend_from_slice(self.authorize_tail.as_bytes());
    }

    /// The code exchange (RFC 6749 §4.1.3 with the RFC 7636 §4.5 `code_verifier`), into
    /// `out` (cleared first).
    pub fn code_exchange_into(&self, out: &mut Vec<u8>, code: &[u8], verifier: &[u8]) {
        self.token_request(
            out,
            &[
                b"grant_type=authorization_code&code=",
                code,
                b"&redirect_uri=",
                self.redirect_uri.as_bytes(),
                b"&code_verifier=",
                verifier,
            ],
        );
    }

    pub fn health(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(self.paths.health.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        out.extend_from_slice(self.host.as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out
    }

    pub fn client_credentials(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.token_request(
            &mut out,
            &[b"grant_type=client_credentials", self.scope.as_bytes()],
        );
        out
    }

    pub fn password(&self, username: &str, password: &str) -> Vec<u8> {
        let mut body = b"grant_type=password&username=".to_vec();
        push_form_encoded(&mut body, username.as_bytes());
        body.extend_from_slice(b"&password=");
        push_form_encoded(&mut body, password.as_bytes());
        body.extend_from_slice(self.scope.as_bytes());
        let mut out = Vec::with_capacity(256);
        self.token_request(&mut out, &[&body]);
        out
    }

    /// `grant_type=refresh_token`, into `out` (cleared first).
    pub fn refresh_into(&self, out: &mut Vec<u8>, refresh_token: &[u8]) {
        self.token_request(
            out,
            &[b"grant_type=refresh_token&refresh_token=", refresh_token],
        );
    }

    /// The token request of a scenario fed from a file, for one `line` of it, into `out`
    /// (cleared first): an assertion grant with `line` as the (form-encoded) `assertion`,
    /// or, for token-body, `line` as the whole body, sent as it is. Client authentication
    /// as for every token request.
    pub fn line_into(&self, out: &mut Vec<u8>, op: Op, line: &[u8]) {
        let head = match op {
            Op::JwtBearer => self.jwt_bearer_head.as_bytes(),
            Op::Saml2Bearer => self.saml2_bearer_head.as_bytes(),
            _ => b"",
        };
        // A head ends with `assertion=`, so the line after it is form-encoded; with no head
        // the line is the body itself (see `post_form_path`).
        self.token_request(out, &[head, line]);
    }

    pub fn tokeninfo(&self, token: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + token.len());
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(self.paths.tokeninfo.as_bytes());
        out.extend_from_slice(b"?access_token=");
        push_form_encoded(&mut out, token);
        out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        out.extend_from_slice(self.host.as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out
    }

    pub fn introspect(&self, token: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.post_form_path(
            &mut out,
            self.paths.introspect.as_bytes(),
            &[b"token=", token],
        );
        out
    }

    /// RFC 7009 revocation of `token`, into `out` (cleared first).
    pub fn revoke_into(&self, out: &mut Vec<u8>, token: &[u8]) {
        out.clear();
        let path = self.paths.revoke.as_bytes();
        self.post_form_path(out, path, &[b"token=", token]);
    }

    fn token_request(&self, out: &mut Vec<u8>, parts: &[&[u8]]) {
        out.clear();
        let path = self.paths.token.as_bytes();
        self.post_form_path(out, path, parts);
    }

    /// A form POST with client authentication. Parts after a `…=` part are form-encoded
    /// values; the others are written as they are.
    fn post_form_path(&self, out: &mut Vec<u8>, path: &[u8], parts: &[&[u8]]) {
        out.extend_from_slice(b"POST ");
        out.extend_from_slice(path);
        out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        out.extend_from_slice(self.host.as_bytes());
        out.extend_from_slice(b"\r\nContent-Type: application/x-www-form-urlencoded\r\n");
        if let Some(basic) = &self.basic {
            out.extend_from_slice(b"Authorization: ");
            out.extend_from_slice(basic.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Content-Length: ");
        let len_at = out.len();
        // Room for the length, patched once the body is written.
        out.extend_from_slice(b"          \r\n\r\n");
        let body_start = out.len();
        let mut value_next = false;
        for part in parts {
            if value_next {
                push_form_encoded(out, part);
            } else {
                out.extend_from_slice(part);
            }
            value_next = part.ends_with(b"=");
        }
        if let Some(creds) = &self.body_credentials {
            out.extend_from_slice(creds.as_bytes());
        }
        // Left-aligned and padded with spaces: HTTP allows trailing whitespace in a field
        // value (RFC 9110 §5.5), so the head is written once and patched in place.
        let mut n = out.len() - body_start;
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        let digits = &digits[i..];
        out[len_at..len_at + digits.len()].copy_from_slice(digits);
    }
}

/// A PKCE pair (RFC 7636 §4.1–4.2): a 43-character verifier and its S256 challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pkce {
    pub verifier: [u8; 43],
    pub challenge: [u8; 43],
}

impl Pkce {
    /// The pair for 32 random octets: the verifier is their base64url encoding (the RFC's
    /// recommended construction, §4.1), the challenge `BASE64URL(SHA256(verifier))`.
    pub fn from_octets(random: &[u8; 32]) -> Pkce {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut verifier = [0u8; 43];
        let mut challenge = [0u8; 43];
        // 32 and 32 octets encode to exactly 43 characters each: the slices always fit.
        let _ = b64.encode_slice(random, &mut verifier);
        let _ = b64.encode_slice(Sha256::digest(verifier), &mut challenge);
        Pkce {
            verifier,
            challenge,
        }
    }
}

/// The `code` of an authorize redirect's `Location` (RFC 6749 §4.1.2), `None` when the
/// redirect carries an error (§4.1.2.1) or no code. Tessera's codes are URL-safe
/// characters, so the value is used as it stands.
pub fn code_of_redirect(location: &[u8]) -> Option<&[u8]> {
    let q = location.iter().position(|&b| b == b'?')?;
    let query = &location[q + 1..];
    let query = query.split(|&b| b == b'#').next().unwrap_or_default();
    let mut code = None;
    for pair in query.split(|&b| b == b'&') {
        if pair.starts_with(b"error=") {
            return None;
        }
        if let Some(value) = pair.strip_prefix(b"code=") {
            code = Some(value);
        }
    }
    code.filter(|c| !c.is_empty())
}

/// application/x-www-form-urlencoded encoding of one value, without allocating.
pub fn push_form_encoded(out: &mut Vec<u8>, value: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b),
            b' ' => out.push(b'+'),
            _ => {
                out.push(b'%');
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 15)]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn encoder(extra: &[&str]) -> Encoder {
        let mut argv = vec!["tessera-loadtest", "--url", "http://127.0.0.1:9"];
        argv.extend_from_slice(extra);
        let plan = Plan::from_args(&crate::cli::Args::parse_from(argv)).expect("plan");
        Encoder::new(&plan)
    }

    fn parse(req: &[u8]) -> (String, String, Vec<(String, String)>, Vec<u8>) {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut r = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(n) = r.parse(req).expect("valid request") else {
            panic!("incomplete head")
        };
        let hs: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).trim().to_string(),
                )
            })
            .collect();
        (
            r.method.unwrap_or_default().to_string(),
            r.path.unwrap_or_default().to_string(),
            hs,
            req[n..].to_vec(),
        )
    }

    #[test]
    fn client_credentials_request_is_a_valid_form_post_with_basic_auth() {
        let req = encoder(&["--scope", "read write"]).client_credentials();
        let (method, path, headers, body) = parse(&req);
        assert_eq!(method, "POST");
        assert_eq!(path, "/api/oauth/token");
        assert_eq!(body, b"grant_type=client_credentials&scope=read+write");
        let len = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .expect("length");
        assert_eq!(len.1, body.len().to_string());
        assert!(headers
            .iter()
            .any(|(n, v)| n == "authorization" && v == "Basic c3ZjLWE6YmVuY2gtc2VjcmV0"));
    }

    #[test]
    fn credentials_in_body_replace_the_authorization_header() {
        let mut out = Vec::new();
        encoder(&["--client-auth-in-body"]).revoke_into(&mut out, b"tok/en");
        let (_, path, headers, body) = parse(&out);
        assert_eq!(path, "/api/oauth/revoke");
        assert!(!headers.iter().any(|(n, _)| n == "authorization"));
        assert_eq!(
            String::from_utf8_lossy(&body),
            "token=tok%2Fen&client_id=svc-a&client_secret=bench-secret"
        );
    }

    #[test]
    fn refresh_request_reuses_the_buffer() {
        let enc = encoder(&[]);
        let mut out = Vec::new();
        enc.refresh_into(&mut out, b"first-token-value");
        enc.refresh_into(&mut out, b"second");
        let (_, _, _, body) = parse(&out);
        assert_eq!(body, b"grant_type=refresh_token&refresh_token=second");
    }

    #[test]
    fn pkce_pair_matches_rfc7636_appendix_b() {
        let octets = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let pair = Pkce::from_octets(&octets);
        assert_eq!(
            &pair.verifier[..],
            b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
        assert_eq!(
            &pair.challenge[..],
            b"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn authorize_request_carries_pkce_and_the_resource_owners_basic_login() {
        let enc = encoder(&[
            "--scope",
            "openid read",
            "--redirect-uri",
            "http://127.0.0.1/cb",
        ]);
        let mut out = Vec::new();
        enc.authorize_into(&mut out, b"CHALLENGE");
        let (method, path, headers, body) = parse(&out);
        assert_eq!(method, "GET");
        assert_eq!(
            path,
            "/api/oauth/authorize?response_type=code&client_id=svc-a\
             &redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&scope=openid+read&state=lt\
             &code_challenge_method=S256&code_challenge=CHALLENGE"
        );
        // bench:bench-password, not form-encoded (RFC 7617 §2).
        assert!(headers
            .iter()
            .any(|(n, v)| n == "authorization" && v == "Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQ="));
        assert!(body.is_empty());
    }

    #[test]
    fn code_exchange_sends_code_redirect_uri_and_verifier_rfc6749_4_1_3() {
        let mut out = Vec::new();
        encoder(&[]).code_exchange_into(&mut out, b"the-code", b"the-verifier");
        let (method, path, headers, body) = parse(&out);
        assert_eq!(
            (method.as_str(), path.as_str()),
            ("POST", "/api/oauth/token")
        );
        assert_eq!(
            String::from_utf8_lossy(&body),
            "grant_type=authorization_code&code=the-code\
             &redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&code_verifier=the-verifier"
        );
        assert!(headers.iter().any(|(n, _)| n == "authorization"));
    }

    #[test]
    fn the_code_is_read_from_the_redirect_and_errors_give_none_rfc6749_4_1_2() {
        assert_eq!(
            code_of_redirect(b"http://127.0.0.1/cb?code=abc-_9&state=lt&iss=http%3A%2F%2Fx"),
            Some(&b"abc-_9"[..])
        );
        assert_eq!(
            code_of_redirect(b"http://127.0.0.1/cb?state=lt&code=xyz"),
            Some(&b"xyz"[..])
        );
        assert_eq!(
            code_of_redirect(b"http://127.0.0.1/cb?error=access_denied&state=lt"),
            None
        );
        assert_eq!(code_of_redirect(b"http://127.0.0.1/cb"), None);
        assert_eq!(code_of_redirect(b"http://127.0.0.1/cb?code="), None);
    }

    #[test]
    fn jwt_bearer_request_carries_the_line_as_the_assertion_rfc7523_2_1() {
        let mut out = Vec::new();
        let enc = encoder(&["--scope", "read", "--no-client-auth"]);
        enc.line_into(&mut out, Op::JwtBearer, b"eyJh.eyJp.c2ln");
        let (method, path, headers, body) = parse(&out);
        assert_eq!(
            (method.as_str(), path.as_str()),
            ("POST", "/api/oauth/token")
        );
        assert_eq!(
            String::from_utf8_lossy(&body),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&scope=read\
             &assertion=eyJh.eyJp.c2ln"
        );
        assert!(!headers.iter().any(|(n, _)| n == "authorization"));
        let len = headers.iter().find(|(n, _)| n == "content-length");
        assert_eq!(len.map(|l| l.1.clone()), Some(body.len().to_string()));
    }

    #[test]
    fn saml2_bearer_request_authenticates_the_client_and_encodes_the_assertion_rfc7522_2_1() {
        let mut out = Vec::new();
        // A padded base64 line: the `=` is form-encoded.
        encoder(&[]).line_into(&mut out, Op::Saml2Bearer, b"PHNhbWw+AA==");
        let (_, _, headers, body) = parse(&out);
        assert_eq!(
            String::from_utf8_lossy(&body),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Asaml2-bearer\
             &assertion=PHNhbWw%2BAA%3D%3D"
        );
        assert!(headers.iter().any(|(n, _)| n == "authorization"));
    }

    #[test]
    fn a_token_body_line_is_sent_as_it_is_with_body_credentials_after_it() {
        let mut out = Vec::new();
        encoder(&["--client-auth-in-body"]).line_into(
            &mut out,
            Op::TokenBody,
            b"grant_type=x&assertion=a%2Bb",
        );
        let (_, _, _, body) = parse(&out);
        assert_eq!(
            String::from_utf8_lossy(&body),
            "grant_type=x&assertion=a%2Bb&client_id=svc-a&client_secret=bench-secret"
        );
    }

    #[test]
    fn tokeninfo_puts_the_token_in_the_query() {
        let (method, path, _, body) = parse(&encoder(&[]).tokeninfo(b"abc"));
        assert_eq!(
            (method.as_str(), path.as_str()),
            ("GET", "/api/oauth/tokeninfo?access_token=abc")
        );
        assert!(body.is_empty());
    }
}
