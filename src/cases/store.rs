//! The case store: every case and every event on it, in a CRC-guarded append-only journal
//! (`cases.jsonl`), replayed into memory on start.
//!
//! The workflow: a case opens `open`; an analyst who opens it *takes* it (a lease, renewed
//! while they work, so a second analyst sees it as taken); the analyst decides with a
//! comment: **clear** closes it at once (`cleared`), **escalate** sends it to `escalated`
//! (any analyst may decide it next), **confirm duplicate** sends it to `pending_approval`,
//! where a *different* analyst either approves (`confirmed_duplicate`) or returns it to
//! `open`. Every view, take, release, decision and approval is kept in the case's trail.
//! A final outcome is handed to the engine by the caller ([`super::CaseOutcomeSink`]), and
//! its delivery recorded with [`CaseStore::mark_delivered`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::deadline::DeadlinePolicy;
use super::decision::DecisionRules;
use super::query::{CaseQuery, Page, Row};
use super::{CaseKind, CaseOutcome, NewCase};
use crate::service::journal::{Journal, JournalError};

/// Why the case store refused or failed.
#[derive(Debug, Error)]
pub enum CaseError {
    /// The journal could not be read or written.
    #[error(transparent)]
    Journal(#[from] JournalError),
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
    /// Opened the case page.
    Viewed,
    /// Took (or renewed) the lease.
    Taken {
        /// Lease end, seconds since the Unix epoch.
        until: u64,
    },
    /// Gave the case back to the queue.
    Released,
    /// Decided.
    Decided {
        /// The decision.
        #[serde(flatten)]
        decision: DecisionKind,
        /// Why.
        comment: String,
        /// A clearance that takes effect only with a second analyst's approval (the case's
        /// score was above the clearing bar).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        needs_approval: bool,
    },
    /// Approved a confirmed duplicate (four eyes).
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

    /// The best candidate's fused score.
    pub fn best_score(&self) -> f64 {
        self.new.candidates.first().map_or(0.0, |c| c.score)
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event {
    Opened(Box<Case>),
    Act {
        case_id: String,
        #[serde(flatten)]
        entry: TrailEntry,
    },
}

/// Cases in memory with the listing index.
#[derive(Debug, Default)]
pub(super) struct Inner {
    pub(super) cases: Vec<Case>,
    pub(super) rows: Vec<Row>,
    /// Case indices by best score, highest first.
    pub(super) by_score: Vec<u32>,
    /// Case indices by deadline, earliest first.
    pub(super) by_deadline: Vec<u32>,
    pub(super) districts: HashMap<String, u32>,
    pub(super) service_points: HashMap<String, u32>,
}

fn intern(map: &mut HashMap<String, u32>, s: &str) -> u32 {
    let next = u32::try_from(map.len()).unwrap_or(u32::MAX);
    *map.entry(s.to_owned()).or_insert(next)
}

impl Inner {
    fn index_of(&self, case_id: &str) -> Option<usize> {
        let n: usize = case_id.strip_prefix('C')?.parse().ok()?;
        let i = n.checked_sub(1)?;
        (self.cases.get(i)?.case_id == case_id).then_some(i)
    }

    fn push(&mut self, mut case: Case, policy: &CasePolicy) {
        if case.opened_secs == 0 {
            case.opened_secs = parse_rfc3339(&case.opened_at);
        }
        if case.deadline_secs == 0 {
            case.deadline_secs = policy.deadline.deadline(case.opened_secs);
        }
        let i = u32::try_from(self.cases.len()).unwrap_or(u32::MAX);
        let district = intern(&mut self.districts, &case.new.applicant.district);
        let service_point = intern(&mut self.service_points, &case.new.applicant.service_point);
        let score = case.best_score();
        let deadline = case.deadline_secs;
        self.rows.push(Row {
            status: case.status,
            lease_until: 0,
            opened: case.opened_secs,
            deadline,
            score,
            district,
            service_point,
        });
        let rows = &self.rows;
        let at = self
            .by_score
            .partition_point(|&j| rows[j as usize].score >= score);
        self.by_score.insert(at, i);
        let at = self
            .by_deadline
            .partition_point(|&j| rows[j as usize].deadline <= deadline);
        self.by_deadline.insert(at, i);
        self.cases.push(case);
    }

    fn apply(&mut self, i: usize, entry: TrailEntry) {
        let Some(case) = self.cases.get_mut(i) else {
            return;
        };
        match &entry.action {
            Action::Viewed => {}
            Action::Taken { until } => {
                case.lease = Some(Lease {
                    by: entry.by.clone(),
                    until: *until,
                })
            }
            Action::Released => case.lease = None,
            Action::Decided {
                decision,
                needs_approval,
                ..
            } => {
                case.status = match decision {
                    DecisionKind::ConfirmDuplicate { .. } => CaseStatus::PendingApproval,
                    DecisionKind::Clear if *needs_approval => CaseStatus::PendingApproval,
                    DecisionKind::Clear => CaseStatus::Cleared,
                    DecisionKind::Escalate => CaseStatus::Escalated,
                };
                case.lease = None;
                case.decision = Some(entry.clone());
            }
            Action::Approved { .. } => {
                case.status = super::decision::approved_status(case);
                case.lease = None;
                case.approval = Some(entry.clone());
            }
            Action::Returned { .. } => {
                case.status = CaseStatus::Open;
                case.lease = None;
            }
            Action::Delivered => case.outcome_delivered = true,
        }
        if let Some(row) = self.rows.get_mut(i) {
            row.status = case.status;
            row.lease_until = case.lease.as_ref().map_or(0, |l| l.until);
        }
        case.trail.push(entry);
    }
}

/// All cases, in memory, backed by `cases.jsonl` in the data directory.
pub struct CaseStore {
    journal: Journal<Event>,
    policy: CasePolicy,
    inner: RwLock<Inner>,
}

impl std::fmt::Debug for CaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseStore")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    crate::service::keys::now_secs()
}

/// A time in seconds since the Unix epoch as RFC 3339 UTC.
pub fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn parse_rfc3339(s: &str) -> u64 {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| u64::try_from(t.unix_timestamp()).ok())
        .unwrap_or(0)
}

/// The current time as RFC 3339 UTC, whole seconds.
pub fn now_rfc3339() -> String {
    rfc3339(now_secs())
}

fn comment(text: &str) -> Result<String, CaseError> {
    let text = text.trim();
    if text.is_empty() {
        Err(CaseError::CommentRequired)
    } else {
        Ok(text.chars().take(4_000).collect())
    }
}

impl CaseStore {
    /// Opens (or creates) the store in `dir` with the default policy, replaying its journal.
    pub fn open(dir: &Path) -> Result<Self, CaseError> {
        Self::open_with(dir, CasePolicy::default())
    }

    /// Opens (or creates) the store in `dir`, replaying its journal.
    pub fn open_with(dir: &Path, policy: CasePolicy) -> Result<Self, CaseError> {
        let (journal, events) = Journal::<Event>::open(dir.join("cases.jsonl"))?;
        let mut inner = Inner::default();
        for e in events {
            match e {
                Event::Opened(c) => inner.push(*c, &policy),
                Event::Act { case_id, entry } => {
                    if let Some(i) = inner.index_of(&case_id) {
                        inner.apply(i, entry);
                    }
                }
            }
        }
        Ok(Self {
            journal,
            policy,
            inner: RwLock::new(inner),
        })
    }

    /// The policy in force.
    pub fn policy(&self) -> CasePolicy {
        self.policy
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn new_case(&self, inner: &Inner, new: NewCase, now: u64) -> Result<Case, CaseError> {
        if new.candidates.is_empty() {
            return Err(CaseError::NoCandidates);
        }
        Ok(Case {
            case_id: format!("C{:09}", inner.cases.len() + 1),
            opened_at: rfc3339(now),
            status: CaseStatus::Open,
            new,
            opened_secs: now,
            deadline_secs: self.policy.deadline.deadline(now),
            lease: None,
            decision: None,
            approval: None,
            outcome_delivered: false,
            trail: Vec::new(),
        })
    }

    /// Opens a case durably and returns it. Blocking (journal write).
    pub fn open_case(&self, new: NewCase) -> Result<Case, CaseError> {
        self.open_case_at(new, now_secs())
    }

    /// Opens a case as if at `now` (seconds since the Unix epoch).
    pub fn open_case_at(&self, new: NewCase, now: u64) -> Result<Case, CaseError> {
        let mut inner = self.write();
        let case = self.new_case(&inner, new, now)?;
        self.journal
            .append(&Event::Opened(Box::new(case.clone())))?;
        inner.push(case.clone(), &self.policy);
        Ok(case)
    }

    /// Opens many cases with one journal write (a gallery-wide deduplication run), each at
    /// its given time; returns their ids.
    pub fn open_cases_at(&self, news: Vec<(NewCase, u64)>) -> Result<Vec<String>, CaseError> {
        let mut inner = self.write();
        let first = inner.cases.len();
        let mut cases = Vec::with_capacity(news.len());
        for (new, at) in news {
            let mut case = self.new_case(&inner, new, at)?;
            case.case_id = format!("C{:09}", first + cases.len() + 1);
            cases.push(case);
        }
        let events: Vec<Event> = cases
            .iter()
            .map(|c| Event::Opened(Box::new(c.clone())))
            .collect();
        self.journal.append_all(&events)?;
        let ids = cases.iter().map(|c| c.case_id.clone()).collect();
        for case in cases {
            inner.push(case, &self.policy);
        }
        Ok(ids)
    }

    /// Calls `f` on every case, in opening order (under the read lock: keep `f` short).
    pub fn for_each(&self, f: impl FnMut(&Case)) {
        self.read().cases.iter().for_each(f);
    }

    /// The case with this id.
    pub fn get(&self, case_id: &str) -> Option<Case> {
        let inner = self.read();
        inner.index_of(case_id).map(|i| inner.cases[i].clone())
    }

    /// Number of cases.
    pub fn len(&self) -> usize {
        self.read().cases.len()
    }

    /// Whether there are no cases.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One page of cases matching `query` at time `now`.
    pub fn list(&self, query: &CaseQuery, now: u64) -> Page {
        query.run(&self.read(), now)
    }

    /// Active and overdue case counts at `now`.
    pub fn counts(&self, now: u64) -> CaseCounts {
        let inner = self.read();
        let mut counts = CaseCounts {
            total: inner.rows.len(),
            ..CaseCounts::default()
        };
        for row in inner.rows.iter().filter(|r| !r.status.is_final()) {
            counts.active += 1;
            if row.deadline < now {
                counts.overdue += 1;
            }
        }
        counts
    }

    /// Validates and records one action under the write lock. `check` sees the case and
    /// answers the action to record (or `None` to record nothing).
    fn act<F>(&self, case_id: &str, by: &Actor, now: u64, check: F) -> Result<Case, CaseError>
    where
        F: FnOnce(&Case) -> Result<Vec<Action>, CaseError>,
    {
        let mut inner = self.write();
        let i = inner
            .index_of(case_id)
            .ok_or_else(|| CaseError::NotFound(case_id.to_owned()))?;
        let actions = check(&inner.cases[i])?;
        let entries: Vec<TrailEntry> = actions
            .into_iter()
            .map(|action| TrailEntry {
                at: now,
                by: by.clone(),
                action,
            })
            .collect();
        let events: Vec<Event> = entries
            .iter()
            .map(|entry| Event::Act {
                case_id: case_id.to_owned(),
                entry: entry.clone(),
            })
            .collect();
        self.journal.append_all(&events)?;
        for entry in entries {
            inner.apply(i, entry);
        }
        Ok(inner.cases[i].clone())
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

    /// Records that `by` opened the case page and, when the case awaits a decision and nobody
    /// else holds it, takes (or renews) it for them. Returns the case as it now stands.
    pub fn view(&self, case_id: &str, by: &Actor, now: u64) -> Result<Case, CaseError> {
        self.act(case_id, by, now, |case| {
            let mut actions = vec![Action::Viewed];
            let takeable = matches!(case.status, CaseStatus::Open | CaseStatus::Escalated);
            if takeable {
                if let Ok(Some(take)) = self.lease_action(case, by, now) {
                    actions.push(take);
                }
            }
            Ok(actions)
        })
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

    /// Gives the case back to the queue (only its holder can).
    pub fn release(&self, case_id: &str, by: &Actor, now: u64) -> Result<Case, CaseError> {
        self.act(case_id, by, now, |case| match case.holder(now) {
            Some(h) if h.key_id == by.key_id => Ok(vec![Action::Released]),
            Some(h) => Err(CaseError::TakenBy(h.name.clone())),
            None => Ok(Vec::new()),
        })
    }

    /// Records `by`'s decision under the default [`DecisionRules`] (see
    /// [`CaseStore::decide_with`]).
    pub fn decide(
        &self,
        case_id: &str,
        by: &Actor,
        decision: DecisionKind,
        text: &str,
        now: u64,
    ) -> Result<(Case, Option<CaseOutcome>), CaseError> {
        self.decide_with(case_id, by, decision, text, now, &DecisionRules::default())
    }

    /// Records `by`'s decision. The case must be open or escalated and not held by anyone
    /// else. A clearance of a case above `rules`' clearing bar, like a confirmation, waits
    /// for a second analyst's approval. Returns the case and, for a clearance that takes
    /// effect, the final outcome to hand to the engine.
    pub fn decide_with(
        &self,
        case_id: &str,
        by: &Actor,
        decision: DecisionKind,
        text: &str,
        now: u64,
        rules: &DecisionRules,
    ) -> Result<(Case, Option<CaseOutcome>), CaseError> {
        let text = comment(text)?;
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
                comment: text,
                needs_approval,
            }])
        })?;
        let outcome = case.outcome();
        Ok((case, outcome))
    }

    /// A second analyst approves a confirmed duplicate; returns the final outcome.
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cases::query::{Sort, StatusFilter};
    use crate::cases::{CaseCandidate, PersonSummary};

    pub(crate) fn person(n: u32, district: &str) -> PersonSummary {
        PersonSummary {
            reference_id: format!("P{n}"),
            request_id: format!("r{n}"),
            nik: format!("3171{n:012}"),
            name: format!("Person {n}"),
            sex: "F".into(),
            date_of_birth: "1990-01-01".into(),
            district: district.into(),
            service_point: format!("sp-{district}"),
            enrolled_at: "2026-11-25T00:00:00Z".into(),
            citizenship: "WNI".into(),
            passport_number: None,
            kitap_number: None,
            has_photo: false,
            has_signature: false,
        }
    }

    fn new_case(n: u32, score: f64, district: &str) -> NewCase {
        NewCase {
            kind: CaseKind::Biometric,
            applicant: person(n, district),
            candidates: vec![CaseCandidate {
                person: person(n + 100_000, "317101"),
                score,
                finger_scores: [Some(0.3); 10],
                iris_distances: [Some(0.2), None],
            }],
            callback_url: None,
            calibration: "test".into(),
        }
    }

    fn ana() -> Actor {
        Actor {
            owner: String::new(),
            key_id: "a".into(),
            name: "Ana".into(),
        }
    }

    fn budi() -> Actor {
        Actor {
            owner: String::new(),
            key_id: "b".into(),
            name: "Budi".into(),
        }
    }

    const T0: u64 = 1_795_000_000;

    #[test]
    fn four_eyes_workflow_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = CaseStore::open(dir.path()).unwrap();
        let id = store
            .open_case_at(new_case(1, 30.0, "317101"), T0)
            .unwrap()
            .case_id;
        assert!(matches!(
            store.open_case(NewCase {
                candidates: vec![],
                ..new_case(2, 1.0, "317101")
            }),
            Err(CaseError::NoCandidates)
        ));
        // Ana opens it and holds it; Budi cannot decide meanwhile.
        let c = store.view(&id, &ana(), T0 + 10).unwrap();
        assert_eq!(c.holder(T0 + 11).map(|a| a.name.as_str()), Some("Ana"));
        assert!(matches!(
            store.decide(&id, &budi(), DecisionKind::Clear, "no", T0 + 20),
            Err(CaseError::TakenBy(n)) if n == "Ana"
        ));
        assert!(matches!(
            store.decide(&id, &ana(), DecisionKind::Clear, "  ", T0 + 20),
            Err(CaseError::CommentRequired)
        ));
        assert!(matches!(
            store.decide(
                &id,
                &ana(),
                DecisionKind::ConfirmDuplicate {
                    duplicate_of: "P9".into()
                },
                "x",
                T0 + 20
            ),
            Err(CaseError::UnknownCandidate(_))
        ));
        let confirm = DecisionKind::ConfirmDuplicate {
            duplicate_of: "P100001".into(),
        };
        let (c, outcome) = store
            .decide(&id, &ana(), confirm.clone(), "same ridges", T0 + 30)
            .unwrap();
        assert_eq!(c.status, CaseStatus::PendingApproval);
        assert!(outcome.is_none());
        assert!(matches!(
            store.approve(&id, &ana(), "me again", T0 + 40),
            Err(CaseError::SelfApproval)
        ));
        let (c, outcome) = store.approve(&id, &budi(), "agreed", T0 + 50).unwrap();
        assert_eq!(c.status, CaseStatus::ConfirmedDuplicate);
        assert_eq!(
            outcome,
            CaseOutcome::ConfirmedDuplicate {
                duplicate_of: "P100001".into()
            }
        );
        assert!(matches!(
            store.decide(&id, &budi(), DecisionKind::Clear, "late", T0 + 60),
            Err(CaseError::WrongStatus("confirmed_duplicate"))
        ));
        store.mark_delivered(&id, &budi(), T0 + 61).unwrap();
        let before = store.get(&id).unwrap();
        drop(store);
        let again = CaseStore::open(dir.path()).unwrap();
        let after = again.get(&id).unwrap();
        assert_eq!(before, after);
        assert!(after.outcome_delivered);
        let actions: Vec<&str> = after
            .trail
            .iter()
            .map(|e| match e.action {
                Action::Viewed => "viewed",
                Action::Taken { .. } => "taken",
                Action::Decided { .. } => "decided",
                Action::Approved { .. } => "approved",
                Action::Delivered => "delivered",
                _ => "other",
            })
            .collect();
        assert_eq!(
            actions,
            ["viewed", "taken", "decided", "approved", "delivered"]
        );
        assert_eq!(after.approval.as_ref().unwrap().by.name, "Budi");
    }

    #[test]
    fn leases_lapse_and_release_and_escalation_and_return() {
        let dir = tempfile::tempdir().unwrap();
        let store = CaseStore::open(dir.path()).unwrap();
        let id = store
            .open_case_at(new_case(1, 30.0, "317101"), T0)
            .unwrap()
            .case_id;
        store.take(&id, &ana(), T0).unwrap();
        assert!(matches!(
            store.take(&id, &budi(), T0 + 1),
            Err(CaseError::TakenBy(_))
        ));
        // Budi may view (read only) without taking it.
        let c = store.view(&id, &budi(), T0 + 2).unwrap();
        assert_eq!(c.holder(T0 + 2).unwrap().key_id, "a");
        // After the lease lapses Budi takes it.
        let lapse = T0 + store.policy().lease_secs + 1;
        let c = store.take(&id, &budi(), lapse).unwrap();
        assert_eq!(c.holder(lapse).unwrap().key_id, "b");
        assert!(matches!(
            store.release(&id, &ana(), lapse),
            Err(CaseError::TakenBy(_))
        ));
        let c = store.release(&id, &budi(), lapse).unwrap();
        assert!(c.holder(lapse).is_none());
        let (c, _) = store
            .decide(&id, &ana(), DecisionKind::Escalate, "unsure", lapse + 1)
            .unwrap();
        assert_eq!(c.status, CaseStatus::Escalated);
        let (c, _) = store
            .decide(
                &id,
                &budi(),
                DecisionKind::ConfirmDuplicate {
                    duplicate_of: "P100001".into(),
                },
                "looks same",
                lapse + 2,
            )
            .unwrap();
        assert_eq!(c.status, CaseStatus::PendingApproval);
        assert!(matches!(
            store.return_case(&id, &budi(), "x", lapse + 3),
            Err(CaseError::SelfApproval)
        ));
        let c = store
            .return_case(&id, &ana(), "not convinced", lapse + 3)
            .unwrap();
        assert_eq!(c.status, CaseStatus::Open);
        let (c, outcome) = store
            .decide(
                &id,
                &ana(),
                DecisionKind::Clear,
                "different people",
                lapse + 4,
            )
            .unwrap();
        assert_eq!(c.status, CaseStatus::Cleared);
        assert_eq!(outcome, Some(CaseOutcome::Cleared));
    }

    #[test]
    fn listing_filters_sorts_pages_and_counts_overdue() {
        let dir = tempfile::tempdir().unwrap();
        let store = CaseStore::open(dir.path()).unwrap();
        let day = 86_400;
        let news = (0..30u32)
            .map(|i| {
                let district = if i % 3 == 0 { "320101" } else { "317101" };
                (
                    new_case(i, f64::from(i % 7), district),
                    T0 + u64::from(i) * day / 4,
                )
            })
            .collect();
        let ids = store.open_cases_at(news).unwrap();
        assert_eq!(ids.len(), 30);
        assert_eq!(ids[0], "C000000001");
        let now = T0 + 30 * day / 4;
        let all = store.list(
            &CaseQuery {
                limit: 100,
                ..CaseQuery::default()
            },
            now,
        );
        assert_eq!(all.total, 30);
        assert_eq!(all.cases[0].case_id, "C000000030");
        // District and score band.
        let q = CaseQuery {
            district: Some("320101".into()),
            min_score: Some(3.0),
            limit: 100,
            ..CaseQuery::default()
        };
        let page = store.list(&q, now);
        assert!(page.total > 0);
        assert!(page
            .cases
            .iter()
            .all(|c| c.new.applicant.district == "320101" && c.best_score() >= 3.0));
        let expected = (0..30u32).filter(|i| i % 3 == 0 && i % 7 >= 3).count();
        assert_eq!(page.total, expected);
        // Unknown district: nothing.
        let q = CaseQuery {
            district: Some("999999".into()),
            ..CaseQuery::default()
        };
        assert_eq!(store.list(&q, now).total, 0);
        // Sorting by score and by time left.
        let by_score = store.list(
            &CaseQuery {
                sort: Sort::Score,
                limit: 100,
                ..CaseQuery::default()
            },
            now,
        );
        assert!(by_score
            .cases
            .windows(2)
            .all(|w| w[0].best_score() >= w[1].best_score()));
        let by_deadline = store.list(
            &CaseQuery {
                sort: Sort::TimeLeft,
                limit: 100,
                ..CaseQuery::default()
            },
            now,
        );
        assert!(by_deadline
            .cases
            .windows(2)
            .all(|w| w[0].deadline_secs <= w[1].deadline_secs));
        // Paging: offset and limit, total unchanged.
        let p2 = store.list(
            &CaseQuery {
                offset: 10,
                limit: 10,
                ..CaseQuery::default()
            },
            now,
        );
        assert_eq!(p2.total, 30);
        assert_eq!(p2.cases.len(), 10);
        assert_eq!(p2.cases[0].case_id, "C000000020");
        // Date range: opened in the first day only.
        let q = CaseQuery {
            opened_from: Some(T0),
            opened_to: Some(T0 + day),
            ..CaseQuery::default()
        };
        assert_eq!(store.list(&q, now).total, 4);
        // Taken and decided cases leave the untaken view; final ones leave the active view.
        store.take("C000000030", &ana(), now).unwrap();
        store
            .decide("C000000029", &ana(), DecisionKind::Clear, "no", now)
            .unwrap();
        let q = |status| CaseQuery {
            status,
            limit: 100,
            ..CaseQuery::default()
        };
        assert_eq!(store.list(&q(StatusFilter::Taken), now).total, 1);
        assert_eq!(store.list(&q(StatusFilter::Untaken), now).total, 28);
        assert_eq!(store.list(&q(StatusFilter::Active), now).total, 29);
        assert_eq!(
            store
                .list(&q(StatusFilter::Is(CaseStatus::Cleared)), now)
                .total,
            1
        );
        assert_eq!(store.list(&q(StatusFilter::All), now).total, 30);
        // Overdue: deadlines before `now`, final cases excluded.
        let counts = store.counts(now);
        assert_eq!(counts.total, 30);
        assert_eq!(counts.active, 29);
        let overdue = store
            .list(
                &CaseQuery {
                    limit: 100,
                    ..CaseQuery::default()
                },
                now,
            )
            .cases
            .iter()
            .filter(|c| c.deadline_secs < now)
            .count();
        assert!(overdue > 0);
        assert_eq!(counts.overdue, overdue);
        // The index survives a restart.
        drop(store);
        let store = CaseStore::open(dir.path()).unwrap();
        assert_eq!(store.list(&q(StatusFilter::Taken), now).total, 1);
        assert_eq!(store.counts(now), counts);
    }
}
