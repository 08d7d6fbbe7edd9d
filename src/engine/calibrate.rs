//! The score calibration of a new gallery: the calibration shipped with this release
//! (`new-gallery-calibration.json`, learned from synthetic mates and non-mates for the
//! first-stage and iris tables, with the second-stage finger table learned from real
//! pairs), or one the caller learns. It is stored with the gallery and read on every later
//! start. A finger calibration file in the data directory ([`FINGER_CALIBRATION_NAME`],
//! written by `tunggal calibrate`) replaces the second-stage table at the next start.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use tunggal_index::gallery::GalleryConfig;
use tunggal_index::search::shipped::CalibrationFile;
use tunggal_index::search::Calibration;

use super::OpenError;

/// A finger calibration file in the data directory, applied at every start.
pub const FINGER_CALIBRATION_NAME: &str = "finger-calibration.json";

/// The calibration shipped for new galleries of the default configuration.
pub const SHIPPED: &str = include_str!("new-gallery-calibration.json");

/// How many synthetic persons (two captures each) the shipped calibration was learned from.
pub const SHIPPED_PERSONS: u64 = 300;

/// Learns a calibration for a gallery of the given configuration.
pub type LearnCalibration = dyn Fn(&GalleryConfig) -> anyhow::Result<Calibration> + Send + Sync;

/// How a new gallery gets its calibration.
#[derive(Clone, Default)]
pub enum NewGalleryCalibration {
    /// The shipped calibration ([`SHIPPED`]).
    #[default]
    Shipped,
    /// Learned by the caller's function (benchmarks and tests learn smaller ones).
    Learn(Arc<LearnCalibration>),
}

impl fmt::Debug for NewGalleryCalibration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shipped => f.write_str("Shipped"),
            Self::Learn(_) => f.write_str("Learn(..)"),
        }
    }
}

impl NewGalleryCalibration {
    /// The calibration of a new gallery of `config`.
    pub fn calibration(&self, config: &GalleryConfig) -> Result<Calibration, OpenError> {
        match self {
            Self::Shipped => shipped(),
            Self::Learn(learn) => learn(config).map_err(|e| OpenError::Calibration(e.to_string())),
        }
    }
}

/// The shipped calibration.
pub fn shipped() -> Result<Calibration, OpenError> {
    serde_json::from_str(SHIPPED)
        .map_err(|e| OpenError::Calibration(format!("the shipped calibration: {e}")))
}

/// The operator's finger calibration file of `data_dir`, if there is one.
pub fn operator_file(data_dir: &Path) -> Result<Option<CalibrationFile>, OpenError> {
    let path = data_dir.join(FINGER_CALIBRATION_NAME);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|source| OpenError::Io {
        path: path.clone(),
        source,
    })?;
    CalibrationFile::parse(&text)
        .map(Some)
        .map_err(|e| OpenError::Calibration(format!("{}: {e}", path.display())))
}
