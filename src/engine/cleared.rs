//! Enrolling an applicant whom analysts cleared, in the total order of enrolments.
//!
//! The applicant goes through the deduplicator's total order as a job inserted whatever
//! its search finds: every enrolment ordered before it is in the gallery or its batch, and
//! every one ordered after it is searched against it. That search of the applicant is also
//! its last check: any match other than the candidates the analysts cleared it against (a
//! person enrolled while the case was open, such as another capture of the applicant)
//! becomes a gallery-pair case, so nobody enrolled in the meantime slips through.

use tunggal_index::gallery::PreparedPerson;
use tunggal_index::search::{Insert, Ordered, SearchVerdict};

use super::registry::{Entry, StoredCandidate};
use super::{convert, GalleryEngine};
use crate::cases::{CaseCandidate, CaseKind, CaseOutcomeError, NewCase};

impl GalleryEngine {
    /// Inserts the cleared applicant `e` (prepared as `person`) in order, opening a
    /// gallery-pair case for every match outside `cleared`. Returns the cases opened.
    pub(crate) fn insert_cleared(
        &self,
        e: &Entry,
        person: &PreparedPerson,
        cleared: &[StoredCandidate],
    ) -> Result<Vec<String>, CaseOutcomeError> {
        if self.gallery().snapshot().contains(e.key) {
            return Ok(Vec::new());
        }
        let order = Ordered {
            insert: Insert::Always,
            claim: None,
        };
        let decision = self.dedup.submit_ordered(e.key, person.clone(), order)?;
        self.counters.search(&decision.outcome);
        let SearchVerdict::Duplicate(found) = decision.outcome.verdict else {
            return Ok(Vec::new());
        };
        let mut opened = Vec::new();
        for c in found
            .iter()
            .filter(|c| c.key != e.key && cleared.iter().all(|k| k.key != c.key))
        {
            let Some(other) = self.registry().get(c.key) else {
                continue;
            };
            let s = convert::stored_candidate(c);
            let new = NewCase {
                kind: CaseKind::GalleryPair,
                applicant: e.meta.summary.clone(),
                candidates: vec![CaseCandidate {
                    person: other.meta.summary,
                    score: s.score,
                    finger_scores: s.finger_scores,
                    iris_distances: s.iris_distances,
                    identical: s.identical,
                }],
                callback_url: None,
                calibration: self.gallery().calibration().id.clone(),
            };
            let case = self.cases().open_case(new)?;
            opened.push(case.case_id);
        }
        Ok(opened)
    }
}
