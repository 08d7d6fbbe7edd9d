//! First-stage fingerprint descriptor: a fixed-length bit vector per finger built from its
//! Minutia Cylinder-Code cylinders by locality-sensitive bit sampling.
//!
//! Each of `hashes` hash functions samples `bits_per_hash` value bits from the cells of a
//! cylinder within [`DescriptorParams::sample_radius_eighths`] of its centre. The sampled bits form
//! a small integer, which is mixed with the hash function's number into one of
//! [`DESCRIPTOR_BITS`] positions, and that bit is set. Two cylinders of the same minutia in
//! two impressions agree on most bits, so they often set the same positions; a finger's
//! descriptor is the union over its cylinders (a Bloom-filter bag of cylinder words, after
//! the MCC-LSH idea of Cappelli, Ferrara and Maltoni, 2011, without its hash tables).
//!
//! A sample is skipped when fewer than [`DescriptorParams::min_ones`] sampled bits are set:
//! words with very few set bits (an empty or sparse neighbourhood) are drawn by almost every
//! finger, so they set the same positions in mates and non-mates alike and say little about
//! identity. With [`DescriptorParams::valid_cells_only`] a sample is also skipped when one of
//! its cells is outside the cylinder's valid area; without it an invalid cell reads as an
//! unset bit, so minutiae near the print's edge, where real impressions overlap least,
//! still contribute words (measured on FVC2002: per-finger retention at 1 % penetration
//! 57 % → 71 % together with the default parameters below).
//!
//! The descriptor's layout is versioned by [`DESCRIPTOR_VERSION`], recorded in a gallery's
//! calibration: a gallery whose hot records were described by another version is refused
//! when opened, since its first-stage descriptors and their table no longer agree with the
//! probes'.
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
/// Version of the default descriptor: 1 sampled only valid cells within 3/8 of the cylinder
/// side (16 hashes of 14 bits, at least 1 set); 2 reads invalid cells as unset and samples
/// within 4/8 (64 hashes of 9 bits, at least 2 set).
pub const DESCRIPTOR_VERSION: u32 = 2;

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
    /// Cells whose centre lies within this many eighths of the cylinder's side from its
    /// centre are sampled.
    pub sample_radius_eighths: u32,
    /// Skip a hash function's word when one of its cells is outside the valid area (the
    /// version 1 descriptor); otherwise such a cell reads as unset.
    pub valid_cells_only: bool,
}

impl Default for DescriptorParams {
    fn default() -> Self {
        Self {
            hashes: 64,
            bits_per_hash: 9,
            min_ones: 2,
            seed: 0x7475_6e67_6761_6c31,
            sample_radius_eighths: 4,
            valid_cells_only: false,
        }
    }
}

impl DescriptorParams {
    /// The descriptor version these parameters build: [`DESCRIPTOR_VERSION`] for the
    /// defaults, 1 for [`DescriptorParams::version1`], 0 for any other (tuning) setting.
    pub fn version(&self) -> u32 {
        if *self == Self::default() {
            DESCRIPTOR_VERSION
        } else if *self == Self::version1() {
            1
        } else {
            0
        }
    }

    /// The parameters of the version 1 descriptor.
    pub fn version1() -> Self {
        Self {
            hashes: 16,
            bits_per_hash: 14,
            min_ones: 1,
            sample_radius_eighths: 3,
            valid_cells_only: true,
            ..Self::default()
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
    /// Each hash function's sampled bits as word masks, for the BMI2 body (cylinders of one
    /// word per layer only); `None` where that body does not apply or the CPU lacks BMI2.
    gathers: Option<Vec<Gather>>,
}

/// Bits of the gathered value that one permutation table maps.
const CHUNK_BITS: usize = 7;

/// One hash function's samples, arranged for `pext`: the cells whose mask bits must all be
/// set, the sampled bits of each value layer, and tables that put the bits gathered layer
/// by layer (ascending layer, then ascending bit) into sample order.
#[derive(Debug, Clone)]
struct Gather {
    mask: u64,
    /// Per value layer with sampled bits: the layer, its sampled bits, and where they go
    /// in the gathered value.
    parts: Vec<(usize, u64, u32)>,
    /// `CHUNK_BITS`-bit pieces of the gathered value → their bits of the sample-order value.
    perm: Vec<u32>,
}

impl Gather {
    /// The arrangement of `group` (samples of one hash function, one word per layer), or
    /// `None` if a sample is not of that form.
    fn new(group: &[Sample], nd: usize, valid_cells_only: bool) -> Option<Self> {
        let h = group.len();
        let mut mask = 0u64;
        let mut layers = vec![0u64; nd];
        for s in group {
            if usize::from(s.mask_word) != nd || usize::from(s.word) >= nd {
                return None;
            }
            if valid_cells_only {
                mask |= 1 << s.mask_bit;
            }
            layers[usize::from(s.word)] |= 1 << s.bit;
        }
        // Gathered position of each sample; sample `i` is bit `h − 1 − i` of the value.
        let mut target = vec![0u32; h];
        let mut offset = 0usize;
        for (k, &m) in layers.iter().enumerate() {
            for (i, s) in group.iter().enumerate() {
                if usize::from(s.word) == k {
                    let below = (m & ((1u64 << s.bit) - 1)).count_ones() as usize;
                    target[offset + below] = 1 << (h - 1 - i);
                }
            }
            offset += m.count_ones() as usize;
        }
        let chunks = h.div_ceil(CHUNK_BITS);
        let mut perm = vec![0u32; chunks << CHUNK_BITS];
        for (c, table) in perm.chunks_exact_mut(1 << CHUNK_BITS).enumerate() {
            for (x, out) in table.iter_mut().enumerate() {
                *out = (0..CHUNK_BITS)
                    .filter(|&j| x >> j & 1 == 1)
                    .filter_map(|j| target.get(c * CHUNK_BITS + j))
                    .fold(0, |v, &t| v | t);
            }
        }
        let mut offset = 0;
        let parts = layers
            .iter()
            .enumerate()
            .filter(|&(_, &m)| m != 0)
            .map(|(k, &m)| {
                let part = (k, m, offset);
                offset += m.count_ones();
                part
            })
            .collect();
        Some(Self { mask, parts, perm })
    }
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
        let limit = params.sample_radius_eighths as f32 / 8.0 * ns as f32;
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
        let gathers = (wpl == 1 && x86::has_bmi2())
            .then(|| {
                samples
                    .chunks_exact(params.bits_per_hash)
                    .map(|g| Gather::new(g, nd, params.valid_cells_only))
                    .collect::<Option<Vec<_>>>()
            })
            .flatten();
        Some(Self {
            params,
            samples,
            stride: (nd + 1) * wpl,
            gathers,
        })
    }

    /// This builder with the portable body only (for tests and benchmarks).
    pub fn portable(mut self) -> Self {
        self.gathers = None;
        self
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
        let valid_only = self.params.valid_cells_only;
        if let Some(gathers) = &self.gathers {
            // SAFETY: `gathers` is only built when the CPU has BMI2 and POPCNT (`x86::has_bmi2`).
            unsafe { x86::describe_bmi2(self, gathers, t, &mut out) };
            return out;
        }
        for i in 0..t.len() {
            let cyl = t.cylinder(i);
            'hash: for (l, group) in self.samples.chunks_exact(h).enumerate() {
                let mut v = 0u64;
                for s in group {
                    if valid_only && cyl[usize::from(s.mask_word)] >> s.mask_bit & 1 == 0 {
                        continue 'hash;
                    }
                    v = v << 1 | (cyl[usize::from(s.word)] >> s.bit & 1);
                }
                if v.count_ones() < min_ones {
                    continue;
                }
                self.insert(&mut out, v, l);
            }
        }
        out
    }

    /// Sets the position of hash function `l`'s word `v`.
    #[inline(always)]
    fn insert(&self, out: &mut [u64; DESCRIPTOR_WORDS], v: u64, l: usize) {
        let pos = (mix(v ^ (l as u64) << 40 ^ self.params.seed) % DESCRIPTOR_BITS as u64) as usize;
        out[pos / 64] |= 1 << (pos % 64);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::_pext_u64;

    use super::{DescriptorBuilder, Gather, CHUNK_BITS, DESCRIPTOR_WORDS};
    use crate::finger::PreparedTemplate;

    /// Whether the CPU has BMI2 (`pext`) and POPCNT.
    pub(super) fn has_bmi2() -> bool {
        std::arch::is_x86_feature_detected!("bmi2") && std::arch::is_x86_feature_detected!("popcnt")
    }

    /// [`DescriptorBuilder::describe`] with each hash function's bits gathered by `pext`,
    /// one instruction per layer, and put into sample order by table: the same words, so
    /// the same descriptor.
    ///
    /// # Safety
    /// The CPU must support BMI2 and POPCNT.
    #[target_feature(enable = "bmi2,popcnt")]
    pub(super) unsafe fn describe_bmi2(
        b: &DescriptorBuilder,
        gathers: &[Gather],
        t: &PreparedTemplate,
        out: &mut [u64; DESCRIPTOR_WORDS],
    ) {
        let min_ones = b.params.min_ones.max(1);
        let nd = b.stride - 1;
        for cyl in t.bits.chunks_exact(b.stride) {
            let (values, mask) = cyl.split_at(nd);
            let mask = mask[0];
            for (l, g) in gathers.iter().enumerate() {
                if mask & g.mask != g.mask {
                    continue;
                }
                let mut gathered = 0u64;
                for &(k, m, offset) in &g.parts {
                    gathered |= _pext_u64(values[k], m) << offset;
                }
                let v =
                    g.perm
                        .chunks_exact(1 << CHUNK_BITS)
                        .enumerate()
                        .fold(0u32, |v, (c, table)| {
                            v | table
                                [(gathered >> (c * CHUNK_BITS)) as usize & ((1 << CHUNK_BITS) - 1)]
                        });
                if v.count_ones() < min_ones {
                    continue;
                }
                b.insert(out, u64::from(v), l);
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod x86 {
    pub(super) fn has_bmi2() -> bool {
        false
    }
    pub(super) unsafe fn describe_bmi2(
        _: &super::DescriptorBuilder,
        _: &[super::Gather],
        _: &crate::finger::PreparedTemplate,
        _: &mut [u64; super::DESCRIPTOR_WORDS],
    ) {
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
    fn gathered_and_portable_descriptors_agree() {
        let m = FingerMatcher::default();
        let prepared: Vec<_> = (0..60u64).map(|i| m.prepare(&template(i, i % 3))).collect();
        let mut checked = 0;
        let cases = [
            (16, 14, 1, true),
            (16, 14, 4, true),
            (5, 32, 1, false),
            (9, 7, 2, true),
            (64, 9, 2, false),
            (40, 12, 3, false),
        ];
        for (hashes, bits_per_hash, min_ones, valid_cells_only) in cases {
            let params = DescriptorParams {
                hashes,
                bits_per_hash,
                min_ones,
                valid_cells_only,
                ..DescriptorParams::default()
            };
            let fast = DescriptorBuilder::new(params, m.params()).unwrap();
            let portable = fast.clone().portable();
            for p in &prepared {
                let d = fast.describe(p);
                assert_eq!(d, portable.describe(p), "{params:?}");
                checked += usize::from(ones(&d) > 0);
            }
        }
        assert!(checked > 300, "{checked} non-empty descriptors");
    }

    #[test]
    fn bad_parameters_are_refused() {
        let mcc = MccParams::default();
        let p = |hashes, bits_per_hash| DescriptorParams {
            hashes,
            bits_per_hash,
            min_ones: 1,
            seed: 1,
            ..DescriptorParams::default()
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
