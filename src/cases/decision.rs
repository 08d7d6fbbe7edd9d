//! Four-eyes rules of case decisions: who counts as a second pair of eyes, and which
//! clearances need one.
//!
//! Confirming a duplicate always needs a second analyst's approval. Clearing a case takes
//! effect at once unless its best fused score is above the clearing bar (by default twice
//! the engine's decision threshold): such a clearance waits for approval like a
//! confirmation. The second analyst must be another *owner*, not just another key.

use super::store::{Action, Actor, Case, CaseStatus, DecisionKind};

/// What a decision needs besides the deciding analyst.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DecisionRules {
    /// Clearing a case whose best fused score is above this needs a second analyst's
    /// approval; `None`: clearances take effect at once.
    pub clear_approval_above: Option<f64>,
}

impl DecisionRules {
    /// The rules for an engine whose decision threshold is `threshold`, with the clearing
    /// bar at `percent` % of it (an engine without a threshold: no bar).
    pub fn for_threshold(threshold: Option<f64>, percent: u32) -> Self {
        Self {
            clear_approval_above: threshold.map(|t| t * f64::from(percent) / 100.0),
        }
    }

    /// Whether clearing `case` needs a second analyst's approval.
    pub fn clear_needs_approval(&self, case: &Case) -> bool {
        self.clear_approval_above
            .is_some_and(|bar| case.best_score() > bar)
    }
}

impl Actor {
    /// Whether `other` is the same pair of eyes: the same key, or another key of the same
    /// owner.
    pub fn same_person(&self, other: &Actor) -> bool {
        self.key_id == other.key_id || (!self.owner.is_empty() && self.owner == other.owner)
    }
}

/// The status an approval gives a case pending approval: cleared for an approved
/// clearance, else a confirmed duplicate.
pub fn approved_status(case: &Case) -> CaseStatus {
    match case.decision.as_ref().map(|d| &d.action) {
        Some(Action::Decided {
            decision: DecisionKind::Clear,
            ..
        }) => CaseStatus::Cleared,
        _ => CaseStatus::ConfirmedDuplicate,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::cases::tests::person;
    use crate::cases::{CaseCandidate, CaseError, CaseKind, CaseOutcome, CaseStore, NewCase};

    const T0: u64 = 1_795_000_000;

    fn open(store: &CaseStore, score: f64) -> String {
        let new = NewCase {
            kind: CaseKind::Biometric,
            applicant: person(1, "317101"),
            candidates: vec![CaseCandidate {
                person: person(2, "317101"),
                score,
                finger_scores: [None; 10],
                iris_distances: [None; 2],
                identical: Default::default(),
            }],
            callback_url: None,
            calibration: String::new(),
        };
        store.open_case_at(new, T0).unwrap().case_id
    }

    fn actor(key_id: &str, owner: &str) -> Actor {
        Actor {
            key_id: key_id.to_owned(),
            name: key_id.to_owned(),
            owner: owner.to_owned(),
        }
    }

    #[test]
    fn clearing_a_strong_match_needs_another_owner_s_approval() {
        let dir = tempfile::tempdir().unwrap();
        let store = CaseStore::open(dir.path()).unwrap();
        // Threshold 20, bar 200 %: 40.
        let rules = DecisionRules::for_threshold(Some(20.0), 200);
        let strong = open(&store, 54.0);
        let (case, outcome) = store
            .decide_with(
                &strong,
                &actor("k1", "ana"),
                crate::cases::tests::clear("no"),
                T0,
                &rules,
            )
            .unwrap();
        assert_eq!(case.status, CaseStatus::PendingApproval);
        assert_eq!(outcome, None, "a lone analyst cleared a strong match");
        // A second key of the same owner is not a second pair of eyes.
        assert!(matches!(
            store.approve(&strong, &actor("k2", "ana"), "me", T0 + 1),
            Err(CaseError::SelfApproval)
        ));
        let (case, outcome) = store
            .approve(&strong, &actor("k3", "budi"), "agreed", T0 + 2)
            .unwrap();
        assert_eq!(case.status, CaseStatus::Cleared);
        assert_eq!(outcome, CaseOutcome::Cleared);
        // Replayed from the journal, the case is still cleared.
        drop(store);
        let store = CaseStore::open(dir.path()).unwrap();
        assert_eq!(store.get(&strong).unwrap().status, CaseStatus::Cleared);
        // A weak match (at or below the bar) is cleared by one analyst.
        let weak = open(&store, 40.0);
        let (case, outcome) = store
            .decide_with(
                &weak,
                &actor("k1", "ana"),
                crate::cases::tests::clear("no"),
                T0,
                &rules,
            )
            .unwrap();
        assert_eq!(case.status, CaseStatus::Cleared);
        assert_eq!(outcome, Some(CaseOutcome::Cleared));
    }

    #[test]
    fn two_keys_of_one_owner_cannot_confirm_and_approve() {
        let dir = tempfile::tempdir().unwrap();
        let store = CaseStore::open(dir.path()).unwrap();
        let id = open(&store, 30.0);
        let confirm = DecisionKind::ConfirmDuplicate {
            duplicate_of: person(2, "317101").reference_id,
        };
        store
            .decide(
                &id,
                &actor("key-a", "owner-1"),
                crate::cases::Decision::new(
                    confirm,
                    Some(crate::cases::DecisionReason::SamePerson),
                    "same",
                ),
                T0,
            )
            .unwrap();
        assert!(matches!(
            store.approve(&id, &actor("key-b", "owner-1"), "agreed", T0 + 1),
            Err(CaseError::SelfApproval)
        ));
        assert!(matches!(
            store.return_case(&id, &actor("key-b", "owner-1"), "no", T0 + 1),
            Err(CaseError::SelfApproval)
        ));
        let (case, _) = store
            .approve(&id, &actor("key-c", "owner-2"), "agreed", T0 + 2)
            .unwrap();
        assert_eq!(case.status, CaseStatus::ConfirmedDuplicate);
    }

    #[test]
    fn the_bar_follows_the_threshold_and_percentage() {
        let rules = DecisionRules::for_threshold(Some(20.5), 200);
        assert_eq!(rules.clear_approval_above, Some(41.0));
        let rules = DecisionRules::for_threshold(Some(20.0), 150);
        assert_eq!(rules.clear_approval_above, Some(30.0));
        assert_eq!(
            DecisionRules::for_threshold(None, 200),
            DecisionRules::default()
        );
        assert_eq!(DecisionRules::default().clear_approval_above, None);
    }
}
