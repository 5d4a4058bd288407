//! The SAML assertion pre-check (src/oauth/saml/precheck.rs through `saml::issuer_of`): the
//! strict parse of unauthenticated XML before xmlsec may see it, and the base64url decoding
//! of the `assertion` parameter (RFC 7522 §2.1). xmlsec itself is not fuzzed here: it runs
//! only on documents that passed this check, and it is libxml2/libxmlsec1's to fuzz.
//!
//! The first byte picks the input form (`0`: raw XML, `1`: the base64url parameter, by its
//! value modulo 2), so the seed files under corpus/saml start with that digit.
//! Property: every input is refused with a `SamlError` or yields an issuer, never a panic;
//! a document the pre-check accepts is accepted again with the same issuer (no state).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::oauth::saml::{decode_assertion_param, issuer_of};

fn check(xml: &[u8]) {
    if let Ok(issuer) = issuer_of(xml) {
        assert_eq!(issuer_of(xml).ok(), Some(issuer));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        check(rest);
    } else if let Ok(text) = std::str::from_utf8(rest) {
        if let Ok(xml) = decode_assertion_param(text) {
            check(&xml);
        }
    }
});
