//! The iris slot of a person record and the first-stage iris comparison.
//!
//! A slot holds one 2 048-bit code and its mask as 64 words (code words, then mask words):
//! the same 512 bytes as the iris module's 2 048-bit gallery record. Until that module's
//! rotation-window matcher is merged, the first stage compares codes with the fractional
//! Hamming distance over jointly valid bits, without rotation.

/// Words of one 2 048-bit code.
pub const IRIS_CODE_WORDS: usize = 32;
/// Words of one iris slot (code and mask).
pub const IRIS_RECORD_WORDS: usize = 2 * IRIS_CODE_WORDS;
/// Fewest jointly valid bits for a comparison to count.
pub const MIN_COMPARED_BITS: u32 = 256;

/// One eye's code and mask, as an enrolment carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrisCode {
    /// 0 for the left eye, 1 for the right.
    pub eye: usize,
    /// Code and mask in the slot layout.
    pub record: [u64; IRIS_RECORD_WORDS],
}

impl IrisCode {
    /// An iris code from packed bytes (256 bytes of code, 256 of mask, bit `i` of byte `j` is
    /// code bit `8j + i`). `None` when the lengths are wrong.
    pub fn from_bytes(eye: usize, code: &[u8], mask: &[u8]) -> Option<Self> {
        if eye > 1 || code.len() != IRIS_CODE_WORDS * 8 || mask.len() != IRIS_CODE_WORDS * 8 {
            return None;
        }
        let mut record = [0u64; IRIS_RECORD_WORDS];
        for (w, chunk) in code.chunks_exact(8).enumerate() {
            record[w] = u64::from_le_bytes(chunk.try_into().ok()?);
        }
        for (w, chunk) in mask.chunks_exact(8).enumerate() {
            record[IRIS_CODE_WORDS + w] = u64::from_le_bytes(chunk.try_into().ok()?);
        }
        Some(Self { eye, record })
    }

    /// Valid (unmasked) bits.
    pub fn valid_bits(&self) -> u32 {
        self.record[IRIS_CODE_WORDS..]
            .iter()
            .map(|w| w.count_ones())
            .sum()
    }
}

/// Fractional Hamming distance of two slots over their jointly valid bits, `None` when fewer
/// than [`MIN_COMPARED_BITS`] are jointly valid.
#[inline]
pub fn iris_distance(a: &[u64; IRIS_RECORD_WORDS], b: &[u64; IRIS_RECORD_WORDS]) -> Option<f32> {
    let (mut diff, mut valid) = (0u32, 0u32);
    for w in 0..IRIS_CODE_WORDS {
        let m = a[IRIS_CODE_WORDS + w] & b[IRIS_CODE_WORDS + w];
        diff += ((a[w] ^ b[w]) & m).count_ones();
        valid += m.count_ones();
    }
    (valid >= MIN_COMPARED_BITS).then(|| diff as f32 / valid as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_only_jointly_valid_bits() {
        let mut code = vec![0u8; 256];
        let mask = vec![0xffu8; 256];
        let a = IrisCode::from_bytes(0, &code, &mask).unwrap();
        code[..64].iter_mut().for_each(|b| *b = 0xff);
        let b = IrisCode::from_bytes(0, &code, &mask).unwrap();
        assert_eq!(iris_distance(&a.record, &b.record), Some(0.25));
        let mut half = mask.clone();
        half[..64].iter_mut().for_each(|b| *b = 0);
        let c = IrisCode::from_bytes(1, &code, &half).unwrap();
        assert_eq!(iris_distance(&a.record, &c.record), Some(0.0));
        let none = IrisCode::from_bytes(1, &code, &[0u8; 256]).unwrap();
        assert_eq!(iris_distance(&a.record, &none.record), None);
        assert!(IrisCode::from_bytes(2, &code, &mask).is_none());
        assert!(IrisCode::from_bytes(0, &code[..10], &mask).is_none());
    }
}
