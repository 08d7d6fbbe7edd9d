#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Gallery and deduplication behaviour on small synthetic populations.

use std::sync::{Arc, Barrier, OnceLock};

use tunggal::dedup::{enrolment_of, learn, sample_scores};
use tunggal_datasets::population::{CaptureSpec, Population};
use tunggal_index::gallery::{Enrolment, Gallery, GalleryConfig, Preparer};
use tunggal_index::search::{
    search, Calibration, Deduplicator, FusionCaps, Rejection, SearchConfig, SearchVerdict,
};
use tunggal_index::storage::Durability;

const SEED: u64 = 77;

fn config() -> GalleryConfig {
    let mut c = GalleryConfig::default();
    c.store.durability = Durability::NoSync;
    c
}

fn calibration() -> Calibration {
    static CAL: OnceLock<Calibration> = OnceLock::new();
    CAL.get_or_init(|| {
        let c = config();
        let preparer = Preparer::new(&c.mcc, c.descriptor).unwrap();
        let samples = sample_scores(&Population::new(SEED), &preparer, 60, 4).unwrap();
        learn(&samples, FusionCaps::default()).unwrap()
    })
    .clone()
}

fn capture(pop: &Population, id: u64, number: u64) -> Enrolment {
    let person = pop.person(id);
    enrolment_of(&pop.capture(&person, number, &CaptureSpec::default()), true)
}

fn gallery_of(dir: &std::path::Path, pop: &Population, n: u64) -> Gallery {
    let g = Gallery::open(dir, config(), Some(calibration())).unwrap();
    for id in 0..n {
        g.enrol(id, &capture(pop, id, 0)).unwrap();
    }
    g
}

#[test]
fn enrol_get_replace_delete_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let g = gallery_of(dir.path(), &pop, 3);
    let e = capture(&pop, 1, 0);
    let stored = g.get(1).unwrap().unwrap();
    assert_eq!(stored.record.key, 1);
    assert_eq!(
        stored.record.finger_count() as usize,
        stored.fingers.iter().flatten().count()
    );
    assert_eq!(stored.record.eye_count(), 2);
    let prepared = g.prepare(&e).unwrap();
    for (got, want) in stored.fingers.iter().zip(&prepared.fingers) {
        assert_eq!(got, want);
    }
    let other = g.prepare(&capture(&pop, 9, 0)).unwrap();
    g.replace(1, &other).unwrap();
    assert_eq!(g.get(1).unwrap().unwrap().fingers, other.fingers);
    g.delete(2).unwrap();
    assert!(g.get(2).unwrap().is_none());
    assert!(g.insert(0, &other).is_err(), "duplicate key accepted");
    let fp = g.footprint().unwrap();
    assert_eq!(fp.persons, 2);
    assert_eq!(fp.hot_bytes_per_person, 2368);
    assert!(fp.disk_bytes > 0);
    g.close().unwrap();
    let g = Gallery::open(dir.path(), config(), None).unwrap();
    assert_eq!(g.len(), 2);
    assert_eq!(g.calibration(), &calibration());
    assert_eq!(g.get(1).unwrap().unwrap().fingers, other.fingers);
}

#[test]
fn returning_people_are_duplicates_and_new_people_single() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let g = gallery_of(dir.path(), &pop, 40);
    let cfg = SearchConfig {
        shortlist: 8,
        ..SearchConfig::default()
    };
    for id in [3, 17, 39] {
        let probe = g.prepare(&capture(&pop, id, 5)).unwrap();
        let out = search(&g, &probe, &cfg).unwrap();
        assert!(out.shortlist.contains(&id));
        match out.verdict {
            SearchVerdict::Duplicate(c) => {
                assert_eq!(c[0].key, id);
                assert!(c[0].fused >= out.threshold);
                assert!(c[0].fingers.iter().flatten().count() >= 3);
                assert!(c[0].eyes.iter().flatten().count() == 2);
                // Both eyes pass the iris gate and score low after rotation compensation.
                for e in c[0].eyes.iter().flatten() {
                    let hd = e.hd_norm.unwrap();
                    assert!(hd < 0.3, "person {id}: hd_norm {hd}");
                    assert!(e.llr > 0.0);
                }
            }
            v => panic!("person {id}: {v:?}"),
        }
    }
    for id in [100, 101, 102] {
        let probe = g.prepare(&capture(&pop, id, 0)).unwrap();
        let out = search(&g, &probe, &cfg).unwrap();
        assert_eq!(out.verdict, SearchVerdict::Single, "new person {id}");
        // Other people's eyes lie in the impostor range and give at most weak evidence (an eye
        // beyond the gate carries the negative iris floor; one just inside it, the table's
        // ratio in the impostor tail).
        let best = out.best.unwrap();
        for e in best.eyes.iter().flatten() {
            assert!(e.hd_norm.is_none_or(|h| h > 0.3), "new person {id}: {e:?}");
            assert!(e.llr < 1.0, "new person {id}: {e:?}");
        }
        assert_eq!(out.gallery_size, 40);
    }
}

#[test]
fn unusable_probes_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let g = gallery_of(dir.path(), &pop, 2);
    let cfg = SearchConfig::default();
    let empty = g.prepare(&Enrolment::default()).unwrap();
    assert!(matches!(
        search(&g, &empty, &cfg).unwrap().verdict,
        SearchVerdict::Rejected(Rejection::UnusableTemplates { .. })
    ));
    let mut two = capture(&pop, 0, 1);
    two.fingers.truncate(2);
    let two = g.prepare(&two).unwrap();
    assert_eq!(
        search(&g, &two, &cfg).unwrap().verdict,
        SearchVerdict::Rejected(Rejection::TooFewUsableFingers {
            usable: 2,
            required: 3
        })
    );
    let mut twice = capture(&pop, 0, 1);
    twice.fingers.push(twice.fingers[0].clone());
    assert!(g.prepare(&twice).is_err());
}

#[test]
fn simultaneous_captures_of_one_person_are_never_both_single() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let engine = Arc::new(Deduplicator::new(
        gallery_of(dir.path(), &pop, 10),
        SearchConfig {
            shortlist: 8,
            ..SearchConfig::default()
        },
    ));
    for person in 500..504u64 {
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2u64)
            .map(|c| {
                let (engine, barrier) = (Arc::clone(&engine), Arc::clone(&barrier));
                let e = capture(&pop, person, 1 + c);
                std::thread::spawn(move || {
                    let p = engine.gallery().prepare(&e).unwrap();
                    barrier.wait();
                    engine.submit_prepared(person * 10 + c, p).unwrap()
                })
            })
            .collect();
        let mut d: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        d.sort_by_key(|d| d.sequence);
        assert_eq!(
            d[0].outcome.verdict,
            SearchVerdict::Single,
            "first of person {person}"
        );
        assert!(d[0].enrolled);
        match &d[1].outcome.verdict {
            SearchVerdict::Duplicate(c) => assert_eq!(c[0].key, d[0].key),
            v => panic!("second capture of {person}: {v:?}"),
        }
        assert!(!d[1].enrolled);
    }
    assert_eq!(engine.gallery().len(), 14);
}

/// The first-stage scan (runs of records, a block-wide coarse iris screen) gives every
/// person the same score and evidence as scoring that person alone, for probes with both
/// eyes, one eye and four fingers, over a gallery with a deleted person and some one-eyed
/// records.
#[test]
fn first_stage_scan_scores_each_person_as_scoring_it_alone() {
    use tunggal_datasets::population::EyesCaptured;
    use tunggal_index::search::{scorer, stage1, Stage1Probe, DEFAULT_IRIS_GATE};
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let g = Gallery::open(dir.path(), config(), Some(calibration())).unwrap();
    let n = 150u64;
    for id in 0..n {
        let spec = CaptureSpec {
            eyes: if id % 7 == 3 {
                EyesCaptured::One
            } else {
                EyesCaptured::Both
            },
            ..CaptureSpec::default()
        };
        g.enrol(
            id,
            &enrolment_of(&pop.capture(&pop.person(id), 0, &spec), true),
        )
        .unwrap();
    }
    g.delete(20).unwrap();
    let specs = [
        (5u64, CaptureSpec::default()),
        (
            40,
            CaptureSpec {
                eyes: EyesCaptured::One,
                ..CaptureSpec::default()
            },
        ),
        (
            77,
            CaptureSpec {
                usable_fingers: 4,
                ..CaptureSpec::default()
            },
        ),
        (n + 3, CaptureSpec::default()),
    ];
    let prepared: Vec<_> = specs
        .iter()
        .map(|(id, spec)| {
            g.prepare(&enrolment_of(&pop.capture(&pop.person(*id), 1, spec), true))
                .unwrap()
        })
        .collect();
    let queries: Vec<Stage1Probe<'_>> = prepared
        .iter()
        .map(|p| Stage1Probe::new(&p.record, g.preparer().iris(), DEFAULT_IRIS_GATE).unwrap())
        .collect();
    let sc = scorer(&g);
    let snap = g.snapshot();
    let lists = stage1::scan(&snap, &queries, &sc, n as usize).unwrap();
    for ((id, _), (query, list)) in specs.iter().zip(queries.iter().zip(&lists)) {
        assert_eq!(
            list.len(),
            n as usize - 1,
            "probe {id}: every live person listed"
        );
        assert!(list.iter().all(|h| h.key != 20), "deleted person scanned");
        for hit in list {
            let stored = g.get(hit.key).unwrap().unwrap();
            let alone = sc.score(query, &stored.record).unwrap();
            assert_eq!(
                hit.score.to_bits(),
                alone.score.to_bits(),
                "probe {id}, person {}",
                hit.key
            );
            assert_eq!(hit.eyes, alone.eyes, "probe {id}, person {}", hit.key);
        }
        if *id < n {
            assert_eq!(list[0].key, *id, "mate ranked first");
            assert!(list[0].eyes.iter().flatten().any(|e| e.hd_norm.is_some()));
        }
    }
}

#[test]
fn galleries_of_another_descriptor_version_are_refused() {
    use tunggal_index::gallery::{DescriptorParams, GalleryError, CALIBRATION_NAME};
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let mut v1 = config();
    v1.descriptor = DescriptorParams::version1();
    let g = Gallery::open(dir.path(), v1.clone(), Some(calibration())).unwrap();
    g.enrol(0, &capture(&pop, 0, 0)).unwrap();
    assert_eq!(g.calibration().descriptor_version, 1);
    g.close().unwrap();
    // The defaults build version 2: neither reopening nor a new calibration is accepted.
    for cal in [None, Some(calibration())] {
        let r = Gallery::open(dir.path(), config(), cal);
        assert!(
            matches!(
                r,
                Err(GalleryError::DescriptorVersion {
                    stored: 1,
                    expected: 2
                })
            ),
            "{:?}",
            r.map(|g| g.len())
        );
    }
    let g = Gallery::open(dir.path(), v1, None).unwrap();
    assert_eq!(g.len(), 1);
    g.close().unwrap();
    // A calibration stored before versions were recorded says version 1.
    let path = dir.path().join(CALIBRATION_NAME);
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("descriptor_version");
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let err = Gallery::open(dir.path(), config(), None).err().unwrap();
    assert!(err.to_string().contains("version 1"), "{err}");
}

#[test]
fn offsets_follow_the_cohort_and_a_new_cohort_is_refused_on_a_non_empty_gallery() {
    use tunggal_index::gallery::cohort::offset_value;
    use tunggal_index::gallery::{DescriptorCohort, GalleryError};
    let pop = Population::new(SEED);
    let learned = calibration();
    let n = learned.cohort.len();
    assert!(
        (240..=256).contains(&n),
        "learning keeps a cohort of up to 256 fingers: {n}"
    );
    let mut none = learned.clone();
    none.cohort = DescriptorCohort::default();
    // Without a cohort every offset is 0; with one, the prepared fingers carry their mean
    // similarity against it, which for fingers of the same population is positive on average.
    let dir = tempfile::tempdir().unwrap();
    let g = Gallery::open(dir.path(), config(), Some(none.clone())).unwrap();
    let plain = g.prepare(&capture(&pop, 0, 0)).unwrap();
    assert_eq!(plain.record.offsets, [0; 10]);
    g.enrol(0, &capture(&pop, 0, 0)).unwrap();
    g.close().unwrap();
    let other = tempfile::tempdir().unwrap();
    let g = Gallery::open(other.path(), config(), Some(learned.clone())).unwrap();
    let with: Vec<f32> = (0..20)
        .flat_map(|id| {
            let p = g.prepare(&capture(&pop, id, 0)).unwrap();
            (0..10)
                .filter(|&s| p.record.has_finger(s))
                .map(|s| offset_value(p.record.offsets[s]))
                .collect::<Vec<_>>()
        })
        .collect();
    let mean = with.iter().sum::<f32>() / with.len() as f32;
    assert!(mean > 1.0 && mean < 5.0, "mean offset {mean}");
    g.close().unwrap();
    // The first gallery's persons were prepared without the cohort: a calibration with one
    // is refused, reopening with the stored one is not.
    let r = Gallery::open(dir.path(), config(), Some(learned));
    assert!(
        matches!(r, Err(GalleryError::Calibration(_))),
        "{:?}",
        r.map(|g| g.len())
    );
    let g = Gallery::open(dir.path(), config(), None).unwrap();
    assert_eq!(g.len(), 1);
    assert!(g.calibration().cohort.is_empty());
}

#[test]
fn a_gallery_calibrated_for_matcher_version_1_keeps_comparing_with_it() {
    use tunggal_index::finger::{MccParams, MATCHER_VERSION};
    use tunggal_index::gallery::{GalleryError, CALIBRATION_NAME};
    let dir = tempfile::tempdir().unwrap();
    let g = Gallery::open(dir.path(), config(), Some(calibration())).unwrap();
    assert_eq!(g.calibration().matcher_version, MATCHER_VERSION);
    assert_eq!(g.preparer().matcher().params(), &MccParams::default());
    g.close().unwrap();
    let path = dir.path().join(CALIBRATION_NAME);
    let edit = |f: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        f(json.as_object_mut().unwrap());
        std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    };
    // A calibration stored before matcher versions were recorded is version 1.
    edit(&|m| {
        m.remove("matcher_version");
    });
    let g = Gallery::open(dir.path(), config(), None).unwrap();
    assert_eq!(g.calibration().matcher_version, 1);
    assert_eq!(g.preparer().matcher().params(), &MccParams::v1());
    assert_ne!(MccParams::v1(), MccParams::default());
    g.close().unwrap();
    // Parameters asked for explicitly are kept.
    let mut custom = config();
    custom.mcc.pair_gate = 0.02;
    let g = Gallery::open(dir.path(), custom.clone(), None).unwrap();
    assert_eq!(g.preparer().matcher().params(), &custom.mcc);
    g.close().unwrap();
    // A version this build does not know is refused.
    edit(&|m| {
        m.insert(
            "matcher_version".into(),
            serde_json::json!(MATCHER_VERSION + 1),
        );
    });
    let r = Gallery::open(dir.path(), config(), None);
    assert!(
        matches!(r, Err(GalleryError::MatcherVersion { .. })),
        "{:?}",
        r.map(|g| g.len())
    );
}
