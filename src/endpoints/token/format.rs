//! The token endpoint's `format` parameter (issue 13; the gateway Tessera replaces offers
//! it): the token response of RFC 6749 §5.1 and the error response of §5.2 written as JSON
//! (the default, and the RFC's), form-encoded (`application/x-www-form-urlencoded`, as
//! GitHub's token endpoint answers), or as a small XML document:
//!
//! ```text
//! <?xml version="1.0" encoding="UTF-8"?><token><access_token>..</access_token><token_type>Bearer</token_type><expires_in>3600</expires_in>..</token>
//! <?xml version="1.0" encoding="UTF-8"?><error_response><error>invalid_client</error><error_description>..</error_description></error_response>
//! ```
//!
//! Every format carries the same flat members in the same order as the JSON object. This
//! module only encodes: it appends to the connection's reused body buffer and decides the
//! `Content-Type`; the status and the other header fields of an error stay those of
//! [`crate::endpoints::error_reply`]. The JSON path goes straight to [`JsonObject`], so the
//! default costs nothing more than before.

use crate::http::json::JsonObject;
use crate::http::response::description_chars;
use crate::http::Reply;
use crate::oauth::OAuthError;

/// How the token endpoint writes its answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// `application/json` (RFC 6749 §5.1): the default.
    #[default]
    Json,
    /// `application/x-www-form-urlencoded`: `access_token=..&token_type=Bearer&..`.
    Urlencoded,
    /// `application/xml; charset=utf-8`: `<token><access_token>..</access_token>..</token>`.
    Xml,
}

impl Format {
    pub const URLENCODED: &'static str = "application/x-www-form-urlencoded";
    pub const XML: &'static str = "application/xml; charset=utf-8";

    /// The `format` parameter's value (absent or empty: JSON). Values are exact, as other
    /// OAuth parameter values are.
    pub fn from_param(value: Option<&str>) -> Result<Format, OAuthError> {
        match value {
            None | Some("json") => Ok(Format::Json),
            Some("urlencoded") => Ok(Format::Urlencoded),
            Some("xml") => Ok(Format::Xml),
            Some(_) => Err(OAuthError::invalid_request(
                "format must be json, urlencoded or xml",
            )),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => Reply::JSON,
            Format::Urlencoded => Format::URLENCODED,
            Format::Xml => Format::XML,
        }
    }

    /// A token response (never cached, RFC 6749 §5.1) with `status` in this format.
    pub fn reply(self, status: u16) -> Reply {
        Reply {
            content_type: Some(self.content_type()),
            ..Reply::sensitive_json(status)
        }
    }
}

/// Writes one flat response object into a body buffer in a [`Format`]. Member names are
/// `&'static str` literals chosen by the code (they need no escaping in any format); the
/// values are data and are escaped.
#[derive(Debug)]
pub enum Fields<'a> {
    Json(JsonObject<'a>),
    Urlencoded {
        out: &'a mut Vec<u8>,
        empty: bool,
    },
    Xml {
        out: &'a mut Vec<u8>,
        root: &'static str,
    },
}

impl<'a> Fields<'a> {
    /// Starts the object; `root` names the XML document element (unused by the others).
    pub fn new(format: Format, out: &'a mut Vec<u8>, root: &'static str) -> Fields<'a> {
        match format {
            Format::Json => Fields::Json(JsonObject::new(out)),
            Format::Urlencoded => Fields::Urlencoded { out, empty: true },
            Format::Xml => {
                out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><");
                out.extend_from_slice(root.as_bytes());
                out.push(b'>');
                Fields::Xml { out, root }
            }
        }
    }

    pub fn str(&mut self, name: &'static str, value: &str) -> &mut Self {
        match self {
            Fields::Json(o) => {
                o.str(name, value);
            }
            Fields::Urlencoded { out, empty } => {
                pair_start(out, empty, name);
                for piece in form_urlencoded::byte_serialize(value.as_bytes()) {
                    out.extend_from_slice(piece.as_bytes());
                }
            }
            Fields::Xml { out, .. } => {
                element(out, name, |out| write_xml_text(out, value));
            }
        }
        self
    }

    pub fn num(&mut self, name: &'static str, value: u64) -> &mut Self {
        let mut n = itoa::Buffer::new();
        match self {
            Fields::Json(o) => {
                o.num(name, value);
            }
            Fields::Urlencoded { out, empty } => {
                pair_start(out, empty, name);
                out.extend_from_slice(n.format(value).as_bytes());
            }
            Fields::Xml { out, .. } => {
                element(out, name, |out| {
                    out.extend_from_slice(n.format(value).as_bytes());
                });
            }
        }
        self
    }

    pub fn finish(&mut self) {
        match self {
            Fields::Json(o) => o.finish(),
            Fields::Urlencoded { .. } => {}
            Fields::Xml { out, root } => {
                out.extend_from_slice(b"</");
                out.extend_from_slice(root.as_bytes());
                out.push(b'>');
            }
        }
    }
}

/// `&name=` (no `&` before the first pair).
fn pair_start(out: &mut Vec<u8>, empty: &mut bool, name: &'static str) {
    if !*empty {
        out.push(b'&');
    }
    *empty = false;
    out.extend_from_slice(name.as_bytes());
    out.push(b'=');
}

/// `<name>..</name>`, the content written by `content`.
fn element(out: &mut Vec<u8>, name: &'static str, content: impl FnOnce(&mut Vec<u8>)) {
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
    content(out);
    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
}

/// Appends `value` as XML character data: the five markup characters as entities, CR as a
/// character reference (a parser would turn a literal one into LF), and the characters XML
/// 1.0 forbids in a document (§2.2: C0 controls other than tab, LF and CR; U+FFFE, U+FFFF)
/// as U+FFFD, so the document stays well-formed whatever the value. Runs that need nothing
/// are copied whole.
fn write_xml_text(out: &mut Vec<u8>, value: &str) {
    let mut run = 0;
    for (i, c) in value.char_indices() {
        let replacement = match c {
            '<' => "&lt;",
            '>' => "&gt;",
            '&' => "&amp;",
            '"' => "&quot;",
            '\'' => "&apos;",
            '\r' => "&#13;",
            '\t' | '\n' => continue,
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => "\u{FFFD}",
            _ => continue,
        };
        out.extend_from_slice(&value.as_bytes()[run..i]);
        out.extend_from_slice(replacement.as_bytes());
        run = i + c.len_utf8();
    }
    out.extend_from_slice(&value.as_bytes()[run..]);
}

/// RFC 6749 §5.2 in `format`: the status and header fields (`WWW-Authenticate` on a 401,
/// `Retry-After` on a 429 or 503, no caching) are exactly those of the JSON error, which
/// [`crate::endpoints::error_reply`] decides; only the body and its `Content-Type` change.
/// The description is limited to the RFC's characters in every format.
pub fn error_reply(format: Format, e: &OAuthError, body: &mut Vec<u8>) -> Reply {
    let reply = crate::endpoints::error_reply(e, body);
    if format == Format::Json {
        return reply;
    }
    // The JSON body just written is replaced: an error is rare enough for that to be
    // cheaper than a second copy of the status and header rules.
    body.clear();
    let mut o = Fields::new(format, body, "error_response");
    o.str("error", e.code.as_str());
    if !e.description.is_empty() {
        o.str("error_description", &description_chars(&e.description));
    }
    o.finish();
    Reply {
        content_type: Some(format.content_type()),
        ..reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::error::ErrorCode;

    fn write(format: Format, pairs: &[(&'static str, &str)], number: u64) -> String {
        let mut out = Vec::new();
        let mut o = Fields::new(format, &mut out, "token");
        for (name, value) in pairs {
            o.str(name, value);
        }
        o.num("expires_in", number);
        o.finish();
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn format_parameter_accepts_json_urlencoded_and_xml_and_defaults_to_json() {
        assert_eq!(Format::from_param(None), Ok(Format::Json));
        assert_eq!(Format::from_param(Some("json")), Ok(Format::Json));
        assert_eq!(
            Format::from_param(Some("urlencoded")),
            Ok(Format::Urlencoded)
        );
        assert_eq!(Format::from_param(Some("xml")), Ok(Format::Xml));
        for bad in ["XML", "form", "jsonp", " json"] {
            let e = Format::from_param(Some(bad)).expect_err(bad);
            assert_eq!(e.code, ErrorCode::InvalidRequest);
            assert_eq!(e.description, "format must be json, urlencoded or xml");
        }
    }

    #[test]
    fn json_fields_are_exactly_the_json_object_writer() {
        let pairs = [("access_token", "a\"b"), ("token_type", "Bearer")];
        let mut expected = Vec::new();
        JsonObject::new(&mut expected)
            .str("access_token", "a\"b")
            .str("token_type", "Bearer")
            .num("expires_in", 3600)
            .finish();
        assert_eq!(
            write(Format::Json, &pairs, 3600).as_bytes(),
            expected.as_slice()
        );
    }

    #[test]
    fn urlencoded_round_trips_through_form_urlencoded_parsing() {
        let hostile = "a b&c=d+e%f/g?h#i<j>\"k'l é ü 漢 \u{1F600}\r\n";
        let text = write(
            Format::Urlencoded,
            &[
                ("access_token", "abcDEF-_123"),
                ("token_type", "Bearer"),
                ("scope", hostile),
            ],
            3600,
        );
        assert!(
            text.starts_with("access_token=abcDEF-_123&token_type=Bearer&scope="),
            "{text}"
        );
        assert!(text.ends_with("&expires_in=3600"), "{text}");
        assert!(text.is_ascii(), "{text}");
        let pairs: Vec<(String, String)> = form_urlencoded::parse(text.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(
            pairs,
            [
                ("access_token".to_string(), "abcDEF-_123".to_string()),
                ("token_type".to_string(), "Bearer".to_string()),
                ("scope".to_string(), hostile.to_string()),
                ("expires_in".to_string(), "3600".to_string()),
            ]
        );
    }

    #[test]
    fn xml_escapes_the_markup_characters_and_keeps_non_ascii() {
        let text = write(
            Format::Xml,
            &[("scope", "<a&b>\"c'd"), ("token_type", "é ü 漢 \u{1F600}")],
            7,
        );
        assert_eq!(
            text,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><token>\
             <scope>&lt;a&amp;b&gt;&quot;c&apos;d</scope>\
             <token_type>é ü 漢 \u{1F600}</token_type>\
             <expires_in>7</expires_in></token>"
        );
    }

    #[test]
    fn xml_stays_well_formed_with_characters_xml_forbids() {
        let mut out = Vec::new();
        write_xml_text(&mut out, "a\u{0}b\u{1b}c\td\re\nf\u{FFFE}g\u{FFFF}");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "a\u{FFFD}b\u{FFFD}c\td&#13;e\nf\u{FFFD}g\u{FFFD}"
        );
        let mut out = Vec::new();
        write_xml_text(&mut out, "plain-token_123");
        assert_eq!(out, b"plain-token_123");
    }

    #[test]
    fn rfc6749_5_2_errors_keep_status_and_headers_in_every_format() {
        let e = OAuthError::client_authentication_failed();
        let mut json = Vec::new();
        let expected = crate::endpoints::error_reply(&e, &mut json);
        for format in [Format::Json, Format::Urlencoded, Format::Xml] {
            let mut body = b"left over".to_vec();
            let reply = error_reply(format, &e, &mut body);
            assert_eq!(
                reply,
                Reply {
                    content_type: Some(format.content_type()),
                    ..expected
                }
            );
            assert!(reply.basic_challenge && reply.no_store && reply.status == 401);
            let text = String::from_utf8(body).expect("utf-8");
            match format {
                Format::Json => assert_eq!(text.as_bytes(), json.as_slice()),
                Format::Urlencoded => assert_eq!(
                    text,
                    "error=invalid_client&error_description=client+authentication+failed"
                ),
                Format::Xml => assert_eq!(
                    text,
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><error_response>\
                     <error>invalid_client</error>\
                     <error_description>client authentication failed</error_description>\
                     </error_response>"
                ),
            }
        }
        let lockout = OAuthError::too_many_failed_attempts(17);
        let reply = error_reply(Format::Xml, &lockout, &mut Vec::new());
        assert_eq!((reply.status, reply.retry_after), (429, Some(17)));
    }

    #[test]
    fn rfc6749_5_2_error_descriptions_hold_only_the_allowed_characters_in_every_format() {
        let e = OAuthError::invalid_scope("scope \"<a&b>\" é");
        let mut body = Vec::new();
        error_reply(Format::Xml, &e, &mut body);
        let text = String::from_utf8(body).expect("utf-8");
        assert!(
            text.contains(
                "<error_description>scope &apos;&lt;a&amp;b&gt;&apos; ?</error_description>"
            ),
            "{text}"
        );
    }
}
