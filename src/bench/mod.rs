//! Throughput measurements printed by `tunggal bench`.

pub mod dedup;
mod matching;

pub use matching::match_throughput;
