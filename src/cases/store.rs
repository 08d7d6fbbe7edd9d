//! The case store: every case and every event on it, in a CRC-guarded append-only journal.
//!
//! This first version only opens, lists and reads cases; decisions, four-eyes approval,
//! assignment, deadlines and the per-case audit trail are built by the review pages.

use std::path::Path;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{CaseKind, NewCase};
use crate::service::journal::{Journal, JournalError};

/// Why the case store failed.
#[derive(Debug, Error)]
pub enum CaseError {
    /// The journal could not be read or written.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A case without candidates was submitted.
    #[error("a case needs at least one candidate")]
    NoCandidates,
}

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Waiting for an analyst.
    Open,
}

/// A case as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Case id, `C` followed by a zero-padded sequence number.
    pub case_id: String,
    /// When the case was opened, RFC 3339 UTC.
    pub opened_at: String,
    /// Status.
    pub status: CaseStatus,
    /// What the engine handed over.
    #[serde(flatten)]
    pub new: NewCase,
}

impl Case {
    /// Why the case was opened.
    pub fn kind(&self) -> CaseKind {
        self.new.kind
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event {
    Opened(Case),
}

/// All cases, in memory, backed by `cases.jsonl` in the data directory.
pub struct CaseStore {
    journal: Journal<Event>,
    cases: RwLock<Vec<Case>>,
}

impl std::fmt::Debug for CaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseStore").finish_non_exhaustive()
    }
}

/// The current time as RFC 3339 UTC, whole seconds.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl CaseStore {
    /// Opens (or creates) the store in `dir`, replaying its journal.
    pub fn open(dir: &Path) -> Result<Self, CaseError> {
        let (journal, events) = Journal::<Event>::open(dir.join("cases.jsonl"))?;
        let mut cases = Vec::new();
        for e in events {
            match e {
                Event::Opened(c) => cases.push(c),
            }
        }
        Ok(Self {
            journal,
            cases: RwLock::new(cases),
        })
    }

    /// Opens a case durably and returns it.
    pub fn open_case(&self, new: NewCase) -> Result<Case, CaseError> {
        if new.candidates.is_empty() {
            return Err(CaseError::NoCandidates);
        }
        let mut cases = self.cases.write().unwrap_or_else(|e| e.into_inner());
        let case = Case {
            case_id: format!("C{:09}", cases.len() + 1),
            opened_at: now_rfc3339(),
            status: CaseStatus::Open,
            new,
        };
        self.journal.append(&Event::Opened(case.clone()))?;
        cases.push(case.clone());
        Ok(case)
    }

    /// The case with this id.
    pub fn get(&self, case_id: &str) -> Option<Case> {
        let cases = self.cases.read().unwrap_or_else(|e| e.into_inner());
        cases.iter().find(|c| c.case_id == case_id).cloned()
    }

    /// Number of cases.
    pub fn len(&self) -> usize {
        self.cases.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether there are no cases.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
