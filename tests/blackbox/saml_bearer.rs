//! The SAML 2.0 bearer grant (RFC 7522 §2.1, §3): `grant_type=urn:ietf:params:oauth:
//! grant-type:saml2-bearer` with `assertion` = the base64url of a SAML 2.0 Assertion signed
//! by a configured `kind = "saml"` issuer that lists the (authenticated) client. The
//! assertions are signed by signxml (`tests/tools/assertion.py`); the attacks rearrange a
//! genuinely signed assertion: signature wrapping XSW1–XSW8 (Somorovsky et al., "On Breaking
//! SAML", 2012), a comment inside NameID, DTDs and external entities, a second Subject.
//!
//! Each refusal is checked for its status, its `error` code and that the answer does not
//! echo the assertion; where an attack smuggles in another NameID, no token may name it.

use crate::cluster::{cluster_config, shared_cassandra, two_nodes, Keyspace};
use crate::harness::assertions::*;
use crate::harness::*;

/// The client allowed to present the issuers' assertions.
const SAML_CLIENT: &str = "saml-client";
const SAML_SECRET: &str = "saml-client-secret-0123456789";
/// A client with the grant that no issuer lists.
const OTHER: &str = "saml-other";
const OTHER_SECRET: &str = "saml-other-secret-0123456789";
/// The trusted issuer (RSA-SHA256 and stronger only).
const IDP: &str = "https://idp.saml.test";
/// A second trusted issuer with `allow_sha1 = true`.
const LEGACY_IDP: &str = "https://legacy-idp.saml.test";
/// The NameID the wrapping attacks try to be.
const EVIL: &str = "admin";

fn saml_client() -> Client {
    Client::new(SAML_CLIENT, Some(SAML_SECRET), AuthMethod::Basic)
}

fn other_client() -> Client {
    Client::new(OTHER, Some(OTHER_SECRET), AuthMethod::Basic)
}

struct Setup {
    keys: KeyDir,
    idp_key: KeyPair,
    legacy_key: KeyPair,
    config: String,
}

impl Setup {
    fn new() -> Setup {
        Setup::on(ConfigBuilder::standard())
    }

    fn on(base: ConfigBuilder) -> Setup {
        let mut keys = KeyDir::new("saml-bearer");
        let idp_key = keys.key("corp-saml", KeyKind::Rsa);
        let legacy_key = keys.key("legacy-saml", KeyKind::Rsa);
        let mut config = base
            .client(&format!(
                r#"id = "{SAML_CLIENT}"
secret = "{SAML_SECRET}"
grant_types = ["{SAML2_BEARER}", "refresh_token"]
scopes = ["read", "write"]
default_scopes = ["read"]
metadata = {{ department = "Federation" }}"#
            ))
            .client(&format!(
                r#"id = "{OTHER}"
secret = "{OTHER_SECRET}"
grant_types = ["{SAML2_BEARER}"]
scopes = ["read"]
default_scopes = ["read"]"#
            ))
            .build();
        config.push_str(&assertions_section(&[("clock_skew_secs", "60")]));
        config.push_str(&issuer_block(
            "corp-saml",
            "saml",
            IDP,
            &[SAML_CLIENT],
            &format!("certificate_files = [{}]", idp_key.cert_toml()),
        ));
        config.push_str(&issuer_block(
            "legacy-saml",
            "saml",
            LEGACY_IDP,
            &[SAML_CLIENT],
            &format!(
                "certificate_files = [{}]\nallow_sha1 = true",
                legacy_key.cert_toml()
            ),
        ));
        Setup {
            keys,
            idp_key,
            legacy_key,
            config,
        }
    }

    fn start(&self) -> Server {
        Server::start(&self.config)
    }

    /// A valid assertion of `IDP` for `name_id`.
    fn assertion(&self, name_id: &str) -> SamlSpec {
        SamlSpec::signed(&self.idp_key, IDP, name_id, ASSERTION_AUDIENCE)
    }

    /// A valid assertion of `IDP` for alice.
    fn alice(&self) -> SamlSpec {
        self.assertion("alice")
    }
}

/// The token request of the grant, authenticated as `client` or (None) not at all.
fn grant(server: &Server, client: Option<&Client>, assertion: &str) -> Response {
    let fields = [("grant_type", SAML2_BEARER), ("assertion", assertion)];
    match client {
        Some(c) => server.token(c, &fields),
        None => server.post_form(TOKEN_PATH, &form(&fields), None),
    }
}

/// Asserts `invalid_grant` for `spec` presented by `SAML_CLIENT`.
fn assert_refused(server: &Server, spec: &SamlSpec) {
    let assertion = spec.make();
    let r = grant(server, Some(&saml_client()), &assertion);
    if r.status == 200 {
        panic!(
            "accepted: {}\nassertion XML (regenerated):\n{}",
            r.summary(),
            spec.xml()
        );
    }
    assert_assertion_error(&r, 400, "invalid_grant", &assertion);
}

/// A signature-wrapping variant is refused, and the alice it wraps is never the answer.
fn assert_wrapping_refused(n: u8) {
    let setup = Setup::new();
    let server = setup.start();
    assert_refused(
        &server,
        &setup.alice().attack(&format!("xsw{n}")).evil_name_id(EVIL),
    );
}

// ---------------------------------------------------------------------------------------------
// Accepted
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc7522_2_1_signed_assertion_issues_a_token_for_the_name_id() {
    let setup = Setup::new();
    let server = setup.start();
    let assertion = setup.alice().make();
    let issued = Issued::from_response(grant(&server, Some(&saml_client()), &assertion));
    assert_eq!(issued.scope, "read");
    let info = server.tokeninfo(&issued.access_token);
    assert_eq!(
        user_of(&info).as_deref(),
        Some("alice"),
        "{}",
        info.summary()
    );
    assert_eq!(info.json_str("audience"), SAML_CLIENT);
    assert_eq!(info.json_str("department"), "Federation");
    // A user with the refresh_token grant: a refresh token that works.
    let refreshed = server.issue_refresh(&saml_client(), issued.refresh_token(), None);
    let info = server.tokeninfo(&refreshed.access_token);
    assert_eq!(user_of(&info).as_deref(), Some("alice"));
}

#[test]
fn rfc7522_2_1_padded_base64url_assertion_is_accepted() {
    let setup = Setup::new();
    let server = setup.start();
    let mut assertion = setup.alice().make();
    while assertion.len() % 4 != 0 {
        assertion.push('=');
    }
    Issued::from_response(grant(&server, Some(&saml_client()), &assertion));
}

#[test]
fn rfc7522_3_name_id_of_a_user_known_only_to_the_idp_is_the_token_user() {
    let setup = Setup::new();
    let server = setup.start();
    let assertion = setup.assertion("jdoe@corp.test").make();
    let issued = Issued::from_response(grant(&server, Some(&saml_client()), &assertion));
    let info = server.tokeninfo(&issued.access_token);
    assert_eq!(user_of(&info).as_deref(), Some("jdoe@corp.test"));
}

#[test]
fn rfc7522_3_sha1_is_accepted_from_an_issuer_with_allow_sha1() {
    let setup = Setup::new();
    let server = setup.start();
    let assertion = SamlSpec::signed(&setup.legacy_key, LEGACY_IDP, "alice", ASSERTION_AUDIENCE)
        .sha1()
        .make();
    let issued = Issued::from_response(grant(&server, Some(&saml_client()), &assertion));
    let info = server.tokeninfo(&issued.access_token);
    assert_eq!(user_of(&info).as_deref(), Some("alice"));
}

#[test]
fn rfc7522_3_scope_outside_the_clients_scopes_is_invalid_scope() {
    let setup = Setup::new();
    let server = setup.start();
    let assertion = setup.alice().make();
    let r = server.token(
        &saml_client(),
        &[
            ("grant_type", SAML2_BEARER),
            ("assertion", &assertion),
            ("scope", "admin"),
        ],
    );
    assert_assertion_error(&r, 400, "invalid_scope", &assertion);
}

// ---------------------------------------------------------------------------------------------
// Clients and issuers
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc7522_3_client_not_authenticated_is_invalid_client() {
    let setup = Setup::new();
    let server = setup.start();
    let assertion = setup.alice().make();
    let r = grant(&server, None, &assertion);
    assert_assertion_error(&r, 401, "invalid_client", &assertion);
}

#[test]
fn rfc6749_5_2_wrong_client_secret_is_invalid_client() {
    let setup = Setup::new();
    let server = setup.start();
    let assertion = setup.alice().make();
    let client = saml_client().with_secret("not-the-secret-0123456789");
    let r = grant(&server, Some(&client), &assertion);
    assert_assertion_error(&r, 401, "invalid_client", &assertion);
}

#[test]
fn rfc7522_3_issuer_not_listing_the_client_is_unauthorized_client() {
    let setup = Setup::new();
    let server = setup.start();
    let assertion = setup.alice().make();
    let r = grant(&server, Some(&other_client()), &assertion);
    assert_assertion_error(&r, 400, "unauthorized_client", &assertion);
}

#[test]
fn rfc7522_3_unknown_issuer_is_invalid_grant() {
    let setup = Setup::new();
    let server = setup.start();
    let spec = SamlSpec::signed(
        &setup.idp_key,
        "https://unknown-idp.test",
        "alice",
        ASSERTION_AUDIENCE,
    );
    assert_refused(&server, &spec);
}

// ---------------------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc7522_3_unsigned_assertion_is_invalid_grant() {
    let setup = Setup::new();
    let server = setup.start();
    assert_refused(
        &server,
        &SamlSpec::unsigned(IDP, "alice", ASSERTION_AUDIENCE),
    );
}

#[test]
fn rfc7522_3_signature_by_an_untrusted_certificate_in_the_message_is_invalid_grant() {
    // The attacker's own certificate travels in KeyInfo; only certificate_files count.
    let mut setup = Setup::new();
    let attacker = setup.keys.key("attacker", KeyKind::Rsa);
    let server = setup.start();
    assert_refused(
        &server,
        &SamlSpec::signed(&attacker, IDP, "alice", ASSERTION_AUDIENCE),
    );
}

#[test]
fn rfc7522_3_another_trusted_issuers_certificate_does_not_sign_for_this_issuer() {
    // Signed with the legacy issuer's (trusted) key but naming IDP as Issuer.
    let setup = Setup::new();
    let server = setup.start();
    assert_refused(
        &server,
        &SamlSpec::signed(&setup.legacy_key, IDP, "alice", ASSERTION_AUDIENCE),
    );
}

#[test]
fn rfc7522_3_sha1_signature_is_refused_by_default() {
    let setup = Setup::new();
    let server = setup.start();
    assert_refused(&server, &setup.alice().sha1());
}

#[test]
fn xsw1_evil_response_with_the_signed_response_in_the_signature_object_is_refused() {
    assert_wrapping_refused(1);
}

#[test]
fn xsw2_evil_response_with_the_signed_response_before_the_signature_is_refused() {
    assert_wrapping_refused(2);
}

#[test]
fn xsw3_evil_assertion_before_the_signed_assertion_is_refused() {
    assert_wrapping_refused(3);
}

#[test]
fn xsw4_evil_assertion_wrapping_the_signed_assertion_is_refused() {
    assert_wrapping_refused(4);
}

#[test]
fn xsw5_evil_assertion_carrying_the_signature_with_the_original_appended_is_refused() {
    assert_wrapping_refused(5);
}

#[test]
fn xsw6_evil_assertion_with_the_original_inside_the_copied_signature_is_refused() {
    assert_wrapping_refused(6);
}

#[test]
fn xsw7_evil_assertion_in_an_extensions_block_is_refused() {
    assert_wrapping_refused(7);
}

#[test]
fn xsw8_evil_assertion_with_the_original_in_a_signature_object_is_refused() {
    assert_wrapping_refused(8);
}

#[test]
fn rfc7522_3_signed_assertion_with_a_second_subject_is_refused() {
    let setup = Setup::new();
    let server = setup.start();
    assert_refused(
        &server,
        &setup.alice().attack("second-subject").evil_name_id(EVIL),
    );
}

#[test]
fn rfc7522_3_comment_inside_name_id_is_refused_or_read_whole_never_truncated() {
    // Signed over "admin@evil.example"; the message says admin<!---->@evil.example. A
    // reader that stops at the comment would issue a token for "admin".
    let setup = Setup::new();
    let server = setup.start();
    let assertion = setup
        .assertion("admin@evil.example")
        .attack("comment-in-nameid")
        .make();
    let r = grant(&server, Some(&saml_client()), &assertion);
    if r.status == 200 {
        let issued = Issued::from_response(r);
        let info = server.tokeninfo(&issued.access_token);
        let user = user_of(&info);
        assert_ne!(
            user.as_deref(),
            Some("admin"),
            "NameID truncated at the comment"
        );
        assert_eq!(
            user.as_deref(),
            Some("admin@evil.example"),
            "{}",
            info.summary()
        );
    } else {
        assert_assertion_error(&r, 400, "invalid_grant", &assertion);
    }
}

#[test]
fn rfc7522_3_dtd_with_an_internal_entity_is_refused() {
    // The entity expands to the signed NameID text: only the DTD rule refuses it.
    let setup = Setup::new();
    let server = setup.start();
    assert_refused(&server, &setup.alice().attack("dtd"));
}

#[test]
fn rfc7522_3_external_entity_is_refused() {
    // The entity points at a file holding the signed NameID text: resolving it would make
    // the signature verify.
    let setup = Setup::new();
    let server = setup.start();
    let file = setup.keys.file("xxe-nameid.txt");
    assert_refused(&server, &setup.alice().attack("xxe").xxe_file(&file));
}

#[test]
fn rfc7522_3_garbage_instead_of_base64url_xml_is_invalid_grant() {
    let setup = Setup::new();
    let server = setup.start();
    for garbage in ["not base64 at all!", "PGZvbz4", "PHNhbWw6QXNzZXJ0aW9u"] {
        let r = grant(&server, Some(&saml_client()), garbage);
        assert_token_error(&r, 400, "invalid_grant");
    }
}

// ---------------------------------------------------------------------------------------------
// Conditions
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc7522_3_wrong_audience_is_invalid_grant() {
    let setup = Setup::new();
    let server = setup.start();
    assert_refused(
        &server,
        &setup
            .alice()
            .audience("https://other-as.test/api/oauth/token"),
    );
}

#[test]
fn rfc7522_3_wrong_recipient_is_invalid_grant() {
    let setup = Setup::new();
    let server = setup.start();
    assert_refused(
        &server,
        &setup
            .alice()
            .recipient("https://other-as.test/api/oauth/token"),
    );
}

#[test]
fn rfc7522_3_bearer_confirmation_without_recipient_is_invalid_grant() {
    let setup = Setup::new();
    let server = setup.start();
    assert_refused(&server, &setup.alice().no_recipient());
}

#[test]
fn rfc7522_3_subject_confirmation_other_than_bearer_is_invalid_grant() {
    let setup = Setup::new();
    let server = setup.start();
    assert_refused(
        &server,
        &setup
            .alice()
            .confirmation_method("urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"),
    );
}

#[test]
fn rfc7522_3_expired_assertion_is_invalid_grant() {
    // NotOnOrAfter (Conditions and SubjectConfirmationData) past the 60 s skew.
    let setup = Setup::new();
    let server = setup.start();
    assert_refused(
        &server,
        &setup.alice().not_before_in(-600).not_on_or_after_in(-120),
    );
}

#[test]
fn rfc7522_3_assertion_not_yet_valid_is_invalid_grant() {
    let setup = Setup::new();
    let server = setup.start();
    assert_refused(
        &server,
        &setup.alice().not_before_in(300).not_on_or_after_in(600),
    );
}

#[test]
fn rfc7522_3_replayed_assertion_is_invalid_grant() {
    let setup = Setup::new();
    let server = setup.start();
    let assertion = setup.alice().make();
    Issued::from_response(grant(&server, Some(&saml_client()), &assertion));
    let r = grant(&server, Some(&saml_client()), &assertion);
    assert_assertion_error(&r, 400, "invalid_grant", &assertion);
}

#[test]
fn rfc7522_3_reused_assertion_id_in_a_new_signature_is_invalid_grant() {
    let setup = Setup::new();
    let server = setup.start();
    let first = setup.alice().id("_reused-assertion-id-7522").make();
    Issued::from_response(grant(&server, Some(&saml_client()), &first));
    let second = setup
        .alice()
        .id("_reused-assertion-id-7522")
        .not_on_or_after_in(100)
        .make();
    let r = grant(&server, Some(&saml_client()), &second);
    assert_assertion_error(&r, 400, "invalid_grant", &second);
}

#[test]
fn rfc7522_3_assertion_replayed_on_the_other_node_is_invalid_grant() {
    let _cassandra = shared_cassandra();
    let ks = Keyspace::new("samlreplay");
    let setup = Setup::on(cluster_config(&ks.name, "async"));
    let (node1, node2) = two_nodes(&setup.config);
    let assertion = setup.alice().make();
    Issued::from_response(grant(&node1, Some(&saml_client()), &assertion));
    let r = grant(&node2, Some(&saml_client()), &assertion);
    assert_assertion_error(&r, 400, "invalid_grant", &assertion);
}
