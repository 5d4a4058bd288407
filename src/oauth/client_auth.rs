//! Client authentication (RFC 6749 §2.3): who is calling the token, revoke and
//! introspection endpoints.
//!
//! A request uses exactly one method: `Authorization: Basic` (the default), or
//! `client_id` + `client_secret` in the form body, or — for a public client — `client_id`
//! alone. The method must be the one the client is registered with. A pure function over
//! the request's parts and the registry; no I/O.

use super::clients::{Client, Clients};
use super::error::OAuthError;
use super::params::Params;
use super::secret::Redacted;
use crate::oauth::types::AuthMethod;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::borrow::Cow;

/// Credentials as presented, before they are checked (secrets redacted from `Debug`).
#[derive(Debug, PartialEq, Eq)]
enum Presented<'a> {
    Basic {
        id: String,
        secret: Redacted<String>,
        raw: Option<(String, Redacted<String>)>,
    },
    Post {
        id: &'a str,
        secret: Redacted<&'a str>,
    },
    Public {
        id: &'a str,
    },
    Nothing,
}

/// Authenticates the caller of a client-authenticated endpoint.
pub fn authenticate<'c>(
    clients: &'c Clients,
    authorization: Option<&[u8]>,
    params: &Params<'_>,
) -> Result<&'c Client, OAuthError> {
    match presented(authorization, params)? {
        Presented::Basic { id, secret, raw } => {
            let client = match clients.get(&id) {
                Some(c) => c,
                None => {
                    clients.decoy_check(secret.as_bytes());
                    return Err(OAuthError::invalid_client("unknown client"));
                }
            };
            require_method(client, AuthMethod::ClientSecretBasic)?;
            // RFC 6749 §2.3.1 says id and secret are form-urlencoded inside Basic; many
            // clients (e.g. Python requests' HTTPBasicAuth) send them raw. A secret with '+'
            // or '%' would then never match, so the raw form is tried second.
            let ok = client.verify_secret(secret.as_bytes())
                || raw.is_some_and(|(raw_id, raw_secret)| {
                    raw_id == *client.id && client.verify_secret(raw_secret.as_bytes())
                });
            if ok {
                Ok(client)
            } else {
                Err(OAuthError::invalid_client("client authentication failed"))
            }
        }
        Presented::Post { id, secret } => {
            let Some(client) = clients.get(id) else {
                clients.decoy_check(secret.as_bytes());
                return Err(OAuthError::invalid_client("unknown client"));
            };
            require_method(client, AuthMethod::ClientSecretPost)?;
            if client.verify_secret(secret.as_bytes()) {
                Ok(client)
            } else {
                Err(OAuthError::invalid_client("client authentication failed"))
            }
        }
        Presented::Public { id } => {
            let client = clients
                .get(id)
                .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
            require_method(client, AuthMethod::None)?;
            Ok(client)
        }
        Presented::Nothing => Err(OAuthError::invalid_client(
            "client authentication is required",
        )),
    }
}

fn require_method(client: &Client, used: AuthMethod) -> Result<(), OAuthError> {
    if client.auth_method == used {
        return Ok(());
    }
    Err(OAuthError::invalid_client(match client.auth_method {
        AuthMethod::ClientSecretBasic => {
            "this client must authenticate with HTTP Basic (client_secret_basic)"
        }
        AuthMethod::ClientSecretPost => {
            "this client must send client_id and client_secret in the body (client_secret_post)"
        }
        AuthMethod::None => "this client is public: send client_id only",
    }))
}

fn presented<'a>(
    authorization: Option<&[u8]>,
    params: &'a Params<'a>,
) -> Result<Presented<'a>, OAuthError> {
    let basic = authorization.and_then(|h| strip_scheme(h, b"Basic"));
    if let Some(credentials) = basic {
        if params.client_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "more than one client authentication method (Basic header and client_secret)",
            ));
        }
        let (id, secret, raw) = decode_basic(credentials)?;
        if params
            .client_id
            .as_deref()
            .is_some_and(|body_id| body_id != id)
        {
            return Err(OAuthError::invalid_request(
                "client_id does not match the Authorization header",
            ));
        }
        return Ok(Presented::Basic {
            id,
            secret: Redacted(secret),
            raw: raw.map(|(i, s)| (i, Redacted(s))),
        });
    }
    match (params.client_id.as_deref(), params.client_secret.as_deref()) {
        (Some(id), Some(secret)) => Ok(Presented::Post {
            id,
            secret: Redacted(secret),
        }),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "client_secret given without client_id",
        )),
        (Some(id), None) => Ok(Presented::Public { id }),
        (None, None) => Ok(Presented::Nothing),
    }
}

/// The credentials after `scheme ` if the header uses `scheme` (case-insensitive).
pub fn strip_scheme<'h>(header: &'h [u8], scheme: &[u8]) -> Option<&'h [u8]> {
    let (name, rest) = header.split_at_checked(scheme.len())?;
    if !name.eq_ignore_ascii_case(scheme) || rest.first() != Some(&b' ') {
        return None;
    }
    Some(rest.trim_ascii())
}

type BasicParts = (String, String, Option<(String, String)>);

/// Decodes `base64(urlencode(id) ":" urlencode(secret))`; also returns the raw parts when
/// url-decoding changed them.
fn decode_basic(credentials: &[u8]) -> Result<BasicParts, OAuthError> {
    let bad = || OAuthError::invalid_client("malformed Basic credentials");
    let decoded = B64.decode(credentials).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (raw_id, raw_secret) = text.split_once(':').ok_or_else(bad)?;
    let (Some(id), Some(secret)) = (form_decode(raw_id), form_decode(raw_secret)) else {
        // Not form-encoded: only the raw parts can match.
        return Ok((raw_id.to_owned(), raw_secret.to_owned(), None));
    };
    let raw =
        (id != raw_id || secret != raw_secret).then(|| (raw_id.to_owned(), raw_secret.to_owned()));
    Ok((id.into_owned(), secret.into_owned(), raw))
}

/// RFC 6749 §2.3.1 / Appendix B: one `application/x-www-form-urlencoded` component,
/// decoded by the same decoder as the form body (`form_urlencoded`). `None` when it is not
/// a well-formed component: a raw `&` or `=` (which the encoding never leaves raw), or
/// bytes that do not decode to UTF-8 — the raw form is then the only one tried.
fn form_decode(s: &str) -> Option<Cow<'_, str>> {
    if s.contains(['&', '=']) {
        return None;
    }
    let mut pairs = form_urlencoded::parse(s.as_bytes());
    let decoded = match (pairs.next(), pairs.next()) {
        (None, _) => Cow::Borrowed(""),
        (Some((name, _)), None) => name,
        (Some(_), Some(_)) => return None,
    };
    // `form_urlencoded` replaces undecodable bytes with U+FFFD; a secret must not match
    // after losing bytes, so such a component counts as malformed.
    if decoded.contains('\u{FFFD}') && !s.contains('\u{FFFD}') {
        return None;
    }
    Some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::clients::fixtures::client;
    use crate::oauth::secret::SecretHash;
    use crate::oauth::types::GrantType;
    use tessera_storage::Interner;

    fn clients() -> Clients {
        let syms = Interner::new();
        let scopes = Interner::new();
        let mut basic = client(
            "basic",
            AuthMethod::ClientSecretBasic,
            &[GrantType::ClientCredentials],
            &syms,
            &scopes,
        );
        basic.secret = Some(SecretHash::new(b"s3cret+/%x"));
        let mut post = client(
            "post",
            AuthMethod::ClientSecretPost,
            &[GrantType::ClientCredentials],
            &syms,
            &scopes,
        );
        post.secret = Some(SecretHash::new(b"p"));
        let public = client(
            "public",
            AuthMethod::None,
            &[GrantType::Password],
            &syms,
            &scopes,
        );
        let mut odd = client(
            "odd",
            AuthMethod::ClientSecretBasic,
            &[GrantType::ClientCredentials],
            &syms,
            &scopes,
        );
        odd.secret = Some(SecretHash::new(b"a&b=c"));
        Clients::new(vec![basic, post, public, odd])
    }

    fn basic(id: &str, secret: &str) -> Vec<u8> {
        format!("Basic {}", B64.encode(format!("{id}:{secret}"))).into_bytes()
    }

    fn auth(header: Option<&[u8]>, body: &str) -> Result<String, String> {
        let c = clients();
        let p = Params::parse(body.as_bytes()).map_err(|e| e.to_string())?;
        authenticate(&c, header, &p)
            .map(|c| c.id.to_string())
            .map_err(|e| e.code.as_str().to_owned())
    }

    #[test]
    fn rfc6749_2_3_1_basic_with_urlencoded_secret() {
        let h = basic("basic", "s3cret%2B%2F%25x");
        assert_eq!(auth(Some(&h), ""), Ok("basic".into()));
    }

    #[test]
    fn basic_with_raw_secret_from_clients_that_do_not_urlencode() {
        let h = basic("basic", "s3cret+/%x");
        assert_eq!(auth(Some(&h), ""), Ok("basic".into()));
    }

    #[test]
    fn wrong_secret_unknown_client_and_no_credentials_are_invalid_client() {
        assert_eq!(
            auth(Some(&basic("basic", "nope")), ""),
            Err("invalid_client".into())
        );
        assert_eq!(
            auth(Some(&basic("ghost", "x")), ""),
            Err("invalid_client".into())
        );
        assert_eq!(auth(None, ""), Err("invalid_client".into()));
        assert_eq!(auth(Some(b"Basic !!!"), ""), Err("invalid_client".into()));
    }

    #[test]
    fn rfc6749_2_3_one_method_per_request() {
        let h = basic("basic", "s3cret%2B%2F%25x");
        assert_eq!(
            auth(Some(&h), "client_secret=x&client_id=basic"),
            Err("invalid_request".into())
        );
        assert_eq!(
            auth(Some(&h), "client_id=other"),
            Err("invalid_request".into())
        );
        assert_eq!(auth(Some(&h), "client_id=basic"), Ok("basic".into()));
    }

    #[test]
    fn client_must_use_its_registered_method() {
        assert_eq!(
            auth(None, "client_id=post&client_secret=p"),
            Ok("post".into())
        );
        assert_eq!(
            auth(Some(&basic("post", "p")), ""),
            Err("invalid_client".into())
        );
        assert_eq!(
            auth(None, "client_id=basic&client_secret=s3cret%2B%2F%25x"),
            Err("invalid_client".into())
        );
        assert_eq!(auth(None, "client_id=basic"), Err("invalid_client".into()));
    }

    #[test]
    fn public_client_presents_only_its_id() {
        assert_eq!(auth(None, "client_id=public"), Ok("public".into()));
    }

    #[test]
    fn scheme_match_is_case_insensitive() {
        assert_eq!(strip_scheme(b"bAsIc abc", b"Basic"), Some(&b"abc"[..]));
        assert_eq!(strip_scheme(b"Bearer abc", b"Basic"), None);
        assert_eq!(strip_scheme(b"Basicabc", b"Basic"), None);
    }

    #[test]
    fn rfc6749_2_3_1_post_unknown_client_or_wrong_secret_is_invalid_client() {
        assert_eq!(
            auth(None, "client_id=ghost&client_secret=p"),
            Err("invalid_client".into())
        );
        assert_eq!(
            auth(None, "client_id=post&client_secret=q"),
            Err("invalid_client".into())
        );
    }

    #[test]
    fn public_client_presenting_a_secret_is_invalid_client() {
        assert_eq!(
            auth(None, "client_id=public&client_secret=x"),
            Err("invalid_client".into())
        );
        assert_eq!(
            auth(Some(&basic("public", "")), ""),
            Err("invalid_client".into())
        );
        assert_eq!(auth(None, "client_id=ghost"), Err("invalid_client".into()));
    }

    #[test]
    fn rfc6749_2_3_1_secret_without_id_is_invalid_request() {
        assert_eq!(auth(None, "client_secret=p"), Err("invalid_request".into()));
    }

    #[test]
    fn malformed_basic_credentials_are_invalid_client() {
        use base64::engine::general_purpose::STANDARD as B64;
        for bad in [
            format!("Basic {}", B64.encode("no-colon")),
            format!("Basic {}", B64.encode([0xff, b':', 0xfe])),
            "Basic".to_owned(),
        ] {
            assert_eq!(
                auth(Some(bad.as_bytes()), ""),
                Err("invalid_client".into()),
                "{bad}"
            );
        }
    }

    #[test]
    fn basic_secret_with_raw_reserved_characters_or_undecodable_escapes_is_compared_raw() {
        assert_eq!(auth(Some(&basic("odd", "a&b=c")), ""), Ok("odd".into()));
        assert_eq!(auth(Some(&basic("odd", "a%26b%3Dc")), ""), Ok("odd".into()));
        // %FF decodes to no UTF-8: never matched through a lossy replacement character.
        assert_eq!(
            auth(Some(&basic("basic", "s3cret%FF")), ""),
            Err("invalid_client".into())
        );
    }
}
