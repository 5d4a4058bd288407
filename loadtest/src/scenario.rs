//! The encoding of every request of a plan into bytes (the scenarios, operations and
//! weights themselves are in `plan`). Pure functions: no I/O.

use crate::plan::{Paths, Plan};

/// Encodes requests. Static requests are encoded once; per-token requests are written into
/// a caller's reused buffer.
#[derive(Debug, Clone)]
pub struct Encoder {
    host: String,
    basic: String,
    /// `&client_id=…&client_secret=…` when credentials go in the body.
    body_credentials: Option<String>,
    /// `&scope=…` or empty.
    scope: String,
    paths: Paths,
}

impl Encoder {
    pub fn new(plan: &Plan) -> Encoder {
        let enc = |s: &str| -> String { form_urlencoded::byte_serialize(s.as_bytes()).collect() };
        Encoder {
            host: plan.host.clone(),
            basic: plan.basic_auth(),
            body_credentials: plan.client_auth_in_body.then(|| {
                format!(
                    "&client_id={}&client_secret={}",
                    enc(&plan.client_id),
                    enc(&plan.client_secret)
                )
            }),
            scope: if plan.scope.is_empty() {
                String::new()
            } else {
                format!("&scope={}", enc(&plan.scope))
            },
            paths: plan.paths.clone(),
        }
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
        if self.body_credentials.is_none() {
            out.extend_from_slice(b"Authorization: ");
            out.extend_from_slice(self.basic.as_bytes());
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
    fn tokeninfo_puts_the_token_in_the_query() {
        let (method, path, _, body) = parse(&encoder(&[]).tokeninfo(b"abc"));
        assert_eq!(
            (method.as_str(), path.as_str()),
            ("GET", "/api/oauth/tokeninfo?access_token=abc")
        );
        assert!(body.is_empty());
    }
}
