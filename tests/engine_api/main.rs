//! The real server with the real gallery engine, over loopback with a temporary data
//! directory, driven with synthetic people.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod eyes;
mod harness;
#[path = "../http_support/mod.rs"]
mod http_support;
mod identical;
mod image_compaction;
#[path = "../../index/tests/image_common/generated.rs"]
mod image_fixtures;
mod image_fsck;
mod images;
mod metrics;
mod nik_lookup;
mod ordering_and_callbacks;
mod prints;
#[path = "../review_support/mod.rs"]
mod review_support;
mod sequencer;
mod state_damage;
mod verdicts;
