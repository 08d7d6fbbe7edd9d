//! A partition's side of every search: the partial result of an enrolment on the log, of an
//! identification, and the 1:1 comparison of a verification. Stage 1 and stage 2 run exactly
//! as on a single node (`search::check`, `stage1::scan`, `second_stage`), keeping every
//! second-stage candidate: the threshold depends on the whole gallery's size, so the
//! decision is taken after the partials are fused ([`super::fuse`]).

use tunggal_index::gallery::{Gallery, GalleryError, PreparedPerson};
use tunggal_index::search::{
    check, scorer, second_stage, stage1, stage2, GalleryMatch, SearchConfig, Stage1Probe,
};
use tunggal_index::storage::Snapshot;

use super::wire::{EnrolMessage, Partial, WireMatch};
use super::ClusterError;

/// Where a partial result belongs: the enrolment's stream sequence (0 for an
/// identification) and the shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// Stream sequence of the enrolment searched (0 for an identification).
    pub sequence: u64,
    /// Shard index.
    pub shard: u32,
    /// Shard count.
    pub shards: u32,
}

/// Searches the partition for the enrolment at `place.sequence`: the partial result, and the
/// prepared person when it could be searched.
pub fn search_partition(
    gallery: &Gallery,
    config: &SearchConfig,
    sequence: u64,
    shard: u32,
    shards: u32,
    message: Result<EnrolMessage, String>,
) -> Result<(Partial, Option<PreparedPerson>), ClusterError> {
    let place = Place {
        sequence,
        shard,
        shards,
    };
    search_person(gallery, config, place, sequence, message)
}

/// Searches the partition for the entry at `place.sequence` whose person key is `key` (an
/// enrolment's own sequence, or a cleared applicant's key): the partial result, and the
/// prepared person when it could be searched. The record under `key`, if the partition
/// holds it (a replica that inserted the person before a crash, or a cleared applicant
/// inserted already), is left out of the search and the partition size.
pub fn search_person(
    gallery: &Gallery,
    config: &SearchConfig,
    place: Place,
    key: u64,
    message: Result<EnrolMessage, String>,
) -> Result<(Partial, Option<PreparedPerson>), ClusterError> {
    let snap = gallery.snapshot();
    let own = snap.get(key).map_err(GalleryError::from)?.is_some();
    search_snapshot(gallery, &snap, config, place, message, own.then_some(key))
}

/// Searches the partition for an identification's probe (nothing is inserted).
pub fn identify_partition(
    gallery: &Gallery,
    config: &SearchConfig,
    shard: u32,
    shards: u32,
    message: Result<EnrolMessage, String>,
) -> Result<Partial, ClusterError> {
    let snap = gallery.snapshot();
    let place = Place {
        sequence: 0,
        shard,
        shards,
    };
    let config = config.for_identification();
    search_snapshot(gallery, &snap, &config, place, message, None).map(|(p, _)| p)
}

/// The search of one probe against `snap`; `own`: the key of the applicant's own record,
/// left out.
fn search_snapshot(
    gallery: &Gallery,
    snap: &Snapshot<'_>,
    config: &SearchConfig,
    place: Place,
    message: Result<EnrolMessage, String>,
    own: Option<u64>,
) -> Result<(Partial, Option<PreparedPerson>), ClusterError> {
    let mut partial = Partial {
        sequence: place.sequence,
        shard: place.shard,
        shards: place.shards,
        partition_size: (snap.len() - usize::from(own.is_some())) as u64,
        rejected: None,
        shortlist: Vec::new(),
        candidates: Vec::new(),
        removed: None,
    };
    let prepared = match admissible(gallery, config, place.sequence, message)? {
        Ok(p) => p,
        Err(reason) => {
            partial.rejected = Some(reason);
            return Ok((partial, None));
        }
    };
    let query = Stage1Probe::new(
        &prepared.record,
        gallery.preparer().iris(),
        config.iris_gate,
    )?;
    let k = config.shortlist + usize::from(own.is_some());
    let mut hits = stage1::scan(snap, &[query], &scorer(gallery), k)?
        .pop()
        .unwrap_or_default();
    if let Some(own) = own {
        hits.retain(|h| h.key != own);
    }
    hits.truncate(config.shortlist);
    let candidates = second_stage(gallery, snap, &prepared, &hits)?;
    partial.shortlist = hits.iter().map(|h| h.key).collect();
    partial.candidates = candidates.iter().map(WireMatch::from).collect();
    Ok((partial, Some(prepared)))
}

/// The person of `message` prepared for the gallery, or the reason every shard rejects it
/// with (the same on every shard: malformed, not preparable, too few usable fingers).
pub fn admissible(
    gallery: &Gallery,
    config: &SearchConfig,
    sequence: u64,
    message: Result<EnrolMessage, String>,
) -> Result<Result<PreparedPerson, String>, ClusterError> {
    let enrolment = match message.and_then(|m| m.enrolment().map_err(|e| e.to_string())) {
        Ok(e) => e,
        Err(detail) => {
            tracing::warn!(sequence, %detail, "malformed probe");
            return Ok(Err("malformed_enrolment".to_owned()));
        }
    };
    let prepared = match gallery.prepare(&enrolment) {
        Ok(p) => p,
        Err(GalleryError::InvalidEnrolment(detail)) => {
            tracing::warn!(sequence, %detail, "a probe that cannot be prepared");
            return Ok(Err("invalid_enrolment".to_owned()));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(r) = check(&prepared, config) {
        return Ok(Err(crate::engine::rejection_reason(&r).to_owned()));
    }
    Ok(Ok(prepared))
}

/// The 1:1 comparison of a verification's probe with the person `key` of the partition, as
/// a single node compares them; `None` when the partition does not hold `key`.
pub fn verify_partition(
    gallery: &Gallery,
    config: &SearchConfig,
    key: u64,
    message: &EnrolMessage,
) -> Result<Option<GalleryMatch>, ClusterError> {
    let Some(stored) = gallery.get(key)? else {
        return Ok(None);
    };
    let prepared = gallery.prepare(&message.enrolment()?)?;
    let query = Stage1Probe::new(
        &prepared.record,
        gallery.preparer().iris(),
        config.iris_gate,
    )?;
    let hit = scorer(gallery).score_full(&query, &stored.record)?;
    Ok(Some(stage2::compare(
        gallery.preparer().matcher(),
        gallery.calibration(),
        &prepared.fingers,
        &hit,
        &stored.fingers,
    )))
}
