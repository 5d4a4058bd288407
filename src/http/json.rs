//! A small JSON object writer for responses: appends to the connection's reused body
//! buffer, escapes strings with serde_json's escaper, and writes integers with `itoa`.
//! Field names are `&'static str` literals chosen by the code, so they need no escaping.

/// Writes one JSON object into `out`.
#[derive(Debug)]
pub struct JsonObject<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> JsonObject<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> JsonObject<'a> {
        out.push(b'{');
        JsonObject { out, empty: true }
    }

    fn key(&mut self, name: &'static str) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    pub fn str(&mut self, name: &'static str, value: &str) -> &mut Self {
        self.key(name);
        write_str(self.out, value);
        self
    }

    /// A string member whose name is data (metadata names), so it is escaped too.
    pub fn named_str(&mut self, name: &str, value: &str) -> &mut Self {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        write_str(self.out, name);
        self.out.push(b':');
        write_str(self.out, value);
        self
    }

    pub fn num(&mut self, name: &'static str, value: u64) -> &mut Self {
        self.key(name);
        self.out
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    pub fn bool(&mut self, name: &'static str, value: bool) -> &mut Self {
        self.key(name);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    /// Splices the members of an already encoded JSON object (`{"a":"b"}`) into this one.
    /// Used for a token's metadata, which is stored in encoded form.
    pub fn members_of(&mut self, object: &str) -> &mut Self {
        let inner = object
            .trim()
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or("")
            .trim();
        if !inner.is_empty() {
            if !self.empty {
                self.out.push(b',');
            }
            self.empty = false;
            self.out.extend_from_slice(inner.as_bytes());
        }
        self
    }

    pub fn finish(&mut self) {
        self.out.push(b'}');
    }
}

/// Appends `value` as a quoted, escaped JSON string.
pub fn write_str(out: &mut Vec<u8>, value: &str) {
    // Writing into a Vec cannot fail, and a &str always serializes.
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_escaped_fields_in_order() {
        let mut out = Vec::new();
        JsonObject::new(&mut out)
            .str("a", "x\"y\n")
            .num("n", 42)
            .bool("b", false)
            .members_of(r#"{"dept":"Eng"}"#)
            .finish();
        assert_eq!(
            String::from_utf8_lossy(&out),
            r#"{"a":"x\"y\n","n":42,"b":false,"dept":"Eng"}"#
        );
    }

    #[test]
    fn empty_metadata_object_adds_nothing() {
        let mut out = Vec::new();
        JsonObject::new(&mut out)
            .members_of("{}")
            .str("k", "v")
            .finish();
        assert_eq!(String::from_utf8_lossy(&out), r#"{"k":"v"}"#);
    }
}
