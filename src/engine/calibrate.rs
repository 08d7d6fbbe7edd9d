//! The score calibration of a new gallery: synthetic mates and non-mates (see
//! [`crate::dedup`]) for the first-stage and iris tables, the shipped second-stage finger
//! table learned from real pairs when it applies; it is stored with the gallery and read on every later start. A finger
//! calibration file in the data directory ([`FINGER_CALIBRATION_NAME`], written by
//! `tunggal calibrate`) replaces the second-stage table at the next start.

use std::path::Path;

use tunggal_datasets::population::Population;
use tunggal_index::gallery::{GalleryConfig, Preparer};
use tunggal_index::search::shipped::CalibrationFile;
use tunggal_index::search::{Calibration, FusionCaps};

use super::OpenError;

/// Population seed of the calibration people.
pub const CALIBRATION_SEED: u64 = 0x7475_6e67;

/// A finger calibration file in the data directory, applied at every start.
pub const FINGER_CALIBRATION_NAME: &str = "finger-calibration.json";

/// Learns a calibration from `persons` synthetic people (two captures each), with the
/// shipped real second-stage finger table when it applies.
pub fn learn_synthetic(config: &GalleryConfig, persons: u64) -> Result<Calibration, OpenError> {
    let err = |e: anyhow::Error| OpenError::Calibration(e.to_string());
    let preparer = Preparer::new(&config.mcc, config.descriptor)?;
    let pop = Population::new(CALIBRATION_SEED);
    let samples = crate::dedup::sample_scores(&pop, &preparer, persons.max(50), 8).map_err(err)?;
    crate::dedup::learn_production(&samples, FusionCaps::default(), config).map_err(err)
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
