//! `[admin]`: the administration listener — where it listens, the hash of the bearer token
//! every management call must carry, whether `/metrics` moves there, and its optional TLS
//! with client certificates (`[admin.tls]`). Touches nothing outside `[admin]`; the
//! listener itself is `crate::admin_api`.

use super::error::ConfigError;
use crate::oauth::secret::SecretHash;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// The admin listener's address; no admin listener when absent. Never the public
    /// listener's: management calls and client ids in metrics stay off the public port.
    pub listen: Option<SocketAddr>,
    /// The HMAC-SHA256 hash (`tessera hash-secret`) of the bearer token management calls
    /// carry (`Authorization: Bearer ...`). Required with `listen`.
    pub admin_token_hash: Option<String>,
    /// Serve `/metrics` on the admin listener only (its series name client ids); the
    /// public and plain listeners then answer 404 for it.
    pub metrics: bool,
    /// TLS on the admin listener; with `client_ca_file`, mutual TLS.
    pub tls: Option<AdminTlsConfig>,
}

/// `[admin.tls]`: PEM files read at start-up and by `check-config`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminTlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// PEM certificates of the CAs whose client certificates the admin listener accepts.
    /// When set, a client without such a certificate fails the handshake (mutual TLS),
    /// and the bearer token is still required.
    pub client_ca_file: Option<PathBuf>,
}

impl AdminConfig {
    pub(super) fn validate(
        &self,
        public: SocketAddr,
        plain: Option<SocketAddr>,
    ) -> Result<(), ConfigError> {
        let Some(listen) = self.listen else {
            if self.admin_token_hash.is_some() || self.tls.is_some() {
                return Err(ConfigError::new(
                    "admin.listen",
                    "is needed for the other [admin] keys to take effect",
                ));
            }
            if self.metrics {
                return Err(ConfigError::new(
                    "admin.metrics",
                    "moves /metrics to the admin listener, so it needs admin.listen",
                ));
            }
            return Ok(());
        };
        let clash = |other: SocketAddr| {
            other.port() != 0
                && other.port() == listen.port()
                && (other.ip() == listen.ip()
                    || other.ip().is_unspecified()
                    || listen.ip().is_unspecified())
        };
        if clash(public) || plain.is_some_and(clash) {
            return Err(ConfigError::new(
                "admin.listen",
                format!("{listen} is a public listener's address; the admin listener must be a port of its own"),
            ));
        }
        match &self.admin_token_hash {
            None => Err(ConfigError::new(
                "admin.admin_token_hash",
                "is required with admin.listen (the hash of the admin bearer token, from tessera hash-secret)",
            )),
            Some(h) => SecretHash::parse(h)
                .map(|_| ())
                .map_err(|m| ConfigError::new("admin.admin_token_hash", m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    fn with_listen(listen: &str) -> AdminConfig {
        AdminConfig {
            listen: Some(addr(listen)),
            admin_token_hash: Some(SecretHash::new(b"admin-token").to_string()),
            ..AdminConfig::default()
        }
    }

    #[test]
    fn absent_admin_section_is_valid_and_off() {
        assert!(AdminConfig::default()
            .validate(addr("0.0.0.0:8080"), None)
            .is_ok());
    }

    #[test]
    fn admin_listener_needs_a_token_hash() {
        let c = AdminConfig {
            admin_token_hash: None,
            ..with_listen("127.0.0.1:9090")
        };
        let e = c.validate(addr("0.0.0.0:8080"), None).expect_err("no hash");
        assert_eq!(e.key, "admin.admin_token_hash");
    }

    #[test]
    fn a_token_hash_that_does_not_parse_is_refused() {
        let c = AdminConfig {
            admin_token_hash: Some("not-a-hash".to_owned()),
            ..with_listen("127.0.0.1:9090")
        };
        let e = c
            .validate(addr("0.0.0.0:8080"), None)
            .expect_err("bad hash");
        assert_eq!(e.key, "admin.admin_token_hash");
    }

    #[test]
    fn admin_listener_may_not_share_the_public_port() {
        let c = with_listen("127.0.0.1:8080");
        let e = c
            .validate(addr("0.0.0.0:8080"), None)
            .expect_err("same port");
        assert_eq!(e.key, "admin.listen");
        let e = with_listen("127.0.0.1:8081")
            .validate(addr("0.0.0.0:8080"), Some(addr("0.0.0.0:8081")))
            .expect_err("same port as the plain listener");
        assert_eq!(e.key, "admin.listen");
        assert!(with_listen("127.0.0.1:9090")
            .validate(addr("0.0.0.0:8080"), None)
            .is_ok());
    }

    #[test]
    fn metrics_on_the_admin_listener_need_the_listener() {
        let c = AdminConfig {
            metrics: true,
            ..AdminConfig::default()
        };
        let e = c
            .validate(addr("0.0.0.0:8080"), None)
            .expect_err("no listener");
        assert_eq!(e.key, "admin.metrics");
    }
}
