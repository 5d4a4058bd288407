//! The secure test Cassandra of `tests/services/cassandra-secure.sh` (password and TLS with a
//! client certificate, port 9142), for the tests that need it: the store's
//! (`storage/tests/cassandra_secure.rs`) and the black-box nodes'
//! (`tests/blackbox/cluster_secure.rs`). Both include this file with `#[path]`, so the
//! start-up, the `info` parsing and the keyspace clean-up live in one place.
//!
//! The instance is started once per test process (`start` is idempotent, and the script
//! serialises concurrent starts itself); a test fails with the script's output when it
//! cannot start. Nothing here touches the default Cassandra on 9042.

#![allow(dead_code)] // Each including test crate uses its own part of this.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Instant;

/// The login role the script creates (not a superuser).
pub const USER: &str = "tessera";
pub const PASSWORD: &str = "tessera-secret";
/// What SimpleSnitch names the instance's datacenter.
pub const DATACENTER: &str = "datacenter1";

/// Where the secure instance listens and its TLS files, as `cassandra-secure.sh info` says.
#[derive(Debug)]
pub struct Secure {
    pub addr: String,
    /// The test CA the server's certificate chains to.
    pub ca: PathBuf,
    /// The client certificate and key the server requires.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A CA that signed nothing the server uses, for verification failures.
    pub other_ca: PathBuf,
}

/// `tests/services/cassandra-secure.sh`, found from the including crate's directory (the
/// workspace root or `storage/`).
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("tests/services/cassandra-secure.sh"))
        .find(|p| p.is_file())
        .expect("tests/services/cassandra-secure.sh above CARGO_MANIFEST_DIR")
}

/// Runs `bash cassandra-secure.sh ARGS`.
pub fn run_script(args: &[&str]) -> Output {
    let script = script();
    Command::new("bash")
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {} {args:?}: {e}", script.display()))
}

/// A finished command's exit status and output, for failure messages.
pub fn describe(out: &Output) -> String {
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
    let out = run_script(&["start"]);
    if !out.status.success() {
        return Err(format!(
            "the secure Cassandra did not start (cassandra-secure.sh start): {}",
            describe(&out)
        ));
    }
    eprintln!(
        "secure Cassandra ready after {:.1} s: {}",
        t0.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let out = run_script(&["info"]);
    if !out.status.success() {
        return Err(format!(
            "cassandra-secure.sh info failed: {}",
            describe(&out)
        ));
    }
    let info = String::from_utf8_lossy(&out.stdout);
    let file = |name: &str| -> Result<PathBuf, String> {
        let p = PathBuf::from(info_value(&info, name)?);
        if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{name} {} does not exist", p.display()))
        }
    };
    Ok(Secure {
        addr: info_value(&info, "cql")?,
        ca: file("tls ca")?,
        cert: file("tls cert")?,
        key: file("tls key")?,
        other_ca: file("tls other ca")?,
    })
}

/// The running secure instance, started once per test process; fails the test otherwise.
pub fn secure() -> &'static Secure {
    static SECURE: OnceLock<Result<Secure, String>> = OnceLock::new();
    match SECURE.get_or_init(start_secure) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

/// A test's own keyspace on the secure instance, dropped (as the superuser, through the
/// script) when the test ends.
#[derive(Debug)]
pub struct Keyspace {
    pub name: String,
}

impl Keyspace {
    /// `prefix_tag_pid`: distinct per test and per test process.
    pub fn new(prefix: &str, tag: &str) -> Keyspace {
        Keyspace {
            name: format!("{prefix}_{tag}_{}", std::process::id()),
        }
    }
}

impl Drop for Keyspace {
    fn drop(&mut self) {
        let out = run_script(&["cql", &format!("DROP KEYSPACE IF EXISTS {}", self.name)]);
        if !out.status.success() {
            eprintln!("could not drop keyspace {}: {}", self.name, describe(&out));
        }
    }
}
