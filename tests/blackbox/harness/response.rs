//! One HTTP/1.1 response as the server sent it: status line, headers in order, body bytes,
//! and the accessors the tests assert with (headers by name or token, JSON fields, a
//! one-line summary for failure messages).
//!
//! Pure data and parsing: it touches no socket (`client.rs` reads the bytes and frames the
//! body) and knows nothing about OAuth (`fixtures.rs` does).

use serde_json::Value;

/// One decoded HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// Parses a response head (status line and header lines, without the blank line that
    /// ends it) into a `Response` with an empty body; the connection reads the body.
    pub fn parse_head(head: &str) -> Result<Response, String> {
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let reason = parts.next().unwrap_or_default().to_string();
        if !version.starts_with("HTTP/1.") {
            return Err(format!("bad status line {status_line:?}"));
        }
        let mut headers = Vec::new();
        for line in lines {
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| format!("bad header line {line:?}"))?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(Response {
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
        })
    }

    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a comma-separated header contains `token` (case-insensitive), e.g.
    /// `Connection: close` or `Cache-Control: no-store`.
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers_named(name)
            .iter()
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}): status {} body {:?}",
                self.status,
                self.text()
            )
        })
    }

    /// String field `name` of the JSON body; panics when missing.
    pub fn json_str(&self, name: &str) -> String {
        match self.json().get(name) {
            Some(Value::String(s)) => s.clone(),
            other => panic!(
                "expected string field {name:?} in {}, got {other:?}",
                self.text()
            ),
        }
    }

    /// Integer field `name` of the JSON body; panics when missing.
    pub fn json_i64(&self, name: &str) -> i64 {
        match self.json().get(name).and_then(Value::as_i64) {
            Some(n) => n,
            None => panic!("expected integer field {name:?} in {}", self.text()),
        }
    }

    /// Whether the response says the connection will close.
    pub fn closes(&self) -> bool {
        self.header_has_token("Connection", "close")
    }

    /// A one-line summary for assertion messages.
    pub fn summary(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        format!(
            "{} {} {} [{}] {:?}",
            self.version,
            self.status,
            self.reason,
            headers.join(" | "),
            self.text()
        )
    }
}
