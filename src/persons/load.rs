//! Real persons from FVC-style databases.
//!
//! A database folder holds `{finger}_{impression}.iso` files. Its finger numbers are sorted
//! and taken ten at a time: each group of up to ten fingers is one person, the group's
//! fingers at ISO positions 1, 2, … in ascending finger number (FVC2002's `101…110` at
//! positions 1…10, so each of its databases is one person). A database with more than ten
//! fingers gives several persons (`DB1_B`, `DB1_B#2`, …); a group with fewer than ten fingers
//! is a person with only those positions, and a group with fewer fingers than the search
//! policy's minimum is left out (listed as skipped, since the engine would reject it).
//!
//! A person's impressions are the impression numbers any of its fingers has, ascending: the
//! lowest is enrolled, every later one is a new applicant. A finger without that impression
//! is absent from that capture.

use std::collections::BTreeSet;

use serde::Serialize;
use tunggal_datasets::fvc::FvcDatabase;
use tunggal_index::gallery::FINGERS;
use tunggal_index::template::FingerTemplate;

/// One real person.
#[derive(Debug, Clone)]
pub struct RealPerson {
    /// Database folder name, with `#n` for the `n`-th group of ten fingers after the first.
    pub name: String,
    /// Finger number at each position (index 0 is ISO position 1).
    pub fingers: Vec<u32>,
    /// Impression numbers, ascending; the first is the enrolment.
    pub impressions: Vec<u32>,
    /// `captures[i][p]`: the template of impression `impressions[i]` at position `p + 1`,
    /// its ISO position set.
    pub captures: Vec<Vec<Option<FingerTemplate>>>,
}

impl RealPerson {
    /// The templates of capture `i` (an index into [`RealPerson::impressions`]).
    pub fn capture(&self, i: usize) -> Vec<FingerTemplate> {
        self.captures
            .get(i)
            .map(|c| c.iter().flatten().cloned().collect())
            .unwrap_or_default()
    }

    /// The template at position index `p` of the capture whose impression number is
    /// `impression`, if there is one.
    pub fn template(&self, impression: u32, p: usize) -> Option<&FingerTemplate> {
        let i = self.impressions.iter().position(|&n| n == impression)?;
        self.captures.get(i)?.get(p)?.as_ref()
    }
}

/// A group of fingers that was not made into a person.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// What it would have been called.
    pub name: String,
    /// Its finger numbers.
    pub fingers: Vec<u32>,
    /// Why.
    pub reason: String,
}

/// Persons of every database, in database order; groups with fewer than `min_fingers`
/// fingers are skipped.
pub fn persons_of(
    databases: &[FvcDatabase],
    min_fingers: usize,
) -> (Vec<RealPerson>, Vec<Skipped>) {
    let mut persons = Vec::new();
    let mut skipped = Vec::new();
    for db in databases {
        let fingers: Vec<u32> = db
            .samples
            .iter()
            .map(|s| s.finger)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for (g, group) in fingers.chunks(FINGERS).enumerate() {
            let name = if g == 0 {
                db.name.clone()
            } else {
                format!("{}#{}", db.name, g + 1)
            };
            if group.len() < min_fingers {
                skipped.push(Skipped {
                    name,
                    fingers: group.to_vec(),
                    reason: format!(
                        "{} fingers, the search policy requires {min_fingers}",
                        group.len()
                    ),
                });
                continue;
            }
            let impressions: Vec<u32> = db
                .samples
                .iter()
                .filter(|s| group.contains(&s.finger))
                .map(|s| s.impression)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let captures = impressions
                .iter()
                .map(|&imp| {
                    group
                        .iter()
                        .enumerate()
                        .map(|(p, &f)| {
                            db.samples
                                .iter()
                                .find(|s| s.finger == f && s.impression == imp)
                                .map(|s| FingerTemplate {
                                    position: p as u8 + 1,
                                    ..s.template.clone()
                                })
                        })
                        .collect()
                })
                .collect();
            persons.push(RealPerson {
                name,
                fingers: group.to_vec(),
                impressions,
                captures,
            });
        }
    }
    (persons, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tunggal_datasets::fvc::FvcSample;

    fn db(
        name: &str,
        fingers: std::ops::Range<u32>,
        impressions: std::ops::Range<u32>,
    ) -> FvcDatabase {
        let mut samples = Vec::new();
        for f in fingers {
            for i in impressions.clone() {
                samples.push(FvcSample {
                    stem: format!("{f}_{i}"),
                    finger: f,
                    impression: i,
                    template: FingerTemplate::default(),
                });
            }
        }
        FvcDatabase {
            name: name.into(),
            samples,
        }
    }

    #[test]
    fn fingers_are_grouped_by_ten_in_ascending_order() {
        // 23 fingers: two full persons and one of three; a database of two fingers is skipped.
        let dbs = [db("A", 201..224, 3..6), db("B", 7..9, 1..3)];
        let (persons, skipped) = persons_of(&dbs, 3);
        let names: Vec<&str> = persons.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["A", "A#2", "A#3"]);
        assert_eq!(persons[0].fingers, (201..211).collect::<Vec<_>>());
        assert_eq!(persons[2].fingers, vec![221, 222, 223]);
        assert_eq!(persons[0].impressions, vec![3, 4, 5]);
        let positions: Vec<u8> = persons[2].capture(1).iter().map(|t| t.position).collect();
        assert_eq!(positions, vec![1, 2, 3]);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].name, "B");
    }

    #[test]
    fn a_missing_impression_leaves_its_position_empty() {
        let mut d = db("C", 1..5, 1..4);
        d.samples.retain(|s| !(s.finger == 2 && s.impression == 3));
        let (persons, _) = persons_of(&[d], 3);
        let p = &persons[0];
        assert_eq!(p.capture(2).len(), 3);
        assert!(p.template(3, 1).is_none());
        assert_eq!(p.template(3, 2).map(|t| t.position), Some(3));
    }
}
