//! The case export admins download: one JSON object per case and line (JSON lines), with
//! the pair, the scores, the decision with its reason and comment, who decided and approved
//! (key ids) and when (RFC 3339 UTC).

use rusqlite::types::Value;
use rusqlite::Connection;
use serde::Serialize;
use utoipa::ToSchema;

use super::model::{Action, Case, CaseStatus, DecisionKind, TrailEntry};
use super::rows;
use crate::clock::rfc3339;
use crate::state::{StateError, StateStore};

/// Which cases an export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportStatus {
    /// Final cases: confirmed duplicates and cleared cases.
    Decided,
    /// One workflow status.
    Is(CaseStatus),
    /// Every case.
    All,
}

impl ExportStatus {
    /// Parses `decided`, `all` or a status name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "decided" => Some(Self::Decided),
            "all" => Some(Self::All),
            other => CaseStatus::parse(other).map(Self::Is),
        }
    }
}

/// One line of the export.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ExportRow {
    /// Case id.
    pub case_id: String,
    /// `biometric`, `nik_conflict` or `gallery_pair`.
    pub kind: String,
    /// Workflow status.
    pub status: String,
    /// The applicant's reference id.
    pub applicant: String,
    /// The candidate of the pair: the confirmed duplicate, else the best candidate.
    pub candidate: String,
    /// Fused score of that candidate.
    pub score: f64,
    /// Fused score of the best candidate.
    pub best_score: f64,
    /// Strong fingers and eyes of the best candidate (0 for cases of older releases).
    pub strength: u32,
    /// Matcher score per finger position 1–10 of the pair (`null`: a side lacks it).
    pub finger_scores: Vec<Option<f32>>,
    /// Normalised iris distance per eye (right, left) of the pair.
    pub iris_distances: Vec<Option<f32>>,
    /// `confirm_duplicate`, `clear` or `escalate`; `null` before any decision.
    pub decision: Option<String>,
    /// The decision's reason (`same_person`, `twins`, `family_member`, `data_entry_error`,
    /// `fraud_suspected`, `other`); `null` for decisions of older releases.
    pub reason: Option<String>,
    /// The decision's comment.
    pub comment: Option<String>,
    /// Key id of the analyst who decided.
    pub decided_by: Option<String>,
    /// When the decision was recorded.
    pub decided_at: Option<String>,
    /// Key id of the analyst who approved the decision.
    pub approved_by: Option<String>,
    /// When it was approved.
    pub approved_at: Option<String>,
    /// The approval's comment.
    pub approval_comment: Option<String>,
    /// When the case was opened.
    pub opened_at: String,
    /// When its final outcome took effect.
    pub closed_at: Option<String>,
}

impl ExportRow {
    /// The export line of `case`.
    pub fn of(case: &Case) -> Self {
        let decided = case.decision.as_ref();
        let (decision, reason, comment) = match decided.map(|d| &d.action) {
            Some(Action::Decided {
                decision,
                reason,
                comment,
                ..
            }) => {
                let name = match decision {
                    DecisionKind::ConfirmDuplicate { .. } => "confirm_duplicate",
                    DecisionKind::Clear => "clear",
                    DecisionKind::Escalate => "escalate",
                };
                (
                    Some(name.to_owned()),
                    reason.map(|r| r.as_str().to_owned()),
                    Some(comment.clone()),
                )
            }
            _ => (None, None, None),
        };
        let duplicate_of = match decided.map(|d| &d.action) {
            Some(Action::Decided {
                decision: DecisionKind::ConfirmDuplicate { duplicate_of },
                ..
            }) => Some(duplicate_of.as_str()),
            _ => None,
        };
        let pair = duplicate_of
            .and_then(|r| {
                case.new
                    .candidates
                    .iter()
                    .find(|c| c.person.reference_id == r)
            })
            .or(case.new.candidates.first());
        let approval_comment = match case.approval.as_ref().map(|a| &a.action) {
            Some(Action::Approved { comment }) => Some(comment.clone()),
            _ => None,
        };
        let at = |e: Option<&TrailEntry>| e.map(|e| rfc3339(e.at));
        let by = |e: Option<&TrailEntry>| e.map(|e| e.by.key_id.clone());
        Self {
            case_id: case.case_id.clone(),
            kind: serde_json::to_value(case.kind())
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            status: case.status.as_str().to_owned(),
            applicant: case.new.applicant.reference_id.clone(),
            candidate: pair
                .map(|c| c.person.reference_id.clone())
                .unwrap_or_default(),
            score: pair.map_or(0.0, |c| c.score),
            best_score: case.best_score(),
            strength: case.strength,
            finger_scores: pair.map(|c| c.finger_scores.to_vec()).unwrap_or_default(),
            iris_distances: pair.map(|c| c.iris_distances.to_vec()).unwrap_or_default(),
            decision,
            reason,
            comment,
            decided_by: by(decided),
            decided_at: at(decided),
            approved_by: by(case.approval.as_ref()),
            approved_at: at(case.approval.as_ref()),
            approval_comment,
            opened_at: case.opened_at.clone(),
            closed_at: case.closed_secs().map(rfc3339),
        }
    }
}

/// Cases read from SQLite per chunk of a streamed export.
pub const EXPORT_CHUNK: usize = 1_000;

/// One chunk of an export, in case order.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportChunk {
    /// The lines of the chunk's cases that pass the filters.
    pub rows: Vec<ExportRow>,
    /// The sequence number of the last case read (kept or not): the next chunk starts
    /// after it. `None` when no case was read.
    pub last_seq: Option<i64>,
    /// Whether the export is complete (fewer cases than asked for were read).
    pub done: bool,
}

/// The export lines of the cases of `status` decided at or after `since` (seconds since the
/// Unix epoch; a case without a decision has none) whose sequence number is above `after`,
/// reading at most `limit` cases in sequence order: one seek of the status's index (or the
/// primary key) and `limit` rows, whatever the number of cases.
pub(super) fn export_chunk(
    store: &StateStore,
    conn: &Connection,
    status: ExportStatus,
    since: Option<u64>,
    after: i64,
    limit: usize,
) -> Result<ExportChunk, StateError> {
    let err = |e| store.error(e);
    let (cond, mut args) = match status {
        ExportStatus::Decided => ("WHERE final = 1 AND seq > ?", vec![]),
        ExportStatus::Is(s) => (
            "WHERE status = ? AND seq > ?",
            vec![Value::Text(s.as_str().to_owned())],
        ),
        ExportStatus::All => ("WHERE seq > ?", vec![]),
    };
    args.push(Value::Integer(after));
    args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {} FROM cases {cond} ORDER BY seq LIMIT ?",
            rows::COLUMNS
        ))
        .map_err(err)?;
    let raws = stmt
        .query_map(rusqlite::params_from_iter(args.iter()), rows::raw)
        .map_err(err)?;
    let mut out = Vec::new();
    let (mut read, mut last_seq) = (0usize, None);
    for raw in raws {
        let raw = raw.map_err(err)?;
        read += 1;
        last_seq = Some(raw.seq());
        let trail = rows::trail(store, conn, raw.seq())?;
        let case = rows::decode(raw, trail)?;
        let decided_at = case.decision.as_ref().map(|d| d.at);
        if since.is_some_and(|s| decided_at.is_none_or(|at| at < s)) {
            continue;
        }
        out.push(ExportRow::of(&case));
    }
    Ok(ExportChunk {
        rows: out,
        last_seq,
        done: read < limit,
    })
}

/// The export lines of the cases of `status` decided at or after `since`, oldest case
/// first, collected chunk by chunk (tests and small exports; the HTTP export streams the
/// chunks instead).
pub(super) fn export(
    store: &StateStore,
    conn: &Connection,
    status: ExportStatus,
    since: Option<u64>,
) -> Result<Vec<ExportRow>, StateError> {
    let mut out = Vec::new();
    let mut after = i64::MIN;
    loop {
        let chunk = export_chunk(store, conn, status, since, after, EXPORT_CHUNK)?;
        out.extend(chunk.rows);
        match chunk.last_seq {
            Some(seq) if !chunk.done => after = seq,
            _ => return Ok(out),
        }
    }
}
