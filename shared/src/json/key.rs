//! Object keys: each read as one integer for dispatching on known keys, and the guessed next
//! key taken by one masked comparison.

use std::borrow::Cow;

use super::{Reader, Result, block};
use crate::words::word;

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

impl<'a> Reader<'a> {
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
}
