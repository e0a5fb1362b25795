//! Where a run of plain string bytes ends, sixteen bytes at a time.
//!
//! Inside a JSON string the reader must stop at `"`, `\` and control bytes, and it must know
//! whether the bytes before that stop include any at or above 0x80: only those (non-ASCII text)
//! need a UTF-8 check, so an all-ASCII string is taken as text without one. On x86_64 one block
//! is a handful of SSE2 instructions (SSE2 is part of every x86_64 CPU); elsewhere, wasm32 among
//! them, the same answer comes from 64-bit word arithmetic.

/// What a 16-byte block of string content starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Run {
    /// How many bytes come before the first `"`, `\` or control byte (16: the block has none).
    pub(super) plain: usize,
    /// Whether any of those `plain` bytes is at or above 0x80.
    pub(super) non_ascii: bool,
}

/// One 16-byte block of string content, classified: where its special bytes (`"`, `\`, control)
/// and its non-ASCII bytes are.
///
/// Callers scanning a long string test [`Block::all_plain`] first and step sixteen bytes on: the
/// next block's address then does not wait for this one's [`Block::run`] (a chain of compares,
/// mask and count per block), so blocks are classified back to back instead of one after another.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[derive(Clone, Copy)]
pub(super) struct Block {
    /// One bit per special byte.
    special: u32,
    /// One bit per byte at or above 0x80.
    high: u32,
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
impl Block {
    #[inline(always)]
    pub(super) fn of(block: &[u8; 16]) -> Block {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        #[allow(
            unsafe_code,
            reason = "SSE2 intrinsics: a third of the word arithmetic's instructions per block"
        )]
        // SAFETY: this function is only compiled where SSE2 is enabled (the `cfg` above), which
        // is all the intrinsics require; the unaligned load reads exactly the 16 bytes of `block`.
        unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // A control byte (below 0x20) is one whose unsigned maximum with 0x1f is 0x1f.
            let bound = _mm_set1_epi8(0x1f);
            let control = _mm_cmpeq_epi8(_mm_max_epu8(v, bound), bound);
            let special = _mm_or_si128(_mm_or_si128(quote, backslash), control);
            Block {
                special: _mm_movemask_epi8(special) as u32,
                high: _mm_movemask_epi8(v) as u32,
            }
        }
    }

    /// No special byte in the block.
    #[inline(always)]
    pub(super) fn all_plain(self) -> bool {
        self.special == 0
    }

    /// Some byte of the block, plain or not, is at or above 0x80.
    #[inline(always)]
    pub(super) fn any_high(self) -> bool {
        self.high != 0
    }

    /// The plain run at the start of the block.
    #[inline(always)]
    pub(super) fn run(self) -> Run {
        let plain = (self.special | 1 << 16).trailing_zeros();
        Run {
            plain: plain as usize,
            non_ascii: self.high & ((1 << plain) - 1) != 0,
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
pub(super) use words::Block;

/// The plain run at the start of `block`.
#[inline(always)]
pub(super) fn run(block: &[u8; 16]) -> Run {
    Block::of(block).run()
}

/// The same answers from two 64-bit words, for targets without SSE2.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
mod words {
    use super::Run;
    use crate::words::{HIGH, ONES, word};

    /// The high bit of each byte of `w` (little-endian) that may be a `"`, `\` or control byte;
    /// the lowest marked byte is always one (borrows can only mark bytes *above* a real match).
    #[inline(always)]
    fn special_bytes(w: u64) -> u64 {
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (w.wrapping_sub(ONES * 0x20) & !w))
            & HIGH
    }

    /// The bytes of `w` below byte `n` (all of them from 8 on).
    #[inline(always)]
    fn below(w: u64, n: u32) -> u64 {
        if n >= 8 { w } else { w & ((1 << (8 * n)) - 1) }
    }

    /// A block as its two words and their special-byte marks.
    #[derive(Clone, Copy)]
    pub(in crate::json) struct Block {
        lo: u64,
        hi: u64,
        s_lo: u64,
        s_hi: u64,
    }

    impl Block {
        #[inline(always)]
        pub(in crate::json) fn of(block: &[u8; 16]) -> Block {
            let (lo, hi) = (word(block, 0), word(block, 8));
            Block {
                lo,
                hi,
                s_lo: special_bytes(lo),
                s_hi: special_bytes(hi),
            }
        }

        #[inline(always)]
        pub(in crate::json) fn all_plain(self) -> bool {
            self.s_lo | self.s_hi == 0
        }

        #[inline(always)]
        pub(in crate::json) fn any_high(self) -> bool {
            (self.lo | self.hi) & HIGH != 0
        }

        #[inline(always)]
        pub(in crate::json) fn run(self) -> Run {
            let plain = if self.s_lo != 0 {
                self.s_lo.trailing_zeros() / 8
            } else if self.s_hi != 0 {
                8 + self.s_hi.trailing_zeros() / 8
            } else {
                16
            };
            let high = below(self.lo, plain) | below(self.hi, plain.saturating_sub(8));
            Run {
                plain: plain as usize,
                non_ascii: high & HIGH != 0,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain run, one byte at a time.
    fn reference(block: &[u8; 16]) -> Run {
        let plain = block
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            .unwrap_or(16);
        Run {
            plain,
            non_ascii: block[..plain].iter().any(|&c| c >= 0x80),
        }
    }

    /// Both implementations agree with byte loops on blocks built from the bytes that matter
    /// (each special, its neighbours, both sides of 0x80) and on random ones.
    #[test]
    fn both_ways_agree_with_a_byte_loop() {
        const EDGES: [u8; 14] = [
            0x00, 0x1f, 0x20, b'!', b'"', b'#', b'[', b'\\', b']', b'a', 0x7f, 0x80, 0xc3, 0xff,
        ];
        let mut rng = crate::testing::XorShift::new(0x2545_f491_4f6c_dd1d);
        for round in 0..200_000 {
            let mut block = [0u8; 16];
            for b in &mut block {
                let r = rng.next();
                *b = if round % 2 == 0 {
                    EDGES[(r % EDGES.len() as u64) as usize]
                } else if r.is_multiple_of(8) {
                    // Mostly plain text with a rare special, as in real strings.
                    EDGES[((r >> 8) % EDGES.len() as u64) as usize]
                } else {
                    b'a' + ((r >> 8) % 26) as u8
                };
            }
            let want = reference(&block);
            let plain = want.plain == 16;
            let high = block.iter().any(|&c| c >= 0x80);
            assert_eq!(run(&block), want, "{block:?}");
            let native = Block::of(&block);
            let words = words::Block::of(&block);
            assert_eq!(words.run(), want, "{block:?}");
            for (all_plain, any_high) in [
                (native.all_plain(), native.any_high()),
                (words.all_plain(), words.any_high()),
            ] {
                assert_eq!((all_plain, any_high), (plain, high), "{block:?}");
            }
        }
    }
}
