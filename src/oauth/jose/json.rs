//! JSON parsing for JOSE objects that refuses a member name repeated in any object, at any
//! depth. RFC 7515 §5.2 lets a parser either refuse such input or keep the last value;
//! serde_json keeps the last, another library (the signer's, a proxy's, a log reader's) may
//! keep the first, and the difference lets an attacker show one `sub` or `alg` to one
//! reader and another to us. Names are compared after unescaping (`"a\u006cg"` is `"alg"`).
//! serde_json's recursion limit (128) bounds the depth. No I/O.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Why [`parse_object`] refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON, or not an object at the top.
    NotObject,
    /// An object repeats a member name.
    Duplicate,
}

/// The top-level JSON object of `bytes`, refusing repeated member names anywhere.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = match Strict.deserialize(&mut de) {
        Ok(v) => v,
        // Our visitor raises the only data errors (a repeated name); everything else
        // serde_json reports is syntax, EOF or I/O.
        Err(e) if e.is_data() => return Err(JsonError::Duplicate),
        Err(_) => return Err(JsonError::NotObject),
    };
    if de.end().is_err() {
        return Err(JsonError::NotObject);
    }
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotObject),
    }
}

/// Deserializes any JSON value into a [`Value`], failing on a repeated member name.
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // serde_json never yields a non-finite float, so this is never Null in practice.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value = access.next_value_seed(Strict)?;
            if map.contains_key(&key) {
                return Err(de::Error::custom("repeated member name"));
            }
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7515_5_2_repeated_member_refused() {
        assert_eq!(
            parse_object(br#"{"alg":"RS256","alg":"none"}"#),
            Err(JsonError::Duplicate)
        );
    }

    #[test]
    fn repeated_member_refused_after_unescaping() {
        assert_eq!(
            parse_object(br#"{"alg":"RS256","a\u006cg":"none"}"#),
            Err(JsonError::Duplicate)
        );
    }

    #[test]
    fn repeated_member_refused_in_nested_object() {
        assert_eq!(
            parse_object(br#"{"x":[{"a":1,"a":2}]}"#),
            Err(JsonError::Duplicate)
        );
    }

    #[test]
    fn object_parsed() {
        let m = parse_object(br#" {"a":1,"b":[true,null,"s",1.5,-3]} "#).expect("object");
        assert_eq!(m.len(), 2);
        assert_eq!(m["a"], Value::from(1u64));
    }

    #[test]
    fn non_object_and_trailing_garbage_refused() {
        for bad in [
            &b"[1]"[..],
            b"\"s\"",
            b"1",
            b"null",
            b"{} {}",
            b"{",
            b"",
            b"\xff",
            b"{\"a\":1,}",
        ] {
            assert_eq!(parse_object(bad), Err(JsonError::NotObject), "{bad:?}");
        }
    }

    #[test]
    fn deep_nesting_refused_not_overflowed() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse_object(deep.as_bytes()), Err(JsonError::NotObject));
    }
}
