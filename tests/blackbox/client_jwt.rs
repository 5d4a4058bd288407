//! JWT client authentication (RFC 7523 §2.2, §3; OpenID Connect Core §9):
//! `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` with a
//! `client_assertion` signed by the client's key (`auth_method = "private_key_jwt"`) or with
//! HS256 under its clear secret (`"client_secret_jwt"`), at the token, revoke and introspect
//! endpoints. The JWTs are made by PyJWT (`tests/tools/assertion.py`).
//!
//! Each refusal is checked for its status, its `error` code and that the answer does not
//! echo the assertion.

use crate::cluster::{cluster_config, shared_cassandra, two_nodes, Keyspace};
use crate::harness::assertions::*;
use crate::harness::*;

/// `auth_method = "private_key_jwt"`, an ES256 key in `jwks_file`, no secret.
const PK_CLIENT: &str = "pkjwt-client";
/// `auth_method = "client_secret_jwt"` with this clear secret.
const CS_CLIENT: &str = "csjwt-client";
const CS_SECRET: &str = "csjwt-shared-secret-0123456789abcdef";

struct Setup {
    keys: KeyDir,
    key: KeyPair,
    config: String,
}

impl Setup {
    fn new() -> Setup {
        Setup::on(ConfigBuilder::standard())
    }

    fn on(base: ConfigBuilder) -> Setup {
        let mut keys = KeyDir::new("client-jwt");
        let key = keys.key(PK_CLIENT, KeyKind::Ec256);
        let config = base
            .client(&format!(
                r#"id = "{PK_CLIENT}"
auth_method = "private_key_jwt"
grant_types = ["client_credentials"]
scopes = ["read", "write"]
default_scopes = ["read"]
jwks_file = {}"#,
                key.jwks_toml()
            ))
            .client(&format!(
                r#"id = "{CS_CLIENT}"
secret = "{CS_SECRET}"
auth_method = "client_secret_jwt"
grant_types = ["client_credentials"]
scopes = ["read"]
default_scopes = ["read"]"#
            ))
            .build()
            + &assertions_section(&[("clock_skew_secs", "60"), ("max_lifetime_secs", "300")]);
        Setup { keys, key, config }
    }

    fn start(&self) -> Server {
        Server::start(&self.config)
    }

    /// A valid `PK_CLIENT` assertion for `aud`.
    fn pk(&self, aud: &str) -> JwtSpec {
        JwtSpec::signed(&self.key, "ES256").claims(PK_CLIENT, PK_CLIENT, aud)
    }
}

/// A valid `CS_CLIENT` assertion for `aud`.
fn cs(aud: &str) -> JwtSpec {
    JwtSpec::hs256(CS_SECRET).claims(CS_CLIENT, CS_CLIENT, aud)
}

/// `grant_type=client_credentials` authenticated by `jwt` alone, plus `extra` fields.
fn cc_with(server: &Server, jwt: &str, extra: &[(&str, &str)]) -> Response {
    let mut fields = vec![("grant_type", "client_credentials")];
    fields.extend(client_assertion_fields(jwt));
    fields.extend_from_slice(extra);
    server.post_form(TOKEN_PATH, &form(&fields), None)
}

/// A POST to `path` with `fields`, authenticated by `jwt` alone.
fn post_with(server: &Server, path: &str, jwt: &str, fields: &[(&str, &str)]) -> Response {
    let mut all = fields.to_vec();
    all.extend(client_assertion_fields(jwt));
    server.post_form(path, &form(&all), None)
}

/// The server's issuer identifier (no `[oidc] issuer`: http + the listen address).
fn issuer_of(server: &Server) -> String {
    format!("http://{}", server.addr)
}

// ---------------------------------------------------------------------------------------------
// Accepted
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc7523_2_2_private_key_jwt_authenticates_at_the_token_endpoint() {
    let setup = Setup::new();
    let server = setup.start();
    let jwt = setup.pk(ASSERTION_AUDIENCE).make();
    let issued = Issued::from_response(cc_with(&server, &jwt, &[]));
    assert_eq!(issued.scope, "read");
    let info = server.tokeninfo(&issued.access_token);
    assert_eq!(info.status, 200, "{}", info.summary());
    assert_eq!(info.json_str("audience"), PK_CLIENT);
}

#[test]
fn rfc7523_3_client_assertion_audience_may_be_the_issuer() {
    let setup = Setup::new();
    let server = setup.start();
    let jwt = setup.pk(&issuer_of(&server)).make();
    Issued::from_response(cc_with(&server, &jwt, &[]));
}

#[test]
fn rfc7523_2_2_client_id_equal_to_iss_is_accepted() {
    let setup = Setup::new();
    let server = setup.start();
    let jwt = setup.pk(ASSERTION_AUDIENCE).make();
    Issued::from_response(cc_with(&server, &jwt, &[("client_id", PK_CLIENT)]));
}

#[test]
fn rfc7523_2_2_private_key_jwt_authenticates_at_the_introspection_endpoint() {
    let setup = Setup::new();
    let server = setup.start();
    let token = server.issue_cc(&confidential_client(), None).access_token;
    let url = format!("{}{INTROSPECT_PATH}", issuer_of(&server));
    let jwt = setup.pk(&url).make();
    let r = post_with(&server, INTROSPECT_PATH, &jwt, &[("token", &token)]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        r.json().get("active"),
        Some(&serde_json::Value::Bool(true)),
        "{}",
        r.summary()
    );
    assert_eq!(r.json_str("client_id"), "svc-a");

    // The token endpoint's audience is accepted there too.
    let jwt = setup.pk(ASSERTION_AUDIENCE).make();
    let r = post_with(&server, INTROSPECT_PATH, &jwt, &[("token", &token)]);
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn rfc7523_2_2_private_key_jwt_authenticates_at_the_revocation_endpoint() {
    let setup = Setup::new();
    let server = setup.start();
    let jwt = setup.pk(ASSERTION_AUDIENCE).make();
    let issued = Issued::from_response(cc_with(&server, &jwt, &[]));

    let url = format!("{}{REVOKE_PATH}", issuer_of(&server));
    let jwt = setup.pk(&url).make();
    let r = post_with(
        &server,
        REVOKE_PATH,
        &jwt,
        &[("token", &issued.access_token)],
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    let info = server.tokeninfo(&issued.access_token);
    assert_token_error(&info, 400, "invalid_token");
}

#[test]
fn rfc7523_2_2_client_secret_jwt_hs256_authenticates_at_the_token_endpoint() {
    let setup = Setup::new();
    let server = setup.start();
    let jwt = cs(ASSERTION_AUDIENCE).make();
    let issued = Issued::from_response(cc_with(&server, &jwt, &[]));
    let info = server.tokeninfo(&issued.access_token);
    assert_eq!(info.json_str("audience"), CS_CLIENT);
}

// ---------------------------------------------------------------------------------------------
// Refused
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc7523_3_client_assertion_replayed_is_invalid_client() {
    let setup = Setup::new();
    let server = setup.start();
    let jwt = setup.pk(ASSERTION_AUDIENCE).make();
    Issued::from_response(cc_with(&server, &jwt, &[]));
    let r = cc_with(&server, &jwt, &[]);
    assert_assertion_error(&r, 401, "invalid_client", &jwt);
}

#[test]
fn rfc7523_3_client_assertion_replayed_at_another_endpoint_is_invalid_client() {
    // Single use across endpoints: an assertion spent at introspect cannot then revoke.
    let setup = Setup::new();
    let server = setup.start();
    let token = server.issue_cc(&confidential_client(), None).access_token;
    let jwt = setup.pk(ASSERTION_AUDIENCE).make();
    let r = post_with(&server, INTROSPECT_PATH, &jwt, &[("token", &token)]);
    assert_eq!(r.status, 200, "{}", r.summary());
    let r = cc_with(&server, &jwt, &[]);
    assert_assertion_error(&r, 401, "invalid_client", &jwt);
}

#[test]
fn rfc7523_3_client_assertion_for_another_audience_is_invalid_client() {
    let setup = Setup::new();
    let server = setup.start();
    let jwt = setup.pk("https://other-as.test/api/oauth/token").make();
    let r = cc_with(&server, &jwt, &[]);
    assert_assertion_error(&r, 401, "invalid_client", &jwt);
}

#[test]
fn rfc7523_2_2_client_id_different_from_iss_is_refused() {
    let setup = Setup::new();
    let server = setup.start();
    let jwt = setup.pk(ASSERTION_AUDIENCE).make();
    let r = cc_with(&server, &jwt, &[("client_id", CS_CLIENT)]);
    assert_assertion_error_among(
        &r,
        &[(400, "invalid_request"), (401, "invalid_client")],
        &jwt,
    );
}

#[test]
fn rfc7523_3_client_assertion_with_sub_other_than_iss_is_invalid_client() {
    let setup = Setup::new();
    let server = setup.start();
    let jwt = JwtSpec::signed(&setup.key, "ES256")
        .claims(PK_CLIENT, "alice", ASSERTION_AUDIENCE)
        .make();
    let r = cc_with(&server, &jwt, &[]);
    assert_assertion_error(&r, 401, "invalid_client", &jwt);
}

#[test]
fn rfc7523_3_expired_client_assertion_is_invalid_client() {
    let setup = Setup::new();
    let server = setup.start();
    let jwt = setup
        .pk(ASSERTION_AUDIENCE)
        .iat_in(-240)
        .exp_in(-120)
        .make();
    let r = cc_with(&server, &jwt, &[]);
    assert_assertion_error(&r, 401, "invalid_client", &jwt);
}

#[test]
fn rfc7523_3_client_assertion_without_jti_is_invalid_client() {
    let setup = Setup::new();
    let server = setup.start();
    let jwt = setup.pk(ASSERTION_AUDIENCE).no_jti().make();
    let r = cc_with(&server, &jwt, &[]);
    assert_assertion_error(&r, 401, "invalid_client", &jwt);
}

#[test]
fn rfc7523_3_client_assertion_living_too_long_is_invalid_client() {
    let setup = Setup::new();
    let server = setup.start();
    let jwt = setup.pk(ASSERTION_AUDIENCE).exp_in(3600).make();
    let r = cc_with(&server, &jwt, &[]);
    assert_assertion_error(&r, 401, "invalid_client", &jwt);
}

#[test]
fn rfc7523_3_client_assertion_signed_by_another_key_is_invalid_client() {
    let mut setup = Setup::new();
    let impostor = setup.keys.key("impostor", KeyKind::Ec256);
    let server = setup.start();
    let jwt = JwtSpec::signed(&impostor, "ES256")
        .kid(PK_CLIENT)
        .claims(PK_CLIENT, PK_CLIENT, ASSERTION_AUDIENCE)
        .make();
    let r = cc_with(&server, &jwt, &[]);
    assert_assertion_error(&r, 401, "invalid_client", &jwt);
}

#[test]
fn rfc7523_3_tampered_client_assertion_is_invalid_client() {
    let setup = Setup::new();
    let server = setup.start();
    let jwt = setup.pk(ASSERTION_AUDIENCE).tamper().make();
    let r = cc_with(&server, &jwt, &[]);
    assert_assertion_error(&r, 401, "invalid_client", &jwt);
}

#[test]
fn rfc7518_3_6_alg_none_client_assertion_is_invalid_client() {
    let setup = Setup::new();
    let server = setup.start();
    let jwt = JwtSpec::alg_none()
        .claims(PK_CLIENT, PK_CLIENT, ASSERTION_AUDIENCE)
        .make();
    let r = cc_with(&server, &jwt, &[]);
    assert_assertion_error(&r, 401, "invalid_client", &jwt);
}

#[test]
fn rfc8725_2_1_hs256_keyed_with_the_public_key_is_invalid_client() {
    let setup = Setup::new();
    let server = setup.start();
    let jwt = JwtSpec::hs256_with_public_key(&setup.key)
        .claims(PK_CLIENT, PK_CLIENT, ASSERTION_AUDIENCE)
        .make();
    let r = cc_with(&server, &jwt, &[]);
    assert_assertion_error(&r, 401, "invalid_client", &jwt);
}

#[test]
fn rfc7523_2_2_client_secret_jwt_with_the_wrong_secret_is_invalid_client() {
    let setup = Setup::new();
    let server = setup.start();
    let jwt = JwtSpec::hs256("not-the-shared-secret-0123456789ab")
        .claims(CS_CLIENT, CS_CLIENT, ASSERTION_AUDIENCE)
        .make();
    let r = cc_with(&server, &jwt, &[]);
    assert_assertion_error(&r, 401, "invalid_client", &jwt);
}

#[test]
fn rfc7523_2_2_client_secret_jwt_client_cannot_sign_with_a_private_key() {
    // HS256 only: a csjwt client's assertion signed with some key pair is refused even
    // though the key is valid for another client.
    let setup = Setup::new();
    let server = setup.start();
    let jwt = JwtSpec::signed(&setup.key, "ES256")
        .claims(CS_CLIENT, CS_CLIENT, ASSERTION_AUDIENCE)
        .make();
    let r = cc_with(&server, &jwt, &[]);
    assert_assertion_error(&r, 401, "invalid_client", &jwt);
}

#[test]
fn rfc7523_2_2_private_key_jwt_client_cannot_use_client_secret_basic() {
    // It has no secret; whatever secret it presents, Basic fails.
    let setup = Setup::new();
    let server = setup.start();
    let r = server.post_form(
        TOKEN_PATH,
        "grant_type=client_credentials",
        Some((PK_CLIENT, "guessed-secret-0123456789")),
    );
    assert_invalid_client_basic(&r, "tessera");
}

#[test]
fn rfc7523_2_2_unknown_client_assertion_type_is_refused() {
    let setup = Setup::new();
    let server = setup.start();
    let jwt = setup.pk(ASSERTION_AUDIENCE).make();
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_assertion_type", "urn:example:not-a-known-type"),
        ("client_assertion", &jwt),
    ]);
    let r = server.post_form(TOKEN_PATH, &body, None);
    assert_assertion_error_among(
        &r,
        &[(400, "invalid_request"), (401, "invalid_client")],
        &jwt,
    );
}

#[test]
fn rfc7523_3_client_assertion_replayed_on_the_other_node_is_invalid_client() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("cjwtreplay");
    let setup = Setup::on(cluster_config(&ks.name, "async"));
    let (node1, node2) = two_nodes(&setup.config);
    let jwt = setup.pk(ASSERTION_AUDIENCE).make();
    Issued::from_response(cc_with(&node1, &jwt, &[]));
    let r = cc_with(&node2, &jwt, &[]);
    assert_assertion_error(&r, 401, "invalid_client", &jwt);
}

// ---------------------------------------------------------------------------------------------
// check-config
// ---------------------------------------------------------------------------------------------

#[test]
fn check_config_refuses_client_secret_jwt_with_only_a_secret_hash_and_names_the_key() {
    let out = run_cli(&["hash-secret"], Some(CS_SECRET.as_bytes()));
    assert!(out.status.success(), "hash-secret: {out:?}");
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dir = TempDir::new("csjwt-hash");
    let client = |secret_line: &str| {
        ConfigBuilder::empty()
            .server("listen", "\"127.0.0.1:0\"")
            .store("kind", "\"memory\"")
            .client(&format!(
                r#"id = "{CS_CLIENT}"
{secret_line}
auth_method = "client_secret_jwt"
grant_types = ["client_credentials"]
scopes = ["read"]"#
            ))
            .build()
    };

    let bad = dir.write(
        "hashed.toml",
        &client(&format!("secret_hash = {}", toml_str(&hash))),
    );
    let out = run_cli(
        &["check-config", "--config", bad.to_str().expect("utf-8")],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "check-config accepted client_secret_jwt with a hash"
    );
    assert!(
        stderr.contains("clients[0]")
            && (stderr.contains("secret_hash") || stderr.contains("auth_method")),
        "the message should name clients[0].secret_hash or .auth_method: {stderr}"
    );

    // The same client with its secret in clear is fine.
    let good = dir.write(
        "clear.toml",
        &client(&format!("secret = {}", toml_str(CS_SECRET))),
    );
    let out = run_cli(
        &["check-config", "--config", good.to_str().expect("utf-8")],
        None,
    );
    assert!(
        out.status.success(),
        "check-config refused client_secret_jwt with a clear secret: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_accepts_private_key_jwt_and_client_secret_jwt_clients() {
    let setup = Setup::new();
    let dir = TempDir::new("client-jwt-check");
    let path = dir.write("ok.toml", &setup.config);
    let out = run_cli(
        &["check-config", "--config", path.to_str().expect("utf-8")],
        None,
    );
    assert!(
        out.status.success(),
        "check-config refused the JWT client config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
