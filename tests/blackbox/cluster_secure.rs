//! Two `tessera` nodes on a Cassandra that requires a password and TLS with a client
//! certificate: the second, secure test instance of `tests/services/cassandra-secure.sh`
//! (port 9142, login role `tessera`, test CA and client certificate under its state dir's
//! `tls/`, datacenter `datacenter1`). The tests start it themselves (`start` is idempotent)
//! and fail with the script's output when it cannot start; `make test` stops it after the
//! suite. Nothing here touches the default Cassandra on 9042, so no lock is shared with
//! `cluster`.

use crate::harness::*;
use crate::secure_cassandra::{describe, run_script, secure, DATACENTER, PASSWORD, USER};

/// A test's own keyspace on the secure instance, dropped when the test ends.
fn keyspace(tag: &str) -> crate::secure_cassandra::Keyspace {
    crate::secure_cassandra::Keyspace::new("t_sec", tag)
}

fn path_toml(p: &std::path::Path) -> String {
    toml_str(p.to_str().expect("utf-8 path"))
}

/// A node on the secure instance in `keyspace`, logging in with `password`.
fn secure_config(keyspace: &str, password: &str) -> ConfigBuilder {
    let s = secure();
    ConfigBuilder::standard()
        .store("kind", "\"cassandra\"")
        .store("contact_points", &format!("[{}]", toml_str(&s.addr)))
        .store("keyspace", &toml_str(keyspace))
        .store("username", &toml_str(USER))
        .store("password", &toml_str(password))
        .store("local_datacenter", &toml_str(DATACENTER))
        // LOCAL_ONE only reaches nodes of the local datacenter: a wrong name would fail.
        .store("read_consistency", "\"LOCAL_ONE\"")
        .store("write_consistency", "\"LOCAL_ONE\"")
        .store("tls", "true")
        .store("tls_ca_file", &path_toml(&s.ca))
        .store("tls_cert_file", &path_toml(&s.cert))
        .store("tls_key_file", &path_toml(&s.key))
        .store("tls_verify", "true")
        .store("create_schema", "true")
        .store("durability", "\"sync\"")
        // Schema changes on a loaded two-core CI machine can take longer than the default 2 s.
        .store("request_timeout_ms", "10000")
}

#[test]
fn nodes_with_password_and_mutual_tls_share_tokens_through_the_secure_cassandra() {
    let ks = keyspace("share");
    let config = secure_config(&ks.name, PASSWORD).build();
    let node1 = Server::start(&config);
    let node2 = Server::start(&config);
    let client = confidential_client();

    // sync: the token is in Cassandra before node 1 answers ...
    let issued = node1.issue_cc(&client, Some("read"));
    let rows = run_script(&[
        "cql",
        &format!("SELECT count(*) FROM {}.access_tokens", ks.name),
    ]);
    assert!(rows.status.success(), "count rows: {}", describe(&rows));
    assert_eq!(
        String::from_utf8_lossy(&rows.stdout).trim(),
        "1",
        "node 1 answered before its token was in Cassandra"
    );
    // ... so node 2, which never saw it, reads it from there over TLS.
    let info = node2.tokeninfo(&issued.access_token);
    assert_eq!(info.status, 200, "node 2 tokeninfo: {}", info.summary());
    assert_eq!(info.json_str("audience"), "svc-a");
    assert_eq!(info.json_str("scope"), "read");
    assert!(info.json_i64("expires_in") > 3500, "{}", info.summary());
}

#[test]
fn a_wrong_cassandra_password_stops_start_up_with_an_authentication_error() {
    let ks = keyspace("badpw");
    let config = secure_config(&ks.name, "not-the-password").build();
    let text = match Server::try_start(&config) {
        Ok(server) => panic!(
            "tessera started with a wrong Cassandra password: {}",
            server.stderr()
        ),
        Err(e) => e,
    };
    let line = text
        .lines()
        .find(|l| l.contains("cannot start"))
        .unwrap_or_else(|| panic!("no `cannot start` line in: {text}"));
    eprintln!("refused as expected: {line}");
    for needle in [
        "tessera: cannot start:",
        "Authentication failed - bad credentials",
        "Provided username tessera and/or password are incorrect",
    ] {
        assert!(
            line.contains(needle),
            "start-up should fail saying {needle:?}: {text}"
        );
    }
}
