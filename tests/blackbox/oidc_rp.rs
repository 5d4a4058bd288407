//! OpenID Connect as a relying party nobody here wrote sees it (issue 12): the
//! `openidconnect` crate runs discovery (`/.well-known/openid-configuration`, OpenID
//! Connect Discovery 1.0 §4), builds the authorize URL with PKCE S256 (RFC 7636) and a nonce,
//! exchanges the code, validates the `id_token` (signature against the JWKS, `iss`, `aud`,
//! `nonce`, `exp`, `at_hash`; OpenID Connect Core §3.1.3.7) with its own verifier and calls
//! userinfo (§5.3). Once for a client with the default RS256 and once for an ES256 client.
//!
//! The resource owner logs in with the scripted-client shortcut
//! (`[authorize] allow_basic_login = true`: the authorize request carries `Authorization:
//! Basic`), and the clients skip consent, so no browser is needed; the library's HTTP goes
//! through the harness's `Conn`.

use std::net::SocketAddr;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    http, AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest,
    HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse,
};

use crate::harness::*;

const REDIRECT_URI: &str = "https://rp.example/cb";
const ALICE_PASSWORD: &str = "alice-rp-password";
const RS256_CLIENT: (&str, &str) = ("rp-rs256", "rp-rs256-secret-0123456789");
const ES256_CLIENT: (&str, &str) = ("rp-es256", "rp-es256-secret-0123456789");

/// A server with both relying parties (consent skipped), alice with `name` and `email`
/// claims, and the Basic-login shortcut on.
fn start_server() -> Server {
    let client = |(id, secret): (&str, &str), extra: &str| {
        format!(
            r#"id = {id}
secret = {secret}
auth_method = "client_secret_basic"
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "email"]
redirect_uris = [{redirect}]
consent = "skip"
{extra}"#,
            id = toml_str(id),
            secret = toml_str(secret),
            redirect = toml_str(REDIRECT_URI),
        )
    };
    let mut config = ConfigBuilder::empty()
        .server("listen", "\"127.0.0.1:0\"")
        .server("workers", "2")
        .store("kind", "\"memory\"")
        .client(&client(RS256_CLIENT, ""))
        .client(&client(ES256_CLIENT, "id_token_signing_alg = \"ES256\""))
        .user(&format!(
            r#"username = "alice"
password = {pw}
claims = {{ name = "Alice Liddell", email = "alice@example.com" }}"#,
            pw = toml_str(ALICE_PASSWORD)
        ))
        .build();
    // ConfigBuilder has no [authorize] section; a table after the arrays of tables is
    // still valid TOML.
    config.push_str("[authorize]\nallow_basic_login = true\n");
    Server::start(&config)
}

/// The library's blocking HTTP client: every request goes to `server` over the harness's
/// `Conn` (requests anywhere else are refused, so a discovery document pointing elsewhere
/// fails the test).
fn http_client(server: SocketAddr) -> impl Fn(HttpRequest) -> Result<HttpResponse, std::io::Error> {
    move |req: HttpRequest| {
        let authority = req.uri().authority().map(|a| a.as_str().to_string());
        if authority.as_deref() != Some(server.to_string().as_str()) {
            return Err(std::io::Error::other(format!(
                "request to {} instead of the server under test {server}",
                req.uri()
            )));
        }
        let target = req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| "/".to_string());
        let mut headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        headers.push(("Connection".to_string(), "close".to_string()));
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let bytes = raw_request(req.method().as_str(), &target, &headers, req.body());
        let mut conn = Conn::connect(server);
        conn.try_send(&bytes)?;
        let resp = conn.try_read_response().map_err(std::io::Error::other)?;
        let mut builder = http::Response::builder().status(resp.status);
        for (k, v) in &resp.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        builder.body(resp.body).map_err(std::io::Error::other)
    }
}

/// Discovery, the code flow with PKCE and nonce, id_token validation and userinfo, for the
/// client `(id, secret)` whose id_tokens are signed with `alg`.
fn relying_party_flow(client_creds: (&str, &str), alg: CoreJwsSigningAlgorithm) {
    let server = start_server();
    let http = http_client(server.addr);
    let issuer_text = format!("http://{}", server.addr);
    let issuer = IssuerUrl::new(issuer_text.clone()).expect("issuer URL");

    // Discovery: the library also checks that the document's issuer is this one, and
    // fetches the JWKS from its jwks_uri.
    let metadata = CoreProviderMetadata::discover(&issuer, &http)
        .unwrap_or_else(|e| panic!("discovery: {e:?}"));
    assert!(
        metadata
            .id_token_signing_alg_values_supported()
            .contains(&alg),
        "discovery lists {alg:?}: {:?}",
        metadata.id_token_signing_alg_values_supported()
    );
    let client = CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(client_creds.0.to_string()),
        Some(ClientSecret::new(client_creds.1.to_string())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_string()).expect("redirect URL"));

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".to_string()))
        .add_scope(Scope::new("email".to_string()))
        .set_pkce_challenge(challenge)
        .url();
    let target = auth_url
        .as_str()
        .strip_prefix(&issuer_text)
        .unwrap_or_else(|| panic!("authorize URL {auth_url} is not on {issuer_text}"))
        .to_string();
    assert!(target.starts_with("/api/oauth/authorize?"), "{target}");

    // The resource owner logs in with Basic credentials: the answer is the redirect.
    let login = format!(
        "Basic {}",
        base64(format!("alice:{ALICE_PASSWORD}").as_bytes())
    );
    let resp = server.get_with(&target, &[("Authorization", &login)]);
    assert!(
        resp.status == 302 || resp.status == 303,
        "Basic login answers the redirect: {}",
        resp.summary()
    );
    let location = resp.header("Location").expect("Location").to_string();
    let query = location
        .strip_prefix(&format!("{REDIRECT_URI}?"))
        .unwrap_or_else(|| panic!("redirect to {location}, expected {REDIRECT_URI}"));
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} in {location}"))
    };
    assert_eq!(&param("state"), csrf.secret(), "state (RFC 6749 §4.1.2)");
    assert_eq!(param("iss"), issuer_text, "iss (RFC 9207 §2)");
    let code = param("code");

    // The exchange, with the PKCE verifier and client_secret_basic.
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("discovery gave a token endpoint")
        .set_pkce_verifier(verifier)
        .request(&http)
        .unwrap_or_else(|e| panic!("code exchange: {e:?}"));
    assert!(tokens.refresh_token().is_some(), "the client may refresh");

    // The id_token, validated by the library: signature against the JWKS, iss, aud, nonce,
    // exp (and iat), with the algorithm this client was registered for.
    let id_token = tokens.id_token().expect("an id_token for scope openid");
    let id_verifier = client
        .id_token_verifier()
        .set_allowed_algs(vec![alg.clone()]);
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .unwrap_or_else(|e| panic!("id_token rejected by the library: {e:?}"));
    assert_eq!(id_token.signing_alg().expect("signing alg"), &alg);
    assert_eq!(claims.subject().as_str(), "alice");
    assert_eq!(claims.issuer(), &issuer);
    assert!(claims
        .audiences()
        .iter()
        .any(|a| a.as_str() == client_creds.0));
    assert_eq!(claims.nonce().map(Nonce::secret), Some(nonce.secret()));
    assert!(claims.auth_time().is_some(), "auth_time");
    let at_hash = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().expect("signing alg"),
        id_token
            .signing_key(&id_verifier)
            .expect("the signing key is in the JWKS"),
    )
    .expect("at_hash of the access token");
    assert_eq!(&actual, at_hash, "at_hash binds the access token");

    // The same token fails the library's checks for another nonce or another client.
    assert!(id_token
        .claims(&id_verifier, &Nonce::new("another-nonce".to_string()))
        .is_err());
    let stranger = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("someone-else".to_string()),
        None,
    );
    assert!(id_token
        .claims(
            &stranger.id_token_verifier().set_allowed_algs(vec![alg]),
            &nonce
        )
        .is_err());

    // userinfo with the access token: sub (checked against the id_token's by the library)
    // and the claims the scopes profile and email allow.
    let userinfo: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .expect("discovery gave a userinfo endpoint")
        .request(&http)
        .unwrap_or_else(|e| panic!("userinfo: {e:?}"));
    assert_eq!(userinfo.subject().as_str(), "alice");
    assert_eq!(
        userinfo
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str()),
        Some("Alice Liddell")
    );
    assert_eq!(
        userinfo.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
}

#[test]
fn openidconnect_library_completes_the_code_flow_and_validates_an_rs256_id_token() {
    relying_party_flow(RS256_CLIENT, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
}

#[test]
fn openidconnect_library_completes_the_code_flow_and_validates_an_es256_id_token() {
    relying_party_flow(ES256_CLIENT, CoreJwsSigningAlgorithm::EcdsaP256Sha256);
}
