//! Throughput measurements printed by `tunggal bench`.

mod matching;

pub use matching::match_throughput;
