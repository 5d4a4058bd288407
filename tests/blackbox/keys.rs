//! `tessera keys list|rotate`: the OpenID Connect signing keys in the configured store
//! (RocksDB in a directory of the test's own), the refusal while a server holds that store,
//! a memory store, and keys given as PEM files.

use crate::harness::*;
use std::path::Path;
use std::process::Output;

/// A config on RocksDB in `data`, written to `dir/tessera.toml`; returns its path.
fn rocks_config(dir: &TempDir, data: &Path) -> String {
    let text = ConfigBuilder::standard()
        .store("kind", "\"rocksdb\"")
        .store("path", &toml_str(&data.display().to_string()))
        .build();
    dir.write("tessera.toml", &text).display().to_string()
}

fn keys(args: &[&str], config: &str) -> Output {
    let mut all = vec!["keys"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--config", config]);
    run_cli(&all, None)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `keys list` lines as (kid, alg, state).
fn listed(config: &str) -> Vec<(String, String, String)> {
    let out = keys(&["list"], config);
    assert!(out.status.success(), "keys list: {}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 4, "kid, alg, created, state: {line:?}");
            (cols[0].to_owned(), cols[1].to_owned(), cols[3].to_owned())
        })
        .collect()
}

#[test]
fn rotate_creates_the_keys_then_replaces_the_signing_key_keeping_the_old_one_published() {
    let dir = TempDir::new("keys");
    let data = TempDir::new("keys-data");
    let config = rocks_config(&dir, data.path());

    let out = keys(&["list"], &config);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("no signing keys in the store yet"),
        "{}",
        stdout(&out)
    );

    // An empty store: the rotation creates one key per algorithm.
    let out = keys(&["rotate"], &config);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = listed(&config);
    assert_eq!(first.len(), 2, "{first:?}");
    let (old_rsa, _, _) = first
        .iter()
        .find(|k| k.1 == "RS256")
        .expect("RS256")
        .clone();
    assert!(first.iter().all(|k| k.2 == "active"), "{first:?}");

    let out = keys(&["rotate", "--alg", "RS256"], &config);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = listed(&config);
    assert_eq!(after.len(), 3, "{after:?}");
    let new_rsa = &after[0];
    assert_eq!(
        (new_rsa.1.as_str(), new_rsa.2.as_str()),
        ("RS256", "active")
    );
    assert_ne!(new_rsa.0, old_rsa);
    assert!(stdout(&out).contains(&format!("RS256 key {} signs from now on", new_rsa.0)));
    let old = after
        .iter()
        .find(|k| k.0 == old_rsa)
        .expect("old key still listed");
    assert!(old.2.starts_with("retiring until "), "{old:?}");
    // The ES256 key is untouched.
    assert_eq!(
        after.iter().filter(|k| k.1 == "ES256").collect::<Vec<_>>(),
        first.iter().filter(|k| k.1 == "ES256").collect::<Vec<_>>()
    );

    let out = keys(&["rotate", "--alg", "ES256"], &config);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed_now = listed(&config);
    assert_eq!(listed_now.iter().filter(|k| k.2 == "active").count(), 2);
    assert_eq!(listed_now.len(), 4);
}

#[test]
fn keys_refuse_a_rocksdb_store_held_by_a_running_server_and_say_why() {
    let dir = TempDir::new("keys-locked");
    let data = TempDir::new("keys-locked-data");
    let config = rocks_config(&dir, data.path());
    let server = Server::start(&std::fs::read_to_string(&config).expect("config"));
    let out = keys(&["rotate"], &config);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a running Tessera server holds this RocksDB store"),
        "{}",
        stderr(&out)
    );
    drop(server);
}

#[test]
fn keys_with_a_memory_store_or_a_bad_algorithm_are_usage_errors() {
    let dir = TempDir::new("keys-memory");
    let config = dir
        .write("tessera.toml", &default_config())
        .display()
        .to_string();
    let out = keys(&["list"], &config);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("keeps no signing keys"),
        "{}",
        stderr(&out)
    );
    let out = keys(&["rotate", "--alg", "HS256"], &config);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("use RS256 or ES256"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn key_files_are_listed_and_not_rotated_in_the_store() {
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;

    let dir = TempDir::new("keys-files");
    let rsa = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
    let ec = EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("p256"))
        .expect("ec");
    let pem = |b: Vec<u8>| String::from_utf8(b).expect("utf-8");
    let rsa_path = dir.write(
        "rsa.pem",
        &pem(rsa.private_key_to_pem_pkcs8().expect("pem")),
    );
    let ec_path = dir.write("ec.pem", &pem(ec.private_key_to_pem().expect("pem")));
    let text = format!(
        "{}\n[oidc]\nsigning_key_files = [{}, {}]\n",
        ConfigBuilder::standard().build(),
        toml_str(&rsa_path.display().to_string()),
        toml_str(&ec_path.display().to_string())
    );
    let config = dir.write("tessera.toml", &text).display().to_string();
    let list = listed(&config);
    let algs: Vec<(&str, &str)> = list.iter().map(|k| (k.1.as_str(), k.2.as_str())).collect();
    assert_eq!(
        algs,
        [("RS256", "active (file)"), ("ES256", "active (file)")]
    );
    let out = keys(&["rotate"], &config);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("signing_key_files"),
        "{}",
        stderr(&out)
    );

    // A key that cannot sign is refused by name, before any store is opened.
    let small = PKey::from_rsa(Rsa::generate(1024).expect("rsa")).expect("pkey");
    let small_path = dir.write(
        "small.pem",
        &pem(small.private_key_to_pem_pkcs8().expect("pem")),
    );
    let text = format!(
        "[oidc]\nsigning_key_files = [{}]\n",
        toml_str(&small_path.display().to_string())
    );
    let config = dir.write("small.toml", &text).display().to_string();
    let out = run_cli(&["check-config", "--config", &config], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("oidc.signing_key_files[0]") && stderr(&out).contains("1024 bits"),
        "{}",
        stderr(&out)
    );
}
