//! `Authorization: Basic` decoding: the client credentials of RFC 6749 §2.3.1
//! (`base64(urlencode(id) ":" urlencode(secret))`, src/oauth/client_auth.rs `presented`) and
//! a resource owner's RFC 7617 credentials (`basic_credentials`, not form-encoded).
//!
//! Properties: arbitrary header bytes are decoded or refused, never a panic; credentials
//! encoded as the RFC says decode back to the same id and password.
#![no_main]

use arbitrary::Arbitrary;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use tessera::oauth::client_auth::{basic_credentials, presented, strip_scheme};
use tessera::oauth::params::Params;

#[derive(Debug, Arbitrary)]
enum Input<'a> {
    Header(&'a [u8]),
    Client { id: String, secret: String },
    Owner { user: String, password: String },
}

fuzz_target!(|input: Input<'_>| {
    let none = Params::default();
    match input {
        Input::Header(header) => {
            let _ = strip_scheme(header, b"Basic");
            let _ = basic_credentials(header);
            if let Ok(p) = presented(Some(header), &none) {
                let _ = format!("{p:?}");
            }
        }
        Input::Client { id, secret } => {
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let header = format!(
                "Basic {}",
                B64.encode(format!("{}:{}", enc(&id), enc(&secret)))
            );
            let p = presented(Some(header.as_bytes()), &none).expect("well-formed Basic");
            assert_eq!(p.client_id(), Some(id.as_str()));
            // The scheme is case-insensitive (RFC 9110 §11.1).
            let lower = header.replacen("Basic", "bAsIc", 1);
            let p = presented(Some(lower.as_bytes()), &none).expect("well-formed Basic");
            assert_eq!(p.client_id(), Some(id.as_str()));
        }
        Input::Owner { user, password } => {
            if user.contains(':') {
                return;
            }
            let header = format!("Basic {}", B64.encode(format!("{user}:{password}")));
            let (u, p) = basic_credentials(header.as_bytes()).expect("well-formed Basic");
            assert_eq!((u, p.0), (user, password));
        }
    }
});
