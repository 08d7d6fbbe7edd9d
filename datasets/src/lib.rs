//! Synthetic population generator and loaders for external data sets.
//!
//! * [`demographics`], [`nik`], [`region`], [`names`], [`date`]: civil-registry data of
//!   synthetic people;
//! * [`fingerprint`]: synthetic fingerprints (masters and impressions);
//! * [`fvc`]: the loader for FVC-style folders of ISO templates.

pub mod accuracy;
/// Calendar dates (the shared civil-registry rules of `tunggal-domain`).
pub use tunggal_domain::date;
/// The NIK (the shared civil-registry rules of `tunggal-domain`).
pub use tunggal_domain::nik;
pub mod demographics;
pub mod fingerprint;
pub mod fvc;
pub mod iris;
pub mod iris_source;
pub mod iris_theory;
pub mod names;
pub mod output;
pub mod population;
pub mod realism;
pub mod region;
pub mod scenario;
pub mod score_profile;
pub mod seed;
pub mod synthetic_fvc;
