//! The chunked body decoder (src/http/chunked.rs) fed as a connection feeds it: the raw body
//! arrives in reads split at fuzzer-chosen points, one `ChunkState` and one output buffer
//! carried from read to read.
//!
//! Properties: after every read the resumed decode equals a fresh decode of the same bytes
//! (answer and decoded body); the decoded body never exceeds the limit; a complete body
//! consumed no more than was received and equals the decode of the whole input at once; a
//! body refused part-way is refused whole.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tessera::http::chunked::{decode, ChunkState};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    /// The body limit (`server.max_body_bytes`), small so the fuzzer reaches it.
    max_body: u16,
    /// Lengths of the reads, less one (capped at what is left).
    splits: Vec<u16>,
    bytes: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let raw = input.bytes;
    let max = usize::from(input.max_body);
    let mut whole_out = Vec::new();
    let whole = decode(raw, &mut whole_out, max, &mut ChunkState::default());
    assert!(whole_out.len() <= max);

    let mut out = Vec::new();
    let mut state = ChunkState::default();
    let mut end = 0;
    let mut splits = input.splits.iter();
    let incremental = loop {
        let left = raw.len() - end;
        let step = splits
            .next()
            .map_or(left, |&s| (1 + usize::from(s)).min(left));
        end += step;
        let got = decode(&raw[..end], &mut out, max, &mut state);
        let mut fresh_out = Vec::new();
        let fresh = decode(&raw[..end], &mut fresh_out, max, &mut ChunkState::default());
        assert_eq!(
            got, fresh,
            "resumed decode differs from a fresh one after {end} bytes"
        );
        if got.is_ok() {
            assert_eq!(out, fresh_out, "decoded bodies differ after {end} bytes");
        }
        assert!(
            out.len() <= max,
            "{} decoded bytes over a limit of {max}",
            out.len()
        );
        match got {
            Ok(None) if end < raw.len() => continue,
            other => break other,
        }
    };
    match incremental {
        Ok(Some(n)) => {
            assert!(n <= end);
            assert_eq!(whole, Ok(Some(n)));
            assert_eq!(out, whole_out);
        }
        Ok(None) => assert_eq!(whole, Ok(None)),
        Err(_) => assert!(
            whole.is_err(),
            "refused after {end} of {} bytes, whole: {whole:?}",
            raw.len()
        ),
    }
});
