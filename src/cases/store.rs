//! The case store: every case and every action on it, in the state store's `cases` and
//! `case_trail` tables (`state.sqlite3`). Nothing is held in memory: each call reads and
//! writes the rows it needs, and opening costs the same with ten cases or a million.
//!
//! The workflow: a case opens `open`; reading it changes nothing (page views go to the
//! audit log, not the trail); an analyst who presses *take* holds it (a lease, so a second
//! analyst sees it as taken and cannot decide it); the analyst decides with a
//! comment: **clear** closes it at once (`cleared`), **escalate** sends it to `escalated`
//! (any analyst may decide it next), **confirm duplicate** sends it to `pending_approval`,
//! where a *different* analyst either approves (`confirmed_duplicate`) or returns it to
//! `open`. The opening and every take, release, decision and approval is kept in the
//! case's trail; each action is checked and recorded in one transaction. A final outcome is
//! handed to the engine by the caller ([`super::CaseOutcomeSink`]), and its delivery
//! recorded with [`CaseStore::mark_delivered`].

use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;

use super::query::{self, CaseQuery, Page};
use super::{rows, NewCase};
use crate::state::{StateError, StateStore};

use super::decision::DecisionRules;
use super::model::comment;
pub use super::model::{
    now_secs, Action, Actor, Case, CaseCounts, CaseError, CasePolicy, CaseStatus, DecisionKind,
    Lease, TrailEntry,
};
use super::CaseOutcome;

/// An analyst's decision as submitted: what, why from the closed set, and why in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The decision.
    pub kind: DecisionKind,
    /// The reason (required unless escalating).
    pub reason: Option<super::DecisionReason>,
    /// The comment (required).
    pub comment: String,
}

impl Decision {
    /// A decision with `reason` and `comment`.
    pub fn new(kind: DecisionKind, reason: Option<super::DecisionReason>, comment: &str) -> Self {
        Self {
            kind,
            reason,
            comment: comment.to_owned(),
        }
    }
}

/// The cases of one data directory, in its state store.
pub struct CaseStore {
    store: Arc<StateStore>,
    policy: CasePolicy,
}

impl std::fmt::Debug for CaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseStore")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl CaseStore {
    /// Opens the store of the data directory `dir` with the default policy.
    pub fn open(dir: &Path) -> Result<Self, CaseError> {
        Self::open_with(dir, CasePolicy::default())
    }

    /// Opens the store of the data directory `dir` (its shared state store), refusing a
    /// directory whose journals of an older release (`cases.jsonl`, ...) are not migrated.
    pub fn open_with(dir: &Path, policy: CasePolicy) -> Result<Self, CaseError> {
        crate::state::migrate::require_migrated(dir)?;
        Ok(Self::new(StateStore::shared(dir)?, policy))
    }

    /// The cases in `store`.
    pub fn new(store: Arc<StateStore>, policy: CasePolicy) -> Self {
        Self { store, policy }
    }

    /// The state store the cases live in.
    pub fn store(&self) -> &Arc<StateStore> {
        &self.store
    }

    /// The policy in force.
    pub fn policy(&self) -> CasePolicy {
        self.policy
    }

    /// A new case `seq` from `new`, opened at `now`, with its opening in the trail.
    fn new_case(&self, seq: i64, new: NewCase, now: u64) -> Case {
        let strength = super::strength::of_case(&new);
        let mut case = Case {
            case_id: rows::case_id(seq),
            opened_at: crate::clock::rfc3339(now),
            status: CaseStatus::Open,
            new,
            opened_secs: now,
            deadline_secs: self.policy.deadline.deadline(now),
            lease: None,
            decision: None,
            approval: None,
            outcome_delivered: false,
            strength,
            trail: Vec::new(),
        };
        case.apply(TrailEntry {
            at: now,
            by: Actor::engine(),
            action: Action::Opened,
        });
        case
    }

    /// Opens a case durably and returns it. Blocking (one committed transaction).
    pub fn open_case(&self, new: NewCase) -> Result<Case, CaseError> {
        self.open_case_at(new, now_secs())
    }

    /// Opens a case as if at `now` (seconds since the Unix epoch).
    pub fn open_case_at(&self, new: NewCase, now: u64) -> Result<Case, CaseError> {
        if new.candidates.is_empty() {
            return Err(CaseError::NoCandidates);
        }
        let store = &self.store;
        Ok(store.transaction(|tx| self.open_case_in(tx, new, now))?)
    }

    /// Opens a case at `now` inside `conn`'s transaction, which must be one of this store's
    /// state store (the engine commits it with the enrolment's outcome). The caller has
    /// checked that `new` has candidates.
    pub fn open_case_in(
        &self,
        conn: &Connection,
        new: NewCase,
        now: u64,
    ) -> Result<Case, StateError> {
        let seq = rows::next_seq(&self.store, conn)?;
        let case = self.new_case(seq, new, now);
        rows::insert(&self.store, conn, &case)?;
        Ok(case)
    }

    /// Opens many cases in one transaction (a gallery-wide deduplication run), each at its
    /// given time; returns their ids.
    pub fn open_cases_at(&self, news: Vec<(NewCase, u64)>) -> Result<Vec<String>, CaseError> {
        if news.iter().any(|(new, _)| new.candidates.is_empty()) {
            return Err(CaseError::NoCandidates);
        }
        let store = &self.store;
        let ids = store.transaction(|tx| {
            let mut ids = Vec::with_capacity(news.len());
            for (new, at) in news {
                ids.push(self.open_case_in(tx, new, at)?.case_id);
            }
            Ok(ids)
        })?;
        Ok(ids)
    }

    /// Calls `f` on every case, in opening order, streamed from the store (the store's
    /// connection is held meanwhile: `f` must not call into the state store).
    pub fn for_each(&self, f: impl FnMut(&Case)) -> Result<(), CaseError> {
        let store = &self.store;
        Ok(store.read(|conn| rows::for_each(store, conn, f))?)
    }

    /// The case with this id; `None` also when the store cannot be read (logged).
    pub fn get(&self, case_id: &str) -> Option<Case> {
        self.find(case_id).unwrap_or_else(|e| {
            tracing::error!(error = %e, case_id, "reading a case");
            None
        })
    }

    /// The case with this id.
    pub fn find(&self, case_id: &str) -> Result<Option<Case>, CaseError> {
        let Some(seq) = rows::seq_of(case_id) else {
            return Ok(None);
        };
        let store = &self.store;
        Ok(store.read(|conn| rows::load(store, conn, seq))?)
    }

    /// Number of cases; 0 when the store cannot be read (logged).
    pub fn len(&self) -> usize {
        self.counts(0).map(|c| c.total).unwrap_or_else(|e| {
            tracing::error!(error = %e, "counting cases");
            0
        })
    }

    /// Whether there are no cases.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One page of cases matching `query` at time `now`.
    pub fn list(&self, query: &CaseQuery, now: u64) -> Result<Page, CaseError> {
        let store = &self.store;
        Ok(store.read(|conn| query.run(store, conn, now))?)
    }

    /// The cases `search` finds, newest first (at most [`super::SEARCH_LIMIT`]).
    pub fn search(&self, search: &super::CaseSearch) -> Result<Vec<Case>, CaseError> {
        let store = &self.store;
        Ok(store.read(|conn| search.run(store, conn))?)
    }

    /// The export lines of the cases of `status` decided at or after `since` (seconds since
    /// the Unix epoch), oldest case first.
    pub fn export(
        &self,
        status: super::ExportStatus,
        since: Option<u64>,
    ) -> Result<Vec<super::ExportRow>, CaseError> {
        let store = &self.store;
        Ok(store.read(|conn| super::export::export(store, conn, status, since))?)
    }

    /// One chunk of an export: the lines of the cases after sequence number `after`, at most
    /// `limit` cases read ([`super::export::export_chunk`]).
    pub fn export_chunk(
        &self,
        status: super::ExportStatus,
        since: Option<u64>,
        after: i64,
        limit: usize,
    ) -> Result<super::ExportChunk, CaseError> {
        let store = &self.store;
        Ok(store
            .read(|conn| super::export::export_chunk(store, conn, status, since, after, limit))?)
    }

    /// Active and overdue case counts at `now`.
    pub fn counts(&self, now: u64) -> Result<CaseCounts, CaseError> {
        let store = &self.store;
        Ok(store.read(|conn| query::counts(store, conn, now))?)
    }

    /// Validates and records actions in one transaction: `check` sees the case as stored
    /// and answers the actions to record (none: nothing is written).
    fn act<F>(&self, case_id: &str, by: &Actor, now: u64, check: F) -> Result<Case, CaseError>
    where
        F: FnOnce(&Case) -> Result<Vec<Action>, CaseError>,
    {
        let not_found = || CaseError::NotFound(case_id.to_owned());
        let seq = rows::seq_of(case_id).ok_or_else(not_found)?;
        let store = &self.store;
        store.try_transaction(|tx| {
            let mut case = rows::load(store, tx, seq)?.ok_or_else(not_found)?;
            let actions = check(&case)?;
            if actions.is_empty() {
                return Ok(case);
            }
            for action in actions {
                let entry = TrailEntry {
                    at: now,
                    by: by.clone(),
                    action,
                };
                rows::append_trail(store, tx, seq, &entry)?;
                case.apply(entry);
            }
            rows::save_state(store, tx, seq, &case)?;
            Ok(case)
        })
    }

    fn lease_action(&self, case: &Case, by: &Actor, now: u64) -> Result<Option<Action>, CaseError> {
        match case.holder(now) {
            Some(holder) if holder.key_id != by.key_id => {
                Err(CaseError::TakenBy(holder.name.clone()))
            }
            // Renew only when less than half the lease is left, to keep the trail short.
            Some(_)
                if case
                    .lease
                    .as_ref()
                    .is_some_and(|l| l.until > now + self.policy.lease_secs / 2) =>
            {
                Ok(None)
            }
            _ => Ok(Some(Action::Taken {
                until: now + self.policy.lease_secs,
            })),
        }
    }

    /// Takes the case for `by`, or renews their lease.
    pub fn take(&self, case_id: &str, by: &Actor, now: u64) -> Result<Case, CaseError> {
        self.act(case_id, by, now, |case| {
            if !matches!(case.status, CaseStatus::Open | CaseStatus::Escalated) {
                return Err(CaseError::WrongStatus(case.status.as_str()));
            }
            Ok(self.lease_action(case, by, now)?.into_iter().collect())
        })
    }

    /// Gives the case back to the queue (only its holder can; a supervisor uses
    /// [`CaseStore::supervisor_release`]).
    pub fn release(&self, case_id: &str, by: &Actor, now: u64) -> Result<Case, CaseError> {
        self.act(case_id, by, now, |case| match case.holder(now) {
            Some(h) if h.key_id == by.key_id => Ok(vec![Action::Released]),
            Some(h) => Err(CaseError::TakenBy(h.name.clone())),
            None => Ok(Vec::new()),
        })
    }

    /// A supervisor gives the case back to the queue whoever holds it; recorded in the trail
    /// as released by the supervisor, naming the holder. Returns the case and the analyst
    /// whose hold ended (nothing is written when nobody holds it).
    pub fn supervisor_release(
        &self,
        case_id: &str,
        by: &Actor,
        now: u64,
    ) -> Result<(Case, Option<Actor>), CaseError> {
        let mut released = None;
        let case = self.act(case_id, by, now, |case| {
            released = case.holder(now).cloned();
            Ok(released
                .iter()
                .map(|h| Action::SupervisorReleased { holder: h.clone() })
                .collect())
        })?;
        Ok((case, released))
    }

    /// `by` asks the analyst holding the case to hand it over (shown to the holder until
    /// the hold ends). Refused when nobody else holds it; asking again records nothing.
    pub fn ask(&self, case_id: &str, by: &Actor, now: u64) -> Result<Case, CaseError> {
        self.act(case_id, by, now, |case| match case.holder(now) {
            Some(h) if h.key_id != by.key_id => {
                let asked = case
                    .requested_by(now)
                    .is_some_and(|r| r.key_id == by.key_id);
                Ok(if asked {
                    Vec::new()
                } else {
                    vec![Action::Requested]
                })
            }
            _ => Err(CaseError::NotHeld),
        })
    }

    /// Records `by`'s decision under the default [`DecisionRules`] (see
    /// [`CaseStore::decide_with`]).
    pub fn decide(
        &self,
        case_id: &str,
        by: &Actor,
        decision: Decision,
        now: u64,
    ) -> Result<(Case, Option<CaseOutcome>), CaseError> {
        self.decide_with(case_id, by, decision, now, &DecisionRules::default())
    }

    /// Records `by`'s decision. The case must be open or escalated and not held by anyone
    /// else. A clearance of a case above `rules`' clearing bar, like a confirmation, waits
    /// for a second analyst's approval. Returns the case and, for a clearance that takes
    /// effect, the final outcome to hand to the engine.
    pub fn decide_with(
        &self,
        case_id: &str,
        by: &Actor,
        decision: Decision,
        now: u64,
        rules: &DecisionRules,
    ) -> Result<(Case, Option<CaseOutcome>), CaseError> {
        let Decision {
            kind: decision,
            reason,
            comment: text,
        } = decision;
        let text = comment(&text)?;
        match reason {
            None if super::reason::required(&decision) => return Err(CaseError::ReasonRequired),
            Some(r) if !r.fits(&decision) => return Err(CaseError::ReasonMismatch(r.as_str())),
            _ => {}
        }
        let case = self.act(case_id, by, now, |case| {
            if !matches!(case.status, CaseStatus::Open | CaseStatus::Escalated) {
                return Err(CaseError::WrongStatus(case.status.as_str()));
            }
            if let Some(h) = case.holder(now).filter(|h| h.key_id != by.key_id) {
                return Err(CaseError::TakenBy(h.name.clone()));
            }
            if let DecisionKind::ConfirmDuplicate { duplicate_of } = &decision {
                let known = case
                    .new
                    .candidates
                    .iter()
                    .any(|c| &c.person.reference_id == duplicate_of);
                if !known {
                    return Err(CaseError::UnknownCandidate(duplicate_of.clone()));
                }
            }
            let needs_approval =
                matches!(decision, DecisionKind::Clear) && rules.clear_needs_approval(case);
            Ok(vec![Action::Decided {
                decision,
                reason,
                comment: text,
                needs_approval,
            }])
        })?;
        let outcome = case.outcome();
        Ok((case, outcome))
    }

    /// A second analyst approves a confirmed duplicate or a clearance above the clearing
    /// bar; returns the final outcome.
    pub fn approve(
        &self,
        case_id: &str,
        by: &Actor,
        text: &str,
        now: u64,
    ) -> Result<(Case, CaseOutcome), CaseError> {
        let text = comment(text)?;
        let case = self.act(case_id, by, now, |case| {
            if case.status != CaseStatus::PendingApproval {
                return Err(CaseError::WrongStatus(case.status.as_str()));
            }
            if case.decision.as_ref().is_some_and(|d| d.by.same_person(by)) {
                return Err(CaseError::SelfApproval);
            }
            Ok(vec![Action::Approved { comment: text }])
        })?;
        let outcome = case
            .outcome()
            .ok_or(CaseError::WrongStatus(case.status.as_str()))?;
        Ok((case, outcome))
    }

    /// A second analyst refuses to approve a confirmed duplicate: the case is open again.
    pub fn return_case(
        &self,
        case_id: &str,
        by: &Actor,
        text: &str,
        now: u64,
    ) -> Result<Case, CaseError> {
        let text = comment(text)?;
        self.act(case_id, by, now, |case| {
            if case.status != CaseStatus::PendingApproval {
                return Err(CaseError::WrongStatus(case.status.as_str()));
            }
            if case.decision.as_ref().is_some_and(|d| d.by.same_person(by)) {
                return Err(CaseError::SelfApproval);
            }
            Ok(vec![Action::Returned { comment: text }])
        })
    }

    /// Records that the final outcome reached the engine.
    pub fn mark_delivered(&self, case_id: &str, by: &Actor, now: u64) -> Result<Case, CaseError> {
        self.act(case_id, by, now, |case| {
            if !case.status.is_final() {
                return Err(CaseError::WrongStatus(case.status.as_str()));
            }
            Ok(if case.outcome_delivered {
                Vec::new()
            } else {
                vec![Action::Delivered]
            })
        })
    }
}
