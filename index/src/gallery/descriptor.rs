//! First-stage fingerprint descriptor: a fixed-length bit vector per finger built from its
//! Minutia Cylinder-Code cylinders by locality-sensitive bit sampling.
//!
//! Each of `hashes` hash functions samples `bits_per_hash` value bits from the central cells
//! of a cylinder (the cells most likely to lie inside the fingerprint). The sampled bits form
//! a small integer, which is mixed with the hash function's number into one of
//! [`DESCRIPTOR_BITS`] positions, and that bit is set. Two cylinders of the same minutia in
//! two impressions agree on most bits, so they often set the same positions; a finger's
//! descriptor is the union over its cylinders (a Bloom-filter bag of cylinder words, after
//! the MCC-LSH idea of Cappelli, Ferrara and Maltoni, 2011, without its hash tables).
//!
//! A sample is skipped when one of its cells is outside the cylinder's valid area or when
//! fewer than [`DescriptorParams::min_ones`] sampled bits are set: words with very few set
//! bits (an empty or sparse neighbourhood) are drawn by almost every finger, so they set the
//! same positions in mates and non-mates alike and say little about identity.
//!
//! Similarity is the number of shared set bits against what two random vectors with the
//! same densities would share: `(c − e) / √(e + 1)` with `e = |a|·|b| / DESCRIPTOR_BITS`.
//! Cylinders are invariant to translation and rotation, so the descriptor needs no
//! alignment.

use crate::finger::{MccParams, PreparedTemplate};

/// Words of one finger descriptor.
pub const DESCRIPTOR_WORDS: usize = 16;
/// Bits of one finger descriptor.
pub const DESCRIPTOR_BITS: usize = DESCRIPTOR_WORDS * 64;

/// How descriptors are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorParams {
    /// Hash functions per cylinder.
    pub hashes: usize,
    /// Bits sampled per hash function (at most 32).
    pub bits_per_hash: usize,
    /// Fewest set bits among a hash function's sampled bits for its word to be inserted
    /// (at least 1: the all-zero word is never inserted).
    pub min_ones: u32,
    /// Seed of the sampled positions.
    pub seed: u64,
}

impl Default for DescriptorParams {
    fn default() -> Self {
        Self {
            hashes: 16,
            bits_per_hash: 14,
            min_ones: 1,
            seed: 0x7475_6e67_6761_6c31,
        }
    }
}

/// One sampled bit: cylinder word, bit, and the mask word and bit of its cell.
#[derive(Debug, Clone, Copy)]
struct Sample {
    word: u16,
    bit: u8,
    mask_word: u16,
    mask_bit: u8,
}

/// Builds descriptors for templates prepared with one set of matcher parameters.
#[derive(Debug, Clone)]
pub struct DescriptorBuilder {
    params: DescriptorParams,
    samples: Vec<Sample>,
    stride: usize,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[inline]
fn mix(v: u64) -> u64 {
    let mut s = v;
    splitmix(&mut s)
}

impl DescriptorBuilder {
    /// A builder for cylinders made with `mcc`; `None` if the parameters leave no cell to
    /// sample, ask for more than 32 bits per hash or for more set bits than sampled.
    pub fn new(params: DescriptorParams, mcc: &MccParams) -> Option<Self> {
        if params.bits_per_hash == 0
            || params.bits_per_hash > 32
            || params.hashes == 0
            || params.min_ones as usize > params.bits_per_hash
        {
            return None;
        }
        let ns = mcc.ns;
        let nd = mcc.nd.min(crate::finger::cylinder::MAX_ND);
        let wpl = mcc.words_per_layer();
        let half = (ns as f32 - 1.0) / 2.0;
        let limit = 0.375 * ns as f32;
        let mut pool = Vec::new();
        for c in 0..ns * ns {
            let (i, j) = ((c / ns) as f32 - half, (c % ns) as f32 - half);
            if i * i + j * j > limit * limit {
                continue;
            }
            for k in 0..nd {
                pool.push(Sample {
                    word: (k * wpl + c / 64) as u16,
                    bit: (c % 64) as u8,
                    mask_word: (nd * wpl + c / 64) as u16,
                    mask_bit: (c % 64) as u8,
                });
            }
        }
        if pool.len() < params.bits_per_hash {
            return None;
        }
        let mut state = params.seed;
        let mut samples = Vec::with_capacity(params.hashes * params.bits_per_hash);
        for _ in 0..params.hashes {
            // Partial Fisher–Yates: distinct bits within one hash function.
            let mut p = pool.clone();
            for s in 0..params.bits_per_hash {
                let r = s + (splitmix(&mut state) % (p.len() - s) as u64) as usize;
                p.swap(s, r);
                samples.push(p[s]);
            }
        }
        Some(Self {
            params,
            samples,
            stride: (nd + 1) * wpl,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &DescriptorParams {
        &self.params
    }

    /// The descriptor of a prepared template (all zero when it has no cylinder or was
    /// prepared with other parameters).
    pub fn describe(&self, t: &PreparedTemplate) -> [u64; DESCRIPTOR_WORDS] {
        let mut out = [0u64; DESCRIPTOR_WORDS];
        if t.stride != self.stride {
            return out;
        }
        let h = self.params.bits_per_hash;
        let min_ones = self.params.min_ones.max(1);
        for i in 0..t.len() {
            let cyl = t.cylinder(i);
            'hash: for (l, group) in self.samples.chunks_exact(h).enumerate() {
                let mut v = 0u64;
                for s in group {
                    if cyl[usize::from(s.mask_word)] >> s.mask_bit & 1 == 0 {
                        continue 'hash;
                    }
                    v = v << 1 | (cyl[usize::from(s.word)] >> s.bit & 1);
                }
                if v.count_ones() < min_ones {
                    continue;
                }
                let pos = (mix(v ^ (l as u64) << 40 ^ self.params.seed) % DESCRIPTOR_BITS as u64)
                    as usize;
                out[pos / 64] |= 1 << (pos % 64);
            }
        }
        out
    }
}

/// Set bits of a descriptor.
pub fn ones(d: &[u64; DESCRIPTOR_WORDS]) -> u16 {
    d.iter().map(|w| w.count_ones() as u16).sum()
}

/// Similarity of two descriptors with `a_ones` and `b_ones` set bits (see the module
/// documentation); 0 when either is empty.
#[inline(always)]
pub fn similarity(
    a: &[u64; DESCRIPTOR_WORDS],
    a_ones: u16,
    b: &[u64; DESCRIPTOR_WORDS],
    b_ones: u16,
) -> f32 {
    if a_ones == 0 || b_ones == 0 {
        return 0.0;
    }
    let mut c = 0u32;
    for w in 0..DESCRIPTOR_WORDS {
        c += (a[w] & b[w]).count_ones();
    }
    let e = f32::from(a_ones) * f32::from(b_ones) / DESCRIPTOR_BITS as f32;
    (c as f32 - e) / (e + 1.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finger::FingerMatcher;
    use crate::template::{FingerTemplate, Minutia};

    fn template(seed: u64, jitter: u64) -> FingerTemplate {
        let mut s = seed;
        let mut j = jitter;
        let minutiae = (0..40)
            .map(|_| {
                let r = splitmix(&mut s);
                let d = if jitter == 0 { 0 } else { splitmix(&mut j) % 3 };
                Minutia {
                    x: 60 + (r % 250) as u16 + d as u16,
                    y: 60 + (r >> 16) as u16 % 300,
                    angle: (r >> 32) as u8,
                    ..Minutia::default()
                }
            })
            .collect();
        FingerTemplate {
            width: 400,
            height: 450,
            position: 1,
            quality: 60,
            minutiae,
        }
    }

    #[test]
    fn same_finger_scores_above_other_fingers() {
        let m = FingerMatcher::default();
        let b = DescriptorBuilder::new(DescriptorParams::default(), m.params()).unwrap();
        let a = b.describe(&m.prepare(&template(1, 0)));
        let a2 = b.describe(&m.prepare(&template(1, 9)));
        let o = b.describe(&m.prepare(&template(2, 0)));
        let (na, na2, no) = (ones(&a), ones(&a2), ones(&o));
        assert!(na > 20, "{na} bits set");
        let genuine = similarity(&a, na, &a2, na2);
        let impostor = similarity(&a, na, &o, no);
        assert!(genuine > impostor + 3.0, "{genuine} vs {impostor}");
        assert_eq!(similarity(&a, na, &[0; DESCRIPTOR_WORDS], 0), 0.0);
        assert!(b
            .describe(&PreparedTemplate::default())
            .iter()
            .all(|&w| w == 0));
    }

    #[test]
    fn bad_parameters_are_refused() {
        let mcc = MccParams::default();
        let p = |hashes, bits_per_hash| DescriptorParams {
            hashes,
            bits_per_hash,
            min_ones: 1,
            seed: 1,
        };
        assert!(DescriptorBuilder::new(p(0, 8), &mcc).is_none());
        let too_many = DescriptorParams {
            min_ones: 9,
            ..p(4, 8)
        };
        assert!(DescriptorBuilder::new(too_many, &mcc).is_none());
        assert!(DescriptorBuilder::new(p(4, 0), &mcc).is_none());
        assert!(DescriptorBuilder::new(p(4, 33), &mcc).is_none());
    }
}
