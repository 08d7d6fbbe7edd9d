//! OSIA's ABIS interface (version 1.4) served under `/osia`: every path answered, every
//! answer and every callback body checked against the project's OpenAPI document
//! (`docs/osia-abis.yaml`) with the `jsonschema` crate; synchronous and asynchronous
//! (callbacks to a loopback receiver); a duplicate found by identification on real FVC2002
//! images (skipped with a message when the shared data set is absent).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod callbacks;
mod fvc;
mod harness;
mod paths;
