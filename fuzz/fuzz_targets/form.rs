//! The form / query decoder the endpoints use (src/oauth/params.rs, over `form_urlencoded`).
//!
//! Properties: arbitrary bytes are decoded or refused (a repeated parameter), never a panic;
//! when `Params::parse` accepts, `Params::parse_first` (the lenient reading of the authorize
//! query) reads the same values; and a form serialized from distinct known names with
//! non-empty values decodes back to exactly those values.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::borrow::Cow;
use tessera::oauth::params::Params;

/// Some of the names `Params` knows (secrets and non-secrets), with their slot.
const NAMES: [&str; 10] = [
    "grant_type",
    "scope",
    "username",
    "password",
    "client_id",
    "client_secret",
    "code",
    "redirect_uri",
    "state",
    "assertion",
];

fn slot<'p, 'a>(p: &'p Params<'a>, name: &str) -> &'p Option<Cow<'a, str>> {
    match name {
        "grant_type" => &p.grant_type,
        "scope" => &p.scope,
        "username" => &p.username,
        "password" => &p.password,
        "client_id" => &p.client_id,
        "client_secret" => &p.client_secret,
        "code" => &p.code,
        "redirect_uri" => &p.redirect_uri,
        "state" => &p.state,
        _ => &p.assertion,
    }
}

#[derive(Debug, Arbitrary)]
enum Input<'a> {
    Raw(&'a [u8]),
    Pairs(Vec<(u8, String)>, Vec<(String, String)>),
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Raw(bytes) => {
        let first = Params::parse_first(bytes);
        if let Ok(strict) = Params::parse(bytes) {
            for name in NAMES {
                assert_eq!(slot(&strict, name), slot(&first, name), "{name}");
            }
        }
        let mut merged = Params::default();
        let _ = merged.merge(bytes);
    }
    Input::Pairs(known, unknown) => {
        let mut expected: Vec<(&str, &str)> = Vec::new();
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (i, value) in &known {
            let name = NAMES[usize::from(*i) % NAMES.len()];
            if value.is_empty() || expected.iter().any(|(n, _)| *n == name) {
                continue;
            }
            expected.push((name, value));
            form.append_pair(name, value);
        }
        for (name, value) in &unknown {
            // Unknown parameters are ignored (RFC 6749 §3.1), whatever they hold.
            if !NAMES.contains(&name.as_str()) && !name.is_empty() {
                if Params::parse(format!("{name}=x&{name}=y").as_bytes()).is_ok() {
                    form.append_pair(name, value);
                }
            }
        }
        let form = form.finish();
        let p = Params::parse(form.as_bytes()).expect("a serialized form with distinct names");
        for name in NAMES {
            let want = expected.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
            assert_eq!(slot(&p, name).as_deref(), want, "{name} of {form:?}");
        }
    }
});
