//! The index reports stage timings and storage counters through the `metrics` facade: a
//! local debugging recorder sees one first-stage pass, one second stage and the log
//! commits of the enrolments.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tunggal_index::gallery::{Enrolment, Gallery, GalleryConfig};
use tunggal_index::search::{self, Calibration, FusionCaps, LlrTable, SearchConfig};
use tunggal_index::telemetry;
use tunggal_index::template::{FingerTemplate, Minutia, MinutiaKind};

fn table() -> LlrTable {
    LlrTable {
        lo: 0.0,
        hi: 1.0,
        llr: vec![-2.0, -1.0, 0.0, 2.0, 4.0, 6.0, 8.0],
    }
}

fn calibration() -> Calibration {
    Calibration {
        descriptor: table(),
        finger: table(),
        iris: table(),
        caps: FusionCaps::default(),
        id: "test".into(),
        descriptor_version: 0,
        matcher_version: 1,
        cohort: Default::default(),
    }
}

/// Four fingers of 40 minutiae spread over a 400 × 400 pixel print.
fn person(rng: &mut ChaCha8Rng) -> Enrolment {
    let fingers = (1..=4u8)
        .map(|position| FingerTemplate {
            width: 400,
            height: 400,
            position,
            quality: 80,
            minutiae: (0..40)
                .map(|_| Minutia {
                    x: rng.gen_range(40..360),
                    y: rng.gen_range(40..360),
                    angle: rng.gen(),
                    kind: MinutiaKind::Ending,
                    quality: 80,
                })
                .collect(),
        })
        .collect();
    Enrolment {
        fingers,
        irises: Vec::new(),
    }
}

#[test]
fn a_search_records_stage_timings_and_the_enrolments_record_log_commits() {
    let dir = tempfile::tempdir().unwrap();
    let gallery = Gallery::open(dir.path(), GalleryConfig::default(), Some(calibration())).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let people: Vec<Enrolment> = (0..3).map(|_| person(&mut rng)).collect();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let outcome = metrics::with_local_recorder(&recorder, || {
        for (key, p) in people.iter().enumerate() {
            gallery.enrol(key as u64 + 1, p).unwrap();
        }
        let probe = gallery.prepare(&people[1]).unwrap();
        search::search(&gallery, &probe, &SearchConfig::default()).unwrap()
    });
    assert_eq!(outcome.gallery_size, 3);
    assert!(!outcome.shortlist.is_empty());

    let snapshot = snapshotter.snapshot().into_vec();
    let value = |kind: MetricKind, name: &str| -> &DebugValue {
        snapshot
            .iter()
            .find(|(k, _, _, _)| k.kind() == kind && k.key().name() == name)
            .map(|(_, _, _, v)| v)
            .unwrap_or_else(|| panic!("{name} not recorded"))
    };
    let samples = |name: &str| -> Vec<f64> {
        match value(MetricKind::Histogram, name) {
            DebugValue::Histogram(v) => v.iter().map(|x| x.into_inner()).collect(),
            other => panic!("{name}: {other:?}"),
        }
    };
    let count = |name: &str| -> u64 {
        match value(MetricKind::Counter, name) {
            DebugValue::Counter(n) => *n,
            other => panic!("{name}: {other:?}"),
        }
    };

    // One search: one first-stage pass over three records, one second stage over the
    // shortlist, each timed once.
    let stage1 = samples(telemetry::STAGE1_SECONDS);
    assert_eq!(stage1.len(), 1);
    assert!(stage1[0] > 0.0);
    assert_eq!(count(telemetry::STAGE1_PROBES), 1);
    assert_eq!(count(telemetry::STAGE1_RECORDS), 3);
    let stage2 = samples(telemetry::STAGE2_SECONDS);
    assert_eq!(stage2.len(), 1);
    assert!(stage2[0] > 0.0);
    assert_eq!(
        count(telemetry::STAGE2_CANDIDATES),
        outcome.shortlist.len() as u64
    );

    // Three enrolments, each committed and synced on its own (no concurrent writers).
    let commits = samples(telemetry::WAL_COMMIT_SECONDS);
    assert_eq!(commits.len(), 3);
    assert!(commits.iter().all(|&s| s > 0.0));
    assert_eq!(samples(telemetry::WAL_GROUP_COMMIT_ENTRIES), vec![1.0; 3]);
    assert!(count(telemetry::WAL_COMMIT_BYTES) > 3 * 2368);
    assert_eq!(count(telemetry::WAL_FSYNCS), 3);
}
