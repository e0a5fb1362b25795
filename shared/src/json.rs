//! A strict JSON reader specialised for Celery events: it borrows every string it can from the
//! input and never builds a tree. Strings without escapes, arrays and objects nested inside a field
//! are returned as slices of the input; only escaped strings allocate.
//!
//! It accepts exactly RFC 8259 JSON (no `NaN`/`Infinity`, no comments, no trailing commas, no
//! control characters or invalid UTF-8 in strings, no lone surrogate escapes), with nesting limited
//! to [`MAX_DEPTH`] so hostile input cannot exhaust the stack. Its agreement with `serde_json` on
//! arbitrary input is a property test (`tests/properties.rs`).

use std::borrow::Cow;
use std::fmt;

/// Deepest nesting accepted (serde_json's default limit is the same).
pub const MAX_DEPTH: usize = 128;

/// A JSON syntax error at a byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// What was wrong.
    pub what: &'static str,
    /// Byte offset in the input.
    pub at: usize,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

/// One scalar or nested value, borrowed from the input where possible.
#[derive(Clone, Debug, PartialEq)]
pub enum JsonRef<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// Any other number (integers beyond `i64` included, as common JSON parsers read them).
    Float(f64),
    /// A string without escapes, borrowed.
    Str(&'a str),
    /// A string with escapes, decoded (or any string, once owned).
    Escaped(Box<str>),
    /// An array or object, as its (validated) JSON text.
    Json(&'a str),
    /// An array or object's JSON text, owned.
    JsonOwned(Box<str>),
}

impl<'a> JsonRef<'a> {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            JsonRef::Str(s) => Some(s),
            JsonRef::Escaped(s) => Some(s),
            _ => None,
        }
    }

    /// The same value, owning its text.
    pub fn into_owned(self) -> JsonRef<'static> {
        match self {
            JsonRef::Null => JsonRef::Null,
            JsonRef::Bool(b) => JsonRef::Bool(b),
            JsonRef::Int(i) => JsonRef::Int(i),
            JsonRef::Float(f) => JsonRef::Float(f),
            JsonRef::Str(s) => JsonRef::Escaped(s.into()),
            JsonRef::Escaped(s) => JsonRef::Escaped(s),
            JsonRef::Json(j) => JsonRef::JsonOwned(j.into()),
            JsonRef::JsonOwned(j) => JsonRef::JsonOwned(j),
        }
    }

    /// The JSON text of an array or object.
    pub fn as_json_text(&self) -> Option<&str> {
        match self {
            JsonRef::Json(j) => Some(j),
            JsonRef::JsonOwned(j) => Some(j),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_num(&self) -> Option<crate::value::Num> {
        match *self {
            JsonRef::Int(i) => Some(crate::value::Num::Int(i)),
            JsonRef::Float(f) => Some(crate::value::Num::Float(f)),
            _ => None,
        }
    }

    /// The string as a `Cow`, if this is one.
    pub fn into_str(self) -> Option<Cow<'a, str>> {
        match self {
            JsonRef::Str(s) => Some(Cow::Borrowed(s)),
            JsonRef::Escaped(s) => Some(Cow::Owned(s.into())),
            _ => None,
        }
    }
}

/// Reading position over the input.
pub(crate) struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

type Result<T> = std::result::Result<T, SyntaxError>;

impl<'a> Reader<'a> {
    /// A reader over `input`, validated as UTF-8 once here (so every string inside is a plain
    /// slice: quotes are ASCII, hence always on character boundaries).
    pub(crate) fn new(input: &'a [u8]) -> Result<Reader<'a>> {
        let s = std::str::from_utf8(input).map_err(|e| SyntaxError {
            what: "invalid UTF-8",
            at: e.valid_up_to(),
        })?;
        Ok(Reader { s, b: input, i: 0 })
    }

    fn err<T>(&self, what: &'static str) -> Result<T> {
        Err(SyntaxError { what, at: self.i })
    }

    /// Skips whitespace and returns the next byte without consuming it.
    #[inline]
    pub(crate) fn peek(&mut self) -> Option<u8> {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(c);
            }
            self.i += 1;
        }
        None
    }

    /// Succeeds only if nothing but whitespace is left.
    pub(crate) fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.err("trailing characters"),
        }
    }

    #[inline]
    fn expect(&mut self, c: u8, what: &'static str) -> Result<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.err(what)
        }
    }

    /// Reads `[`, then calls `item` for each element (positioned at it), then `]`.
    pub(crate) fn array(&mut self, mut item: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.expect(b'[', "expected `[`")?;
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            item(self)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return self.err("expected `,` or `]`"),
            }
        }
    }

    /// Reads `{`, then calls `entry(key, reader)` for each member (the reader is positioned at the
    /// value, which `entry` must consume), then `}`.
    pub(crate) fn object(
        &mut self,
        mut entry: impl FnMut(Cow<'a, str>, &mut Self) -> Result<()>,
    ) -> Result<()> {
        self.expect(b'{', "expected `{`")?;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return self.err("expected a string key");
            }
            let key = self.string()?;
            self.expect(b':', "expected `:`")?;
            entry(key, self)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return self.err("expected `,` or `}`"),
            }
        }
    }

    /// Reads any value; arrays and objects come back as their text.
    #[inline]
    pub(crate) fn value(&mut self) -> Result<JsonRef<'a>> {
        match self.peek() {
            Some(b'"') => Ok(match self.string()? {
                Cow::Borrowed(s) => JsonRef::Str(s),
                Cow::Owned(s) => JsonRef::Escaped(s.into_boxed_str()),
            }),
            Some(b'[' | b'{') => {
                let start = self.i;
                self.skip(0)?;
                Ok(JsonRef::Json(&self.s[start..self.i]))
            }
            Some(b't') => self.literal(b"true", JsonRef::Bool(true)),
            Some(b'f') => self.literal(b"false", JsonRef::Bool(false)),
            Some(b'n') => self.literal(b"null", JsonRef::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.err("expected a value"),
            None => self.err("unexpected end of input"),
        }
    }

    /// Skips one value of any kind, validating it.
    pub(crate) fn skip(&mut self, depth: usize) -> Result<()> {
        if depth >= MAX_DEPTH {
            return self.err("nesting too deep");
        }
        match self.peek() {
            Some(b'[') => self.array(|r| r.skip(depth + 1)),
            Some(b'{') => self.object(|_, r| r.skip(depth + 1)),
            _ => self.value().map(drop),
        }
    }

    fn literal(&mut self, word: &'static [u8], v: JsonRef<'a>) -> Result<JsonRef<'a>> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            self.err("invalid literal")
        }
    }

    fn number(&mut self) -> Result<JsonRef<'a>> {
        let start = self.i;
        let b = self.b;
        // Digits are accumulated while scanning (`mantissa`, `count`), so common numbers need no
        // second pass: integers of up to 18 digits, and decimals whose digits fit 2^53 (Clinger's
        // fast path: one exact division, correctly rounded). Anything else goes to `str::parse`.
        let mut mantissa: u64 = 0;
        let mut count = 0usize;
        let mut digits = |i: &mut usize| {
            let s = *i;
            while let Some(&c) = b.get(*i).filter(|c| c.is_ascii_digit()) {
                if count < 19 {
                    mantissa = mantissa * 10 + u64::from(c - b'0');
                }
                count += 1;
                *i += 1;
            }
            *i - s
        };
        let mut i = self.i;
        let negative = b[i] == b'-';
        if negative {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                digits(&mut i);
            }
            _ => {
                return Err(SyntaxError {
                    what: "invalid number",
                    at: i,
                });
            }
        }
        let mut float = false;
        let mut fraction = 0;
        if b.get(i) == Some(&b'.') {
            i += 1;
            float = true;
            fraction = digits(&mut i);
            if fraction == 0 {
                return Err(SyntaxError {
                    what: "invalid number",
                    at: i,
                });
            }
        }
        let mut exponent = false;
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            float = true;
            exponent = true;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let skip = |i: &mut usize| {
                let s = *i;
                while b.get(*i).is_some_and(u8::is_ascii_digit) {
                    *i += 1;
                }
                *i - s
            };
            if skip(&mut i) == 0 {
                return Err(SyntaxError {
                    what: "invalid number",
                    at: i,
                });
            }
        }
        self.i = i;
        const POW10: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
            1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        ];
        if !float && count <= 18 {
            let n = mantissa as i64;
            return Ok(JsonRef::Int(if negative { -n } else { n }));
        }
        if float && !exponent && count <= 19 && mantissa <= 1 << 53 && fraction < POW10.len() {
            let v = mantissa as f64 / POW10[fraction];
            return Ok(JsonRef::Float(if negative { -v } else { v }));
        }
        let text = &self.s[start..i];
        if !float && let Ok(n) = text.parse::<i64>() {
            return Ok(JsonRef::Int(n));
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(JsonRef::Float(f)),
            _ => Err(SyntaxError {
                what: "number out of range",
                at: start,
            }),
        }
    }

    /// Reads a string (the reader is at its opening quote).
    #[inline]
    fn string(&mut self) -> Result<Cow<'a, str>> {
        self.i += 1;
        let start = self.i;
        let end = self.scan_plain(start);
        match self.b.get(end) {
            Some(b'"') => {
                self.i = end + 1;
                Ok(Cow::Borrowed(&self.s[start..end]))
            }
            Some(b'\\') => self.escaped(start, end).map(Cow::Owned),
            Some(_) => Err(SyntaxError {
                what: "control character in string",
                at: end,
            }),
            None => Err(SyntaxError {
                what: "unterminated string",
                at: start,
            }),
        }
    }

    /// The index of the first `"`, `\` or control byte at or after `i`, eight bytes at a time.
    #[inline]
    fn scan_plain(&self, mut i: usize) -> usize {
        const LO: u64 = 0x0101_0101_0101_0101;
        const HI: u64 = 0x8080_8080_8080_8080;
        let b = self.b;
        while i + 8 <= b.len() {
            let w = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
            let quote = w ^ (LO * u64::from(b'"'));
            let slash = w ^ (LO * u64::from(b'\\'));
            let special = ((quote.wrapping_sub(LO) & !quote)
                | (slash.wrapping_sub(LO) & !slash)
                | (w.wrapping_sub(LO * 0x20) & !w))
                & HI;
            if special != 0 {
                // Borrows can only mark bytes *above* a real match, so the lowest mark is exact.
                return i + (special.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        while let Some(&c) = b.get(i) {
            if c == b'"' || c == b'\\' || c < 0x20 {
                return i;
            }
            i += 1;
        }
        i
    }

    fn escaped(&mut self, start: usize, mut i: usize) -> Result<String> {
        let b = self.b;
        let mut out = String::with_capacity(i - start + 16);
        out.push_str(&self.s[start..i]);
        loop {
            match b.get(i) {
                Some(b'"') => {
                    self.i = i + 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let c = match b.get(i + 1) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let (c, used) = self.unicode_escape(i)?;
                            out.push(c);
                            i += used;
                            continue;
                        }
                        _ => {
                            return Err(SyntaxError {
                                what: "invalid escape",
                                at: i,
                            });
                        }
                    };
                    out.push(c);
                    i += 2;
                }
                Some(&c) if c < 0x20 => {
                    return Err(SyntaxError {
                        what: "control character in string",
                        at: i,
                    });
                }
                Some(_) => {
                    let end = self.scan_plain(i);
                    out.push_str(&self.s[i..end]);
                    if end >= b.len() {
                        return Err(SyntaxError {
                            what: "unterminated string",
                            at: start,
                        });
                    }
                    i = end;
                }
                None => {
                    return Err(SyntaxError {
                        what: "unterminated string",
                        at: start,
                    });
                }
            }
        }
    }

    /// Decodes `\uXXXX` (and a following low surrogate) at `i`; returns the char and bytes used.
    fn unicode_escape(&self, i: usize) -> Result<(char, usize)> {
        let hex = |at: usize| -> Result<u32> {
            // `get` also refuses a range that would split a multi-byte character.
            let s = self.s.get(at..at + 4).ok_or(SyntaxError {
                what: "invalid \\u escape",
                at,
            })?;
            if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(SyntaxError {
                    what: "invalid \\u escape",
                    at,
                });
            }
            u32::from_str_radix(s, 16).map_err(|_| SyntaxError {
                what: "invalid \\u escape",
                at,
            })
        };
        let hi = hex(i + 2)?;
        if (0xD800..0xDC00).contains(&hi) {
            if self.b.get(i + 6..i + 8) == Some(b"\\u") {
                let lo = hex(i + 8)?;
                if (0xDC00..0xE000).contains(&lo) {
                    let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    return Ok((char::from_u32(c).expect("valid surrogate pair"), 12));
                }
            }
            return Err(SyntaxError {
                what: "lone surrogate",
                at: i,
            });
        }
        char::from_u32(hi).map(|c| (c, 6)).ok_or(SyntaxError {
            what: "lone surrogate",
            at: i,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<JsonRef<'_>> {
        let mut r = Reader::new(text.as_bytes())?;
        let v = r.value()?;
        r.end()?;
        Ok(v)
    }

    #[test]
    fn scalars_strings_and_nesting() {
        assert_eq!(one(" 12 "), Ok(JsonRef::Int(12)));
        assert_eq!(one("-0"), Ok(JsonRef::Int(0)));
        assert_eq!(one("1.5e3"), Ok(JsonRef::Float(1500.0)));
        assert_eq!(
            one("1795503313.6964676"),
            Ok(JsonRef::Float(1_795_503_313.696_467_6))
        );
        assert_eq!(
            one("9223372036854775808"),
            Ok(JsonRef::Float(9.223_372_036_854_776e18))
        );
        assert_eq!(
            one("\"plain text, long enough for words\""),
            Ok(JsonRef::Str("plain text, long enough for words"))
        );
        assert_eq!(
            one(r#""a\"b\\c\u00e9\ud83d\ude00""#),
            Ok(JsonRef::Escaped("a\"b\\cé😀".into()))
        );
        assert_eq!(
            one(r#" [1, {"a": [true, null]}] "#),
            Ok(JsonRef::Json(r#"[1, {"a": [true, null]}]"#))
        );
    }

    #[test]
    fn rejects_what_strict_json_rejects() {
        for bad in [
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "NaN",
            "Infinity",
            "tru",
            "\"\\x\"",
            "\"a\nb\"",
            "\"\\ud800\"",
            "\"\\udc00x\"",
            "[1,]",
            "{\"a\":1,}",
            "{a:1}",
            "[1 2]",
            "\"open",
            "1e999",
            "\"\\u12\"",
        ] {
            assert!(one(bad).is_err(), "{bad:?} must be rejected");
        }
        assert!(Reader::new(b"\"\xff\"").is_err(), "invalid UTF-8");
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(one(&deep).unwrap_err().what, "nesting too deep");
    }
}
