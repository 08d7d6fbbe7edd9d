//! Geometry of an iris code and the bit order every other module relies on.
//!
//! # Geometry
//!
//! An iris code samples the normalised (polar) iris image with `filters` Gabor-like filters at
//! `rings` radial positions and `angular` angular positions; each sample yields
//! `bits_per_position` bits (2 for the phase quadrant). A *row* is one (filter, ring) pair:
//! `rows = filters × rings`, and each row holds `angular × bits_per_position` bits.
//!
//! # Bit order
//!
//! Rows are stored one after the other, filter-major: row `r = filter × rings + ring`. Inside a
//! row the bits of angular position `a` come before those of `a + 1`, and the bits of one
//! position are adjacent: bit `b` of position `a` is row bit `a × bits_per_position + b`. Row bit
//! `i` lives in word `i / 64` of the row at bit `i % 64` (least significant bit first), so when
//! the words are written little-endian the same bit is byte `i / 8`, bit `i % 8`.
//!
//! The row length must be a whole number of 64-bit words. Each row therefore occupies its own
//! words, and rotating the iris by `k` angular positions is a rotation of every row's bit string
//! by `k × bits_per_position` bits, with no bit crossing a row boundary.
//!
//! The mask has exactly the same layout; a mask bit of 1 marks the code bit as valid.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::error::IrisError;

/// Largest number of rows a layout may have.
pub const MAX_ROWS: usize = 256;
/// Largest number of bits in one row.
pub const MAX_ROW_BITS: usize = 4096;

/// Geometry of an iris code. See the module documentation for the bit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IrisLayout {
    filters: u16,
    rings: u16,
    angular: u16,
    bits_per_position: u8,
}

impl IrisLayout {
    /// The classic 2048-bit IrisCode: 8 rings × 128 angular positions × 2 phase bits.
    pub const DAUGMAN_2048: Self = Self {
        filters: 1,
        rings: 8,
        angular: 128,
        bits_per_position: 2,
    };

    /// The open-iris layout: 2 filters × 16 rings × 256 angular positions × 2 bits
    /// (16 384 bits).
    pub const OPEN_IRIS: Self = Self {
        filters: 2,
        rings: 16,
        angular: 256,
        bits_per_position: 2,
    };

    /// Builds a layout, checking that each row is a whole number of 64-bit words.
    pub fn new(
        filters: u16,
        rings: u16,
        angular: u16,
        bits_per_position: u8,
    ) -> Result<Self, IrisError> {
        if filters == 0 || rings == 0 || angular == 0 || bits_per_position == 0 {
            return Err(IrisError::InvalidLayout {
                reason: "every dimension must be at least 1",
            });
        }
        let layout = Self {
            filters,
            rings,
            angular,
            bits_per_position,
        };
        if layout.rows() > MAX_ROWS {
            return Err(IrisError::InvalidLayout {
                reason: "too many rows (filters × rings above 256)",
            });
        }
        if layout.row_bits() > MAX_ROW_BITS {
            return Err(IrisError::InvalidLayout {
                reason: "row longer than 4096 bits",
            });
        }
        if !layout.row_bits().is_multiple_of(64) {
            return Err(IrisError::InvalidLayout {
                reason: "angular positions × bits per position must be a multiple of 64",
            });
        }
        Ok(layout)
    }

    /// Number of filters.
    pub fn filters(&self) -> usize {
        usize::from(self.filters)
    }

    /// Number of rings (radial positions) per filter.
    pub fn rings(&self) -> usize {
        usize::from(self.rings)
    }

    /// Number of angular positions per ring.
    pub fn angular(&self) -> usize {
        usize::from(self.angular)
    }

    /// Bits produced per (filter, ring, angular position) sample.
    pub fn bits_per_position(&self) -> usize {
        usize::from(self.bits_per_position)
    }

    /// Rows: one per (filter, ring) pair.
    pub fn rows(&self) -> usize {
        self.filters() * self.rings()
    }

    /// Bits in one row.
    pub fn row_bits(&self) -> usize {
        self.angular() * self.bits_per_position()
    }

    /// 64-bit words in one row.
    pub fn words_per_row(&self) -> usize {
        self.row_bits() / 64
    }

    /// Bits in the whole code (and in the mask).
    pub fn total_bits(&self) -> usize {
        self.rows() * self.row_bits()
    }

    /// 64-bit words in the code (and in the mask).
    pub fn code_words(&self) -> usize {
        self.total_bits() / 64
    }

    /// Bytes in the code (and in the mask).
    pub fn code_bytes(&self) -> usize {
        self.total_bits() / 8
    }

    /// Index of a bit in the code, following the documented bit order.
    pub fn bit_index(&self, filter: usize, ring: usize, position: usize, bit: usize) -> usize {
        (filter * self.rings() + ring) * self.row_bits() + position * self.bits_per_position() + bit
    }

    /// Default rotation window in angular positions on each side: 1/16 of a turn (±8 for 128
    /// positions, about ±11°), capped at 15 (the ±15 used for 256 positions).
    pub fn default_window(&self) -> usize {
        (self.angular() / 16).clamp(1, 15)
    }

    /// Typical number of jointly valid bits in a comparison, the `n` at which Daugman's score
    /// normalisation leaves a Hamming distance unchanged.
    ///
    /// For the 2048-bit code this is 911, the typical count in Daugman's published
    /// comparisons. Other layouts scale it by their size (911/2048 ≈ 44.5 % of the bits, e.g.
    /// 7 288 for open-iris): the normalisation then treats a comparison that keeps the same
    /// fraction of its code the same way in every layout, which is what the fraction of
    /// occluded iris (eyelids, lashes, reflections) actually determines.
    pub fn typical_compared_bits(&self) -> u32 {
        let bits = self.total_bits() as u64;
        ((bits * 911 + 1024) / 2048) as u32
    }
}

impl IrisLayout {
    /// The layouts known by name, as records and requests spell them.
    pub const NAMED: [(&'static str, Self); 2] = [
        ("daugman-2048", Self::DAUGMAN_2048),
        ("open-iris", Self::OPEN_IRIS),
    ];

    /// The name of a known layout (`daugman-2048`, `open-iris`), if this is one.
    pub fn name(&self) -> Option<&'static str> {
        Self::NAMED.iter().find(|(_, l)| l == self).map(|(n, _)| *n)
    }

    /// The known layout of that name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, l)| *l)
    }
}

impl fmt::Display for IrisLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} filter(s) × {} rings × {} positions × {} bits",
            self.filters, self.rings, self.angular, self.bits_per_position
        )
    }
}

/// Rotates a row's bit string towards higher bit indices by `shift` bits (bits leaving the
/// top re-enter at bit 0): output bit `(i + shift) mod L` is input bit `i`, `L = 64 × src.len()`.
///
/// `dst` and `src` must have the same length; extra words of the longer one are ignored.
pub(crate) fn rotate_row(src: &[u64], shift: usize, dst: &mut [u64]) {
    let words = src.len().min(dst.len());
    if words == 0 {
        return;
    }
    let len = words * 64;
    // Output bit j takes input bit (j - shift) mod len.
    let start = (len - shift % len) % len;
    let (q, s) = (start / 64, start % 64);
    for (j, out) in dst.iter_mut().take(words).enumerate() {
        let lo = src[(q + j) % words];
        *out = if s == 0 {
            lo
        } else {
            let hi = src[(q + j + 1) % words];
            (lo >> s) | (hi << (64 - s))
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_layouts_have_documented_sizes() {
        assert_eq!(IrisLayout::DAUGMAN_2048.total_bits(), 2048);
        assert_eq!(IrisLayout::DAUGMAN_2048.words_per_row(), 4);
        assert_eq!(IrisLayout::DAUGMAN_2048.default_window(), 8);
        assert_eq!(IrisLayout::DAUGMAN_2048.typical_compared_bits(), 911);
        assert_eq!(IrisLayout::OPEN_IRIS.total_bits(), 16384);
        assert_eq!(IrisLayout::OPEN_IRIS.default_window(), 15);
        assert_eq!(IrisLayout::OPEN_IRIS.typical_compared_bits(), 7288);
    }

    #[test]
    fn new_rejects_rows_that_are_not_whole_words() {
        assert!(IrisLayout::new(1, 8, 100, 2).is_err());
        assert!(IrisLayout::new(1, 0, 128, 2).is_err());
        assert_eq!(IrisLayout::new(1, 8, 128, 2), Ok(IrisLayout::DAUGMAN_2048));
    }

    #[test]
    fn rotate_row_matches_bitwise_definition() {
        let src = [
            0x0123_4567_89ab_cdefu64,
            0xfedc_ba98_7654_3210,
            0xdead_beef_0bad_f00d,
            7,
        ];
        let len = 256;
        for shift in [0usize, 1, 2, 63, 64, 65, 130, 255] {
            let mut dst = [0u64; 4];
            rotate_row(&src, shift, &mut dst);
            for i in 0..len {
                let j = (i + shift) % len;
                let a = (src[i / 64] >> (i % 64)) & 1;
                let b = (dst[j / 64] >> (j % 64)) & 1;
                assert_eq!(a, b, "shift {shift} bit {i}");
            }
        }
    }
}
