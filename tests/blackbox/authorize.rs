//! `/api/oauth/authorize` and the code grant, black-box: the login and consent pages, the
//! session cookie, PKCE, redirects and their errors, implicit responses, form_post, logout,
//! userinfo, discovery, and codes that outlive a kill -9 (RFC 6749 §4.1, §4.2, RFC 7636,
//! RFC 9207, RFC 9700, OpenID Connect Core).

use crate::harness::*;
use std::time::Duration;

pub const WEB_REDIRECT: &str = "https://app.example/cb";
pub const NATIVE_REDIRECT: &str = "http://127.0.0.1/cb";
pub const ALICE_PASSWORD: &str = "alice-password-1";

/// The web client (confidential, consent asked), a native public client, a first-party
/// client that skips consent, an implicit client; the user `alice` with claims.
pub fn web_config() -> ConfigBuilder {
    with_web_clients(ConfigBuilder::standard())
}

/// `base` with the clients and the user of [`web_config`] added (the cluster tests put them
/// on a config with a shared store).
pub fn with_web_clients(base: ConfigBuilder) -> ConfigBuilder {
    base.client(&format!(
        r#"id = "web"
secret = "web-secret-0123456789abcdef"
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "email", "read"]
default_scopes = ["openid"]
redirect_uris = ["{WEB_REDIRECT}", "https://app.example/other"]
post_logout_redirect_uris = ["https://app.example/bye"]"#
    ))
    .client(&format!(
        r#"id = "native"
auth_method = "none"
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "read"]
redirect_uris = ["{NATIVE_REDIRECT}"]"#
    ))
    .client(&format!(
        r#"id = "first-party"
secret = "first-party-secret-0123456789"
grant_types = ["authorization_code"]
scopes = ["openid", "profile", "email"]
redirect_uris = ["{WEB_REDIRECT}"]
consent = "skip"
id_token_signing_alg = "ES256""#
    ))
    .client(&format!(
        r#"id = "spa-implicit"
auth_method = "none"
grant_types = ["implicit"]
scopes = ["openid", "profile", "read"]
redirect_uris = ["{WEB_REDIRECT}"]
consent = "skip""#
    ))
    .user(&format!(
        r#"username = "alice2"
password = "{ALICE_PASSWORD}"
claims = {{ name = "Alice Example", email = "alice@example.com", email_verified = "true" }}"#
    ))
}

pub fn web_client() -> Client {
    Client::new(
        "web",
        Some("web-secret-0123456789abcdef"),
        AuthMethod::Basic,
    )
}

pub fn first_party() -> Client {
    Client::new(
        "first-party",
        Some("first-party-secret-0123456789"),
        AuthMethod::Basic,
    )
}

pub const ALICE: (&str, &str) = ("alice2", ALICE_PASSWORD);

/// Exchanges `code` at the token endpoint as `client`.
pub fn exchange(
    node: &Server,
    client: &Client,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Response {
    node.token(
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ],
    )
}

/// Runs the browser flow for `web` and returns the code and the agent (logged in).
pub fn web_code(node: &Server, pkce: &Pkce, scope: &str) -> (String, Agent) {
    let mut agent = Agent::new();
    let r = agent.log_in_and_allow(
        node,
        &code_query("web", WEB_REDIRECT, scope, pkce, "&nonce=n-1"),
        ALICE,
    );
    assert_eq!(r.status, 303, "{}", r.summary());
    let p = redirect_params(&r);
    (
        p.get("code")
            .cloned()
            .unwrap_or_else(|| panic!("no code: {p:?}")),
        agent,
    )
}

fn issuer(node: &Server) -> String {
    format!("http://127.0.0.1:{}", node.port())
}

#[test]
fn rfc6749_4_1_code_flow_with_login_consent_pkce_and_id_token() {
    let node = Server::start(&web_config().build());
    let pkce = Pkce::new();
    let mut agent = Agent::new();
    let query = code_query(
        "web",
        WEB_REDIRECT,
        "openid profile read",
        &pkce,
        "&nonce=n-0S6",
    );
    let login = agent.authorize(&node, &query);
    assert_eq!(login.status, 200, "{}", login.summary());
    assert!(login
        .header("Content-Type")
        .is_some_and(|c| c.starts_with("text/html")));
    assert_eq!(login.header("Cache-Control"), Some("no-store"));
    assert_eq!(login.header("X-Frame-Options"), Some("DENY"));
    let csp = login.header("Content-Security-Policy").expect("CSP");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        csp.contains("https://app.example"),
        "form-action allows the client: {csp}"
    );
    let html = login.text();
    assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""));
    assert!(!html.contains("src=\"http"), "no external assets");
    assert!(agent.cookies.contains_key("tessera_csrf"));

    let consent = agent.submit(
        &node,
        &login,
        &[("username", ALICE.0), ("password", ALICE.1)],
    );
    assert_eq!(consent.status, 200, "{}", consent.summary());
    assert!(
        agent.cookies.contains_key("tessera_session"),
        "{:?}",
        consent.headers
    );
    let set_cookie = consent.headers_named("Set-Cookie").join(" | ");
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let text = consent.text();
    assert!(
        text.contains("name=\"consent\"") && text.contains("value=\"allow\""),
        "{text}"
    );
    assert!(text.contains("profile"), "the requested scopes are listed");

    let done = agent.submit(&node, &consent, &[("consent", "allow")]);
    assert_eq!(done.status, 303, "{}", done.summary());
    let location = done.header("Location").expect("Location");
    assert!(
        location.starts_with(&format!("{WEB_REDIRECT}?")),
        "{location}"
    );
    let p = redirect_params(&done);
    assert_eq!(p["state"], "st-1");
    assert_eq!(p["iss"], issuer(&node), "RFC 9207 iss");
    let code = &p["code"];
    assert_token_shape(code, 30);

    let tokens = exchange(&node, &web_client(), code, WEB_REDIRECT, &pkce.verifier);
    assert_eq!(tokens.status, 200, "{}", tokens.summary());
    let issued = Issued::from_response(tokens.clone());
    assert_token_shape(&issued.access_token, 54);
    assert!(issued.refresh_token.is_some());
    let id_token = tokens.json_str("id_token");
    let claims = jwt_claims(&id_token);
    assert_eq!(claims["iss"], issuer(&node));
    assert_eq!(claims["aud"], "web");
    assert_eq!(claims["sub"], "alice2");
    assert_eq!(claims["nonce"], "n-0S6");
    assert!(claims["at_hash"].is_string());
    assert!(claims["auth_time"]
        .as_i64()
        .is_some_and(|t| (t - now_secs()).abs() < 60));
    assert!(claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0) == 60);

    // The token stands for alice; userinfo releases what the scopes allow.
    let info = node.get_with(
        "/api/oauth/userinfo",
        &[("Authorization", &format!("Bearer {}", issued.access_token))],
    );
    assert_eq!(info.status, 200, "{}", info.summary());
    assert_eq!(info.json_str("sub"), "alice2");
    assert_eq!(info.json_str("name"), "Alice Example");
    assert!(
        info.json().get("email").is_none(),
        "email scope not granted"
    );
}

#[test]
fn rfc6749_4_1_2_a_code_is_single_use_and_a_second_use_revokes_its_tokens() {
    let node = Server::start(&web_config().build());
    let pkce = Pkce::new();
    let (code, _) = web_code(&node, &pkce, "openid read");
    let first = exchange(&node, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
    assert_eq!(first.status, 200, "{}", first.summary());
    let issued = Issued::from_response(first);
    assert_eq!(node.tokeninfo(&issued.access_token).status, 200);
    let second = exchange(&node, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
    assert_token_error(&second, 400, "invalid_grant");
    assert_eq!(node.tokeninfo(&issued.access_token).status, 400, "revoked");
    let refreshed = node.refresh(&web_client(), issued.refresh_token(), None);
    assert_token_error(&refreshed, 400, "invalid_grant");
    let metrics = Metrics::parse(&node.get("/metrics").text());
    assert_eq!(metrics.value("tessera_code_reuse_total", &[]), 1.0);
}

#[test]
fn rfc6749_4_1_3_and_rfc7636_4_6_the_exchange_checks_every_binding() {
    let node = Server::start(&web_config().build());
    let pkce = Pkce::new();
    let (code, _) = web_code(&node, &pkce, "openid");
    for (client, uri, verifier, error) in [
        (web_client(), WEB_REDIRECT, "x".repeat(43), "invalid_grant"),
        (
            web_client(),
            "https://app.example/other",
            pkce.verifier.clone(),
            "invalid_grant",
        ),
        (
            first_party(),
            WEB_REDIRECT,
            pkce.verifier.clone(),
            "invalid_grant",
        ),
    ] {
        let r = exchange(&node, &client, &code, uri, &verifier);
        assert_token_error(&r, 400, error);
    }
    let no_verifier = node.token(
        &web_client(),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", WEB_REDIRECT),
        ],
    );
    assert_token_error(&no_verifier, 400, "invalid_request");
    // None of those used the code up.
    let r = exchange(&node, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
    assert_eq!(r.status, 200, "{}", r.summary());
    let unknown = exchange(
        &node,
        &web_client(),
        "x".repeat(30).as_str(),
        WEB_REDIRECT,
        &pkce.verifier,
    );
    assert_token_error(&unknown, 400, "invalid_grant");
}

#[test]
fn rfc6749_4_1_2_1_unknown_client_or_redirect_uri_gets_an_error_page_never_a_redirect() {
    let node = Server::start(&web_config().build());
    let pkce = Pkce::new();
    for query in [
        code_query("nobody", WEB_REDIRECT, "openid", &pkce, ""),
        code_query("web", "https://evil.example/cb", "openid", &pkce, ""),
        code_query("web", "https://app.example/cb/", "openid", &pkce, ""),
        "response_type=code&client_id=web".to_owned(),
        code_query("svc-a", WEB_REDIRECT, "read", &pkce, ""),
    ] {
        let r = node.get(&format!("{AUTHORIZE_PATH}?{query}"));
        assert_eq!(r.status, 400, "{query}: {}", r.summary());
        assert!(r.header("Location").is_none(), "{query}");
        assert!(r
            .header("Content-Type")
            .is_some_and(|c| c.starts_with("text/html")));
        assert!(
            !r.text().contains("evil.example/cb\""),
            "the URI is not linked"
        );
    }
}

#[test]
fn rfc6749_4_1_2_1_other_errors_are_redirected_with_state_and_iss() {
    let node = Server::start(&web_config().build());
    let pkce = Pkce::new();
    let base = format!(
        "response_type=code&client_id=web&redirect_uri={}&state=st-1",
        urlencode(WEB_REDIRECT)
    );
    let s256 = format!(
        "&code_challenge={}&code_challenge_method=S256",
        pkce.challenge
    );
    for (extra, error) in [
        (format!("{s256}&response_type=code"), "invalid_request"),
        (format!("{s256}&scope=admin"), "invalid_scope"),
        (format!("{s256}&prompt=none%20login"), "invalid_request"),
        (format!("{s256}&max_age=soon"), "invalid_request"),
        (
            format!("&code_challenge={}", pkce.challenge),
            "invalid_request",
        ),
        (
            format!(
                "&code_challenge={}&code_challenge_method=plain",
                pkce.challenge
            ),
            "invalid_request",
        ),
    ] {
        let r = node.get(&format!("{AUTHORIZE_PATH}?{base}{extra}"));
        assert_eq!(r.status, 302, "{extra}: {}", r.summary());
        let p = redirect_params(&r);
        assert_eq!(
            p.get("error").map(String::as_str),
            Some(error),
            "{extra}: {p:?}"
        );
        assert!(p.get("error_description").is_some_and(|d| !d.is_empty()));
        assert_eq!(p["state"], "st-1");
        assert_eq!(p["iss"], issuer(&node));
    }
    let bad_type = node.get(&format!(
        "{AUTHORIZE_PATH}?response_type=magic&client_id=web&redirect_uri={}&state=s",
        urlencode(WEB_REDIRECT)
    ));
    assert_eq!(
        redirect_params(&bad_type)["error"],
        "unsupported_response_type"
    );
    let no_pkce = node.get(&format!(
        "{AUTHORIZE_PATH}?response_type=code&client_id=web&redirect_uri={}&state=s",
        urlencode(WEB_REDIRECT)
    ));
    let p = redirect_params(&no_pkce);
    assert_eq!(p["error"], "invalid_request");
    assert!(p["error_description"].contains("code_challenge"), "{p:?}");
    let implicit_not_allowed = node.get(&format!(
        "{AUTHORIZE_PATH}?response_type=token&client_id=web&redirect_uri={}&state=s",
        urlencode(WEB_REDIRECT)
    ));
    let location = implicit_not_allowed.header("Location").unwrap_or_default();
    assert!(
        location.contains('#'),
        "implicit errors go in the fragment: {location}"
    );
    assert_eq!(
        redirect_params(&implicit_not_allowed)["error"],
        "unauthorized_client"
    );
}

#[test]
fn openid_connect_prompt_none_sso_consent_required_and_login_required() {
    let node = Server::start(&web_config().build());
    let pkce = Pkce::new();
    let mut stranger = Agent::new();
    let none = |p: &Pkce| code_query("web", WEB_REDIRECT, "openid read", p, "&prompt=none");
    let r = stranger.authorize(&node, &none(&pkce));
    assert_eq!(redirect_params(&r)["error"], "login_required");

    // Logged in but never consented to `web`: consent_required.
    let mut agent = Agent::new();
    let fp = agent.log_in_and_allow(
        &node,
        &code_query("first-party", WEB_REDIRECT, "openid", &pkce, ""),
        ALICE,
    );
    assert!(
        redirect_params(&fp).contains_key("code"),
        "{}",
        fp.summary()
    );
    let r = agent.authorize(&node, &none(&pkce));
    assert_eq!(redirect_params(&r)["error"], "consent_required");

    // Consent once; then prompt=none gets a code with no page (single sign-on).
    let page = agent.authorize(
        &node,
        &code_query("web", WEB_REDIRECT, "openid read", &pkce, ""),
    );
    assert!(
        page.text().contains("name=\"consent\""),
        "{}",
        page.summary()
    );
    let allowed = agent.submit(&node, &page, &[("consent", "allow")]);
    assert!(redirect_params(&allowed).contains_key("code"));
    let sso = agent.authorize(&node, &none(&pkce));
    assert_eq!(sso.status, 302, "{}", sso.summary());
    let code = redirect_params(&sso)["code"].clone();
    let r = exchange(&node, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
    assert_eq!(r.status, 200, "{}", r.summary());
    // A narrower request is covered by the remembered consent too.
    let narrower = agent.authorize(
        &node,
        &code_query("web", WEB_REDIRECT, "openid", &pkce, "&prompt=none"),
    );
    assert!(redirect_params(&narrower).contains_key("code"));
    // prompt=consent asks again.
    let again = agent.authorize(
        &node,
        &code_query("web", WEB_REDIRECT, "openid", &pkce, "&prompt=consent"),
    );
    assert_eq!(again.status, 200);
    assert!(again.text().contains("name=\"consent\""));
}

#[test]
fn rfc6749_4_1_2_1_deny_is_access_denied() {
    let node = Server::start(&web_config().build());
    let pkce = Pkce::new();
    let mut agent = Agent::new();
    let login = agent.authorize(&node, &code_query("web", WEB_REDIRECT, "openid", &pkce, ""));
    let consent = agent.submit(
        &node,
        &login,
        &[("username", ALICE.0), ("password", ALICE.1)],
    );
    let denied = agent.submit(&node, &consent, &[("consent", "deny")]);
    let p = redirect_params(&denied);
    assert_eq!(p["error"], "access_denied");
    assert_eq!(p["state"], "st-1");
}

#[test]
fn wrong_password_shows_the_login_page_again_and_sets_no_session() {
    let node = Server::start(&web_config().build());
    let pkce = Pkce::new();
    let mut agent = Agent::new();
    let login = agent.authorize(&node, &code_query("web", WEB_REDIRECT, "openid", &pkce, ""));
    let again = agent.submit(
        &node,
        &login,
        &[("username", ALICE.0), ("password", "wrong")],
    );
    assert_eq!(again.status, 200);
    assert!(again.text().contains("name=\"password\""));
    assert!(again
        .text()
        .to_lowercase()
        .contains("wrong username or password"));
    assert!(!agent.cookies.contains_key("tessera_session"));
}

#[test]
fn rfc6749_10_12_a_login_without_the_csrf_value_is_refused() {
    let node = Server::start(&web_config().build());
    let pkce = Pkce::new();
    let q = code_query("web", WEB_REDIRECT, "openid", &pkce, "");
    // A cross-site form post: the right credentials, no CSRF cookie or field.
    let mut attacker = Agent::new();
    let mut fields: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    fields.push(("username".into(), ALICE.0.into()));
    fields.push(("password".into(), ALICE.1.into()));
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = attacker.post(&node, AUTHORIZE_PATH, &borrowed);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(r.header("Location").is_none());
    assert!(!attacker.cookies.contains_key("tessera_session"));
}

#[test]
fn openid_connect_max_age_and_prompt_login_force_a_new_login() {
    let node = Server::start(&web_config().build());
    let pkce = Pkce::new();
    let mut agent = Agent::new();
    let fp = |extra: &str| {
        format!(
            "{AUTHORIZE_PATH}?{}",
            code_query("first-party", WEB_REDIRECT, "openid", &pkce, extra)
        )
    };
    let r = agent.log_in_and_allow(
        &node,
        &fp("").replace(&format!("{AUTHORIZE_PATH}?"), ""),
        ALICE,
    );
    assert!(redirect_params(&r).contains_key("code"));
    let sso = agent.get(&node, &fp(""), &[]);
    assert_eq!(sso.status, 302, "the session is used");
    for extra in ["&prompt=login", "&max_age=0"] {
        // auth_time is in whole seconds: let one pass since the last login.
        std::thread::sleep(Duration::from_millis(1100));
        let page = agent.get(&node, &fp(extra), &[]);
        assert_eq!(page.status, 200, "{extra}: {}", page.summary());
        assert!(page.text().contains("name=\"password\""), "{extra}");
        let done = agent.submit(
            &node,
            &page,
            &[("username", ALICE.0), ("password", ALICE.1)],
        );
        assert_eq!(
            done.status,
            303,
            "{extra}: a fresh login satisfies it: {}",
            done.summary()
        );
        assert!(redirect_params(&done).contains_key("code"));
    }
}

#[test]
fn rfc8252_7_3_native_apps_use_pkce_and_any_loopback_port() {
    let node = Server::start(&web_config().build());
    let pkce = Pkce::new();
    let mut agent = Agent::new();
    let redirect = "http://127.0.0.1:53117/cb";
    let r = agent.log_in_and_allow(
        &node,
        &code_query("native", redirect, "openid", &pkce, ""),
        ALICE,
    );
    let location = r.header("Location").unwrap_or_default().to_owned();
    assert!(
        location.starts_with("http://127.0.0.1:53117/cb?"),
        "{location}"
    );
    let code = redirect_params(&r)["code"].clone();
    let public = Client::new("native", None, AuthMethod::None);
    let t = exchange(&node, &public, &code, redirect, &pkce.verifier);
    assert_eq!(t.status, 200, "{}", t.summary());
    // A public client without a challenge is refused.
    let no_pkce = node.get(&format!(
        "{AUTHORIZE_PATH}?response_type=code&client_id=native&redirect_uri={}&state=s",
        urlencode(redirect)
    ));
    assert_eq!(redirect_params(&no_pkce)["error"], "invalid_request");
}

#[test]
fn rfc6749_4_2_implicit_tokens_in_the_fragment_never_a_refresh_token() {
    let node = Server::start(&web_config().build());
    let mut agent = Agent::new();
    let q = format!(
        "response_type=id_token%20token&client_id=spa-implicit&redirect_uri={}&scope=openid%20profile&state=st-1&nonce=n-9",
        urlencode(WEB_REDIRECT)
    );
    let r = agent.log_in_and_allow(&node, &q, ALICE);
    let location = r.header("Location").unwrap_or_default().to_owned();
    assert!(
        location.starts_with(&format!("{WEB_REDIRECT}#")),
        "{location}"
    );
    let p = location_params(&location);
    assert!(
        p.contains_key("access_token") && !p.contains_key("refresh_token"),
        "{p:?}"
    );
    assert_eq!(p["token_type"], "Bearer");
    assert_eq!(p["expires_in"], "3600");
    assert_eq!(p["state"], "st-1");
    let claims = jwt_claims(&p["id_token"]);
    assert_eq!(claims["nonce"], "n-9");
    assert!(claims["at_hash"].is_string());
    assert_eq!(node.tokeninfo(&p["access_token"]).status, 200);
    // id_token without a nonce is refused (OpenID Connect Core 3.2.2.1).
    let no_nonce = agent.authorize(&node, &q.replace("&nonce=n-9", ""));
    assert_eq!(
        location_params(no_nonce.header("Location").unwrap_or_default())["error"],
        "invalid_request"
    );
    // response_type=id_token alone carries the user's claims in the ID token.
    let only = agent.authorize(&node, &q.replace("id_token%20token", "id_token"));
    let p = location_params(only.header("Location").unwrap_or_default());
    assert!(!p.contains_key("access_token"));
    assert_eq!(jwt_claims(&p["id_token"])["name"], "Alice Example");
}

#[test]
fn form_post_response_mode_posts_the_code_to_the_redirect_uri() {
    let node = Server::start(&web_config().build());
    let pkce = Pkce::new();
    let mut agent = Agent::new();
    let r = agent.log_in_and_allow(
        &node,
        &code_query(
            "first-party",
            WEB_REDIRECT,
            "openid",
            &pkce,
            "&response_mode=form_post",
        ),
        ALICE,
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    let html = r.text();
    assert!(
        unescape(&html).contains(&format!("action=\"{WEB_REDIRECT}\"")),
        "{html}"
    );
    let fields: std::collections::BTreeMap<_, _> = hidden_fields(&html).into_iter().collect();
    assert!(
        fields.contains_key("code") && fields["state"] == "st-1",
        "{fields:?}"
    );
    let csp = r.header("Content-Security-Policy").unwrap_or_default();
    assert!(csp.contains("form-action https://app.example"), "{csp}");
}

#[test]
fn basic_login_for_scripted_clients_when_enabled() {
    let pkce = Pkce::new();
    let q = code_query("first-party", WEB_REDIRECT, "openid", &pkce, "");
    let auth = basic_auth(ALICE.0, ALICE.1);
    let off = Server::start(&web_config().build());
    let r = off.get_with(
        &format!("{AUTHORIZE_PATH}?{q}"),
        &[("Authorization", &auth)],
    );
    assert_eq!(r.status, 200, "off by default: the login page");
    let on = Server::start(&web_config().authorize("allow_basic_login", "true").build());
    let r = on.get_with(
        &format!("{AUTHORIZE_PATH}?{q}"),
        &[("Authorization", &auth)],
    );
    assert_eq!(r.status, 302, "{}", r.summary());
    let code = redirect_params(&r)["code"].clone();
    assert_eq!(
        exchange(&on, &first_party(), &code, WEB_REDIRECT, &pkce.verifier).status,
        200
    );
    let wrong = on.get_with(
        &format!("{AUTHORIZE_PATH}?{q}"),
        &[("Authorization", &basic_auth(ALICE.0, "nope"))],
    );
    assert_eq!(redirect_params(&wrong)["error"], "access_denied");
}

#[test]
fn openid_rp_initiated_logout_ends_the_session_at_once() {
    let node = Server::start(&web_config().build());
    let pkce = Pkce::new();
    let mut agent = Agent::new();
    let fp = format!(
        "{AUTHORIZE_PATH}?{}",
        code_query("first-party", WEB_REDIRECT, "openid", &pkce, "&prompt=none")
    );
    agent.log_in_and_allow(
        &node,
        &code_query("first-party", WEB_REDIRECT, "openid", &pkce, ""),
        ALICE,
    );
    let kept = agent.cookies.clone();
    assert_eq!(agent.get(&node, &fp, &[]).status, 302);
    let out = agent.get(&node, "/api/oauth/logout", &[]);
    assert_eq!(out.status, 200, "signed-out page: {}", out.summary());
    assert!(!agent.cookies.contains_key("tessera_session"));
    assert_eq!(
        redirect_params(&agent.get(&node, &fp, &[]))["error"],
        "login_required"
    );
    // The old cookie, replayed, names a session that no longer exists.
    let mut replay = Agent { cookies: kept };
    assert_eq!(
        redirect_params(&replay.get(&node, &fp, &[]))["error"],
        "login_required"
    );

    let r = agent.get(&node, "/api/oauth/logout?client_id=web&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye&state=z", &[]);
    assert_eq!(r.status, 302, "{}", r.summary());
    assert_eq!(
        r.header("Location"),
        Some("https://app.example/bye?state=z")
    );
    let evil = agent.get(
        &node,
        "/api/oauth/logout?client_id=web&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F",
        &[],
    );
    assert_eq!(evil.status, 400);
    assert!(evil.header("Location").is_none());
}

#[test]
fn rfc6750_3_userinfo_needs_a_bearer_token_with_openid() {
    let node = Server::start(&web_config().build());
    let r = node.get("/api/oauth/userinfo");
    assert_eq!(r.status, 401);
    assert!(
        r.header("WWW-Authenticate")
            .is_some_and(|c| c.starts_with("Bearer")),
        "{}",
        r.summary()
    );
    let bad = node.get_with("/api/oauth/userinfo", &[("Authorization", "Bearer nope")]);
    assert_eq!(bad.status, 401);
    assert!(bad
        .header("WWW-Authenticate")
        .is_some_and(|c| c.contains("invalid_token")));
    let cc = Issued::from_response(node.client_credentials(&confidential_client(), None));
    let no_openid = node.get_with(
        "/api/oauth/userinfo",
        &[("Authorization", &format!("Bearer {}", cc.access_token))],
    );
    assert_eq!(no_openid.status, 403, "{}", no_openid.summary());
    let pkce = Pkce::new();
    let (code, _) = web_code(&node, &pkce, "openid email");
    let t = Issued::from_response(exchange(
        &node,
        &web_client(),
        &code,
        WEB_REDIRECT,
        &pkce.verifier,
    ));
    let post = node.post_form(
        "/api/oauth/userinfo",
        &form(&[("access_token", &t.access_token)]),
        None,
    );
    assert_eq!(post.status, 200, "{}", post.summary());
    assert_eq!(post.json_str("email"), "alice@example.com");
    assert!(post.json().get("name").is_none(), "profile not granted");
}

#[test]
fn rfc8414_and_openid_discovery_list_every_endpoint_and_the_jwks() {
    let node = Server::start(&web_config().build());
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = node.get(path);
        assert_eq!(r.status, 200, "{path}");
        let d = r.json();
        assert_eq!(d["issuer"], issuer(&node));
        assert_eq!(
            d["authorization_endpoint"],
            format!("{}/api/oauth/authorize", issuer(&node))
        );
        assert_eq!(
            d["token_endpoint"],
            format!("{}/api/oauth/token", issuer(&node))
        );
        assert_eq!(d["jwks_uri"], format!("{}/api/oauth/jwks", issuer(&node)));
        assert_eq!(d["authorization_response_iss_parameter_supported"], true);
        for (list, item) in [
            ("response_types_supported", "code"),
            ("response_types_supported", "id_token token"),
            ("grant_types_supported", "authorization_code"),
            ("code_challenge_methods_supported", "S256"),
            ("id_token_signing_alg_values_supported", "ES256"),
            ("scopes_supported", "openid"),
            (
                "token_endpoint_auth_methods_supported",
                "client_secret_basic",
            ),
        ] {
            let values = d[list]
                .as_array()
                .unwrap_or_else(|| panic!("{path} {list}"));
            assert!(
                values.iter().any(|v| v == item),
                "{path} {list} lacks {item}"
            );
        }
    }
    let jwks = node.get("/api/oauth/jwks").json();
    let keys = jwks["keys"].as_array().expect("keys");
    assert!(keys.iter().any(|k| k["alg"] == "RS256") && keys.iter().any(|k| k["alg"] == "ES256"));
    assert!(
        keys.iter().all(|k| k.get("d").is_none()),
        "no private parts"
    );
}

#[test]
fn es256_clients_get_es256_id_tokens_with_a_published_kid() {
    let node = Server::start(&web_config().build());
    let pkce = Pkce::new();
    let mut agent = Agent::new();
    let r = agent.log_in_and_allow(
        &node,
        &code_query("first-party", WEB_REDIRECT, "openid email", &pkce, ""),
        ALICE,
    );
    let code = redirect_params(&r)["code"].clone();
    let t = exchange(&node, &first_party(), &code, WEB_REDIRECT, &pkce.verifier);
    let id_token = t.json_str("id_token");
    let header = jwt_claims(&format!(
        "x.{}",
        id_token.split('.').next().unwrap_or_default()
    ));
    assert_eq!(header["alg"], "ES256");
    let jwks = node.get("/api/oauth/jwks").json();
    let kid = header["kid"].as_str().expect("kid");
    assert!(jwks["keys"]
        .as_array()
        .is_some_and(|k| k.iter().any(|k| k["kid"] == kid)));
}

#[test]
fn a_code_outlives_a_kill_9_right_after_the_redirect() {
    let dir = TempDir::new("authorize-kill");
    let config = web_config()
        .store("kind", "\"rocksdb\"")
        .store(
            "path",
            &toml_str(&dir.path().join("db").display().to_string()),
        )
        .store("durability", "\"async\"")
        .build();
    let mut node = Server::start(&config);
    let pkce = Pkce::new();
    let (code, agent) = web_code(&node, &pkce, "openid read");
    node.signal("KILL");
    node.wait_exit(Duration::from_secs(10));
    let node = Server::start(&config);
    // The session survived too: prompt=none on the restarted node.
    let mut agent = agent;
    let again = agent.authorize(
        &node,
        &code_query("web", WEB_REDIRECT, "openid read", &pkce, "&prompt=none"),
    );
    assert_eq!(again.status, 302, "{}", again.summary());
    assert!(
        redirect_params(&again).contains_key("code"),
        "session and consent survived"
    );
    let r = exchange(&node, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
    assert_eq!(r.status, 200, "{}", r.summary());
    let issued = Issued::from_response(r);
    // And it stays single-use across the restart it survived.
    drop(node);
    let node = Server::start(&config);
    let second = exchange(&node, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
    assert_token_error(&second, 400, "invalid_grant");
    assert_eq!(
        node.tokeninfo(&issued.access_token).status,
        400,
        "revoked on reuse"
    );
}

#[test]
fn consent_allows_exactly_the_request_the_page_showed() {
    let node = Server::start(&web_config().build());
    let pkce = Pkce::new();
    let mut agent = Agent::new();
    // Many unknown parameters before the scope must not push it out of the form.
    let padding: String = (0..80).map(|i| format!("&x{i}=1")).collect();
    let q = format!(
        "response_type=code&client_id=web&redirect_uri={}&state=st-1&code_challenge={}&code_challenge_method=S256{padding}&scope=openid",
        urlencode(WEB_REDIRECT),
        pkce.challenge
    );
    let login = agent.authorize(&node, &q);
    let consent = agent.submit(
        &node,
        &login,
        &[("username", ALICE.0), ("password", ALICE.1)],
    );
    let fields: std::collections::BTreeMap<_, _> =
        hidden_fields(&consent.text()).into_iter().collect();
    assert_eq!(
        fields.get("scope").map(String::as_str),
        Some("openid"),
        "{fields:?}"
    );
    assert!(
        !fields.keys().any(|k| k.starts_with('x')),
        "unknown parameters are not carried"
    );

    // The page's CSRF value does not allow another request (wider scope, other redirect).
    let mut forged: Vec<(String, String)> = hidden_fields(&consent.text());
    for (k, v) in forged.iter_mut() {
        if k == "scope" {
            *v = "openid profile email read".into();
        }
    }
    forged.push(("consent".into(), "allow".into()));
    let borrowed: Vec<(&str, &str)> = forged
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = agent.post(&node, AUTHORIZE_PATH, &borrowed);
    assert_eq!(
        redirect_params(&r)["error"],
        "invalid_request",
        "{}",
        r.summary()
    );

    // The genuine answer gets a code for exactly the scope shown.
    let done = agent.submit(&node, &consent, &[("consent", "allow")]);
    let code = redirect_params(&done)["code"].clone();
    let t = exchange(&node, &web_client(), &code, WEB_REDIRECT, &pkce.verifier);
    assert_eq!(t.json_str("scope"), "openid");
}

#[test]
fn an_over_long_state_is_refused_on_a_page_not_cut_and_redirected() {
    let node = Server::start(&web_config().build());
    let pkce = Pkce::new();
    let q = code_query("web", WEB_REDIRECT, "openid", &pkce, "")
        .replace("state=st-1", &format!("state={}", "s".repeat(1500)));
    let r = node.get(&format!("{AUTHORIZE_PATH}?{q}"));
    assert_eq!(r.status, 400, "{}", r.summary());
    assert!(r.header("Location").is_none());
}
