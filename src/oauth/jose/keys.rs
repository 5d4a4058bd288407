//! Verification keys: [`KeySet`] (keys read from a JWKS, RFC 7517, or from PEM files),
//! [`RemoteKeys`] (the current set of one `jwks_uri`, swapped whole by the fetcher thread,
//! `crate::registry::jwks_fetch`) and [`Keys`] (what one client or issuer is verified with).
//! Pure: parsing and shared state only, no I/O.
//!
//! Each key knows which algorithms it may verify ([`VerifyKey::fits`]): RSA (2048 to 16384
//! bits) only RS*/PS*, EC P-256 only ES256, EC P-384 only ES384, Ed25519 only EdDSA, and a
//! JWK's own `alg`, when set, only that one. Symmetric keys (`kty: "oct"`) are never read
//! from a JWKS: HS256 is verified only with a client's configured secret.
//!
//! A JWKS is read leniently about keys that can never verify here — `use` other than `sig`,
//! `key_ops` without `verify`, an `alg` this server does not verify, other key types and
//! curves (`oct`, P-521, X25519, Ed448) are skipped, as published sets often mix signing
//! and encryption keys — and strictly about keys it would use: a malformed RSA, P-256,
//! P-384 or Ed25519 key, a short RSA modulus, an `alg` that contradicts the key type, or
//! private key material (`d`) fail the whole set, so an operator's mistake is seen.

use super::json::{parse_object, JsonError};
use super::JwsAlg;
use arc_swap::ArcSwap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Public};
use openssl::rsa::Rsa;
use openssl::x509::X509;
use parking_lot::Mutex;
use serde_json::{Map, Value};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Smallest RSA modulus accepted (RFC 7518 §3.3).
pub const MIN_RSA_BITS: u32 = 2048;
/// Largest RSA modulus accepted: bounds the cost of one verification.
pub const MAX_RSA_BITS: u32 = 16384;
/// Most keys in one JWKS or PEM file.
pub const MAX_KEYS: usize = 100;
/// Longest `kid`, in bytes (the same bound as a JWS header's `kid`).
pub const MAX_KID_LEN: usize = super::jws::MAX_KID_LEN;

/// Why a JWKS or PEM file was refused. The descriptions name the key by position, never
/// print key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Not a JSON object with a `keys` array (or a repeated member name).
    NotJwks,
    /// More than [`MAX_KEYS`] keys.
    TooManyKeys,
    /// The JWKS key at `index` (from 0) is unusable.
    Jwk { index: usize, problem: &'static str },
    /// No `-----BEGIN …-----` block.
    NoPemBlock,
    /// The PEM block at `index` (from 0) is unusable.
    Pem { index: usize, problem: &'static str },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotJwks => f.write_str("not a JWKS (a JSON object with a \"keys\" array)"),
            KeyError::TooManyKeys => write!(f, "more than {MAX_KEYS} keys"),
            KeyError::Jwk { index, problem } => write!(f, "key #{index} of the JWKS: {problem}"),
            KeyError::NoPemBlock => f.write_str("no PEM block (-----BEGIN ...-----)"),
            KeyError::Pem { index, problem } => write!(f, "PEM block #{index}: {problem}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// The type (and curve) of a public key, which decides the algorithms it may verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    /// Whether a key of this kind may verify `alg`. Never true for HS256.
    pub fn fits(self, alg: JwsAlg) -> bool {
        matches!(
            (self, alg),
            (
                KeyKind::Rsa,
                JwsAlg::RS256
                    | JwsAlg::RS384
                    | JwsAlg::RS512
                    | JwsAlg::PS256
                    | JwsAlg::PS384
                    | JwsAlg::PS512
            ) | (KeyKind::P256, JwsAlg::ES256)
                | (KeyKind::P384, JwsAlg::ES384)
                | (KeyKind::Ed25519, JwsAlg::EdDSA)
        )
    }

    fn kty(self) -> &'static str {
        match self {
            KeyKind::Rsa => "RSA",
            KeyKind::P256 | KeyKind::P384 => "EC",
            KeyKind::Ed25519 => "OKP",
        }
    }
}

/// One public verification key.
#[derive(Clone)]
pub struct VerifyKey {
    kid: Option<String>,
    /// The JWK's `alg`: the only algorithm this key verifies, when set.
    alg: Option<JwsAlg>,
    kind: KeyKind,
    pkey: PKey<Public>,
}

impl VerifyKey {
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn alg(&self) -> Option<JwsAlg> {
        self.alg
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    pub(crate) fn pkey(&self) -> &PKey<Public> {
        &self.pkey
    }

    /// Whether this key may verify a JWS with `alg`: its type and curve fit, and its own
    /// `alg` (if any) is the same.
    pub fn fits(&self, alg: JwsAlg) -> bool {
        self.kind.fits(alg) && self.alg.is_none_or(|own| own == alg)
    }

    /// Whether this key is a candidate for a JWS header's `kid`: a key without a `kid`
    /// (every PEM key) cannot be told apart by it, so it stays a candidate.
    pub fn matches_kid(&self, kid: Option<&str>) -> bool {
        match (kid, self.kid.as_deref()) {
            (Some(wanted), Some(own)) => wanted == own,
            _ => true,
        }
    }
}

impl fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("kty", &self.kind.kty())
            .field("kind", &self.kind)
            .finish()
    }
}

/// A set of verification keys. `Debug` shows each key's kid, alg and type only.
#[derive(Clone, Default, Debug)]
pub struct KeySet {
    keys: Vec<VerifyKey>,
}

impl KeySet {
    pub fn empty() -> KeySet {
        KeySet::default()
    }

    /// The usable keys of a JWKS document (RFC 7517 §5); see the module doc for what is
    /// skipped and what fails.
    pub fn from_jwks(json: &[u8]) -> Result<KeySet, KeyError> {
        let doc = parse_object(json).map_err(|_: JsonError| KeyError::NotJwks)?;
        let Some(Value::Array(items)) = doc.get("keys") else {
            return Err(KeyError::NotJwks);
        };
        if items.len() > MAX_KEYS {
            return Err(KeyError::TooManyKeys);
        }
        let mut keys = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let Value::Object(jwk) = item else {
                return Err(KeyError::Jwk {
                    index,
                    problem: "not a JSON object",
                });
            };
            if let Some(key) = jwk_key(jwk).map_err(|problem| KeyError::Jwk { index, problem })? {
                keys.push(key);
            }
        }
        Ok(KeySet { keys })
    }

    /// The keys of PEM text: `PUBLIC KEY` (SubjectPublicKeyInfo), `RSA PUBLIC KEY` (PKCS#1)
    /// and `CERTIFICATE` (its public key; the certificate is a container here: its dates
    /// and issuer are not checked, the operator pinned it), any number of blocks.
    pub fn from_pem(pem: &[u8]) -> Result<KeySet, KeyError> {
        let blocks = pem_blocks(pem)?;
        if blocks.is_empty() {
            return Err(KeyError::NoPemBlock);
        }
        if blocks.len() > MAX_KEYS {
            return Err(KeyError::TooManyKeys);
        }
        let mut keys = Vec::with_capacity(blocks.len());
        for (index, (label, block)) in blocks.into_iter().enumerate() {
            let fail = |problem| KeyError::Pem { index, problem };
            let pkey = match label {
                "PUBLIC KEY" => {
                    PKey::public_key_from_pem(block).map_err(|_| fail("not a valid public key"))?
                }
                "RSA PUBLIC KEY" => Rsa::public_key_from_pem_pkcs1(block)
                    .and_then(PKey::from_rsa)
                    .map_err(|_| fail("not a valid RSA public key"))?,
                "CERTIFICATE" => X509::from_pem(block)
                    .and_then(|cert| cert.public_key())
                    .map_err(|_| fail("not a valid certificate"))?,
                l if l.contains("PRIVATE KEY") => {
                    return Err(fail(
                        "a private key: give the public key or the certificate instead",
                    ))
                }
                _ => {
                    return Err(fail(
                        "not a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE block",
                    ))
                }
            };
            let kind = kind_of(&pkey).map_err(fail)?;
            keys.push(VerifyKey {
                kid: None,
                alg: None,
                kind,
                pkey,
            });
        }
        Ok(KeySet { keys })
    }

    /// A set of one key, for keys built elsewhere (and tests).
    pub fn from_public_key(
        pkey: PKey<Public>,
        kid: Option<String>,
        alg: Option<JwsAlg>,
    ) -> Result<KeySet, KeyError> {
        let kind = kind_of(&pkey).map_err(|problem| KeyError::Pem { index: 0, problem })?;
        Ok(KeySet {
            keys: vec![VerifyKey {
                kid,
                alg,
                kind,
                pkey,
            }],
        })
    }

    pub fn extend(&mut self, other: KeySet) {
        self.keys.extend(other.keys);
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &VerifyKey> {
        self.keys.iter()
    }

    /// The keys that may verify a JWS with this `alg` and header `kid`.
    pub fn candidates<'s>(
        &'s self,
        alg: JwsAlg,
        kid: Option<&'s str>,
    ) -> impl Iterator<Item = &'s VerifyKey> + 's {
        self.keys
            .iter()
            .filter(move |k| k.fits(alg) && k.matches_kid(kid))
    }

    /// Whether a key has exactly this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

/// The current keys of one `jwks_uri`. The fetcher thread (`crate::registry::jwks_fetch`)
/// replaces them whole; verifiers load them without a lock and may ask for an early
/// refresh when an assertion names a `kid` no key has (the issuer rotated its keys).
pub struct RemoteKeys {
    uri: String,
    current: ArcSwap<KeySet>,
    refresh_requested: AtomicBool,
    /// When the fetcher last tried, successful or not: it paces early refreshes.
    last_fetch: Mutex<Option<Instant>>,
}

impl RemoteKeys {
    /// No keys until the first fetch.
    pub fn new(uri: &str) -> RemoteKeys {
        RemoteKeys {
            uri: uri.to_owned(),
            current: ArcSwap::from_pointee(KeySet::empty()),
            refresh_requested: AtomicBool::new(false),
            last_fetch: Mutex::new(None),
        }
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The current keys.
    pub fn keys(&self) -> Arc<KeySet> {
        self.current.load_full()
    }

    /// Installs a freshly fetched set.
    pub fn replace(&self, keys: KeySet) {
        self.current.store(Arc::new(keys));
    }

    /// Asks the fetcher for an early refresh (it still waits its minimum interval).
    pub fn request_refresh(&self) {
        self.refresh_requested.store(true, Ordering::Relaxed);
    }

    pub fn refresh_requested(&self) -> bool {
        self.refresh_requested.load(Ordering::Relaxed)
    }

    /// Clears the refresh request, saying whether there was one.
    pub fn take_refresh_request(&self) -> bool {
        self.refresh_requested.swap(false, Ordering::Relaxed)
    }

    /// Records a fetch attempt.
    pub fn note_fetch(&self, at: Instant) {
        *self.last_fetch.lock() = Some(at);
    }

    /// When the last fetch was attempted, if ever.
    pub fn last_fetch(&self) -> Option<Instant> {
        *self.last_fetch.lock()
    }
}

impl fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("uri", &self.uri)
            .field("keys", &self.current.load().len())
            .field("refresh_requested", &self.refresh_requested())
            .finish()
    }
}

/// The keys one client or assertion issuer is verified with: fixed keys (`jwks_file`,
/// `public_key_files`) and optionally a `jwks_uri`'s.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    pub(crate) fixed: KeySet,
    pub(crate) remote: Option<Arc<RemoteKeys>>,
}

impl Keys {
    pub fn new(fixed: KeySet, remote: Option<Arc<RemoteKeys>>) -> Keys {
        Keys { fixed, remote }
    }

    /// No fixed key and no `jwks_uri`: nothing can be verified.
    pub fn is_empty(&self) -> bool {
        self.fixed.is_empty() && self.remote.is_none()
    }

    pub fn fixed(&self) -> &KeySet {
        &self.fixed
    }

    pub fn remote(&self) -> Option<&Arc<RemoteKeys>> {
        self.remote.as_ref()
    }
}

/// The type of a parsed public key, refusing what no supported algorithm fits.
fn kind_of(pkey: &PKey<Public>) -> Result<KeyKind, &'static str> {
    match pkey.id() {
        Id::RSA => {
            let bits = pkey.bits();
            if bits < MIN_RSA_BITS {
                Err("an RSA key shorter than 2048 bits")
            } else if bits > MAX_RSA_BITS {
                Err("an RSA key longer than 16384 bits")
            } else {
                // e = 1 would make every "signature" its own padded message: require an
                // odd exponent of at least 3 (SP 800-56B wants at least 65537; 3 is still
                // secure for verification and some old keys use it).
                let rsa = pkey.rsa().map_err(|_| "not a valid RSA key")?;
                let e = rsa.e();
                if e.num_bits() < 2 || !e.is_bit_set(0) {
                    return Err("an RSA key with a public exponent that is even or below 3");
                }
                Ok(KeyKind::Rsa)
            }
        }
        Id::EC => {
            let ec = pkey.ec_key().map_err(|_| "not a valid EC key")?;
            match ec.group().curve_name() {
                Some(Nid::X9_62_PRIME256V1) => Ok(KeyKind::P256),
                Some(Nid::SECP384R1) => Ok(KeyKind::P384),
                _ => Err("an EC key on a curve other than P-256 or P-384"),
            }
        }
        Id::ED25519 => Ok(KeyKind::Ed25519),
        _ => Err("not an RSA, EC (P-256, P-384) or Ed25519 key"),
    }
}

/// The key of one JWK, `None` when it can never verify here (see the module doc).
fn jwk_key(jwk: &Map<String, Value>) -> Result<Option<VerifyKey>, &'static str> {
    let kty = str_member(jwk, "kty")?.ok_or("no kty")?;
    if str_member(jwk, "use")?.is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    if let Some(ops) = jwk.get("key_ops") {
        let Value::Array(ops) = ops else {
            return Err("key_ops is not an array");
        };
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Ok(None);
        }
    }
    let alg = match str_member(jwk, "alg")? {
        None => None,
        Some(name) => match JwsAlg::from_name(name) {
            Some(JwsAlg::HS256) | None => return Ok(None),
            Some(alg) => Some(alg),
        },
    };
    let kid = match str_member(jwk, "kid")? {
        Some(kid) if kid.len() > MAX_KID_LEN => return Err("kid is too long"),
        kid => kid.map(str::to_owned),
    };
    let (kind, pkey) = match kty {
        "RSA" => {
            if jwk.contains_key("d") {
                return Err("holds private key material (d)");
            }
            let n = BigNum::from_slice(&b64_member(jwk, "n")?).map_err(|_| "bad n")?;
            let e = BigNum::from_slice(&b64_member(jwk, "e")?).map_err(|_| "bad e")?;
            let rsa = Rsa::from_public_components(n, e).map_err(|_| "not a valid RSA key")?;
            (
                KeyKind::Rsa,
                PKey::from_rsa(rsa).map_err(|_| "not a valid RSA key")?,
            )
        }
        "EC" => {
            let (kind, nid, len) = match str_member(jwk, "crv")? {
                Some("P-256") => (KeyKind::P256, Nid::X9_62_PRIME256V1, 32),
                Some("P-384") => (KeyKind::P384, Nid::SECP384R1, 48),
                Some(_) => return Ok(None),
                None => return Err("no crv"),
            };
            if jwk.contains_key("d") {
                return Err("holds private key material (d)");
            }
            (kind, ec_key(jwk, nid, len)?)
        }
        "OKP" => {
            match str_member(jwk, "crv")? {
                Some("Ed25519") => {}
                Some(_) => return Ok(None),
                None => return Err("no crv"),
            }
            if jwk.contains_key("d") {
                return Err("holds private key material (d)");
            }
            let x = b64_member(jwk, "x")?;
            if x.len() != 32 {
                return Err("x is not 32 bytes");
            }
            let pkey = PKey::public_key_from_raw_bytes(&x, Id::ED25519)
                .map_err(|_| "not a valid Ed25519 key")?;
            (KeyKind::Ed25519, pkey)
        }
        _ => return Ok(None),
    };
    // The kind as OpenSSL sees the built key: also enforces the RSA size bounds.
    if kind_of(&pkey)? != kind {
        return Err("the key does not match its kty and crv");
    }
    if alg.is_some_and(|alg| !kind.fits(alg)) {
        return Err("alg does not fit the key type");
    }
    Ok(Some(VerifyKey {
        kid,
        alg,
        kind,
        pkey,
    }))
}

fn ec_key(jwk: &Map<String, Value>, nid: Nid, len: usize) -> Result<PKey<Public>, &'static str> {
    let x = b64_member(jwk, "x")?;
    let y = b64_member(jwk, "y")?;
    // RFC 7518 §6.2.1.2: the full coordinate size, leading zeros kept.
    if x.len() != len || y.len() != len {
        return Err("x or y is not the curve's coordinate size");
    }
    let group = EcGroup::from_curve_name(nid).map_err(|_| "unsupported curve")?;
    let x = BigNum::from_slice(&x).map_err(|_| "bad x")?;
    let y = BigNum::from_slice(&y).map_err(|_| "bad y")?;
    let key = EcKey::from_public_key_affine_coordinates(&group, &x, &y)
        .map_err(|_| "not a point on the curve")?;
    key.check_key().map_err(|_| "not a valid EC public key")?;
    PKey::from_ec_key(key).map_err(|_| "not a valid EC key")
}

/// A string member, `None` when absent; a non-string is an error.
fn str_member<'j>(
    jwk: &'j Map<String, Value>,
    name: &str,
) -> Result<Option<&'j str>, &'static str> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err("a member that must be a string is not one"),
    }
}

/// A required base64url (no padding) member.
fn b64_member(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, &'static str> {
    let s = str_member(jwk, name)?.ok_or("a required key member is missing")?;
    let bytes = B64URL
        .decode(s)
        .map_err(|_| "a key member is not base64url without padding")?;
    if bytes.is_empty() {
        return Err("a key member is empty");
    }
    Ok(bytes)
}

/// The `(label, whole block)` of each PEM block, in order. Text between blocks (comments,
/// as in a certificate bundle) is ignored.
fn pem_blocks(pem: &[u8]) -> Result<Vec<(&str, &[u8])>, KeyError> {
    const BEGIN: &str = "-----BEGIN ";
    const DASHES: &str = "-----";
    let text = std::str::from_utf8(pem).map_err(|_| KeyError::NoPemBlock)?;
    let mut blocks = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find(BEGIN) {
        let index = blocks.len();
        let bad = |problem| KeyError::Pem { index, problem };
        if index >= MAX_KEYS {
            return Err(KeyError::TooManyKeys);
        }
        let after = &rest[start + BEGIN.len()..];
        let label_len = after
            .find(DASHES)
            .ok_or(bad("a BEGIN line without its dashes"))?;
        let label = &after[..label_len];
        if label.contains('\n') {
            return Err(bad("a BEGIN line without its dashes"));
        }
        let end_marker = format!("-----END {label}-----");
        let end = rest[start..]
            .find(&end_marker)
            .ok_or(bad("no END line for the block"))?
            + start
            + end_marker.len();
        let block_start = offset + start;
        let block_end = offset + end;
        blocks.push((label, &pem[block_start..block_end]));
        rest = &rest[end..];
        offset = block_end;
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::jose::testkeys::{self, TestKey};

    fn jwks(keys: &[Value]) -> Vec<u8> {
        serde_json::json!({ "keys": keys }).to_string().into_bytes()
    }

    #[test]
    fn rfc7517_jwks_of_every_key_type_read() {
        let set = KeySet::from_jwks(&jwks(&[
            testkeys::jwk(TestKey::Rsa, Some("r"), Some(JwsAlg::RS256)),
            testkeys::jwk(TestKey::P256, Some("p256"), None),
            testkeys::jwk(TestKey::P384, Some("p384"), Some(JwsAlg::ES384)),
            testkeys::jwk(TestKey::Ed25519, None, None),
        ]))
        .expect("jwks");
        assert_eq!(set.len(), 4);
        let kinds: Vec<KeyKind> = set.iter().map(VerifyKey::kind).collect();
        assert_eq!(
            kinds,
            [KeyKind::Rsa, KeyKind::P256, KeyKind::P384, KeyKind::Ed25519]
        );
        let debug = format!("{set:?}");
        assert!(
            debug.contains("\"p256\"") && debug.contains("RS256"),
            "{debug}"
        );
        let n = testkeys::jwk(TestKey::Rsa, None, None)["n"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_default();
        assert!(!debug.contains(&n[..20]), "Debug shows no key material");
    }

    #[test]
    fn rfc7517_4_2_non_signature_and_unknown_keys_skipped() {
        let mut enc = testkeys::jwk(TestKey::Rsa, Some("enc"), None);
        enc["use"] = "enc".into();
        let mut wrap = testkeys::jwk(TestKey::Rsa, Some("wrap"), None);
        wrap["key_ops"] = serde_json::json!(["wrapKey"]);
        let mut oaep = testkeys::jwk(TestKey::Rsa, Some("oaep"), None);
        oaep["alg"] = "RSA-OAEP".into();
        let mut hs = testkeys::jwk(TestKey::Rsa, Some("hs"), None);
        hs["alg"] = "HS256".into();
        let set = KeySet::from_jwks(&jwks(&[
            enc,
            wrap,
            oaep,
            hs,
            serde_json::json!({"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}),
            serde_json::json!({"kty":"EC","crv":"P-521","x":"AA","y":"AA"}),
            serde_json::json!({"kty":"OKP","crv":"X25519","x":"AA"}),
            serde_json::json!({"kty":"XYZ"}),
            testkeys::jwk(TestKey::P256, Some("sig"), None),
        ]))
        .expect("jwks");
        assert_eq!(set.len(), 1);
        assert!(set.has_kid("sig"));
    }

    #[test]
    fn jwk_alg_contradicting_key_type_refused() {
        let err = KeySet::from_jwks(&jwks(&[testkeys::jwk(
            TestKey::P256,
            None,
            Some(JwsAlg::ES384),
        )]));
        assert!(
            matches!(err, Err(KeyError::Jwk { index: 0, .. })),
            "{err:?}"
        );
        let err = KeySet::from_jwks(&jwks(&[testkeys::jwk(
            TestKey::Rsa,
            None,
            Some(JwsAlg::EdDSA),
        )]));
        assert!(
            matches!(err, Err(KeyError::Jwk { index: 0, .. })),
            "{err:?}"
        );
    }

    #[test]
    fn rfc7518_3_3_short_rsa_key_refused() {
        let jwk = testkeys::rsa_jwk_of_bits(1024);
        assert_eq!(
            KeySet::from_jwks(&jwks(&[jwk])).err(),
            Some(KeyError::Jwk {
                index: 0,
                problem: "an RSA key shorter than 2048 bits"
            })
        );
    }

    #[test]
    fn rsa_exponent_one_or_even_refused() {
        for e in [&[1u8][..], &[2], &[1, 0, 0]] {
            let mut jwk = testkeys::jwk(TestKey::Rsa, None, None);
            jwk["e"] = B64URL.encode(e).into();
            assert!(KeySet::from_jwks(&jwks(&[jwk])).is_err(), "e = {e:?}");
        }
        let mut jwk = testkeys::jwk(TestKey::Rsa, None, None);
        jwk["e"] = B64URL.encode([3u8]).into();
        assert!(KeySet::from_jwks(&jwks(&[jwk])).is_ok());
    }

    #[test]
    fn rfc7518_6_2_1_2_ec_coordinates_must_be_full_size_and_on_curve() {
        let mut short = testkeys::jwk(TestKey::P256, None, None);
        short["x"] = B64URL.encode([1u8; 31]).into();
        assert!(KeySet::from_jwks(&jwks(&[short])).is_err());
        let mut off_curve = testkeys::jwk(TestKey::P256, None, None);
        off_curve["y"] = B64URL.encode([1u8; 32]).into();
        assert!(KeySet::from_jwks(&jwks(&[off_curve])).is_err());
        // A P-384 point declared as P-256.
        let mut wrong_crv = testkeys::jwk(TestKey::P384, None, None);
        wrong_crv["crv"] = "P-256".into();
        assert!(KeySet::from_jwks(&jwks(&[wrong_crv])).is_err());
    }

    #[test]
    fn private_key_material_in_jwks_refused() {
        for key in [TestKey::Rsa, TestKey::P256, TestKey::Ed25519] {
            let mut jwk = testkeys::jwk(key, None, None);
            jwk["d"] = "AAAA".into();
            assert!(
                matches!(
                    KeySet::from_jwks(&jwks(&[jwk])),
                    Err(KeyError::Jwk {
                        problem: "holds private key material (d)",
                        ..
                    })
                ),
                "{key:?}"
            );
        }
    }

    #[test]
    fn malformed_jwks_refused() {
        for bad in [
            &b"[]"[..],
            b"{}",
            b"{\"keys\":{}}",
            b"{\"keys\":[1]}",
            b"{\"keys\":[{}]}",
            b"{\"keys\":[{\"kty\":\"RSA\"}]}",
            b"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB=\",\"e\":\"AQAB\"}]}",
            b"{\"keys\":[],\"keys\":[]}",
            b"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}]}",
        ] {
            assert!(
                KeySet::from_jwks(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let many = jwks(&vec![serde_json::json!({"kty":"oct"}); MAX_KEYS + 1]);
        assert_eq!(KeySet::from_jwks(&many).err(), Some(KeyError::TooManyKeys));
        assert_eq!(KeySet::from_jwks(b"{\"keys\":[]}").map(|s| s.len()), Ok(0));
    }

    #[test]
    fn pem_public_keys_rsa_pkcs1_and_certificates_read() {
        let mut pem = b"# a comment before the first block\n".to_vec();
        pem.extend(testkeys::public_pem(TestKey::Rsa));
        pem.extend(testkeys::public_pem(TestKey::P256));
        pem.extend(testkeys::public_pem(TestKey::P384));
        pem.extend(testkeys::public_pem(TestKey::Ed25519));
        pem.extend(testkeys::rsa_pkcs1_pem());
        pem.extend(b"between blocks\n");
        pem.extend(testkeys::certificate_pem(TestKey::P256));
        let set = KeySet::from_pem(&pem).expect("pem");
        let kinds: Vec<KeyKind> = set.iter().map(VerifyKey::kind).collect();
        assert_eq!(
            kinds,
            [
                KeyKind::Rsa,
                KeyKind::P256,
                KeyKind::P384,
                KeyKind::Ed25519,
                KeyKind::Rsa,
                KeyKind::P256
            ]
        );
        assert!(set.iter().all(|k| k.kid().is_none() && k.alg().is_none()));
    }

    #[test]
    fn pem_private_keys_and_garbage_refused() {
        assert_eq!(KeySet::from_pem(b"").err(), Some(KeyError::NoPemBlock));
        assert_eq!(KeySet::from_pem(b"hello").err(), Some(KeyError::NoPemBlock));
        assert_eq!(
            KeySet::from_pem(b"\xff\xfe").err(),
            Some(KeyError::NoPemBlock)
        );
        let private = testkeys::private_pem(TestKey::Rsa);
        assert!(matches!(
            KeySet::from_pem(&private),
            Err(KeyError::Pem { index: 0, .. })
        ));
        let truncated = testkeys::public_pem(TestKey::Rsa);
        assert!(KeySet::from_pem(&truncated[..truncated.len() - 10]).is_err());
        let corrupt = String::from_utf8_lossy(&testkeys::public_pem(TestKey::P256))
            .replacen("MF", "MG", 1)
            .into_bytes();
        assert!(KeySet::from_pem(&corrupt).is_err());
        assert!(
            KeySet::from_pem(b"-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n").is_err()
        );
        assert!(KeySet::from_pem(b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n").is_err());
        assert!(KeySet::from_pem(b"-----BEGIN PUBLIC KEY").is_err());
    }

    #[test]
    fn kid_narrows_candidates_but_keyless_ids_stay() {
        let mut set = KeySet::from_jwks(&jwks(&[
            testkeys::jwk(TestKey::Rsa, Some("a"), None),
            testkeys::jwk(TestKey::Rsa, Some("b"), None),
        ]))
        .expect("jwks");
        assert_eq!(set.candidates(JwsAlg::RS256, Some("a")).count(), 1);
        assert_eq!(set.candidates(JwsAlg::RS256, None).count(), 2);
        assert_eq!(set.candidates(JwsAlg::RS256, Some("c")).count(), 0);
        assert_eq!(set.candidates(JwsAlg::ES256, None).count(), 0);
        set.extend(KeySet::from_pem(&testkeys::public_pem(TestKey::Rsa)).expect("pem"));
        assert_eq!(set.candidates(JwsAlg::RS256, Some("c")).count(), 1);
    }

    #[test]
    fn key_kinds_fit_only_their_algorithms() {
        for alg in JwsAlg::ALL {
            let fitting: Vec<KeyKind> =
                [KeyKind::Rsa, KeyKind::P256, KeyKind::P384, KeyKind::Ed25519]
                    .into_iter()
                    .filter(|k| k.fits(alg))
                    .collect();
            let expected: &[KeyKind] = match alg {
                JwsAlg::ES256 => &[KeyKind::P256],
                JwsAlg::ES384 => &[KeyKind::P384],
                JwsAlg::EdDSA => &[KeyKind::Ed25519],
                JwsAlg::HS256 => &[],
                _ => &[KeyKind::Rsa],
            };
            assert_eq!(fitting, expected, "{alg}");
        }
    }

    #[test]
    fn remote_keys_swap_and_refresh_flag() {
        let remote = RemoteKeys::new("https://idp.example/jwks");
        assert_eq!(remote.uri(), "https://idp.example/jwks");
        assert!(remote.keys().is_empty());
        assert!(!remote.take_refresh_request());
        remote.request_refresh();
        assert!(remote.refresh_requested());
        assert!(remote.take_refresh_request());
        assert!(!remote.refresh_requested());
        remote.replace(KeySet::from_pem(&testkeys::public_pem(TestKey::P256)).expect("pem"));
        assert_eq!(remote.keys().len(), 1);
        assert!(remote.last_fetch().is_none());
        let at = Instant::now();
        remote.note_fetch(at);
        assert_eq!(remote.last_fetch(), Some(at));
        let keys = Keys::new(KeySet::empty(), Some(Arc::new(remote)));
        assert!(!keys.is_empty());
        assert!(Keys::new(KeySet::empty(), None).is_empty());
    }
}
