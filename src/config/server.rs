//! `[server]` (listening, workers, limits, I/O driver) and `[log]`: their keys, defaults and
//! checks. Touches nothing outside these two sections.

use super::error::ConfigError;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DriverKind {
    /// io_uring where the kernel allows it, else epoll. The default because io_uring
    /// measured less server CPU per client_credentials and tokeninfo request than epoll
    /// (`bench/drivers.sh`, issue 17); epoll wins only on the bare `/health` floor.
    #[default]
    Auto,
    IoUring,
    Epoll,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The main listener: TLS when `[server.tls]` is set, else plain HTTP (behind a proxy
    /// that terminates TLS).
    pub listen: SocketAddr,
    /// An optional second, plain-HTTP listener beside the TLS one that serves only
    /// `/health` and `/metrics` (load-balancer checks, Prometheus); every other path
    /// answers 403 there. Needs `[server.tls]`.
    pub listen_plain: Option<SocketAddr>,
    /// TLS on `listen` (RFC 6749 §3.2: the token endpoint requires TLS).
    pub tls: Option<TlsConfig>,
    /// Worker threads, each a single-threaded runtime with its own listener; 0 = one per core.
    pub workers: usize,
    pub max_body_bytes: usize,
    /// An idle keep-alive connection is closed after this long.
    pub keepalive_timeout_secs: u64,
    /// A request must arrive whole within this long of its first byte, else 408.
    pub request_timeout_secs: u64,
    /// A new connection that has not begun its first request (nor, with TLS, finished its
    /// handshake) this long after it was accepted is closed without a response, instead of
    /// being held for the keep-alive timeout: a flood of connections that never send a byte
    /// then holds each for seconds, not a minute. Default 5 s: a real client sends its request
    /// (or TLS ClientHello) within one round trip of connecting, so seconds is generous even
    /// across continents (HAProxy's documentation suggests a few seconds for its
    /// `timeout http-request`; nginx waits 60 s by default, which is what makes floods cheap).
    /// 1 to 86400; the shorter of it and `keepalive_timeout_secs` applies (a connection that
    /// has not asked for anything yet gets no more patience than one that has), so a config
    /// with a short keep-alive timeout stays valid without naming this key.
    pub first_request_timeout_secs: u64,
    /// At most this many open connections per worker. At the limit, the connection idle
    /// longest (waiting for its first request or between keep-alive requests) is closed to
    /// make room; a new connection is refused with 503 only when none is idle. An idle
    /// connection costs about 12 KiB of the server's resident memory (measured with 10 000:
    /// 12.3 KiB never-sent, 12.5 KiB keep-alive idle; mostly its 4 KiB read buffer and its
    /// task; bench/RESULTS.md, "Connection floods"), plus the kernel's socket buffers; its
    /// file descriptor counts against RLIMIT_NOFILE, which the server raises to the hard limit
    /// at start-up.
    pub max_connections_per_worker: usize,
    /// At most this many open connections from one source address (IPv6: one /64) across all
    /// workers; further ones are closed at once. 0 = unlimited. Default 1024: far above what a
    /// browser (6) or a connection-pooling API client opens, and small enough that one
    /// address cannot fill a worker (default 10 000). Behind a load balancer or a NAT every
    /// client shares the balancer's address: raise the limit above the balancer's connection
    /// pool, or set 0 and enforce the limit at the balancer.
    pub max_connections_per_address: usize,
    /// On SIGTERM/SIGINT, in-flight requests get this long to finish.
    pub shutdown_grace_secs: u64,
    pub driver: DriverKind,
    /// Pin worker N to core N.
    pub pin_cores: bool,
    /// The realm in `WWW-Authenticate` challenges.
    pub realm: String,
    /// Threads that verify argon2id passwords, so workers never stall on them; 0 = half the cores.
    pub password_hash_threads: usize,
    /// Test only: the last worker panics this many milliseconds after it starts serving
    /// (0 = never), so tests can see what a failing worker does to the server. Keep 0.
    pub test_panic_worker_after_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            listen_plain: None,
            tls: None,
            workers: 0,
            max_body_bytes: 64 * 1024,
            keepalive_timeout_secs: 60,
            request_timeout_secs: 10,
            first_request_timeout_secs: 5,
            max_connections_per_worker: 10_000,
            max_connections_per_address: 1024,
            shutdown_grace_secs: 10,
            driver: DriverKind::Auto,
            pin_cores: false,
            realm: "tessera".to_owned(),
            password_hash_threads: 0,
            test_panic_worker_after_ms: 0,
        }
    }
}

impl ServerConfig {
    /// `first_request_timeout_secs`, capped at the keep-alive timeout.
    pub fn first_request_timeout_secs(&self) -> u64 {
        self.first_request_timeout_secs
            .min(self.keepalive_timeout_secs)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.workers > 1024 {
            return Err(ConfigError::new("server.workers", "at most 1024"));
        }
        if !(1..=16 * 1024 * 1024).contains(&self.max_body_bytes) {
            return Err(ConfigError::new(
                "server.max_body_bytes",
                "must be between 1 and 16777216",
            ));
        }
        for (key, v) in [
            ("server.keepalive_timeout_secs", self.keepalive_timeout_secs),
            ("server.request_timeout_secs", self.request_timeout_secs),
            (
                "server.first_request_timeout_secs",
                self.first_request_timeout_secs,
            ),
            ("server.shutdown_grace_secs", self.shutdown_grace_secs),
        ] {
            check_secs(key, v)?;
        }
        if self.listen_plain.is_some() && self.tls.is_none() {
            return Err(ConfigError::new(
                "server.listen_plain",
                "is the plain listener beside a TLS one: set [server.tls] too (without TLS, `server.listen` is already plain)",
            ));
        }
        if let Some(plain) = self.listen_plain {
            if plain == self.listen && plain.port() != 0 {
                return Err(ConfigError::new(
                    "server.listen_plain",
                    "must differ from server.listen",
                ));
            }
        }
        if let Some(tls) = &self.tls {
            for (key, path) in [
                ("server.tls.cert_file", &tls.cert_file),
                ("server.tls.key_file", &tls.key_file),
            ] {
                if path.as_os_str().is_empty() {
                    return Err(ConfigError::new(key, "must name a PEM file"));
                }
            }
        }
        if self.max_connections_per_worker == 0 {
            return Err(ConfigError::new(
                "server.max_connections_per_worker",
                "must be at least 1",
            ));
        }
        if self.realm.is_empty()
            || !self
                .realm
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        {
            return Err(ConfigError::new(
                "server.realm",
                "must be printable ASCII without quotes or backslashes",
            ));
        }
        Ok(())
    }
}

/// `[server.tls]`: the certificate and key of the main listener. The files are read at
/// start-up, by `check-config`, and again on SIGHUP (see `crate::tls`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM: the server certificate first, then any intermediates.
    pub cert_file: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 RSA or SEC1 EC) matching the certificate.
    pub key_file: PathBuf,
    /// The oldest TLS version accepted.
    #[serde(default)]
    pub min_version: TlsVersion,
}

/// `server.tls.min_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    Tls13,
}

/// A period in whole seconds, from one second to a day.
pub(super) fn check_secs(key: &str, v: u64) -> Result<(), ConfigError> {
    if v == 0 || v > 86_400 {
        return Err(ConfigError::new(key, "must be between 1 and 86400"));
    }
    Ok(())
}

/// `[log]`: what is logged (a filter) and how each line is written (a format). Everything
/// goes to stderr; the audit events (`crate::audit`) are the target `tessera::audit` of the
/// same stream, so the filter turns them off (`"info,tessera::audit=off"`) or keeps only
/// them (`"off,tessera::audit=info"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter (`info`, `tessera=debug`); `RUST_LOG` overrides it.
    pub level: String,
    /// How each line is written.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

impl LogConfig {
    /// The filter must parse: a typo would otherwise fall back to `info` unnoticed, and an
    /// operator who meant to turn the audit target off would still get it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        tracing_subscriber::EnvFilter::try_new(&self.level)
            .map(drop)
            .map_err(|e| ConfigError::new("log.level", format!("not a tracing filter: {e}")))
    }
}

/// `[log] format`: the shape of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One human-readable line per event: time, level, target, message, `key=value` fields.
    #[default]
    Text,
    /// One JSON object per line, for log shippers: `timestamp`, `level`, `target`,
    /// `message` and the event's fields at the top level.
    Json,
}

#[cfg(test)]
mod tests {
    use super::super::load::err_at;

    #[test]
    fn first_request_timeout_is_capped_at_the_keepalive_timeout() {
        let short_keepalive = super::ServerConfig {
            keepalive_timeout_secs: 1,
            ..Default::default()
        };
        short_keepalive
            .validate()
            .expect("valid without naming the new key");
        assert_eq!(short_keepalive.first_request_timeout_secs(), 1);
        assert_eq!(
            super::ServerConfig::default().first_request_timeout_secs(),
            5
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("lisen = \"127.0.0.1:1\"", "server.lisen"),
            ("listen = \"nowhere\"", "server.listen"),
            ("workers = 2000", "server.workers"),
            (
                "keepalive_timeout_secs = 0",
                "server.keepalive_timeout_secs",
            ),
            ("realm = \"a\\\"b\"", "server.realm"),
            ("listen_plain = \"127.0.0.1:9\"", "server.listen_plain"),
            ("[server.tls]\nkey_file = \"k.pem\"", "server.tls"),
            (
                "[server.tls]\ncert_file = \"c\"\nkey_file = \"k\"\nmin_version = \"1.1\"",
                "server.tls.min_version",
            ),
            (
                "[server.tls]\ncert_file = \"\"\nkey_file = \"k\"",
                "server.tls.cert_file",
            ),
            (
                "first_request_timeout_secs = 0",
                "server.first_request_timeout_secs",
            ),
        ] {
            err_at(&format!("[server]\n{text}\n"), key);
        }
    }
}
