//! The Cassandra store against a real Apache Cassandra that requires a password and TLS
//! with a client certificate: `tests/services/cassandra-secure.sh` (port 9142, login role
//! `tessera`, test CA and client certificate under its state dir's `tls/`, datacenter
//! `datacenter1`). The tests start it themselves (`start` is idempotent) and fail with the
//! script's output when it cannot start; `make test` stops it after the whole suite.
//!
//! The refusals are checked at `CassandraStore::open`, the first thing a node does with its
//! store, and on the text of the error: an operator reads it to learn what is wrong.
#![cfg(feature = "cassandra")]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tessera_storage::store::cassandra::{
    CassandraOptions, CassandraStore, Level, TlsOptions, WriteBatching,
};
use tessera_storage::store::{Mutation, Store, StoredToken, Token};
use tessera_storage::{GrantId, TokenKey, TokenKind};

#[path = "../../tests/support/secure_cassandra.rs"]
mod secure_cassandra;
use secure_cassandra::{secure, Secure, DATACENTER, PASSWORD, USER};

const REPLICATION: &str = "{'class': 'SimpleStrategy', 'replication_factor': 1}";

/// A test's own keyspace, dropped when the test ends.
fn keyspace(tag: &str) -> secure_cassandra::Keyspace {
    secure_cassandra::Keyspace::new("sec", tag)
}

/// TLS as the secure instance wants it: verified against the test CA, with the client
/// certificate.
fn full_tls(s: &Secure) -> TlsOptions {
    TlsOptions {
        ca_file: Some(s.ca.clone()),
        cert_file: Some(s.cert.clone()),
        key_file: Some(s.key.clone()),
        verify: true,
    }
}

/// Options for `keyspace` on the secure instance with `login` and `tls`.
fn options(
    keyspace: &str,
    login: Option<(&str, &str)>,
    tls: Option<TlsOptions>,
) -> CassandraOptions {
    CassandraOptions {
        contact_points: vec![secure().addr.clone()],
        keyspace: keyspace.to_owned(),
        local_datacenter: Some(DATACENTER.to_owned()),
        username: login.map(|(u, _)| u.to_owned()),
        password: login.map(|(_, p)| p.to_owned()),
        tls,
        read_consistency: Level::LocalOne,
        write_consistency: Level::LocalOne,
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        write_batching: WriteBatching::default(),
        test_clock_offset_ms: 0,
    }
}

/// The error `open` refuses `opts` with, as text.
fn refusal(opts: &CassandraOptions) -> String {
    match CassandraStore::open(opts) {
        Ok(store) => panic!("the secure Cassandra accepted {opts:?}: {store:?}"),
        Err(e) => {
            let text = e.to_string();
            eprintln!("refused as expected: {text}");
            text
        }
    }
}

fn assert_mentions(text: &str, needles: &[&str], what: &str) {
    let lower = text.to_ascii_lowercase();
    assert!(
        needles
            .iter()
            .any(|n| lower.contains(&n.to_ascii_lowercase())),
        "{what}: expected the error to mention one of {needles:?}, got: {text}"
    );
}

fn now_secs() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

#[test]
fn password_tls_with_client_certificate_and_local_datacenter_store_and_read_a_token() {
    let s = secure();
    let ks = keyspace("ok");
    let opts = options(&ks.name, Some((USER, PASSWORD)), Some(full_tls(s)));

    let statements = CassandraStore::migrate(&opts, REPLICATION)
        .unwrap_or_else(|e| panic!("migrate as {USER} over TLS: {e}"));
    assert!(statements > 1, "migrate ran {statements} statements");
    let store = CassandraStore::open(&opts)
        .unwrap_or_else(|e| panic!("open as {USER} over TLS with a client certificate: {e}"));

    let now = now_secs();
    let key = TokenKey::of(b"secure-access-token");
    let token: StoredToken = Token {
        kind: TokenKind::Access,
        grant: GrantId(42),
        client: Arc::from("svc-a"),
        user: Some(Arc::from("alice")),
        scope: Arc::from("read write"),
        meta: Some(Arc::from(r#"{"department":"Engineering"}"#)),
        issued_at: now,
        expires_at: now + 600,
    };
    store
        .apply(
            &[Mutation::Put {
                key,
                token: token.clone(),
            }],
            true,
        )
        .unwrap_or_else(|e| panic!("put a token over TLS: {e}"));
    let read = store
        .get(&key, now)
        .unwrap_or_else(|e| panic!("get the token back over TLS: {e}"));
    assert_eq!(read, Some(token), "the token read back differs");
    assert_eq!(
        store
            .get(&TokenKey::of(b"never-issued"), now)
            .unwrap_or_else(|e| panic!("get a missing token: {e}")),
        None
    );
    assert_eq!(
        store
            .grant_tokens(GrantId(42), now)
            .unwrap_or_else(|e| panic!("grant tokens: {e}")),
        vec![key]
    );
}

#[test]
fn a_wrong_password_is_refused_at_open_as_failed_authentication() {
    let s = secure();
    let text = refusal(&options(
        "sec_unused",
        Some((USER, "not-the-password")),
        Some(full_tls(s)),
    ));
    assert_mentions(
        &text,
        &["Authentication failed - bad credentials"],
        "wrong password",
    );
    assert_mentions(
        &text,
        &["Provided username tessera and/or password are incorrect"],
        "wrong password",
    );
}

#[test]
fn no_credentials_are_refused_at_open_because_the_server_requires_authentication() {
    let s = secure();
    let text = refusal(&options("sec_unused", None, Some(full_tls(s))));
    assert_mentions(&text, &["Authentication is required"], "no credentials");
}

#[test]
fn a_server_certificate_the_configured_ca_did_not_sign_is_refused_at_open() {
    let s = secure();
    let tls = TlsOptions {
        ca_file: Some(s.other_ca.clone()),
        ..full_tls(s)
    };
    let text = refusal(&options("sec_unused", Some((USER, PASSWORD)), Some(tls)));
    assert_mentions(&text, &["certificate verify failed"], "unrelated CA");
}

#[test]
fn tls_without_a_client_certificate_is_refused_at_open() {
    // TLS 1.3: the client's handshake completes before the server has seen its (empty)
    // certificate; the server's `certificate_required` alert then ends the connection during
    // the first request. Depending on which of the driver's tasks notices first, the error
    // quotes the alert or only says the connection broke at that first request (OPTIONS):
    // about half the time each. Every attempt must be refused with one of the two, and the
    // alert must show up in one of them.
    let s = secure();
    let tls = TlsOptions {
        cert_file: None,
        key_file: None,
        ..full_tls(s)
    };
    let opts = options("sec_unused", Some((USER, PASSWORD)), Some(tls));
    let mut texts = Vec::new();
    for _ in 0..20 {
        let text = refusal(&opts);
        assert_mentions(&text, &["Request: OPTIONS"], "no client certificate");
        let alert = text.contains("tlsv13 alert certificate required");
        texts.push(text);
        if alert {
            return;
        }
    }
    panic!("in 20 refusals without a client certificate, none named the server's `certificate required` alert: {texts:#?}");
}

#[test]
fn plaintext_without_tls_is_refused_at_open() {
    secure();
    let text = refusal(&options("sec_unused", Some((USER, PASSWORD)), None));
    // The server drops the connection at the first (plaintext) request, before any login.
    assert_mentions(&text, &["Request: OPTIONS"], "no TLS");
    assert_mentions(&text, &["Connection broken"], "no TLS");
}

#[test]
fn a_local_datacenter_the_cluster_does_not_have_is_refused_at_open_naming_the_real_ones() {
    // The control case for `datacenter1` in the other tests. The driver itself would accept
    // any name and then fail every LOCAL_* request with an empty query plan; the store
    // checks the name against the nodes' datacenters when it connects.
    let s = secure();
    let ks = keyspace("dc");
    let mut opts = options(&ks.name, Some((USER, PASSWORD)), Some(full_tls(s)));
    CassandraStore::migrate(&opts, REPLICATION).unwrap_or_else(|e| panic!("migrate: {e}"));
    opts.local_datacenter = Some("dc-nowhere".to_owned());
    let text = match CassandraStore::open(&opts) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("open with local_datacenter dc-nowhere succeeded"),
    };
    eprintln!("refused as expected: {text}");
    assert_mentions(
        &text,
        &["\"dc-nowhere\" is not a datacenter"],
        "unknown datacenter",
    );
    assert_mentions(&text, &["datacenter1"], "the cluster's real datacenter");
}
