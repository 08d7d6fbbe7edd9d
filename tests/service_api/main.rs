//! Drives the real `tunggal serve` HTTP service over loopback with a temporary data dir.
//!
//! `MemoryEngine` (in `harness.rs`) is a TEST DOUBLE: it compares fingerprints with `FingerMatcher`
//! against an in-memory list, for validation, role and queue tests. The shipped gallery
//! engine is tested in `engine_api.rs` (and here through the binary).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;
#[path = "../http_support/mod.rs"]
mod http_support;
mod lifecycle;
mod roles;
mod validation;
