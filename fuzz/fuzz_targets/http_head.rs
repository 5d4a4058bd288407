//! The request-head parser (src/http/request.rs) fed the way a connection feeds it
//! (src/http/conn.rs): the bytes arrive in reads split at fuzzer-chosen points, leading empty
//! lines are skipped, and one `HeadScan` carries the search over from read to read.
//!
//! Property (differential): after every read, the answer with the carried-over scan equals
//! the answer of a fresh scan over the same bytes, i.e. the resumable search is only an
//! optimisation; once the head is complete it equals the parse of the whole input at once;
//! a head refused part-way is refused whole; and the offsets of a head lie inside the bytes it was parsed from.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tessera::http::request::{parse_head, Framing, Head, HeadScan};
use tessera::http::Limits;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    /// Lengths of the reads (each taken modulo what is left, 0 meaning one byte).
    splits: Vec<u16>,
    bytes: &'a [u8],
}

fn check_ranges(head: &Head, len: usize) {
    assert!(head.len <= len);
    for r in [Some(&head.path), Some(&head.query)]
        .into_iter()
        .chain([&head.content_type, &head.authorization, &head.cookie].map(Option::as_ref))
        .flatten()
    {
        assert!(
            r.start <= r.end && r.end <= head.len,
            "{r:?} outside a {}-byte head",
            head.len
        );
    }
    if let Framing::Length(n) = head.framing {
        assert!(n > 0 && n <= Limits::default().max_body_bytes);
    }
}

fuzz_target!(|input: Input<'_>| {
    let limits = Limits::default();
    let raw = input.bytes;
    // What conn.rs does before it parses: skip empty lines before the request line.
    let start = raw
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(raw.len());
    let raw = &raw[start..];
    if raw.is_empty() {
        return;
    }
    let whole = parse_head(raw, &limits, &mut HeadScan::default());

    let mut scan = HeadScan::default();
    let mut end = 0;
    let mut splits = input.splits.iter();
    let incremental = loop {
        let left = raw.len() - end;
        let step = splits.next().map_or(left, |&s| 1 + usize::from(s) % left);
        end += step;
        let got = parse_head(&raw[..end], &limits, &mut scan);
        let fresh = parse_head(&raw[..end], &limits, &mut HeadScan::default());
        assert_eq!(
            format!("{got:?}"),
            format!("{fresh:?}"),
            "resumed scan differs from a fresh one after {end} of {} bytes",
            raw.len()
        );
        match got {
            Ok(None) if end < raw.len() => continue,
            other => break other,
        }
    };
    if let Ok(Some(head)) = &incremental {
        check_ranges(head, raw.len());
        // The head ended inside the bytes received, so the whole input parses to the same.
        assert_eq!(format!("{incremental:?}"), format!("{whole:?}"));
    }
    // A limit that fires on part of the input fires on all of it: how the bytes were split
    // into reads must not decide whether a request is refused.
    if incremental.is_err() {
        assert!(
            whole.is_err(),
            "refused after {end} bytes, accepted whole: {whole:?}"
        );
    }
    if end == raw.len() {
        assert_eq!(format!("{incremental:?}"), format!("{whole:?}"));
    }
});
