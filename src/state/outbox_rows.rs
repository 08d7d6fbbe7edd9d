//! What the callback outbox (`engine/outbox.rs`, the `callbacks` table) reports: its dead
//! letters and counts, shared by the engine that keeps it and the service that lists them.

use serde::{Deserialize, Serialize};

/// A notice that will not be tried again until an admin requeues it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// Outbox id (for requeueing).
    pub id: u64,
    /// Target URL.
    pub url: String,
    /// The `request_id` of the verdict it carries, when it has one.
    pub request_id: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: String,
    /// When it became a dead letter, seconds since the Unix epoch.
    pub dead_at: u64,
}

/// How many notices the outbox holds (for `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallbackCounts {
    /// Notices still to deliver (not dead letters).
    pub pending: u64,
    /// Dead letters (retries exhausted; an admin may requeue them).
    pub dead: u64,
}
