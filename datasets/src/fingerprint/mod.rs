//! Synthetic fingerprints: pattern classes, orientation fields, master minutiae sets and
//! impressions.

pub mod difficulty;
pub mod impression;
pub mod master;
pub mod orientation;
pub mod pattern;

pub use difficulty::CaptureDifficulty;
pub use impression::{capture, CaptureQuality, ImpressionParams, Span};
pub use master::{FingerMaster, MasterMinutia, MasterParams};
pub use orientation::OrientationField;
pub use pattern::PatternClass;

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// A normal draw with `mean` and standard deviation `sd`.
pub fn gauss(rng: &mut impl Rng, mean: f32, sd: f32) -> f32 {
    let z: f32 = StandardNormal.sample(rng);
    mean + sd * z
}
