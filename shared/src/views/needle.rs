//! The task filter's text search: is a needle in a haystack, ignoring ASCII case?
//!
//! A filter tests five or six short strings per task (id, name, arguments...), 100,000 tasks when
//! the user types. Two things made a general search slow here: a set-up cost per haystack (the
//! haystacks are 20 to 60 bytes), and false starts (the first letter of `page1` occurs three
//! times in `example_app.tasks.visit`). So candidates are found eight positions at a time with
//! 64-bit word arithmetic (the same on native and in the browser's wasm, which has no SIMD
//! here), on the needle's first *two* bytes, and only those are compared in full.

use crate::words::{HIGH, ONES, word};

/// Every byte of a word set to 0x20 (the bit that tells ASCII letters' cases apart).
const CASE: u64 = 0x20 * ONES;

/// A search text, lower-cased once, to be looked for in many haystacks.
pub(super) struct Needle {
    lower: String,
}

impl Needle {
    pub(super) fn new(text: &str) -> Needle {
        Needle {
            lower: text.to_lowercase(),
        }
    }

    /// `true` when the needle occurs in `hay`, ignoring case. An ASCII needle compares ASCII
    /// letters case-insensitively and every other byte exactly; any other needle falls back to
    /// lower-casing the haystack (Unicode case rules).
    pub(super) fn found_in(&self, hay: &str) -> bool {
        let n = self.lower.as_bytes();
        if n.is_empty() {
            true
        } else if self.lower.is_ascii() {
            find_ascii(hay.as_bytes(), n)
        } else {
            hay.to_lowercase().contains(&self.lower)
        }
    }
}

/// The ASCII case-insensitive search (`needle` is ASCII, lower-case and not empty).
fn find_ascii(hay: &[u8], needle: &[u8]) -> bool {
    let Some(last) = hay.len().checked_sub(needle.len()) else {
        return false;
    };
    let at = |p: usize| hay[p..p + needle.len()].eq_ignore_ascii_case(needle);
    // Setting bit 0x20 lower-cases ASCII letters. It also maps a few other bytes onto each other
    // (`@` onto `` ` ``...), so a candidate may be false, never missed: `at` decides.
    let first = u64::from(needle[0] | 0x20) * ONES;
    let second = needle.get(1).map(|&b| u64::from(b | 0x20) * ONES);
    let mut i = 0;
    // Each step reads the bytes at i..i+8 and, for the second byte, at i+1..i+9.
    while i <= last && i + 9 <= hay.len() {
        let mut found = equal_bytes(word(hay, i) | CASE, first);
        if let Some(second) = second {
            found &= equal_bytes(word(hay, i + 1) | CASE, second);
        }
        while found != 0 {
            let p = i + (found.trailing_zeros() / 8) as usize;
            if p > last {
                return false;
            }
            if at(p) {
                return true;
            }
            found &= found - 1;
        }
        i += 8;
    }
    (i..=last).any(at)
}

/// The high bit of each byte of `w` that equals the byte repeated in `pattern`, and no other bit.
/// Exact per byte: the addition cannot carry into the next byte.
#[inline(always)]
fn equal_bytes(w: u64, pattern: u64) -> u64 {
    let x = w ^ pattern;
    !(((x & !HIGH) + !HIGH) | x) & HIGH
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `found_in` must answer, the slow way.
    fn reference(hay: &str, needle: &str) -> bool {
        let lower = needle.to_lowercase();
        if !lower.is_ascii() {
            return hay.to_lowercase().contains(&lower);
        }
        let (h, n) = (hay.as_bytes(), lower.as_bytes());
        n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
    }

    #[test]
    fn equal_bytes_is_exact_per_byte() {
        let w = u64::from_le_bytes([0x61, 0x00, 0xe1, 0x61, 0x60, 0x41, 0x62, 0x61]);
        assert_eq!(
            equal_bytes(w, 0x61 * ONES),
            u64::from_le_bytes([0x80, 0, 0, 0x80, 0, 0, 0, 0x80])
        );
        assert_eq!(equal_bytes(0, 0), HIGH);
        assert_eq!(equal_bytes(u64::MAX, 0), 0);
    }

    #[test]
    fn finds_what_the_slow_search_finds() {
        // A tiny alphabet makes near-misses common: both cases, bytes that 0x20 folds together
        // (`@` and `` ` ``, `1` and `\x11`), and a two-byte character.
        const ALPHABET: [&str; 10] = ["a", "A", "p", "P", "@", "`", "1", "\x11", "é", "É"];
        let mut rng = crate::testing::XorShift::new(0x2545_f491_4f6c_dd1d);
        let pick = |rng: &mut crate::testing::XorShift, n: usize| rng.below(n as u64) as usize;
        for _ in 0..200_000 {
            let hay: String = (0..pick(&mut rng, 40))
                .map(|_| ALPHABET[pick(&mut rng, 10)])
                .collect();
            // Mostly ASCII needles (the fast path); one in eight may hold `é` or `É`.
            let letters = if pick(&mut rng, 8) == 0 { 10 } else { 8 };
            let needle: String = (0..1 + pick(&mut rng, 4))
                .map(|_| ALPHABET[pick(&mut rng, letters)])
                .collect();
            assert_eq!(
                Needle::new(&needle).found_in(&hay),
                reference(&hay, &needle),
                "{needle:?} in {hay:?}"
            );
        }
    }

    #[test]
    fn real_looking_fields() {
        let n = Needle::new("PAGE1");
        assert!(n.found_in("('http://127.0.0.1:40769/page1.html',)"));
        assert!(n.found_in("Page1"));
        assert!(!n.found_in("('http://127.0.0.1:40769/page2.html',)"));
        assert!(!n.found_in("page"));
        assert!(Needle::new("").found_in(""));
        assert!(Needle::new("É").found_in("café"));
        assert!(!Needle::new("x").found_in(""));
    }
}
