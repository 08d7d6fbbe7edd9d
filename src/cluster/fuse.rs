//! The verdict of an enrolment as a deterministic function of its shards' partial results.
//!
//! The candidates of every partition are put together and ranked as single-node ranks its
//! second stage, and the single-node decision ([`tunggal_index::search::decide`]) is taken
//! with the gallery size the partitions add up to: every enrolment below the sequence. So
//! the front-end that answers, a front-end answering a retry and the shard that owns the
//! applicant all reach the same verdict, whatever order the partials arrived in.

use tunggal_index::search::{decide, GalleryMatch, SearchConfig, SearchOutcome, SearchVerdict};

use super::wire::{Partial, StoredVerdict, VerdictCandidate};
use super::ClusterError;

/// The fused result of one enrolment.
#[derive(Debug, Clone, PartialEq)]
pub enum Fused {
    /// The probe could not be searched (the shards' shared reason).
    Rejected(String),
    /// The search outcome over the whole gallery.
    Searched(Box<SearchOutcome>),
}

impl Fused {
    /// Whether the applicant is new (to be inserted by the shard that owns it).
    pub fn is_single(&self) -> bool {
        matches!(self, Fused::Searched(o) if o.verdict == SearchVerdict::Single)
    }

    /// The verdict kept in the `VERDICT` bucket.
    pub fn stored(&self, request_id: &str, sequence: u64) -> StoredVerdict {
        let mut v = StoredVerdict {
            request_id: request_id.to_owned(),
            sequence,
            verdict: "rejected".to_owned(),
            candidates: Vec::new(),
            reason: None,
            gallery_size: 0,
            threshold: 0.0,
        };
        match self {
            Fused::Rejected(reason) => v.reason = Some(reason.clone()),
            Fused::Searched(outcome) => {
                v.gallery_size = outcome.gallery_size as u64;
                v.threshold = outcome.threshold;
                match &outcome.verdict {
                    SearchVerdict::Single => v.verdict = "single".to_owned(),
                    SearchVerdict::Duplicate(c) => {
                        v.verdict = "duplicate".to_owned();
                        v.candidates = c
                            .iter()
                            .map(|c| VerdictCandidate {
                                key: c.key,
                                score: c.fused,
                            })
                            .collect();
                    }
                    SearchVerdict::Rejected(r) => v.reason = Some(r.to_string()),
                }
            }
        }
        v
    }
}

/// Fuses the partials of one enrolment (one per shard, any order).
pub fn fuse(partials: &[Partial], config: &SearchConfig) -> Result<Fused, ClusterError> {
    let mut sorted: Vec<&Partial> = partials.iter().collect();
    sorted.sort_by_key(|p| p.shard);
    if let Some(reason) = sorted.iter().find_map(|p| p.rejected.clone()) {
        return Ok(Fused::Rejected(reason));
    }
    let gallery_size: u64 = sorted.iter().map(|p| p.partition_size).sum();
    let mut candidates = sorted
        .iter()
        .flat_map(|p| &p.candidates)
        .map(|c| c.to_match())
        .collect::<Result<Vec<GalleryMatch>, ClusterError>>()?;
    // Best first; equal scores by key, so the order does not depend on the partials'.
    candidates.sort_by(|a, b| b.fused.total_cmp(&a.fused).then(a.key.cmp(&b.key)));
    let shortlist = sorted
        .iter()
        .flat_map(|p| p.shortlist.iter().copied())
        .collect();
    let size = usize::try_from(gallery_size)
        .map_err(|_| ClusterError::Malformed(format!("gallery size {gallery_size}")))?;
    Ok(Fused::Searched(Box::new(decide(
        candidates, shortlist, size, config,
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::wire::WireMatch;

    fn partial(shard: u32, size: u64, scores: &[(u64, f32)]) -> Partial {
        Partial {
            sequence: 9,
            shard,
            shards: 2,
            partition_size: size,
            rejected: None,
            shortlist: scores.iter().map(|s| s.0).collect(),
            removed: None,
            candidates: scores
                .iter()
                .map(|&(key, fused)| WireMatch {
                    key,
                    fused,
                    stage1: 1.0,
                    fingers: Vec::new(),
                    eyes: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn partials_fuse_the_same_in_any_order_with_the_summed_gallery_size() {
        let config = SearchConfig::default();
        let a = partial(0, 3, &[(1, 30.0), (4, -2.0)]);
        let b = partial(1, 5, &[(2, 12.0), (3, 30.0)]);
        let one = fuse(&[a.clone(), b.clone()], &config).ok();
        let two = fuse(&[b, a], &config).ok();
        assert_eq!(one, two);
        let Some(Fused::Searched(out)) = one else {
            panic!("not searched: {one:?}")
        };
        assert_eq!(out.gallery_size, 8);
        let SearchVerdict::Duplicate(c) = out.verdict else {
            panic!("not a duplicate: {:?}", out.verdict)
        };
        // ln(8 / 1e-3) ≈ 9.0: keys 1 and 3 (30) and 2 (12) pass, 4 does not.
        assert_eq!(c.iter().map(|c| c.key).collect::<Vec<_>>(), vec![1, 3, 2]);
    }

    #[test]
    fn a_rejection_from_any_shard_rejects() {
        let mut a = partial(0, 3, &[]);
        a.rejected = Some("too_few_usable_fingers".into());
        let b = partial(1, 5, &[]);
        let fused = fuse(&[b, a], &SearchConfig::default()).ok();
        assert_eq!(
            fused,
            Some(Fused::Rejected("too_few_usable_fingers".into()))
        );
    }
}
