//! `tunggal bench dedup` on a small gallery, closed and open loop: the report counts every
//! probe against ground truth, and the open loop submits no probe before its schedule.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tunggal::bench::dedup::{run, DedupPlan, OPEN_LOOP_THREADS};
use tunggal_index::gallery::DescriptorParams;
use tunggal_index::search::DEFAULT_IRIS_GATE;

fn plan(dir: &std::path::Path, concurrency: usize, rate: Option<f64>) -> DedupPlan {
    DedupPlan {
        persons: 300,
        probes: 24,
        duplicate_ratio: 0.5,
        hard_share: 0.0,
        seed: 5,
        calibration_persons: 60,
        no_iris: false,
        shortlist: 16,
        descriptor: DescriptorParams::default(),
        iris_gate: DEFAULT_IRIS_GATE,
        dir: dir.to_path_buf(),
        concurrency,
        rate,
    }
}

#[test]
fn closed_and_open_loop_runs_report_every_probe() {
    let dir = tempfile::tempdir().unwrap();
    let closed = run(&plan(dir.path(), 3, None)).unwrap();
    assert!(!closed.reused_gallery);
    assert_eq!(closed.concurrency, 3);
    assert_eq!(closed.arrival_rate, None);
    assert_eq!(
        closed.mated_probes + closed.non_mated_probes + closed.rejected,
        24
    );
    assert!(closed.mated_probes > 0 && closed.non_mated_probes > 0);
    assert_eq!(closed.missed_duplicates, 0, "{closed:?}");
    assert_eq!(closed.false_duplicates, 0, "{closed:?}");

    // The same gallery, reused, with arrivals at 40 per second: the last of 24 probes is due
    // 0.575 s after the start, so the run cannot be shorter than that.
    let open = run(&plan(dir.path(), 1, Some(40.0))).unwrap();
    assert!(open.reused_gallery);
    assert_eq!(open.concurrency, OPEN_LOOP_THREADS);
    assert_eq!(open.arrival_rate, Some(40.0));
    assert!(open.late_arrivals <= 24, "{open:?}");
    assert!(open.enrolments_per_s <= 24.0 / 0.575, "{open:?}");
    assert_eq!(open.mated_probes, closed.mated_probes);
    assert_eq!(open.missed_duplicates, 0, "{open:?}");
    assert_eq!(open.false_duplicates, 0, "{open:?}");
    assert!(open.p50_ms > 0.0 && open.p50_ms <= open.p99_ms);
}
