//! The JOSE parsers (src/oauth/jose): compact JWS decoding with its header and claims, the
//! signature check against a fixed key set (RSA, EC P-256/P-384, Ed25519, HS256), the claim
//! rules, and the JWKS and PEM key-set parsers (a `jwks_uri` answer is attacker-reachable
//! bytes when the issuer's host is not).
//!
//! The first byte picks the parser (`0`: compact JWS, `1`: JWKS, `2`: PEM, by its value
//! modulo 3), so the seed files under corpus/jwt start with that digit.
//! Property: every input is decoded or refused, never a panic; a decoded JWS that verifies
//! yields the claims it was decoded with.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tessera::oauth::jose::{self, check_claims, KeySet, Keys, TimeRules};

/// The public keys the corpus JWTs are signed with (fixtures/keys.jwks.json).
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let set = KeySet::from_jwks(include_bytes!("../fixtures/keys.jwks.json"))
            .expect("fixtures/keys.jwks.json");
        Keys::new(set, None)
    })
}

/// The HS256 secret of corpus/jwt/jws-HS256 (at least `MIN_HS256_SECRET` bytes).
const SECRET: &[u8] = b"fuzz-secret-fuzz-secret-fuzz-secret";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let Ok(compact) = std::str::from_utf8(rest) else {
                return;
            };
            let Ok(jwt) = jose::decode(compact) else {
                return;
            };
            let _ = (jwt.alg(), jwt.kid(), format!("{jwt:?}"));
            let claims = jwt.claims_unverified().clone();
            let rules = TimeRules {
                now: 1_800_000_000,
                skew: 60,
                max_lifetime: 3600,
            };
            let _ = check_claims(&claims, &["https://as.example/token", "a"], rules);
            if let Ok(verified) = jwt.verify(keys()) {
                assert_eq!(*verified, claims);
            }
            if let Ok(verified) = jwt.verify_hs256(SECRET) {
                assert_eq!(*verified, claims);
            }
        }
        1 => {
            if let Ok(set) = KeySet::from_jwks(rest) {
                for key in set.iter() {
                    let _ = (key.kid(), key.alg(), key.kind());
                }
            }
        }
        _ => {
            if let Ok(set) = KeySet::from_pem(rest) {
                let _ = set.iter().map(|k| k.kind()).count();
            }
        }
    }
});
