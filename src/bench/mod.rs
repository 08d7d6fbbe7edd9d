//! Throughput measurements printed by `tunggal bench`.

pub mod dedup;
pub mod extraction;
pub mod import;
pub mod iris;
mod matching;

pub use matching::match_throughput;
