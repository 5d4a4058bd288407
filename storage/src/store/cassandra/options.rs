//! How to reach the cluster: [`CassandraOptions`] (built by the server from `[store.cassandra]`),
//! the consistency [`Level`]s, [`TlsOptions`], and turning them into a driver session —
//! contact points, login, the OpenSSL TLS context, the local-datacenter check.
//!
//! Touches only the driver's session builder and OpenSSL; no table, no statement. Runs on
//! the driver's runtime (called from [`super::CassandraStore::open`] and `migrate`).

use super::WriteBatching;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::Consistency;
use std::path::PathBuf;
use std::time::Duration;

/// Consistency levels, named as in CQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Any,
    One,
    Two,
    Three,
    Quorum,
    All,
    LocalQuorum,
    EachQuorum,
    LocalOne,
}

impl Level {
    /// Parses a CQL level name (case-insensitive).
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_uppercase().as_str() {
            "ANY" => Level::Any,
            "ONE" => Level::One,
            "TWO" => Level::Two,
            "THREE" => Level::Three,
            "QUORUM" => Level::Quorum,
            "ALL" => Level::All,
            "LOCAL_QUORUM" => Level::LocalQuorum,
            "EACH_QUORUM" => Level::EachQuorum,
            "LOCAL_ONE" => Level::LocalOne,
            _ => return None,
        })
    }

    pub(super) fn driver(self) -> Consistency {
        match self {
            Level::Any => Consistency::Any,
            Level::One => Consistency::One,
            Level::Two => Consistency::Two,
            Level::Three => Consistency::Three,
            Level::Quorum => Consistency::Quorum,
            Level::All => Consistency::All,
            Level::LocalQuorum => Consistency::LocalQuorum,
            Level::EachQuorum => Consistency::EachQuorum,
            Level::LocalOne => Consistency::LocalOne,
        }
    }
}

/// TLS to the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// CA bundle (PEM) to verify the nodes against; the system's roots when absent.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Verify the nodes' certificates (leave on outside tests).
    pub verify: bool,
}

/// How to reach the cluster; built by the server from `[store.cassandra]`. Its `Debug`
/// never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct CassandraOptions {
    pub contact_points: Vec<String>,
    pub keyspace: String,
    pub local_datacenter: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: Option<TlsOptions>,
    pub read_consistency: Level,
    pub write_consistency: Level,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub write_batching: WriteBatching,
    /// Milliseconds added to this node's write clock (the `USING TIMESTAMP` of deletes).
    /// Only for tests of clock skew between nodes; keep 0.
    pub test_clock_offset_ms: i64,
}

impl std::fmt::Debug for CassandraOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CassandraOptions")
            .field("contact_points", &self.contact_points)
            .field("keyspace", &self.keyspace)
            .field("local_datacenter", &self.local_datacenter)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .field("read_consistency", &self.read_consistency)
            .field("write_consistency", &self.write_consistency)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("write_batching", &self.write_batching)
            .finish()
    }
}

pub(super) async fn connect(opts: &CassandraOptions) -> Result<Session, String> {
    let profile = ExecutionProfile::builder()
        .consistency(opts.read_consistency.driver())
        .request_timeout(Some(opts.request_timeout))
        .build()
        .into_handle();
    let mut builder = SessionBuilder::new()
        .known_nodes(&opts.contact_points)
        .connection_timeout(opts.connect_timeout)
        .default_execution_profile_handle(profile);
    if let Some(dc) = &opts.local_datacenter {
        builder = builder.prefer_datacenter(dc.clone());
    }
    if let (Some(user), Some(password)) = (&opts.username, &opts.password) {
        builder = builder.user(user.clone(), password.clone());
    }
    if let Some(tls) = &opts.tls {
        builder = builder.tls_context(Some(tls_context(tls)?));
    }
    let session = builder.build().await.map_err(|e| e.to_string())?;
    if let Some(dc) = &opts.local_datacenter {
        check_datacenter(&session, dc)?;
    }
    Ok(session)
}

/// Refuses a `local_datacenter` the cluster does not have: the driver would accept it and
/// then fail every `LOCAL_*` request with an empty query plan, long after start-up.
fn check_datacenter(session: &Session, dc: &str) -> Result<(), String> {
    let state = session.get_cluster_state();
    let mut known: Vec<&str> = state
        .get_nodes_info()
        .iter()
        .filter_map(|n| n.datacenter.as_deref())
        .collect();
    if known.contains(&dc) {
        return Ok(());
    }
    known.sort_unstable();
    known.dedup();
    Err(format!(
        "local_datacenter {dc:?} is not a datacenter of this cluster (its nodes are in: {})",
        if known.is_empty() {
            "none reported".to_owned()
        } else {
            known.join(", ")
        }
    ))
}

fn tls_context(tls: &TlsOptions) -> Result<openssl::ssl::SslContext, String> {
    use openssl::ssl::{SslContextBuilder, SslFiletype, SslMethod, SslVerifyMode};
    let mut b = SslContextBuilder::new(SslMethod::tls_client()).map_err(|e| e.to_string())?;
    if let Some(ca) = &tls.ca_file {
        b.set_ca_file(ca)
            .map_err(|e| format!("tls ca_file {}: {e}", ca.display()))?;
    } else {
        b.set_default_verify_paths().map_err(|e| e.to_string())?;
    }
    if let Some(cert) = &tls.cert_file {
        b.set_certificate_chain_file(cert)
            .map_err(|e| format!("tls cert_file {}: {e}", cert.display()))?;
    }
    if let Some(key) = &tls.key_file {
        b.set_private_key_file(key, SslFiletype::PEM)
            .map_err(|e| format!("tls key_file {}: {e}", key.display()))?;
    }
    b.set_verify(if tls.verify {
        SslVerifyMode::PEER
    } else {
        SslVerifyMode::NONE
    });
    Ok(b.build())
}
