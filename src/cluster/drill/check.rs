//! The drill's checks, made after the load against the log itself: every log entry is
//! replayed, in log order, through a single-node deduplicator in a temporary directory,
//! and the cluster's answers and kept verdicts are compared with it.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;
use tunggal_index::gallery::{Gallery, GalleryConfig};
use tunggal_index::search::{Deduplicator, SearchConfig, SearchVerdict};
use tunggal_index::storage::Durability;

use super::load::Answer;
use crate::cluster::wire::EnrolMessage;
use crate::cluster::Front;
use crate::engine::registry::key_of;

/// What the checks found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Checks {
    /// Entries in the log.
    pub log_entries: u64,
    /// Answered enrolments.
    pub acknowledged: u64,
    /// Answered enrolments whose log entry is missing or another request's, or answered
    /// `single` and held by no partition.
    pub acknowledged_lost: u64,
    /// Answered `single` though an earlier log entry enrolled the same person.
    pub missed_duplicates: u64,
    /// Answered `duplicate` though no earlier log entry enrolled the same person.
    pub false_duplicates: u64,
    /// Answers and kept verdicts that differ from the single-node replay (kind or
    /// candidate keys).
    pub verdicts_differing: u64,
    /// Kept verdicts compared (one per log entry that was decided).
    pub kept_verdicts_compared: u64,
    /// No difference, and something was compared.
    pub same_as_single_node: bool,
}

/// A verdict as compared: kind and candidate keys, best first.
type Compared = (String, Vec<u64>);

/// The single-node verdicts of the log's entries, in log order.
fn replay(entries: &[EnrolMessage], dir: &Path) -> anyhow::Result<Vec<Compared>> {
    let mut config = GalleryConfig::default();
    config.store.durability = Durability::NoSync;
    let calibration = crate::engine::calibrate::shipped()?;
    let gallery = Gallery::open(dir, config, Some(calibration))?;
    let dedup = Deduplicator::new(gallery, SearchConfig::default());
    let mut out = Vec::with_capacity(entries.len());
    for (seq, entry) in (1u64..).zip(entries) {
        let compared = match entry.enrolment() {
            Ok(e) => match dedup.submit(seq, &e)?.outcome.verdict {
                SearchVerdict::Single => ("single".to_owned(), Vec::new()),
                SearchVerdict::Duplicate(c) => {
                    ("duplicate".to_owned(), c.iter().map(|c| c.key).collect())
                }
                SearchVerdict::Rejected(_) => ("rejected".to_owned(), Vec::new()),
            },
            Err(_) => ("rejected".to_owned(), Vec::new()),
        };
        out.push(compared);
    }
    dedup.into_gallery().close()?;
    Ok(out)
}

/// The plain request id of a log entry (`district/service_point/request_id`).
fn plain_id(cluster_id: &str) -> &str {
    cluster_id.rsplit('/').next().unwrap_or(cluster_id)
}

/// Runs every check. `person_of` maps request ids to population persons; `scratch` is an
/// empty directory for the replay.
pub async fn check(
    front: &Front,
    answers: &[Answer],
    person_of: &HashMap<String, u64>,
    scratch: &Path,
) -> anyhow::Result<Checks> {
    let last = front.last_sequence().await?;
    let mut entries = Vec::with_capacity(usize::try_from(last)?);
    for seq in 1..=last {
        entries.push(front.log_entry(seq).await?);
    }
    let replayed = {
        let entries = entries.clone();
        let dir = scratch.to_path_buf();
        tokio::task::spawn_blocking(move || replay(&entries, &dir)).await??
    };
    let mut c = Checks {
        log_entries: last,
        acknowledged: answers.len() as u64,
        ..Checks::default()
    };
    // The first log entry of each person that a single node decided single.
    let mut first_of: HashMap<u64, u64> = HashMap::new();
    for (seq, (entry, r)) in (1u64..).zip(entries.iter().zip(&replayed)) {
        if let Some(&person) = person_of.get(plain_id(&entry.request_id)) {
            if r.0 == "single" {
                first_of.entry(person).or_insert(seq);
            }
        }
    }
    for a in answers {
        let Some(seq) = key_of(&a.reference_id) else {
            c.acknowledged_lost += 1;
            continue;
        };
        let index = usize::try_from(seq.saturating_sub(1))?;
        let (Some(entry), Some(single_node)) = (entries.get(index), replayed.get(index)) else {
            c.acknowledged_lost += 1;
            continue;
        };
        if plain_id(&entry.request_id) != a.request_id {
            c.acknowledged_lost += 1;
            continue;
        }
        if a.verdict == "single" {
            let held = front.verify(seq, &entry.enrolment()?).await?.is_some();
            c.acknowledged_lost += u64::from(!held);
        }
        let earlier = first_of.get(&a.person_id).is_some_and(|&f| f < seq);
        c.missed_duplicates += u64::from(earlier && a.verdict == "single");
        c.false_duplicates += u64::from(!earlier && a.verdict == "duplicate");
        let keys: Vec<u64> = a.candidates.iter().filter_map(|r| key_of(r)).collect();
        c.verdicts_differing += u64::from((a.verdict.clone(), keys) != *single_node);
    }
    for (entry, single_node) in entries.iter().zip(&replayed) {
        if let Some(kept) = front.stored(&entry.request_id).await? {
            c.kept_verdicts_compared += 1;
            let keys = kept.candidates.iter().map(|k| k.key).collect();
            c.verdicts_differing += u64::from((kept.verdict, keys) != *single_node);
        }
    }
    c.same_as_single_node = c.verdicts_differing == 0 && c.kept_verdicts_compared > 0;
    Ok(c)
}
