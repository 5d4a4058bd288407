//! The `Date` header (RFC 9110 §6.6.1), formatted once per second per worker.

use std::cell::Cell;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// IMF-fixdate is always 29 bytes: `Sun, 06 Nov 1994 08:49:37 GMT`.
const LEN: usize = 29;

#[derive(Debug)]
pub struct DateCache {
    second: Cell<u64>,
    value: Cell<[u8; LEN]>,
}

impl Default for DateCache {
    fn default() -> Self {
        DateCache {
            second: Cell::new(u64::MAX),
            value: Cell::new([b' '; LEN]),
        }
    }
}

impl DateCache {
    /// The current date header value.
    pub fn now(&self) -> [u8; LEN] {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second.get() {
            // Formatted into the array: `fmt_http_date` would allocate a String every second.
            let mut value = [b' '; LEN];
            let _ = write!(&mut value[..], "{}", httpdate::HttpDate::from(now));
            self.value.set(value);
            self.second.set(second);
        }
        self.value.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_is_an_imf_fixdate() {
        let d = DateCache::default().now();
        let s = String::from_utf8_lossy(&d);
        assert!(s.ends_with(" GMT"), "{s}");
        assert!(httpdate::parse_http_date(&s).is_ok(), "{s}");
    }
}
