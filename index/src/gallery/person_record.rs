//! The hot, fixed-stride part of a person: everything the first stage reads for every person
//! on every search, laid out contiguously so a scan streams through memory once.
//!
//! ```text
//! 0     8         12          32           42         64                    1344             2368
//! | key | presence | ones[10] | offsets[10] | reserved | fingers: 10 × 128 B | irises: 2 × 512 B |
//! ```
//!
//! `presence` bit `i` (0–9) says finger slot `i` (ISO position `i + 1`) has a usable template;
//! bits 10 and 11 say the left and right iris are present. `ones[i]` is the number of set bits
//! of finger `i`'s descriptor (so the first stage does not recount it); `offsets[i]` is finger
//! `i`'s similarity offset against the gallery's cohort (`super::cohort`; 0 without a cohort).

use bytemuck::{Pod, Zeroable};

use super::descriptor::DESCRIPTOR_WORDS;
use super::iris::IRIS_RECORD_WORDS;

/// Finger slots per person (ISO positions 1–10).
pub const FINGERS: usize = 10;
/// Eyes per person (left, right).
pub const EYES: usize = 2;
/// Presence bit of the first eye (left); the right eye is the next bit.
pub const EYE_PRESENCE_SHIFT: u32 = 10;

/// The hot record of one person (2 368 bytes, cache-line aligned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C, align(64))]
pub struct PersonRecord {
    /// The person key (also the storage key).
    pub key: u64,
    /// Modality presence bits (see the module documentation).
    pub presence: u32,
    /// Set bits of each finger descriptor.
    pub ones: [u16; FINGERS],
    /// Each finger's similarity offset in units of 1/16 (see [`super::cohort`]).
    pub offsets: [i8; FINGERS],
    /// Zero.
    pub reserved: [u8; 22],
    /// First-stage fingerprint descriptors, by finger slot.
    pub fingers: [[u64; DESCRIPTOR_WORDS]; FINGERS],
    /// Iris gallery records ([`crate::iris::encode_record`] layout of the 2 048-bit code:
    /// rows in cascade order, each row's code then mask words), left then right.
    pub irises: [[u64; IRIS_RECORD_WORDS]; EYES],
}

/// Bytes of a hot record (the store stride).
pub const PERSON_RECORD_BYTES: usize = std::mem::size_of::<PersonRecord>();

impl PersonRecord {
    /// An empty record for `key`.
    pub fn new(key: u64) -> Self {
        Self {
            key,
            ..Self::zeroed()
        }
    }

    /// Whether finger slot `slot` is present.
    #[inline]
    pub fn has_finger(&self, slot: usize) -> bool {
        slot < FINGERS && self.presence & (1 << slot) != 0
    }

    /// Whether eye `eye` (0 left, 1 right) is present.
    #[inline]
    pub fn has_eye(&self, eye: usize) -> bool {
        eye < EYES && self.presence & (1 << (EYE_PRESENCE_SHIFT + eye as u32)) != 0
    }

    /// Number of fingers present.
    pub fn finger_count(&self) -> u32 {
        (self.presence & ((1 << FINGERS) - 1)).count_ones()
    }

    /// Number of eyes present.
    pub fn eye_count(&self) -> u32 {
        (self.presence >> EYE_PRESENCE_SHIFT & 0b11).count_ones()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_whole_cache_lines() {
        assert_eq!(PERSON_RECORD_BYTES % 64, 0);
        assert_eq!(PERSON_RECORD_BYTES, 64 + FINGERS * 128 + EYES * 512);
        let mut r = PersonRecord::new(5);
        r.presence = 0b11 << EYE_PRESENCE_SHIFT | 0b101;
        assert!(r.has_finger(0) && !r.has_finger(1) && r.has_finger(2));
        assert!(!r.has_finger(10));
        assert_eq!((r.finger_count(), r.eye_count()), (2, 2));
    }
}
