//! The OAuth error layer: RFC error codes, their HTTP statuses, and their descriptions.
//!
//! Endpoints and grants return [`OAuthError`]; the endpoint dispatcher turns it into the
//! JSON error response of RFC 6749 §5.2 (token, revoke, introspect) or RFC 6750 §3.1
//! (tokeninfo). Descriptions are static where possible so an error costs no allocation.

use std::borrow::Cow;

/// Error codes of RFC 6749 §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1 and the
/// `temporarily_unavailable` / `server_error` codes of RFC 6749 §4.1.2.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// "The request is missing a required parameter, includes an unsupported parameter
    /// value (other than grant type), repeats a parameter, includes multiple credentials,
    /// utilizes more than one mechanism for authenticating the client, or is otherwise
    /// malformed."
    InvalidRequest,
    /// "Client authentication failed (e.g., unknown client, no client authentication
    /// included, or unsupported authentication method)."
    InvalidClient,
    /// "The provided authorization grant (e.g., authorization code, resource owner
    /// credentials) or refresh token is invalid, expired, revoked, ... or was issued to
    /// another client."
    InvalidGrant,
    /// "The authenticated client is not authorized to use this authorization grant type."
    UnauthorizedClient,
    /// "The authorization grant type is not supported by the authorization server."
    UnsupportedGrantType,
    /// "The requested scope is invalid, unknown, malformed, or exceeds the scope granted by
    /// the resource owner."
    InvalidScope,
    /// RFC 6750 §3.1: "The access token provided is expired, revoked, malformed, or invalid
    /// for other reasons."
    InvalidToken,
    /// The server cannot take the request now (overload, a full queue); retry later.
    TemporarilyUnavailable,
    /// Too many failed authentications of this identity or from this address: refused until
    /// the lockout ends (RFC 6749 §4.3.2, §10.10), even with the right credentials.
    ///
    /// On the wire it is `temporarily_unavailable` with status 429 (RFC 6585 §4) and
    /// `Retry-After`. RFC 6749 §5.2 has no code for it; `temporarily_unavailable` is the
    /// registered code that means "retry later" (client libraries such as oauthlib map it
    /// to a retryable error), whereas `invalid_client` or `invalid_grant` would tell a
    /// client whose credentials are right that they are wrong, and some clients drop
    /// credentials on those. 429 rather than 503 because the limit is about this caller,
    /// not the server's health.
    TooManyFailedAttempts,
    /// Over a rate limit (issue 15): this client's on the token endpoint, or this source
    /// address's on any OAuth endpoint. On the wire like a lockout, for the same reasons:
    /// `temporarily_unavailable`, 429 (RFC 6585 §4), `Retry-After` when the next request
    /// would be allowed.
    RateLimited,
    /// An internal fault, never the client's.
    ServerError,
    /// RFC 6749 §4.1.2.1: "The resource owner or authorization server denied the request."
    AccessDenied,
    /// RFC 6749 §4.1.2.1: "The authorization server does not support obtaining an
    /// authorization code using this method."
    UnsupportedResponseType,
    /// OpenID Connect Core §3.1.2.6: `prompt=none` and the end-user is not logged in.
    LoginRequired,
    /// OpenID Connect Core §3.1.2.6: `prompt=none` and consent has not been given.
    ConsentRequired,
    /// OpenID Connect Core §3.1.2.6: `prompt=none` but the request needs a page.
    InteractionRequired,
    /// RFC 7009 §2.1: the token presented for revocation was issued to another client, and
    /// "the request is refused". On the wire `unauthorized_client` with 403, as the gateway
    /// Tessera replaces answers.
    NotTokenOwner,
}

impl ErrorCode {
    /// The `error` value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::TemporarilyUnavailable
            | ErrorCode::TooManyFailedAttempts
            | ErrorCode::RateLimited => "temporarily_unavailable",
            ErrorCode::ServerError => "server_error",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::NotTokenOwner => "unauthorized_client",
        }
    }

    /// The HTTP status RFC 6749 §5.2 assigns (400, and 401 for `invalid_client`); 429 for a
    /// lockout (RFC 6585 §4), 503 and 500 for the server's own trouble. The authorization
    /// endpoint's codes travel in a redirect; their status is for the rare case they are
    /// answered directly.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidClient => 401,
            ErrorCode::NotTokenOwner => 403,
            ErrorCode::TooManyFailedAttempts | ErrorCode::RateLimited => 429,
            ErrorCode::TemporarilyUnavailable => 503,
            ErrorCode::ServerError => 500,
            _ => 400,
        }
    }
}

/// RFC 6749 §5.2: `error_description = 1*( %x20-21 / %x23-5B / %x5D-7E )`.
pub fn allowed(b: u8) -> bool {
    matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e)
}

/// `description` with every character RFC 6749 §5.2 does not allow replaced: `"` by `'`,
/// `\` by `/`, `§` by `section `, anything else (controls, non-ASCII) by `?`.
/// Descriptions may echo request input (a scope, a grant type), so this runs at the one
/// place every error body is written; a clean description costs no allocation.
pub fn description_chars(description: &str) -> std::borrow::Cow<'_, str> {
    if description.bytes().all(allowed) {
        return std::borrow::Cow::Borrowed(description);
    }
    let mut out = String::with_capacity(description.len());
    for c in description.chars() {
        match c {
            '"' => out.push('\''),
            '\\' => out.push('/'),
            '§' => out.push_str("section "),
            c if c.is_ascii() && allowed(c as u8) => out.push(c),
            _ => out.push('?'),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// An OAuth error with its description, ready to become a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
    /// Seconds for `Retry-After`, when the error says when to try again.
    pub retry_after: Option<u32>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError {
            code,
            description: description.into(),
            retry_after: None,
        }
    }

    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidRequest, d)
    }

    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidClient, d)
    }

    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidGrant, d)
    }

    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidScope, d)
    }

    pub fn invalid_token(d: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidToken, d)
    }

    pub fn unauthorized_client(d: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(ErrorCode::UnauthorizedClient, d)
    }

    pub fn temporarily_unavailable(d: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(ErrorCode::TemporarilyUnavailable, d)
    }

    /// The one answer to every client authentication failure — unknown client, wrong
    /// secret, a method the client is not registered for, malformed or missing credentials
    /// — so the answer does not tell which it was (issue 11).
    pub fn client_authentication_failed() -> OAuthError {
        OAuthError::invalid_client("client authentication failed")
    }

    /// A lockout: retry in `retry_after_secs` seconds.
    pub fn too_many_failed_attempts(retry_after_secs: u32) -> OAuthError {
        OAuthError {
            retry_after: Some(retry_after_secs),
            ..OAuthError::new(
                ErrorCode::TooManyFailedAttempts,
                "too many failed authentication attempts; retry later",
            )
        }
    }

    /// Over a rate limit: retry in `retry_after_secs` seconds; `description` says whose.
    pub fn rate_limited(description: &'static str, retry_after_secs: u32) -> OAuthError {
        OAuthError {
            retry_after: Some(retry_after_secs),
            ..OAuthError::new(ErrorCode::RateLimited, description)
        }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for OAuthError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6749_5_2_invalid_client_is_401_the_rest_400() {
        assert_eq!(ErrorCode::InvalidClient.status(), 401);
        for c in [
            ErrorCode::InvalidRequest,
            ErrorCode::InvalidGrant,
            ErrorCode::UnauthorizedClient,
            ErrorCode::UnsupportedGrantType,
            ErrorCode::InvalidScope,
        ] {
            assert_eq!(c.status(), 400, "{}", c.as_str());
        }
    }

    #[test]
    fn rfc6585_4_over_a_rate_limit_is_429_temporarily_unavailable_with_retry_after() {
        let e = OAuthError::rate_limited("over the limit", 3);
        assert_eq!(e.code.status(), 429);
        assert_eq!(e.code.as_str(), "temporarily_unavailable");
        assert_eq!(e.retry_after, Some(3));
    }

    #[test]
    fn rfc6585_4_a_lockout_is_429_temporarily_unavailable_with_retry_after() {
        let e = OAuthError::too_many_failed_attempts(17);
        assert_eq!(e.code.status(), 429);
        assert_eq!(e.code.as_str(), "temporarily_unavailable");
        assert_eq!(e.retry_after, Some(17));
    }
}
