//! Chunked request bodies (RFC 9112 §7.1), decoded into a separate reused buffer.
//!
//! The decoder resumes where the last call stopped ([`ChunkState`]): complete chunks are
//! copied out once, a size line or trailer line is searched once, so a body trickling in
//! one byte per read costs work linear in its size. Chunk extensions are ignored and
//! trailer fields are read and dropped.

use super::limits::MAX_CHUNK_FRAMING;
use super::request::ParseError;

/// Longest chunk-size line (size plus extensions) accepted.
const MAX_SIZE_LINE: usize = 4096;

/// How far one body has been decoded; the connection keeps it between reads and resets it
/// for each request.
#[derive(Debug, Default, Clone, Copy)]
pub struct ChunkState {
    /// Raw bytes consumed by complete chunks (already in `out`).
    pos: usize,
    /// How far the current line (size line or trailer line) was searched for its `\n`.
    scanned: usize,
    /// The parsed size line of the chunk whose data is still arriving: (line length, size).
    pending: Option<(usize, usize)>,
    /// After the last chunk: the start of the trailer line being read.
    trailer: Option<usize>,
    /// Raw bytes examined so far, for tests.
    pub examined: usize,
}

/// Decodes the chunked body at the start of `raw` into `out`, continuing from `state`
/// (`raw` must start with the same bytes as on earlier calls, and `out` hold what they
/// decoded). `Ok(Some(n))`: complete, `n` raw bytes consumed; `Ok(None)`: need more bytes.
pub fn decode(
    raw: &[u8],
    out: &mut Vec<u8>,
    max_body: usize,
    state: &mut ChunkState,
) -> Result<Option<usize>, ParseError> {
    if state.pos == 0 && state.pending.is_none() && state.trailer.is_none() {
        out.clear();
    }
    loop {
        if let Some(start) = state.trailer {
            return skip_trailers(raw, start, state);
        }
        let (line_len, size) = match state.pending {
            Some(p) => p,
            None => {
                let Some(line_end) = find_line(raw, state.pos, state, MAX_SIZE_LINE)? else {
                    return Ok(None);
                };
                let line = &raw[state.pos..line_end];
                let (n, size) = match httparse::parse_chunk_size(line) {
                    Ok(httparse::Status::Complete(v)) => v,
                    _ => return Err(ParseError::Malformed("invalid chunk size line")),
                };
                let size = usize::try_from(size).map_err(|_| ParseError::BodyTooLarge)?;
                state.pending = Some((n, size));
                (n, size)
            }
        };
        let data = state.pos + line_len;
        if size == 0 {
            state.pending = None;
            state.pos = data;
            state.trailer = Some(data);
            state.scanned = data;
            continue;
        }
        if out.len().saturating_add(size) > max_body {
            return Err(ParseError::BodyTooLarge);
        }
        if raw.len() < data + size + 2 {
            return Ok(None);
        }
        state.examined += size + 2;
        out.extend_from_slice(&raw[data..data + size]);
        if &raw[data + size..data + size + 2] != b"\r\n" {
            return Err(ParseError::Malformed("chunk data not followed by CRLF"));
        }
        state.pos = data + size + 2;
        state.scanned = state.pos;
        state.pending = None;
    }
}

/// The end (past its `\n`) of the line starting at `start`, searching only bytes not
/// searched before. `None`: not complete yet.
fn find_line(
    raw: &[u8],
    start: usize,
    state: &mut ChunkState,
    max_line: usize,
) -> Result<Option<usize>, ParseError> {
    let from = state.scanned.max(start);
    let found = raw[from..].iter().position(|&b| b == b'\n');
    state.examined += found.map_or(raw.len() - from, |n| n + 1);
    // The limit holds whether the line arrived in one read or trickled in: measured on the
    // complete line as on the part received so far.
    let received = found.map_or(raw.len(), |n| from + n) - start;
    match found {
        _ if received > max_line => Err(ParseError::Malformed("chunk framing line too long")),
        Some(n) => Ok(Some(from + n + 1)),
        None => {
            state.scanned = raw.len();
            Ok(None)
        }
    }
}

/// Skips the trailer section up to and including its empty line.
fn skip_trailers(
    raw: &[u8],
    mut line_start: usize,
    state: &mut ChunkState,
) -> Result<Option<usize>, ParseError> {
    let section_start = state.pos;
    loop {
        let Some(end) = find_line(raw, line_start, state, MAX_CHUNK_FRAMING)? else {
            state.trailer = Some(line_start);
            return Ok(None);
        };
        let line = &raw[line_start..end - 1];
        if line.is_empty() || line == b"\r" {
            return Ok(Some(end));
        }
        if end - section_start > MAX_CHUNK_FRAMING {
            return Err(ParseError::HeadersTooLarge(
                "trailer section exceeds 16384 bytes",
            ));
        }
        line_start = end;
        state.scanned = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_chunks_and_reports_consumed_bytes() {
        let raw = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nNEXT";
        let mut out = Vec::new();
        let n = decode(raw, &mut out, 100, &mut ChunkState::default())
            .expect("ok")
            .expect("complete");
        assert_eq!(out, b"hello world");
        assert_eq!(&raw[n..], b"NEXT");
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let raw = b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let mut out = Vec::new();
        for cut in 0..raw.len() {
            assert_eq!(
                decode(&raw[..cut], &mut out, 100, &mut ChunkState::default()),
                Ok(None),
                "cut {cut}"
            );
        }
        assert_eq!(
            decode(raw, &mut out, 100, &mut ChunkState::default()),
            Ok(Some(raw.len()))
        );
    }

    #[test]
    fn body_over_the_limit_is_413() {
        let mut out = Vec::new();
        let e =
            decode(b"ff\r\n", &mut out, 100, &mut ChunkState::default()).expect_err("must fail");
        assert_eq!(e.status(), 413);
    }

    #[test]
    fn bad_size_line_is_400() {
        let mut out = Vec::new();
        assert_eq!(
            decode(b"zz\r\n", &mut out, 100, &mut ChunkState::default())
                .expect_err("must fail")
                .status(),
            400
        );
        assert_eq!(
            decode(b"2\r\nabX\r\n", &mut out, 100, &mut ChunkState::default())
                .expect_err("must fail")
                .status(),
            400
        );
    }

    /// Feeds `raw` one byte more per call with one state, as a client sending a byte per
    /// segment would.
    fn trickle(raw: &[u8], max: usize) -> (Result<Option<usize>, ParseError>, Vec<u8>, usize) {
        let mut out = Vec::new();
        let mut state = ChunkState::default();
        for cut in 1..=raw.len() {
            match decode(&raw[..cut], &mut out, max, &mut state) {
                Ok(None) if cut < raw.len() => {}
                other => return (other, out, state.examined),
            }
        }
        (Ok(None), out, state.examined)
    }

    #[test]
    fn a_64_kib_body_arriving_byte_by_byte_costs_linear_work() {
        let mut raw = Vec::new();
        let mut body = Vec::new();
        for i in 0..64u32 {
            let chunk = vec![b'a' + (i % 26) as u8; 1024];
            raw.extend_from_slice(format!("{:x};ext=1\r\n", chunk.len()).as_bytes());
            raw.extend_from_slice(&chunk);
            raw.extend_from_slice(b"\r\n");
            body.extend_from_slice(&chunk);
        }
        raw.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
        let (done, out, examined) = trickle(&raw, 64 * 1024);
        assert_eq!(done, Ok(Some(raw.len())));
        assert_eq!(out, body);
        assert!(
            examined <= 2 * raw.len(),
            "examined {examined} bytes of a {}-byte body",
            raw.len()
        );
    }

    #[test]
    fn resumed_decoding_equals_decoding_at_once_for_every_split() {
        let raw = b"3\r\nabc\r\n1;x=y\r\nd\r\n0\r\nT: 1\r\n\r\nNEXT";
        let end = raw.len() - 4;
        for cut in 0..=end {
            let mut out = Vec::new();
            let mut state = ChunkState::default();
            let first = decode(&raw[..cut], &mut out, 100, &mut state).expect("ok");
            let second = decode(raw, &mut out, 100, &mut state).expect("ok");
            assert_eq!(first.or(second), Some(end), "cut {cut}");
            assert_eq!(out, b"abcd", "cut {cut}");
        }
    }

    #[test]
    fn a_size_line_over_the_limit_is_refused_however_it_arrives() {
        // Found by fuzz/fuzz_targets/chunked.rs: a complete over-long line was accepted in
        // one read but refused when it trickled in.
        let raw = format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(MAX_SIZE_LINE));
        let whole = decode(
            raw.as_bytes(),
            &mut Vec::new(),
            100,
            &mut ChunkState::default(),
        );
        assert_eq!(whole.expect_err("too long").status(), 400);
        let (trickled, _, _) = trickle(raw.as_bytes(), 100);
        assert_eq!(trickled.expect_err("too long").status(), 400);
        // At the limit it is accepted both ways.
        let raw = format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(MAX_SIZE_LINE - 3));
        let whole = decode(
            raw.as_bytes(),
            &mut Vec::new(),
            100,
            &mut ChunkState::default(),
        );
        assert_eq!(whole, Ok(Some(raw.len())));
        assert_eq!(trickle(raw.as_bytes(), 100).0, Ok(Some(raw.len())));
    }

    #[test]
    fn endless_size_line_or_trailer_is_refused_not_buffered() {
        let mut out = Vec::new();
        let long = format!("1;{}", "e".repeat(5000));
        let e = decode(long.as_bytes(), &mut out, 100, &mut ChunkState::default());
        assert_eq!(e.expect_err("too long").status(), 400);
        let trailers = format!("0\r\n{}", "X-T: v\r\n".repeat(3000));
        let e = decode(
            trailers.as_bytes(),
            &mut out,
            100,
            &mut ChunkState::default(),
        );
        assert_eq!(e.expect_err("too long").status(), 431);
    }
}
