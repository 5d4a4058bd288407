//! The authorization endpoint's decisions (RFC 6749 §4.1.1, §4.2.1; OpenID Connect Core
//! §3.1.2), as a small state machine the endpoint drives:
//!
//! 1. [`target`]: the client and the redirect URI. Until both are known to be right,
//!    nothing may be sent to the redirect URI (RFC 6749 §4.1.2.1): a failure here is a
//!    [`PageError`], shown to the user on an error page.
//! 2. [`validate`]: the rest of the request. A failure from here on is an [`OAuthError`]
//!    the endpoint redirects back to the client ([`Target::error`]).
//! 3. [`next_step`]: given what the endpoint found (a login session, remembered consent,
//!    the answer of the consent form), whether to show the login page, the consent page,
//!    fail (`prompt=none`), or issue.
//! 4. [`Target::success`] and [`Target::error`]: the parameters of the redirect, with `iss`
//!    (RFC 9207) and `state`.
//!
//! Minting the code or the implicit tokens is [`crate::oauth::grants::authorization_code`]
//! and [`crate::oauth::grants::implicit`]. No I/O here: the endpoint looks up the session
//! and the consent, checks passwords, writes codes, sets cookies and renders pages.

use super::clients::{Client, Clients};
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::pkce;
use super::redirect::{self, ResponseMode, MAX_URI_LENGTH};
use super::scope;
use super::types::{ConsentMode, GrantType};
use tessera_storage::{Interner, Sym};

/// Longest `state` and `nonce` kept (they travel in codes and redirects).
pub const MAX_STATE_LENGTH: usize = 1024;
pub const MAX_NONCE_LENGTH: usize = 512;

/// `response_type` (RFC 6749 §3.1.1; OAuth 2.0 Multiple Response Type Encoding Practices
/// §5, OpenID Connect Core §3.2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    Code,
    Token,
    IdToken,
    IdTokenToken,
}

impl ResponseType {
    /// Space-separated values in any order (RFC 6749 §3.1.1).
    pub fn parse(s: &str) -> Option<ResponseType> {
        let (mut code, mut token, mut id_token, mut n) = (false, false, false, 0);
        for word in s.split(' ').filter(|w| !w.is_empty()) {
            n += 1;
            match word {
                "code" if !code => code = true,
                "token" if !token => token = true,
                "id_token" if !id_token => id_token = true,
                _ => return None,
            }
        }
        match (code, token, id_token, n) {
            (true, false, false, 1) => Some(ResponseType::Code),
            (false, true, false, 1) => Some(ResponseType::Token),
            (false, false, true, 1) => Some(ResponseType::IdToken),
            (false, true, true, 2) => Some(ResponseType::IdTokenToken),
            _ => None,
        }
    }

    pub fn is_implicit(self) -> bool {
        self != ResponseType::Code
    }

    pub fn access_token(self) -> bool {
        matches!(self, ResponseType::Token | ResponseType::IdTokenToken)
    }

    pub fn id_token(self) -> bool {
        matches!(self, ResponseType::IdToken | ResponseType::IdTokenToken)
    }

    /// RFC 6749 §4.1.2 (query) and §4.2.2 (fragment).
    pub fn default_mode(self) -> ResponseMode {
        if self.is_implicit() {
            ResponseMode::Fragment
        } else {
            ResponseMode::Query
        }
    }

    pub fn grant_type(self) -> GrantType {
        if self.is_implicit() {
            GrantType::Implicit
        } else {
            GrantType::AuthorizationCode
        }
    }
}

/// An authorization request that cannot be redirected back: the user sees it on a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageError {
    MissingClientId,
    UnknownClient,
    /// The client may use neither browser grant, so it has no redirect URI to trust.
    NoBrowserGrant,
    MissingRedirectUri,
    RedirectUriMismatch,
    /// The request itself is malformed before a redirect target is known (a repeated
    /// parameter).
    Malformed(String),
}

impl PageError {
    /// The error code shown on the page (RFC 6749 §4.1.2.1's names).
    pub fn code(&self) -> &'static str {
        match self {
            PageError::UnknownClient | PageError::NoBrowserGrant => "unauthorized_client",
            _ => "invalid_request",
        }
    }

    pub fn description(&self) -> &str {
        match self {
            PageError::MissingClientId => "the request has no client_id",
            PageError::UnknownClient => "no client has this client_id",
            PageError::NoBrowserGrant => {
                "this client may use neither the authorization code nor the implicit grant"
            }
            PageError::MissingRedirectUri => {
                "redirect_uri is required: the client registered more than one"
            }
            PageError::RedirectUriMismatch => {
                "redirect_uri is not one the client registered (exact match required)"
            }
            PageError::Malformed(why) => why,
        }
    }
}

/// Where the response goes: a known client and one of its redirect URIs.
#[derive(Debug)]
pub struct Target<'c> {
    pub client: &'c Client,
    /// The URI the response is sent to: the presented one (it may differ from the
    /// registered one in a loopback port), or the only registered one.
    pub redirect_uri: String,
    /// Whether the request named `redirect_uri`: then the token request must name the same
    /// (RFC 6749 §4.1.3).
    pub redirect_uri_sent: bool,
    /// How responses travel, errors included.
    pub mode: ResponseMode,
    pub state: Option<String>,
}

/// Step 1: the client and the redirect URI (RFC 6749 §3.1.2.4, §4.1.2.1).
pub fn target<'c>(clients: &'c Clients, p: &Params<'_>) -> Result<Target<'c>, PageError> {
    let client_id = p.client_id.as_deref().ok_or(PageError::MissingClientId)?;
    let client = clients.get(client_id).ok_or(PageError::UnknownClient)?;
    if !client.allows(GrantType::AuthorizationCode) && !client.allows(GrantType::Implicit) {
        return Err(PageError::NoBrowserGrant);
    }
    let (redirect_uri, sent) = match p.redirect_uri.as_deref() {
        Some(uri) => {
            if uri.len() > MAX_URI_LENGTH
                || !client
                    .redirect_uris
                    .iter()
                    .any(|r| redirect::matches(r, uri))
            {
                return Err(PageError::RedirectUriMismatch);
            }
            (uri.to_owned(), true)
        }
        None => match &client.redirect_uris[..] {
            [only] => (only.to_string(), false),
            _ => return Err(PageError::MissingRedirectUri),
        },
    };
    // The mode errors use too: the requested one if it makes sense, else the response
    // type's default (query when the response type itself is bad).
    let response_type = p.response_type.as_deref().and_then(ResponseType::parse);
    let default = response_type.map_or(ResponseMode::Query, ResponseType::default_mode);
    let requested = p.response_mode.as_deref().and_then(ResponseMode::parse);
    let mode = match (requested, response_type) {
        // Tokens never travel in a query (Multiple Response Type Encoding Practices §5).
        (Some(ResponseMode::Query), Some(t)) if t.is_implicit() => default,
        (Some(m), _) => m,
        (None, _) => default,
    };
    // Echoed as sent or not at all: a cut state would fail the client's check silently.
    let state = match p.state.as_deref() {
        Some(s) if s.len() > MAX_STATE_LENGTH => {
            return Err(PageError::Malformed(format!(
                "state is longer than {MAX_STATE_LENGTH} bytes"
            )))
        }
        s => s.map(str::to_owned),
    };
    Ok(Target {
        client,
        redirect_uri,
        redirect_uri_sent: sent,
        mode,
        state,
    })
}

/// `prompt` (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

impl Prompt {
    pub fn parse(s: &str) -> Result<Prompt, OAuthError> {
        let mut p = Prompt::default();
        for word in s.split(' ').filter(|w| !w.is_empty()) {
            match word {
                "none" => p.none = true,
                "login" => p.login = true,
                "consent" => p.consent = true,
                // Tessera keeps one login per browser: there is no account to choose.
                "select_account" => p.login = true,
                other => {
                    return Err(OAuthError::invalid_request(format!(
                        "prompt value '{other}' is not supported"
                    )))
                }
            }
        }
        if p.none && (p.login || p.consent) {
            return Err(OAuthError::invalid_request(
                "prompt=none cannot be combined with other values (OpenID Connect Core 3.1.2.1)",
            ));
        }
        Ok(p)
    }
}

/// A valid authorization request.
#[derive(Debug, Clone)]
pub struct Request<'p> {
    pub response_type: ResponseType,
    /// The canonical granted scope, not interned yet: nobody has logged in when it is
    /// checked ([`scope::canonical_for_client`]).
    pub scope: String,
    /// `openid` is among the granted scopes: an OpenID Connect request.
    pub openid: bool,
    pub nonce: Option<&'p str>,
    pub pkce: Option<(pkce::Method, &'p str)>,
    pub prompt: Prompt,
    pub max_age: Option<u32>,
    pub login_hint: Option<&'p str>,
}

/// Step 2: everything else about the request (RFC 6749 §4.1.1, §4.2.1, RFC 7636 §4.3,
/// OpenID Connect Core §3.1.2.1, §3.2.2.1).
pub fn validate<'p>(
    target: &Target<'_>,
    scopes: &Interner,
    p: &'p Params<'p>,
) -> Result<Request<'p>, OAuthError> {
    let client = target.client;
    let rt = Params::required(&p.response_type, "response_type")?;
    let response_type = ResponseType::parse(rt).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::UnsupportedResponseType,
            format!("response_type '{rt}' is not supported"),
        )
    })?;
    if !client.allows(response_type.grant_type()) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client may not use the {} grant",
            response_type.grant_type().as_str()
        )));
    }
    if let Some(m) = p.response_mode.as_deref() {
        match ResponseMode::parse(m) {
            None => {
                return Err(OAuthError::invalid_request(format!(
                    "response_mode '{m}' is not supported"
                )))
            }
            Some(ResponseMode::Query) if response_type.is_implicit() => {
                return Err(OAuthError::invalid_request(
                    "tokens are never sent in the query: use response_mode fragment or form_post",
                ))
            }
            Some(_) => {}
        }
    }
    let scope = scope::canonical_for_client(scopes, client, p.scope.as_deref())?;
    let openid = scope.split(' ').any(|t| t == "openid");
    if response_type.id_token() && !openid {
        return Err(OAuthError::invalid_scope(
            "an id_token response needs the openid scope",
        ));
    }
    let nonce = p.nonce.as_deref();
    if nonce.is_some_and(|n| n.len() > MAX_NONCE_LENGTH) {
        return Err(OAuthError::invalid_request("nonce is too long"));
    }
    if response_type.id_token() && nonce.is_none() {
        return Err(OAuthError::invalid_request(
            "nonce is required when an id_token is returned from the authorization endpoint (OpenID Connect Core 3.2.2.1)",
        ));
    }
    let pkce = pkce_of(client, response_type, p)?;
    let prompt = p
        .prompt
        .as_deref()
        .map_or(Ok(Prompt::default()), Prompt::parse)?;
    let max_age = match p.max_age.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<u32>().map_err(|_| {
            OAuthError::invalid_request("max_age must be a non-negative number of seconds")
        })?),
    };
    Ok(Request {
        response_type,
        scope,
        openid,
        nonce,
        pkce,
        prompt,
        max_age,
        login_hint: p.login_hint.as_deref(),
    })
}

/// RFC 7636 §4.3 and RFC 9700 §2.1.1: the challenge of a code request.
fn pkce_of<'p>(
    client: &Client,
    response_type: ResponseType,
    p: &'p Params<'p>,
) -> Result<Option<(pkce::Method, &'p str)>, OAuthError> {
    if response_type.is_implicit() {
        // No code to bind: PKCE does not apply to implicit responses.
        return Ok(None);
    }
    let Some(challenge) = p.code_challenge.as_deref() else {
        if client.is_public() || client.require_pkce {
            return Err(OAuthError::invalid_request(
                "code_challenge is required (PKCE, RFC 7636; RFC 9700 section 2.1.1)",
            ));
        }
        if p.code_challenge_method.is_some() {
            return Err(OAuthError::invalid_request(
                "code_challenge_method without code_challenge",
            ));
        }
        return Ok(None);
    };
    // RFC 7636 §4.3: "defaults to plain if not present in the request".
    let method = match p.code_challenge_method.as_deref() {
        None => pkce::Method::Plain,
        Some(m) => pkce::Method::parse(m).ok_or_else(|| {
            OAuthError::invalid_request(format!(
                "code_challenge_method '{m}' is not supported: use S256"
            ))
        })?,
    };
    if method == pkce::Method::Plain && !client.allow_plain_pkce {
        return Err(OAuthError::invalid_request(
            "code_challenge_method plain is not allowed for this client: use S256",
        ));
    }
    if !pkce::well_formed(challenge) {
        return Err(OAuthError::invalid_request(
            "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636 section 4.2)",
        ));
    }
    Ok(Some((method, challenge)))
}

/// A login session the endpoint found (its cookie was valid and the store knows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub user: Sym,
    /// When the user logged in (OpenID Connect `auth_time`).
    pub auth_time: u32,
}

/// The user's answer on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Allow,
    Deny,
}

impl Answer {
    pub fn parse(s: &str) -> Result<Answer, OAuthError> {
        match s {
            "allow" => Ok(Answer::Allow),
            "deny" => Ok(Answer::Deny),
            _ => Err(OAuthError::invalid_request("consent must be allow or deny")),
        }
    }
}

/// What the endpoint knows when it asks [`next_step`].
#[derive(Debug, Clone, Copy)]
pub struct Situation {
    pub session: Option<Session>,
    /// The session was created by a login in this very request.
    pub fresh_login: bool,
    /// The user consented to (at least) these scopes for this client before, and that
    /// consent is still remembered.
    pub remembered_consent: bool,
    /// The consent form's answer, when this request is its submission.
    pub answer: Option<Answer>,
    pub now: u32,
}

/// What the endpoint does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Show the login page.
    Login,
    /// Show the consent page for this user.
    Consent(Session),
    /// Issue the code or the tokens; `remember` when the user just allowed it.
    Issue { session: Session, remember: bool },
    /// Redirect this error back to the client.
    Fail(OAuthError),
}

/// Step 3: login, consent, or issue (OpenID Connect Core §3.1.2.3, §3.1.2.4).
pub fn next_step(req: &Request<'_>, client: &Client, s: Situation) -> Step {
    // A consent answer is only possible from the page shown after the login demands of this
    // request were met (its CSRF value is bound to the session), so it does not ask again.
    let satisfied = s.fresh_login || s.answer.is_some();
    let session = s.session.filter(|session| {
        satisfied
            || (!req.prompt.login
                && req
                    .max_age
                    .is_none_or(|max| s.now.saturating_sub(session.auth_time) <= max))
    });
    let Some(session) = session else {
        if req.prompt.none {
            return Step::Fail(OAuthError::new(
                ErrorCode::LoginRequired,
                "the user is not logged in (prompt=none)",
            ));
        }
        return Step::Login;
    };
    match s.answer {
        Some(Answer::Deny) => {
            return Step::Fail(OAuthError::new(
                ErrorCode::AccessDenied,
                "the user denied the request",
            ))
        }
        Some(Answer::Allow) => {
            return Step::Issue {
                session,
                remember: true,
            }
        }
        None => {}
    }
    let asked =
        req.prompt.consent || (client.consent == ConsentMode::Prompt && !s.remembered_consent);
    if !asked || client.consent == ConsentMode::Skip && !req.prompt.consent {
        return Step::Issue {
            session,
            remember: false,
        };
    }
    if req.prompt.none {
        return Step::Fail(OAuthError::new(
            ErrorCode::ConsentRequired,
            "the user has not consented to this request (prompt=none)",
        ));
    }
    Step::Consent(session)
}

impl Target<'_> {
    /// The redirect of a successful response: `params`, then `state` and `iss` (RFC 9207
    /// §2).
    pub fn success(&self, params: &[(&str, &str)], issuer: &str) -> String {
        self.with(params, issuer)
    }

    /// The redirect of an error (RFC 6749 §4.1.2.1, §4.2.2.1).
    pub fn error(&self, e: &OAuthError, issuer: &str) -> String {
        let description = super::error::description_chars(&e.description);
        self.with(
            &[
                ("error", e.code.as_str()),
                ("error_description", &description),
            ],
            issuer,
        )
    }

    /// The parameters a `form_post` page posts, or the redirect URI with them appended.
    fn with(&self, params: &[(&str, &str)], issuer: &str) -> String {
        let mut all: Vec<(&str, &str)> = params.to_vec();
        if let Some(state) = &self.state {
            all.push(("state", state));
        }
        all.push(("iss", issuer));
        redirect::with_params(&self.redirect_uri, self.mode, &all)
    }

    /// The full parameter list of a response (for the `form_post` page).
    pub fn form_fields<'a>(
        &'a self,
        params: &[(&'a str, &'a str)],
        issuer: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        let mut all: Vec<(&str, &str)> = params.to_vec();
        if let Some(state) = &self.state {
            all.push(("state", state));
        }
        all.push(("iss", issuer));
        all
    }

    /// The error parameters of a `form_post` response.
    pub fn error_fields(e: &OAuthError) -> [(&'static str, String); 2] {
        [
            ("error", e.code.as_str().to_owned()),
            (
                "error_description",
                super::error::description_chars(&e.description).into_owned(),
            ),
        ]
    }

    /// Whether the scopes of `consented` (a remembered consent) cover `requested`.
    pub fn consent_covers(scopes: &Interner, consented: Sym, requested: &str) -> bool {
        scopes.with(consented, |have| {
            requested
                .split(' ')
                .filter(|s| !s.is_empty())
                .all(|r| have.split(' ').any(|h| h == r))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::grants::testing::World;
    use crate::oauth::types::AuthMethod;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn web(w: &World, grants: &[GrantType]) -> Client {
        let mut c = w.client("web", AuthMethod::ClientSecretBasic, grants);
        c.redirect_uris = vec![
            "https://app.example/cb".into(),
            "http://127.0.0.1/cb".into(),
        ];
        c.scopes = ["openid", "profile", "email", "read"]
            .iter()
            .map(|s| (*s).into())
            .collect();
        c.default_scope = w.scopes.intern("read");
        c
    }

    fn params(q: &str) -> Params<'_> {
        Params::parse(q.as_bytes()).expect("params")
    }

    fn code_query(extra: &str) -> String {
        format!(
            "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=xyz&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}"
        )
    }

    #[test]
    fn rfc6749_4_1_2_1_unknown_client_or_bad_redirect_uri_is_a_page_not_a_redirect() {
        let w = World::new();
        let clients = Clients::new(vec![web(&w, &[GrantType::AuthorizationCode])]);
        for (q, expected) in [
            ("response_type=code", PageError::MissingClientId),
            ("client_id=nobody", PageError::UnknownClient),
            (
                "client_id=web&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
                PageError::RedirectUriMismatch,
            ),
            (
                "client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%2F",
                PageError::RedirectUriMismatch,
            ),
            ("client_id=web", PageError::MissingRedirectUri),
        ] {
            assert_eq!(target(&clients, &params(q)).err(), Some(expected), "{q}");
        }
        let ccg = Clients::new(vec![w.confidential(&[GrantType::ClientCredentials])]);
        let q = format!("client_id={}", ccg.iter().next().map_or("", |c| &c.id));
        assert_eq!(
            target(&ccg, &params(&q)).err(),
            Some(PageError::NoBrowserGrant)
        );
    }

    #[test]
    fn rfc6749_3_1_2_3_a_single_registered_uri_may_be_omitted() {
        let w = World::new();
        let mut c = web(&w, &[GrantType::AuthorizationCode]);
        c.redirect_uris = vec!["https://only.example/cb".into()];
        let clients = Clients::new(vec![c]);
        let t = target(&clients, &params("client_id=web&response_type=code")).expect("target");
        assert_eq!(t.redirect_uri, "https://only.example/cb");
        assert!(!t.redirect_uri_sent);
    }

    #[test]
    fn rfc8252_7_3_loopback_redirect_keeps_the_presented_port() {
        let w = World::new();
        let clients = Clients::new(vec![web(&w, &[GrantType::AuthorizationCode])]);
        let t = target(
            &clients,
            &params("client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A4711%2Fcb"),
        )
        .expect("target");
        assert_eq!(t.redirect_uri, "http://127.0.0.1:4711/cb");
    }

    #[test]
    fn rfc9207_success_and_error_redirects_carry_state_and_iss() {
        let w = World::new();
        let clients = Clients::new(vec![web(&w, &[GrantType::AuthorizationCode])]);
        let q = code_query("");
        let p = params(&q);
        let t = target(&clients, &p).expect("target");
        assert_eq!(
            t.success(&[("code", "c1")], "https://as.example"),
            "https://app.example/cb?code=c1&state=xyz&iss=https%3A%2F%2Fas.example"
        );
        let e = OAuthError::new(ErrorCode::AccessDenied, "no \"thanks\"");
        assert_eq!(
            t.error(&e, "https://as.example"),
            "https://app.example/cb?error=access_denied&error_description=no+%27thanks%27&state=xyz&iss=https%3A%2F%2Fas.example"
        );
    }

    #[test]
    fn rfc6749_4_1_1_code_request_validates_response_type_scope_and_grant() {
        let w = World::new();
        let clients = Clients::new(vec![web(&w, &[GrantType::AuthorizationCode])]);
        let ok = code_query("&scope=openid%20read&nonce=n1");
        let p = params(&ok);
        let t = target(&clients, &p).expect("target");
        let r = validate(&t, &w.scopes, &p).expect("valid");
        assert_eq!(r.response_type, ResponseType::Code);
        assert!(r.openid);
        assert_eq!(r.nonce, Some("n1"));
        assert_eq!(r.pkce, Some((pkce::Method::S256, CHALLENGE)));
        for (extra, code) in [
            ("&response_type=code", "invalid_request"),
            ("&scope=admin", "invalid_scope"),
            ("&prompt=none%20login", "invalid_request"),
            ("&prompt=bogus", "invalid_request"),
            ("&max_age=-1", "invalid_request"),
            ("&response_mode=carrier_pigeon", "invalid_request"),
        ] {
            let q = code_query(extra);
            let result =
                Params::parse(q.as_bytes()).and_then(|p| validate(&t, &w.scopes, &p).map(|_| ()));
            assert_eq!(result.err().map(|e| e.code.as_str()), Some(code), "{extra}");
        }
        let implicit = code_query("").replace("response_type=code", "response_type=token");
        let p = params(&implicit);
        assert_eq!(
            validate(&t, &w.scopes, &p).err().map(|e| e.code),
            Some(ErrorCode::UnauthorizedClient)
        );
        let bad = code_query("").replace("response_type=code", "response_type=code%20code");
        let p = params(&bad);
        assert_eq!(
            validate(&t, &w.scopes, &p).err().map(|e| e.code),
            Some(ErrorCode::UnsupportedResponseType)
        );
    }

    #[test]
    fn rfc7636_and_rfc9700_2_1_1_pkce_is_required_and_plain_refused_by_default() {
        let w = World::new();
        let clients = Clients::new(vec![web(&w, &[GrantType::AuthorizationCode])]);
        let base = "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb";
        let p = params(base);
        let t = target(&clients, &p).expect("target");
        let no_pkce = validate(&t, &w.scopes, &p).expect_err("pkce required");
        assert!(no_pkce.description.contains("code_challenge"));
        let plain = format!("{base}&code_challenge={CHALLENGE}");
        let p = params(&plain);
        let e = validate(&t, &w.scopes, &p).expect_err("plain refused");
        assert!(e.description.contains("plain"), "{e:?}");
        let short = format!("{base}&code_challenge=abc&code_challenge_method=S256");
        let p = params(&short);
        assert!(validate(&t, &w.scopes, &p).is_err());

        let mut lax = web(&w, &[GrantType::AuthorizationCode]);
        lax.require_pkce = false;
        lax.allow_plain_pkce = true;
        let clients = Clients::new(vec![lax]);
        let p = params(base);
        let t = target(&clients, &p).expect("target");
        assert_eq!(validate(&t, &w.scopes, &p).expect("optional").pkce, None);
        let p = params(&plain);
        assert_eq!(
            validate(&t, &w.scopes, &p).expect("plain allowed").pkce,
            Some((pkce::Method::Plain, CHALLENGE))
        );
    }

    #[test]
    fn public_clients_always_need_pkce() {
        let w = World::new();
        let mut c = web(&w, &[GrantType::AuthorizationCode]);
        c.auth_method = AuthMethod::None;
        c.secret = None;
        c.require_pkce = false;
        let clients = Clients::new(vec![c]);
        let q = "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb";
        let p = params(q);
        let t = target(&clients, &p).expect("target");
        assert!(validate(&t, &w.scopes, &p).is_err());
    }

    #[test]
    fn openid_connect_3_2_2_1_implicit_id_token_needs_openid_and_a_nonce_and_uses_the_fragment() {
        let w = World::new();
        let clients = Clients::new(vec![web(&w, &[GrantType::Implicit])]);
        let base =
            "response_type=id_token%20token&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb";
        let p = params(base);
        let t = target(&clients, &p).expect("target");
        assert_eq!(t.mode, ResponseMode::Fragment);
        assert_eq!(
            validate(&t, &w.scopes, &p).err().map(|e| e.code),
            Some(ErrorCode::InvalidScope)
        );
        let q = format!("{base}&scope=openid");
        let p = params(&q);
        let e = validate(&t, &w.scopes, &p).expect_err("nonce");
        assert!(e.description.contains("nonce"));
        let q = format!("{base}&scope=openid&nonce=n");
        let p = params(&q);
        let r = validate(&t, &w.scopes, &p).expect("valid");
        assert_eq!(r.response_type, ResponseType::IdTokenToken);
        assert_eq!(r.pkce, None);
        let q = format!("{base}&scope=openid&nonce=n&response_mode=query");
        let p = params(&q);
        let t = target(&clients, &p).expect("target");
        assert_eq!(
            t.mode,
            ResponseMode::Fragment,
            "errors still go in the fragment"
        );
        assert!(validate(&t, &w.scopes, &p).is_err());
    }

    fn request(prompt: Prompt, max_age: Option<u32>) -> Request<'static> {
        Request {
            response_type: ResponseType::Code,
            scope: String::new(),
            openid: false,
            nonce: None,
            pkce: None,
            prompt,
            max_age,
            login_hint: None,
        }
    }

    fn situation(session: Option<Session>) -> Situation {
        Situation {
            session,
            fresh_login: false,
            remembered_consent: false,
            answer: None,
            now: 1000,
        }
    }

    #[test]
    fn openid_connect_3_1_2_3_no_session_shows_login_or_fails_with_prompt_none() {
        let w = World::new();
        let c = web(&w, &[GrantType::AuthorizationCode]);
        assert_eq!(
            next_step(&request(Prompt::default(), None), &c, situation(None)),
            Step::Login
        );
        let none = Prompt {
            none: true,
            ..Prompt::default()
        };
        match next_step(&request(none, None), &c, situation(None)) {
            Step::Fail(e) => assert_eq!(e.code, ErrorCode::LoginRequired),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn openid_connect_3_1_2_1_prompt_login_and_max_age_force_a_new_login() {
        let w = World::new();
        let c = web(&w, &[GrantType::AuthorizationCode]);
        let session = Session {
            user: Sym::from_index(1),
            auth_time: 900,
        };
        let login = Prompt {
            login: true,
            ..Prompt::default()
        };
        assert_eq!(
            next_step(&request(login, None), &c, situation(Some(session))),
            Step::Login
        );
        assert_eq!(
            next_step(
                &request(Prompt::default(), Some(99)),
                &c,
                situation(Some(session))
            ),
            Step::Login
        );
        assert_eq!(
            next_step(
                &request(Prompt::default(), Some(100)),
                &c,
                situation(Some(session))
            ),
            Step::Consent(session)
        );
        let fresh = Situation {
            fresh_login: true,
            ..situation(Some(session))
        };
        assert_eq!(
            next_step(&request(login, Some(0)), &c, fresh),
            Step::Consent(session)
        );
    }

    #[test]
    fn consent_is_asked_remembered_skipped_or_answered() {
        let w = World::new();
        let mut c = web(&w, &[GrantType::AuthorizationCode]);
        let session = Session {
            user: Sym::from_index(1),
            auth_time: 900,
        };
        let plain = request(Prompt::default(), None);
        let remembered = Situation {
            remembered_consent: true,
            ..situation(Some(session))
        };
        assert_eq!(
            next_step(&plain, &c, remembered),
            Step::Issue {
                session,
                remember: false
            }
        );
        let again = request(
            Prompt {
                consent: true,
                ..Prompt::default()
            },
            None,
        );
        assert_eq!(next_step(&again, &c, remembered), Step::Consent(session));
        let none = request(
            Prompt {
                none: true,
                ..Prompt::default()
            },
            None,
        );
        match next_step(&none, &c, situation(Some(session))) {
            Step::Fail(e) => assert_eq!(e.code, ErrorCode::ConsentRequired),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            next_step(&none, &c, remembered),
            Step::Issue { .. }
        ));
        let deny = Situation {
            answer: Some(Answer::Deny),
            ..situation(Some(session))
        };
        match next_step(&again, &c, deny) {
            Step::Fail(e) => assert_eq!(e.code, ErrorCode::AccessDenied),
            other => panic!("{other:?}"),
        }
        let allow = Situation {
            answer: Some(Answer::Allow),
            ..situation(Some(session))
        };
        assert_eq!(
            next_step(&again, &c, allow),
            Step::Issue {
                session,
                remember: true
            }
        );
        c.consent = ConsentMode::Skip;
        assert!(matches!(
            next_step(&none, &c, situation(Some(session))),
            Step::Issue { .. }
        ));
    }

    #[test]
    fn remembered_consent_covers_a_subset_of_its_scopes() {
        let w = World::new();
        let have = w.scopes.intern("openid profile read");
        assert!(Target::consent_covers(&w.scopes, have, "read openid"));
        assert!(!Target::consent_covers(&w.scopes, have, "email"));
    }
}
