//! Fingerprint templates: the internal minutiae form and the standard record formats.
//!
//! # Coordinate convention
//!
//! Every [`Minutia`] in a [`FingerTemplate`] uses one convention, whatever format it came from:
//!
//! * `x` grows to the right and `y` grows downwards, origin at the top-left of the image;
//! * the unit is one pixel at [`INTERNAL_PPI`] (500 pixels per inch, 50.8 µm), so templates
//!   captured at other resolutions are rescaled on decode and compare directly;
//! * `angle` is the ridge direction measured counter-clockwise (as seen on the image) from the
//!   positive x axis, in units of 1/256 of a full turn (1.40625°), exactly as ISO 19794-2 stores
//!   it. Because `y` points down, the direction as a pixel-space vector is `(cos θ, −sin θ)`.

//!
//! # Record formats
//!
//! [`decode`] reads ISO/IEC 19794-2:2005 ([`iso`]) and ANSI INCITS 378-2004 ([`ansi`])
//! finger minutiae records, telling them apart with [`detect()`](detect::detect); each
//! record's views convert to [`FingerTemplate`] with resolution and angle normalisation.

pub mod ansi;
pub mod detect;
pub mod error;
pub mod extended;
pub mod finger_record;
pub mod iso;
mod reader;
pub mod view;

pub use detect::{detect, Format};
pub use error::{ExtendedDataFault, TemplateError};
pub use extended::{CoreDeltaBlock, ExtendedBlock, RidgeCountBlock};
pub use finger_record::{decode, FingerRecord};
pub use view::{FingerView, RawMinutia};

use serde::{Deserialize, Serialize};

/// Resolution of the internal coordinate frame, in pixels per inch.
pub const INTERNAL_PPI: f32 = 500.0;

/// Pixels per centimetre of the internal frame (ISO records state resolution in px/cm).
pub const INTERNAL_PX_PER_CM: f32 = INTERNAL_PPI / 2.54;

/// Kind of a minutia.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MinutiaKind {
    /// "Other" in ISO 19794-2 (type bits 00).
    #[default]
    Other,
    /// A ridge ending (type bits 01).
    Ending,
    /// A ridge bifurcation (type bits 10).
    Bifurcation,
}

/// One minutia in the internal frame (see the module documentation for the convention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Minutia {
    /// Horizontal position, 500 ppi pixels from the left edge.
    pub x: u16,
    /// Vertical position, 500 ppi pixels from the top edge.
    pub y: u16,
    /// Ridge direction, counter-clockwise, 256 units per turn.
    pub angle: u8,
    /// Ending, bifurcation or other.
    pub kind: MinutiaKind,
    /// Quality 0–100 (0: not reported).
    pub quality: u8,
}

impl Minutia {
    /// Direction in radians, counter-clockwise, in `[0, 2π)`.
    pub fn angle_rad(&self) -> f32 {
        f32::from(self.angle) * (std::f32::consts::TAU / 256.0)
    }
}

/// Finger position code (ISO/IEC 19794-2 table, same as ANSI/NIST-ITL).
///
/// 0 is "unknown"; 1–5 are the right thumb to little finger; 6–10 the left thumb to little finger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FingerPosition(u8);

impl FingerPosition {
    /// Unknown finger.
    pub const UNKNOWN: Self = Self(0);

    /// A finger position code; `None` for codes outside 0–10.
    pub fn new(code: u8) -> Option<Self> {
        (code <= 10).then_some(Self(code))
    }

    /// The numeric code.
    pub fn code(self) -> u8 {
        self.0
    }

    /// Zero-based slot 0–9 for the ten fingers; `None` for unknown.
    pub fn slot(self) -> Option<usize> {
        (1..=10).contains(&self.0).then(|| usize::from(self.0 - 1))
    }

    /// The ten known finger positions in order 1–10.
    pub fn all() -> impl Iterator<Item = Self> {
        (1..=10).map(Self)
    }
}

/// A fingerprint template in the internal frame: what every matcher consumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FingerTemplate {
    /// Image width in internal units (0 if unknown).
    pub width: u16,
    /// Image height in internal units (0 if unknown).
    pub height: u16,
    /// Finger position (0 if unknown).
    pub position: u8,
    /// Finger quality 0–100 (0 if not reported).
    pub quality: u8,
    /// The minutiae.
    pub minutiae: Vec<Minutia>,
}

/// Scales one coordinate from `px_per_cm` to the internal frame, rounding to the nearest unit
/// (halves away from zero) and saturating at `u16::MAX`.
///
/// The arithmetic is exact: the internal frame has 50000/254 px/cm, so the result is
/// `round(value · 50000 / (254 · px_per_cm))`, and the same point stated at two resolutions
/// with proportional coordinates maps to the same unit. A resolution of 0 is treated as
/// already internal (some writers leave it unset).
pub fn scale_to_internal(value: u16, px_per_cm: u16) -> u16 {
    if px_per_cm == 0 {
        return value;
    }
    let num = u64::from(value) * 50_000;
    let den = 254 * u64::from(px_per_cm);
    let rounded = (2 * num + den) / (2 * den);
    u16::try_from(rounded).unwrap_or(u16::MAX)
}
