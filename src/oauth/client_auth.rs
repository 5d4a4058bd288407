//! Client authentication (RFC 6749 §2.3): who is calling the token, revoke and
//! introspection endpoints.
//!
//! A request uses exactly one method: `Authorization: Basic` (the default), or
//! `client_id` + `client_secret` in the form body, or a signed JWT in `client_assertion`
//! (`private_key_jwt`, `client_secret_jwt`: RFC 7523 §2.2, OpenID Connect Core §9), or —
//! for a public client — `client_id` alone. The method must be the one the client is
//! registered with. Pure functions over the request's parts and the registry; no I/O: a
//! client assertion's `jti` comes back as a [`OneTime`] for the endpoint to use up in the
//! store.
//!
//! Two steps, so the endpoint can consult its brute-force guard between them with the
//! claimed client id: [`presented`] reads the credentials, [`verify`] checks them. Every
//! authentication failure is the same answer at the same cost (see [`verify`]).

use super::clients::{Client, Clients};
use super::error::OAuthError;
use super::jose::{self, Jwt, TimeRules};
use super::once::OneTime;
use super::params::Params;
use crate::oauth::types::AuthMethod;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::borrow::Cow;

/// Credentials as presented, before they are checked: what [`presented`] read from the
/// request, for the caller to look up in its brute-force guard before [`verify`].
///
/// `Debug` shows the method and the client id, never a secret.
pub struct Presented<'a>(Credentials<'a>);

#[allow(
    clippy::large_enum_variant,
    reason = "Basic credentials are inline on purpose: boxing them is the allocation per request this avoids"
)]
enum Credentials<'a> {
    Basic(Basic),
    Post {
        id: &'a str,
        secret: &'a str,
    },
    Public {
        id: &'a str,
    },
    /// A client assertion, decoded but not verified.
    Assertion {
        jwt: Box<Jwt<'a>>,
    },
    Nothing,
}

/// `client_assertion_type` of a JWT client authentication (RFC 7523 §2.2).
pub const JWT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What a client assertion must satisfy besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct AssertionRules<'a> {
    /// Accepted `aud` values: the token endpoint URL, the issuer, the endpoint called.
    pub audiences: &'a [&'a str],
    pub time: TimeRules,
}

/// An authenticated client, and the `jti` of its client assertion that must now be used
/// up store-wide before the request goes on.
#[derive(Debug)]
pub struct Authenticated<'c> {
    pub client: &'c Client,
    pub once: Option<OneTime>,
}

impl Presented<'_> {
    /// The client id the request claims, if it names one.
    pub fn client_id(&self) -> Option<&str> {
        match &self.0 {
            Credentials::Basic(basic) => Some(basic.id()),
            Credentials::Post { id, .. } | Credentials::Public { id } => Some(id),
            Credentials::Assertion { jwt } => Some(&jwt.claims_unverified().iss),
            Credentials::Nothing => None,
        }
    }
}

impl std::fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let method = match self.0 {
            Credentials::Basic(_) => "client_secret_basic",
            Credentials::Post { .. } => "client_secret_post",
            Credentials::Public { .. } => "none",
            Credentials::Assertion { .. } => "client_assertion",
            Credentials::Nothing => "nothing",
        };
        f.debug_struct("Presented")
            .field("method", &method)
            .field("client_id", &self.client_id())
            .finish()
    }
}

/// Authenticates the caller of a client-authenticated endpoint: [`presented`], then
/// [`verify`].
pub fn authenticate<'c>(
    clients: &'c Clients,
    authorization: Option<&[u8]>,
    params: &Params<'_>,
    rules: &AssertionRules<'_>,
) -> Result<Authenticated<'c>, OAuthError> {
    verify(clients, &presented(authorization, params)?, rules)
}

/// Checks presented credentials against the registry.
///
/// Every failure — unknown client, wrong secret, a method the client is not registered
/// for, no credentials — is the same [`OAuthError::client_authentication_failed`], and
/// costs the same: a presented secret is always checked against a hash of the same kind
/// (the client's, or the decoy's when the client is unknown or has no secret), and the
/// method is compared only after that check.
///
/// A client assertion is held to the same rule until its signature verifies: an unknown
/// client, a wrong key and a bad signature are the one uniform failure. Only the holder of
/// the client's key learns more — which claim failed (expired, audience, `jti`, …).
pub fn verify<'c>(
    clients: &'c Clients,
    presented: &Presented<'_>,
    rules: &AssertionRules<'_>,
) -> Result<Authenticated<'c>, OAuthError> {
    let (client, used) = match &presented.0 {
        Credentials::Assertion { jwt } => return verify_assertion(clients, jwt, rules),
        Credentials::Basic(basic) => {
            let (id, secret) = (basic.id(), basic.secret());
            let client = clients.get(id);
            // RFC 6749 §2.3.1 says id and secret are form-urlencoded inside Basic; many
            // clients (e.g. Python requests' HTTPBasicAuth) send them raw. A secret with '+'
            // or '%' would then never match, so the raw form is tried second.
            let ok = secret_matches(clients, client, secret)
                || basic.raw().is_some_and(|(raw_id, raw_secret)| {
                    raw_id == id && secret_matches(clients, client, raw_secret)
                });
            (client.filter(|_| ok), AuthMethod::ClientSecretBasic)
        }
        Credentials::Post { id, secret } => {
            let client = clients.get(id);
            let ok = secret_matches(clients, client, secret);
            (client.filter(|_| ok), AuthMethod::ClientSecretPost)
        }
        // No secret, so nothing to hash whether the client exists or not.
        Credentials::Public { id } => (clients.get(id), AuthMethod::None),
        Credentials::Nothing => (None, AuthMethod::None),
    };
    client
        .filter(|c| c.auth_method == used)
        .map(|client| Authenticated { client, once: None })
        .ok_or_else(OAuthError::client_authentication_failed)
}

/// RFC 7523 §3 for client authentication: `iss` and `sub` are the client id, signed with
/// the client's keys (`private_key_jwt`) or HS256 with its secret (`client_secret_jwt`).
fn verify_assertion<'c>(
    clients: &'c Clients,
    jwt: &Jwt<'_>,
    rules: &AssertionRules<'_>,
) -> Result<Authenticated<'c>, OAuthError> {
    let failed = OAuthError::client_authentication_failed;
    let iss = &jwt.claims_unverified().iss;
    let client = clients.get(iss).ok_or_else(failed)?;
    let claims = match (client.auth_method, &client.keys, &client.jwt_secret) {
        (AuthMethod::PrivateKeyJwt, Some(keys), _) => jwt.verify(keys),
        (AuthMethod::ClientSecretJwt, _, Some(secret)) => jwt.verify_hs256(&secret.0),
        _ => return Err(failed()),
    }
    .map_err(|_| failed())?;
    let refused = |why: &dyn std::fmt::Display| {
        OAuthError::invalid_client(format!("client assertion refused: {why}"))
    };
    if claims.sub != claims.iss {
        return Err(refused(&"its sub must be the client id, as its iss is"));
    }
    jose::check_claims(claims, rules.audiences, rules.time).map_err(|e| refused(&e))?;
    let jti = claims
        .jti
        .as_deref()
        .ok_or_else(|| refused(&"it has no jti, so a replay could not be recognised"))?;
    let until = claims.exp.saturating_add(rules.time.skew);
    Ok(Authenticated {
        client,
        once: Some(OneTime::jwt(&client.id, jti, until)),
    })
}

/// Whether `secret` is `client`'s; the decoy hash is checked instead when there is no such
/// client or it has no secret, so every answer costs one hash check.
fn secret_matches(clients: &Clients, client: Option<&Client>, secret: &str) -> bool {
    match client.filter(|c| c.secret.is_some()) {
        Some(c) => c.verify_secret(secret.as_bytes()),
        None => {
            clients.decoy_check(secret.as_bytes());
            false
        }
    }
}

/// Reads the credentials of a request: exactly one method (RFC 6749 §2.3). Protocol errors
/// — two methods at once, a body `client_id` that contradicts the header, a secret without
/// an id — are `invalid_request`; Basic credentials that do not decode are the uniform
/// client authentication failure.
pub fn presented<'a>(
    authorization: Option<&[u8]>,
    params: &'a Params<'a>,
) -> Result<Presented<'a>, OAuthError> {
    let basic = authorization.and_then(|h| strip_scheme(h, b"Basic"));
    match (
        params.client_assertion_type.as_deref(),
        params.client_assertion.as_deref(),
    ) {
        (None, None) => {}
        (Some(JWT_ASSERTION_TYPE), Some(assertion)) => {
            if basic.is_some() || params.client_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "more than one client authentication method (client_assertion and a secret)",
                ));
            }
            // RFC 7521 §4.2: a malformed assertion is a failed authentication.
            let jwt =
                jose::decode(assertion).map_err(|_| OAuthError::client_authentication_failed())?;
            if params
                .client_id
                .as_deref()
                .is_some_and(|id| id != jwt.claims_unverified().iss)
            {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the client assertion's iss",
                ));
            }
            return Ok(Presented(Credentials::Assertion { jwt: Box::new(jwt) }));
        }
        (Some(JWT_ASSERTION_TYPE), None) => {
            return Err(OAuthError::invalid_request(
                "client_assertion_type given without client_assertion",
            ))
        }
        (Some(_), _) => {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {JWT_ASSERTION_TYPE} (RFC 7523 section 2.2)"
            )))
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "client_assertion given without client_assertion_type",
            ))
        }
    }
    if let Some(credentials) = basic {
        if params.client_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "more than one client authentication method (Basic header and client_secret)",
            ));
        }
        let basic = Basic::decode(credentials)?;
        if params
            .client_id
            .as_deref()
            .is_some_and(|body_id| body_id != basic.id())
        {
            return Err(OAuthError::invalid_request(
                "client_id does not match the Authorization header",
            ));
        }
        return Ok(Presented(Credentials::Basic(basic)));
    }
    let credentials = match (params.client_id.as_deref(), params.client_secret.as_deref()) {
        (Some(id), Some(secret)) => Credentials::Post { id, secret },
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "client_secret given without client_id",
            ))
        }
        (Some(id), None) => Credentials::Public { id },
        (None, None) => Credentials::Nothing,
    };
    Ok(Presented(credentials))
}

/// The credentials after `scheme ` if the header uses `scheme` (case-insensitive).
pub fn strip_scheme<'h>(header: &'h [u8], scheme: &[u8]) -> Option<&'h [u8]> {
    let (name, rest) = header.split_at_checked(scheme.len())?;
    if !name.eq_ignore_ascii_case(scheme) || rest.first() != Some(&b' ') {
        return None;
    }
    Some(rest.trim_ascii())
}

/// A resource owner's `Authorization: Basic` credentials (RFC 7617 §2: `user-id ":"
/// password`, not form-encoded), for the authorize path's scripted login
/// (`authorize.allow_basic_login`). `None` when the header is not well-formed Basic.
pub fn basic_credentials(
    header: &[u8],
) -> Option<(String, crate::oauth::secret::Redacted<String>)> {
    let encoded = strip_scheme(header, b"Basic")?;
    let decoded = String::from_utf8(B64.decode(encoded).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((
        user.to_owned(),
        crate::oauth::secret::Redacted(password.to_owned()),
    ))
}

/// Decoded Basic credentials up to this size are kept inline: every request of a client
/// that authenticates with Basic decodes them, and the hot paths allocate nothing.
const INLINE_BASIC: usize = 256;

/// `base64(urlencode(id) ":" urlencode(secret))`, decoded: the text inline (on the heap
/// only when longer than [`INLINE_BASIC`]) and, only when url-decoding changed a part, the
/// url-decoded parts (RFC 6749 §2.3.1 encodes them; most clients send them raw).
struct Basic {
    text: BasicText,
    /// Where the `:` between id and secret is in `text`.
    colon: usize,
    /// The url-decoded id and secret, when they differ from the raw ones.
    decoded: Option<(String, String)>,
}

#[allow(
    clippy::large_enum_variant,
    reason = "inline on purpose: the heap variant is for credentials too long for it"
)]
enum BasicText {
    Inline {
        bytes: [u8; INLINE_BASIC],
        len: usize,
    },
    Heap(String),
}

impl BasicText {
    fn as_str(&self) -> &str {
        match self {
            // Checked to be UTF-8 when decoded.
            BasicText::Inline { bytes, len } => {
                std::str::from_utf8(bytes.get(..*len).unwrap_or_default()).unwrap_or_default()
            }
            BasicText::Heap(s) => s,
        }
    }
}

impl Basic {
    fn decode(credentials: &[u8]) -> Result<Basic, OAuthError> {
        let bad = OAuthError::client_authentication_failed;
        // 3 bytes per 4 characters, rounded up: what base64 may need to hold the output.
        let text = if credentials.len().div_ceil(4) * 3 <= INLINE_BASIC {
            let mut bytes = [0u8; INLINE_BASIC];
            let len = B64
                .decode_slice(credentials, &mut bytes)
                .map_err(|_| bad())?;
            let valid = bytes
                .get(..len)
                .is_some_and(|b| std::str::from_utf8(b).is_ok());
            if !valid {
                return Err(bad());
            }
            BasicText::Inline { bytes, len }
        } else {
            let decoded = B64.decode(credentials).map_err(|_| bad())?;
            BasicText::Heap(String::from_utf8(decoded).map_err(|_| bad())?)
        };
        let raw = text.as_str();
        let colon = raw.find(':').ok_or_else(bad)?;
        let (raw_id, raw_secret) = (&raw[..colon], &raw[colon + 1..]);
        let decoded = match (form_decode(raw_id), form_decode(raw_secret)) {
            (Some(id), Some(secret)) if id != raw_id || secret != raw_secret => {
                Some((id.into_owned(), secret.into_owned()))
            }
            // Unchanged by url-decoding, or not form-encoded: only the raw parts can match.
            _ => None,
        };
        Ok(Basic {
            text,
            colon,
            decoded,
        })
    }

    fn raw_parts(&self) -> (&str, &str) {
        let text = self.text.as_str();
        let id = text.get(..self.colon).unwrap_or_default();
        let secret = text.get(self.colon + 1..).unwrap_or_default();
        (id, secret)
    }

    /// The client id: url-decoded if it was form-encoded, else as sent.
    fn id(&self) -> &str {
        match &self.decoded {
            Some((id, _)) => id,
            None => self.raw_parts().0,
        }
    }

    fn secret(&self) -> &str {
        match &self.decoded {
            Some((_, secret)) => secret,
            None => self.raw_parts().1,
        }
    }

    /// The parts as sent, when url-decoding changed them (tried second).
    fn raw(&self) -> Option<(&str, &str)> {
        self.decoded.as_ref().map(|_| self.raw_parts())
    }
}

/// RFC 6749 §2.3.1 / Appendix B: one `application/x-www-form-urlencoded` component,
/// decoded as the form body is (`+` is a space, then percent-decoding). `None` when it is
/// not a well-formed component: a raw `&` or `=` (which the encoding never leaves raw), or
/// bytes that do not decode to UTF-8 — the raw form is then the only one tried. Strict
/// where `form_urlencoded` is lossy: a secret must not match after losing bytes to U+FFFD,
/// while a U+FFFD that was percent-encoded (`%EF%BF%BD`) is an ordinary character.
fn form_decode(s: &str) -> Option<Cow<'_, str>> {
    if s.contains(['&', '=']) {
        return None;
    }
    if !s.contains('+') {
        return percent_encoding::percent_decode_str(s).decode_utf8().ok();
    }
    let spaced = s.replace('+', " ");
    let decoded = percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()?;
    Some(Cow::Owned(decoded.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::clients::fixtures::client;
    use crate::oauth::jose::testkeys::{self, TestKey};
    use crate::oauth::jose::JwsAlg;
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
        let mut pk = client(
            "pk",
            AuthMethod::PrivateKeyJwt,
            &[GrantType::ClientCredentials],
            &syms,
            &scopes,
        );
        pk.secret = None;
        pk.keys = Some(std::sync::Arc::new(jose::Keys::new(
            jose::KeySet::from_pem(&testkeys::public_pem(TestKey::P256)).expect("pem"),
            None,
        )));
        let mut cs = client(
            "cs",
            AuthMethod::ClientSecretJwt,
            &[GrantType::ClientCredentials],
            &syms,
            &scopes,
        );
        cs.jwt_secret = Some(crate::oauth::secret::Redacted(CS_SECRET.into()));
        Clients::new(vec![basic, post, public, odd, pk, cs])
    }

    const CS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const AUD: &str = "https://as.example/api/oauth/token";

    fn assertion_claims(client: &str) -> serde_json::Value {
        serde_json::json!({
            "iss": client, "sub": client, "aud": AUD,
            "exp": 1_000 + 120, "iat": 1_000, "jti": "j-1",
        })
    }

    fn with_assertion(jwt: &str) -> String {
        format!("client_assertion_type={JWT_ASSERTION_TYPE}&client_assertion={jwt}")
    }

    fn jwt_auth(body: &str) -> Result<Authenticated<'static>, OAuthError> {
        let c: &'static Clients = Box::leak(Box::new(clients()));
        let p: &'static Params<'static> = Box::leak(Box::new(
            Params::parse(Box::leak(body.to_owned().into_boxed_str()).as_bytes()).expect("form"),
        ));
        authenticate(c, None, p, &RULES)
    }

    #[test]
    fn rfc7523_2_2_private_key_jwt_authenticates_and_returns_its_jti_to_use_up() {
        let jwt = testkeys::token(&assertion_claims("pk"), JwsAlg::ES256, TestKey::P256, None);
        let a = jwt_auth(&with_assertion(&jwt)).expect("authenticated");
        assert_eq!(&*a.client.id, "pk");
        assert_eq!(a.once, Some(OneTime::jwt("pk", "j-1", 1_000 + 120 + 60)));
    }

    #[test]
    fn oidc_core_9_client_secret_jwt_is_hs256_with_the_clear_secret() {
        let jwt = testkeys::hs256_token(&assertion_claims("cs"), CS_SECRET);
        assert!(jwt_auth(&with_assertion(&jwt)).is_ok());
        let wrong = testkeys::hs256_token(
            &assertion_claims("cs"),
            b"another-secret-of-32-bytes-000000",
        );
        assert_eq!(
            jwt_auth(&with_assertion(&wrong)).err(),
            Some(OAuthError::client_authentication_failed())
        );
    }

    #[test]
    fn until_the_signature_verifies_every_client_assertion_failure_is_uniform() {
        let uniform = Some(OAuthError::client_authentication_failed());
        // Wrong key, unknown client, a client of another method, garbage.
        let wrong = testkeys::token(&assertion_claims("pk"), JwsAlg::RS256, TestKey::Rsa2, None);
        let unknown = testkeys::token(
            &assertion_claims("ghost"),
            JwsAlg::ES256,
            TestKey::P256,
            None,
        );
        let basic = testkeys::token(
            &assertion_claims("basic"),
            JwsAlg::ES256,
            TestKey::P256,
            None,
        );
        // A private_key_jwt client's assertion HMAC'd with anything is never verified.
        let hs = testkeys::hs256_token(&assertion_claims("pk"), CS_SECRET);
        for jwt in [wrong, unknown, basic, hs, "not.a.jwt".to_owned()] {
            assert_eq!(jwt_auth(&with_assertion(&jwt)).err(), uniform, "{jwt}");
        }
    }

    #[test]
    fn rfc7523_3_claims_checked_after_the_signature_name_the_failed_check() {
        let mut c = assertion_claims("pk");
        c["sub"] = "someone-else".into();
        let jwt = testkeys::token(&c, JwsAlg::ES256, TestKey::P256, None);
        let e = jwt_auth(&with_assertion(&jwt)).expect_err("sub");
        assert_eq!(e.code.as_str(), "invalid_client");
        assert!(e.description.contains("sub"), "{}", e.description);
        let mut c = assertion_claims("pk");
        c["aud"] = "https://elsewhere.example/token".into();
        let jwt = testkeys::token(&c, JwsAlg::ES256, TestKey::P256, None);
        assert_eq!(
            jwt_auth(&with_assertion(&jwt))
                .err()
                .map(|e| e.code.as_str()),
            Some("invalid_client")
        );
        let mut c = assertion_claims("pk");
        c.as_object_mut().expect("object").remove("jti");
        let jwt = testkeys::token(&c, JwsAlg::ES256, TestKey::P256, None);
        let e = jwt_auth(&with_assertion(&jwt)).expect_err("jti");
        assert!(e.description.contains("jti"), "{}", e.description);
    }

    #[test]
    fn rfc7521_4_2_client_assertion_with_a_secret_or_a_contradicting_client_id_is_invalid_request()
    {
        let jwt = testkeys::token(&assertion_claims("pk"), JwsAlg::ES256, TestKey::P256, None);
        for extra in ["&client_secret=x", "&client_id=other"] {
            let e = jwt_auth(&format!("{}{extra}", with_assertion(&jwt))).expect_err(extra);
            assert_eq!(e.code.as_str(), "invalid_request", "{extra}");
        }
        let e = jwt_auth(&format!(
            "client_assertion_type=urn:x&client_assertion={jwt}"
        ))
        .expect_err("type");
        assert_eq!(e.code.as_str(), "invalid_request");
        assert!(jwt_auth(&format!("{}&client_id=pk", with_assertion(&jwt))).is_ok());
    }

    const RULES: AssertionRules<'static> = AssertionRules {
        audiences: &["https://as.example/api/oauth/token"],
        time: TimeRules {
            now: 1_000,
            skew: 60,
            max_lifetime: 300,
        },
    };

    fn basic(id: &str, secret: &str) -> Vec<u8> {
        format!("Basic {}", B64.encode(format!("{id}:{secret}"))).into_bytes()
    }

    fn auth(header: Option<&[u8]>, body: &str) -> Result<String, String> {
        let c = clients();
        let p = Params::parse(body.as_bytes()).map_err(|e| e.to_string())?;
        authenticate(&c, header, &p, &RULES)
            .map(|a| a.client.id.to_string())
            .map_err(|e| e.code.as_str().to_owned())
    }

    #[test]
    fn issue_11_every_authentication_failure_is_the_identical_error() {
        let c = clients();
        let cases: [(Option<Vec<u8>>, &str); 12] = [
            (Some(basic("ghost", "x")), ""),
            (Some(basic("basic", "nope")), ""),
            (None, "client_id=ghost&client_secret=p"),
            (None, "client_id=post&client_secret=q"),
            // The right secret with a method the client is not registered for.
            (Some(basic("post", "p")), ""),
            (None, "client_id=basic&client_secret=s3cret%2B%2F%25x"),
            (None, "client_id=basic"),
            (None, "client_id=ghost"),
            (None, "client_id=public&client_secret=x"),
            (Some(basic("public", "")), ""),
            (None, ""),
            (Some(b"Basic !!!".to_vec()), ""),
        ];
        for (header, body) in cases {
            let p = Params::parse(body.as_bytes()).expect("form");
            assert_eq!(
                authenticate(&c, header.as_deref(), &p, &RULES).err(),
                Some(OAuthError::client_authentication_failed()),
                "{body:?} {:?}",
                header.map(String::from_utf8)
            );
        }
    }

    #[test]
    fn presented_names_the_claimed_client_and_its_debug_hides_the_secret() {
        let h = basic("basic", "s3cret");
        let empty = Params::parse(b"").expect("form");
        let p = presented(Some(&h), &empty).expect("presented");
        assert_eq!(p.client_id(), Some("basic"));
        assert!(!format!("{p:?}").contains("s3cret"), "{p:?}");
        let body = Params::parse(b"client_id=post&client_secret=p").expect("form");
        assert_eq!(
            presented(None, &body).expect("presented").client_id(),
            Some("post")
        );
        assert_eq!(
            presented(None, &empty).expect("presented").client_id(),
            None
        );
    }

    #[test]
    fn rfc6749_2_3_1_basic_with_urlencoded_secret() {
        let h = basic("basic", "s3cret%2B%2F%25x");
        assert_eq!(auth(Some(&h), ""), Ok("basic".into()));
    }

    #[test]
    fn basic_credentials_longer_than_the_inline_buffer_decode_the_same() {
        let empty = Params::parse(b"").expect("form");
        for len in [
            INLINE_BASIC - 7,
            INLINE_BASIC - 6,
            INLINE_BASIC,
            4 * INLINE_BASIC,
        ] {
            let secret = "x".repeat(len);
            let h = basic("basic", &secret);
            let p = presented(Some(&h), &empty).expect("presented");
            assert_eq!(p.client_id(), Some("basic"), "{len}");
            assert_eq!(auth(Some(&h), ""), Err("invalid_client".into()), "{len}");
        }
        let long_encoded = basic("basic", &format!("{}%2Bx", "y".repeat(3 * INLINE_BASIC)));
        let p = presented(Some(&long_encoded), &empty).expect("presented");
        assert_eq!(p.client_id(), Some("basic"));
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
    fn rfc6749_2_3_1_a_percent_encoded_replacement_character_is_an_ordinary_character() {
        // Found by fuzz/fuzz_targets/basic_credentials.rs: `%EF%BF%BD` is U+FFFD encoded as
        // the RFC says, not an undecodable escape, so the id decodes to the character.
        let h = basic("2x%EF%BF%BD5", "s%EF%BF%BD");
        let empty = Params::parse(b"").expect("form");
        let p = presented(Some(&h), &empty).expect("presented");
        assert_eq!(p.client_id(), Some("2x\u{FFFD}5"));
        // A raw U+FFFD (a client that does not urlencode) is compared as it is.
        let h = basic("2x\u{FFFD}5", "s");
        let p = presented(Some(&h), &empty).expect("presented");
        assert_eq!(p.client_id(), Some("2x\u{FFFD}5"));
        // Undecodable escapes never match through a lossy replacement character.
        let h = basic("2x%FF5", "s");
        let p = presented(Some(&h), &empty).expect("presented");
        assert_eq!(p.client_id(), Some("2x%FF5"));
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
