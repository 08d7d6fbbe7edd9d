//! The Tunggal service and tools: evaluation, benchmarks, and the HTTP service skeleton.

pub mod access;
pub mod bench;
pub mod calibrate;
pub mod cases;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod dedup;
pub mod engine;
pub mod enrolment;
pub mod eval;
pub mod loadgen;
pub mod mosip;
pub mod ops;
pub mod osia;
pub mod persons;
pub mod plot;
pub mod problem;
pub mod review;
pub mod service;
pub mod state;
pub mod telemetry;
pub mod work;
