//! Labelled pairs for learning a finger calibration: real FVC-style folders, score CSVs and
//! the decided cases of a data directory.

use std::path::Path;

use anyhow::Context;
use rayon::prelude::*;
use tunggal_datasets::fvc::FvcDatabase;
use tunggal_index::gallery::cohort::normalised;
use tunggal_index::gallery::descriptor::{self, similarity};
use tunggal_index::gallery::Preparer;

use crate::cases::{CaseKind, CaseOutcome, CasePolicy, CaseStore};

/// One labelled pair of finger samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// Database (or source) of each side; a pair is held out with a database when either
    /// side is from it.
    pub db: (String, String),
    /// Same finger.
    pub mated: bool,
    /// Second-stage matcher score.
    pub finger: f32,
    /// First-stage descriptor similarity, when known.
    pub descriptor: Option<f32>,
}

/// Every pair of samples across all `databases`, within and across databases (mated: the
/// same database and finger), with matcher score and descriptor similarity.
pub fn fvc_pairs(databases: &[FvcDatabase], preparer: &Preparer) -> Vec<Pair> {
    let samples: Vec<(&str, u32, &tunggal_index::template::FingerTemplate)> = databases
        .iter()
        .flat_map(|db| {
            db.samples
                .iter()
                .map(move |s| (db.name.as_str(), s.finger, &s.template))
        })
        .collect();
    let matcher = preparer.matcher();
    let prepared: Vec<_> = samples
        .par_iter()
        .map(|(_, _, t)| {
            let p = matcher.prepare(t);
            let d = preparer.descriptors().describe(&p);
            let ones = descriptor::ones(&d);
            (p, d, ones, preparer.cohort().offset(&d, ones))
        })
        .collect();
    let n = samples.len();
    (0..n)
        .into_par_iter()
        .flat_map_iter(|a| {
            let (samples, prepared) = (&samples, &prepared);
            ((a + 1)..n).map(move |b| {
                let ((da, fa, _), (db, fb, _)) = (samples[a], samples[b]);
                let ((pa, xa, oa, _), (pb, xb, ob, gb)) = (&prepared[a], &prepared[b]);
                Pair {
                    db: (da.to_owned(), db.to_owned()),
                    mated: da == db && fa == fb,
                    finger: matcher.compare(pa, pb),
                    // `b` as the gallery finger: its offset (0 without a cohort).
                    descriptor: Some(normalised(similarity(xa, *oa, xb, *ob), *gb)),
                }
            })
        })
        .collect()
}

/// The finger number of a template name `DB/finger_impression` or `finger_impression`.
fn finger_of(template: &str) -> &str {
    let stem = template.rsplit('/').next().unwrap_or(template);
    stem.split('_').next().unwrap_or(stem)
}

fn database_of<'a>(template: &'a str, database: &'a str) -> &'a str {
    template.rsplit_once('/').map_or(database, |(db, _)| db)
}

/// Pairs of a score CSV with a header naming `score` and either `mated` (`1`/`0`, `true`/
/// `false`) or `template_a` and `template_b` (the `tunggal eval fvc --scores` format:
/// mated when database and finger number agree; a template may be written `DB/stem`).
/// An optional `descriptor` column gives the first-stage similarity.
pub fn csv_pairs(path: &Path) -> anyhow::Result<Vec<Pair>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .context("empty score file")?
        .split(',')
        .map(str::trim)
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let score = col("score").context("no `score` column")?;
    let (database, ta, tb) = (col("database"), col("template_a"), col("template_b"));
    let (mated_col, descriptor) = (col("mated"), col("descriptor"));
    anyhow::ensure!(
        mated_col.is_some() || (ta.is_some() && tb.is_some()),
        "need a `mated` column or `template_a` and `template_b`"
    );
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |c: Option<usize>| c.and_then(|c| f.get(c).copied());
        let at = || format!("{} line {}", path.display(), i + 2);
        let s: f32 = get(Some(score))
            .context("missing score")
            .and_then(|v| v.parse().context("bad score"))
            .with_context(at)?;
        let dbname = get(database).unwrap_or("");
        let (a, b) = (get(ta).unwrap_or(""), get(tb).unwrap_or(""));
        let (da, db) = (database_of(a, dbname), database_of(b, dbname));
        let mated = match get(mated_col) {
            Some("1" | "true" | "mated") => true,
            Some("0" | "false" | "non-mated") => false,
            Some(v) => anyhow::bail!("{}: bad mated value {v:?}", at()),
            None => da == db && finger_of(a) == finger_of(b),
        };
        let descriptor = match get(descriptor) {
            Some(v) if !v.is_empty() => Some(v.parse().context("bad descriptor").with_context(at)?),
            _ => None,
        };
        out.push(Pair {
            db: (da.to_owned(), db.to_owned()),
            mated,
            finger: s,
            descriptor,
        });
    }
    Ok(out)
}

/// Per-finger pairs of the decided cases in `data_dir`: every finger score of a confirmed
/// duplicate's matched candidate is mated; every finger score of every candidate of a cleared
/// case is non-mated (cleared cases are near the threshold, where evidence matters). NIK
/// conflicts and undecided cases are skipped.
pub fn case_pairs(data_dir: &Path) -> anyhow::Result<Vec<Pair>> {
    let path = data_dir.join(crate::state::STATE_FILE);
    anyhow::ensure!(path.is_file(), "no state store in {}", data_dir.display());
    crate::state::migrate::require_migrated(data_dir)?;
    // Read-only: the service may be running on this directory.
    let state = crate::state::StateStore::open_read_only(&path)?;
    let store = CaseStore::new(std::sync::Arc::new(state), CasePolicy::default());
    let mut out = Vec::new();
    let source = format!("cases:{}", data_dir.display());
    store.for_each(|case| {
        if case.kind() == CaseKind::NikConflict {
            return;
        }
        // A confirmed duplicate: its matched candidate only; a cleared case: every candidate.
        let (mated, matched) = match case.outcome() {
            Some(CaseOutcome::ConfirmedDuplicate { duplicate_of }) => (true, Some(duplicate_of)),
            Some(CaseOutcome::Cleared) => (false, None),
            None => return,
        };
        let keep = |r: &str| matched.as_deref().is_none_or(|m| m == r);
        for c in case
            .new
            .candidates
            .iter()
            .filter(|c| keep(&c.person.reference_id))
        {
            for s in c.finger_scores.iter().flatten() {
                out.push(Pair {
                    db: (source.clone(), source.clone()),
                    mated,
                    finger: *s,
                    descriptor: None,
                });
            }
        }
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::{Actor, CaseCandidate, DecisionKind, NewCase, PersonSummary};

    fn person(n: u32) -> PersonSummary {
        crate::cases::tests::person(n, "317101")
    }

    fn candidate(n: u32, score: f32) -> CaseCandidate {
        let mut finger_scores = [Some(score); 10];
        finger_scores[9] = None;
        CaseCandidate {
            person: person(n),
            score: 20.0,
            finger_scores,
            iris_distances: [None, None],
            identical: Default::default(),
        }
    }

    #[test]
    fn decided_cases_give_mated_and_non_mated_finger_scores() {
        let dir = tempfile::tempdir().unwrap();
        let store = CaseStore::open(dir.path()).unwrap();
        let open = |a: u32, cands: Vec<CaseCandidate>| {
            store
                .open_case_at(
                    NewCase {
                        kind: CaseKind::Biometric,
                        applicant: person(a),
                        candidates: cands,
                        callback_url: None,
                        calibration: "test".into(),
                    },
                    1_795_000_000,
                )
                .unwrap()
                .case_id
        };
        let (ana, budi) = (
            Actor {
                owner: String::new(),
                key_id: "a".into(),
                name: "Ana".into(),
            },
            Actor {
                owner: String::new(),
                key_id: "b".into(),
                name: "Budi".into(),
            },
        );
        let t = 1_795_000_100;
        // Confirmed duplicate of P2 (P3 was also a candidate: neither label).
        let c1 = open(1, vec![candidate(2, 0.4), candidate(3, 0.05)]);
        let confirm = DecisionKind::ConfirmDuplicate {
            duplicate_of: "P2".into(),
        };
        let reason = Some(crate::cases::DecisionReason::SamePerson);
        store
            .decide(
                &c1,
                &ana,
                crate::cases::Decision::new(confirm, reason, "same"),
                t,
            )
            .unwrap();
        store.approve(&c1, &budi, "agreed", t + 1).unwrap();
        // Cleared: both candidates are non-mates.
        let c2 = open(4, vec![candidate(5, 0.03), candidate(6, 0.02)]);
        store
            .decide(
                &c2,
                &ana,
                crate::cases::Decision::new(
                    DecisionKind::Clear,
                    Some(crate::cases::DecisionReason::Other),
                    "different",
                ),
                t,
            )
            .unwrap();
        // Undecided: ignored.
        open(7, vec![candidate(8, 0.9)]);
        drop(store);
        let pairs = case_pairs(dir.path()).unwrap();
        let mated: Vec<f32> = pairs.iter().filter(|p| p.mated).map(|p| p.finger).collect();
        let non: Vec<f32> = pairs
            .iter()
            .filter(|p| !p.mated)
            .map(|p| p.finger)
            .collect();
        assert_eq!(mated, vec![0.4; 9], "nine fingers both sides have");
        assert_eq!(non.len(), 18);
        assert!(non.iter().all(|&s| s == 0.03 || s == 0.02));
        assert!(case_pairs(&dir.path().join("nowhere")).is_err());
    }
}
