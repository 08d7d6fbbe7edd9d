//! Why an analyst decided as they did: a closed set of reasons recorded beside the free-text
//! comment, required when confirming a duplicate or clearing a case (an escalation may give
//! one). Snake case on the wire and in the trail.

use serde::{Deserialize, Serialize};

use super::model::DecisionKind;

/// The reason of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionReason {
    /// Applicant and candidate are one person (confirmations only).
    SamePerson,
    /// Identical twins: similar irises or faces, different fingerprints (clearances only).
    Twins,
    /// Relatives whose records resemble each other (clearances only).
    FamilyMember,
    /// A wrong NIK, name or capture at the service point.
    DataEntryError,
    /// A deliberate double enrolment or identity theft is suspected.
    FraudSuspected,
    /// None of these: the comment says why.
    Other,
}

impl DecisionReason {
    /// Every reason, in the order forms list them.
    pub const ALL: [Self; 6] = [
        Self::SamePerson,
        Self::Twins,
        Self::FamilyMember,
        Self::DataEntryError,
        Self::FraudSuspected,
        Self::Other,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SamePerson => "same_person",
            Self::Twins => "twins",
            Self::FamilyMember => "family_member",
            Self::DataEntryError => "data_entry_error",
            Self::FraudSuspected => "fraud_suspected",
            Self::Other => "other",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// A label for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::SamePerson => "same person",
            Self::Twins => "twins",
            Self::FamilyMember => "family member",
            Self::DataEntryError => "data-entry error",
            Self::FraudSuspected => "fraud suspected",
            Self::Other => "other",
        }
    }

    /// Whether the reason can explain `decision`: "same person" only a confirmation,
    /// "twins" and "family member" only a clearance, the others any decision.
    pub fn fits(self, decision: &DecisionKind) -> bool {
        match self {
            Self::SamePerson => matches!(decision, DecisionKind::ConfirmDuplicate { .. }),
            Self::Twins | Self::FamilyMember => matches!(decision, DecisionKind::Clear),
            Self::DataEntryError | Self::FraudSuspected | Self::Other => true,
        }
    }
}

/// Whether `decision` must give a reason (confirming and clearing do; escalating need not).
pub fn required(decision: &DecisionKind) -> bool {
    !matches!(decision, DecisionKind::Escalate)
}

#[cfg(test)]
mod tests {
    use super::super::tests::person;
    use super::super::*;

    #[test]
    fn confirming_and_clearing_need_a_fitting_reason_kept_in_the_trail() {
        let dir = tempfile::tempdir().unwrap();
        let store = CaseStore::open(dir.path()).unwrap();
        let new = NewCase {
            kind: CaseKind::Biometric,
            applicant: person(1, "317101"),
            candidates: vec![CaseCandidate {
                person: person(2, "317101"),
                score: 20.0,
                finger_scores: [None; 10],
                iris_distances: [None; 2],
                identical: Default::default(),
            }],
            callback_url: None,
            calibration: String::new(),
        };
        let id = store.open_case_at(new, 1_000).unwrap().case_id;
        let ana = Actor {
            key_id: "a".into(),
            name: "Ana".into(),
            owner: String::new(),
        };
        let confirm = DecisionKind::ConfirmDuplicate {
            duplicate_of: "P2".into(),
        };
        let decide = |kind: &DecisionKind, reason| {
            store.decide(&id, &ana, Decision::new(kind.clone(), reason, "why"), 1_001)
        };
        assert!(matches!(
            decide(&confirm, None),
            Err(CaseError::ReasonRequired)
        ));
        assert!(matches!(
            decide(&DecisionKind::Clear, None),
            Err(CaseError::ReasonRequired)
        ));
        assert!(matches!(
            decide(&DecisionKind::Clear, Some(DecisionReason::SamePerson)),
            Err(CaseError::ReasonMismatch("same_person"))
        ));
        assert!(matches!(
            decide(&confirm, Some(DecisionReason::Twins)),
            Err(CaseError::ReasonMismatch("twins"))
        ));
        // An escalation may go without one.
        let (case, _) = decide(&DecisionKind::Escalate, None).unwrap();
        assert_eq!(case.status, CaseStatus::Escalated);
        let (case, _) = decide(&DecisionKind::Clear, Some(DecisionReason::Twins)).unwrap();
        assert_eq!(case.status, CaseStatus::Cleared);
        // Stored in the trail, snake case, and read back.
        let case = store.get(&id).unwrap();
        assert!(matches!(
            case.decision.as_ref().map(|d| &d.action),
            Some(Action::Decided {
                reason: Some(DecisionReason::Twins),
                ..
            })
        ));
        let json = serde_json::to_string(case.trail.last().unwrap()).unwrap();
        assert!(json.contains("\"reason\":\"twins\""), "{json}");
        for r in DecisionReason::ALL {
            assert_eq!(DecisionReason::parse(r.as_str()), Some(r));
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::Value::String(r.as_str().into())
            );
        }
    }
}
