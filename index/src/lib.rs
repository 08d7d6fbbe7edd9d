//! Biometric core of Tunggal.
//!
//! This crate holds everything that decides whether two biometric samples come from the
//! same person, with no HTTP and no async runtime:
//!
//! * [`template`]: fingerprint template formats (ISO/IEC 19794-2:2005, ANSI INCITS 378-2004)
//!   and the internal minutiae form every matcher works on;
//! * [`finger`]: the fingerprint matcher (Minutia Cylinder-Code with global consolidation);
//! * [`image`]: fingerprint and eye image decoding (PNG, JPEG, TIFF, BMP, JPEG 2000, WSQ,
//!   ISO/IEC 19794-4 finger and 19794-6 iris records) and resampling of fingerprints to
//!   500 ppi;
//! * [`image_store`]: the cold store of submitted fingerprint images (append-only segments,
//!   a CRC per record);
//! * [`iris`]: iris codes, masks and the rotation-compensated Hamming distance;
//! * [`eye`]: eye images to iris codes (segmentation, normalisation, encoding, quality);
//! * [`gallery`]: enrolled people (hot records and cold blobs) on top of [`storage`];
//! * [`search`]: staged 1:N search, score fusion and the deduplication decision;
//! * [`eval`]: error-rate statistics (EER, FMR at fixed points, DET curves);
//! * [`telemetry`]: stage timings and storage counters reported through the `metrics` facade.

pub mod eval;
pub mod extract;
pub mod eye;
pub mod finger;
pub mod gallery;
pub mod image;
pub mod image_store;
pub mod iris;
pub mod search;
pub mod storage;
pub mod telemetry;
pub mod template;
