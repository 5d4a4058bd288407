//! Chunked request bodies (RFC 9112 §7.1), decoded into a separate reused buffer.
//!
//! The decoder runs over the raw bytes after the head each time more arrive; bodies are at
//! most `max_body_bytes`, so re-scanning from the start is cheap and keeps no state between
//! reads. Chunk extensions are ignored and trailer fields are read and dropped.

use super::request::ParseError;

/// Decodes the chunked body at the start of `raw` into `out` (cleared first).
/// `Ok(Some(n))`: complete, `n` raw bytes consumed; `Ok(None)`: need more bytes.
pub fn decode(raw: &[u8], out: &mut Vec<u8>, max_body: usize) -> Result<Option<usize>, ParseError> {
    out.clear();
    let mut pos = 0;
    loop {
        let (size_len, size) = match httparse::parse_chunk_size(&raw[pos..]) {
            Ok(httparse::Status::Complete(v)) => v,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(ParseError::Malformed("invalid chunk size line")),
        };
        pos += size_len;
        let size = usize::try_from(size).map_err(|_| ParseError::BodyTooLarge)?;
        if size == 0 {
            return Ok(skip_trailers(&raw[pos..])?.map(|n| pos + n));
        }
        if out.len().saturating_add(size) > max_body {
            return Err(ParseError::BodyTooLarge);
        }
        if raw.len() < pos + size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&raw[pos..pos + size]);
        pos += size;
        if &raw[pos..pos + 2] != b"\r\n" {
            return Err(ParseError::Malformed("chunk data not followed by CRLF"));
        }
        pos += 2;
    }
}

/// Skips the trailer section up to and including its empty line.
fn skip_trailers(raw: &[u8]) -> Result<Option<usize>, ParseError> {
    let mut pos = 0;
    loop {
        let Some(nl) = raw[pos..].iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let line = &raw[pos..pos + nl];
        pos += nl + 1;
        if line.is_empty() || line == b"\r" {
            return Ok(Some(pos));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_chunks_and_reports_consumed_bytes() {
        let raw = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nNEXT";
        let mut out = Vec::new();
        let n = decode(raw, &mut out, 100).expect("ok").expect("complete");
        assert_eq!(out, b"hello world");
        assert_eq!(&raw[n..], b"NEXT");
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let raw = b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let mut out = Vec::new();
        for cut in 0..raw.len() {
            assert_eq!(decode(&raw[..cut], &mut out, 100), Ok(None), "cut {cut}");
        }
        assert_eq!(decode(raw, &mut out, 100), Ok(Some(raw.len())));
    }

    #[test]
    fn body_over_the_limit_is_413() {
        let mut out = Vec::new();
        let e = decode(b"ff\r\n", &mut out, 100).expect_err("must fail");
        assert_eq!(e.status(), 413);
    }

    #[test]
    fn bad_size_line_is_400() {
        let mut out = Vec::new();
        assert_eq!(
            decode(b"zz\r\n", &mut out, 100)
                .expect_err("must fail")
                .status(),
            400
        );
        assert_eq!(
            decode(b"2\r\nabX\r\n", &mut out, 100)
                .expect_err("must fail")
                .status(),
            400
        );
    }
}
