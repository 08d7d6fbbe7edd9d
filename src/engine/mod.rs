//! The gallery engine: the [`EnrolmentEngine`] the server runs, over the memory-mapped
//! [`Gallery`], the ordered-batching [`Deduplicator`] and the durable person [`Registry`].
//!
//! - An enrolment whose NIK no enrolled person holds goes through the deduplicator: it is
//!   ordered with every concurrent enrolment, searched against every earlier one, and enrolled
//!   when single.
//! - An enrolment whose NIK an enrolled person holds is compared 1:1 with that person and
//!   searched 1:N (read-only): the same person with nobody else matching is a `single`
//!   re-issue (no new person); the same person also matching others is a `biometric`
//!   duplicate; anyone else is a `nik_conflict` duplicate. The NIK's holder is resolved by
//!   the deduplicator in the total order (the NIK is the job's claim), so two enrolments of
//!   one NIK never both come out single.
//! - Every duplicate opens a case in the [`CaseStore`]; the applicant's biometrics wait in the
//!   registry until analysts clear (enrol) or confirm (refuse) it.
//!
//! The write order that keeps acknowledged enrolments whole across crashes is described in
//! [`registry`].

pub mod bulk;
pub mod calibrate;
pub mod callback;
pub mod callback_policy;
pub mod cleared;
mod commit;
pub mod convert;
pub mod demo;
pub mod encounters;
pub mod evidence;
pub mod external;
pub mod eye_images;
mod group;
pub mod image_compaction;
pub mod images;
mod open;
pub mod outbox;
pub mod registry;
pub mod stats;
pub mod synthetic;

use std::sync::Arc;

use tunggal_index::gallery::{Gallery, GalleryError, PreparedPerson};
use tunggal_index::search::{
    self, fusion, scorer, stage2, ClaimOwners, Deduplicator, GalleryMatch, Insert, Ordered,
    Rejection, SearchConfig, SearchVerdict, Stage1Probe,
};
use tunggal_index::storage::StorageError;

use crate::cases::CaseStore;
use crate::enrolment::record::{EnrolmentRecord, Origin, Probe};
use crate::enrolment::{
    CallbackOutbox, Candidate, EngineError, EngineStats, EnrolmentEngine, ImageCompactionReport,
    PersonInfo, Verdict, Verification,
};
use crate::state::idempotency::Answer;
use crate::state::StateError;
pub use open::{OpenError, SettleError};
use registry::{
    key_of, reference_id, DuplicateReason, Entry, Outcome, Registry, Resolution, StoredCandidate,
};

/// Name of the gallery directory inside the data directory.
pub const GALLERY_DIR: &str = "gallery";

/// Settings of the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Search policy (shortlist, FPIR target, minimum fingers, batch size, iris gate).
    pub search: SearchConfig,
    /// The score calibration of a new gallery.
    pub calibration: calibrate::NewGalleryCalibration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            search: SearchConfig::default(),
            calibration: calibrate::NewGalleryCalibration::Shipped,
        }
    }
}

/// What recovery did when the engine opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Enrolments whose gallery insert committed before a crash, completed as single.
    pub rolled_forward: usize,
    /// Enrolments that never reached the gallery, dropped (never acknowledged).
    pub aborted: usize,
    /// Gallery members whose intent was lost with the power before their outcome
    /// committed, deleted from the gallery (never acknowledged).
    pub rolled_back: usize,
    /// Duplicates whose case was opened on start.
    pub cases_opened: usize,
}

/// Who holds a NIK among settled enrolments: the registry's enrolled persons.
#[derive(Debug)]
struct NikOwners(Registry);

impl ClaimOwners for NikOwners {
    fn owner(&self, nik: &str) -> Option<u64> {
        self.0.by_nik(nik).map(|e| e.key)
    }
}

/// The engine.
pub struct GalleryEngine {
    dedup: Deduplicator,
    registry: Registry,
    cases: Arc<CaseStore>,
    recovery: Recovery,
    notifier: std::sync::OnceLock<callback::Notifier>,
    counters: stats::MatchCounters,
    /// Submitted fingerprint and eye images (`DATA_DIR/images/`).
    images: tunggal_index::image_store::ImageStore,
    /// The image store's compaction lock and counters.
    compaction: image_compaction::CompactionCounters,
    /// Decided outcomes waiting to share a transaction of the state store.
    commits:
        group::GroupCommit<commit::PendingOutcome, Result<commit::Committed, commit::CommitError>>,
}

impl std::fmt::Debug for GalleryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GalleryEngine")
            .field("persons", &self.dedup.gallery().len())
            .finish_non_exhaustive()
    }
}

fn unavailable<E: std::fmt::Display + 'static>(e: E) -> EngineError {
    let any: &dyn std::any::Any = &e;
    if let Some(GalleryError::CorruptCold { key, detail }) = any.downcast_ref::<GalleryError>() {
        tracing::error!(
            reference_id = %reference_id(*key),
            detail = %detail,
            "damaged cold record in the gallery: run `tunggal fsck`"
        );
    }
    if storage_full(any) {
        return EngineError::StorageFull(e.to_string());
    }
    EngineError::Unavailable(e.to_string())
}

/// Whether an error of the gallery, the state store or a commit is a full disk.
fn storage_full(e: &dyn std::any::Any) -> bool {
    if let Some(e) = e.downcast_ref::<StateError>() {
        return e.is_storage_full();
    }
    if let Some(e) = e.downcast_ref::<commit::CommitError>() {
        return e.is_storage_full();
    }
    if let Some(e) = e.downcast_ref::<images::KeepError>() {
        return e.is_storage_full();
    }
    if let Some(GalleryError::Storage(StorageError::Io { source, .. })) =
        e.downcast_ref::<GalleryError>()
    {
        return matches!(
            source.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        );
    }
    false
}

/// The reason code of a rejection.
pub fn rejection_reason(r: &Rejection) -> &'static str {
    match r {
        Rejection::UnusableTemplates { .. } => "unusable_templates",
        Rejection::TooFewUsableFingers { .. } => "too_few_usable_fingers",
    }
}

impl GalleryEngine {
    /// Posts final verdicts of enrolments with a `callback_url` through `notifier` from now
    /// on (set once; later calls are ignored).
    pub fn set_notifier(&self, notifier: callback::Notifier) {
        let _ = self.notifier.set(notifier);
    }

    /// Posts the current verdict of `e` to its callback URL, if it has one and a notifier is
    /// set.
    pub fn notify(&self, e: &Entry) {
        let (Some(url), Some(notifier)) = (&e.meta.callback_url, self.notifier.get()) else {
            return;
        };
        let Ok(verdict) = self.verdict_of(e) else {
            return;
        };
        let mut body = crate::enrolment::enrolment_body(&e.meta.summary.request_id, verdict);
        body.fingerprint_quality = images::fingerprint_quality(&e.meta.fingers);
        body.iris_quality = eye_images::iris_quality(&e.meta.eyes);
        if let Ok(body) = serde_json::to_value(body) {
            notifier.notify(callback::Notice {
                url: url.clone(),
                body,
            });
        }
    }

    /// What recovery did on open.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    /// The gallery.
    pub fn gallery(&self) -> &Gallery {
        self.dedup.gallery()
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The case store.
    pub fn cases(&self) -> &Arc<CaseStore> {
        &self.cases
    }

    /// The search policy.
    pub fn search_config(&self) -> &SearchConfig {
        self.dedup.config()
    }

    /// The 1:1 decision threshold (the FPIR target over a gallery of one).
    pub fn verify_threshold(&self) -> f32 {
        fusion::threshold(self.dedup.config().target_fpir, 1)
    }

    /// Compares a prepared probe with the person under `key` in full.
    pub fn compare_one(
        &self,
        probe: &PreparedPerson,
        key: u64,
    ) -> Result<Option<GalleryMatch>, GalleryError> {
        let gallery = self.gallery();
        let Some(stored) = gallery.get(key)? else {
            return Ok(None);
        };
        let query = Stage1Probe::new(
            &probe.record,
            gallery.preparer().iris(),
            self.dedup.config().iris_gate,
        )?;
        let hit = scorer(gallery).score_full(&query, &stored.record)?;
        self.counters.comparison();
        Ok(Some(stage2::compare(
            gallery.preparer().matcher(),
            gallery.calibration(),
            &probe.fingers,
            &hit,
            &stored.fingers,
        )))
    }

    /// The registry entry of a person in the gallery: a deleted one is `PersonDeleted`, an
    /// unknown one or an applicant held back `PersonNotFound`.
    fn gallery_entry(&self, reference: &str) -> Result<Entry, EngineError> {
        match self.entry(reference) {
            Some(e) if e.in_gallery() => Ok(e),
            Some(e) if e.deleted => Err(EngineError::PersonDeleted(reference.to_owned())),
            _ => Err(EngineError::PersonNotFound(reference.to_owned())),
        }
    }

    /// The candidate as the API shows it.
    fn candidate_out(&self, c: &StoredCandidate) -> Candidate {
        Candidate {
            reference_id: reference_id(c.key),
            request_id: self
                .registry
                .get(c.key)
                .map(|e| e.meta.summary.request_id)
                .unwrap_or_default(),
            score: c.score,
            finger_scores: c.finger_scores,
            iris_distances: c.iris_distances,
            identical: c.identical,
        }
    }

    /// The current verdict of a registry entry.
    pub fn verdict_of(&self, e: &Entry) -> Result<Verdict, EngineError> {
        let Some(outcome) = &e.outcome else {
            return Err(EngineError::Unavailable(
                "this enrolment is still being matched".into(),
            ));
        };
        Ok(match (outcome, &e.resolution) {
            (Outcome::Single, _) => Verdict::Single {
                reference_id: reference_id(e.key),
                reissue: false,
            },
            (Outcome::Reissue { person }, _) => Verdict::Single {
                reference_id: reference_id(*person),
                reissue: true,
            },
            (Outcome::Duplicate { .. }, Some(Resolution::Cleared)) => Verdict::Single {
                reference_id: reference_id(e.key),
                reissue: false,
            },
            (
                Outcome::Duplicate {
                    reason, candidates, ..
                },
                resolution,
            ) => Verdict::Duplicate {
                reference_id: reference_id(e.key),
                case_id: e.case_id.clone(),
                reason: reason.as_str().to_owned(),
                candidates: candidates.iter().map(|c| self.candidate_out(c)).collect(),
                refused_as_duplicate_of: match resolution {
                    Some(Resolution::ConfirmedDuplicate { duplicate_of }) => {
                        Some(duplicate_of.clone())
                    }
                    _ => None,
                },
            },
            (Outcome::Rejected { reason }, _) => Verdict::Rejected {
                reason: reason.clone(),
            },
        })
    }

    /// Decides a prepared enrolment reserved under `key`.
    fn decide(
        &self,
        key: u64,
        nik: &str,
        prepared: PreparedPerson,
        probe: &Probe,
    ) -> Result<Outcome, GalleryError> {
        let config = *self.dedup.config();
        if let Some(r) = search::check(&prepared, &config) {
            return Ok(Outcome::Rejected {
                reason: rejection_reason(&r).to_owned(),
            });
        }
        // In the total order: the NIK's holder (an enrolled person, or one decided single
        // earlier whose outcome is still being committed) is resolved by the sequencer.
        let order = Ordered {
            insert: Insert::WhenSingle,
            claim: Some(nik.to_owned()),
        };
        let decision = self.dedup.submit_ordered(key, prepared, order)?;
        self.counters.search(&decision.outcome);
        let Some(holder) = decision.holder else {
            return Ok(match decision.outcome.verdict {
                SearchVerdict::Single => Outcome::Single,
                SearchVerdict::Duplicate(c) => Outcome::Duplicate {
                    reason: DuplicateReason::Biometric,
                    candidates: c.iter().map(convert::stored_candidate).collect(),
                    biometrics: convert::stored_biometrics(probe),
                },
                SearchVerdict::Rejected(r) => Outcome::Rejected {
                    reason: rejection_reason(&r).to_owned(),
                },
            });
        };
        // The NIK is held: compared 1:1 with its holder and searched, nobody inserted.
        self.counters.comparison();
        let others: Vec<GalleryMatch> = match decision.outcome.verdict {
            SearchVerdict::Duplicate(c) => c.into_iter().filter(|c| c.key != holder.key).collect(),
            SearchVerdict::Single => Vec::new(),
            SearchVerdict::Rejected(r) => {
                return Ok(Outcome::Rejected {
                    reason: rejection_reason(&r).to_owned(),
                })
            }
        };
        let matched = holder
            .comparison
            .as_ref()
            .is_some_and(|c| c.fused >= self.verify_threshold());
        if matched && others.is_empty() {
            return Ok(Outcome::Reissue { person: holder.key });
        }
        let reason = if matched {
            DuplicateReason::Biometric
        } else {
            DuplicateReason::NikConflict
        };
        let candidates = holder
            .comparison
            .iter()
            .chain(&others)
            .map(convert::stored_candidate)
            .collect();
        Ok(Outcome::Duplicate {
            reason,
            candidates,
            biometrics: convert::stored_biometrics(probe),
        })
    }

    fn entry(&self, reference: &str) -> Option<Entry> {
        self.registry.get(key_of(reference)?)
    }
}

impl EnrolmentEngine for GalleryEngine {
    fn name(&self) -> &str {
        "gallery"
    }

    fn callbacks(&self) -> Option<Arc<dyn CallbackOutbox>> {
        let notifier = self.notifier.get()?.clone();
        Some(Arc::new(notifier))
    }

    fn decision_threshold(&self) -> Option<f64> {
        let fpir = self.dedup.config().target_fpir;
        Some(f64::from(fusion::threshold(fpir, self.gallery().len())))
    }

    fn enrol(&self, record: &EnrolmentRecord) -> Result<Verdict, EngineError> {
        self.enrol_keeping(record, None).map(|(verdict, _)| verdict)
    }

    fn enrol_answered(
        &self,
        record: &EnrolmentRecord,
        answer: Answer,
    ) -> Result<(Verdict, bool), EngineError> {
        self.enrol_keeping(record, Some(answer))
    }

    fn identify(&self, probe: &Probe, max: usize) -> Result<Vec<Candidate>, EngineError> {
        let prepared = self
            .gallery()
            .prepare(&convert::enrolment(probe))
            .map_err(unavailable)?;
        let config = self.dedup.config().for_identification();
        let outcome = search::search(self.gallery(), &prepared, &config).map_err(unavailable)?;
        self.counters.search(&outcome);
        Ok(match outcome.verdict {
            SearchVerdict::Duplicate(c) => c
                .iter()
                .take(max)
                .map(|c| self.candidate_out(&convert::stored_candidate(c)))
                .collect(),
            _ => Vec::new(),
        })
    }

    fn verify(&self, reference: &str, probe: &Probe) -> Result<Verification, EngineError> {
        let threshold = f64::from(self.verify_threshold());
        let e = self.gallery_entry(reference)?;
        let prepared = self
            .gallery()
            .prepare(&convert::enrolment(probe))
            .map_err(unavailable)?;
        let c = self.compare_one(&prepared, e.key).map_err(unavailable)?;
        let stored = c.as_ref().map(convert::stored_candidate);
        Ok(Verification {
            matched: c.as_ref().is_some_and(|c| f64::from(c.fused) >= threshold),
            score: stored.as_ref().map(|s| s.score),
            threshold,
            finger_scores: stored.as_ref().map_or([None; 10], |s| s.finger_scores),
            iris_distances: stored.as_ref().map_or([None; 2], |s| s.iris_distances),
        })
    }

    fn delete(&self, reference: &str) -> Result<bool, EngineError> {
        let e = self.gallery_entry(reference)?;
        self.registry.deleting(e.key).map_err(unavailable)?;
        self.gallery().delete(e.key).map_err(unavailable)?;
        self.registry.deleted(e.key).map_err(unavailable)?;
        Ok(true)
    }

    fn persons_by_nik(&self, nik: &str, limit: usize) -> Result<Vec<PersonInfo>, EngineError> {
        let keys = self
            .registry
            .keys_by_nik(nik, limit)
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(p) = self.person(&reference_id(key))? {
                found.push(p);
            }
        }
        Ok(found)
    }

    fn origins_of(&self, request_id: &str, limit: usize) -> Result<Vec<Origin>, EngineError> {
        Ok(self
            .registry
            .origins_of(request_id, limit)
            .into_iter()
            .map(|(district, service_point)| Origin {
                district,
                service_point,
            })
            .collect())
    }

    fn status(&self, origin: &Origin, request_id: &str) -> Result<Option<Verdict>, EngineError> {
        match self
            .registry
            .by_request(&origin.district, &origin.service_point, request_id)
        {
            Some(e) if e.outcome.is_some() => self.verdict_of(&e).map(Some),
            _ => Ok(None),
        }
    }

    fn fingerprint_quality(
        &self,
        origin: &Origin,
        request_id: &str,
    ) -> Result<Vec<crate::enrolment::wire::FingerQualityOut>, EngineError> {
        Ok(self
            .registry
            .by_request(&origin.district, &origin.service_point, request_id)
            .map(|e| images::fingerprint_quality(&e.meta.fingers))
            .unwrap_or_default())
    }

    fn stats(&self) -> EngineStats {
        let (searches, persons_scanned, comparisons) = self.counters.read();
        let scrub = self.gallery().store().scrub_progress();
        let (image_compactions, image_compaction_images, image_compaction_reclaimed) =
            self.compaction.read();
        EngineStats {
            image_store_bytes: self.images.bytes_on_disk().unwrap_or(0),
            image_compactions,
            image_compaction_images,
            image_compaction_reclaimed,
            damaged_reads: self.gallery().damaged_reads(),
            scrub_checked: scrub.checked(),
            scrub_total: scrub.total(),
            scrub_quarantined: scrub.quarantined(),
            log_syncs: self.gallery().store().wal_fsyncs(),
            persons: self.gallery().len() as u64,
            searches,
            persons_scanned,
            comparisons,
        }
    }

    fn compact_images(&self) -> Result<Option<ImageCompactionReport>, EngineError> {
        GalleryEngine::compact_images(self).map(Some).map_err(|e| {
            tracing::error!(error = %e, "image compaction failed");
            if e.is_storage_full() {
                EngineError::StorageFull(e.to_string())
            } else {
                EngineError::Unavailable(e.to_string())
            }
        })
    }

    fn person(&self, reference: &str) -> Result<Option<PersonInfo>, EngineError> {
        let Some(e) = self.entry(reference) else {
            return Ok(None);
        };
        let (status, duplicate_of) = if e.deleted {
            ("deleted", None)
        } else if e.lost.is_some() {
            ("lost", None)
        } else {
            match (&e.outcome, &e.resolution) {
                (None, _) => ("matching", None),
                (Some(Outcome::Rejected { .. }), _) => ("rejected", None),
                (Some(_), Some(Resolution::ConfirmedDuplicate { duplicate_of })) => {
                    ("refused", Some(duplicate_of.clone()))
                }
                (Some(Outcome::Duplicate { .. }), None) => ("under_review", None),
                (Some(Outcome::Reissue { person }), _) => ("reissued", Some(reference_id(*person))),
                _ => ("print_ready", None),
            }
        };
        Ok(Some(PersonInfo {
            summary: e.meta.summary,
            status: status.to_owned(),
            case_id: e.case_id,
            duplicate_of,
        }))
    }
}
