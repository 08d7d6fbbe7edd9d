//! The front-end side of the log entries that are not enrolments: a person's deletion and
//! an analyst's clearing of an applicant held back as a duplicate. Both are published to
//! `ENROL` like an enrolment, so every shard replica applies them in log order
//! ([`super::apply`]): every search of an entry after a deletion's sequence misses the
//! person, every search after a clearing's finds the applicant.

use std::sync::atomic::{AtomicU64, Ordering};

use super::topology::deleted_key;
use super::wire::{ClearEntry, Control, DeleteEntry, LogEntry, VerdictCandidate};
use super::{nats, ClusterError, Front, Fused};
use tunggal_index::search::SearchVerdict;

/// What a deletion found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The person was in the gallery and is removed.
    Removed,
    /// A deletion before this one removed the person.
    DeletedBefore,
    /// Nobody is in the gallery under the key (unknown, or an applicant held back).
    Absent,
}

/// What the clearing of an applicant found.
#[derive(Debug, Clone, PartialEq)]
pub struct Cleared {
    /// The clearing's log sequence.
    pub sequence: u64,
    /// The applicant's person key.
    pub key: u64,
    /// The persons above the threshold at the clearing's sequence, best first: the
    /// applicant's last check (matches other than the ones the analysts cleared it against
    /// are new suspected pairs).
    pub matches: Vec<VerdictCandidate>,
}

/// A request id for an entry the caller gave none for: unique per process and call.
pub fn fresh_request_id(kind: &str, key: u64) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{kind}/{key}/{}-{}-{}",
        std::process::id(),
        crate::clock::now_secs(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn body<T: serde::Serialize>(entry: &T) -> Result<Vec<u8>, ClusterError> {
    serde_json::to_vec(entry).map_err(|e| ClusterError::Malformed(e.to_string()))
}

impl Front {
    /// Deletes the person `key` through the log (`request_id` makes a retry inside the
    /// log's duplicate window the same entry). Answers once the shard owning the person has
    /// said whether it held them; a removal is marked in `VERDICT`, so a later deletion or
    /// verification of the person answers [`Deletion::DeletedBefore`].
    pub async fn delete(&self, key: u64, request_id: &str) -> Result<Deletion, ClusterError> {
        let entry = Control::Delete(DeleteEntry {
            request_id: request_id.to_owned(),
            key,
        });
        let sequence = self.publish_entry(request_id, body(&entry)?).await?;
        let partials = self.partials(sequence).await?;
        if partials.iter().any(|p| p.removed == Some(true)) {
            let marker = deleted_key(key);
            let verdicts = &self.topology().verdicts;
            if let Err(e) = verdicts.create(&marker, sequence.to_string().into()).await {
                if e.kind() != async_nats::jetstream::kv::CreateErrorKind::AlreadyExists {
                    return Err(nats(e));
                }
            }
            return Ok(Deletion::Removed);
        }
        Ok(if self.was_deleted(key).await? {
            Deletion::DeletedBefore
        } else {
            Deletion::Absent
        })
    }

    /// Whether a deletion removed the person `key`.
    pub async fn was_deleted(&self, key: u64) -> Result<bool, ClusterError> {
        let marker = deleted_key(key);
        let found = self.topology().verdicts.get(&marker).await.map_err(nats)?;
        Ok(found.is_some())
    }

    /// Inserts the applicant `key` (an enrolment of the log, held back as a duplicate and
    /// cleared by analysts) through the log: searched at the clearing's sequence, then
    /// inserted under `key` by the shard owning it. A clearing of a person already in the
    /// gallery changes nothing.
    pub async fn clear(&self, key: u64, request_id: &str) -> Result<Cleared, ClusterError> {
        let LogEntry::Enrol(applicant) = self.entry(key).await? else {
            return Err(ClusterError::Malformed(format!(
                "log entry {key} is not an enrolment: nobody to clear"
            )));
        };
        let entry = Control::Clear(ClearEntry {
            request_id: request_id.to_owned(),
            key,
            applicant,
        });
        let sequence = self.publish_entry(request_id, body(&entry)?).await?;
        let partials = self.partials(sequence).await?;
        let matches = match super::fuse(&partials, self.search_config())? {
            Fused::Searched(outcome) => match outcome.verdict {
                SearchVerdict::Duplicate(c) => c
                    .iter()
                    .filter(|c| c.key != key)
                    .map(|c| VerdictCandidate {
                        key: c.key,
                        score: c.fused,
                    })
                    .collect(),
                _ => Vec::new(),
            },
            Fused::Rejected(_) => Vec::new(),
        };
        Ok(Cleared {
            sequence,
            key,
            matches,
        })
    }
}
