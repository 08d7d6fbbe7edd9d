//! Synthetic databases in the FVC layout: ten fingers of ten different people, eight
//! impressions each, named `{101..110}_{1..8}`.
//!
//! As in FVC2002, the fingers are index and middle fingers, and the impressions vary on
//! purpose: impressions 3–4 with exaggerated displacement, 5–6 with exaggerated rotation and
//! 7–8 drier or wetter (lower quality). Each database has its own difficulty offset, as real
//! databases differ by sensor.

use rand::Rng;

use crate::fingerprint::pattern::class_frequencies;
use crate::fingerprint::{
    capture, gauss, CaptureQuality, FingerMaster, ImpressionParams, MasterParams, PatternClass,
};
use crate::fvc::{FvcDatabase, FvcSample};
use crate::seed::{stream, Domain};

/// Fingers per database.
pub const FINGERS: u32 = 10;
/// Impressions per finger.
pub const IMPRESSIONS: u32 = 8;
/// Number of the first finger (file names start at `101_1`).
pub const FIRST_FINGER: u32 = 101;
/// Stream tag separating FVC-style data from population data under the same seed.
const FVC_TAG: u64 = 0xF7C0;

/// The deliberate variation between the impressions and databases of an FVC-style collection.
#[derive(Debug, Clone, PartialEq)]
pub struct FvcVariation {
    /// Spread of the per-database quality offset (sensor and collection conditions).
    pub database_quality_sd: f32,
    /// Factor on the placement spread of impressions 3–4.
    pub displacement: f32,
    /// Factor on the rotation spread of impressions 5–6.
    pub rotation: f32,
    /// Quality lost by impressions 7–8 (dry, wet or smudged fingers).
    pub poor_quality_drop: f32,
}

impl Default for FvcVariation {
    fn default() -> Self {
        Self {
            database_quality_sd: 0.03,
            displacement: 1.6,
            rotation: 1.6,
            poor_quality_drop: 0.2,
        }
    }
}

/// Generator of FVC-style databases.
#[derive(Debug, Clone, Default)]
pub struct SyntheticFvc {
    /// Seed of every database.
    pub seed: u64,
    /// Master parameters.
    pub master: MasterParams,
    /// Impression parameters.
    pub impression: ImpressionParams,
    /// Variation between impressions and databases.
    pub variation: FvcVariation,
}

fn pick_class(position: u8, rng: &mut impl Rng) -> PatternClass {
    let w = class_frequencies(position);
    let total: f64 = w.iter().sum();
    let mut pick = rng.gen_range(0.0..total);
    for (class, &p) in PatternClass::ALL.iter().zip(&w) {
        if pick < p {
            return *class;
        }
        pick -= p;
    }
    PatternClass::Whorl
}

impl SyntheticFvc {
    /// A generator with default parameters.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }

    /// Database number `db` (0-based), named `DB{db+1}`.
    pub fn database(&self, db: u32) -> FvcDatabase {
        let mut db_rng = stream(self.seed, Domain::FingerMaster, &[FVC_TAG, u64::from(db)]);
        let v = &self.variation;
        let offset = gauss(&mut db_rng, 0.0, v.database_quality_sd);
        let mut samples = Vec::with_capacity((FINGERS * IMPRESSIONS) as usize);
        for f in 0..FINGERS {
            let mut rng = stream(
                self.seed,
                Domain::FingerMaster,
                &[FVC_TAG, u64::from(db), u64::from(f)],
            );
            let position = [2u8, 3, 7, 8][rng.gen_range(0..4)];
            let class = pick_class(position, &mut rng);
            let master = FingerMaster::generate(position, class, &self.master, &mut rng);
            for i in 1..=IMPRESSIONS {
                let mut rng = stream(
                    self.seed,
                    Domain::Capture,
                    &[FVC_TAG, u64::from(db), u64::from(f), u64::from(i)],
                );
                let mut params = self.impression.clone();
                let mut q = CaptureQuality::typical(&mut rng).get() + offset;
                match i {
                    3 | 4 => {
                        params.placement_sd.best *= v.displacement;
                        params.placement_sd.worst *= v.displacement;
                    }
                    5 | 6 => {
                        params.rotation_sd.best *= v.rotation;
                        params.rotation_sd.worst *= v.rotation;
                    }
                    7 | 8 => q -= v.poor_quality_drop,
                    _ => {}
                }
                let template = capture(&master, CaptureQuality::new(q), &params, &mut rng);
                let finger = FIRST_FINGER + f;
                samples.push(FvcSample {
                    stem: format!("{finger}_{i}"),
                    finger,
                    impression: i,
                    template,
                });
            }
        }
        FvcDatabase {
            name: format!("DB{}", db + 1),
            samples,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databases_have_the_fvc_layout_and_are_deterministic() {
        let g = SyntheticFvc::new(21);
        let a = g.database(0);
        assert_eq!(a.name, "DB1");
        assert_eq!(a.samples.len(), 80);
        assert_eq!(a.samples[0].stem, "101_1");
        assert_eq!(a.samples[79].stem, "110_8");
        let b = g.database(0);
        assert!(a
            .samples
            .iter()
            .zip(&b.samples)
            .all(|(x, y)| x.template == y.template));
        let c = g.database(1);
        assert!(a.samples[0].template != c.samples[0].template);
    }
}
