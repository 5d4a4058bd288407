//! Form parameters (`application/x-www-form-urlencoded`, RFC 6749 Appendix B) decoded into
//! the fixed set of names the endpoints understand.
//!
//! RFC 6749 §3.1 and §3.2: parameters sent without a value are treated as omitted, a
//! parameter must not appear twice, and unknown parameters are ignored. Values borrow from
//! the request buffer unless they had to be percent-decoded.

use super::error::OAuthError;
use std::borrow::Cow;

/// Parameters whose values are credentials: `Debug` shows only whether they were sent.
const SECRET_PARAMS: &[&str] = &[
    "password",
    "client_secret",
    "refresh_token",
    "token",
    "access_token",
    "code",
    "code_verifier",
    "csrf",
    "id_token_hint",
    "assertion",
    "client_assertion",
];

macro_rules! params {
    ($($field:ident),* $(,)?) => {
        /// The recognised parameters of one request.
        #[derive(Default)]
        pub struct Params<'a> {
            $(pub $field: Option<Cow<'a, str>>,)*
        }

        impl std::fmt::Debug for Params<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut d = f.debug_struct("Params");
                $(
                    let name = stringify!($field);
                    match &self.$field {
                        Some(_) if SECRET_PARAMS.contains(&name) => {
                            d.field(name, &"<redacted>");
                        }
                        Some(v) => {
                            d.field(name, v);
                        }
                        None => {}
                    }
                )*
                d.finish()
            }
        }

        impl<'a> Params<'a> {
            fn slot(&mut self, name: &str) -> Option<(&'static str, &mut Option<Cow<'a, str>>)> {
                match name {
                    $(stringify!($field) => Some((stringify!($field), &mut self.$field)),)*
                    _ => None,
                }
            }
        }
    };
}

params!(
    grant_type,
    scope,
    username,
    password,
    refresh_token,
    client_id,
    client_secret,
    token,
    token_type_hint,
    access_token,
    // The authorization endpoint (RFC 6749 §4.1.1, §4.2.1; OpenID Connect Core §3.1.2.1).
    response_type,
    redirect_uri,
    state,
    nonce,
    code_challenge,
    code_challenge_method,
    prompt,
    max_age,
    login_hint,
    response_mode,
    // Its own forms: the login and consent pages.
    csrf,
    consent,
    // The code grant (RFC 6749 §4.1.3, RFC 7636 §4.5).
    code,
    code_verifier,
    // RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2).
    post_logout_redirect_uri,
    id_token_hint,
    // The token endpoint's response format (issue 13: json, urlencoded or xml).
    format,
    // Assertion grants (RFC 7521 §4.1, RFC 7523 §2.1, RFC 7522 §2.1) and JWT client
    // authentication (RFC 7521 §4.2, RFC 7523 §2.2).
    assertion,
    client_assertion,
    client_assertion_type,
);

impl<'a> Params<'a> {
    /// Decodes a form body or query string.
    pub fn parse(input: &'a [u8]) -> Result<Params<'a>, OAuthError> {
        let mut p = Params::default();
        p.merge(input)?;
        Ok(p)
    }

    /// Adds the parameters of `input`; a name already present is a repeat.
    pub fn merge(&mut self, input: &'a [u8]) -> Result<(), OAuthError> {
        for (name, value) in form_urlencoded::parse(input) {
            if value.is_empty() {
                continue;
            }
            if let Some((name, slot)) = self.slot(&name) {
                if slot.is_some() {
                    return Err(OAuthError::invalid_request(format!(
                        "parameter {name} is repeated (RFC 6749 section 3.1)"
                    )));
                }
                *slot = Some(value);
            }
        }
        Ok(())
    }

    /// Decodes `input` keeping the first of repeated parameters: only to find where an
    /// error about the request (a repeat, say) may be redirected, never to act on it.
    pub fn parse_first(input: &'a [u8]) -> Params<'a> {
        let mut p = Params::default();
        for (name, value) in form_urlencoded::parse(input) {
            if value.is_empty() {
                continue;
            }
            if let Some((_, slot)) = p.slot(&name) {
                if slot.is_none() {
                    *slot = Some(value);
                }
            }
        }
        p
    }

    /// A required parameter, or `invalid_request` naming it.
    pub fn required(
        value: &'a Option<Cow<'a, str>>,
        name: &'static str,
    ) -> Result<&'a str, OAuthError> {
        value.as_deref().ok_or_else(|| {
            OAuthError::invalid_request(format!("missing required parameter {name}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_known_parameters_and_ignores_others() {
        let p = Params::parse(b"grant_type=password&username=al%20ice&password=a+b&foo=bar")
            .expect("parse");
        assert_eq!(p.grant_type.as_deref(), Some("password"));
        assert_eq!(p.username.as_deref(), Some("al ice"));
        assert_eq!(p.password.as_deref(), Some("a b"));
    }

    #[test]
    fn rfc6749_3_1_repeated_parameter_is_invalid_request() {
        let e = Params::parse(b"scope=a&scope=b").expect_err("must fail");
        assert_eq!(e.code.as_str(), "invalid_request");
    }

    #[test]
    fn rfc6749_3_1_empty_value_is_treated_as_omitted() {
        let p = Params::parse(b"scope=&grant_type=client_credentials").expect("parse");
        assert!(p.scope.is_none());
    }

    #[test]
    fn debug_never_shows_credentials() {
        let p = Params::parse(
            b"grant_type=password&username=alice&password=hunter2&client_secret=s3&refresh_token=rt1&token=t1&access_token=at1",
        )
        .expect("parse");
        let shown = format!("{p:?}");
        for secret in ["hunter2", "s3", "rt1", "t1", "at1"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("alice") && shown.contains("password"),
            "{shown}"
        );
    }

    #[test]
    fn plain_values_borrow_from_the_input() {
        let p = Params::parse(b"token=abcDEF-_123").expect("parse");
        assert!(matches!(p.token, Some(Cow::Borrowed("abcDEF-_123"))));
    }
}
