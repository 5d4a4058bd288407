//! The ID-token signing keys: [`SigningKey`] (one key, its `kid` and public JWK) and
//! [`KeySet`] (the key that signs per algorithm, the retiring keys still published), their
//! JSON document in the store setting [`SETTING`], and the two store operations
//! [`load_or_create`] and [`rotate_in_store`]. Uses OpenSSL for key generation and parsing,
//! the `Store` trait's settings (blocking calls: start-up, CLI, cluster sync thread only) and
//! `config` for `[oidc]`.
//!
//! Rotation: the new key signs at once; the previous key of the same algorithm keeps being
//! published in the JWKS until `retire_at = rotated_at + id_token_ttl_secs +`
//! [`RETIRE_MARGIN_SECS`], when every ID token it signed has expired, and is pruned by the
//! next load or rotation after that.
//!
//! The private keys are stored in the clear inside the store, as the OAuth tokens' hashes
//! are: whoever can read the store can sign. Keys given as files
//! (`[oidc] signing_key_files`) never go to the store.

use super::OidcError;
use crate::config::{read_signing_key, signing_alg_of, Config, SigningAlg};
use crate::oauth::secret::Redacted;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use tessera_storage::store::Store;

/// The store setting that holds the key set document.
pub const SETTING: &str = "oidc.signing_keys";

/// The version of the key set document this code writes and reads. A newer version is
/// refused, not rewritten, so an older node never drops what it does not understand.
pub const DOCUMENT_VERSION: u32 = 1;

/// Added to `id_token_ttl_secs` before a rotated-out key leaves the JWKS: relying parties'
/// clock skew allowance, and the time every node takes to notice a rotation (until then a
/// node may still sign with the old key).
pub const RETIRE_MARGIN_SECS: u64 = 300;

/// Modulus size of generated RSA keys (RFC 7518 §3.3: at least 2048).
pub const RSA_BITS: u32 = 2048;

/// Compare-and-set attempts before giving up: each lost attempt means another node wrote
/// the key set in between, so a handful is plenty.
const MAX_CAS_ATTEMPTS: usize = 16;

/// The public half of a key as JWK members (RFC 7518 §6.2, §6.3), base64url without padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicJwk {
    /// `kty: "RSA"`: modulus and exponent, big-endian without leading zeros.
    Rsa { n: String, e: String },
    /// `kty: "EC"`, `crv: "P-256"`: the point's coordinates, 32 bytes each.
    Ec { x: String, y: String },
}

impl PublicJwk {
    fn of(key: &PKey<Private>) -> Result<PublicJwk, OidcError> {
        if let Ok(rsa) = key.rsa() {
            return Ok(PublicJwk::Rsa {
                n: B64URL.encode(rsa.n().to_vec()),
                e: B64URL.encode(rsa.e().to_vec()),
            });
        }
        let ec = key.ec_key()?;
        let mut ctx = BigNumContext::new()?;
        let (mut x, mut y) = (BigNum::new()?, BigNum::new()?);
        ec.public_key()
            .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)?;
        Ok(PublicJwk::Ec {
            x: B64URL.encode(x.to_vec_padded(32)?),
            y: B64URL.encode(y.to_vec_padded(32)?),
        })
    }

    /// The JWK SHA-256 thumbprint (RFC 7638 §3): the required members in lexicographic
    /// order, no whitespace, hashed and base64url-encoded. Used as the `kid`, so the same
    /// key has the same `kid` on every node and in every file.
    pub fn thumbprint(&self) -> String {
        // base64url values need no JSON escaping.
        let canonical = match self {
            PublicJwk::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            PublicJwk::Ec { x, y } => {
                format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#)
            }
        };
        B64URL.encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// One signing key. `Debug` shows its `kid`, algorithm and dates, never the private key.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    alg: SigningAlg,
    created_at: u64,
    retire_at: Option<u64>,
    private_pem: Redacted<String>,
    key: PKey<Private>,
    public: PublicJwk,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("retire_at", &self.retire_at)
            .field("private_key", &self.private_pem)
            .finish()
    }
}

impl SigningKey {
    /// A fresh key for `alg`, created at `now`.
    pub fn generate(alg: SigningAlg, now: u64) -> Result<SigningKey, OidcError> {
        let key = match alg {
            SigningAlg::RS256 => PKey::from_rsa(Rsa::generate(RSA_BITS)?)?,
            SigningAlg::ES256 => {
                let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
                PKey::from_ec_key(EcKey::generate(&group)?)?
            }
        };
        SigningKey::from_pkey(key, alg, now, None)
    }

    fn from_pkey(
        key: PKey<Private>,
        alg: SigningAlg,
        created_at: u64,
        retire_at: Option<u64>,
    ) -> Result<SigningKey, OidcError> {
        let public = PublicJwk::of(&key)?;
        let pem = String::from_utf8(key.private_key_to_pem_pkcs8()?)
            .map_err(|_| OidcError::Crypto("OpenSSL wrote a PEM that is not UTF-8".to_owned()))?;
        Ok(SigningKey {
            kid: public.thumbprint(),
            alg,
            created_at,
            retire_at,
            private_pem: Redacted(pem),
            key,
            public,
        })
    }

    /// The key ID: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// Seconds since the Unix epoch; 0 for a key read from a file.
    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    /// When a rotated-out key leaves the JWKS; `None` while it signs (or, for a file key,
    /// while it is listed).
    pub fn retire_at(&self) -> Option<u64> {
        self.retire_at
    }

    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    pub(super) fn pkey(&self) -> &PKey<Private> {
        &self.key
    }
}

/// The keys a node signs with and publishes: newest first. Per algorithm the first key
/// without a `retire_at` signs; every key is published in the JWKS.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<SigningKey>,
}

/// The stored document (setting [`SETTING`]).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    version: u32,
    keys: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKey {
    kid: String,
    alg: SigningAlg,
    created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retire_at: Option<u64>,
    /// PKCS#8 PEM.
    private_key: Redacted<String>,
}

impl KeySet {
    /// One fresh key per algorithm, created at `now`.
    pub fn generate(now: u64) -> Result<KeySet, OidcError> {
        let mut set = KeySet::default();
        set.add_missing(now)?;
        Ok(set)
    }

    /// The keys of `[oidc] signing_key_files`, in the order listed (per algorithm the first
    /// signs). An error names the configuration key of the file.
    pub fn from_files(paths: &[std::path::PathBuf]) -> Result<KeySet, OidcError> {
        let mut keys: Vec<SigningKey> = Vec::with_capacity(paths.len());
        for (i, path) in paths.iter().enumerate() {
            let key_name = || format!("oidc.signing_key_files[{i}]");
            let (alg, pkey) = read_signing_key(path).map_err(|message| OidcError::KeyFile {
                key: key_name(),
                message,
            })?;
            let key = SigningKey::from_pkey(pkey, alg, 0, None)?;
            if keys.iter().any(|k| k.kid == key.kid) {
                return Err(OidcError::KeyFile {
                    key: key_name(),
                    message: format!("{} holds a key listed before", path.display()),
                });
            }
            keys.push(key);
        }
        Ok(KeySet { keys })
    }

    /// Reads a stored document. Refuses a newer version, and a key whose algorithm or
    /// `kid` does not match its private key (the document was edited or damaged).
    pub fn from_document(text: &str) -> Result<KeySet, OidcError> {
        let doc: Document = serde_json::from_str(text)
            .map_err(|e| OidcError::BadDocument(format!("not a key set document: {e}")))?;
        if doc.version != DOCUMENT_VERSION {
            return Err(OidcError::BadDocument(format!(
                "version {} (this Tessera reads version {DOCUMENT_VERSION}): a newer Tessera \
                 wrote it",
                doc.version
            )));
        }
        let mut keys = Vec::with_capacity(doc.keys.len());
        for stored in doc.keys {
            let pkey = PKey::private_key_from_pem(stored.private_key.as_bytes()).map_err(|e| {
                OidcError::BadDocument(format!("key {}: unreadable private key: {e}", stored.kid))
            })?;
            let alg = signing_alg_of(&pkey)
                .map_err(|m| OidcError::BadDocument(format!("key {}: {m}", stored.kid)))?;
            if alg != stored.alg {
                return Err(OidcError::BadDocument(format!(
                    "key {} is marked {} but is a {alg} key",
                    stored.kid, stored.alg
                )));
            }
            let key = SigningKey::from_pkey(pkey, alg, stored.created_at, stored.retire_at)?;
            if key.kid != stored.kid {
                return Err(OidcError::BadDocument(format!(
                    "key {}: its thumbprint is {}",
                    stored.kid, key.kid
                )));
            }
            keys.push(key);
        }
        Ok(KeySet { keys })
    }

    /// The document to store (private keys included: see the module doc).
    pub fn to_document(&self) -> String {
        let doc = Document {
            version: DOCUMENT_VERSION,
            keys: self
                .keys
                .iter()
                .map(|k| StoredKey {
                    kid: k.kid.clone(),
                    alg: k.alg,
                    created_at: k.created_at,
                    retire_at: k.retire_at,
                    private_key: k.private_pem.clone(),
                })
                .collect(),
        };
        // A struct of strings and integers always serializes.
        serde_json::to_string(&doc).unwrap_or_default()
    }

    /// Every key, newest first: the signing keys and the retiring ones.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The key that signs `alg` tokens, if there is one.
    pub fn active(&self, alg: SigningAlg) -> Option<&SigningKey> {
        self.keys
            .iter()
            .find(|k| k.alg == alg && k.retire_at.is_none())
    }

    /// The key whose `kid` is `kid`.
    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// A new `alg` key signs from now on; the one it replaces stays published until
    /// `now + id_token_ttl_secs +` [`RETIRE_MARGIN_SECS`]. Returns the new key.
    pub fn rotate(
        &mut self,
        alg: SigningAlg,
        now: u64,
        id_token_ttl_secs: u32,
    ) -> Result<&SigningKey, OidcError> {
        let key = SigningKey::generate(alg, now)?;
        let retire_at = now + u64::from(id_token_ttl_secs) + RETIRE_MARGIN_SECS;
        for old in self.keys.iter_mut().filter(|k| k.alg == alg) {
            old.retire_at = Some(old.retire_at.map_or(retire_at, |t| t.min(retire_at)));
        }
        self.keys.insert(0, key);
        Ok(&self.keys[0])
    }

    /// Drops the retiring keys whose `retire_at` has come; true if any was dropped.
    pub fn prune(&mut self, now: u64) -> bool {
        let before = self.keys.len();
        self.keys.retain(|k| k.retire_at.is_none_or(|t| t > now));
        self.keys.len() != before
    }

    /// Generates a signing key for each algorithm that has none; true if any was added.
    fn add_missing(&mut self, now: u64) -> Result<bool, OidcError> {
        let mut added = false;
        for alg in SigningAlg::ALL {
            if self.active(alg).is_none() {
                self.keys.insert(0, SigningKey::generate(alg, now)?);
                added = true;
            }
        }
        Ok(added)
    }
}

/// The key set a node starts with:
/// - with `[oidc] signing_key_files`, the keys of those files (the store is not read);
/// - without a store (`store.kind = "memory"`), fresh keys for this process only;
/// - else the set kept in the store's setting [`SETTING`]: created when absent (a key per
///   algorithm), completed when an algorithm lacks a signing key, pruned of retired keys.
///   Every write is a compare-and-set, and a lost race re-reads, so nodes starting
///   together end up with the same keys.
pub fn load_or_create(
    store: Option<&dyn Store>,
    config: &Config,
    now: u64,
) -> Result<KeySet, OidcError> {
    if !config.oidc.signing_key_files.is_empty() {
        return KeySet::from_files(&config.oidc.signing_key_files);
    }
    let Some(store) = store else {
        return KeySet::generate(now);
    };
    update_in_store(store, now, |_, _| Ok(()))
}

/// `tessera keys rotate`: a new `alg` key signs from now on, in the store's key set (see
/// [`KeySet::rotate`]); other nodes pick it up when they next read the setting. Returns the
/// stored set and the new key's `kid`.
pub fn rotate_in_store(
    store: &dyn Store,
    config: &Config,
    alg: SigningAlg,
    now: u64,
) -> Result<(KeySet, String), OidcError> {
    if !config.oidc.signing_key_files.is_empty() {
        return Err(OidcError::KeysFromFiles);
    }
    let ttl = config.oidc.id_token_ttl_secs;
    let mut kid = String::new();
    let set = update_in_store(store, now, |set, created| {
        // A set created by this very call already has a fresh `alg` key.
        if !created {
            set.rotate(alg, now, ttl)?;
        }
        kid = set.active(alg).map(|k| k.kid.clone()).unwrap_or_default();
        Ok(())
    })?;
    Ok((set, kid))
}

/// The stored key set, if any (for the cluster sync thread and `tessera keys list`): the
/// document's text, to notice a change cheaply, and the set.
pub fn read_from_store(store: &dyn Store) -> Result<Option<(String, KeySet)>, OidcError> {
    match store.setting(SETTING)? {
        None => Ok(None),
        Some(text) => {
            let set = KeySet::from_document(&text)?;
            Ok(Some((text, set)))
        }
    }
}

/// The compare-and-set loop: read the set (or create one), prune it, complete it, let
/// `change` edit it (its flag: the set was created in this attempt), and write it back
/// only if something changed and nobody wrote in between; otherwise start over from what
/// the other writer stored.
fn update_in_store(
    store: &dyn Store,
    now: u64,
    mut change: impl FnMut(&mut KeySet, bool) -> Result<(), OidcError>,
) -> Result<KeySet, OidcError> {
    for _ in 0..MAX_CAS_ATTEMPTS {
        let current = store.setting(SETTING)?;
        let (mut set, created) = match &current {
            Some(text) => (KeySet::from_document(text)?, false),
            None => (KeySet::generate(now)?, true),
        };
        set.prune(now);
        set.add_missing(now)?;
        change(&mut set, created)?;
        // The stored text is this serializer's output, so an unchanged set reads back as
        // the same text and costs no write.
        let text = set.to_document();
        if current.as_deref() == Some(text.as_str()) {
            return Ok(set);
        }
        if store.put_setting_if(SETTING, current.as_deref(), &text)? {
            return Ok(set);
        }
    }
    Err(OidcError::Contended)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// One key set for every test of the module: RSA generation costs tens of milliseconds.
    pub(crate) fn test_keys() -> &'static KeySet {
        static KEYS: OnceLock<KeySet> = OnceLock::new();
        KEYS.get_or_init(|| KeySet::generate(1_700_000_000).expect("generate"))
    }

    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        // RFC 7638 §3.1's example key.
        let jwk = PublicJwk::Rsa {
            n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6\
                tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4Qy\
                Q5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbI\
                SD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-\
                kEgU8awapJzKnqDKgw"
                .to_owned(),
            e: "AQAB".to_owned(),
        };
        assert_eq!(
            jwk.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        for key in test_keys().keys() {
            assert_eq!(key.kid(), key.public_jwk().thumbprint());
        }
    }

    #[test]
    fn generate_gives_one_signing_key_per_algorithm() {
        let set = test_keys();
        assert_eq!(set.keys().len(), 2);
        let rsa = set.active(SigningAlg::RS256).expect("RS256");
        let ec = set.active(SigningAlg::ES256).expect("ES256");
        assert!(matches!(rsa.public_jwk(), PublicJwk::Rsa { e, .. } if e == "AQAB"));
        assert_eq!(rsa.pkey().bits(), RSA_BITS);
        let PublicJwk::Ec { x, y } = ec.public_jwk() else {
            panic!("not EC")
        };
        assert_eq!(B64URL.decode(x).expect("x").len(), 32);
        assert_eq!(B64URL.decode(y).expect("y").len(), 32);
        assert_ne!(rsa.kid(), ec.kid());
        assert_eq!(rsa.created_at(), 1_700_000_000);
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let set = test_keys();
        let shown = format!("{set:?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        assert!(set.to_document().contains("PRIVATE KEY"));
    }

    #[test]
    fn document_round_trips() {
        let mut set = test_keys().clone();
        set.rotate(SigningAlg::ES256, 1_700_000_100, 60)
            .expect("rotate");
        let text = set.to_document();
        let back = KeySet::from_document(&text).expect("parse");
        assert_eq!(back.to_document(), text);
        let summary = |s: &KeySet| -> Vec<(String, SigningAlg, u64, Option<u64>)> {
            s.keys()
                .iter()
                .map(|k| (k.kid.clone(), k.alg, k.created_at, k.retire_at))
                .collect()
        };
        assert_eq!(summary(&back), summary(&set));
        let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(doc["version"], DOCUMENT_VERSION);
    }

    #[test]
    fn documents_that_do_not_hold_together_are_refused() {
        let text = test_keys().to_document();
        let newer = text.replacen("\"version\":1", "\"version\":2", 1);
        assert!(
            matches!(KeySet::from_document(&newer), Err(OidcError::BadDocument(m)) if m.contains("version 2"))
        );
        let rsa_kid = test_keys().active(SigningAlg::RS256).expect("rsa").kid();
        let relabelled = text.replacen(rsa_kid, "not-the-thumbprint", 1);
        assert!(matches!(
            KeySet::from_document(&relabelled),
            Err(OidcError::BadDocument(m)) if m.contains("thumbprint")
        ));
        let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
        let mut swapped = doc.clone();
        swapped["keys"][0]["alg"] = doc["keys"][1]["alg"].clone();
        assert!(matches!(
            KeySet::from_document(&swapped.to_string()),
            Err(OidcError::BadDocument(m)) if m.contains("is marked")
        ));
        assert!(KeySet::from_document("{}").is_err());
    }

    #[test]
    fn rotation_signs_with_the_new_key_and_retires_the_old_after_the_ttl_and_margin() {
        let mut set = test_keys().clone();
        let old = set.active(SigningAlg::RS256).expect("rsa").kid.clone();
        let es = set.active(SigningAlg::ES256).expect("ec").kid.clone();
        let now = 1_700_001_000;
        let new = set
            .rotate(SigningAlg::RS256, now, 60)
            .expect("rotate")
            .kid
            .clone();
        assert_ne!(new, old);
        assert_eq!(
            set.active(SigningAlg::RS256).map(|k| k.kid()),
            Some(new.as_str())
        );
        assert_eq!(
            set.active(SigningAlg::ES256).map(|k| k.kid()),
            Some(es.as_str())
        );
        let retire_at = now + 60 + RETIRE_MARGIN_SECS;
        assert_eq!(
            set.get(&old).and_then(SigningKey::retire_at),
            Some(retire_at)
        );
        assert_eq!(set.keys().len(), 3);
        // Published until retire_at, gone at it.
        assert!(!set.prune(retire_at - 1));
        assert!(set.get(&old).is_some());
        assert!(set.prune(retire_at));
        assert!(set.get(&old).is_none());
        assert_eq!(set.keys().len(), 2);
    }

    #[test]
    fn a_second_rotation_does_not_extend_an_earlier_retirement() {
        let mut set = test_keys().clone();
        let first = set.active(SigningAlg::ES256).expect("ec").kid.clone();
        set.rotate(SigningAlg::ES256, 1_000, 60).expect("rotate");
        set.rotate(SigningAlg::ES256, 2_000, 60).expect("rotate");
        assert_eq!(
            set.get(&first).and_then(SigningKey::retire_at),
            Some(1_000 + 60 + RETIRE_MARGIN_SECS)
        );
        assert_eq!(set.keys().len(), 4);
    }

    #[test]
    fn key_files_sign_in_the_order_listed_and_keep_their_thumbprint() {
        let dir = std::env::temp_dir().join(format!("tessera-oidc-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let set = test_keys();
        let mut paths = Vec::new();
        for (i, key) in set.keys().iter().enumerate() {
            let path = dir.join(format!("key{i}.pem"));
            std::fs::write(&path, key.private_pem.as_bytes()).expect("write");
            paths.push(path);
        }
        let extra = SigningKey::generate(SigningAlg::ES256, 0).expect("ec");
        let extra_path = dir.join("extra.pem");
        std::fs::write(&extra_path, extra.private_pem.as_bytes()).expect("write");
        paths.push(extra_path);
        let files = KeySet::from_files(&paths).expect("files");
        assert_eq!(files.keys().len(), 3);
        for alg in SigningAlg::ALL {
            assert_eq!(
                files.active(alg).map(SigningKey::kid),
                set.active(alg).map(SigningKey::kid)
            );
        }
        assert!(files.get(extra.kid()).is_some());
        // The same file twice is a mistake.
        paths.push(paths[0].clone());
        let Err(OidcError::KeyFile { key, .. }) = KeySet::from_files(&paths) else {
            panic!("duplicate accepted")
        };
        assert_eq!(key, "oidc.signing_key_files[3]");
    }

    mod in_the_store {
        use super::*;
        use std::sync::{Arc, Barrier};
        use tessera_storage::store::memory::MemoryStore;

        const T0: u64 = 1_700_000_000;

        fn kids(set: &KeySet) -> Vec<(String, SigningAlg, Option<u64>)> {
            set.keys()
                .iter()
                .map(|k| (k.kid.clone(), k.alg, k.retire_at))
                .collect()
        }

        fn stored(store: &dyn Store) -> KeySet {
            let text = store.setting(SETTING).expect("read").expect("stored");
            KeySet::from_document(&text).expect("document")
        }

        #[test]
        fn first_start_creates_a_key_per_algorithm_and_later_starts_reuse_them() {
            let store = MemoryStore::new();
            let config = Config::default();
            let first = load_or_create(Some(&store), &config, T0).expect("create");
            assert_eq!(first.keys().len(), 2);
            assert_eq!(kids(&stored(&store)), kids(&first));
            let text = store.setting(SETTING).expect("read");
            let again = load_or_create(Some(&store), &config, T0 + 3600).expect("load");
            assert_eq!(kids(&again), kids(&first));
            // Nothing to change, nothing written.
            assert_eq!(store.setting(SETTING).expect("read"), text);
        }

        #[test]
        fn nodes_starting_together_end_with_one_key_set() {
            let store = Arc::new(MemoryStore::new());
            let nodes = 4;
            let barrier = Arc::new(Barrier::new(nodes));
            let handles: Vec<_> = (0..nodes)
                .map(|_| {
                    let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
                    std::thread::spawn(move || {
                        barrier.wait();
                        load_or_create(Some(store.as_ref()), &Config::default(), T0)
                            .map(|set| kids(&set))
                    })
                })
                .collect();
            let results: Vec<_> = handles
                .into_iter()
                .map(|h| h.join().expect("thread").expect("load_or_create"))
                .collect();
            let winner = kids(&stored(store.as_ref()));
            assert_eq!(winner.len(), 2);
            for result in results {
                assert_eq!(result, winner);
            }
        }

        #[test]
        fn rotation_in_the_store_signs_with_the_new_key_and_keeps_the_old_published() {
            let store = MemoryStore::new();
            let config = Config::default();
            let before = load_or_create(Some(&store), &config, T0).expect("create");
            let old = before.active(SigningAlg::RS256).expect("rsa").kid.clone();
            let es = before.active(SigningAlg::ES256).expect("ec").kid.clone();
            let (set, new) =
                rotate_in_store(&store, &config, SigningAlg::RS256, T0 + 10).expect("rotate");
            assert_ne!(new, old);
            let after = stored(&store);
            assert_eq!(kids(&after), kids(&set));
            assert_eq!(
                after.active(SigningAlg::RS256).map(|k| k.kid()),
                Some(new.as_str())
            );
            assert_eq!(
                after.active(SigningAlg::ES256).map(|k| k.kid()),
                Some(es.as_str())
            );
            let retire_at = T0 + 10 + 60 + RETIRE_MARGIN_SECS;
            assert_eq!(
                after.get(&old).and_then(SigningKey::retire_at),
                Some(retire_at)
            );
            // A node starting before retire_at still publishes the old key; after, it is
            // pruned from the store.
            let soon = load_or_create(Some(&store), &config, retire_at - 1).expect("load");
            assert!(soon.get(&old).is_some());
            let later = load_or_create(Some(&store), &config, retire_at).expect("load");
            assert!(later.get(&old).is_none());
            assert!(stored(&store).get(&old).is_none());
            assert_eq!(later.keys().len(), 2);
        }

        #[test]
        fn rotation_of_an_empty_store_creates_the_key_set() {
            let store = MemoryStore::new();
            let (set, kid) =
                rotate_in_store(&store, &Config::default(), SigningAlg::ES256, T0).expect("rotate");
            assert_eq!(set.keys().len(), 2);
            assert_eq!(
                set.active(SigningAlg::ES256).map(|k| k.kid()),
                Some(kid.as_str())
            );
            assert_eq!(kids(&stored(&store)), kids(&set));
        }

        #[test]
        fn key_files_bypass_the_store_and_refuse_rotation() {
            let dir = std::env::temp_dir()
                .join(format!("tessera-oidc-store-files-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("dir");
            let key = test_keys().active(SigningAlg::RS256).expect("rsa");
            let path = dir.join("rsa.pem");
            std::fs::write(&path, key.private_pem.as_bytes()).expect("write");
            let mut config = Config::default();
            config.oidc.signing_key_files = vec![path];
            let store = MemoryStore::new();
            let set = load_or_create(Some(&store), &config, T0).expect("files");
            assert_eq!(set.keys().len(), 1);
            assert_eq!(set.keys()[0].kid(), key.kid());
            assert!(set.active(SigningAlg::ES256).is_none());
            assert_eq!(store.setting(SETTING).expect("read"), None);
            assert!(matches!(
                rotate_in_store(&store, &config, SigningAlg::RS256, T0),
                Err(OidcError::KeysFromFiles)
            ));
        }

        #[test]
        fn a_newer_document_is_refused_not_overwritten() {
            let store = MemoryStore::new();
            let newer = r#"{"version":2,"keys":[]}"#;
            assert!(store.put_setting_if(SETTING, None, newer).expect("put"));
            assert!(matches!(
                load_or_create(Some(&store), &Config::default(), T0),
                Err(OidcError::BadDocument(_))
            ));
            assert_eq!(
                store.setting(SETTING).expect("read").as_deref(),
                Some(newer)
            );
        }

        #[test]
        fn without_a_store_the_keys_live_in_this_process() {
            let set = load_or_create(None, &Config::default(), T0).expect("generate");
            assert_eq!(set.keys().len(), 2);
        }
    }
}
