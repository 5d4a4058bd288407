//! The JWT bearer grant (RFC 7523 §2.1, §3): `grant_type=urn:ietf:params:oauth:grant-type:
//! jwt-bearer` with an `assertion` signed by the client itself (its `jwks_file`,
//! `public_key_files` or `jwks_uri`) or by an `[[assertion_issuers]]` entry of kind `jwt`
//! that lists the client. Every assertion is made by PyJWT (`tests/tools/assertion.py`), the
//! forgeries (`alg: none`, HS256 keyed with the public key) by hand next to it.
//!
//! Each refusal is checked for its status, its `error` code and that the answer does not
//! echo the assertion. The replay tests on two nodes need the Cassandra of
//! `tests/services/cassandra.sh` (see `cluster.rs`).

use std::time::{Duration, Instant};

use crate::cluster::{cluster_config, race, shared_cassandra, two_nodes, Keyspace};
use crate::harness::assertions::*;
use crate::harness::*;

/// A partner client: Basic secret, the JWT bearer and refresh grants, its own keys.
const PARTNER: &str = "partner-x";
const PARTNER_SECRET: &str = "partner-x-secret-0123456789";
/// A second partner with keys of its own and the grant, but no refresh_token grant and not
/// listed by the corporate issuer.
const OTHER: &str = "partner-y";
const OTHER_SECRET: &str = "partner-y-secret-0123456789";
/// The external issuer (kind `jwt`) that lists `PARTNER` only.
const CORP_IDP: &str = "https://idp.corp.test";

/// How long a jwks_uri key may take to be fetched (at start-up, or after an unknown `kid`).
const JWKS_LIMIT: Duration = Duration::from_secs(20);

fn partner() -> Client {
    Client::new(PARTNER, Some(PARTNER_SECRET), AuthMethod::Basic)
}

fn other_partner() -> Client {
    Client::new(OTHER, Some(OTHER_SECRET), AuthMethod::Basic)
}

/// How `PARTNER`'s key is registered.
#[derive(Debug, Clone, Copy)]
enum KeySource {
    JwksFile,
    PublicKeyFile,
}

/// The keys and config of one test: `PARTNER` (key `partner-x`), `OTHER` (RSA key
/// `partner-y`), and the corporate issuer (P-256 key `corp-idp`).
struct Setup {
    keys: KeyDir,
    partner_key: KeyPair,
    other_key: KeyPair,
    idp_key: KeyPair,
    config: String,
}

impl Setup {
    /// The standard config plus the assertion clients and issuer, `PARTNER`'s key of `kind`
    /// with JWKS `alg`, registered per `source`.
    fn new(kind: KeyKind, alg: &str, source: KeySource) -> Setup {
        Setup::on(ConfigBuilder::standard(), kind, alg, source, &[])
    }

    /// RSA, RS256, `jwks_file`.
    fn rs256() -> Setup {
        Setup::new(KeyKind::Rsa, "RS256", KeySource::JwksFile)
    }

    /// The clients and issuer added to `base`, with extra `[assertions]` lines.
    fn on(
        base: ConfigBuilder,
        kind: KeyKind,
        alg: &str,
        source: KeySource,
        assertions: &[(&str, &str)],
    ) -> Setup {
        let mut keys = KeyDir::new("jwt-bearer");
        let partner_key = keys.key_with_alg(PARTNER, kind, alg);
        let other_key = keys.key(OTHER, KeyKind::Rsa);
        let idp_key = keys.key("corp-idp", KeyKind::Ec256);
        let partner_keys = match source {
            KeySource::JwksFile => format!("jwks_file = {}", partner_key.jwks_toml()),
            KeySource::PublicKeyFile => {
                format!("public_key_files = [{}]", partner_key.public_toml())
            }
        };
        let mut config = base
            .client(&format!(
                r#"id = "{PARTNER}"
secret = "{PARTNER_SECRET}"
grant_types = ["{JWT_BEARER}", "refresh_token"]
scopes = ["read", "write"]
default_scopes = ["read"]
metadata = {{ department = "Partners" }}
{partner_keys}"#
            ))
            .client(&format!(
                r#"id = "{OTHER}"
secret = "{OTHER_SECRET}"
grant_types = ["{JWT_BEARER}"]
scopes = ["read"]
default_scopes = ["read"]
jwks_file = {}"#,
                other_key.jwks_toml()
            ))
            .build();
        let mut lines = vec![("clock_skew_secs", "60"), ("max_lifetime_secs", "300")];
        lines.extend_from_slice(assertions);
        config.push_str(&assertions_section(&lines));
        config.push_str(&issuer_block(
            "corp-idp",
            "jwt",
            CORP_IDP,
            &[PARTNER],
            &format!("public_key_files = [{}]", idp_key.public_toml()),
        ));
        Setup {
            keys,
            partner_key,
            other_key,
            idp_key,
            config,
        }
    }

    fn start(&self) -> Server {
        Server::start(&self.config)
    }

    /// A valid self-issued assertion of `PARTNER` for `sub`, signed with `alg`.
    fn partner_jwt(&self, alg: &str, sub: &str) -> JwtSpec {
        JwtSpec::signed(&self.partner_key, alg).claims(PARTNER, sub, ASSERTION_AUDIENCE)
    }

    /// A valid RS256 self-issued assertion of `PARTNER` for `alice`.
    fn alice(&self) -> JwtSpec {
        self.partner_jwt("RS256", "alice")
    }

    /// A valid assertion of the corporate issuer for `sub`.
    fn corp(&self, sub: &str) -> JwtSpec {
        JwtSpec::signed(&self.idp_key, "ES256").claims(CORP_IDP, sub, ASSERTION_AUDIENCE)
    }
}

/// The token request of the grant, authenticated as `client` or (None) not at all.
fn grant(
    server: &Server,
    client: Option<&Client>,
    assertion: &str,
    scope: Option<&str>,
) -> Response {
    let mut fields = vec![("grant_type", JWT_BEARER), ("assertion", assertion)];
    if let Some(s) = scope {
        fields.push(("scope", s));
    }
    match client {
        Some(c) => server.token(c, &fields),
        None => server.post_form(TOKEN_PATH, &form(&fields), None),
    }
}

/// Asserts that `PARTNER`'s assertion for `alice`, made with `alg`, is accepted and gives
/// alice a token of `PARTNER` with the default scope and the client's metadata.
fn assert_partner_assertion_accepted(kind: KeyKind, alg: &str, source: KeySource) {
    let setup = Setup::new(kind, alg, source);
    let server = setup.start();
    let jwt = setup.partner_jwt(alg, "alice").make();
    let issued = Issued::from_response(grant(&server, Some(&partner()), &jwt, None));
    assert_eq!(issued.scope, "read", "{}", issued.response.summary());
    let info = server.tokeninfo(&issued.access_token);
    assert_eq!(
        user_of(&info).as_deref(),
        Some("alice"),
        "{}",
        info.summary()
    );
    assert_eq!(info.json_str("audience"), PARTNER);
    assert_eq!(
        info.json_str("department"),
        "Partners",
        "{}",
        info.summary()
    );
}

// ---------------------------------------------------------------------------------------------
// Accepted assertions
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc7523_2_1_rs256_assertion_from_jwks_file_issues_a_token_for_sub() {
    assert_partner_assertion_accepted(KeyKind::Rsa, "RS256", KeySource::JwksFile);
}

#[test]
fn rfc7523_2_1_ps256_assertion_from_public_key_file_issues_a_token_for_sub() {
    assert_partner_assertion_accepted(KeyKind::Rsa, "PS256", KeySource::PublicKeyFile);
}

#[test]
fn rfc7523_2_1_es256_assertion_from_jwks_file_issues_a_token_for_sub() {
    assert_partner_assertion_accepted(KeyKind::Ec256, "ES256", KeySource::JwksFile);
}

#[test]
fn rfc7523_2_1_es384_assertion_from_public_key_file_issues_a_token_for_sub() {
    assert_partner_assertion_accepted(KeyKind::Ec384, "ES384", KeySource::PublicKeyFile);
}

#[test]
fn rfc7523_2_1_eddsa_assertion_from_jwks_file_issues_a_token_for_sub() {
    assert_partner_assertion_accepted(KeyKind::Ed25519, "EdDSA", KeySource::JwksFile);
}

#[test]
fn rfc7523_3_sub_equal_to_the_client_id_issues_a_client_token_without_refresh_token() {
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup.partner_jwt("RS256", PARTNER).make();
    let issued = Issued::from_response(grant(&server, Some(&partner()), &jwt, None));
    assert!(
        issued.refresh_token.is_none(),
        "a client token has no refresh token: {}",
        issued.response.summary()
    );
    let info = server.tokeninfo(&issued.access_token);
    assert_eq!(
        user_of(&info),
        None,
        "a client token has no user_id: {}",
        info.summary()
    );
    assert_eq!(info.json_str("audience"), PARTNER);
}

#[test]
fn rfc7523_3_audience_array_containing_the_token_endpoint_is_accepted() {
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup
        .alice()
        .aud("https://elsewhere.test/api")
        .aud("https://another.test")
        .make();
    Issued::from_response(grant(&server, Some(&partner()), &jwt, None));
}

#[test]
fn rfc7523_3_default_audience_is_the_issuers_token_endpoint() {
    // No `[assertions] audience`: the default is "{issuer}/api/oauth/token", the issuer
    // being http://127.0.0.1:PORT when no `[oidc] issuer` is set.
    let mut keys = KeyDir::new("jwt-default-aud");
    let key = keys.key(PARTNER, KeyKind::Rsa);
    let config = ConfigBuilder::standard()
        .client(&format!(
            r#"id = "{PARTNER}"
secret = "{PARTNER_SECRET}"
grant_types = ["{JWT_BEARER}"]
scopes = ["read"]
jwks_file = {}"#,
            key.jwks_toml()
        ))
        .build();
    let server = Server::start(&config);
    let token_url = format!("http://{}{TOKEN_PATH}", server.addr);
    let jwt = JwtSpec::signed(&key, "RS256")
        .claims(PARTNER, "alice", &token_url)
        .make();
    Issued::from_response(grant(&server, Some(&partner()), &jwt, None));

    let jwt = JwtSpec::signed(&key, "RS256")
        .claims(PARTNER, "alice", ASSERTION_AUDIENCE)
        .make();
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc7523_2_1_self_issued_assertion_without_client_credentials_authenticates_the_client() {
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup.alice().make();
    let issued = Issued::from_response(grant(&server, None, &jwt, None));
    let info = server.tokeninfo(&issued.access_token);
    assert_eq!(user_of(&info).as_deref(), Some("alice"));
    assert_eq!(info.json_str("audience"), PARTNER);
}

#[test]
fn rfc7523_3_external_issuer_listing_the_client_is_accepted() {
    let setup = Setup::rs256();
    let server = setup.start();
    // The user exists at the identity provider only: no [[users]] entry is needed.
    let jwt = setup.corp("jdoe@corp.test").make();
    let issued = Issued::from_response(grant(&server, Some(&partner()), &jwt, Some("read write")));
    assert_eq!(scope_set(&issued.scope), scope_set("read write"));
    let info = server.tokeninfo(&issued.access_token);
    assert_eq!(user_of(&info).as_deref(), Some("jdoe@corp.test"));
    assert_eq!(info.json_str("audience"), PARTNER);
}

#[test]
fn rfc7523_3_scope_within_the_clients_scopes_is_granted() {
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup.alice().make();
    let issued = Issued::from_response(grant(&server, Some(&partner()), &jwt, Some("write")));
    assert_eq!(issued.scope, "write");
}

#[test]
fn rfc6749_3_3_scope_outside_the_clients_scopes_is_invalid_scope() {
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup.alice().make();
    let r = grant(&server, Some(&partner()), &jwt, Some("read admin"));
    assert_assertion_error(&r, 400, "invalid_scope", &jwt);
}

#[test]
fn rfc6749_6_refresh_token_issued_when_the_client_has_the_refresh_grant() {
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup.alice().make();
    let issued = Issued::from_response(grant(&server, Some(&partner()), &jwt, None));
    let refreshed = server.issue_refresh(&partner(), issued.refresh_token(), None);
    let info = server.tokeninfo(&refreshed.access_token);
    assert_eq!(user_of(&info).as_deref(), Some("alice"));
    assert_eq!(info.json_str("audience"), PARTNER);

    // OTHER lacks the refresh_token grant: no refresh token.
    let jwt = JwtSpec::signed(&setup.other_key, "RS256")
        .claims(OTHER, "alice", ASSERTION_AUDIENCE)
        .make();
    let issued = Issued::from_response(grant(&server, Some(&other_partner()), &jwt, None));
    assert!(
        issued.refresh_token.is_none(),
        "{OTHER} has no refresh_token grant: {}",
        issued.response.summary()
    );
}

// ---------------------------------------------------------------------------------------------
// Who may present what
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc7523_3_issuer_not_listing_the_client_is_unauthorized_client() {
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup.corp("jdoe@corp.test").make();
    let r = grant(&server, Some(&other_partner()), &jwt, None);
    assert_assertion_error(&r, 400, "unauthorized_client", &jwt);
}

#[test]
fn rfc6749_5_2_client_without_the_grant_type_is_unauthorized_client() {
    // svc-a (standard config) has client_credentials, password and refresh_token only.
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup.corp("jdoe@corp.test").make();
    let r = grant(&server, Some(&confidential_client()), &jwt, None);
    assert_assertion_error(&r, 400, "unauthorized_client", &jwt);
}

#[test]
fn rfc7523_3_unknown_issuer_is_invalid_grant() {
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = JwtSpec::signed(&setup.idp_key, "ES256")
        .claims("https://unknown-idp.test", "jdoe", ASSERTION_AUDIENCE)
        .make();
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc7523_3_assertion_issued_by_another_client_is_refused() {
    // PARTNER authenticates but presents OTHER's (validly signed) assertion.
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = JwtSpec::signed(&setup.other_key, "RS256")
        .claims(OTHER, "alice", ASSERTION_AUDIENCE)
        .make();
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error_among(
        &r,
        &[(400, "invalid_grant"), (400, "unauthorized_client")],
        &jwt,
    );
}

#[test]
fn rfc6749_5_2_wrong_client_secret_with_a_valid_assertion_is_invalid_client() {
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup.alice().make();
    let r = grant(
        &server,
        Some(&partner().with_secret("not-the-secret-0123456789")),
        &jwt,
        None,
    );
    assert_assertion_error(&r, 401, "invalid_client", &jwt);
}

// ---------------------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc7523_3_tampered_payload_is_invalid_grant() {
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup.alice().tamper().make();
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc7523_3_signature_by_another_key_with_the_clients_kid_is_invalid_grant() {
    let mut setup = Setup::rs256();
    let impostor = setup.keys.key("impostor", KeyKind::Rsa);
    let server = setup.start();
    let jwt = JwtSpec::signed(&impostor, "RS256")
        .kid(PARTNER)
        .claims(PARTNER, "alice", ASSERTION_AUDIENCE)
        .make();
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc7518_3_6_alg_none_is_invalid_grant() {
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = JwtSpec::alg_none()
        .kid(PARTNER)
        .claims(PARTNER, "alice", ASSERTION_AUDIENCE)
        .make();
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
    // Nor does it authenticate a client that sent no credentials.
    let jwt = JwtSpec::alg_none()
        .claims(PARTNER, "alice", ASSERTION_AUDIENCE)
        .make();
    let r = grant(&server, None, &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc8725_2_1_hs256_keyed_with_the_public_key_is_invalid_grant() {
    // The key is registered as a PEM file, whose exact bytes the forgery is keyed with.
    let setup = Setup::new(KeyKind::Rsa, "RS256", KeySource::PublicKeyFile);
    let server = setup.start();
    let jwt = JwtSpec::hs256_with_public_key(&setup.partner_key)
        .claims(PARTNER, "alice", ASSERTION_AUDIENCE)
        .make();
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc7517_4_4_jwk_alg_binds_the_key_so_ps256_with_an_rs256_jwk_is_invalid_grant() {
    // An RSA key whose JWK says RS256, used for PS256: the JWK's alg binds the key.
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup.partner_jwt("PS256", "alice").make();
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

// ---------------------------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc7523_3_expired_assertion_is_invalid_grant() {
    // Past the 60 s skew.
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup.alice().iat_in(-240).exp_in(-120).make();
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc7523_3_assertion_without_exp_is_invalid_grant() {
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup.alice().no_exp().make();
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc7523_3_assertion_not_yet_valid_is_invalid_grant() {
    // nbf beyond the 60 s skew; the lifetime (240 s) is within max_lifetime_secs.
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup.alice().nbf_in(120).exp_in(240).make();
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc7523_3_assertion_issued_in_the_future_is_invalid_grant() {
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup.alice().iat_in(180).exp_in(240).make();
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc7523_3_lifetime_longer_than_max_lifetime_secs_is_invalid_grant() {
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup.alice().exp_in(3600).make();
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
    // Without iat the lifetime counts from now.
    let jwt = setup.alice().no_iat().exp_in(3600).make();
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc7523_3_wrong_audience_is_invalid_grant() {
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = JwtSpec::signed(&setup.partner_key, "RS256")
        .claims(PARTNER, "alice", "https://other-as.test/api/oauth/token")
        .make();
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc7523_3_assertion_without_jti_is_invalid_grant() {
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup.alice().no_jti().make();
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc7523_3_replayed_assertion_is_invalid_grant() {
    let setup = Setup::rs256();
    let server = setup.start();
    let jwt = setup.alice().make();
    Issued::from_response(grant(&server, Some(&partner()), &jwt, None));
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
    // Also when the replay comes without client credentials.
    let r = grant(&server, None, &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc7523_3_reused_jti_in_a_new_assertion_is_invalid_grant() {
    // A fresh signature does not make a used jti new again.
    let setup = Setup::rs256();
    let server = setup.start();
    let first = setup.alice().jti("jti-used-once-7523").make();
    Issued::from_response(grant(&server, Some(&partner()), &first, None));
    let second = setup.alice().jti("jti-used-once-7523").exp_in(100).make();
    assert_ne!(first, second);
    let r = grant(&server, Some(&partner()), &second, None);
    assert_assertion_error(&r, 400, "invalid_grant", &second);
}

// ---------------------------------------------------------------------------------------------
// jwks_uri
// ---------------------------------------------------------------------------------------------

/// A server whose `PARTNER` has only a `jwks_uri` pointing at `jwks`.
fn jwks_uri_server(jwks: &JwksServer) -> Server {
    let config = ConfigBuilder::standard()
        .client(&format!(
            r#"id = "{PARTNER}"
secret = "{PARTNER_SECRET}"
grant_types = ["{JWT_BEARER}"]
scopes = ["read"]
jwks_uri = {}"#,
            toml_str(&jwks.url())
        ))
        .build()
        + &assertions_section(&[("jwks_refresh_secs", "300")]);
    Server::start(&config)
}

/// Sends a fresh assertion signed by `key` until one is accepted, within `JWKS_LIMIT`.
fn eventually_accepted(server: &Server, key: &KeyPair, what: &str) -> Issued {
    let t0 = Instant::now();
    loop {
        let jwt = JwtSpec::signed(key, "RS256")
            .claims(PARTNER, "alice", ASSERTION_AUDIENCE)
            .make();
        let r = grant(server, Some(&partner()), &jwt, None);
        if r.status == 200 {
            eprintln!("{what}: accepted after {} ms", t0.elapsed().as_millis());
            return Issued::from_response(r);
        }
        assert_assertion_error(&r, 400, "invalid_grant", &jwt);
        assert!(
            t0.elapsed() < JWKS_LIMIT,
            "{what}: not accepted within {JWKS_LIMIT:?}; last: {}",
            r.summary()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn rfc7517_jwks_uri_keys_are_fetched_and_verify_assertions() {
    let mut keys = KeyDir::new("jwt-jwks-uri");
    let key = keys.key("remote-1", KeyKind::Rsa);
    let jwks = JwksServer::start(&key.jwks_json());
    let server = jwks_uri_server(&jwks);
    let issued = eventually_accepted(&server, &key, "key from jwks_uri");
    let info = server.tokeninfo(&issued.access_token);
    assert_eq!(user_of(&info).as_deref(), Some("alice"));
    assert!(jwks.hits() >= 1, "the JWKS was never fetched");

    // A key the JWKS does not hold is still refused.
    let stranger = keys.key("stranger", KeyKind::Rsa);
    let jwt = JwtSpec::signed(&stranger, "RS256")
        .kid("remote-1")
        .claims(PARTNER, "alice", ASSERTION_AUDIENCE)
        .make();
    let r = grant(&server, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc7517_jwks_uri_key_rotation_is_picked_up_on_an_unknown_kid() {
    // jwks_refresh_secs = 300: only the unknown kid can explain a refetch within the test.
    let mut keys = KeyDir::new("jwt-jwks-rotate");
    let old = keys.key("remote-old", KeyKind::Rsa);
    let jwks = JwksServer::start(&old.jwks_json());
    let server = jwks_uri_server(&jwks);
    eventually_accepted(&server, &old, "key before the rotation");

    let new = keys.key("remote-new", KeyKind::Rsa);
    let hits_before = jwks.hits();
    jwks.serve(&merge_jwks(&[&new]));
    eventually_accepted(&server, &new, "key after the rotation");
    assert!(
        jwks.hits() > hits_before,
        "the rotated key was accepted without a new fetch of the JWKS"
    );
}

// ---------------------------------------------------------------------------------------------
// Two nodes (Cassandra)
// ---------------------------------------------------------------------------------------------

/// `Setup` on the shared Cassandra keyspace `keyspace` (async durability).
fn cluster_setup(keyspace: &str) -> Setup {
    Setup::on(
        cluster_config(keyspace, "async"),
        KeyKind::Rsa,
        "RS256",
        KeySource::JwksFile,
        &[],
    )
}

#[test]
fn rfc7523_3_assertion_replayed_on_the_other_node_is_invalid_grant() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("jwtreplay");
    let setup = cluster_setup(&ks.name);
    let (node1, node2) = two_nodes(&setup.config);

    let jwt = setup.alice().make();
    Issued::from_response(grant(&node1, Some(&partner()), &jwt, None));
    let r = grant(&node2, Some(&partner()), &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);

    // And the other way round, without client credentials (self-issued).
    let jwt = setup.alice().make();
    Issued::from_response(grant(&node2, None, &jwt, None));
    let r = grant(&node1, None, &jwt, None);
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc7523_3_one_assertion_raced_to_two_nodes_is_accepted_exactly_once() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("jwtrace");
    let setup = cluster_setup(&ks.name);
    let (node1, node2) = two_nodes(&setup.config);
    let auth = basic_auth(PARTNER, PARTNER_SECRET);

    for round in 0..3 {
        let jwt = setup.alice().make();
        let body = form(&[("grant_type", JWT_BEARER), ("assertion", &jwt)]);
        let request = raw_form_post(TOKEN_PATH, &body, &[("Authorization", &auth)]);
        let answers = race(&[node1.addr, node2.addr], &request);
        let accepted = answers.iter().filter(|r| r.status == 200).count();
        assert_eq!(
            accepted,
            1,
            "round {round}: exactly one node may accept the assertion: {} / {}",
            answers[0].summary(),
            answers[1].summary()
        );
        for r in answers.iter().filter(|r| r.status != 200) {
            assert_assertion_error(r, 400, "invalid_grant", &jwt);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The harness's own checks (they pass without the server side of the grant)
// ---------------------------------------------------------------------------------------------

/// The decoded header and claims of a compact JWS.
fn decode_jws(jws: &str) -> (serde_json::Value, serde_json::Value) {
    use ::base64::Engine as _;
    let b64 = ::base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = jws.split('.').collect();
    let json = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&b64.decode(p).expect("base64url part")).expect("JSON part")
    };
    (json(parts[0]), json(parts[1]))
}

#[test]
fn assertion_tool_makes_each_algorithm_with_the_requested_claims() {
    let mut keys = KeyDir::new("tool-check");
    for (kind, alg) in [
        (KeyKind::Rsa, "RS256"),
        (KeyKind::Rsa, "PS256"),
        (KeyKind::Ec256, "ES256"),
        (KeyKind::Ec384, "ES384"),
        (KeyKind::Ed25519, "EdDSA"),
    ] {
        let key = keys.key_with_alg(&format!("k-{alg}"), kind, alg);
        let jwks: serde_json::Value = serde_json::from_str(&key.jwks_json()).expect("JWKS");
        assert_eq!(jwks["keys"][0]["kid"], key.name.as_str());
        assert_eq!(jwks["keys"][0]["alg"], alg);
        let jwt = JwtSpec::signed(&key, alg)
            .claims("iss-x", "sub-y", "aud-1")
            .aud("aud-2")
            .exp_in(90)
            .nbf_in(-5)
            .make();
        let (header, claims) = decode_jws(&jwt);
        assert_eq!(header["alg"], alg);
        assert_eq!(header["kid"], key.name.as_str());
        assert_eq!(claims["iss"], "iss-x");
        assert_eq!(claims["sub"], "sub-y");
        assert_eq!(claims["aud"], serde_json::json!(["aud-1", "aud-2"]));
        let now = now_secs();
        let exp = claims["exp"].as_i64().expect("exp");
        assert!(
            (now + 80..=now + 100).contains(&exp),
            "exp {exp}, now {now}"
        );
        assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    }
    let rsa = keys.key("k-RS256", KeyKind::Rsa);
    let (header, _) = decode_jws(&JwtSpec::alg_none().claims("i", "s", "a").make());
    assert_eq!(header["alg"], "none");
    let forged = JwtSpec::hs256_with_public_key(&rsa)
        .claims("i", "s", "a")
        .make();
    assert_eq!(decode_jws(&forged).0["alg"], "HS256");
    let tampered = JwtSpec::signed(&rsa, "RS256")
        .claims("i", "alice", "a")
        .tamper()
        .make();
    assert_eq!(decode_jws(&tampered).1["sub"], "admin");
    let bare = JwtSpec::hs256("s3cret-s3cret-s3cret-s3cret-32b")
        .claims("i", "s", "a")
        .no_jti()
        .no_exp()
        .make();
    let (_, claims) = decode_jws(&bare);
    assert!(
        claims.get("jti").is_none() && claims.get("exp").is_none(),
        "{claims}"
    );
}

#[test]
fn assertion_tool_signs_saml_with_exclusive_c14n_and_rsa_sha256() {
    let mut keys = KeyDir::new("tool-saml-check");
    let key = keys.key("idp", KeyKind::Rsa);
    let spec = SamlSpec::signed(&key, "https://idp.test", "alice", ASSERTION_AUDIENCE);
    let xml = spec.xml();
    for needle in [
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        ">alice</saml:NameID>",
        ASSERTION_AUDIENCE,
    ] {
        assert!(xml.contains(needle), "{needle} not in {xml}");
    }
    assert!(spec.clone().sha1().xml().contains("xmldsig#rsa-sha1"));
    for n in 1..=8 {
        let xml = spec.clone().attack(&format!("xsw{n}")).xml();
        assert!(xml.contains(">admin</saml:NameID>"), "xsw{n}: {xml}");
        assert!(xml.contains(">alice</saml:NameID>"), "xsw{n}: {xml}");
    }
    let comment = SamlSpec::signed(&key, "https://idp.test", "admin@evil.example", "a")
        .attack("comment-in-nameid")
        .xml();
    assert!(
        comment.contains(">admin<!---->@evil.example</saml:NameID>"),
        "{comment}"
    );
    assert!(spec.clone().attack("dtd").xml().starts_with("<!DOCTYPE"));
}

#[test]
fn jwks_server_serves_the_current_document_and_404_elsewhere() {
    let jwks = JwksServer::start(r#"{"keys":[]}"#);
    let addr: std::net::SocketAddr = jwks
        .url()
        .trim_start_matches("http://")
        .trim_end_matches(JWKS_PATH)
        .parse()
        .expect("JWKS server address");
    let get = |path: &str| Conn::connect(addr).roundtrip(&raw_request("GET", path, &[], b""));
    let r = get(JWKS_PATH);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.text(), r#"{"keys":[]}"#);
    jwks.serve(r#"{"keys":[{"kid":"k2"}]}"#);
    assert_eq!(get(JWKS_PATH).text(), r#"{"keys":[{"kid":"k2"}]}"#);
    assert_eq!(get("/other").status, 404);
    assert_eq!(jwks.hits(), 2);
}
