//! The token endpoint's `assertion` parameter (RFC 7522 §2.1: base64url of the XML) to bytes.
//! Pure: touches `base64` and `std`.
//!
//! Accepted: the base64url alphabet (RFC 4648 §5) as the RFC says, and the standard
//! alphabet (§4) because many IdP tools emit it; one alphabet per value, not a mix.
//! Padding optional. Line breaks (`\r`, `\n`, `\t`) are skipped, as tools wrap base64 at
//! 64 or 76 columns; a space is refused with its own description, because it almost
//! always is a `+` of standard base64 that the client did not percent-encode and the form
//! decoding turned into a space.

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;

use super::{SamlError, MAX_ASSERTION_BYTES};

/// Bytes of the `assertion` parameter, at most [`MAX_ASSERTION_BYTES`].
pub fn decode_assertion_param(s: &str) -> Result<Vec<u8>, SamlError> {
    // Four characters per three bytes, plus room for line breaks: refuse before allocating.
    if s.len() > MAX_ASSERTION_BYTES / 3 * 4 * 2 {
        return Err(SamlError::TooLarge);
    }
    let mut url_safe = false;
    let mut standard = false;
    let mut compact = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\r' | '\n' | '\t' => continue,
            ' ' => return Err(SamlError::Space),
            '-' | '_' => url_safe = true,
            '+' | '/' => standard = true,
            _ => {}
        }
        compact.push(c);
    }
    if url_safe && standard {
        return Err(SamlError::Encoding);
    }
    let unpadded = compact.trim_end_matches('=');
    if compact.len() - unpadded.len() > 2 || unpadded.is_empty() {
        return Err(SamlError::Encoding);
    }
    let engine = if standard {
        &STANDARD_NO_PAD
    } else {
        &URL_SAFE_NO_PAD
    };
    let bytes = engine.decode(unpadded).map_err(|_| SamlError::Encoding)?;
    if bytes.len() > MAX_ASSERTION_BYTES {
        return Err(SamlError::TooLarge);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7522_section_2_1_base64url_with_and_without_padding() {
        // "<a?>" encodes to "PGE_Pg" (url) / "PGE/Pg" (standard).
        assert_eq!(
            decode_assertion_param("PGE_Pg").as_deref(),
            Ok(&b"<a?>"[..])
        );
        assert_eq!(
            decode_assertion_param("PGE_Pg==").as_deref(),
            Ok(&b"<a?>"[..])
        );
        assert_eq!(
            decode_assertion_param("PGE/Pg==").as_deref(),
            Ok(&b"<a?>"[..])
        );
        assert_eq!(
            decode_assertion_param("PGE/\r\nPg").as_deref(),
            Ok(&b"<a?>"[..])
        );
    }

    #[test]
    fn mixed_alphabets_spaces_bad_padding_and_empty_are_refused() {
        assert_eq!(decode_assertion_param("PGE_Pg+/"), Err(SamlError::Encoding));
        assert_eq!(decode_assertion_param("PGE Pg"), Err(SamlError::Space));
        assert_eq!(
            decode_assertion_param("PGE_Pg==="),
            Err(SamlError::Encoding)
        );
        assert_eq!(decode_assertion_param(""), Err(SamlError::Encoding));
        assert_eq!(decode_assertion_param("PG*_Pg"), Err(SamlError::Encoding));
    }

    #[test]
    fn larger_than_the_cap_is_refused() {
        let big = "A".repeat(MAX_ASSERTION_BYTES / 3 * 4 + 8);
        assert_eq!(decode_assertion_param(&big), Err(SamlError::TooLarge));
    }
}
