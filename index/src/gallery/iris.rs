//! The iris slot of a person record.
//!
//! A slot holds one 2 048-bit code and its mask as the iris module's gallery record
//! ([`crate::iris::encode_record`] for [`IrisLayout::DAUGMAN_2048`]): 64 words, rows in
//! cascade order, each row's code words followed by its mask words. The search compares a
//! slot with [`crate::iris::IrisMatcher`] against a probe rotated once per search
//! ([`crate::iris::IrisProbe`]), so rotation is compensated over the matcher's window.

use crate::iris::{encode_record, IrisError, IrisLayout, IrisTemplate};

/// Layout of the codes a gallery stores.
pub const GALLERY_IRIS_LAYOUT: IrisLayout = IrisLayout::DAUGMAN_2048;
/// Words of one 2 048-bit code.
pub const IRIS_CODE_WORDS: usize = 32;
/// Words of one iris slot (code and mask).
pub const IRIS_RECORD_WORDS: usize = 2 * IRIS_CODE_WORDS;

/// One eye's code and mask, as an enrolment carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrisCode {
    /// 0 for the left eye, 1 for the right.
    pub eye: usize,
    /// Code and mask as a gallery record of [`GALLERY_IRIS_LAYOUT`].
    pub record: [u64; IRIS_RECORD_WORDS],
}

impl IrisCode {
    /// An iris code of [`GALLERY_IRIS_LAYOUT`] from a template. Fails when the template has
    /// another layout or `eye` is not 0 or 1.
    pub fn from_template(eye: usize, template: &IrisTemplate) -> Result<Self, IrisError> {
        if eye > 1 {
            return Err(IrisError::InvalidConfig {
                reason: "eye must be 0 (left) or 1 (right)",
            });
        }
        if template.layout() != GALLERY_IRIS_LAYOUT {
            return Err(IrisError::LayoutMismatch {
                left: GALLERY_IRIS_LAYOUT.to_string(),
                right: template.layout().to_string(),
            });
        }
        let mut record = [0u64; IRIS_RECORD_WORDS];
        encode_record(template, &mut record)?;
        Ok(Self { eye, record })
    }

    /// An iris code from packed bytes in the bit order of [`crate::iris::layout`] (256 bytes
    /// of code, 256 of mask, bit `i` is byte `i / 8`, bit `i % 8`). `None` when the lengths
    /// are wrong or `eye` is not 0 or 1.
    pub fn from_bytes(eye: usize, code: &[u8], mask: &[u8]) -> Option<Self> {
        let template = IrisTemplate::from_bytes(GALLERY_IRIS_LAYOUT, code, mask).ok()?;
        Self::from_template(eye, &template).ok()
    }

    /// Valid (unmasked) bits.
    pub fn valid_bits(&self) -> u32 {
        valid_bits(&self.record)
    }
}

/// Valid (unmasked) bits of a slot.
pub fn valid_bits(record: &[u64; IRIS_RECORD_WORDS]) -> u32 {
    let w = GALLERY_IRIS_LAYOUT.words_per_row();
    record
        .chunks_exact(2 * w)
        .map(|row| row[w..].iter().map(|m| m.count_ones()).sum::<u32>())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iris::decode_record;

    #[test]
    fn slot_is_the_iris_gallery_record() {
        let mut code = vec![0u8; 256];
        code[..64].iter_mut().for_each(|b| *b = 0xa5);
        let mut mask = vec![0xffu8; 256];
        mask[200..].iter_mut().for_each(|b| *b = 0);
        let c = IrisCode::from_bytes(1, &code, &mask).unwrap();
        assert_eq!(c.valid_bits(), 200 * 8);
        let back = decode_record(GALLERY_IRIS_LAYOUT, &c.record).unwrap();
        assert_eq!(back.code_bytes(), code);
        assert_eq!(back.mask_bytes(), mask);
        assert!(IrisCode::from_bytes(2, &code, &mask).is_none());
        assert!(IrisCode::from_bytes(0, &code[..10], &mask).is_none());
        let open = IrisTemplate::empty(IrisLayout::OPEN_IRIS);
        assert!(IrisCode::from_template(0, &open).is_err());
    }
}
