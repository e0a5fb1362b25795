//! A JSON reader specialised for Celery events: it borrows every string it can from the input and
//! never builds a tree. Strings without escapes, arrays and objects nested inside a field are
//! returned as slices of the input; only escaped strings allocate.
//!
//! It accepts RFC 8259 JSON (no comments, no trailing commas, no control characters or invalid
//! UTF-8 in strings), with nesting limited to [`MAX_DEPTH`] so hostile input cannot exhaust the
//! stack, plus the two things Python's `json` module writes and reads beyond it, since Celery's
//! events are written by it (`kombu.utils.json.dumps`):
//! - `NaN`, `Infinity` and `-Infinity` (a custom event's `float('nan')`), and numbers too large
//!   for a double (`1e999`), read as the non-finite floats Python reads;
//! - lone surrogate escapes (`"\udcff"`, from a traceback quoting a file name that is not UTF-8):
//!   a Rust string cannot hold a lone surrogate, so each is read as U+FFFD, the replacement
//!   character, and the rest of the string and of the event is kept.
//!
//! Rejecting either would drop a whole event that Python's State takes. Its agreement with
//! `serde_json` on arbitrary input, outside those two, is a property test
//! (`tests/properties.rs`).

use std::borrow::Cow;
use std::fmt;

mod block;
mod key;
mod number;
mod strict;
mod string;
#[cfg(test)]
mod tests;

pub(crate) use key::{Key, KeyGuess, key_word};
use number::Digits;
pub use strict::strict_json;
pub(crate) use string::hex4;

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

/// What [`Reader::number_shape`] found.
enum NumberShape {
    /// Digits, with `fraction` digits after the point, and an exponent or not.
    Finite {
        negative: bool,
        fraction: Option<usize>,
        exponent: bool,
    },
    /// Python's `-Infinity`.
    NegativeInfinity,
}

/// Reading position over the input.
///
/// The input is not validated as UTF-8 up front: outside strings only ASCII is valid JSON (any
/// other byte is a syntax error where it stands), and inside a string the scan that finds its end
/// also tells whether it holds non-ASCII bytes, which are then checked. An all-ASCII string, the
/// usual case, needs no check of its own.
pub(crate) struct Reader<'a> {
    b: &'a [u8],
    i: usize,
    /// The decoded text of the last key read with escapes (see [`Key`]).
    key_text: String,
}

type Result<T> = std::result::Result<T, SyntaxError>;

impl<'a> Reader<'a> {
    /// A reader over `input` (its strings are checked as UTF-8 as they are read).
    pub(crate) fn new(input: &'a [u8]) -> Reader<'a> {
        Reader {
            b: input,
            i: 0,
            key_text: String::new(),
        }
    }

    /// A reader over text that is already a `str`.
    pub(crate) fn from_str(input: &'a str) -> Reader<'a> {
        Reader::new(input.as_bytes())
    }

    /// The text of `b[start..end]`, a span the reader has already checked: all ASCII, or made of
    /// strings checked as UTF-8 and of ASCII tokens (the text of a nested array or object).
    #[inline(always)]
    fn checked_text(&self, start: usize, end: usize) -> &'a str {
        let bytes = &self.b[start..end];
        debug_assert!(std::str::from_utf8(bytes).is_ok(), "unchecked span");
        #[allow(
            unsafe_code,
            reason = "checking every ASCII string again as UTF-8 cost 6% of decoding"
        )]
        // SAFETY: every caller passes a span that is ASCII (the scan of a plain string saw no
        // byte >= 0x80, a number or key was matched byte by byte) or that consists of ASCII tokens
        // and strings which `plain_text` / `escaped` checked (see the callers).
        unsafe {
            std::str::from_utf8_unchecked(bytes)
        }
    }

    /// The text of a plain string's bytes `start..end`: as is when the scan saw only ASCII,
    /// checked as UTF-8 otherwise.
    #[inline(always)]
    fn plain_text(&self, start: usize, end: usize, non_ascii: bool) -> Result<&'a str> {
        if non_ascii {
            self.utf8_text(start, end)
        } else {
            Ok(self.checked_text(start, end))
        }
    }

    /// [`Reader::plain_text`] for text with non-ASCII bytes.
    #[inline(never)]
    fn utf8_text(&self, start: usize, end: usize) -> Result<&'a str> {
        std::str::from_utf8(&self.b[start..end]).map_err(|e| SyntaxError {
            what: "invalid UTF-8",
            at: start + e.valid_up_to(),
        })
    }

    /// Bytes read so far.
    pub(crate) fn position(&self) -> usize {
        self.i
    }

    fn err<T>(&self, what: &'static str) -> Result<T> {
        Err(SyntaxError { what, at: self.i })
    }

    /// Skips whitespace and returns the next byte without consuming it.
    #[inline(always)]
    pub(crate) fn peek(&mut self) -> Option<u8> {
        // Most calls land on a token at once: one comparison (whitespace bytes are all <= b' ').
        match self.b.get(self.i) {
            Some(&c) if c > b' ' => Some(c),
            _ => self.skip_whitespace(),
        }
    }

    /// [`Reader::peek`] past whitespace.
    #[inline(never)]
    fn skip_whitespace(&mut self) -> Option<u8> {
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

    /// [`Reader::object`], with each key as a [`Key`]. Written for the separators Python's
    /// `json.dumps` puts between members (`": "` and `", "`): those are taken in one step, anything
    /// else goes through the general whitespace and punctuation checks (same errors).
    ///
    /// `guess` is the key the caller expects first, and `entry` returns the one it expects next;
    /// see [`Reader::key`].
    #[inline]
    pub(crate) fn keyed_object(
        &mut self,
        mut guess: &'static KeyGuess,
        mut entry: impl FnMut(Key, &mut Self) -> Result<&'static KeyGuess>,
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
            let key = self.key(guess)?;
            if self.b.get(self.i..self.i + 2) == Some(b": ") {
                self.i += 2;
            } else {
                self.expect(b':', "expected `:`")?;
            }
            guess = entry(key, self)?;
            if self.b.get(self.i..self.i + 3) == Some(b", \"") {
                self.i += 2;
                continue;
            }
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

    /// [`Reader::value`] with its two common cases, plain strings and numbers, inlined into the
    /// caller's loop (an event's members are mostly these): no call, no saving of registers, per
    /// member.
    #[inline(always)]
    pub(crate) fn member_value(&mut self) -> Result<JsonRef<'a>> {
        match self.b.get(self.i) {
            Some(b'"') => self.string_value(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.value(),
        }
    }

    /// A string value (the reader is at its opening quote): a plain one borrows from the input,
    /// one with escapes is unescaped from where the scan stopped. The same steps as
    /// [`Reader::string`], written out: building the value through `string`'s `Cow` cost 0.8%
    /// more decoding instructions (callgrind), on the hottest path.
    #[inline(always)]
    fn string_value(&mut self) -> Result<JsonRef<'a>> {
        let start = self.i + 1;
        let (end, non_ascii) = self.scan_plain(start);
        if self.b.get(end) == Some(&b'"') {
            self.i = end + 1;
            return Ok(JsonRef::Str(self.plain_text(start, end, non_ascii)?));
        }
        self.i = start;
        Ok(JsonRef::Escaped(
            self.string_tail(start, end)?.into_boxed_str(),
        ))
    }

    /// Reads any value; arrays and objects come back as their text.
    #[inline]
    pub(crate) fn value(&mut self) -> Result<JsonRef<'a>> {
        match self.peek() {
            Some(b'"') => self.string_value(),
            Some(b'[' | b'{') => {
                let start = self.i;
                self.skip(0)?;
                Ok(JsonRef::Json(self.checked_text(start, self.i)))
            }
            Some(b't') => self.literal(b"true", JsonRef::Bool(true)),
            Some(b'f') => self.literal(b"false", JsonRef::Bool(false)),
            Some(b'n') => self.literal(b"null", JsonRef::Null),
            // Python's spellings of the non-finite floats (see the module's documentation);
            // `-Infinity` is read by `number`.
            Some(b'N') => self.literal(b"NaN", JsonRef::Float(f64::NAN)),
            Some(b'I') => self.literal(b"Infinity", JsonRef::Float(f64::INFINITY)),
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
            Some(b'-' | b'0'..=b'9') => self.skip_number(),
            _ => self.value().map(drop),
        }
    }

    /// Skips a number, checked by the same grammar as [`Reader::number`] (same errors, same
    /// positions), without computing its value. Numbers inside arrays and objects are kept as
    /// text (a worker's `loadavg` is three of them in every heartbeat), so converting them was
    /// work thrown away.
    fn skip_number(&mut self) -> Result<()> {
        self.number_shape(|b, mut i| {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        })
        .map(drop)
    }

    /// Reads the number at the reader by JSON's grammar (and Python's `-Infinity`), leaving the
    /// reader after it. Each run of integer or fraction digits is read by `digits(input, index)`,
    /// which returns the index after the run: [`Reader::number`] accumulates the digits there,
    /// [`Reader::skip_number`] only passes them.
    #[inline(always)]
    fn number_shape(
        &mut self,
        mut digits: impl FnMut(&[u8], usize) -> usize,
    ) -> Result<NumberShape> {
        let b = self.b;
        let invalid = |at| {
            Err(SyntaxError {
                what: "invalid number",
                at,
            })
        };
        let mut i = self.i;
        let negative = b[i] == b'-';
        if negative {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = digits(b, i),
            Some(b'I') if negative => {
                self.i = i;
                return self
                    .literal(b"Infinity", JsonRef::Null)
                    .map(|_| NumberShape::NegativeInfinity);
            }
            _ => return invalid(i),
        }
        let mut fraction = None;
        if b.get(i) == Some(&b'.') {
            let after = digits(b, i + 1);
            if after == i + 1 {
                return invalid(after);
            }
            fraction = Some(after - i - 1);
            i = after;
        }
        let mut exponent = false;
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            exponent = true;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let first = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == first {
                return invalid(i);
            }
        }
        self.i = i;
        Ok(NumberShape::Finite {
            negative,
            fraction,
            exponent,
        })
    }

    /// `true`, `false`, `null`, `NaN` or `Infinity`: a fixed-length comparison (a slice of unknown
    /// length was a `memcmp` call for four bytes, and `null` is in most events).
    #[inline]
    fn literal<const N: usize>(&mut self, word: &[u8; N], v: JsonRef<'a>) -> Result<JsonRef<'a>> {
        if self.b.get(self.i..self.i + N) == Some(word.as_slice()) {
            self.i += N;
            Ok(v)
        } else {
            self.err("invalid literal")
        }
    }

    #[inline(always)]
    fn number(&mut self) -> Result<JsonRef<'a>> {
        let start = self.i;
        // Digits are accumulated while scanning (`mantissa`, `count`), so common numbers need no
        // second pass; see `Digits::convert` for which ones are converted directly.
        let mut digits = Digits::default();
        let (negative, fraction, exponent) = match self.number_shape(|b, i| digits.read(b, i))? {
            NumberShape::NegativeInfinity => return Ok(JsonRef::Float(f64::NEG_INFINITY)),
            NumberShape::Finite {
                negative,
                fraction,
                exponent,
            } => (negative, fraction, exponent),
        };
        if !exponent && let Some(v) = digits.convert(negative, fraction) {
            return Ok(v);
        }
        let text = self.checked_text(start, self.i);
        if fraction.is_none()
            && !exponent
            && let Ok(n) = text.parse::<i64>()
        {
            return Ok(JsonRef::Int(n));
        }
        // Beyond the largest double this is an infinity, as in Python (`1e999`).
        match text.parse::<f64>() {
            Ok(f) => Ok(JsonRef::Float(f)),
            Err(_) => Err(SyntaxError {
                what: "invalid number",
                at: start,
            }),
        }
    }
}
