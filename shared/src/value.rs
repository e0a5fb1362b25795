//! Compact JSON values for event fields: what a Python `dict` value would hold after `json.loads`.
//!
//! Celery event fields are copied onto tasks and workers verbatim, so the State must keep each
//! value with the JSON type it arrived with (an int stays an int, `1.0` stays a float). Scalars are
//! stored inline; strings are shared (`Rc<str>`, so repeated task names cost one allocation);
//! arrays and objects are kept as their JSON text; integers beyond `i64` are read as floats, as
//! common JSON parsers read them. Long strings (tracebacks, big arguments) may be kept
//! LZ4-compressed ([`Value::Packed`]): they are rarely read and often most of a task's memory.

use std::borrow::Cow;
use std::fmt;
use std::rc::Rc;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, Serializer};

/// A number as it arrived: integers stay integers, floats stay floats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    /// A JSON integer that fits `i64`.
    Int(i64),
    /// A JSON number with a fraction or exponent (or an integer beyond `i64`).
    Float(f64),
}

impl Num {
    /// The value as `f64`, as Python's arithmetic would see it.
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    /// Python truthiness: zero is false.
    pub fn is_truthy(self) -> bool {
        self.as_f64() != 0.0
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a.partial_cmp(b),
            _ => self.as_f64().partial_cmp(&other.as_f64()),
        }
    }
}

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Num::Int(i) => s.serialize_i64(i),
            Num::Float(f) => s.serialize_f64(f),
        }
    }
}

impl From<Num> for Value {
    fn from(n: Num) -> Value {
        match n {
            Num::Int(i) => Value::Int(i),
            Num::Float(f) => Value::Float(f),
        }
    }
}

/// One JSON value of an event field.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    /// `null` (Python `None`); also the default of every unset field.
    #[default]
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// A float (or an integer too large for `i64`, as JSON parsers commonly read it).
    Float(f64),
    /// A string.
    Str(Rc<str>),
    /// An array or object, kept as JSON text (events carry few: `loadavg`, custom fields).
    Json(Rc<str>),
    /// A long string, LZ4-compressed (size-prefixed block). Read it with [`Value::text`].
    Packed(Rc<[u8]>),
}

impl Value {
    /// The string, if this is a JSON string stored as is (not [`Value::Packed`]; see
    /// [`Value::text`] for any string).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The string, if this is a JSON string, unpacking a [`Value::Packed`] one.
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Value::Str(s) => Some(Cow::Borrowed(s)),
            Value::Packed(p) => Some(Cow::Owned(unpack(p))),
            _ => None,
        }
    }

    /// Stores `s`, compressed when that saves at least a quarter of it: for values built outside a
    /// State (tests, tools). The State packs through its own reused buffers, by the same rule
    /// (`worth_packing`).
    pub fn packed_or_plain(s: &str) -> Value {
        let packed = lz4_flex::block::compress_prepend_size(s.as_bytes());
        if worth_packing(packed.len(), s.len()) {
            Value::Packed(Rc::from(packed))
        } else {
            Value::Str(Rc::from(s))
        }
    }

    /// The number, if this is a JSON number.
    pub fn as_num(&self) -> Option<Num> {
        match *self {
            Value::Int(i) => Some(Num::Int(i)),
            Value::Float(f) => Some(Num::Float(f)),
            _ => None,
        }
    }

    /// `true` for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Python truthiness of the decoded value (`None`, `False`, `0`, `""`, `[]`, `{}` are false).
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Packed(_) => true, // only long strings are packed
            Value::Json(j) => !matches!(j.trim(), "[]" | "{}"),
        }
    }

    /// Text for display: strings as they are, everything else as JSON.
    pub fn display(&self) -> String {
        match self {
            Value::Str(_) | Value::Packed(_) => self.text().unwrap_or_default().into_owned(),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Value {
    /// Writes the value as JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Json(j) => f.write_str(j),
            other => f.write_str(&serde_json::to_string(other).map_err(|_| fmt::Error)?),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(v) => s.serialize_str(v),
            Value::Packed(p) => s.serialize_str(&unpack(p)),
            Value::Json(j) => {
                // Kept as validated JSON text at decode time; re-parse only when serialising.
                // Non-finite numbers come out as null, as a `Value::Float` of them does, and lone
                // surrogates as U+FFFD, as in strings (see `json::strict_json`).
                let raw: serde_json::Value = serde_json::from_str(&crate::json::strict_json(j))
                    .map_err(serde::ser::Error::custom)?;
                raw.serialize(s)
            }
        }
    }
}

/// Whether a packed form of `packed` bytes is worth keeping instead of `plain` bytes of text: it
/// saves at least a quarter.
pub(crate) fn worth_packing(packed: usize, plain: usize) -> bool {
    packed * 4 <= plain * 3
}

/// Unpacks a [`Value::Packed`] string. Packed data is only ever made from valid UTF-8 (by the
/// State's `Strings::compress` or by [`Value::packed_or_plain`]), so failure would be a bug; it
/// yields an empty string rather than a panic.
fn unpack(p: &[u8]) -> String {
    lz4_flex::block::decompress_size_prepended(p)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default()
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// Builds a [`Value`] straight from the parser, without an intermediate `serde_json::Value` for
/// scalars (the common case).
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(Rc::from(v)))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(Rc::from(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        let v: serde_json::Value = Deserialize::deserialize(SeqAccessDeserializer::new(seq))?;
        Ok(Value::Json(Rc::from(v.to_string())))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        let v: serde_json::Value = Deserialize::deserialize(MapAccessDeserializer::new(map))?;
        Ok(Value::Json(Rc::from(v.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let v: Value = serde_json::from_str(text).unwrap();
        serde_json::to_string(&v).unwrap()
    }

    #[test]
    fn values_keep_their_json_types() {
        for (input, expect) in [
            ("null", "null"),
            ("true", "true"),
            ("5", "5"),
            ("5.0", "5.0"),
            ("1795503313.6964676", "1795503313.6964676"),
            ("-0.5", "-0.5"),
            ("\"a\\u00e9<b>\"", "\"aé<b>\""),
            ("[1.37, 0.94, 0.39]", "[1.37,0.94,0.39]"),
            ("{\"a\": [1, {\"b\": null}]}", "{\"a\":[1,{\"b\":null}]}"),
            ("18446744073709551615", "1.8446744073709552e+19"),
        ] {
            assert_eq!(round_trip(input), expect, "input {input}");
        }
    }

    #[test]
    fn long_repetitive_strings_are_packed_and_read_back() {
        let traceback =
            "Traceback (most recent call last):\n  File \"/srv/app.py\", line 7\n".repeat(30);
        let v = Value::packed_or_plain(&traceback);
        assert!(matches!(v, Value::Packed(_)));
        assert!(matches!(&v, Value::Packed(p) if p.len() * 4 < traceback.len()));
        assert_eq!(v.text().as_deref(), Some(traceback.as_str()));
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            serde_json::Value::from(traceback.as_str())
        );
        assert!(matches!(
            Value::packed_or_plain("short and unique"),
            Value::Str(_)
        ));
    }

    #[test]
    fn truthiness_follows_python() {
        for (input, truthy) in [
            ("null", false),
            ("0", false),
            ("0.0", false),
            ("\"\"", false),
            ("[]", false),
            ("{}", false),
            ("false", false),
            ("1", true),
            ("\"x\"", true),
            ("[0]", true),
        ] {
            let v: Value = serde_json::from_str(input).unwrap();
            assert_eq!(v.is_truthy(), truthy, "input {input}");
        }
    }
}
