//! Finger calibration tables learned from real pairs, shipped as a versioned data file.
//!
//! `index/calibration/finger-v2.json` is written by `tunggal calibrate` (its provenance says
//! with which command, data and matcher parameters) and never edited by hand. A new gallery
//! takes its second-stage finger table from it when the gallery's matcher parameters are the
//! ones the file was learned with; otherwise, and for the first-stage and iris tables, the
//! gallery's own synthetic tables stay (see [`CalibrationFile::apply`]).

use serde::{Deserialize, Serialize};

use super::fusion::{Calibration, LlrTable};
use crate::finger::MccParams;

/// Format name of a calibration file.
pub const FORMAT: &str = "tunggal-finger-calibration";

/// The shipped file, embedded at build time.
pub const FINGER_V2: &str = include_str!("../../calibration/finger-v2.json");

/// Where a calibration's samples came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// `fvc`, `scores` or `cases`.
    pub kind: String,
    /// The folder or file read.
    pub path: String,
    /// Mated pairs taken from it.
    pub genuine: usize,
    /// Non-mated pairs taken from it.
    pub impostor: usize,
}

/// How and from what a calibration file was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The command line that wrote the file.
    pub command: String,
    /// When, RFC 3339 UTC.
    pub created: String,
    /// The samples.
    pub sources: Vec<Source>,
    /// The matcher parameters that produced the second-stage scores (`Debug` form).
    pub matcher: String,
    /// The descriptor parameters behind the first-stage similarities (`Debug` form), if the
    /// file has a first-stage table.
    pub descriptor_params: Option<String>,
    /// One-sided confidence level of the bounds, in standard deviations.
    pub z: f64,
    /// How the tables were learned.
    pub method: String,
}

/// A calibration file: finger tables and their provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// Version of the format (1).
    pub version: u32,
    /// Identifier recorded with every verdict decided by these tables, e.g. `finger-v2`.
    pub id: String,
    /// Provenance.
    pub provenance: Provenance,
    /// Second-stage finger matcher score table.
    pub finger: LlrTable,
    /// First-stage descriptor similarity table, when descriptor samples were given.
    pub descriptor: Option<LlrTable>,
}

/// Why a calibration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ShippedError {
    /// Not JSON of the expected shape.
    #[error("calibration file: {0}")]
    Json(#[from] serde_json::Error),
    /// Another format or version.
    #[error("calibration file: format {0:?} version {1} is not {FORMAT:?} version 1")]
    Format(String, u32),
}

impl CalibrationFile {
    /// Parses and checks a file.
    pub fn parse(text: &str) -> Result<Self, ShippedError> {
        let file: Self = serde_json::from_str(text)?;
        if file.format != FORMAT || file.version != 1 {
            return Err(ShippedError::Format(file.format, file.version));
        }
        Ok(file)
    }

    /// The embedded `finger-v2.json.
    pub fn shipped() -> Result<Self, ShippedError> {
        Self::parse(FINGER_V2)
    }

    /// Puts this file's second-stage table into `base` if it was learned with the gallery's
    /// matcher parameters `mcc`, and sets the calibration's id to say which tables decide.
    /// Returns whether it was taken.
    ///
    /// The first-stage table is not applied: learned the same way, it gives the cap's full
    /// negative evidence to every descriptor similarity below the lowest a real mate of one
    /// database reached, and the first stage clamps its finger sum at the modality cap, so a
    /// mate found by two or three fingers would tie with the non-mates there. It is kept in
    /// the file, with its leave-one-database-out check, for the first-stage work.
    pub fn apply(&self, base: &mut Calibration, mcc: &MccParams) -> bool {
        let matcher_ok = self.provenance.matcher == format!("{mcc:?}");
        if matcher_ok {
            let cap = base.caps.per_finger;
            base.finger = LlrTable {
                llr: self.finger.llr.iter().map(|v| v.clamp(-cap, cap)).collect(),
                ..self.finger.clone()
            };
            base.id = format!("{}+synthetic-first-stage-and-iris", self.id);
        } else {
            base.id = "synthetic".into();
        }
        matcher_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::FusionCaps;

    fn base() -> Calibration {
        let flat = LlrTable {
            lo: 0.0,
            hi: 1.0,
            llr: vec![0.0; 4],
        };
        Calibration {
            descriptor: flat.clone(),
            finger: flat.clone(),
            iris: flat,
            caps: FusionCaps::default(),
            id: "synthetic".into(),
            descriptor_version: crate::gallery::descriptor::DESCRIPTOR_VERSION,
            matcher_version: crate::finger::MATCHER_VERSION,
            cohort: Default::default(),
        }
    }

    #[test]
    fn shipped_file_matches_the_default_matcher() {
        let f = CalibrationFile::shipped().unwrap();
        assert_eq!(f.provenance.matcher, format!("{:?}", MccParams::default()));
        assert!(f.provenance.sources.iter().all(|s| s.genuine > 0));
        assert!(f.finger.llr.windows(2).all(|w| w[0] <= w[1]));
        let mut c = base();
        let before = c.descriptor.clone();
        assert!(f.apply(&mut c, &MccParams::default()));
        assert_eq!(c.finger, f.finger);
        assert_eq!(c.descriptor, before, "the first stage keeps its table");
        assert!(c.id.starts_with(&f.id));
    }

    #[test]
    fn other_parameters_keep_the_synthetic_tables() {
        let f = CalibrationFile::shipped().unwrap();
        let mut c = base();
        let mut mcc = MccParams::default();
        mcc.max_np += 1;
        assert!(!f.apply(&mut c, &mcc));
        assert_eq!(c, base());
        let mut other = f.clone();
        other.version = 2;
        let text = serde_json::to_string(&other).unwrap();
        assert!(CalibrationFile::parse(&text).is_err());
    }
}
