//! Eight bytes at a time: the word loads and constants of the crate's byte-level code (string
//! scanning, string equality, the task filter's text search, the order prefixes of the time heap
//! and the task table), the same on every target.

/// Every byte of a word set to 0x01.
pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;
/// Every byte of a word set to 0x80 (each byte's high bit).
pub(crate) const HIGH: u64 = 0x8080_8080_8080_8080;

/// The first eight bytes of `text`, big-endian, zero-padded: when two texts' prefixes differ they
/// order the texts as their bytes do (a text that ends early pads with zeros and is less, as a
/// prefix is), so most comparisons of two texts need no more than this.
pub(crate) fn order_prefix(text: &str) -> u64 {
    let mut b = [0u8; 8];
    let n = text.len().min(8);
    b[..n].copy_from_slice(&text.as_bytes()[..n]);
    u64::from_be_bytes(b)
}

/// The eight bytes of `b` at `i`, first byte lowest (panics past the end, like indexing).
#[inline(always)]
pub(crate) fn word(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("eight bytes"))
}
