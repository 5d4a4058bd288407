//! The test PostgreSQL and MariaDB of `tests/services/postgres.sh` and `mysql.sh`, for the
//! tests that run Tessera on them: a fresh place per test (a PostgreSQL schema or a MariaDB
//! database, dropped at the end), SQL run with the servers' own clients, the locks that keep
//! a test that stops a server away from the tests that use it, and the stop/start itself.
//!
//! Where the servers are: `TESSERA_POSTGRES_URL` / `TESSERA_MYSQL_URL` when set, else the
//! scripts' defaults (`POSTGRES_PORT` / `MYSQL_PORT` honoured, as the scripts do). To run
//! against private instances that nobody else uses, give the scripts their own state dir and
//! port and the tests the same port:
//!
//! ```text
//! export TESSERA_POSTGRES_HOME=/tmp/pg-mine POSTGRES_PORT=55433
//! export TESSERA_MYSQL_HOME=/tmp/my-mine MYSQL_PORT=53307
//! bash tests/services/postgres.sh start && bash tests/services/mysql.sh start
//! cargo test --release --test blackbox -- cluster_sql
//! ```
//!
//! The stop/start of an outage test goes through the same scripts with the same environment,
//! so it stops the instance the URL names only when the two agree (the default).
//!
//! SQL is run with `psql` (through `postgres.sh psql`, connecting with the URL) and the
//! `mariadb` client (through `mysql.sh sql`, with the URL's host, port and credentials), so
//! no database driver is needed on the test side.

#![allow(dead_code)] // Each including test crate uses its own part of this.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// The two relational databases Tessera stores tokens in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Mysql,
}

impl Dialect {
    pub const ALL: [Dialect; 2] = [Dialect::Postgres, Dialect::Mysql];

    /// `store.kind`, the `[store.<name>]` section and the tag in names.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        }
    }

    fn script_name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres.sh",
            Dialect::Mysql => "mysql.sh",
        }
    }

    /// `tests/services/<script>`, found from the including crate's directory (the workspace
    /// root or `storage/`).
    fn script(self) -> PathBuf {
        let name = self.script_name();
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|dir| dir.join("tests/services").join(name))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("tests/services/{name} above CARGO_MANIFEST_DIR"))
    }

    fn url_var(self) -> &'static str {
        match self {
            Dialect::Postgres => "TESSERA_POSTGRES_URL",
            Dialect::Mysql => "TESSERA_MYSQL_URL",
        }
    }

    /// The URL of the server's `tessera` database.
    pub fn base_url(self) -> String {
        if let Ok(url) = std::env::var(self.url_var()) {
            if !url.is_empty() {
                return url;
            }
        }
        let (scheme, port_var, port) = match self {
            Dialect::Postgres => ("postgres", "POSTGRES_PORT", "55432"),
            Dialect::Mysql => ("mysql", "MYSQL_PORT", "53306"),
        };
        let port = std::env::var(port_var).unwrap_or_else(|_| port.to_owned());
        format!("{scheme}://tessera:tessera-secret@127.0.0.1:{port}/tessera")
    }

    /// Fails the test, saying how to start the server, unless it accepts connections.
    pub fn require(self) {
        let url = Url::parse(&self.base_url());
        let addr = (url.host.as_str(), url.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .unwrap_or_else(|| panic!("cannot resolve {}:{}", url.host, url.port));
        if let Err(e) = TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            panic!(
                "{} is not reachable on {addr} ({e}). These tests need the real server: run \
                 `bash tests/services/{} start` and run them again.",
                self.server_name(),
                self.script_name()
            );
        }
    }

    pub fn server_name(self) -> &'static str {
        match self {
            Dialect::Postgres => "PostgreSQL",
            Dialect::Mysql => "MariaDB",
        }
    }

    /// Runs `bash tests/services/<script> ARGS`.
    pub fn run_script(self, args: &[&str]) -> Output {
        let script = self.script();
        Command::new("bash")
            .arg(&script)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {} {args:?}: {e}", script.display()))
    }

    /// Runs `statement` (one or more, `;`-separated) in the database `url` names and
    /// returns its rows, one a line, columns separated by tabs; `Err` with the client's
    /// output when it fails.
    pub fn try_sql(self, url: &str, statement: &str) -> Result<String, String> {
        let out = match self {
            Dialect::Postgres => self.run_script(&[
                "psql", "-d", url, "-q", "-A", "-t", "-F", "\t", "-c", statement,
            ]),
            Dialect::Mysql => {
                let u = Url::parse(url);
                let statement = if u.database.is_empty() {
                    statement.to_owned()
                } else {
                    format!("USE `{}`; {statement}", u.database)
                };
                self.run_script(&[
                    "sql",
                    "-h",
                    &u.host,
                    "-P",
                    &u.port.to_string(),
                    "-u",
                    &u.user,
                    &format!("--password={}", u.password),
                    "-N",
                    "-B",
                    "-e",
                    &statement,
                ])
            }
        };
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(describe(&out))
        }
    }

    /// `try_sql`, failing the test when the statement fails.
    pub fn sql(self, url: &str, statement: &str) -> String {
        self.try_sql(url, statement)
            .unwrap_or_else(|e| panic!("{} {statement:?} failed: {e}", self.server_name()))
    }
}

/// A finished command's exit status and output, for failure messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The parts of a database URL the command-line clients need.
#[derive(Debug, Clone)]
struct Url {
    scheme: String,
    user: String,
    password: String,
    host: String,
    port: u16,
    database: String,
    query: String,
}

impl Url {
    /// `scheme://user:password@host:port/database?query` (user, password, port, database
    /// and query optional).
    fn parse(url: &str) -> Url {
        let (scheme, rest) = url
            .split_once("://")
            .unwrap_or_else(|| panic!("not a URL: {url:?}"));
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = authority.rsplit_once('@').unwrap_or(("", authority));
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let default_port = if scheme.starts_with("postgres") {
            5432
        } else {
            3306
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse().unwrap_or_else(|_| panic!("bad port in {url:?}")),
            ),
            None => (hostport, default_port),
        };
        Url {
            scheme: scheme.to_owned(),
            user: percent_decode(user),
            password: percent_decode(password),
            host: host.to_owned(),
            port,
            database: percent_decode(database),
            query: query.to_owned(),
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// A test's own place in the server
// ---------------------------------------------------------------------------------------------

/// A test's own empty place: on PostgreSQL a schema `t_<tag>_<pid>` in the `tessera`
/// database, reached with `?options=-csearch_path%3D<schema>` in the URL; on MariaDB a
/// database `tessera_<tag>_<pid>`. Created (after dropping any leftover of the same name)
/// by `new`, dropped (best effort) on drop.
#[derive(Debug)]
pub struct Database {
    pub dialect: Dialect,
    /// The schema or database name.
    pub name: String,
    /// The URL Tessera is given (`[store.<dialect>] url`).
    pub url: String,
    /// The URL the place was created from (the server's `tessera` database).
    base_url: String,
}

impl Database {
    pub fn new(dialect: Dialect, tag: &str) -> Database {
        let base_url = dialect.base_url();
        let pid = std::process::id();
        let (name, url, create, drop) = match dialect {
            Dialect::Postgres => {
                let name = format!("t_{tag}_{pid}");
                let sep = if base_url.contains('?') { '&' } else { '?' };
                let url = format!("{base_url}{sep}options=-csearch_path%3D{name}");
                let create = format!("CREATE SCHEMA {name}");
                let drop = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
                (name, url, create, drop)
            }
            Dialect::Mysql => {
                let name = format!("tessera_{tag}_{pid}");
                let u = Url::parse(&base_url);
                let query = if u.query.is_empty() {
                    String::new()
                } else {
                    format!("?{}", u.query)
                };
                let (_, authority) = base_url.split_once("://").expect("scheme");
                let authority = authority.split('/').next().expect("authority");
                let url = format!("{}://{authority}/{name}{query}", u.scheme);
                let create = format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4");
                let drop = format!("DROP DATABASE IF EXISTS `{name}`");
                (name, url, create, drop)
            }
        };
        assert!(
            name.len() <= 63
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "bad schema/database name {name:?} (lower-case letters, digits, _; at most 63)"
        );
        dialect.sql(&base_url, &format!("{drop}; {create}"));
        Database {
            dialect,
            name,
            url,
            base_url,
        }
    }

    /// Runs `statement` in this place; returns its rows (see `Dialect::sql`).
    pub fn sql(&self, statement: &str) -> String {
        self.dialect.sql(&self.url, statement)
    }

    /// The tables in this place, sorted.
    pub fn tables(&self) -> Vec<String> {
        let rows = match self.dialect {
            Dialect::Postgres => self.sql(&format!(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = '{}' \
                 ORDER BY 1",
                self.name
            )),
            Dialect::Mysql => self.sql(&format!(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = '{}' \
                 ORDER BY 1",
                self.name
            )),
        };
        rows.lines().map(|l| l.trim().to_lowercase()).collect()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let drop = match self.dialect {
            Dialect::Postgres => format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
            Dialect::Mysql => format!("DROP DATABASE IF EXISTS `{}`", self.name),
        };
        if let Err(e) = self.dialect.try_sql(&self.base_url, &drop) {
            eprintln!("could not drop {} (left behind): {e}", self.name);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sharing a server with the tests that stop it
// ---------------------------------------------------------------------------------------------

/// Per dialect: taken for reading by every test that uses the server, for writing by a test
/// that stops it.
static POSTGRES: RwLock<()> = RwLock::new(());
static MYSQL: RwLock<()> = RwLock::new(());

/// How long a test waits for another test process to let go of a server.
const LOCK_WAIT: Duration = Duration::from_secs(600);

/// A flock(2) on `tessera-test-<dialect>-<port>.lock` in the temp dir (one per server
/// instance), shared or exclusive, held until dropped: orders tests of different processes
/// (two `cargo test` runs, the store's tests and the black-box tests) on one server, as the
/// static locks order the threads of one process. A person restarting a server by hand
/// while tests run takes it too: `flock -x /tmp/tessera-test-postgres-55432.lock bash
/// tests/services/postgres.sh restart` (the scripts close inherited descriptors before
/// starting the server, so the server does not keep the lock). Taken with flock(1) on a duplicate of our descriptor: the lock belongs to
/// the open file description, so it stays held after flock(1) exits, until `_file` closes.
struct ProcessLock {
    _file: std::fs::File,
}

impl ProcessLock {
    fn take(dialect: Dialect, exclusive: bool) -> ProcessLock {
        let server = Url::parse(&dialect.base_url());
        let path = std::env::temp_dir().join(format!(
            "tessera-test-{}-{}.lock",
            dialect.name(),
            server.port
        ));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        let dup = file.try_clone().expect("dup lock file descriptor");
        let status = Command::new("flock")
            .arg(if exclusive { "-x" } else { "-s" })
            .args(["-w", &LOCK_WAIT.as_secs().to_string()])
            .arg("0")
            .stdin(Stdio::from(dup))
            .status()
            .unwrap_or_else(|e| panic!("run flock(1) on {}: {e}", path.display()));
        assert!(
            status.success(),
            "flock {} failed or timed out after {LOCK_WAIT:?} ({status:?}): another test \
             process holds {} (`fuser {}` names it)",
            path.display(),
            dialect.server_name(),
            path.display()
        );
        ProcessLock { _file: file }
    }
}

fn thread_lock(dialect: Dialect) -> &'static RwLock<()> {
    match dialect {
        Dialect::Postgres => &POSTGRES,
        Dialect::Mysql => &MYSQL,
    }
}

/// The server, shared with the other tests that only use it.
pub struct SharedServer {
    _process: ProcessLock,
    _thread: RwLockReadGuard<'static, ()>,
}

/// The server to this test alone (it stops it).
pub struct ExclusiveServer {
    pub dialect: Dialect,
    _process: ProcessLock,
    _thread: RwLockWriteGuard<'static, ()>,
}

/// Shares the server with the other tests that only use it; fails when it is not running.
/// Both guards take the thread lock first and the process lock second; any other order
/// deadlocks against a test that stops the server.
pub fn shared_server(dialect: Dialect) -> SharedServer {
    let thread = thread_lock(dialect)
        .read()
        .unwrap_or_else(PoisonError::into_inner);
    let process = ProcessLock::take(dialect, false);
    dialect.require();
    SharedServer {
        _process: process,
        _thread: thread,
    }
}

/// Waits until no other test uses the server, then has it alone; fails when it is not
/// running.
pub fn exclusive_server(dialect: Dialect) -> ExclusiveServer {
    let thread = thread_lock(dialect)
        .write()
        .unwrap_or_else(PoisonError::into_inner);
    let process = ProcessLock::take(dialect, true);
    dialect.require();
    ExclusiveServer {
        dialect,
        _process: process,
        _thread: thread,
    }
}

/// Starts the server again when dropped while armed (an outage test stops it).
pub struct RestartServer {
    dialect: Dialect,
    armed: bool,
}

impl RestartServer {
    /// Starts the server; returns once it answers queries.
    pub fn start_now(&mut self) {
        let out = self.dialect.run_script(&["start"]);
        assert!(
            out.status.success(),
            "{} start failed: {}",
            self.dialect.script_name(),
            describe(&out)
        );
        self.armed = false;
    }
}

impl Drop for RestartServer {
    fn drop(&mut self) {
        if self.armed {
            eprintln!(
                "starting {} again after a failed outage test ...",
                self.dialect.server_name()
            );
            let out = self.dialect.run_script(&["start"]);
            if !out.status.success() {
                eprintln!(
                    "{} start failed: {}",
                    self.dialect.script_name(),
                    describe(&out)
                );
            }
        }
    }
}

impl ExclusiveServer {
    /// Stops the server (clean shutdown: open connections are closed by the server); the
    /// returned guard starts it again if the test ends before `start_now`.
    pub fn stop(&self) -> RestartServer {
        let restart = RestartServer {
            dialect: self.dialect,
            armed: true,
        };
        let out = self.dialect.run_script(&["stop"]);
        assert!(
            out.status.success(),
            "{} stop failed: {}",
            self.dialect.script_name(),
            describe(&out)
        );
        restart
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts_for_the_command_line_clients() {
        let u = Url::parse("mysql://tessera:tess%40ra@127.0.0.1:53306/tessera_x?ssl-mode=disabled");
        assert_eq!(
            (
                u.user.as_str(),
                u.password.as_str(),
                u.host.as_str(),
                u.port
            ),
            ("tessera", "tess@ra", "127.0.0.1", 53306)
        );
        assert_eq!(
            (u.database.as_str(), u.query.as_str()),
            ("tessera_x", "ssl-mode=disabled")
        );
        let u = Url::parse("postgres://db.example/tessera");
        assert_eq!(
            (u.user.as_str(), u.port, u.database.as_str()),
            ("", 5432, "tessera")
        );
    }
}
