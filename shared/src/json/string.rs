//! Strings: the scan for a plain string's end, sixteen bytes at a time, and unescaping.

use std::borrow::Cow;

use super::block::{self, Block};
use super::{Reader, Result, SyntaxError};

/// The four hex digits at `at` as a number (`None` unless there are four).
pub(crate) fn hex4(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)?
        .iter()
        .try_fold(0, |n, &c| char::from(c).to_digit(16).map(|d| n * 16 + d))
}

impl<'a> Reader<'a> {
    /// Reads a string (the reader is at its opening quote).
    #[inline]
    pub(super) fn string(&mut self) -> Result<Cow<'a, str>> {
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
    pub(super) fn string_tail(&mut self, start: usize, end: usize) -> Result<String> {
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

    /// The index of the first `"`, `\` or control byte at or after `i` (or the input's end),
    /// sixteen bytes at a time, and whether the bytes before it include non-ASCII ones.
    // Inlined everywhere in wasm (+3% for the wasm bench; the engine's calls cost more than the
    // code grows), left to the compiler natively (forcing it there cost 3%).
    #[cfg_attr(target_family = "wasm", inline(always))]
    #[cfg_attr(not(target_family = "wasm"), inline)]
    pub(super) fn scan_plain(&self, mut i: usize) -> (usize, bool) {
        let b = self.b;
        let mut non_ascii = false;
        while let Some(bytes) = b.get(i..i + 16) {
            let block = Block::of(bytes.try_into().expect("16 bytes"));
            // A whole plain block steps the fixed sixteen: the next load need not wait for this
            // block's run length (see `Block`).
            if block.all_plain() {
                non_ascii |= block.any_high();
                i += 16;
                continue;
            }
            let run = block.run();
            return (i + run.plain, non_ascii | run.non_ascii);
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
            if let Some(bytes) = b.get(i..i + 16) {
                let bytes: &[u8; 16] = bytes.try_into().expect("16 bytes");
                let block = Block::of(bytes);
                out.extend_from_slice(bytes);
                if block.all_plain() {
                    i += 16;
                    continue;
                }
                let plain = block.run().plain;
                out.truncate(out.len() - 16 + plain);
                i += plain;
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
