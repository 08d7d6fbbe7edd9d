//! The Tunggal service and tools: evaluation, benchmarks, and (later) the HTTP service.

pub mod cli;
pub mod eval;
pub mod plot;
