//! Load generation against a running server: request bodies with ground truth, the HTTP
//! client, the open- and closed-loop load generator, the crash drill, and the same load
//! through MOSIP's ABIS queues (`mosip`, `mosip_run`).

pub mod client;
pub mod config;
pub mod drill;
pub mod mosip;
pub mod mosip_run;
mod producer;
pub mod requests;
pub mod run;
pub mod stats;
pub mod truth;
mod worker;
