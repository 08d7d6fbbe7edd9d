//! A small `tunggal drill cluster`: three NATS nodes, 2 shards × 2 replicas, two front-ends,
//! a shard replica, a NATS node and a front-end killed mid-load and restarted, then a new
//! replica started from a snapshot.

use std::process::Command;

use crate::common::nats_server;

#[test]
fn a_small_cluster_drill_loses_nothing_and_decides_as_a_single_node() {
    if nats_server().is_none() {
        eprintln!("skipping: nats-server is not installed (apt-get install nats-server)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("drill.json");
    let out = Command::new(env!("CARGO_BIN_EXE_tunggal"))
        .args(["drill", "cluster", "--shards", "2", "--replicas", "2"])
        .args(["--rounds", "16", "--pair-every", "3", "--retry-every", "4"])
        .arg("--dir")
        .arg(dir.path().join("work"))
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(out.status.success(), "{r:#}");
    assert_eq!(r["acknowledged_lost"], 0, "{r:#}");
    assert_eq!(r["missed_duplicates"], 0, "{r:#}");
    assert_eq!(r["same_as_single_node"], true, "{r:#}");
    assert_eq!(r["restarted_replica_caught_up"], true, "{r:#}");
    assert_eq!(r["restarted_replica_serves"], true, "{r:#}");
    assert_eq!(r["new_replica_from_snapshot_serves"], true, "{r:#}");
    assert_eq!(r["unanswered"], 0, "{r:#}");
    assert_eq!(r["retry_mismatches"], 0, "{r:#}");
    assert_eq!(r["events"].as_array().map(Vec::len), Some(2), "{r:#}");
    assert!(r["simultaneous_pairs"].as_u64().unwrap() >= 4, "{r:#}");
    assert!(r["retries"].as_u64().unwrap() >= 4, "{r:#}");
    assert!(r["acknowledged"].as_u64().unwrap() >= 30, "{r:#}");
}
