//! The main listener's TLS (`[server.tls]`): the certificate chain and private key read
//! from their PEM files into a rustls `ServerConfig`, and that config replaced on SIGHUP.
//!
//! Start-up and `check-config` call [`load`], so a missing, unreadable or mismatched pair
//! stops the server before it listens, naming the key. [`TlsState::reload`] reads the
//! files again: a good pair replaces the config (new connections get it, open ones keep
//! theirs); a bad one is refused and the old one stays. The session-ticket keys and the
//! TLS 1.2 session cache outlive reloads, so clients keep resuming across a certificate
//! change, and they are shared by every worker, so a client resumes whichever worker the
//! kernel hands its next connection to.
//!
//! The admin listener's TLS (`[admin.tls]`) is built the same way, with client certificates
//! required and checked against `client_ca_file` when it is set (mutual TLS).
//!
//! Reads only the files it is given; the handshake itself is `crate::http::tls`.

use crate::config::{AdminTlsConfig, TlsConfig, TlsVersion};
use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ProducesTickets, ServerSessionMemoryCache, StoresServerSessions};
use rustls::ServerConfig;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// TLS 1.2 sessions remembered for resumption by session id (clients without tickets);
/// a few hundred bytes each.
const SESSION_CACHE_ENTRIES: usize = 4096;
/// Tickets sent after a TLS 1.3 handshake. One is enough for a client that reconnects
/// after closing (each resumption brings a fresh one); every ticket costs an encryption.
const TLS13_TICKETS: usize = 1;

/// Why a certificate and key cannot be used; names the config key at fault.
#[derive(Debug)]
pub struct TlsError {
    key: String,
    message: String,
}

impl TlsError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> TlsError {
        TlsError {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The config key at fault (`server.tls.cert_file`, `admin.tls.client_ca_file`, ...).
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// The files a listener's TLS is read from, and the config section naming them.
#[derive(Debug, Clone)]
pub struct Files {
    /// `server.tls` or `admin.tls`: errors name `{section}.cert_file`, ...
    section: &'static str,
    pub cert_file: std::path::PathBuf,
    key_file: std::path::PathBuf,
    min_version: TlsVersion,
    /// Mutual TLS: client certificates must chain to one of these CAs.
    client_ca_file: Option<std::path::PathBuf>,
}

impl Files {
    fn key(&self, name: &str) -> String {
        format!("{}.{name}", self.section)
    }
}

impl From<&TlsConfig> for Files {
    fn from(c: &TlsConfig) -> Files {
        Files {
            section: "server.tls",
            cert_file: c.cert_file.clone(),
            key_file: c.key_file.clone(),
            min_version: c.min_version,
            client_ca_file: None,
        }
    }
}

impl From<&AdminTlsConfig> for Files {
    fn from(c: &AdminTlsConfig) -> Files {
        Files {
            section: "admin.tls",
            cert_file: c.cert_file.clone(),
            key_file: c.key_file.clone(),
            min_version: TlsVersion::Tls12,
            client_ca_file: c.client_ca_file.clone(),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for TlsError {}

/// The listener's TLS configuration, replaceable while the server runs.
pub struct TlsState {
    files: Files,
    current: ArcSwap<ServerConfig>,
    ticketer: Arc<dyn ProducesTickets>,
    sessions: Arc<dyn StoresServerSessions>,
}

impl fmt::Debug for TlsState {
    // The config holds the private key: only the file names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsState")
            .field("cert_file", &self.files.cert_file)
            .field("key_file", &self.files.key_file)
            .field("min_version", &self.files.min_version)
            .field("client_ca_file", &self.files.client_ca_file)
            .finish_non_exhaustive()
    }
}

/// Reads `[server.tls]`'s files and builds the main listener's TLS configuration.
pub fn load(files: &TlsConfig) -> Result<TlsState, TlsError> {
    load_files(files.into())
}

/// Reads `[admin.tls]`'s files and builds the admin listener's TLS configuration.
pub fn load_admin(files: &AdminTlsConfig) -> Result<TlsState, TlsError> {
    load_files(files.into())
}

fn load_files(files: Files) -> Result<TlsState, TlsError> {
    let ticketer = rustls::crypto::ring::Ticketer::new()
        .map_err(|e| TlsError::new(files.section, format!("cannot make ticket keys: {e}")))?;
    let sessions: Arc<dyn StoresServerSessions> =
        ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES);
    let config = build(&files, &ticketer, &sessions)?;
    Ok(TlsState {
        files,
        current: ArcSwap::from_pointee(config),
        ticketer,
        sessions,
    })
}

impl TlsState {
    /// The configuration a new connection's handshake uses.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current.load_full()
    }

    /// Reads the files again; on success new connections use the new pair, on error
    /// nothing changes.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = build(&self.files, &self.ticketer, &self.sessions)?;
        self.current.store(Arc::new(config));
        Ok(())
    }

    /// The files it reads (for log lines).
    pub fn files(&self) -> &Files {
        &self.files
    }
}

fn build(
    files: &Files,
    ticketer: &Arc<dyn ProducesTickets>,
    sessions: &Arc<dyn StoresServerSessions>,
) -> Result<ServerConfig, TlsError> {
    let chain = read_chain(files)?;
    let key = read_key(files)?;
    let versions: &[&rustls::SupportedProtocolVersion] = match files.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::new(files.key("min_version"), e.to_string()))?;
    let builder = match &files.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(path) => builder.with_client_cert_verifier(client_verifier(files, path, provider)?),
    };
    let mut config = builder
        // rustls compares the key's public half with the certificate's: a key that does
        // not belong to the certificate is refused here, not at the first handshake.
        .with_single_cert(chain, key)
        .map_err(|e| {
            TlsError::new(
                files.key("key_file"),
                format!(
                    "{} cannot be used with the certificate in {}: {e}",
                    files.key_file.display(),
                    files.cert_file.display()
                ),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ticketer = Arc::clone(ticketer);
    config.session_storage = Arc::clone(sessions);
    config.send_tls13_tickets = TLS13_TICKETS;
    Ok(config)
}

/// Client certificates must chain to one of the CAs in `path`; a client without one fails
/// the handshake.
fn client_verifier(
    files: &Files,
    path: &Path,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let key = files.key("client_ca_file");
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(&key, path)? {
        roots.add(cert).map_err(|e| {
            TlsError::new(
                &key,
                format!("{}: not a usable CA certificate: {e}", path.display()),
            )
        })?;
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| TlsError::new(&key, e.to_string()))
}

fn read_chain(files: &Files) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    certificates(&files.key("cert_file"), &files.cert_file)
}

/// The CERTIFICATE blocks of a PEM file; at least one.
fn certificates(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(key, path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(key, format!("{}: bad PEM: {e}", path.display())))?;
    if chain.is_empty() {
        return Err(TlsError::new(
            key,
            format!("{} holds no CERTIFICATE block", path.display()),
        ));
    }
    Ok(chain)
}

fn read_key(files: &Files) -> Result<PrivateKeyDer<'static>, TlsError> {
    let key = files.key("key_file");
    let path = &files.key_file;
    let pem = read(&key, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        TlsError::new(
            key,
            format!(
                "{} holds no usable private key (PKCS#8, RSA or EC PEM): {e}",
                path.display()
            ),
        )
    })
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path)
        .map_err(|e| TlsError::new(key, format!("cannot read {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    struct Dir(PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("tessera-tls-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&p).expect("temp dir");
        Dir(p)
    }

    /// A self-signed certificate and its key, written as PEM files in `d`.
    fn pair(d: &Dir, name: &str, alg: &'static rcgen::SignatureAlgorithm) -> TlsConfig {
        let key = rcgen::KeyPair::generate_for(alg).expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("self-signed");
        let cert_file = d.0.join(format!("{name}.crt"));
        let key_file = d.0.join(format!("{name}.key"));
        std::fs::write(&cert_file, cert.pem()).expect("write cert");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        TlsConfig {
            cert_file,
            key_file,
            min_version: TlsVersion::Tls12,
        }
    }

    #[test]
    fn ecdsa_and_rsa_pairs_load_with_alpn_http11_and_tickets() {
        let d = dir("load");
        for (name, files) in [
            ("ec", pair(&d, "ec", &rcgen::PKCS_ECDSA_P256_SHA256)),
            ("rsa", rsa_pair(&d)),
        ] {
            let state = load(&files).unwrap_or_else(|e| panic!("{name}: {e}"));
            let config = state.current();
            assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
            assert!(config.ticketer.enabled(), "{name}: tickets on");
        }
    }

    /// An RSA pair from the system's openssl (rcgen with ring only signs with RSA keys it
    /// is given).
    fn rsa_pair(d: &Dir) -> TlsConfig {
        let key_file = d.0.join("rsa.key");
        let cert_file = d.0.join("rsa.crt");
        let status = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-days",
                "2",
            ])
            .arg("-keyout")
            .arg(&key_file)
            .arg("-out")
            .arg(&cert_file)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run openssl");
        assert!(status.success(), "openssl req failed");
        TlsConfig {
            cert_file,
            key_file,
            min_version: TlsVersion::Tls12,
        }
    }

    #[test]
    fn a_key_that_does_not_belong_to_the_certificate_is_refused_naming_key_file() {
        let d = dir("mismatch");
        let a = pair(&d, "a", &rcgen::PKCS_ECDSA_P256_SHA256);
        let b = pair(&d, "b", &rcgen::PKCS_ECDSA_P256_SHA256);
        let crossed = TlsConfig {
            cert_file: a.cert_file,
            key_file: b.key_file,
            min_version: TlsVersion::Tls12,
        };
        let e = load(&crossed).expect_err("mismatched pair");
        assert_eq!(e.key(), "server.tls.key_file", "{e}");
    }

    #[test]
    fn missing_or_empty_files_name_their_key() {
        let d = dir("missing");
        let good = pair(&d, "good", &rcgen::PKCS_ECDSA_P256_SHA256);
        let missing = TlsConfig {
            cert_file: d.0.join("nope.crt"),
            ..good.clone()
        };
        let e = load(&missing).expect_err("missing cert");
        assert_eq!(e.key(), "server.tls.cert_file");
        assert!(e.to_string().contains("cannot read"), "{e}");

        let empty = d.0.join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        let e = load(&TlsConfig {
            cert_file: empty.clone(),
            ..good.clone()
        })
        .expect_err("empty cert");
        assert_eq!(e.key(), "server.tls.cert_file");
        let e = load(&TlsConfig {
            key_file: empty,
            ..good
        })
        .expect_err("empty key");
        assert_eq!(e.key(), "server.tls.key_file");
    }

    #[test]
    fn reload_takes_a_good_pair_and_keeps_the_old_one_on_a_bad_pair() {
        let d = dir("reload");
        let files = pair(&d, "live", &rcgen::PKCS_ECDSA_P256_SHA256);
        let state = load(&files).expect("load");
        let first = state.current();

        let next = pair(&d, "next", &rcgen::PKCS_ECDSA_P256_SHA256);
        std::fs::copy(&next.cert_file, &files.cert_file).expect("copy cert");
        std::fs::copy(&next.key_file, &files.key_file).expect("copy key");
        state.reload().expect("good pair");
        let second = state.current();
        assert!(!Arc::ptr_eq(&first, &second), "replaced");

        // Certificate replaced, key not (yet): a mismatched pair.
        let other = pair(&d, "other", &rcgen::PKCS_ECDSA_P256_SHA256);
        std::fs::copy(&other.cert_file, &files.cert_file).expect("copy cert");
        let e = state.reload().expect_err("mismatch refused");
        assert_eq!(e.key(), "server.tls.key_file");
        assert!(Arc::ptr_eq(&second, &state.current()), "old config kept");
    }
}
