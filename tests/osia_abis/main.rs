//! OSIA's ABIS interface (version 1.4) served under `/osia`: every path answered, every
//! answer and every callback body checked against the project's OpenAPI document
//! (`docs/osia-abis.yaml`) with the `jsonschema` crate; synchronous and asynchronous
//! (callbacks to a loopback receiver); a duplicate found by identification on real FVC2002
//! images and eyes found again on real CASIA-IrisV1 images (skipped with a message when the
//! shared data sets are absent); restarts after a crash inside an encounter's writes, and
//! the move of an older release's encounter store into the state store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod callbacks;
mod eyes;
mod fvc;
mod harness;
#[path = "../http_support/mod.rs"]
mod http_support;
mod paths;
mod restart;
