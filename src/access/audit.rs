//! The append-only audit log of every access to a person's data: who, what, when.
//!
//! `audit.jsonl` in the data directory, a CRC-guarded [`Journal`]. Unlike the tracing log it
//! names the person (NIK or engine person id), because that is its purpose; protect the data
//! directory accordingly.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::keys::Principal;
use crate::clock::now_secs;
use crate::state::journal::{Journal, JournalError};

/// File name of the audit log in the data directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// One audited access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Seconds since the Unix epoch.
    pub at: u64,
    /// Key id of the caller.
    pub key_id: String,
    /// Key holder's name.
    pub key_name: String,
    /// Caller's role.
    pub role: String,
    /// What was done: `enrol`, `identify`, `verify`, `delete`, `read_enrolment`, `forbidden`
    /// (a request refused 403), and from the review pages `review_login`,
    /// `review_login_failed`, `view_queue`, `view_case`, `decide_case`, `approve_case`,
    /// `return_case`, `view_photo`, `view_signature`. An event without an authenticated
    /// caller (a failed log-in with an unknown key) has key id, name and role `-`.
    pub action: String,
    /// Whose data: a NIK, person ids, or the submission's scope and request id.
    pub subject: String,
    /// The request's `request_id`, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// HTTP status answered.
    pub status: u16,
    /// The analyst case the access belongs to, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
}

/// The audit log.
#[derive(Debug)]
pub struct AuditLog {
    journal: Journal<AuditEvent>,
}

impl AuditLog {
    /// Opens (creating) the audit log in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, JournalError> {
        let (journal, _) = Journal::open(data_dir.join(AUDIT_FILE))?;
        Ok(Self { journal })
    }

    /// Records an access durably, on a blocking thread.
    pub async fn record(
        self: &Arc<Self>,
        who: &Principal,
        action: &str,
        subject: String,
        request_id: Option<&str>,
        status: u16,
    ) -> Result<(), JournalError> {
        let event = AuditEvent {
            at: now_secs(),
            key_id: who.key_id.clone(),
            key_name: who.name.clone(),
            role: who.role.as_str().to_owned(),
            action: action.to_owned(),
            subject,
            request_id: request_id.map(str::to_owned),
            status,
            case_id: None,
        };
        self.append(event).await
    }

    /// Records an access made while working on case `case_id`, durably, on a blocking
    /// thread.
    pub async fn record_case(
        self: &Arc<Self>,
        who: &Principal,
        action: &str,
        subject: String,
        case_id: &str,
        status: u16,
    ) -> Result<(), JournalError> {
        let event = AuditEvent {
            at: now_secs(),
            key_id: who.key_id.clone(),
            key_name: who.name.clone(),
            role: who.role.as_str().to_owned(),
            action: action.to_owned(),
            subject,
            request_id: None,
            status,
            case_id: Some(case_id.to_owned()),
        };
        self.append(event).await
    }

    /// Records a refused attempt durably: by `who` when the caller is known, else by `-`.
    pub async fn record_refusal(
        self: &Arc<Self>,
        who: Option<&Principal>,
        action: &str,
        subject: String,
        status: u16,
    ) -> Result<(), JournalError> {
        let unknown = || "-".to_owned();
        let event = AuditEvent {
            at: now_secs(),
            key_id: who.map_or_else(unknown, |w| w.key_id.clone()),
            key_name: who.map_or_else(unknown, |w| w.name.clone()),
            role: who.map_or_else(unknown, |w| w.role.as_str().to_owned()),
            action: action.to_owned(),
            subject,
            request_id: None,
            status,
            case_id: None,
        };
        self.append(event).await
    }

    async fn append(self: &Arc<Self>, event: AuditEvent) -> Result<(), JournalError> {
        let log = Arc::clone(self);
        tokio::task::spawn_blocking(move || log.journal.append(&event))
            .await
            .unwrap_or(Err(JournalError::Poisoned))
    }

    /// Every event recorded so far (for tests and tools).
    pub fn read_all(data_dir: &Path) -> Result<Vec<AuditEvent>, JournalError> {
        Journal::read(data_dir.join(AUDIT_FILE))
    }
}
