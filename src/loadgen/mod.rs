//! Load generation against a running server: request bodies with ground truth, the HTTP
//! client, the open- and closed-loop load generator and the crash drill.

pub mod client;
pub mod config;
pub mod drill;
mod producer;
pub mod requests;
pub mod run;
pub mod stats;
pub mod truth;
mod worker;
