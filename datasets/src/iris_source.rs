//! Iris codes for synthetic people, behind a small trait so the population generator does not
//! depend on how iris codes are synthesised.
//!
//! The default source is the seeded [`IrisGenerator`] of this crate (correlated bits, eyelid
//! masks, rotation offsets; its statistics are checked in `datasets/REALISM.md`).
//! [`PlaceholderIris`] (uniformly random bits, a masked band, no rotation) remains for tests
//! that need codes with no structure at all.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::iris::{IrisGenerator, IrisMaster};
use crate::seed::SynthRng;

/// Left or right eye.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Eye {
    /// Left eye.
    Left,
    /// Right eye.
    Right,
}

impl Eye {
    /// Both eyes, left first.
    pub const BOTH: [Self; 2] = [Self::Left, Self::Right];
}

/// One captured iris code with its validity mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrisCapture {
    /// Which eye.
    pub eye: Eye,
    /// Name of the code layout (length and bit order), as the matcher knows it.
    pub layout: String,
    /// Code bits, packed.
    pub code: Vec<u8>,
    /// Mask bits, packed: 1 where the code bit is valid.
    pub mask: Vec<u8>,
}

/// A source of iris codes: one master per eye, and noisy captures of it.
pub trait IrisSource: Sync {
    /// The stable identity of one eye.
    type Master: Clone + Send + Sync + std::fmt::Debug;

    /// Draws the master of a new eye.
    fn master(&self, rng: &mut SynthRng) -> Self::Master;

    /// Captures `master` at `quality` (0 worst, 1 best).
    fn capture(
        &self,
        eye: Eye,
        master: &Self::Master,
        quality: f32,
        rng: &mut SynthRng,
    ) -> IrisCapture;
}

impl IrisSource for IrisGenerator {
    type Master = IrisMaster;

    fn master(&self, rng: &mut SynthRng) -> IrisMaster {
        IrisGenerator::master(self, rng)
    }

    fn capture(
        &self,
        eye: Eye,
        master: &IrisMaster,
        quality: f32,
        rng: &mut SynthRng,
    ) -> IrisCapture {
        let template = IrisGenerator::capture(self, master, quality, rng);
        let layout = self.layout();
        IrisCapture {
            eye,
            layout: layout
                .name()
                .map_or_else(|| layout.to_string(), str::to_owned),
            code: template.code_bytes(),
            mask: template.mask_bytes(),
        }
    }
}

/// Random-bit stand-in for the iris generator (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct PlaceholderIris {
    /// Code length in bytes (default 256: 2048 bits).
    pub bytes: usize,
}

impl Default for PlaceholderIris {
    fn default() -> Self {
        Self { bytes: 256 }
    }
}

impl IrisSource for PlaceholderIris {
    type Master = Vec<u8>;

    fn master(&self, rng: &mut SynthRng) -> Vec<u8> {
        let mut code = vec![0u8; self.bytes];
        rng.fill(code.as_mut_slice());
        code
    }

    fn capture(&self, eye: Eye, master: &Vec<u8>, quality: f32, rng: &mut SynthRng) -> IrisCapture {
        let q = quality.clamp(0.0, 1.0);
        let flip = f64::from(0.05 + 0.2 * (1.0 - q));
        let code = master
            .iter()
            .map(|&byte| {
                let mut noise = 0u8;
                for bit in 0..8 {
                    if rng.gen_bool(flip) {
                        noise |= 1 << bit;
                    }
                }
                byte ^ noise
            })
            .collect();
        // Eyelids hide a contiguous band whose width grows as quality drops.
        let n = master.len();
        let hidden = ((0.1 + 0.3 * (1.0 - q)) * n as f32) as usize;
        let start = if n > 0 { rng.gen_range(0..n) } else { 0 };
        let mut mask = vec![0xffu8; n];
        for i in 0..hidden.min(n) {
            mask[(start + i) % n] = 0;
        }
        IrisCapture {
            eye,
            layout: format!("placeholder-{}", n * 8),
            code,
            mask,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn distance(a: &IrisCapture, b: &IrisCapture) -> f32 {
        let (mut diff, mut valid) = (0u32, 0u32);
        for i in 0..a.code.len() {
            let m = a.mask[i] & b.mask[i];
            diff += ((a.code[i] ^ b.code[i]) & m).count_ones();
            valid += m.count_ones();
        }
        diff as f32 / valid.max(1) as f32
    }

    #[test]
    fn captures_of_one_eye_are_closer_than_different_eyes() {
        let src = PlaceholderIris::default();
        let mut rng = SynthRng::seed_from_u64(1);
        let a = src.master(&mut rng);
        let b = src.master(&mut rng);
        let a1 = src.capture(Eye::Left, &a, 0.8, &mut rng);
        let a2 = src.capture(Eye::Left, &a, 0.8, &mut rng);
        let b1 = src.capture(Eye::Left, &b, 0.8, &mut rng);
        assert!(distance(&a1, &a2) < 0.3);
        assert!(distance(&a1, &b1) > 0.4);
        assert_eq!(a1.code.len(), 256);
        assert!(a1.mask.contains(&0));
    }
}
