//! Gallery-side normalisation of first-stage similarities: each gallery finger's descriptor
//! similarity is taken relative to what that finger scores, on average, against a fixed
//! cohort of unrelated fingers.
//!
//! The descriptor similarity (`descriptor::similarity`) corrects the shared bits for chance
//! as if every position were equally likely. They are not: the words of common ridge
//! configurations set the same positions in many fingers, so a finger whose descriptor holds
//! many of them scores high against every probe and takes shortlist places from real mates.
//! Subtracting the finger's mean similarity against a cohort (a gallery-side "T-norm", the
//! finger's offset) removes that bias; the probe's own bias is the same for every gallery
//! finger it meets, so it does not change a finger's ranking.
//!
//! The offset is computed once, when the person is prepared, and kept in the hot record as
//! a signed byte in units of 1/[`OFFSET_SCALE`] ([`crate::gallery::PersonRecord::offsets`]).
//! A gallery whose calibration has no cohort (one created before cohorts existed) gets the
//! offset 0 for every finger and ranks exactly as before.

use serde::{Deserialize, Serialize};

use super::descriptor::{ones, similarity, DESCRIPTOR_WORDS};

/// Offsets are stored in units of `1 / OFFSET_SCALE` (a power of two, so the stored value
/// converts to `f32` exactly).
pub const OFFSET_SCALE: f32 = 16.0;

/// Cohort size the shipped calibrations use.
pub const COHORT_FINGERS: usize = 256;

/// The similarity offset a stored byte stands for.
#[inline(always)]
pub fn offset_value(offset: i8) -> f32 {
    f32::from(offset) * (1.0 / OFFSET_SCALE)
}

/// A probe's similarity to a gallery finger relative to that finger's offset: the value the
/// first stage's table calibrates.
#[inline(always)]
pub fn normalised(similarity: f32, offset: i8) -> f32 {
    similarity - offset_value(offset)
}

/// Fixed descriptors of unrelated fingers against which gallery fingers are normalised.
/// Stored with a gallery's calibration as hexadecimal strings, one per descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct DescriptorCohort {
    fingers: Vec<([u64; DESCRIPTOR_WORDS], u16)>,
}

/// A cohort string that is not a descriptor.
#[derive(Debug, thiserror::Error)]
#[error("cohort descriptor {index}: expected {expected} hexadecimal digits")]
pub struct CohortError {
    index: usize,
    expected: usize,
}

impl DescriptorCohort {
    /// A cohort of the given descriptors; empty ones (no set bit) are left out.
    pub fn new(descriptors: impl IntoIterator<Item = [u64; DESCRIPTOR_WORDS]>) -> Self {
        let fingers = descriptors
            .into_iter()
            .map(|d| (d, ones(&d)))
            .filter(|&(_, n)| n > 0)
            .collect();
        Self { fingers }
    }

    /// Fingers in the cohort.
    pub fn len(&self) -> usize {
        self.fingers.len()
    }

    /// True when there is no cohort (every offset is 0).
    pub fn is_empty(&self) -> bool {
        self.fingers.is_empty()
    }

    /// The offset of a gallery descriptor with `d_ones` set bits: its mean similarity against
    /// the cohort, rounded to the stored unit and clamped to a byte. 0 without a cohort or
    /// for an empty descriptor.
    pub fn offset(&self, d: &[u64; DESCRIPTOR_WORDS], d_ones: u16) -> i8 {
        if self.fingers.is_empty() || d_ones == 0 {
            return 0;
        }
        let sum: f64 = self
            .fingers
            .iter()
            .map(|(c, n)| f64::from(similarity(c, *n, d, d_ones)))
            .sum();
        let mean = sum / self.fingers.len() as f64;
        (mean * f64::from(OFFSET_SCALE))
            .round()
            .clamp(f64::from(i8::MIN), f64::from(i8::MAX)) as i8
    }
}

impl From<DescriptorCohort> for Vec<String> {
    fn from(c: DescriptorCohort) -> Self {
        c.fingers
            .iter()
            .map(|(d, _)| d.iter().map(|w| format!("{w:016x}")).collect())
            .collect()
    }
}

impl TryFrom<Vec<String>> for DescriptorCohort {
    type Error = CohortError;

    fn try_from(v: Vec<String>) -> Result<Self, Self::Error> {
        let expected = DESCRIPTOR_WORDS * 16;
        let mut out = Vec::with_capacity(v.len());
        for (index, s) in v.iter().enumerate() {
            let error = || CohortError { index, expected };
            if s.len() != expected {
                return Err(error());
            }
            let mut d = [0u64; DESCRIPTOR_WORDS];
            for (w, word) in d.iter_mut().enumerate() {
                // `get` is `None` where a multi-byte character straddles a word's digits.
                let digits = s.get(w * 16..(w + 1) * 16).ok_or_else(error)?;
                *word = u64::from_str_radix(digits, 16).map_err(|_| error())?;
            }
            out.push(d);
        }
        Ok(Self::new(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(seed: u64, bits: usize) -> [u64; DESCRIPTOR_WORDS] {
        let mut d = [0u64; DESCRIPTOR_WORDS];
        let mut s = seed;
        for _ in 0..bits {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let p = (s >> 33) as usize % (DESCRIPTOR_WORDS * 64);
            d[p / 64] |= 1 << (p % 64);
        }
        d
    }

    #[test]
    fn no_cohort_gives_offset_zero() {
        let d = descriptor(1, 200);
        assert_eq!(DescriptorCohort::default().offset(&d, ones(&d)), 0);
    }

    #[test]
    fn a_finger_sharing_the_cohorts_common_bits_gets_a_larger_offset() {
        // Every cohort finger holds the same 100 "common" bits plus its own 100 random ones.
        let common = descriptor(99, 100);
        let cohort = DescriptorCohort::new((0..64).map(|i| {
            let mut d = descriptor(1000 + i, 100);
            for (w, c) in d.iter_mut().zip(&common) {
                *w |= c;
            }
            d
        }));
        let mut typical = descriptor(7, 100);
        for (w, c) in typical.iter_mut().zip(&common) {
            *w |= c;
        }
        let rare = descriptor(8, 190);
        let t = cohort.offset(&typical, ones(&typical));
        let r = cohort.offset(&rare, ones(&rare));
        assert!(t > r + 16, "typical {t} rare {r}");
        assert!(r.abs() < 16, "a random finger's offset is near 0: {r}");
    }

    #[test]
    fn offsets_convert_exactly_and_round_trip_through_strings() {
        assert_eq!(offset_value(-128), -8.0);
        assert_eq!(offset_value(40), 2.5);
        assert_eq!(normalised(3.0, 16), 2.0);
        let cohort = DescriptorCohort::new((0..5).map(|i| descriptor(i, 150)));
        let text: Vec<String> = cohort.clone().into();
        assert_eq!(DescriptorCohort::try_from(text).unwrap(), cohort);
        assert!(DescriptorCohort::try_from(vec!["0f".to_string()]).is_err());
        assert!(DescriptorCohort::try_from(vec!["g".repeat(256)]).is_err());
        let json = serde_json::to_string(&cohort).unwrap();
        assert_eq!(
            serde_json::from_str::<DescriptorCohort>(&json).unwrap(),
            cohort
        );
    }
}
