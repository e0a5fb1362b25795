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
mod number;
mod strict;

use crate::words::word;
use number::Digits;
pub use strict::strict_json;

/// Deepest nesting accepted (serde_json's default limit is the same).
pub const MAX_DEPTH: usize = 128;

/// The four hex digits at `at` as a number (`None` unless there are four).
pub(crate) fn hex4(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)?
        .iter()
        .try_fold(0, |n, &c| char::from(c).to_digit(16).map(|d| n * 16 + d))
}

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

/// An object key as read: its [`key_word`] for dispatching on known keys, and its text.
#[derive(Clone, Copy)]
pub(crate) struct Key {
    pub(crate) word: u128,
    /// The key is the guess the caller passed to [`Reader::key`] (whatever it knows of the guess,
    /// such as its place in a table, holds for the key).
    pub(crate) guessed: bool,
    /// Where the key is in the input (start, length); start is `usize::MAX` for a key with
    /// escapes, whose decoded text waits in the reader (`Reader::key_text`). Nothing to drop, so
    /// the member loop carries no cleanup.
    span: (usize, usize),
}

impl Key {
    /// The key's text (call once per key, before reading the next one).
    pub(crate) fn text<'a>(self, r: &mut Reader<'a>) -> Cow<'a, str> {
        if self.span.0 == usize::MAX {
            Cow::Owned(std::mem::take(&mut r.key_text))
        } else {
            Cow::Borrowed(r.checked_text(self.span.0, self.span.0 + self.span.1))
        }
    }
}

/// A key of up to 15 bytes as one integer: its bytes (little-endian) and its length in the top
/// byte, so keys are told apart by one integer comparison instead of a string comparison; 0 for
/// longer keys (no key the State knows by name is that long).
pub(crate) const fn key_word(key: &[u8]) -> u128 {
    if key.len() >= 16 {
        return 0;
    }
    let mut w = (key.len() as u128) << 120;
    let mut i = 0;
    while i < key.len() {
        w |= (key[i] as u128) << (8 * i);
        i += 1;
    }
    w
}

/// For a key of `n` bytes (`n < 16`), the masks that keep its bytes in the two little-endian
/// halves of a 16-byte load.
const KEY_MASKS: [(u64, u64); 16] = {
    let mut t = [(0u64, 0u64); 16];
    let mut n = 1;
    while n < 16 {
        t[n] = if n < 8 {
            ((1 << (8 * n)) - 1, 0)
        } else if n == 8 {
            (u64::MAX, 0)
        } else {
            (u64::MAX, (1 << (8 * (n - 8))) - 1)
        };
        n += 1;
    }
    t
};

/// A key expected next (see [`Reader::key`]), ready to compare: the 16 bytes that follow its
/// opening quote when it is there (its text, then the closing quote) and the mask of those that
/// count, as two little-endian words each.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyGuess {
    /// The key's [`key_word`].
    pub(crate) word: u128,
    len: u8,
    pattern: (u64, u64),
    mask: (u64, u64),
}

impl KeyGuess {
    /// The guess of `key` (at most 15 bytes). `KeyGuess::of("")`, the empty key, is the guess
    /// for "no idea": it matches only an empty key, whose word it has.
    pub(crate) const fn of(key: &str) -> KeyGuess {
        let b = key.as_bytes();
        assert!(b.len() < 16, "a guessed key has at most 15 bytes");
        let mut bytes = [0u8; 16];
        let mut i = 0;
        while i < b.len() {
            bytes[i] = b[i];
            i += 1;
        }
        bytes[b.len()] = b'"';
        // The key's bytes and its closing quote count; for a 15-byte key, all sixteen.
        let mask = if b.len() == 15 {
            (u64::MAX, u64::MAX)
        } else {
            KEY_MASKS[b.len() + 1]
        };
        KeyGuess {
            word: key_word(b),
            len: b.len() as u8,
            pattern: (
                u64::from_le_bytes(*bytes.first_chunk::<8>().expect("8 bytes")),
                u64::from_le_bytes(*bytes.last_chunk::<8>().expect("8 bytes")),
            ),
            mask,
        }
    }
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

    /// Reads a string (the reader is at its opening quote).
    #[inline]
    fn string(&mut self) -> Result<Cow<'a, str>> {
        self.i += 1;
        let start = self.i;
        let (end, non_ascii) = self.scan_plain(start);
        if self.b.get(end) == Some(&b'"') {
            self.i = end + 1;
            return Ok(Cow::Borrowed(self.plain_text(start, end, non_ascii)?));
        }
        self.string_tail(start, end).map(Cow::Owned)
    }

    /// The rest of a string that did not end at the first special byte: escapes, or an error.
    #[cold]
    fn string_tail(&mut self, start: usize, end: usize) -> Result<String> {
        match self.b.get(end) {
            Some(b'\\') => self.escaped(start, end),
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

    /// Reads an object key (the reader is at its opening quote), with its [`key_word`].
    ///
    /// `guess` is the key the caller expects here. Producers write an event's keys in a fixed
    /// order, so the guess is usually right, and then the key is taken by one masked comparison
    /// of the 16 bytes after the quote (the guessed key's bytes, then a closing quote) instead of
    /// a scan for the quote: the same answer, since a guessed key's bytes are plain ASCII. A
    /// wrong guess costs that comparison and the usual path follows.
    #[inline]
    pub(crate) fn key(&mut self, guess: &KeyGuess) -> Result<Key> {
        let start = self.i + 1;
        // The common case: a plain key of at most 15 bytes, with 16 bytes of input after its
        // opening quote (a key is followed by at least `":0}`). One 16-byte load finds the closing
        // quote and, masked, is the word; no byte is looked at twice, and the key's text is only
        // made if it is asked for (unknown keys).
        if let Some(bytes) = self.b.get(start..start + 16) {
            let bytes: &[u8; 16] = bytes.try_into().expect("16 bytes");
            let (lo, hi) = (word(bytes, 0), word(bytes, 8));
            if ((lo ^ guess.pattern.0) & guess.mask.0) | ((hi ^ guess.pattern.1) & guess.mask.1)
                == 0
            {
                let len = usize::from(guess.len);
                self.i = start + len + 1;
                return Ok(Key {
                    word: guess.word,
                    guessed: true,
                    span: (start, len),
                });
            }
            let run = block::run(bytes);
            let len = run.plain;
            if len < 16 && bytes[len] == b'"' && !run.non_ascii {
                // Keep the key's bytes only (masks by length, in 64-bit halves), length on top.
                let (keep_lo, keep_hi) = KEY_MASKS[len];
                let lo = lo & keep_lo;
                let hi = hi & keep_hi | (len as u64) << 56;
                self.i = start + len + 1;
                return Ok(Key {
                    word: u128::from(hi) << 64 | u128::from(lo),
                    guessed: false,
                    span: (start, len),
                });
            }
        }
        let text = self.string()?;
        let word = key_word(text.as_bytes());
        let span = match text {
            Cow::Borrowed(text) => (start, text.len()),
            Cow::Owned(text) => {
                self.key_text = text;
                (usize::MAX, 0)
            }
        };
        Ok(Key {
            word,
            guessed: false,
            span,
        })
    }

    /// The index of the first `"`, `\` or control byte at or after `i` (or the input's end),
    /// sixteen bytes at a time, and whether the bytes before it include non-ASCII ones.
    // Inlined everywhere in wasm (+3% for the wasm bench; the engine's calls cost more than the
    // code grows), left to the compiler natively (forcing it there cost 3%).
    #[cfg_attr(target_family = "wasm", inline(always))]
    #[cfg_attr(not(target_family = "wasm"), inline)]
    fn scan_plain(&self, mut i: usize) -> (usize, bool) {
        let b = self.b;
        let mut non_ascii = false;
        while let Some(bytes) = b.get(i..i + 16) {
            let run = block::run(bytes.try_into().expect("16 bytes"));
            non_ascii |= run.non_ascii;
            i += run.plain;
            if run.plain < 16 {
                return (i, non_ascii);
            }
        }
        // The last few bytes, in a block padded with zeros: a zero is a control byte, so the run
        // stops at the input's end at the latest.
        let rest = b.get(i..).unwrap_or_default();
        let mut last = [0u8; 16];
        last[..rest.len()].copy_from_slice(rest);
        let run = block::run(&last);
        (i + run.plain.min(rest.len()), non_ascii | run.non_ascii)
    }

    /// Unescapes a string whose first escape is at `i` (`start` is after the opening quote).
    ///
    /// Plain runs are copied sixteen bytes at a time: the whole block is appended, then the
    /// output is cut back to the block's first special byte. A traceback has an escape every
    /// line or so; one fixed-size copy per block costs less than finding each run's end and
    /// copying it with a call.
    fn escaped(&mut self, start: usize, mut i: usize) -> Result<String> {
        let b = self.b;
        // Room for the rest of the input, up to 4 KiB: a string with one escape usually has more
        // (tracebacks: one per line), and growing from a small buffer cost several reallocations.
        // A string value is cut to size (`string_value`); a key (`string`) keeps the room only
        // while the event lives: the State copies what it keeps.
        let mut out: Vec<u8> = Vec::with_capacity(i - start + (b.len() - i).min(4096) + 16);
        out.extend_from_slice(&b[start..i]);
        loop {
            if let Some(block) = b.get(i..i + 16) {
                let block: &[u8; 16] = block.try_into().expect("16 bytes");
                let plain = block::run(block).plain;
                let len = out.len();
                out.extend_from_slice(block);
                out.truncate(len + plain);
                i += plain;
                if plain == 16 {
                    continue;
                }
            }
            match b.get(i) {
                Some(b'"') => {
                    self.i = i + 1;
                    // Valid by construction (whole characters of valid input, and escapes
                    // encoded as chars); checked anyway rather than assumed.
                    return String::from_utf8(out).map_err(|_| SyntaxError {
                        what: "invalid UTF-8",
                        at: start,
                    });
                }
                Some(b'\\') => {
                    let c = match b.get(i + 1) {
                        Some(b'"') => b'"',
                        Some(b'\\') => b'\\',
                        Some(b'/') => b'/',
                        Some(b'b') => 0x08,
                        Some(b'f') => 0x0c,
                        Some(b'n') => b'\n',
                        Some(b'r') => b'\r',
                        Some(b't') => b'\t',
                        Some(b'u') => {
                            let (c, used) = self.unicode_escape(i)?;
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
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
                // The last few bytes of the input, one at a time.
                Some(&c) => {
                    out.push(c);
                    i += 1;
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
    /// A lone surrogate, high or low, is U+FFFD (see the module's documentation).
    fn unicode_escape(&self, i: usize) -> Result<(char, usize)> {
        let hex = |at: usize| {
            hex4(self.b, at).ok_or(SyntaxError {
                what: "invalid \\u escape",
                at,
            })
        };
        let hi = hex(i + 2)?;
        if (0xD800..0xDC00).contains(&hi) && self.b.get(i + 6..i + 8) == Some(b"\\u") {
            let lo = hex(i + 8)?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok((char::from_u32(c).expect("valid surrogate pair"), 12));
            }
        }
        // Every code point outside the surrogates is a char; a surrogate left here is lone (a
        // high one not followed by a low one is read alone, and what follows is read next).
        Ok((char::from_u32(hi).unwrap_or(char::REPLACEMENT_CHARACTER), 6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<JsonRef<'_>> {
        let mut r = Reader::new(text.as_bytes());
        let v = r.value()?;
        r.end()?;
        Ok(v)
    }

    /// A guess takes exactly its key, closing quote included, at every length.
    #[test]
    fn a_key_guess_matches_its_key_and_nothing_else() {
        let text = "abcdefghijklmno";
        for n in 0..16 {
            let key = &text[..n];
            let guess = KeyGuess::of(key);
            let read = |input: &str| {
                let mut r = Reader::from_str(input);
                r.key(&guess).map(|k| (k.guessed, k.word, r.position()))
            };
            let exact = format!("\"{key}\": 1, \"padding\": 2}}");
            assert_eq!(
                read(&exact),
                Ok((true, key_word(key.as_bytes()), n + 2)),
                "{key}"
            );
            let longer = format!("\"{key}x\": 1, \"padding\": 2}}");
            assert_eq!(read(&longer).map(|k| k.0), Ok(false), "{key}x");
            if n > 0 {
                let mut other = key.to_owned().into_bytes();
                other[n - 1] ^= 1;
                let other = String::from_utf8(other).unwrap();
                let differs = format!("\"{other}\": 1, \"padding\": 2}}");
                assert_eq!(read(&differs).map(|k| k.0), Ok(false), "{other}");
            }
        }
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

    /// Escaped strings of every shape decode to their text: runs of plain bytes of every length
    /// around the 16-byte blocks, each kind of escape, multi-byte characters, at the end of input.
    #[test]
    fn escaped_strings_decode_to_their_text() {
        let mut rng = crate::testing::XorShift::new(0x0123_4567_89ab_cdef);
        let pieces: [(&str, &str); 12] = [
            ("\\\"", "\""),
            ("\\\\", "\\"),
            ("\\/", "/"),
            ("\\b", "\u{8}"),
            ("\\f", "\u{c}"),
            ("\\n", "\n"),
            ("\\r", "\r"),
            ("\\t", "\t"),
            ("\\u00e9", "é"),
            ("\\ud83d\\ude00", "😀"),
            ("é", "é"),
            ("😀", "😀"),
        ];
        for round in 0..3_000 {
            let (mut json, mut text) = (String::from("\""), String::new());
            for _ in 0..1 + rng.below(12) {
                let run: String = (0..rng.below(40))
                    .map(|k| (b'a' + (k % 26) as u8) as char)
                    .collect();
                json.push_str(&run);
                text.push_str(&run);
                let (j, t) = pieces[rng.below(12) as usize];
                json.push_str(j);
                text.push_str(t);
            }
            json.push('"');
            let padding = if round % 2 == 0 { "" } else { "   " };
            let input = format!("{json}{padding}");
            let got = one(&input).unwrap_or_else(|e| panic!("{json}: {e}"));
            let got = match got {
                JsonRef::Escaped(s) => s.into_string(),
                JsonRef::Str(s) => s.to_string(),
                other => panic!("{json}: {other:?}"),
            };
            assert_eq!(got, text, "{json}");
            assert!(
                one(&json[..json.len() - 1]).is_err(),
                "unterminated: {json}"
            );
        }
    }

    /// The direct conversions agree with the standard parser bit for bit: random decimals of 1 to
    /// 19 significant digits (timestamps, durations, tiny and huge mantissas), and the halfway
    /// cases where rounding is decided by the sticky bit.
    #[test]
    fn direct_numbers_agree_with_str_parse() {
        let mut rng = crate::testing::XorShift::new(0x9E37_79B9_7F4A_7C15);
        let mut texts: Vec<String> = Vec::new();
        for _ in 0..200_000 {
            let digits = 1 + rng.below(19) as usize;
            let mut m = rng.next() % 10u64.pow(digits as u32 - 1).max(1) * 10 + rng.next() % 10;
            if rng.below(4) == 0 {
                m = m.max(1 << 53) + rng.below(1000);
            }
            let text = m.to_string();
            texts.push(text.clone());
            if text.len() >= 2 {
                let (int, frac) = text.split_at(1 + (rng.next() as usize) % (text.len() - 1));
                texts.push(format!("{int}.{frac}"));
                texts.push(format!("-{int}.{frac}"));
                texts.push(format!("0.{text}"));
            }
        }
        // Exact halfway points between neighbouring doubles near a timestamp, and one unit off.
        for k in 0..2_000u64 {
            let x = 1_795_503_313.0 + k as f64 * 0.000_123;
            let halfway = (x + f64::from_bits(x.to_bits() + 1)) / 2.0;
            texts.push(format!("{halfway:.17}"));
            texts.push(format!("{:.7}", x));
        }
        // Integers beyond 2^53 written with a fraction: exact ties between two doubles.
        for _ in 0..20_000 {
            let m = (1u64 << 53) + rng.next() % (1u64 << ((rng.next() % 6 + 2) * 53 / 8));
            for frac in ["0", "5", "50", "1", "9", "49"] {
                let text = format!("{m}.{frac}");
                if text.len() <= 20 {
                    texts.push(text);
                }
            }
        }
        texts.push("1795503313.6964676".into());
        texts.push("0.1000000000000000055511151231257827".into());
        for text in &texts {
            let ours = one(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            match ours {
                JsonRef::Int(i) => assert_eq!(Ok(i), text.parse::<i64>(), "{text}"),
                JsonRef::Float(f) => {
                    assert_eq!(
                        f.to_bits(),
                        text.parse::<f64>().unwrap().to_bits(),
                        "{text}"
                    )
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    /// What Python's `json` reads beyond RFC 8259, read the same way (lone surrogates as U+FFFD),
    /// and its near misses, rejected as Python rejects them.
    #[test]
    fn reads_what_python_writes_beyond_strict_json() {
        let float = |text| match one(text) {
            Ok(JsonRef::Float(f)) => f,
            other => panic!("{text}: {other:?}"),
        };
        assert!(float("NaN").is_nan());
        assert_eq!(float("Infinity"), f64::INFINITY);
        assert_eq!(float("-Infinity"), f64::NEG_INFINITY);
        assert_eq!(float("1e999"), f64::INFINITY);
        assert_eq!(float("-1e999"), f64::NEG_INFINITY);
        let mut r = Reader::new(b"[NaN, -Infinity, {\"a\": Infinity}]");
        assert_eq!(
            r.value(),
            Ok(JsonRef::Json("[NaN, -Infinity, {\"a\": Infinity}]"))
        );
        let text = |json| one(json).ok().and_then(|v| v.as_str().map(str::to_owned));
        for (json, want) in [
            (r#""\ud800""#, "\u{FFFD}"),
            (r#""\udc00x""#, "\u{FFFD}x"),
            (r#""a\udcffb""#, "a\u{FFFD}b"),
            (r#""\ud800\ud800""#, "\u{FFFD}\u{FFFD}"),
            (r#""\ud83d\ude00""#, "\u{1F600}"),
            (r#""\ud800\ud83d\ude00""#, "\u{FFFD}\u{1F600}"),
            (r#""\udc00\ud800""#, "\u{FFFD}\u{FFFD}"),
            (r#""\ud800\n""#, "\u{FFFD}\n"),
        ] {
            assert_eq!(text(json).as_deref(), Some(want), "{json}");
        }
        for bad in [
            "nan",
            "-NaN",
            "+Infinity",
            "Infinit",
            "-Inf",
            "NaNx",
            "inf",
            "\"\\ud800\\u12\"",
        ] {
            let mut r = Reader::new(bad.as_bytes());
            let whole = r.value().and_then(|_| r.end());
            assert!(whole.is_err(), "{bad:?} must be rejected");
        }
    }

    /// `skip_number` must accept exactly what `number` accepts, stop at the same byte and fail at
    /// the same position: every text made of number characters up to four long, and longer ones.
    #[test]
    fn skipping_a_number_agrees_with_reading_it() {
        let alphabet = ["0", "1", "9", "-", "+", ".", "e", "E", "I", "x", "]"];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = texts
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            texts.extend(longer);
        }
        texts.extend(
            [
                "-Infinity",
                "-Infinit",
                "1795503313.6964676",
                "12345678901234567890123",
                "1e999",
                "-0.000e-12",
                "0.1000000000000000055511151231257827",
            ]
            .map(String::from),
        );
        let mut numbers = 0;
        for text in texts.iter().filter(|t| t.starts_with(['-', '0', '1', '9'])) {
            let (mut read, mut skipped) = (Reader::from_str(text), Reader::from_str(text));
            let value = read.number().map(|_| read.position());
            let skip = skipped.skip_number().map(|()| skipped.position());
            assert_eq!(value, skip, "{text:?}");
            numbers += usize::from(value.is_ok());
        }
        assert!(numbers > 1_000, "the table holds numbers: {numbers}");
    }

    #[test]
    fn rejects_what_strict_json_rejects() {
        for bad in [
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "tru",
            "\"\\x\"",
            "\"a\nb\"",
            "[1,]",
            "{\"a\":1,}",
            "{a:1}",
            "[1 2]",
            "\"open",
            "\"\\u12\"",
        ] {
            assert!(one(bad).is_err(), "{bad:?} must be rejected");
        }
        for bad in [
            &b"\"\xff\""[..],
            b"\"caf\xc3\"",
            b"\"a much longer string before its \xc3\x28 bad pair\"",
            b"\"escaped \\n then \xed\xa0\x80 a surrogate\"",
            b"{\"k\xff\": 1}",
            b"[\"ok\", \xff]",
            b"\xef\xbb\xbf1",
        ] {
            let mut r = Reader::new(bad);
            let whole = r.value().and_then(|_| r.end());
            assert!(whole.is_err(), "{bad:?} must be rejected");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(one(&deep).unwrap_err().what, "nesting too deep");
    }
}
