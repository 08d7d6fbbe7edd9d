//! Cases as rows of the state store: `cases` (one row per case: the columns the queue
//! filters and sorts on, the workflow state, and the engine's hand-over as JSON) and
//! `case_trail` (one row per action, oldest first).

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::model::{Case, CaseStatus, Lease, TrailEntry};
use super::NewCase;
use crate::state::{StateError, StateStore};

/// The columns of a case row, in the order [`decode`] reads them.
pub(super) const COLUMNS: &str = "seq, status, opened_at, opened_secs, deadline_secs, \
    lease_key_id, lease_name, lease_until, decision, approval, outcome_delivered, new_case, \
    strength";

/// The case id of sequence number `seq`.
pub(super) fn case_id(seq: i64) -> String {
    format!("C{seq:09}")
}

/// The sequence number of `case_id`, if it is one this store gives out.
pub(super) fn seq_of(case_id: &str) -> Option<i64> {
    let digits = case_id.strip_prefix('C')?;
    if digits.len() < 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq: i64 = digits.parse().ok()?;
    (seq > 0 && case_id == self::case_id(seq)).then_some(seq)
}

/// The raw columns of one case row.
pub(super) struct Raw {
    seq: i64,
    status: String,
    opened_at: String,
    opened_secs: i64,
    deadline_secs: i64,
    lease_key_id: Option<String>,
    lease_name: Option<String>,
    lease_until: i64,
    decision: Option<String>,
    approval: Option<String>,
    outcome_delivered: bool,
    new_case: String,
    strength: i64,
}

impl Raw {
    /// The case's sequence number.
    pub(super) fn seq(&self) -> i64 {
        self.seq
    }
}

/// Reads a row selected with [`COLUMNS`].
pub(super) fn raw(r: &Row<'_>) -> rusqlite::Result<Raw> {
    Ok(Raw {
        seq: r.get(0)?,
        status: r.get(1)?,
        opened_at: r.get(2)?,
        opened_secs: r.get(3)?,
        deadline_secs: r.get(4)?,
        lease_key_id: r.get(5)?,
        lease_name: r.get(6)?,
        lease_until: r.get(7)?,
        decision: r.get(8)?,
        approval: r.get(9)?,
        outcome_delivered: r.get(10)?,
        new_case: r.get(11)?,
        strength: r.get(12)?,
    })
}

/// A stored value that does not decode: the row is damaged.
fn damaged(what: &str, seq: i64) -> StateError {
    StateError::Missing(format!("a valid {what} for case {}", case_id(seq)))
}

/// The case of a raw row with `trail` (its entries, oldest first).
pub(super) fn decode(raw: Raw, trail: Vec<TrailEntry>) -> Result<Case, StateError> {
    let status = CaseStatus::parse(&raw.status).ok_or_else(|| damaged("status", raw.seq))?;
    let new: NewCase = serde_json::from_str(&raw.new_case)?;
    let lease = match (raw.lease_key_id, raw.lease_name) {
        (Some(key_id), Some(name)) if raw.lease_until > 0 => Some(Lease {
            // The lease is compared by key id only; its owner is not stored.
            by: super::Actor {
                key_id,
                name,
                owner: String::new(),
            },
            until: raw.lease_until as u64,
        }),
        _ => None,
    };
    let entry = |s: Option<String>| -> Result<Option<TrailEntry>, StateError> {
        Ok(s.as_deref().map(serde_json::from_str).transpose()?)
    };
    Ok(Case {
        case_id: case_id(raw.seq),
        opened_at: raw.opened_at,
        status,
        new,
        opened_secs: raw.opened_secs as u64,
        deadline_secs: raw.deadline_secs as u64,
        lease,
        decision: entry(raw.decision)?,
        approval: entry(raw.approval)?,
        outcome_delivered: raw.outcome_delivered,
        strength: u32::try_from(raw.strength).unwrap_or(0),
        trail,
    })
}

/// The sequence number the next case gets.
pub(super) fn next_seq(store: &StateStore, conn: &Connection) -> Result<i64, StateError> {
    let last: Option<i64> = conn
        .query_row("SELECT max(seq) FROM cases", [], |r| r.get(0))
        .map_err(|e| store.error(e))?;
    Ok(last.unwrap_or(0) + 1)
}

/// Inserts `case` (its id names its sequence number) with its whole trail.
pub(super) fn insert(store: &StateStore, conn: &Connection, case: &Case) -> Result<(), StateError> {
    let seq = seq_of(&case.case_id).ok_or_else(|| StateError::Missing(case.case_id.clone()))?;
    let a = &case.new.applicant;
    let kind = serde_json::to_value(case.new.kind)?;
    let new_case = serde_json::to_string(&case.new)?;
    conn.prepare_cached(
        "INSERT INTO cases (seq, kind, status, final, district, service_point, applicant, \
         opened_at, opened_secs, deadline_secs, score, new_case, strength) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            seq,
            kind.as_str().unwrap_or_default(),
            case.status.as_str(),
            case.status.is_final(),
            a.district,
            a.service_point,
            a.reference_id,
            case.opened_at,
            case.opened_secs as i64,
            case.deadline_secs as i64,
            case.best_score(),
            new_case,
            case.strength,
        ])
    })
    .map_err(|e| store.error(e))?;
    super::search::index(store, conn, seq, &case.new)?;
    super::history::index(store, conn, seq, &case.new)?;
    for entry in &case.trail {
        append_trail(store, conn, seq, entry)?;
    }
    save_state(store, conn, seq, case)
}

/// Writes the workflow state of `case` (status, lease, decision, approval, delivery).
pub(super) fn save_state(
    store: &StateStore,
    conn: &Connection,
    seq: i64,
    case: &Case,
) -> Result<(), StateError> {
    let decision = case
        .decision
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let approval = case
        .approval
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    conn.prepare_cached(
        "UPDATE cases SET status = ?2, final = ?3, lease_key_id = ?4, lease_name = ?5, \
         lease_until = ?6, decision = ?7, approval = ?8, outcome_delivered = ?9 \
         WHERE seq = ?1",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            seq,
            case.status.as_str(),
            case.status.is_final(),
            case.lease.as_ref().map(|l| l.by.key_id.as_str()),
            case.lease.as_ref().map(|l| l.by.name.as_str()),
            case.lease.as_ref().map_or(0, |l| l.until as i64),
            decision,
            approval,
            case.outcome_delivered,
        ])
    })
    .map_err(|e| store.error(e))?;
    Ok(())
}

/// The name of an action as stored in `case_trail.action` (its `action` tag).
fn action_name(entry: &TrailEntry) -> Result<String, StateError> {
    let v = serde_json::to_value(&entry.action)?;
    Ok(v.get("action")
        .and_then(|a| a.as_str())
        .unwrap_or_default()
        .to_owned())
}

/// Appends one entry to the trail of case `seq`.
pub(super) fn append_trail(
    store: &StateStore,
    conn: &Connection,
    seq: i64,
    entry: &TrailEntry,
) -> Result<(), StateError> {
    let detail = serde_json::to_string(entry)?;
    let action = action_name(entry)?;
    conn.prepare_cached(
        "INSERT INTO case_trail (case_seq, at, actor_key_id, actor_name, action, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            seq,
            entry.at as i64,
            entry.by.key_id,
            entry.by.name,
            action,
            detail,
        ])
    })
    .map_err(|e| store.error(e))?;
    Ok(())
}

/// The trail of case `seq`, oldest first.
pub(super) fn trail(
    store: &StateStore,
    conn: &Connection,
    seq: i64,
) -> Result<Vec<TrailEntry>, StateError> {
    let mut stmt = conn
        .prepare_cached("SELECT detail FROM case_trail WHERE case_seq = ?1 ORDER BY id")
        .map_err(|e| store.error(e))?;
    let rows = stmt
        .query_map([seq], |r| r.get::<_, String>(0))
        .map_err(|e| store.error(e))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(serde_json::from_str(&row.map_err(|e| store.error(e))?)?);
    }
    Ok(out)
}

/// The case `seq` with its trail, if there is one.
pub(super) fn load(
    store: &StateStore,
    conn: &Connection,
    seq: i64,
) -> Result<Option<Case>, StateError> {
    let raw = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM cases WHERE seq = ?1"))
        .and_then(|mut stmt| stmt.query_row([seq], raw).optional())
        .map_err(|e| store.error(e))?;
    let Some(raw) = raw else {
        return Ok(None);
    };
    let trail = trail(store, conn, raw.seq)?;
    decode(raw, trail).map(Some)
}

/// Calls `f` on every case in opening order, each with its trail: one pass over `cases` and
/// one over `case_trail`, merged, so no more than one case is held at a time.
pub(super) fn for_each(
    store: &StateStore,
    conn: &Connection,
    mut f: impl FnMut(&Case),
) -> Result<(), StateError> {
    let err = |e| store.error(e);
    let mut cases = conn
        .prepare(&format!("SELECT {COLUMNS} FROM cases ORDER BY seq"))
        .map_err(err)?;
    let mut trail = conn
        .prepare("SELECT case_seq, detail FROM case_trail ORDER BY case_seq, id")
        .map_err(err)?;
    let mut entries = trail
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .map_err(err)?
        .peekable();
    let rows = cases.query_map([], raw).map_err(err)?;
    for row in rows {
        let raw = row.map_err(err)?;
        let mut mine = Vec::new();
        loop {
            match entries.peek() {
                Some(Ok((seq, _))) if *seq < raw.seq => {
                    entries.next();
                }
                Some(Ok((seq, _))) if *seq == raw.seq => {
                    if let Some(Ok((_, detail))) = entries.next() {
                        mine.push(serde_json::from_str(&detail)?);
                    }
                }
                Some(Err(_)) => {
                    if let Some(Err(e)) = entries.next() {
                        return Err(err(e));
                    }
                }
                _ => break,
            }
        }
        f(&decode(raw, mine)?);
    }
    Ok(())
}
