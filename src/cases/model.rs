//! What the case store keeps: cases, their workflow status, the trail of actions on them,
//! the store's policy and errors, and the time helpers the workflow uses.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::deadline::DeadlinePolicy;
use super::{CaseKind, CaseOutcome, NewCase};
use crate::state::StateError;

/// Why the case store refused or failed.
#[derive(Debug, Error)]
pub enum CaseError {
    /// The state store could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// A case without candidates was submitted.
    #[error("a case needs at least one candidate")]
    NoCandidates,
    /// No case has this id.
    #[error("no case {0}")]
    NotFound(String),
    /// Another analyst holds the case.
    #[error("the case is taken by {0}")]
    TakenBy(String),
    /// The action does not apply in the case's status.
    #[error("the case is {0}: this action does not apply")]
    WrongStatus(&'static str),
    /// A decision or approval without a comment.
    #[error("a comment is required")]
    CommentRequired,
    /// The analyst who decided the case (by any of their keys) tried to approve it.
    #[error("the analyst who decided a case cannot approve it")]
    SelfApproval,
    /// Asking for a case nobody else holds.
    #[error("nobody else holds this case: take it instead of asking for it")]
    NotHeld,
    /// A confirmation or clearance without a reason.
    #[error("a reason is required: one of same_person, twins, family_member, data_entry_error, fraud_suspected, other")]
    ReasonRequired,
    /// A reason that cannot explain the decision (e.g. clearing as "same person").
    #[error("the reason {0} does not fit this decision")]
    ReasonMismatch(&'static str),
    /// A confirmation named a person who is not a candidate of the case.
    #[error("{0} is not a candidate of this case")]
    UnknownCandidate(String),
}

/// Where a case stands in the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Waiting for an analyst's decision.
    Open,
    /// Confirmed as a duplicate by one analyst, waiting for a second analyst's approval.
    PendingApproval,
    /// Sent on for a senior look; any analyst may decide it.
    Escalated,
    /// Final: the applicant duplicates an enrolled person.
    ConfirmedDuplicate,
    /// Final: the applicant is not a duplicate and is print-ready.
    Cleared,
}

impl CaseStatus {
    /// Every status, in workflow order.
    pub const ALL: [Self; 5] = [
        Self::Open,
        Self::PendingApproval,
        Self::Escalated,
        Self::ConfirmedDuplicate,
        Self::Cleared,
    ];

    /// Whether no further decision is possible.
    pub fn is_final(self) -> bool {
        matches!(self, Self::ConfirmedDuplicate | Self::Cleared)
    }

    /// The wire and URL spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::PendingApproval => "pending_approval",
            Self::Escalated => "escalated",
            Self::ConfirmedDuplicate => "confirmed_duplicate",
            Self::Cleared => "cleared",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Who acts on a case: an analyst's key id, name and owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Key id.
    pub key_id: String,
    /// Holder's name, for display.
    pub name: String,
    /// The person the key is issued to: four-eyes compares owners (and key ids), so two
    /// keys of one owner are one pair of eyes. Empty in trails of older releases.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
}

impl Actor {
    /// The engine, which opens cases (no analyst key has this id: key ids are hex).
    pub fn engine() -> Self {
        Self {
            key_id: "engine".to_owned(),
            name: "Tunggal engine".to_owned(),
            owner: String::new(),
        }
    }
}

/// An analyst's hold on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The holder.
    pub by: Actor,
    /// Seconds since the Unix epoch when the hold lapses unless renewed.
    pub until: u64,
}

/// What an analyst decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum DecisionKind {
    /// Same person as the enrolled `duplicate_of` (needs a second analyst's approval).
    ConfirmDuplicate {
        /// Reference id of the candidate the applicant duplicates.
        duplicate_of: String,
    },
    /// Not the same person: print-ready.
    Clear,
    /// Passed on for another look.
    Escalate,
}

/// One recorded action on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// The engine (or a gallery-wide deduplication run) opened the case.
    Opened,
    /// Opened the case page.
    Viewed,
    /// Took (or renewed) the lease.
    Taken {
        /// Lease end, seconds since the Unix epoch.
        until: u64,
    },
    /// Gave the case back to the queue.
    Released,
    /// Asked the analyst holding the case to hand it over.
    Requested,
    /// A supervisor took another analyst's hold away: the case is back in the queue.
    SupervisorReleased {
        /// The analyst whose hold was released.
        holder: Actor,
    },
    /// Decided.
    Decided {
        /// The decision.
        #[serde(flatten)]
        decision: DecisionKind,
        /// Why, from the closed set (required for confirmations and clearances; absent in
        /// trails of older releases).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<super::DecisionReason>,
        /// Why.
        comment: String,
        /// A clearance that takes effect only with a second analyst's approval (the case's
        /// score was above the clearing bar).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        needs_approval: bool,
    },
    /// Approved a confirmed duplicate or a clearance (four eyes).
    Approved {
        /// Why.
        comment: String,
    },
    /// Refused to approve a confirmed duplicate; the case is open again.
    Returned {
        /// Why.
        comment: String,
    },
    /// The final outcome was handed to the engine.
    Delivered,
}

/// One entry of a case's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailEntry {
    /// Seconds since the Unix epoch.
    pub at: u64,
    /// Who.
    pub by: Actor,
    /// What.
    #[serde(flatten)]
    pub action: Action,
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
    /// When the case was opened, seconds since the Unix epoch.
    #[serde(default)]
    pub opened_secs: u64,
    /// When the case must be decided by, seconds since the Unix epoch.
    #[serde(default)]
    pub deadline_secs: u64,
    /// The analyst working on it, if any (check [`Lease::until`] against the clock).
    #[serde(default)]
    pub lease: Option<Lease>,
    /// The latest decision, with who made it and when.
    #[serde(default)]
    pub decision: Option<TrailEntry>,
    /// The approval of a confirmed duplicate.
    #[serde(default)]
    pub approval: Option<TrailEntry>,
    /// Whether the final outcome was handed to the engine.
    #[serde(default)]
    pub outcome_delivered: bool,
    /// Strong fingers and eyes of the best candidate ([`super::strength`]): the score
    /// sort's tie-breaker; 0 for cases stored before it was counted.
    #[serde(default)]
    pub strength: u32,
    /// Every action on the case, oldest first.
    #[serde(default)]
    pub trail: Vec<TrailEntry>,
}

impl Case {
    /// Why the case was opened.
    pub fn kind(&self) -> CaseKind {
        self.new.kind
    }

    /// The analyst holding the case at `now`, if the lease has not lapsed.
    pub fn holder(&self, now: u64) -> Option<&Actor> {
        self.lease
            .as_ref()
            .filter(|l| l.until > now && !self.status.is_final())
            .map(|l| &l.by)
    }

    /// The final outcome, once the case is closed.
    pub fn outcome(&self) -> Option<CaseOutcome> {
        match (self.status, self.decision.as_ref().map(|d| &d.action)) {
            (CaseStatus::Cleared, _) => Some(CaseOutcome::Cleared),
            (
                CaseStatus::ConfirmedDuplicate,
                Some(Action::Decided {
                    decision: DecisionKind::ConfirmDuplicate { duplicate_of },
                    ..
                }),
            ) => Some(CaseOutcome::ConfirmedDuplicate {
                duplicate_of: duplicate_of.clone(),
            }),
            _ => None,
        }
    }

    /// When the case's final outcome took effect, seconds since the Unix epoch: the
    /// approval, else (a clearance without one) the decision; `None` while not final.
    pub fn closed_secs(&self) -> Option<u64> {
        if !self.status.is_final() {
            return None;
        }
        self.approval
            .as_ref()
            .or(self.decision.as_ref())
            .map(|e| e.at)
    }

    /// The analyst who asked the holder at `now` for the case since the hold began, if any
    /// (the latest such request).
    pub fn requested_by(&self, now: u64) -> Option<&Actor> {
        self.holder(now)?;
        for e in self.trail.iter().rev() {
            match &e.action {
                Action::Requested => return Some(&e.by),
                Action::Taken { .. }
                | Action::Released
                | Action::SupervisorReleased { .. }
                | Action::Decided { .. }
                | Action::Approved { .. }
                | Action::Returned { .. } => return None,
                Action::Opened | Action::Viewed | Action::Delivered => {}
            }
        }
        None
    }

    /// The best candidate's fused score.
    pub fn best_score(&self) -> f64 {
        self.new.candidates.first().map_or(0.0, |c| c.score)
    }

    /// Applies one trail entry to the case's state and appends it to the trail.
    pub fn apply(&mut self, entry: TrailEntry) {
        match &entry.action {
            Action::Opened | Action::Viewed | Action::Requested => {}
            Action::Taken { until } => {
                self.lease = Some(Lease {
                    by: entry.by.clone(),
                    until: *until,
                })
            }
            Action::Released | Action::SupervisorReleased { .. } => self.lease = None,
            Action::Decided {
                decision,
                needs_approval,
                ..
            } => {
                self.status = match decision {
                    DecisionKind::ConfirmDuplicate { .. } => CaseStatus::PendingApproval,
                    DecisionKind::Clear if *needs_approval => CaseStatus::PendingApproval,
                    DecisionKind::Clear => CaseStatus::Cleared,
                    DecisionKind::Escalate => CaseStatus::Escalated,
                };
                self.lease = None;
                self.decision = Some(entry.clone());
            }
            Action::Approved { .. } => {
                self.status = super::decision::approved_status(self);
                self.lease = None;
                self.approval = Some(entry.clone());
            }
            Action::Returned { .. } => {
                self.status = CaseStatus::Open;
                self.lease = None;
            }
            Action::Delivered => self.outcome_delivered = true,
        }
        self.trail.push(entry);
    }
}

/// How the store computes deadlines and leases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CasePolicy {
    /// Deadline rule.
    pub deadline: DeadlinePolicy,
    /// How long a take lasts without renewal, in seconds.
    pub lease_secs: u64,
}

impl Default for CasePolicy {
    fn default() -> Self {
        Self {
            deadline: DeadlinePolicy::default(),
            lease_secs: 15 * 60,
        }
    }
}

/// Counts for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaseCounts {
    /// Cases not yet final.
    pub active: usize,
    /// Active cases past their deadline.
    pub overdue: usize,
    /// Every case.
    pub total: usize,
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    crate::clock::now_secs()
}

/// A decision's comment, trimmed and cut to 4,000 characters; refused when empty.
pub(super) fn comment(text: &str) -> Result<String, CaseError> {
    let text = text.trim();
    if text.is_empty() {
        Err(CaseError::CommentRequired)
    } else {
        Ok(text.chars().take(4_000).collect())
    }
}
