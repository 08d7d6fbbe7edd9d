//! Bulk loading: many validated records enrolled without deduplication (a legacy gallery
//! whose doubles `dedup-gallery` finds later), with one registry write per batch.
//!
//! The crash-consistency order is that of a single enrolment, per batch: the records'
//! submitted finger and eye images (one synced append to the image store, as an HTTP
//! enrolment keeps them, `engine/images.rs`), intents (one fsync), gallery inserts (one
//! batch, one fsync), outcomes (one fsync). A crash inside a batch is
//! settled on the next open (inserted keys roll forward, the rest are dropped), and a resumed
//! import skips every record whose `request_id` the registry already holds.

use rayon::prelude::*;
use tunggal_index::gallery::PreparedPerson;
use tunggal_index::search;

use super::registry::Outcome;
use super::{convert, unavailable, GalleryEngine};
use crate::enrolment::record::EnrolmentRecord;
use crate::enrolment::EngineError;

/// What a bulk load did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkStats {
    /// Records enrolled.
    pub imported: usize,
    /// Records already in the registry (same service point and `request_id`), skipped.
    pub already_present: usize,
    /// Records without enough usable templates, skipped.
    pub unusable: usize,
}

impl std::ops::AddAssign for BulkStats {
    fn add_assign(&mut self, o: Self) {
        self.imported += o.imported;
        self.already_present += o.already_present;
        self.unusable += o.unusable;
    }
}

/// Records a bulk load could not use: index in the input and rejection reason code.
pub type Unusable = Vec<(usize, &'static str)>;

impl GalleryEngine {
    /// Enrols `records` without searching them (see the module documentation).
    pub fn bulk_enrol(&self, records: &[EnrolmentRecord]) -> Result<BulkStats, EngineError> {
        self.bulk_enrol_detailed(records).map(|(stats, _)| stats)
    }

    /// [`GalleryEngine::bulk_enrol`], also naming each unusable record: its index in
    /// `records` and its rejection reason code.
    pub fn bulk_enrol_detailed(
        &self,
        records: &[EnrolmentRecord],
    ) -> Result<(BulkStats, Unusable), EngineError> {
        let prepared = self.bulk_prepare(records);
        self.bulk_commit(records, prepared)
    }

    /// The first half of [`GalleryEngine::bulk_enrol_detailed`]: skips the records the
    /// registry already holds and prepares the others (in parallel), setting aside those
    /// without enough usable templates. Writes nothing, so a caller may prepare the next
    /// chunk while [`GalleryEngine::bulk_commit`] writes the previous one.
    pub fn bulk_prepare(&self, records: &[EnrolmentRecord]) -> BulkPrepared {
        let mut already_present = 0;
        let fresh: Vec<(usize, &EnrolmentRecord)> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                let o = &r.origin;
                let known = self
                    .registry()
                    .by_request(&o.district, &o.service_point, &r.request_id)
                    .is_some();
                already_present += usize::from(known);
                !known
            })
            .collect();
        let config = *self.search_config();
        let prepared: Vec<Result<PreparedPerson, &'static str>> = fresh
            .par_iter()
            .map(|(_, r)| {
                let p = self
                    .gallery()
                    .prepare(&convert::enrolment(&r.probe))
                    .map_err(|_| "unusable_templates")?;
                match search::check(&p, &config) {
                    Some(rejection) => Err(super::rejection_reason(&rejection)),
                    None => Ok(p),
                }
            })
            .collect();
        let mut unusable = Vec::new();
        let usable = fresh
            .into_iter()
            .zip(prepared)
            .filter_map(|((i, _), p)| match p {
                Ok(p) => Some((i, p)),
                Err(reason) => {
                    unusable.push((i, reason));
                    None
                }
            })
            .collect();
        BulkPrepared {
            already_present,
            usable,
            unusable,
        }
    }

    /// The second half of [`GalleryEngine::bulk_enrol_detailed`]: enrols the usable records
    /// of `prepared` (made from `records` by [`GalleryEngine::bulk_prepare`]) with one
    /// intents write, one gallery batch and one outcomes write.
    pub fn bulk_commit(
        &self,
        records: &[EnrolmentRecord],
        prepared: BulkPrepared,
    ) -> Result<(BulkStats, Unusable), EngineError> {
        let BulkPrepared {
            already_present,
            usable,
            unusable,
        } = prepared;
        let mut stats = BulkStats {
            already_present,
            unusable: unusable.len(),
            ..BulkStats::default()
        };
        let usable: Vec<(&EnrolmentRecord, PreparedPerson)> = usable
            .into_iter()
            .filter_map(|(i, p)| records.get(i).map(|r| (r, p)))
            .collect();
        if usable.is_empty() {
            return Ok((stats, unusable));
        }
        // The images are durable before the intents that name them.
        let probes: Vec<&crate::enrolment::record::Probe> =
            usable.iter().map(|(r, _)| &r.probe).collect();
        let kept = self.keep_images_of(&probes).map_err(unavailable)?;
        let metas = usable
            .iter()
            .zip(kept)
            .map(|((r, _), (fingers, eyes))| {
                let mut meta = convert::person_meta(0, r);
                meta.fingers = fingers;
                meta.eyes = eyes;
                meta
            })
            .collect();
        let keys = self.registry().intents(metas).map_err(unavailable)?;
        let batch: Vec<(u64, &PreparedPerson)> = keys
            .iter()
            .zip(&usable)
            .map(|(&k, (_, p))| (k, p))
            .collect();
        self.gallery().insert_batch(&batch).map_err(unavailable)?;
        self.registry()
            .outcomes(&keys, &Outcome::Single)
            .map_err(unavailable)?;
        stats.imported = keys.len();
        Ok((stats, unusable))
    }
}

/// A chunk of records prepared by [`GalleryEngine::bulk_prepare`], waiting for
/// [`GalleryEngine::bulk_commit`].
#[derive(Debug)]
pub struct BulkPrepared {
    already_present: usize,
    /// Index in the chunk and the prepared person.
    usable: Vec<(usize, PreparedPerson)>,
    unusable: Unusable,
}
