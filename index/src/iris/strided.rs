//! Gallery-side record layout: fixed-stride records of `u64` words for memory-mapped files.
//!
//! A record holds the code and the mask of one template, row by row, each row as its code
//! words followed by its mask words:
//!
//! ```text
//! [row o0: code (W words) | mask (W words)] [row o1: code | mask] ... [row o(R-1): ...]
//! ```
//!
//! `W` is [`IrisLayout::words_per_row`] and `o0, o1, …` is the *cascade order*
//! ([`cascade_row_order`]): rows are permuted so that every prefix of the record is a set of
//! rows spread evenly over filters and rings. A scan reads the first few rows of a record at
//! every rotation and only touches the rest when that prefix says the template could match.
//! Because rows are whole words, the prefix compares at any rotation with no bit shuffling on
//! the gallery side.
//!
//! The record has no header, so its size is exactly twice the code size
//! ([`IrisLayout::record_words`]): 512 bytes for the 2048-bit code, 4 096 bytes for open-iris.
//! Words are little-endian in files.

use bytemuck::{Pod, Zeroable};

use super::error::IrisError;
use super::layout::IrisLayout;
use super::template::IrisTemplate;

impl IrisLayout {
    /// Words in one gallery record (code and mask).
    pub fn record_words(&self) -> usize {
        2 * self.code_words()
    }

    /// Bytes in one gallery record.
    pub fn record_bytes(&self) -> usize {
        8 * self.record_words()
    }
}

/// The order rows take in a gallery record: the bit-reversal permutation of the row index
/// (skipping indexes past the last row), so that the first `p` rows of the record are spread
/// evenly over the filters and rings. For 8 rows: 0, 4, 2, 6, 1, 5, 3, 7.
pub fn cascade_row_order(layout: IrisLayout) -> Vec<usize> {
    let rows = layout.rows();
    let bits = rows.next_power_of_two().trailing_zeros();
    (0..rows.next_power_of_two())
        .map(|i| {
            if bits == 0 {
                0
            } else {
                i.reverse_bits() >> (usize::BITS - bits)
            }
        })
        .filter(|&r| r < rows)
        .collect()
}

/// Writes `template` as a gallery record into `out`, which must hold exactly
/// [`IrisLayout::record_words`] words.
pub fn encode_record(template: &IrisTemplate, out: &mut [u64]) -> Result<(), IrisError> {
    let layout = template.layout();
    if out.len() != layout.record_words() {
        return Err(IrisError::WrongLength {
            what: "record",
            unit: "words",
            expected: layout.record_words(),
            actual: out.len(),
        });
    }
    let w = layout.words_per_row();
    for (slot, row) in cascade_row_order(layout).into_iter().enumerate() {
        let dst = &mut out[slot * 2 * w..(slot + 1) * 2 * w];
        dst[..w].copy_from_slice(&template.code()[row * w..(row + 1) * w]);
        dst[w..].copy_from_slice(&template.mask()[row * w..(row + 1) * w]);
    }
    Ok(())
}

/// `template` as a newly allocated gallery record.
pub fn record_of(template: &IrisTemplate) -> Vec<u64> {
    let layout = template.layout();
    let mut out = vec![0; layout.record_words()];
    // The buffer has the record size, so encoding cannot fail.
    let _ = encode_record(template, &mut out);
    out
}

/// Reads a gallery record back into a template.
pub fn decode_record(layout: IrisLayout, record: &[u64]) -> Result<IrisTemplate, IrisError> {
    if record.len() != layout.record_words() {
        return Err(IrisError::WrongLength {
            what: "record",
            unit: "words",
            expected: layout.record_words(),
            actual: record.len(),
        });
    }
    let w = layout.words_per_row();
    let mut code = vec![0; layout.code_words()];
    let mut mask = vec![0; layout.code_words()];
    for (slot, row) in cascade_row_order(layout).into_iter().enumerate() {
        let src = &record[slot * 2 * w..(slot + 1) * 2 * w];
        code[row * w..(row + 1) * w].copy_from_slice(&src[..w]);
        mask[row * w..(row + 1) * w].copy_from_slice(&src[w..]);
    }
    IrisTemplate::from_words(layout, code, mask)
}

/// One gallery record of the 2048-bit layout as a plain-old-data value (512 bytes, aligned to
/// a cache line), for typed views of memory-mapped files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C, align(64))]
pub struct GalleryIris2048 {
    /// The record words, in the layout of this module.
    pub words: [u64; 64],
}

/// One gallery record of the open-iris layout as a plain-old-data value (4 096 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C, align(64))]
pub struct GalleryIrisOpen {
    /// The record words, in the layout of this module.
    pub words: [u64; 512],
}

/// A contiguous run of gallery records of one layout, borrowed from memory (for instance a
/// memory-mapped file). Record `i` is `words[i × stride .. (i + 1) × stride]`.
#[derive(Debug, Clone, Copy)]
pub struct IrisRecords<'a> {
    layout: IrisLayout,
    words: &'a [u64],
}

impl<'a> IrisRecords<'a> {
    /// Views `words` as records; its length must be a multiple of the record size.
    pub fn new(layout: IrisLayout, words: &'a [u64]) -> Result<Self, IrisError> {
        let stride = layout.record_words();
        if !words.len().is_multiple_of(stride) {
            return Err(IrisError::WrongLength {
                what: "record block",
                unit: "words",
                expected: (words.len() / stride + 1) * stride,
                actual: words.len(),
            });
        }
        Ok(Self { layout, words })
    }

    /// Views bytes (8-byte aligned, little-endian words) as records.
    pub fn from_bytes(layout: IrisLayout, bytes: &'a [u8]) -> Result<Self, IrisError> {
        let stride = layout.record_bytes();
        if !bytes.len().is_multiple_of(stride) {
            return Err(IrisError::WrongLength {
                what: "record block",
                unit: "bytes",
                expected: (bytes.len() / stride + 1) * stride,
                actual: bytes.len(),
            });
        }
        let words: &[u64] = bytemuck::try_cast_slice(bytes).map_err(|_| IrisError::Misaligned)?;
        Self::new(layout, words)
    }

    /// Views typed 2048-bit records.
    pub fn from_2048(records: &'a [GalleryIris2048]) -> Self {
        Self {
            layout: IrisLayout::DAUGMAN_2048,
            words: bytemuck::cast_slice(records),
        }
    }

    /// Views typed open-iris records.
    pub fn from_open_iris(records: &'a [GalleryIrisOpen]) -> Self {
        Self {
            layout: IrisLayout::OPEN_IRIS,
            words: bytemuck::cast_slice(records),
        }
    }

    /// Layout of every record.
    pub fn layout(&self) -> IrisLayout {
        self.layout
    }

    /// All words.
    pub fn words(&self) -> &'a [u64] {
        self.words
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.words.len() / self.layout.record_words()
    }

    /// True when there is no record.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Record `index`, if present.
    pub fn get(&self, index: usize) -> Option<&'a [u64]> {
        let stride = self.layout.record_words();
        self.words.get(index * stride..(index + 1) * stride)
    }

    /// Iterates over the records in order.
    pub fn iter(&self) -> std::slice::ChunksExact<'a, u64> {
        self.words.chunks_exact(self.layout.record_words())
    }

    /// Records `start .. start + count` (clamped to the available records).
    pub fn slice(&self, start: usize, count: usize) -> Self {
        let stride = self.layout.record_words();
        let start = start.min(self.len());
        let end = start.saturating_add(count).min(self.len());
        Self {
            layout: self.layout,
            words: &self.words[start * stride..end * stride],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cascade_order_is_a_spread_permutation() {
        assert_eq!(
            cascade_row_order(IrisLayout::DAUGMAN_2048),
            vec![0, 4, 2, 6, 1, 5, 3, 7]
        );
        let mut open = cascade_row_order(IrisLayout::OPEN_IRIS);
        // The first two rows are ring 0 of each filter.
        assert_eq!(&open[..2], &[0, 16]);
        open.sort_unstable();
        assert_eq!(open, (0..32).collect::<Vec<_>>());
        let odd = IrisLayout::new(1, 5, 64, 1).unwrap();
        let mut o = cascade_row_order(odd);
        o.sort_unstable();
        assert_eq!(o, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn record_round_trips_and_views_check_sizes() {
        let layout = IrisLayout::DAUGMAN_2048;
        let mut t = IrisTemplate::empty(layout);
        for i in (0..2048).step_by(7) {
            t.set_code_bit(i, true);
        }
        for i in (0..2048).step_by(3) {
            t.set_mask_bit(i, true);
        }
        let rec = record_of(&t);
        assert_eq!(rec.len(), 64);
        assert_eq!(decode_record(layout, &rec).unwrap(), t);
        assert!(IrisRecords::new(layout, &rec[..63]).is_err());
        let typed = [GalleryIris2048 {
            words: rec.clone().try_into().unwrap(),
        }];
        let view = IrisRecords::from_2048(&typed);
        assert_eq!(view.len(), 1);
        assert_eq!(view.get(0).unwrap(), &rec[..]);
        let bytes: &[u8] = bytemuck::cast_slice(&typed);
        assert_eq!(IrisRecords::from_bytes(layout, bytes).unwrap().len(), 1);
        assert!(IrisRecords::from_bytes(layout, &bytes[..511]).is_err());
    }
}
