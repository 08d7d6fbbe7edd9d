//! The case journal of older releases (`cases.jsonl`: CRC-guarded JSON lines, one event per
//! line) and its migration into the state store (`tunggal migrate`).

use rusqlite::Transaction;
use serde::{Deserialize, Serialize};

use super::model::{Action, Actor, Case, CasePolicy, TrailEntry};
use super::rows;
use crate::state::{StateError, StateStore};

/// File name of the case journal of older releases.
pub const CASES_FILE: &str = "cases.jsonl";

/// One line of the case journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A case was opened (its trail empty).
    Opened(Box<Case>),
    /// An action on an earlier case.
    Act {
        /// The case.
        case_id: String,
        /// The action.
        #[serde(flatten)]
        entry: TrailEntry,
    },
}

/// Replays the journal's `events` into `tx`: every case keeps its id, state and trail (the
/// opening becomes the first trail row); a case already in the store (an earlier, interrupted
/// migration) is left as it is. `policy` gives the deadline of cases journalled without one.
/// Returns (records, cases inserted).
pub fn migrate_journal(
    store: &StateStore,
    tx: &Transaction<'_>,
    events: Vec<Event>,
    policy: &CasePolicy,
) -> Result<(usize, usize), StateError> {
    let records = events.len();
    let mut inserted = 0;
    // Sequence numbers of the cases this run inserts (an action is replayed only on them).
    let mut fresh = std::collections::HashSet::new();
    for event in events {
        match event {
            Event::Opened(case) => {
                let mut case = *case;
                let Some(seq) = rows::seq_of(&case.case_id) else {
                    return Err(StateError::Missing(format!(
                        "a valid case id (journal has {:?})",
                        case.case_id
                    )));
                };
                if rows::load(store, tx, seq)?.is_some() {
                    continue;
                }
                if case.opened_secs == 0 {
                    case.opened_secs = crate::clock::parse_rfc3339(&case.opened_at).unwrap_or(0);
                }
                if case.deadline_secs == 0 {
                    case.deadline_secs = policy.deadline.deadline(case.opened_secs);
                }
                case.strength = super::strength::of_case(&case.new);
                let trail = std::mem::take(&mut case.trail);
                case.trail.push(TrailEntry {
                    at: case.opened_secs,
                    by: Actor::engine(),
                    action: Action::Opened,
                });
                rows::insert(store, tx, &case)?;
                for entry in trail {
                    apply(store, tx, seq, entry)?;
                }
                fresh.insert(seq);
                inserted += 1;
            }
            Event::Act { case_id, entry } => {
                // An action on a case the journal never opened was ignored by the release that
                // wrote it; so it is here.
                if let Some(seq) = rows::seq_of(&case_id).filter(|s| fresh.contains(s)) {
                    apply(store, tx, seq, entry)?;
                }
            }
        }
    }
    Ok((records, inserted))
}

/// Applies one journalled action to the stored case `seq`.
fn apply(
    store: &StateStore,
    tx: &Transaction<'_>,
    seq: i64,
    entry: TrailEntry,
) -> Result<(), StateError> {
    let Some(mut case) = rows::load(store, tx, seq)? else {
        return Ok(());
    };
    rows::append_trail(store, tx, seq, &entry)?;
    case.apply(entry);
    rows::save_state(store, tx, seq, &case)
}
