//! The `--lines` file of the scenarios that send something single-use on every request (a
//! JWT or SAML bearer assertion, whose `jti` / `ID` the server remembers store-wide, or a
//! whole token request body): read into memory once before the load starts, then handed
//! out line by line to every load thread through one atomic cursor, each line at most
//! once. Reading the file is the only I/O here; handing out a line allocates nothing.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Every non-empty line of a file, in one buffer.
#[derive(Debug, Default)]
pub struct Lines {
    data: Vec<u8>,
    /// `(start, end)` of each line in `data`, without its line break.
    spans: Vec<(usize, usize)>,
    /// The next line to hand out; past `spans.len()` once the file is used up.
    next: AtomicUsize,
}

impl Lines {
    pub fn load(path: &Path) -> Result<Lines, String> {
        let data = std::fs::read(path).map_err(|e| format!("--lines {}: {e}", path.display()))?;
        let lines = Lines::from_bytes(data);
        if lines.is_empty() {
            return Err(format!("--lines {}: no lines", path.display()));
        }
        Ok(lines)
    }

    /// Splits on `\n` (a `\r` before it is dropped); empty lines are skipped.
    pub fn from_bytes(data: Vec<u8>) -> Lines {
        let mut spans = Vec::new();
        let mut start = 0;
        while start < data.len() {
            let end = data[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(data.len(), |i| start + i);
            let mut stop = end;
            if stop > start && data[stop - 1] == b'\r' {
                stop -= 1;
            }
            if stop > start {
                spans.push((start, stop));
            }
            start = end + 1;
        }
        Lines {
            data,
            spans,
            next: AtomicUsize::new(0),
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The next unused line, or `None` once every line was handed out.
    pub fn take(&self) -> Option<&[u8]> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.spans.get(i).map(|&(from, to)| &self.data[from..to])
    }

    /// How many lines were handed out so far.
    pub fn used(&self) -> usize {
        self.next.load(Ordering::Relaxed).min(self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_handed_out_once_each_in_order_then_none() {
        let lines = Lines::from_bytes(b"a.b.c\r\n\nsecond\nlast".to_vec());
        assert_eq!(lines.len(), 3);
        assert_eq!(lines.take(), Some(&b"a.b.c"[..]));
        assert_eq!(lines.take(), Some(&b"second"[..]));
        assert_eq!(lines.used(), 2);
        assert_eq!(lines.take(), Some(&b"last"[..]));
        assert_eq!(lines.take(), None);
        assert_eq!(lines.take(), None);
        assert_eq!(lines.used(), 3);
    }

    #[test]
    fn a_file_of_blank_lines_has_none() {
        assert!(Lines::from_bytes(b"\n\r\n\n".to_vec()).is_empty());
        assert!(Lines::from_bytes(Vec::new()).is_empty());
    }
}
