//! Helpers for the crate's unit tests.

/// A small deterministic pseudo-random generator (xorshift64): the same sequence on every run and
/// every target, so a failing case can be found again from its seed.
pub(crate) struct XorShift(u64);

impl XorShift {
    /// A generator from a non-zero seed.
    pub(crate) fn new(seed: u64) -> XorShift {
        assert_ne!(seed, 0, "xorshift stays at zero forever");
        XorShift(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (not quite uniform; enough for tests).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
