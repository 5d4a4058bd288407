//! An HTTP-level user agent for the authorize path: a cookie jar, the hidden fields of the
//! login and consent forms, PKCE pairs, and the parameters of a redirect. Tests drive the
//! flow step by step with it, against any node (the cookie jar goes with the agent, not the
//! server, as a browser's would).
//!
//! Uses `client` (raw requests), `response`, `server`.

use super::client::{form, raw_request, urlencode};
use super::response::Response;
use super::server::Server;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const AUTHORIZE_PATH: &str = "/api/oauth/authorize";

/// A PKCE verifier and its S256 challenge (RFC 7636 §4.1, §4.2).
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Pkce {
        let verifier: String = (0..64)
            .map(|i| {
                let n = (rand_u32() as usize + i) % 62;
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[n] as char
            })
            .collect();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish() as u32
}

/// A user agent: the cookies it holds.
#[derive(Debug, Clone, Default)]
pub struct Agent {
    pub cookies: BTreeMap<String, String>,
}

impl Agent {
    pub fn new() -> Agent {
        Agent::default()
    }

    fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// Takes the response's `Set-Cookie`s into the jar (`Max-Age=0` removes).
    fn absorb(&mut self, r: &Response) {
        for c in r.headers_named("Set-Cookie") {
            let pair = c.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if c.contains("Max-Age=0") || value.is_empty() {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies
                        .insert(name.trim().to_owned(), value.trim().to_owned());
                }
            }
        }
    }

    /// `GET path` with the jar's cookies and `headers`.
    pub fn get(&mut self, node: &Server, path: &str, headers: &[(&str, &str)]) -> Response {
        let cookie = self.cookie_header();
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(c) = &cookie {
            all.push(("Cookie", c));
        }
        let r = node.send_raw(&raw_request("GET", path, &all, b""));
        self.absorb(&r);
        r
    }

    /// `GET /api/oauth/authorize?{query}` with the jar's cookies.
    pub fn authorize(&mut self, node: &Server, query: &str) -> Response {
        self.get(node, &format!("{AUTHORIZE_PATH}?{query}"), &[])
    }

    /// A form POST with the jar's cookies.
    pub fn post(&mut self, node: &Server, path: &str, fields: &[(&str, &str)]) -> Response {
        let cookie = self.cookie_header();
        let body = form(fields);
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
        if let Some(c) = &cookie {
            headers.push(("Cookie", c));
        }
        let r = node.send_raw(&raw_request("POST", path, &headers, body.as_bytes()));
        self.absorb(&r);
        r
    }

    /// Submits the form of `page` (the login or consent page) with `extra` fields added to
    /// its hidden ones.
    pub fn submit(&mut self, node: &Server, page: &Response, extra: &[(&str, &str)]) -> Response {
        let mut fields = hidden_fields(&page.text());
        for (k, v) in extra {
            fields.push(((*k).to_owned(), (*v).to_owned()));
        }
        let borrowed: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.post(node, AUTHORIZE_PATH, &borrowed)
    }

    /// GET the authorize URL, log in as `user` on the login page and, if a consent page
    /// follows, allow: the final response (a redirect to the client, or an error page).
    pub fn log_in_and_allow(&mut self, node: &Server, query: &str, user: (&str, &str)) -> Response {
        let page = self.authorize(node, query);
        assert_eq!(page.status, 200, "login page: {}", page.summary());
        let after = self.submit(node, &page, &[("username", user.0), ("password", user.1)]);
        if after.status == 200 && after.text().contains("name=\"consent\"") {
            return self.submit(node, &after, &[("consent", "allow")]);
        }
        after
    }
}

/// The `name`/`value` pairs of the `<input type="hidden">` elements of an HTML page
/// (attributes as the built-in pages write them, entities decoded).
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for tag in html.split('<').filter(|t| t.starts_with("input")) {
        let tag = tag.split('>').next().unwrap_or_default();
        if !tag.contains("type=\"hidden\"") {
            continue;
        }
        if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
            out.push((n, v));
        }
    }
    out
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + tag[start..].find('"')?;
    Some(unescape(&tag[start..end]))
}

/// `s` with the HTML character references the built-in pages write decoded.
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&#x3d;", "=")
        .replace("&#x3D;", "=")
        .replace("&#x60;", "`")
        .replace("&amp;", "&")
}

/// The parameters of a redirect's `Location`: query or fragment, decoded.
pub fn redirect_params(r: &Response) -> BTreeMap<String, String> {
    let location = r
        .header("Location")
        .unwrap_or_else(|| panic!("no Location: {}", r.summary()));
    location_params(location)
}

pub fn location_params(location: &str) -> BTreeMap<String, String> {
    let part = match location.split_once('#') {
        Some((_, fragment)) => fragment,
        None => location.split_once('?').map_or("", |(_, q)| q),
    };
    form_urlencoded::parse(part.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The claims of a JWT (not verified: the relying-party test verifies signatures).
pub fn jwt_claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    let bytes = URL_SAFE_NO_PAD.decode(payload).expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// An authorize query for `client_id` with `redirect_uri`, `scope`, `state` and the S256
/// challenge of `pkce`, plus `extra` raw `&k=v` pairs.
pub fn code_query(
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    pkce: &Pkce,
    extra: &str,
) -> String {
    format!(
        "response_type=code&client_id={}&redirect_uri={}&scope={}&state=st-1&code_challenge={}&code_challenge_method=S256{extra}",
        urlencode(client_id),
        urlencode(redirect_uri),
        urlencode(scope),
        pkce.challenge
    )
}
