//! Access rules and the case workflow of the `/review` pages over plain HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../review_support/mod.rs"]
mod review_support;

mod access;
mod evidence;
mod history;
mod queue_ops;
mod workflow;

pub(crate) use hyper::{Method, StatusCode};
pub(crate) use review_support::{form, login, send, start};
pub(crate) use tunggal::access::audit::AuditLog;
pub(crate) use tunggal::cases::{
    CaseCandidate, CaseKind, CaseOutcome, CaseStatus, NewCase, Sameness,
};
