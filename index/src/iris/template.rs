//! An iris template: a binary code and its validity mask, with explicit geometry.

use super::error::IrisError;
use super::layout::{rotate_row, IrisLayout};

/// An iris code and its mask (mask bit 1 = code bit valid), both in the bit order documented
/// in [`super::layout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrisTemplate {
    layout: IrisLayout,
    code: Vec<u64>,
    mask: Vec<u64>,
}

impl IrisTemplate {
    /// A template with every code bit 0 and every mask bit 0 (nothing valid).
    pub fn empty(layout: IrisLayout) -> Self {
        Self {
            layout,
            code: vec![0; layout.code_words()],
            mask: vec![0; layout.code_words()],
        }
    }

    /// Builds a template from code and mask words; each must hold exactly
    /// [`IrisLayout::code_words`] words.
    pub fn from_words(
        layout: IrisLayout,
        code: Vec<u64>,
        mask: Vec<u64>,
    ) -> Result<Self, IrisError> {
        check_len("code", "words", layout.code_words(), code.len())?;
        check_len("mask", "words", layout.code_words(), mask.len())?;
        Ok(Self { layout, code, mask })
    }

    /// Decodes code and mask from bytes (little-endian words, so bit `i` is byte `i / 8`, bit
    /// `i % 8`); each must hold exactly [`IrisLayout::code_bytes`] bytes.
    pub fn from_bytes(layout: IrisLayout, code: &[u8], mask: &[u8]) -> Result<Self, IrisError> {
        check_len("code", "bytes", layout.code_bytes(), code.len())?;
        check_len("mask", "bytes", layout.code_bytes(), mask.len())?;
        Ok(Self {
            layout,
            code: words_from_le(code),
            mask: words_from_le(mask),
        })
    }

    /// The code as bytes, in the order [`IrisTemplate::from_bytes`] reads.
    pub fn code_bytes(&self) -> Vec<u8> {
        self.code.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// The mask as bytes, in the order [`IrisTemplate::from_bytes`] reads.
    pub fn mask_bytes(&self) -> Vec<u8> {
        self.mask.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// The geometry of this template.
    pub fn layout(&self) -> IrisLayout {
        self.layout
    }

    /// Code words.
    pub fn code(&self) -> &[u64] {
        &self.code
    }

    /// Mask words.
    pub fn mask(&self) -> &[u64] {
        &self.mask
    }

    /// At rotation 0: how many code bits differ among those valid in both templates, and
    /// how many are valid in both (their fractional Hamming distance without the matcher's
    /// rotation search, for evaluation; the matcher has its own kernels).
    pub fn unrotated_difference(&self, other: &IrisTemplate) -> (u64, u64) {
        let (mut differ, mut both) = (0u64, 0u64);
        for ((ca, ma), (cb, mb)) in self
            .code
            .iter()
            .zip(&self.mask)
            .zip(other.code.iter().zip(&other.mask))
        {
            let valid = ma & mb;
            both += u64::from(valid.count_ones());
            differ += u64::from(((ca ^ cb) & valid).count_ones());
        }
        (differ, both)
    }

    /// Code bit at a flat bit index (see [`IrisLayout::bit_index`]); false when out of range.
    pub fn code_bit(&self, index: usize) -> bool {
        get_bit(&self.code, index)
    }

    /// Mask bit at a flat bit index; false when out of range.
    pub fn mask_bit(&self, index: usize) -> bool {
        get_bit(&self.mask, index)
    }

    /// Sets a code bit; indexes out of range are ignored.
    pub fn set_code_bit(&mut self, index: usize, value: bool) {
        set_bit(&mut self.code, index, value);
    }

    /// Sets a mask bit; indexes out of range are ignored.
    pub fn set_mask_bit(&mut self, index: usize, value: bool) {
        set_bit(&mut self.mask, index, value);
    }

    /// Number of valid (mask = 1) bits.
    pub fn valid_bits(&self) -> u32 {
        self.mask.iter().map(|w| w.count_ones()).sum()
    }

    /// Fails with [`IrisError::Unusable`] when fewer than `required` bits are valid.
    pub fn check_usable(&self, required: u32) -> Result<(), IrisError> {
        let valid_bits = self.valid_bits();
        if valid_bits < required {
            return Err(IrisError::Unusable {
                valid_bits,
                required,
            });
        }
        Ok(())
    }

    /// This template rotated by `positions` angular positions: the sample at position `a`
    /// moves to position `(a + positions) mod angular`. Negative values rotate the other way.
    pub fn rotated(&self, positions: i32) -> Self {
        let mut out = self.clone();
        let shift = self.layout.rotation_shift(positions);
        let w = self.layout.words_per_row();
        for (src, dst) in self.code.chunks_exact(w).zip(out.code.chunks_exact_mut(w)) {
            rotate_row(src, shift, dst);
        }
        for (src, dst) in self.mask.chunks_exact(w).zip(out.mask.chunks_exact_mut(w)) {
            rotate_row(src, shift, dst);
        }
        out
    }
}

impl IrisLayout {
    /// Row-bit shift that rotates by `positions` angular positions, in `[0, row_bits)`.
    pub(crate) fn rotation_shift(&self, positions: i32) -> usize {
        let angular = self.angular() as i64;
        let p = (i64::from(positions).rem_euclid(angular)) as usize;
        p * self.bits_per_position()
    }
}

fn check_len(
    what: &'static str,
    unit: &'static str,
    expected: usize,
    actual: usize,
) -> Result<(), IrisError> {
    if expected != actual {
        return Err(IrisError::WrongLength {
            what,
            unit,
            expected,
            actual,
        });
    }
    Ok(())
}

fn words_from_le(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect()
}

fn get_bit(words: &[u64], index: usize) -> bool {
    words
        .get(index / 64)
        .is_some_and(|w| (w >> (index % 64)) & 1 == 1)
}

fn set_bit(words: &mut [u64], index: usize, value: bool) {
    if let Some(w) = words.get_mut(index / 64) {
        let bit = 1u64 << (index % 64);
        if value {
            *w |= bit;
        } else {
            *w &= !bit;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_length_is_checked() {
        let layout = IrisLayout::DAUGMAN_2048;
        let mut t = IrisTemplate::empty(layout);
        t.set_code_bit(layout.bit_index(0, 3, 17, 1), true);
        t.set_mask_bit(5, true);
        let back = IrisTemplate::from_bytes(layout, &t.code_bytes(), &t.mask_bytes()).unwrap();
        assert_eq!(back, t);
        // Bit i is byte i / 8, bit i % 8.
        let i = layout.bit_index(0, 3, 17, 1);
        assert_eq!(t.code_bytes()[i / 8], 1 << (i % 8));
        let err = IrisTemplate::from_bytes(layout, &[0; 255], &[0; 256]).unwrap_err();
        assert!(matches!(
            err,
            IrisError::WrongLength {
                expected: 256,
                actual: 255,
                ..
            }
        ));
        assert!(IrisTemplate::from_bytes(IrisLayout::OPEN_IRIS, &[0; 256], &[0; 256]).is_err());
    }

    #[test]
    fn rotation_moves_positions_within_rings() {
        let layout = IrisLayout::OPEN_IRIS;
        let mut t = IrisTemplate::empty(layout);
        t.set_code_bit(layout.bit_index(1, 5, 250, 1), true);
        t.set_mask_bit(layout.bit_index(0, 2, 3, 0), true);
        let r = t.rotated(10);
        assert!(r.code_bit(layout.bit_index(1, 5, 4, 1)));
        assert!(r.mask_bit(layout.bit_index(0, 2, 13, 0)));
        assert_eq!(r.valid_bits(), 1);
        assert_eq!(r.rotated(-10), t);
    }

    #[test]
    fn unusable_template_is_reported() {
        let t = IrisTemplate::empty(IrisLayout::DAUGMAN_2048);
        assert_eq!(
            t.check_usable(100),
            Err(IrisError::Unusable {
                valid_bits: 0,
                required: 100
            })
        );
    }
}
