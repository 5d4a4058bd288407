//! Two `tessera` nodes on a Cassandra that requires a password and TLS with a client
//! certificate: the second, secure test instance of `tests/services/cassandra-secure.sh`
//! (port 9142, login role `tessera`, test CA and client certificate under its state dir's
//! `tls/`, datacenter `datacenter1`). The tests start it themselves (`start` is idempotent)
//! and fail with the script's output when it cannot start; `make test` stops it after the
//! suite. Nothing here touches the default Cassandra on 9042, so no lock is shared with
//! `cluster`.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Instant;

use crate::harness::*;

const SECURE_SH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/services/cassandra-secure.sh"
);
const USER: &str = "tessera";
const PASSWORD: &str = "tessera-secret";

/// Where the secure instance listens and its TLS files, as `cassandra-secure.sh info` says.
#[derive(Debug)]
struct Secure {
    addr: String,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn secure_sh(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(SECURE_SH)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {SECURE_SH} {args:?}: {e}"))
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The value of the `name:` line of `info`.
fn info_value(info: &str, name: &str) -> Result<String, String> {
    let prefix = format!("{name}:");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .ok_or_else(|| format!("no `{prefix}` line in cassandra-secure.sh info:\n{info}"))
}

fn start_secure() -> Result<Secure, String> {
    let t0 = Instant::now();
    let out = secure_sh(&["start"]);
    if !out.status.success() {
        return Err(format!(
            "the secure Cassandra did not start ({SECURE_SH} start): {}",
            describe(&out)
        ));
    }
    eprintln!(
        "secure Cassandra ready after {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let out = secure_sh(&["info"]);
    if !out.status.success() {
        return Err(format!("{SECURE_SH} info failed: {}", describe(&out)));
    }
    let info = String::from_utf8_lossy(&out.stdout);
    Ok(Secure {
        addr: info_value(&info, "cql")?,
        ca: PathBuf::from(info_value(&info, "tls ca")?),
        cert: PathBuf::from(info_value(&info, "tls cert")?),
        key: PathBuf::from(info_value(&info, "tls key")?),
    })
}

/// The running secure instance, started once per test process; fails the test otherwise.
fn secure() -> &'static Secure {
    static SECURE: OnceLock<Result<Secure, String>> = OnceLock::new();
    match SECURE.get_or_init(start_secure) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

/// A test's own keyspace, dropped (as the superuser, through the script) when it ends.
struct Keyspace {
    name: String,
}

impl Keyspace {
    fn new(tag: &str) -> Keyspace {
        Keyspace {
            name: format!("t_sec_{tag}_{}", std::process::id()),
        }
    }
}

impl Drop for Keyspace {
    fn drop(&mut self) {
        let out = secure_sh(&["cql", &format!("DROP KEYSPACE IF EXISTS {}", self.name)]);
        if !out.status.success() {
            eprintln!("could not drop keyspace {}: {}", self.name, describe(&out));
        }
    }
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
        .store("local_datacenter", "\"datacenter1\"")
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
    let ks = Keyspace::new("share");
    let config = secure_config(&ks.name, PASSWORD).build();
    let node1 = Server::start(&config);
    let node2 = Server::start(&config);
    let client = confidential_client();

    // sync: the token is in Cassandra before node 1 answers ...
    let issued = node1.issue_cc(&client, Some("read"));
    let rows = secure_sh(&[
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
    let ks = Keyspace::new("badpw");
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
