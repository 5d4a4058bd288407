//! The failure modes of the assertion grants (RFC 7523 §2.1, RFC 7522 §2.1) and of JWT
//! client authentication (RFC 7523 §2.2) that an attacker or an unlucky operator runs into:
//!
//! - a used `jti` / SAML `ID` stays used after `kill -9` right after the answer (RocksDB,
//!   `durability = "async"` with a flush interval far longer than the test: only the
//!   durable write of the used marker before the answer can keep it);
//! - while the shared store (Cassandra) is unreachable, fresh assertions get 503
//!   `temporarily_unavailable`, never `invalid_grant`, and are not used up by it;
//! - many requests racing one assertion on one node: exactly one wins;
//! - `jti` is unique per issuer (RFC 7519 §4.1.7): the same `jti` from two issuers is two
//!   values;
//! - a refused request (bad scope) does not use the assertion up;
//! - assertions at and beyond `server.max_body_bytes`, and deeply nested JSON / XML, get a
//!   clean refusal and leave the server serving.
//!
//! Each refusal is checked for its status, its `error` code and that the answer does not
//! echo the assertion. The outage test stops the shared Cassandra under the exclusive lock
//! of `cluster.rs` (see there), like the other outage tests.

use std::path::Path;
use std::time::{Duration, Instant};

use ::base64::Engine as _;

use crate::cluster::{
    assert_cannot_tell, exclusive_cassandra, outage_config, race, stop_cassandra, two_nodes,
    Keyspace,
};
use crate::harness::assertions::*;
use crate::harness::*;

/// A partner that authenticates with a Basic secret and signs its own JWT bearer
/// assertions (RSA key in `jwks_file`).
const PARTNER: &str = "partner-x";
const PARTNER_SECRET: &str = "partner-x-secret-0123456789";
/// A second partner with keys of its own (RSA) and the JWT bearer grant.
const OTHER: &str = "partner-y";
const OTHER_SECRET: &str = "partner-y-secret-0123456789";
/// `auth_method = "private_key_jwt"` (P-256 key), client_credentials only.
const PK_CLIENT: &str = "pkjwt-client";
/// The client allowed to present `SAML_IDP`'s assertions.
const SAML_CLIENT: &str = "saml-client";
const SAML_SECRET: &str = "saml-client-secret-0123456789";
/// An external JWT issuer (P-256) that lists `PARTNER`.
const CORP_IDP: &str = "https://idp.corp.test";
/// The trusted SAML issuer (RSA certificate).
const SAML_IDP: &str = "https://idp.saml.test";

/// `[assertions] max_lifetime_secs` here: long enough for assertions made before a
/// Cassandra outage to outlive the restart of Cassandra.
const MAX_LIFETIME_SECS: i64 = 3600;
/// The lifetime of the assertions of the outage test.
const OUTAGE_ASSERTION_SECS: i64 = 1800;
/// How long Cassandra may take to come back and the nodes to reconnect.
const RECOVERY_LIMIT: Duration = Duration::from_secs(120);

fn partner() -> Client {
    Client::new(PARTNER, Some(PARTNER_SECRET), AuthMethod::Basic)
}

fn other_partner() -> Client {
    Client::new(OTHER, Some(OTHER_SECRET), AuthMethod::Basic)
}

fn saml_client() -> Client {
    Client::new(SAML_CLIENT, Some(SAML_SECRET), AuthMethod::Basic)
}

/// The keys and config of one test.
struct Setup {
    _keys: KeyDir,
    partner_key: KeyPair,
    other_key: KeyPair,
    pk_key: KeyPair,
    idp_key: KeyPair,
    saml_key: KeyPair,
    config: String,
}

impl Setup {
    /// `base` plus the assertion clients and issuers.
    fn on(base: ConfigBuilder) -> Setup {
        let mut keys = KeyDir::new("assertion-failures");
        let partner_key = keys.key(PARTNER, KeyKind::Rsa);
        let other_key = keys.key(OTHER, KeyKind::Rsa);
        let pk_key = keys.key(PK_CLIENT, KeyKind::Ec256);
        let idp_key = keys.key("corp-idp", KeyKind::Ec256);
        let saml_key = keys.key("corp-saml", KeyKind::Rsa);
        let mut config = base
            .client(&format!(
                r#"id = "{PARTNER}"
secret = "{PARTNER_SECRET}"
grant_types = ["{JWT_BEARER}", "refresh_token"]
scopes = ["read", "write"]
default_scopes = ["read"]
jwks_file = {}"#,
                partner_key.jwks_toml()
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
            .client(&format!(
                r#"id = "{PK_CLIENT}"
auth_method = "private_key_jwt"
grant_types = ["client_credentials"]
scopes = ["read", "write"]
default_scopes = ["read"]
jwks_file = {}"#,
                pk_key.jwks_toml()
            ))
            .client(&format!(
                r#"id = "{SAML_CLIENT}"
secret = "{SAML_SECRET}"
grant_types = ["{SAML2_BEARER}"]
scopes = ["read", "write"]
default_scopes = ["read"]"#
            ))
            .build();
        config.push_str(&assertions_section(&[
            ("clock_skew_secs", "60"),
            ("max_lifetime_secs", &MAX_LIFETIME_SECS.to_string()),
        ]));
        config.push_str(&issuer_block(
            "corp-idp",
            "jwt",
            CORP_IDP,
            &[PARTNER],
            &format!("public_key_files = [{}]", idp_key.public_toml()),
        ));
        config.push_str(&issuer_block(
            "corp-saml",
            "saml",
            SAML_IDP,
            &[SAML_CLIENT],
            &format!("certificate_files = [{}]", saml_key.cert_toml()),
        ));
        Setup {
            _keys: keys,
            partner_key,
            other_key,
            pk_key,
            idp_key,
            saml_key,
            config,
        }
    }

    /// `PARTNER`'s self-issued RS256 assertion for alice.
    fn partner_jwt(&self) -> JwtSpec {
        JwtSpec::signed(&self.partner_key, "RS256").claims(PARTNER, "alice", ASSERTION_AUDIENCE)
    }

    /// `OTHER`'s self-issued RS256 assertion for alice.
    fn other_jwt(&self) -> JwtSpec {
        JwtSpec::signed(&self.other_key, "RS256").claims(OTHER, "alice", ASSERTION_AUDIENCE)
    }

    /// The corporate issuer's ES256 assertion for alice.
    fn corp_jwt(&self) -> JwtSpec {
        JwtSpec::signed(&self.idp_key, "ES256").claims(CORP_IDP, "alice", ASSERTION_AUDIENCE)
    }

    /// `PK_CLIENT`'s client assertion for the token endpoint.
    fn pk_jwt(&self) -> JwtSpec {
        JwtSpec::signed(&self.pk_key, "ES256").claims(PK_CLIENT, PK_CLIENT, ASSERTION_AUDIENCE)
    }

    /// `SAML_IDP`'s signed assertion for alice.
    fn saml(&self) -> SamlSpec {
        SamlSpec::signed(&self.saml_key, SAML_IDP, "alice", ASSERTION_AUDIENCE)
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// The JWT bearer grant, authenticated as `client` or (None) self-issued.
fn jwt_grant(
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

/// The SAML bearer grant as `SAML_CLIENT`.
fn saml_grant(server: &Server, assertion: &str, scope: Option<&str>) -> Response {
    let mut fields = vec![("grant_type", SAML2_BEARER), ("assertion", assertion)];
    if let Some(s) = scope {
        fields.push(("scope", s));
    }
    server.token(&saml_client(), &fields)
}

/// `grant_type=client_credentials` authenticated by the client assertion `jwt` alone.
fn cc_with_assertion(server: &Server, jwt: &str) -> Response {
    let mut fields = vec![("grant_type", "client_credentials")];
    fields.extend(client_assertion_fields(jwt));
    server.post_form(TOKEN_PATH, &form(&fields), None)
}

/// Asserts a 200 token response.
fn assert_accepted(r: &Response, what: &str) {
    assert_eq!(r.status, 200, "{what}: {}", r.summary());
    assert!(
        !r.json_str("access_token").is_empty(),
        "{what}: no access_token: {}",
        r.summary()
    );
}

// ---------------------------------------------------------------------------------------------
// Single use survives kill -9 (RocksDB, async durability)
// ---------------------------------------------------------------------------------------------

/// The setup on RocksDB in `data` with `durability = "async"` and a flush interval of 3 s:
/// a change that is not written durably before the answer is still queued when the test
/// kills the server, so it would be lost.
fn rocks_setup(data: &Path) -> Setup {
    Setup::on(
        ConfigBuilder::standard()
            .store("kind", "\"rocksdb\"")
            .store("path", &toml_str(&data.display().to_string()))
            .store("durability", "\"async\"")
            .store("flush_interval_ms", "3000"),
    )
}

/// Presents an assertion with `present`, kills the server with SIGKILL as soon as the 200
/// is in, starts it again on the same data directory and returns the answer to the same
/// request there.
fn replay_after_kill_9(setup: &Setup, present: impl Fn(&Server) -> Response) -> Response {
    let server = Server::start(&setup.config);
    let first = present(&server);
    server.kill_hard();
    assert_accepted(&first, "first use");
    let server = Server::start(&setup.config);
    present(&server)
}

#[test]
fn rfc7523_3_jwt_bearer_jti_stays_used_after_kill_9_right_after_the_answer() {
    let data = TempDir::new("data");
    let setup = rocks_setup(&data.path().join("db"));
    let jwt = setup.partner_jwt().make();
    let r = replay_after_kill_9(&setup, |s| jwt_grant(s, Some(&partner()), &jwt, None));
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc7523_3_self_issued_jwt_bearer_jti_stays_used_after_kill_9_right_after_the_answer() {
    let data = TempDir::new("data");
    let setup = rocks_setup(&data.path().join("db"));
    let jwt = setup.partner_jwt().make();
    let r = replay_after_kill_9(&setup, |s| jwt_grant(s, None, &jwt, None));
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc7523_3_client_assertion_jti_stays_used_after_kill_9_right_after_the_answer() {
    let data = TempDir::new("data");
    let setup = rocks_setup(&data.path().join("db"));
    let jwt = setup.pk_jwt().make();
    let r = replay_after_kill_9(&setup, |s| cc_with_assertion(s, &jwt));
    assert_assertion_error(&r, 401, "invalid_client", &jwt);
}

#[test]
fn rfc7522_3_saml_assertion_id_stays_used_after_kill_9_right_after_the_answer() {
    let data = TempDir::new("data");
    let setup = rocks_setup(&data.path().join("db"));
    let assertion = setup.saml().make();
    let r = replay_after_kill_9(&setup, |s| saml_grant(s, &assertion, None));
    assert_assertion_error(&r, 400, "invalid_grant", &assertion);
}

// ---------------------------------------------------------------------------------------------
// Shared store outage (Cassandra)
// ---------------------------------------------------------------------------------------------

/// Sends `present` every 500 ms while the answer is 503 (the nodes reconnecting to
/// Cassandra), up to `RECOVERY_LIMIT`; returns the first other answer.
fn first_answer_after_recovery(what: &str, present: impl Fn() -> Response) -> Response {
    let since = Instant::now();
    loop {
        let r = present();
        if r.status != 503 {
            return r;
        }
        assert!(
            since.elapsed() < RECOVERY_LIMIT,
            "{what}: still 503 {RECOVERY_LIMIT:?} after Cassandra was started again: {}",
            r.summary()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn store_outage_answers_503_to_fresh_assertions_and_does_not_use_them_up() {
    // Stops the shared Cassandra: the same locking as cluster's outage tests.
    let _exclusive = exclusive_cassandra();
    let ks = Keyspace::new("assert_outage");
    let setup = Setup::on(outage_config(&ks.name));
    let (node1, node2) = two_nodes(&setup.config);

    // Both nodes reach the store before the outage.
    let warm = setup.partner_jwt().make();
    assert_accepted(
        &jwt_grant(&node1, Some(&partner()), &warm, None),
        "JWT bearer before the outage",
    );
    let warm = setup.saml().make();
    assert_accepted(&saml_grant(&node2, &warm, None), "SAML before the outage");

    // Fresh assertions that outlive the outage.
    let jwt = setup.partner_jwt().exp_in(OUTAGE_ASSERTION_SECS).make();
    let self_issued = setup.partner_jwt().exp_in(OUTAGE_ASSERTION_SECS).make();
    let client_jwt = setup.pk_jwt().exp_in(OUTAGE_ASSERTION_SECS).make();
    let saml = setup
        .saml()
        .not_on_or_after_in(OUTAGE_ASSERTION_SECS)
        .make();

    let mut restart = stop_cassandra();

    // The store cannot say whether they were used: 503, never invalid_grant (which would
    // make the client drop a good assertion), on either node, asked twice.
    for node in [&node1, &node2] {
        for _ in 0..2 {
            let r = jwt_grant(node, Some(&partner()), &jwt, None);
            assert_cannot_tell(&r, "JWT bearer grant");
            assert_not_echoed(&r, &jwt);
            let r = jwt_grant(node, None, &self_issued, None);
            assert_cannot_tell(&r, "self-issued JWT bearer grant");
            assert_not_echoed(&r, &self_issued);
            let r = saml_grant(node, &saml, None);
            assert_cannot_tell(&r, "SAML bearer grant");
            assert_not_echoed(&r, &saml);
            let r = cc_with_assertion(node, &client_jwt);
            assert_cannot_tell(&r, "private_key_jwt client authentication");
            assert_not_echoed(&r, &client_jwt);
        }
    }

    restart.start_now();

    // Back: the very same assertions are accepted — the 503s did not use them up.
    let r = first_answer_after_recovery("JWT bearer grant", || {
        jwt_grant(&node1, Some(&partner()), &jwt, None)
    });
    assert_accepted(
        &r,
        "the JWT bearer assertion refused with 503 during the outage",
    );
    let r = first_answer_after_recovery("self-issued JWT bearer grant", || {
        jwt_grant(&node2, None, &self_issued, None)
    });
    assert_accepted(
        &r,
        "the self-issued JWT bearer assertion refused with 503 during the outage",
    );
    let r = first_answer_after_recovery("SAML bearer grant", || saml_grant(&node1, &saml, None));
    assert_accepted(&r, "the SAML assertion refused with 503 during the outage");
    let r =
        first_answer_after_recovery("private_key_jwt", || cc_with_assertion(&node2, &client_jwt));
    assert_accepted(
        &r,
        "the client assertion refused with 503 during the outage",
    );

    // And now they are used, on both nodes.
    for node in [&node1, &node2] {
        let r = jwt_grant(node, Some(&partner()), &jwt, None);
        assert_assertion_error(&r, 400, "invalid_grant", &jwt);
        let r = saml_grant(node, &saml, None);
        assert_assertion_error(&r, 400, "invalid_grant", &saml);
        let r = cc_with_assertion(node, &client_jwt);
        assert_assertion_error(&r, 401, "invalid_client", &client_jwt);
    }
}

// ---------------------------------------------------------------------------------------------
// Races on one node
// ---------------------------------------------------------------------------------------------

/// How many connections race one assertion.
const RACERS: usize = 16;

/// Sends `request` on `RACERS` connections to `server` at once; asserts exactly one 200
/// and one of `refusals` (status, error) for every other answer.
fn assert_race_has_one_winner(
    server: &Server,
    request: &[u8],
    assertion: &str,
    refusals: &[(u16, &str)],
) {
    let answers = race(&[server.addr; RACERS], request);
    let winners = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        winners,
        1,
        "exactly one of {RACERS} racing requests may be accepted; answers: {:?}",
        answers.iter().map(Response::summary).collect::<Vec<_>>()
    );
    for r in answers.iter().filter(|r| r.status != 200) {
        assert_assertion_error_among(r, refusals, assertion);
    }
}

#[test]
fn rfc7523_3_one_jwt_bearer_assertion_raced_on_one_rocksdb_node_is_accepted_exactly_once() {
    let data = TempDir::new("data");
    let setup = rocks_setup(&data.path().join("db"));
    let server = Server::start(&setup.config);
    let auth = basic_auth(PARTNER, PARTNER_SECRET);
    for _round in 0..3 {
        let jwt = setup.partner_jwt().make();
        let body = form(&[("grant_type", JWT_BEARER), ("assertion", &jwt)]);
        let request = raw_form_post(TOKEN_PATH, &body, &[("Authorization", &auth)]);
        assert_race_has_one_winner(&server, &request, &jwt, &[(400, "invalid_grant")]);
    }
}

#[test]
fn rfc7523_3_one_client_assertion_raced_on_one_rocksdb_node_is_accepted_exactly_once() {
    let data = TempDir::new("data");
    let setup = rocks_setup(&data.path().join("db"));
    let server = Server::start(&setup.config);
    let jwt = setup.pk_jwt().make();
    let mut fields = vec![("grant_type", "client_credentials")];
    fields.extend(client_assertion_fields(&jwt));
    let request = raw_form_post(TOKEN_PATH, &form(&fields), &[]);
    // A replayed client assertion is a failed client authentication: after
    // `security.failed_auth_limit` (10) of them the brute-force guard answers 429 instead
    // (issue 11). Either way, never a second token.
    assert_race_has_one_winner(
        &server,
        &request,
        &jwt,
        &[(401, "invalid_client"), (429, "temporarily_unavailable")],
    );
}

#[test]
fn rfc7522_3_one_saml_assertion_raced_on_one_rocksdb_node_is_accepted_exactly_once() {
    let data = TempDir::new("data");
    let setup = rocks_setup(&data.path().join("db"));
    let server = Server::start(&setup.config);
    let assertion = setup.saml().make();
    let body = form(&[("grant_type", SAML2_BEARER), ("assertion", &assertion)]);
    let auth = basic_auth(SAML_CLIENT, SAML_SECRET);
    let request = raw_form_post(TOKEN_PATH, &body, &[("Authorization", &auth)]);
    assert_race_has_one_winner(&server, &request, &assertion, &[(400, "invalid_grant")]);
}

// ---------------------------------------------------------------------------------------------
// jti is per issuer
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc7519_4_1_7_the_same_jti_from_different_issuers_is_not_a_replay() {
    let setup = Setup::on(ConfigBuilder::standard());
    let server = Server::start(&setup.config);
    const JTI: &str = "x";
    // Four issuers, one jti: PARTNER and OTHER (self-issued grants), the corporate issuer
    // (a grant presented by PARTNER) and PK_CLIENT (a client assertion).
    let a = setup.partner_jwt().jti(JTI).make();
    assert_accepted(
        &jwt_grant(&server, Some(&partner()), &a, None),
        "PARTNER's jti x",
    );
    let b = setup.other_jwt().jti(JTI).make();
    assert_accepted(
        &jwt_grant(&server, Some(&other_partner()), &b, None),
        "OTHER's jti x after PARTNER's",
    );
    let c = setup.corp_jwt().jti(JTI).make();
    assert_accepted(
        &jwt_grant(&server, Some(&partner()), &c, None),
        "the corporate issuer's jti x presented by PARTNER after PARTNER's own",
    );
    let d = setup.pk_jwt().jti(JTI).make();
    assert_accepted(
        &cc_with_assertion(&server, &d),
        "PK_CLIENT's client assertion jti x",
    );
    // Within one issuer it is a replay, for each of them.
    let again = setup.partner_jwt().jti(JTI).exp_in(90).make();
    let r = jwt_grant(&server, Some(&partner()), &again, None);
    assert_assertion_error(&r, 400, "invalid_grant", &again);
    let again = setup.other_jwt().jti(JTI).exp_in(90).make();
    let r = jwt_grant(&server, Some(&other_partner()), &again, None);
    assert_assertion_error(&r, 400, "invalid_grant", &again);
    let again = setup.corp_jwt().jti(JTI).exp_in(90).make();
    let r = jwt_grant(&server, Some(&partner()), &again, None);
    assert_assertion_error(&r, 400, "invalid_grant", &again);
    let again = setup.pk_jwt().jti(JTI).exp_in(90).make();
    let r = cc_with_assertion(&server, &again);
    assert_assertion_error(&r, 401, "invalid_client", &again);
}

#[test]
fn rfc7522_3_the_same_saml_id_from_another_issuer_is_not_a_replay() {
    // A SAML ID and a JWT jti with the same text are two values, too.
    let setup = Setup::on(ConfigBuilder::standard());
    let server = Server::start(&setup.config);
    const ID: &str = "_shared-identifier-0001";
    let jwt = setup.partner_jwt().jti(ID).make();
    assert_accepted(
        &jwt_grant(&server, Some(&partner()), &jwt, None),
        "a JWT with jti = the SAML ID",
    );
    let saml = setup.saml().id(ID).make();
    assert_accepted(
        &saml_grant(&server, &saml, None),
        "a SAML assertion whose ID is another issuer's jti",
    );
}

// ---------------------------------------------------------------------------------------------
// A refused request does not use the assertion up
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc6749_3_3_jwt_bearer_refused_for_its_scope_is_still_usable_with_a_valid_scope() {
    let setup = Setup::on(ConfigBuilder::standard());
    let server = Server::start(&setup.config);
    let jwt = setup.partner_jwt().make();
    let r = jwt_grant(&server, Some(&partner()), &jwt, Some("read admin"));
    assert_assertion_error(&r, 400, "invalid_scope", &jwt);
    // Self-issued, too (the assertion authenticates the client).
    let r = jwt_grant(&server, None, &jwt, Some("admin"));
    assert_assertion_error(&r, 400, "invalid_scope", &jwt);
    let r = jwt_grant(&server, Some(&partner()), &jwt, Some("write"));
    assert_accepted(&r, "the same assertion with a valid scope");
    assert_eq!(r.json_str("scope"), "write", "{}", r.summary());
    // Now it is used.
    let r = jwt_grant(&server, Some(&partner()), &jwt, Some("write"));
    assert_assertion_error(&r, 400, "invalid_grant", &jwt);
}

#[test]
fn rfc6749_3_3_saml_bearer_refused_for_its_scope_is_still_usable_with_a_valid_scope() {
    let setup = Setup::on(ConfigBuilder::standard());
    let server = Server::start(&setup.config);
    let assertion = setup.saml().make();
    let r = saml_grant(&server, &assertion, Some("admin"));
    assert_assertion_error(&r, 400, "invalid_scope", &assertion);
    let r = saml_grant(&server, &assertion, Some("write"));
    assert_accepted(&r, "the same assertion with a valid scope");
    assert_eq!(r.json_str("scope"), "write", "{}", r.summary());
    let r = saml_grant(&server, &assertion, None);
    assert_assertion_error(&r, 400, "invalid_grant", &assertion);
}

#[test]
fn rfc6749_5_2_jwt_bearer_refused_for_bad_client_credentials_is_still_usable() {
    // A wrong secret is refused before the assertion is looked at, so it is not used up.
    let setup = Setup::on(ConfigBuilder::standard());
    let server = Server::start(&setup.config);
    let jwt = setup.partner_jwt().make();
    let r = jwt_grant(
        &server,
        Some(&partner().with_secret("wrong-secret")),
        &jwt,
        None,
    );
    assert_assertion_error(&r, 401, "invalid_client", &jwt);
    assert_accepted(
        &jwt_grant(&server, Some(&partner()), &jwt, None),
        "the same assertion with the right secret",
    );
}

// ---------------------------------------------------------------------------------------------
// Oversized and pathological assertions
// ---------------------------------------------------------------------------------------------

/// `server.max_body_bytes` of the standard config.
const MAX_BODY: usize = 65_536;

/// A Basic-authenticated token request whose body is `prefix` and then `fill` repeated so
/// the body is exactly `len` bytes.
fn padded_request(client: (&str, &str), prefix: &str, fill: char, len: usize) -> Vec<u8> {
    assert!(len > prefix.len());
    let body = format!("{prefix}{}", fill.to_string().repeat(len - prefix.len()));
    assert_eq!(body.len(), len);
    let auth = basic_auth(client.0, client.1);
    raw_form_post(TOKEN_PATH, &body, &[("Authorization", &auth)])
}

/// The server still issues tokens for a fresh JWT bearer assertion.
fn assert_still_serving(server: &Server, setup: &Setup) {
    let jwt = setup.partner_jwt().make();
    assert_accepted(
        &jwt_grant(server, Some(&partner()), &jwt, None),
        "a normal request after the oversized one",
    );
}

#[test]
fn rfc7523_3_jwt_bearer_assertion_just_under_max_body_bytes_is_invalid_grant() {
    let setup = Setup::on(ConfigBuilder::standard());
    let server = Server::start(&setup.config);
    // A compact JWS of base64url characters only, one segment filling the body.
    let prefix = format!(
        "grant_type={}&assertion=eyJhbGciOiJSUzI1NiJ9.",
        urlencode(JWT_BEARER)
    );
    let request = padded_request((PARTNER, PARTNER_SECRET), &prefix, 'A', MAX_BODY - 2);
    let r = server.send_raw(&request);
    assert_token_error(&r, 400, "invalid_grant");
    // Self-issued (no client authentication): the same refusal.
    let body_len = MAX_BODY - 2;
    let body = format!("{prefix}{}", "A".repeat(body_len - prefix.len()));
    let r = server.post_form(TOKEN_PATH, &body, None);
    assert_token_error(&r, 400, "invalid_grant");
    assert_still_serving(&server, &setup);
}

#[test]
fn rfc7522_3_saml_assertion_just_under_max_body_bytes_is_invalid_grant() {
    let setup = Setup::on(ConfigBuilder::standard());
    let server = Server::start(&setup.config);
    let prefix = format!("grant_type={}&assertion=", urlencode(SAML2_BEARER));
    let request = padded_request((SAML_CLIENT, SAML_SECRET), &prefix, 'P', MAX_BODY - 2);
    let r = server.send_raw(&request);
    assert_token_error(&r, 400, "invalid_grant");
    assert_still_serving(&server, &setup);
}

#[test]
fn rfc9110_15_5_14_assertion_over_max_body_bytes_is_413_and_the_server_keeps_serving() {
    let setup = Setup::on(ConfigBuilder::standard());
    let server = Server::start(&setup.config);
    for (grant, client) in [
        (JWT_BEARER, (PARTNER, PARTNER_SECRET)),
        (SAML2_BEARER, (SAML_CLIENT, SAML_SECRET)),
    ] {
        let prefix = format!("grant_type={}&assertion=", urlencode(grant));
        let request = padded_request(client, &prefix, 'A', 100 * 1024);
        let mut conn = server.conn();
        // The server may answer and close before reading the whole body.
        let _ = conn.try_send(&request);
        let r = conn
            .try_read_response()
            .unwrap_or_else(|e| panic!("{grant}: no answer to a 100 KiB assertion: {e}"));
        assert_eq!(r.status, 413, "{grant}: {}", r.summary());
        // One byte over the limit, too.
        let request = padded_request(client, &prefix, 'A', MAX_BODY + 1);
        let mut conn = server.conn();
        let _ = conn.try_send(&request);
        let r = conn
            .try_read_response()
            .unwrap_or_else(|e| panic!("{grant}: no answer to a body of limit + 1: {e}"));
        assert_eq!(r.status, 413, "{grant}: {}", r.summary());
    }
    assert_still_serving(&server, &setup);
}

/// base64url without padding.
fn b64url(bytes: &[u8]) -> String {
    ::base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn rfc7523_3_deeply_nested_json_in_a_jwt_is_invalid_grant_not_a_crash() {
    let setup = Setup::on(ConfigBuilder::standard());
    let server = Server::start(&setup.config);
    // 20 000 nested arrays in the header and in the claims: a recursive parser without a
    // depth limit overflows its stack and takes the server down.
    let depth = 20_000;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let header = b64url(format!(r#"{{"alg":"RS256","x":{nested}}}"#).as_bytes());
    let claims = b64url(
        format!(r#"{{"iss":"{PARTNER}","sub":"alice","aud":"{ASSERTION_AUDIENCE}","x":{nested}}}"#)
            .as_bytes(),
    );
    let good_header = b64url(br#"{"alg":"RS256","typ":"JWT"}"#);
    for jwt in [
        format!("{header}.{}.c2ln", b64url(b"{}")),
        format!("{good_header}.{claims}.c2ln"),
    ] {
        let r = jwt_grant(&server, Some(&partner()), &jwt, None);
        assert_assertion_error(&r, 400, "invalid_grant", &jwt);
        let r = jwt_grant(&server, None, &jwt, None);
        assert_assertion_error(&r, 400, "invalid_grant", &jwt);
        // And as a client assertion.
        let r = cc_with_assertion(&server, &jwt);
        assert_assertion_error(&r, 401, "invalid_client", &jwt);
    }
    assert_still_serving(&server, &setup);
}

#[test]
fn rfc7522_3_deeply_nested_xml_is_invalid_grant_not_a_crash() {
    let setup = Setup::on(ConfigBuilder::standard());
    let server = Server::start(&setup.config);
    // As deep as the body limit allows (base64 grows it by a third): inside the Assertion,
    // and as the document itself.
    let depth = 5_000;
    let nested = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    let inside = format!(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_n" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer>{SAML_IDP}</saml:Issuer>{nested}</saml:Assertion>"#
    );
    for xml in [inside, nested] {
        let assertion = b64url(xml.as_bytes());
        assert!(assertion.len() < MAX_BODY - 200, "{}", assertion.len());
        let r = saml_grant(&server, &assertion, None);
        assert_assertion_error(&r, 400, "invalid_grant", &assertion);
    }
    assert_still_serving(&server, &setup);
}
