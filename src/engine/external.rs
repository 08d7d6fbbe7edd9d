//! Persons enrolled under an external reference by a platform that runs its own
//! deduplication workflow (MOSIP's ABIS interface): insert without a verdict, 1:N search of
//! an inserted person, deletion and counting, all inside one [`Origin`] of the registry.
//!
//! An external person is a registry entry of that origin whose `request_id` is the external
//! reference, with no demographics. Its insert goes through the deduplicator's total order
//! as a job inserted whatever its search finds (like a cleared applicant), so every native
//! enrolment ordered after it is searched against it, and it is acknowledged only once the
//! gallery insert and the registry outcome are durable. No verdict, case or callback is
//! made: the platform decides with the candidates its own identify request returns.

use rusqlite::Transaction;
use tunggal_index::gallery::PreparedPerson;
use tunggal_index::search::{self, fusion, Insert, Ordered, Rejection, SearchVerdict};

use super::registry::{reference_id, Entry, Outcome, PersonMeta};
use super::{convert, rejection_reason, unavailable, GalleryEngine};
use crate::cases::PersonSummary;
use crate::clock::now_rfc3339;
use crate::enrolment::record::{Origin, Probe};
use crate::enrolment::{Candidate, EngineError, EnrolmentEngine};
use crate::state::StateError;

/// What an external insert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalInsert {
    /// Inserted under the engine's reference id.
    Inserted {
        /// The engine's reference id of the new person.
        reference_id: String,
    },
    /// The external reference was used before (live or deleted): nothing was stored.
    AlreadyExists,
    /// The biometrics cannot be searched (reason code of the rejection): nothing stored.
    Rejected(&'static str),
}

/// Which probes an external insert or search admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usable {
    /// The engine's rule: at least its minimum of usable fingers (MOSIP's inserts).
    Fingers,
    /// The engine's minimum of usable fingers, or at least one usable eye (OSIA's
    /// encounters, whose eye images are matched).
    FingersOrEyes,
}

/// What [`GalleryEngine::insert_external_with`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Inserted<T> {
    /// Inserted under gallery key `key`; `value` is what the outcome's writes returned.
    Done {
        /// The new person's gallery key.
        key: u64,
        /// The outcome writer's value.
        value: T,
    },
    /// The external reference was used before (live or deleted): nothing was stored.
    AlreadyExists,
    /// The biometrics cannot be searched (reason code of the rejection): nothing stored.
    Rejected(&'static str),
}

/// How an external identification is limited.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExternalSearch {
    /// Most candidates returned.
    pub max_results: usize,
    /// Target false-positive identification rate; the engine's own when `None`.
    pub target_fpir: Option<f64>,
    /// Compare only with these external references (unknown ones are ignored).
    pub gallery: Option<Vec<String>>,
}

/// A candidate of an external identification.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalCandidate {
    /// The candidate's external reference.
    pub external_id: String,
    /// Scores as the engine's own identify answers them.
    pub candidate: Candidate,
}

impl GalleryEngine {
    /// The live or deleted entry of external reference `external_id` from `origin`.
    pub fn external_entry(&self, origin: &Origin, external_id: &str) -> Option<Entry> {
        self.registry()
            .by_request(&origin.district, &origin.service_point, external_id)
    }

    /// Inserts `probe` under `external_id` without deduplication (see the module
    /// documentation). Returns once the insert is durable.
    pub fn insert_external(
        &self,
        origin: &Origin,
        external_id: &str,
        probe: &Probe,
    ) -> Result<ExternalInsert, EngineError> {
        let inserted = self.insert_external_with(
            origin,
            external_id,
            probe,
            Usable::Fingers,
            |_| Ok(()),
            |_, _| Ok(()),
        )?;
        Ok(match inserted {
            Inserted::Done { key, .. } => ExternalInsert::Inserted {
                reference_id: reference_id(key),
            },
            Inserted::AlreadyExists => ExternalInsert::AlreadyExists,
            Inserted::Rejected(reason) => ExternalInsert::Rejected(reason),
        })
    }

    /// The reason code `prepared` cannot be inserted or searched under `usable`, if any.
    fn external_rejection(
        &self,
        prepared: &PreparedPerson,
        usable: Usable,
    ) -> Option<&'static str> {
        let r = search::check(prepared, self.search_config())?;
        let eyes_suffice = usable == Usable::FingersOrEyes
            && prepared.usable_eyes() > 0
            && matches!(r, Rejection::TooFewUsableFingers { .. });
        (!eyes_suffice).then(|| rejection_reason(&r))
    }

    /// Inserts `probe` under `external_id` as [`GalleryEngine::insert_external`] does, with
    /// `at_intent` written in the transaction of the registry intent (committed before the
    /// gallery insert, without a sync of its own) and `at_outcome` in the transaction of
    /// the outcome (synced: the insert is acknowledged by it). `at_outcome` sees the entry
    /// and may mark it `deleting` (an insert that turned out unwanted, which the caller then
    /// deletes from the gallery).
    pub(crate) fn insert_external_with<T>(
        &self,
        origin: &Origin,
        external_id: &str,
        probe: &Probe,
        usable: Usable,
        at_intent: impl FnOnce(&Transaction<'_>) -> Result<(), StateError>,
        at_outcome: impl FnOnce(&Transaction<'_>, &mut Entry) -> Result<T, StateError>,
    ) -> Result<Inserted<T>, EngineError> {
        if self.external_entry(origin, external_id).is_some() {
            return Ok(Inserted::AlreadyExists);
        }
        let prepared = self
            .gallery()
            .prepare(&convert::enrolment(probe))
            .map_err(unavailable)?;
        if let Some(reason) = self.external_rejection(&prepared, usable) {
            return Ok(Inserted::Rejected(reason));
        }
        let meta = |key: u64| PersonMeta {
            summary: PersonSummary {
                reference_id: reference_id(key),
                request_id: external_id.to_owned(),
                nik: String::new(),
                name: String::new(),
                sex: String::new(),
                date_of_birth: String::new(),
                district: origin.district.clone(),
                service_point: origin.service_point.clone(),
                enrolled_at: now_rfc3339(),
                citizenship: String::new(),
                passport_number: None,
                kitap_number: None,
                has_photo: false,
                has_signature: false,
            },
            photo: None,
            signature: None,
            callback_url: None,
            // Images of external inserts are not kept (their templates are).
            fingers: Vec::new(),
            eyes: Vec::new(),
        };
        let key = self
            .registry()
            .intent_with(meta, |tx, _| at_intent(tx))
            .map_err(unavailable)?;
        let order = Ordered {
            insert: Insert::Always,
            claim: None,
        };
        let decision = self
            .dedup
            .submit_ordered(key, prepared, order)
            .map_err(unavailable)?;
        self.counters.search(&decision.outcome);
        if !decision.enrolled {
            // Never acknowledged: the intent is dropped.
            self.registry().abort(key).map_err(unavailable)?;
            return Err(EngineError::Unavailable(
                "the gallery did not take the insert".into(),
            ));
        }
        // The outcome's commit is synced: it makes the intent durable with it.
        let (_, value) = self
            .registry()
            .outcome_with(key, Outcome::Single, at_outcome)
            .map_err(unavailable)?;
        Ok(Inserted::Done { key, value })
    }

    /// The external reference of gallery person `key` when it belongs to `origin`.
    fn external_id_of(&self, origin: &Origin, key: u64) -> Option<String> {
        let e = self.registry().get(key)?;
        let s = &e.meta.summary;
        (e.in_gallery() && s.district == origin.district && s.service_point == origin.service_point)
            .then(|| s.request_id.clone())
    }

    /// 1:N search of the inserted person `external_id` against every other person of
    /// `origin` (or only those of `limits.gallery`); `Ok(None)` when no such person is in the
    /// gallery.
    pub fn identify_external(
        &self,
        origin: &Origin,
        external_id: &str,
        limits: &ExternalSearch,
    ) -> Result<Option<Vec<ExternalCandidate>>, EngineError> {
        let Some(e) = self
            .external_entry(origin, external_id)
            .filter(Entry::in_gallery)
        else {
            return Ok(None);
        };
        let Some(stored) = self.gallery().get(e.key).map_err(unavailable)? else {
            return Ok(None);
        };
        let probe = PreparedPerson {
            record: stored.record,
            fingers: stored.fingers,
            unusable_fingers: Vec::new(),
            unusable_eyes: Vec::new(),
        };
        self.search_external(origin, &probe, Some(e.key), limits)
            .map(Some)
    }

    /// 1:N search of `probe` (biometrics not inserted) against the persons of `origin`. An
    /// identification enrols nobody, so it searches whatever usable fingers and eyes the
    /// probe carries ([`search::SearchConfig::for_identification`]); only a probe with nothing
    /// usable is refused.
    pub fn identify_external_probe(
        &self,
        origin: &Origin,
        probe: &Probe,
        limits: &ExternalSearch,
    ) -> Result<Result<Vec<ExternalCandidate>, &'static str>, EngineError> {
        let prepared = self
            .gallery()
            .prepare(&convert::enrolment(probe))
            .map_err(unavailable)?;
        if let Some(r) = search::check(&prepared, &self.search_config().for_identification()) {
            return Ok(Err(rejection_reason(&r)));
        }
        self.search_external(origin, &prepared, None, limits)
            .map(Ok)
    }

    fn search_external(
        &self,
        origin: &Origin,
        probe: &PreparedPerson,
        itself: Option<u64>,
        limits: &ExternalSearch,
    ) -> Result<Vec<ExternalCandidate>, EngineError> {
        let mut config = self.search_config().for_identification();
        if let Some(fpir) = limits.target_fpir {
            config.target_fpir = fpir;
        }
        let mut found: Vec<ExternalCandidate> = match &limits.gallery {
            // A named gallery: every member compared in full, against the threshold of a
            // gallery of that size.
            Some(ids) => {
                let mut keys: Vec<u64> = ids
                    .iter()
                    .filter_map(|id| self.external_entry(origin, id))
                    .filter(|e| e.in_gallery() && Some(e.key) != itself)
                    .map(|e| e.key)
                    .collect();
                keys.sort_unstable();
                keys.dedup();
                let threshold = fusion::threshold(config.target_fpir, keys.len().max(1));
                let mut out = Vec::new();
                for key in keys {
                    let Some(m) = self.compare_one(probe, key).map_err(unavailable)? else {
                        continue;
                    };
                    if m.fused < threshold {
                        continue;
                    }
                    if let Some(external_id) = self.external_id_of(origin, key) {
                        let candidate = self.candidate_out(&convert::stored_candidate(&m));
                        out.push(ExternalCandidate {
                            external_id,
                            candidate,
                        });
                    }
                }
                out
            }
            None => {
                let outcome =
                    search::search(self.gallery(), probe, &config).map_err(unavailable)?;
                self.counters.search(&outcome);
                match outcome.verdict {
                    SearchVerdict::Duplicate(c) => c
                        .iter()
                        .filter(|m| Some(m.key) != itself)
                        .filter_map(|m| {
                            let external_id = self.external_id_of(origin, m.key)?;
                            let candidate = self.candidate_out(&convert::stored_candidate(m));
                            Some(ExternalCandidate {
                                external_id,
                                candidate,
                            })
                        })
                        .collect(),
                    _ => Vec::new(),
                }
            }
        };
        found.sort_by(|a, b| b.candidate.score.total_cmp(&a.candidate.score));
        found.truncate(limits.max_results);
        Ok(found)
    }

    /// Deletes the external person `external_id`; `false` when no such person is in the
    /// gallery.
    pub fn delete_external(&self, origin: &Origin, external_id: &str) -> Result<bool, EngineError> {
        match self.external_entry(origin, external_id) {
            Some(e) if e.in_gallery() => self.delete(&reference_id(e.key)),
            _ => Ok(false),
        }
    }

    /// Persons of `origin` in the gallery.
    pub fn count_external(&self, origin: &Origin) -> Result<u64, EngineError> {
        self.registry()
            .count_in_gallery(&origin.district, &origin.service_point)
            .map_err(unavailable)
    }
}
