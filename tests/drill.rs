//! The crash drill at CI scale: `tunggal serve` as a child process, killed with SIGKILL three
//! times while enrolments are in flight, restarted on the same data directory each time.
//! Each kill waits for a request outstanding for at least 20 ms, so it lands on work in
//! flight however loaded the machine is; a kill that cut no request fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use tunggal::loadgen::drill::{crash, CrashConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_enrolments_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = CrashConfig {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_tunggal")),
        data_dir: dir.path().join("data"),
        kills: 3,
        seed: 5,
        duplicate_ratio: 0.35,
        concurrency: 3,
        min_uptime: Duration::from_millis(1500),
        max_uptime: Duration::from_millis(4000),
        min_request_age: Duration::from_millis(20),
        in_flight_timeout: Duration::from_secs(120),
        ready_timeout: Duration::from_secs(300),
        verbose: true,
    };
    let r = crash(cfg).await.unwrap();
    let json = serde_json::to_string_pretty(&r).unwrap();
    println!("{json}");
    assert_eq!(r.kills, 3, "{json}");
    assert_eq!(r.ready_seconds.len(), 4, "{json}");
    // Every kill cut a request that had been outstanding for 20 ms and never got an
    // answer (the drill itself fails below 90 %).
    assert_eq!(r.in_flight_at_kill.len(), 3, "{json}");
    assert_eq!(r.kills_with_work_in_flight, 3, "{json}");
    assert!(r.outstanding_at_kill.iter().all(|&n| n > 0), "{json}");
    assert!(r.acknowledged >= 5, "{json}");
    assert_eq!(r.lost, 0, "{json}");
    assert_eq!(r.half_written, 0, "{json}");
    assert_eq!(r.resend_mismatches, 0, "{json}");
    assert_eq!(r.cross_crash_missed, 0, "{json}");
    assert_eq!(r.truth.missed_duplicates, 0, "{json}");
    assert_eq!(r.truth.false_duplicates, 0, "{json}");
    assert!(r.passed, "{json}");
}
