//! The score calibration of a new gallery, learned from synthetic mates and non-mates (see
//! [`crate::dedup`]); it is stored with the gallery and read on every later start.

use tunggal_datasets::population::Population;
use tunggal_index::gallery::{GalleryConfig, Preparer};
use tunggal_index::search::{Calibration, FusionCaps};

use super::OpenError;

/// Population seed of the calibration people.
pub const CALIBRATION_SEED: u64 = 0x7475_6e67;

/// Learns a calibration from `persons` synthetic people (two captures each).
pub fn learn_synthetic(config: &GalleryConfig, persons: u64) -> Result<Calibration, OpenError> {
    let err = |e: anyhow::Error| OpenError::Calibration(e.to_string());
    let preparer = Preparer::new(&config.mcc, config.descriptor)?;
    let pop = Population::new(CALIBRATION_SEED);
    let samples = crate::dedup::sample_scores(&pop, &preparer, persons.max(50), 8).map_err(err)?;
    crate::dedup::learn(&samples, FusionCaps::default()).map_err(err)
}
