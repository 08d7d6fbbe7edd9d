//! The Tunggal service and tools: evaluation, benchmarks, and (later) the HTTP service.

pub mod bench;
pub mod cli;
pub mod dedup;
pub mod eval;
pub mod plot;
