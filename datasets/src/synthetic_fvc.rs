//! Synthetic databases in the FVC layout: ten fingers of ten different people, eight
//! impressions each, named `{101..110}_{1..8}`.
//!
//! As in FVC2002, the fingers are index and middle fingers, and the impressions vary on
//! purpose: impressions 3–4 with exaggerated displacement, 5–6 with exaggerated rotation and
//! 7–8 drier or wetter (lower quality). Each database has its own difficulty offset, as real
//! databases differ by sensor.
//!
//! The skin conditions of a database's ten fingers are stratified: each finger takes its own
//! tenth of the skin distribution (in a random order), so every database holds one finger of
//! the worst tenth and one of the best tenth. Ten independent draws would leave about a third
//! of the databases without any poor finger: their genuine pairs then almost never fail and
//! the database is far easier than any real one (real FVC2002 failures concentrate on two or
//! three fingers per database).

use rand::seq::SliceRandom;
use rand::Rng;

use crate::fingerprint::pattern::class_frequencies;
use crate::fingerprint::{
    capture, gauss, CaptureDifficulty, CaptureQuality, FingerMaster, ImpressionParams,
    MasterParams, PatternClass,
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
    /// Probability that an impression is a hard capture, taken with
    /// [`SyntheticFvc::hard_impression`] instead of [`SyntheticFvc::impression`].
    pub hard_share: f64,
    /// Fingers of each database, from the worst skin condition up, whose every impression
    /// is a hard capture.
    pub hard_fingers: u32,
}

impl Default for FvcVariation {
    fn default() -> Self {
        Self {
            database_quality_sd: 0.03,
            displacement: 1.6,
            rotation: 1.6,
            poor_quality_drop: 0.2,
            hard_share: 0.0,
            hard_fingers: 0,
        }
    }
}

/// Generator of FVC-style databases.
#[derive(Debug, Clone)]
pub struct SyntheticFvc {
    /// Seed of every database.
    pub seed: u64,
    /// Master parameters.
    pub master: MasterParams,
    /// Impression parameters.
    pub impression: ImpressionParams,
    /// Impression parameters of hard captures ([`FvcVariation::hard_share`]).
    pub hard_impression: ImpressionParams,
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

impl Default for SyntheticFvc {
    fn default() -> Self {
        Self {
            seed: 0,
            master: MasterParams::default(),
            impression: ImpressionParams::default(),
            hard_impression: ImpressionParams::hard(),
            variation: FvcVariation::default(),
        }
    }
}

impl SyntheticFvc {
    /// A generator with default parameters.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }

    /// A generator whose impressions have the given difficulty.
    pub fn with_difficulty(seed: u64, difficulty: CaptureDifficulty) -> Self {
        Self {
            seed,
            impression: difficulty.params(),
            ..Self::default()
        }
    }

    /// Database number `db` (0-based), named `DB{db+1}`.
    pub fn database(&self, db: u32) -> FvcDatabase {
        let mut db_rng = stream(self.seed, Domain::FingerMaster, &[FVC_TAG, u64::from(db)]);
        let v = &self.variation;
        let offset = gauss(&mut db_rng, 0.0, v.database_quality_sd);
        let skins = stratified_skins(self.master.skin_sd, &mut db_rng);
        let mut samples = Vec::with_capacity((FINGERS * IMPRESSIONS) as usize);
        for f in 0..FINGERS {
            let mut rng = stream(
                self.seed,
                Domain::FingerMaster,
                &[FVC_TAG, u64::from(db), u64::from(f)],
            );
            let position = [2u8, 3, 7, 8][rng.gen_range(0..4)];
            let class = pick_class(position, &mut rng);
            let mut master = FingerMaster::generate(position, class, &self.master, &mut rng);
            master.skin = skins[f as usize];
            for i in 1..=IMPRESSIONS {
                let mut rng = stream(
                    self.seed,
                    Domain::Capture,
                    &[FVC_TAG, u64::from(db), u64::from(f), u64::from(i)],
                );
                // Drawn only when enabled, so collections without hard captures keep their
                // streams.
                let worse = skins.iter().filter(|&&s| s < skins[f as usize]).count();
                let hard = (worse as u32) < v.hard_fingers
                    || (v.hard_share > 0.0 && rng.gen_bool(v.hard_share.min(1.0)));
                let mut params = if hard {
                    self.hard_impression.clone()
                } else {
                    self.impression.clone()
                };
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

/// Skin conditions of the fingers of one database: finger `f` draws uniformly within its
/// own tenth (in a shuffled order) of a normal with spread `sd`, clamped to ±2.5 spreads as
/// [`FingerMaster::skin`] is.
fn stratified_skins(sd: f32, rng: &mut impl Rng) -> [f32; FINGERS as usize] {
    let sd = sd.max(0.0);
    let mut strata: [u32; FINGERS as usize] = std::array::from_fn(|i| i as u32);
    strata.shuffle(rng);
    strata.map(|stratum| {
        let u = (f64::from(stratum) + 0.5) / f64::from(FINGERS);
        let z = normal_quantile(u.clamp(1e-9, 1.0 - 1e-9)) as f32;
        (sd * z).clamp(-2.5 * sd, 2.5 * sd)
    })
}

/// Quantile function of the standard normal (Acklam's rational approximation, relative
/// error below 1.2e-9), for `p` in (0, 1). The coefficients are kept as published.
#[allow(clippy::excessive_precision)]
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    let tail = |q: f64| {
        let t = (-2.0 * q.ln()).sqrt();
        (((((C[0] * t + C[1]) * t + C[2]) * t + C[3]) * t + C[4]) * t + C[5])
            / ((((D[0] * t + D[1]) * t + D[2]) * t + D[3]) * t + 1.0)
    };
    if p < LOW {
        tail(p)
    } else if p > 1.0 - LOW {
        -tail(1.0 - p)
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantile_matches_known_values() {
        assert!(normal_quantile(0.5).abs() < 1e-9);
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-5);
        assert!((normal_quantile(0.1) + 1.281_552).abs() < 1e-5);
        assert!((normal_quantile(0.001) + 3.090_232).abs() < 1e-5);
    }

    #[test]
    fn every_database_has_one_finger_in_each_tenth_of_skin_conditions() {
        let mut rng = stream(4, Domain::FingerMaster, &[1]);
        let skins = stratified_skins(0.1, &mut rng);
        let mut sorted = skins;
        sorted.sort_by(f32::total_cmp);
        // The worst finger lies in the worst tenth (below −1.28 sd), the best in the best.
        assert!(sorted[0] < -0.128, "{sorted:?}");
        assert!(sorted[9] > 0.128, "{sorted:?}");
        for (i, s) in sorted.iter().enumerate() {
            let lo = normal_quantile((i as f64 / 10.0).max(1e-9)) as f32 * 0.1;
            let hi = normal_quantile(((i + 1) as f64 / 10.0).min(1.0 - 1e-9)) as f32 * 0.1;
            assert!((lo.max(-0.25)..=hi.min(0.25)).contains(s), "{i}: {s}");
        }
        // Shuffled: not in stratum order.
        assert_ne!(skins, sorted);
    }

    #[test]
    fn hard_fingers_change_only_the_worst_skin_finger() {
        let routine = SyntheticFvc::new(22);
        let mut hard = routine.clone();
        hard.variation.hard_fingers = 1;
        let (a, b) = (routine.database(0), hard.database(0));
        let changed: std::collections::BTreeSet<u32> = a
            .samples
            .iter()
            .zip(&b.samples)
            .filter(|(x, y)| x.template != y.template)
            .map(|(x, _)| x.finger)
            .collect();
        assert_eq!(changed.len(), 1, "{changed:?}");
        let count = |db: &FvcDatabase, f: u32| -> usize {
            db.samples
                .iter()
                .filter(|s| s.finger == f)
                .map(|s| s.template.minutiae.len())
                .sum()
        };
        let f = *changed.first().unwrap();
        // Hard captures carry a dozen or more spurious minutiae each.
        assert!(count(&b, f) > count(&a, f) + 40);
    }

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
