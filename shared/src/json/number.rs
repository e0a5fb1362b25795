//! Numbers as Celery writes them (timestamps of 16-17 significant digits, small integers),
//! converted while they are scanned: digits eight at a time, and the exact decimal-to-double step
//! without the standard parser, for the numbers that allow it ([`Digits::convert`]).

use super::JsonRef;

/// The significant digits of a number, accumulated while it is scanned.
#[derive(Default)]
pub(super) struct Digits {
    /// The first 19 digits as an integer (fraction digits included, the point ignored).
    mantissa: u64,
    /// How many digits there were (beyond 19, `mantissa` stops growing).
    count: usize,
}

impl Digits {
    /// Reads the digits at `i` onwards; returns the index after them. Eight digits at a time
    /// where possible: a timestamp has 17, so the byte-at-a-time loop is what cost.
    #[inline]
    pub(super) fn read(&mut self, b: &[u8], mut i: usize) -> usize {
        // Up to eight digits per step while they surely fit the 19 kept (see `leading_digits`).
        while self.count + 8 <= 19
            && let Some(bytes) = b.get(i..i + 8)
        {
            let (n, len) = leading_digits(u64::from_le_bytes(bytes.try_into().expect("8 bytes")));
            self.mantissa = self.mantissa * POW10_U64[len] + n;
            self.count += len;
            i += len;
            if len < 8 {
                return i;
            }
        }
        while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if self.count < 19 {
                self.mantissa = self.mantissa * 10 + u64::from(c - b'0');
            }
            self.count += 1;
            i += 1;
        }
        i
    }

    /// The value of a number without exponent, when it can be had exactly from the digits:
    /// integers of up to 18 digits, and decimals of up to 19 significant digits (see
    /// [`exact_quotient`]). `None` sends the text to the standard parser.
    #[inline]
    pub(super) fn convert(
        &self,
        negative: bool,
        fraction: Option<usize>,
    ) -> Option<JsonRef<'static>> {
        let Some(fraction) = fraction else {
            if self.count > 18 {
                return None;
            }
            let n = self.mantissa as i64;
            return Some(JsonRef::Int(if negative { -n } else { n }));
        };
        if self.count > 19 || fraction > 19 {
            return None;
        }
        let v = exact_quotient(self.mantissa, fraction);
        Some(JsonRef::Float(if negative { -v } else { v }))
    }
}

/// The value and the number of the ASCII digits that start the 8-byte word `w` (little-endian),
/// in a dozen operations whatever their number: the digits are found by a byte-wise range test,
/// shifted to the top of the word (the bytes below become leading zeros), then combined pairwise
/// by three multiplications (the SWAR trick of fast_float and simdjson).
#[inline]
fn leading_digits(w: u64) -> (u64, usize) {
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const HI: u64 = 0x8080_8080_8080_8080;
    // Per byte x (no carries between bytes: the low seven bits plus 0x50 stay below 0x100): the
    // high bit of x7 + 0x50 says x >= '0', that of x7 + 0x46 says x > '9'; bytes >= 0x80 are not
    // digits either.
    let x7 = w & LOW7;
    let not_digit = (!(x7 + 0x5050_5050_5050_5050) | (x7 + 0x4646_4646_4646_4646) | w) & HI;
    let len = (not_digit.trailing_zeros() / 8) as usize;
    if len == 0 {
        return (0, 0);
    }
    // Wrapping arithmetic throughout: borrows from the non-digit bytes and carries out of the top
    // lane only touch bytes that are shifted or masked away.
    let w = w.wrapping_sub(ZEROS) << (8 * (8 - len));
    let w = (w.wrapping_mul(10).wrapping_add(w >> 8)) & 0x00FF_00FF_00FF_00FF;
    let w = (w.wrapping_mul(100).wrapping_add(w >> 16)) & 0x0000_FFFF_0000_FFFF;
    (
        (w.wrapping_mul(10_000).wrapping_add(w >> 32)) & 0xFFFF_FFFF,
        len,
    )
}

/// `10^k` for `k` in `0..=19` (all that fit a `u64`).
const POW10_U64: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut k = 1;
    while k < 20 {
        t[k] = t[k - 1] * 10;
        k += 1;
    }
    t
};

/// `mantissa / 10^k` correctly rounded (to nearest, ties to even), as `str::parse` gives it.
///
/// When the mantissa fits 2^53 this is Clinger's fast path (both operands exact, one IEEE
/// division). Timestamps have 17 digits, beyond 2^53; for them this is the Eisel-Lemire step
/// that the standard parser also uses (Lemire, "Number parsing at a gigabyte per second", 2021):
/// the mantissa times a 128-bit approximation of `5^-k` (one or two 64-bit multiplications, no
/// division), with its exact test for the halfway cases. For `k <= 19` and a mantissa of at most
/// 19 digits the approximation is always close enough (the paper's safe range is `k <= 27`), so
/// no fallback is needed.
fn exact_quotient(mantissa: u64, k: usize) -> f64 {
    const POW10_F64: [f64; 20] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19,
    ];
    if mantissa <= 1 << 53 {
        return mantissa as f64 / POW10_F64[k];
    }
    // The decimal exponent q = -k; f64: 52 stored significand bits, exponent bias 1023.
    let q = -(k as i32);
    let lz = mantissa.leading_zeros();
    let w = mantissa << lz;
    let (hi5, lo5) = FIVE_TO_MINUS_K[k];
    let full = |a: u64, b: u64| {
        let p = u128::from(a) * u128::from(b);
        (p as u64, (p >> 64) as u64)
    };
    // The product's top 64 bits, refined by the low half of the power when the bits that decide
    // the rounding are all ones (the truncated part could carry into them).
    let (mut lo, mut hi) = full(w, hi5);
    if hi & (u64::MAX >> 55) == u64::MAX >> 55 {
        let (_, carry) = full(w, lo5);
        lo = lo.wrapping_add(carry);
        if carry > lo {
            hi += 1;
        }
    }
    let upper = (hi >> 63) as i32;
    let mut m = hi >> (upper + 64 - 52 - 3);
    // floor(log2(10^q)) + 63, as an integer expression valid for |q| < 350.
    let mut exp = ((q.wrapping_mul(152_170 + 65_536)) >> 16) + 63 + upper - lz as i32 + 1023;
    // Exactly halfway between two doubles (only possible when 5^k fits 64 bits and k <= 4):
    // round down to even instead of up.
    if lo <= 1 && q >= -4 && m & 3 == 1 && (m << (upper + 64 - 52 - 3)) == hi {
        m &= !1;
    }
    m += m & 1;
    m >>= 1;
    if m >= 2 << 52 {
        m = 1 << 52;
        exp += 1;
    }
    f64::from_bits((m & !(1 << 52)) | ((exp as u64) << 52))
}

/// `5^-k` for `k` in `0..=19`, as 128-bit fractions normalised to the top bit, `(high, low)`
/// 64-bit halves: `floor(2^(z + 127) / 5^k) + 1` with `2^z` the first power of two at or above
/// `5^k` (`2^127` for `k = 0`), the table entries of the Eisel-Lemire algorithm. Computed here by
/// long division, one bit at a time, at compile time.
const FIVE_TO_MINUS_K: [(u64, u64); 20] = {
    let mut t = [(0u64, 0u64); 20];
    t[0] = (1 << 63, 0);
    let mut k = 1;
    while k < 20 {
        let p = POW10_U64[k] >> k; // 5^k
        let mut z = 0;
        while (1u128 << z) < p as u128 {
            z += 1;
        }
        // floor(2^(z + 127) / p): the binary number 1 followed by z + 127 zeros, divided by p.
        let (mut quotient, mut rest) = (0u128, 1u128);
        let mut bit = 0;
        while bit < z + 127 {
            rest <<= 1;
            quotient <<= 1;
            if rest >= p as u128 {
                rest -= p as u128;
                quotient |= 1;
            }
            bit += 1;
        }
        let c = quotient + 1;
        t[k] = ((c >> 64) as u64, c as u64);
        k += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Two entries of the power table, against the values in Lemire's published table.
    #[test]
    fn five_to_minus_k_matches_the_published_table() {
        assert_eq!(
            FIVE_TO_MINUS_K[1],
            (0xcccc_cccc_cccc_cccc, 0xcccc_cccc_cccc_cccd)
        );
        assert_eq!(
            FIVE_TO_MINUS_K[2],
            (0xa3d7_0a3d_70a3_d70a, 0x3d70_a3d7_0a3d_70a4)
        );
    }
}
