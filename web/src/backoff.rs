//! Reconnect delays: start short (a relay restart takes a second), double up to a cap, each wait
//! randomised to 50-100 % so many browsers do not reconnect in step. Randomness comes in as an
//! argument (sans-IO).

/// First delay, ms.
pub const FIRST_MS: u32 = 250;
/// Largest delay, ms.
pub const MAX_MS: u32 = 10_000;

/// Delay state; [`Backoff::reset`] after a connection that said `hello`.
#[derive(Clone, Debug, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// The next delay in ms; `unit` is a random number in `[0, 1)`.
    pub fn next_ms(&mut self, unit: f64) -> u32 {
        let base = FIRST_MS
            .saturating_mul(1 << self.attempt.min(16))
            .min(MAX_MS);
        self.attempt += 1;
        let jitter = 0.5 + 0.5 * unit.clamp(0.0, 1.0);
        (f64::from(base) * jitter) as u32
    }

    /// Back to the first delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::default();
        let full: Vec<u32> = (0..8).map(|_| b.next_ms(0.999_999)).collect();
        assert_eq!(full, [249, 499, 999, 1999, 3999, 7999, 9999, 9999]);
        b.reset();
        assert_eq!(b.next_ms(0.0), 125);
        for _ in 0..100 {
            b.next_ms(0.5);
        }
        assert_eq!(b.next_ms(0.0), 5000);
    }
}
