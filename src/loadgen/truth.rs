//! Ground truth of a load run: every acknowledged enrolment verdict, checked per person.
//!
//! The check does not depend on the order in which the server saw concurrent requests: of
//! the acknowledged (`single` or `duplicate`) enrolments of one person, exactly one must be
//! `single`. More than one `single` are missed duplicates; none is a person flagged although
//! they were not enrolled (a false duplicate).

use std::collections::HashMap;

use serde::Serialize;

#[derive(Debug, Default)]
struct PersonRecord {
    singles: u64,
    duplicates: u64,
    in_pair: bool,
}

/// Verdicts collected during a run.
#[derive(Debug, Default)]
pub struct Truth {
    people: HashMap<u64, PersonRecord>,
    request_person: HashMap<String, u64>,
    /// Duplicates whose candidates name request ids, checked once all are known.
    candidate_checks: Vec<(u64, Vec<String>)>,
    rejected: u64,
}

/// The ground-truth check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TruthCheck {
    /// Enrolments with a `single` or `duplicate` verdict.
    pub acknowledged: u64,
    /// `rejected` verdicts.
    pub rejected: u64,
    /// People with more than one `single`: one count per extra `single`.
    pub missed_duplicates: u64,
    /// People with acknowledged enrolments and no `single` among them.
    pub false_duplicates: u64,
    /// People enrolled as a simultaneous pair from two service points.
    pub pairs: u64,
    /// Missed duplicates among those pairs.
    pub pair_missed_duplicates: u64,
    /// `duplicate` verdicts whose candidates (by request id) are all other people.
    pub wrong_candidates: u64,
}

impl Truth {
    /// Records the verdict of `request_id` (person `person_id`); `candidates` are the
    /// request ids the answer names as matches.
    pub fn record(
        &mut self,
        request_id: &str,
        person_id: u64,
        in_pair: bool,
        verdict: &str,
        candidates: Vec<String>,
    ) {
        let rec = self.people.entry(person_id).or_default();
        rec.in_pair |= in_pair;
        match verdict {
            "single" => rec.singles += 1,
            "duplicate" => {
                rec.duplicates += 1;
                if !candidates.is_empty() {
                    self.candidate_checks.push((person_id, candidates));
                }
            }
            _ => {
                self.rejected += 1;
                return;
            }
        }
        self.request_person.insert(request_id.to_owned(), person_id);
    }

    /// The person an acknowledged request enrolled.
    pub fn person_of(&self, request_id: &str) -> Option<u64> {
        self.request_person.get(request_id).copied()
    }

    /// The check over everything recorded.
    pub fn check(&self) -> TruthCheck {
        let mut c = TruthCheck {
            rejected: self.rejected,
            ..TruthCheck::default()
        };
        for rec in self.people.values() {
            c.acknowledged += rec.singles + rec.duplicates;
            let missed = rec.singles.saturating_sub(1);
            c.missed_duplicates += missed;
            if rec.singles == 0 && rec.duplicates > 0 {
                c.false_duplicates += 1;
            }
            if rec.in_pair {
                c.pairs += 1;
                c.pair_missed_duplicates += missed;
            }
        }
        for (person, candidates) in &self.candidate_checks {
            let known: Vec<u64> = candidates
                .iter()
                .filter_map(|r| self.person_of(r))
                .collect();
            if !known.is_empty() && !known.contains(person) {
                c.wrong_candidates += 1;
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_per_person_and_order_free() {
        let mut t = Truth::default();
        t.record("a", 1, false, "single", vec![]);
        t.record("b", 1, false, "duplicate", vec!["a".into()]);
        t.record("c", 2, true, "duplicate", vec!["d".into()]);
        t.record("d", 2, true, "single", vec![]);
        t.record("e", 3, true, "single", vec![]);
        t.record("f", 3, true, "single", vec![]);
        t.record("g", 4, false, "duplicate", vec!["a".into()]);
        t.record("h", 5, false, "rejected", vec![]);
        let c = t.check();
        assert_eq!(c.acknowledged, 7);
        assert_eq!(c.rejected, 1);
        assert_eq!(c.missed_duplicates, 1);
        assert_eq!(c.pair_missed_duplicates, 1);
        assert_eq!(c.pairs, 2);
        assert_eq!(c.false_duplicates, 1);
        assert_eq!(c.wrong_candidates, 1);
    }
}
