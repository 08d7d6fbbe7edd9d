//! Three NATS nodes with R=3 lose one node.

use std::process::Command;
use std::time::{Duration, Instant};

use tunggal::cluster::Front;
use tunggal_datasets::population::Population;

use crate::common::{capture, enrol_retrying, keys, NatsCluster, ShardProc, SEED};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nats_nodes_with_r3_lose_one_node_and_still_catch_duplicates() {
    let Some(mut nats) = NatsCluster::start() else {
        return;
    };
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    // The JetStream meta leader is elected a moment after the nodes start.
    let started = Instant::now();
    let front = loop {
        match Front::connect(&nats.url(1), 2, 3).await {
            Ok(f) => break f.with_wait(Duration::from_secs(60)),
            Err(e) => {
                assert!(started.elapsed() < Duration::from_secs(60), "{e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let shard = |i: u32, node: usize| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tunggal"));
        child
            .args([
                "shard",
                "--nats",
                &nats.url(node),
                "--shard",
                &format!("{i}/2"),
            ])
            .args(["--stream-replicas", "3", "--data-dir"])
            .arg(dirs[i as usize].path());
        child
    };
    let _shards: Vec<ShardProc> = [(0, 1), (1, 2)]
        .into_iter()
        .map(|(i, node)| ShardProc::spawn(shard(i, node), i))
        .collect();
    let pop = Population::new(SEED + 3);
    let mut firsts = Vec::new();
    for person in 0..3 {
        let v = enrol_retrying(&front, &format!("n{person}"), &capture(&pop, person, 0)).await;
        assert_eq!(v.verdict, "single", "{v:?}");
        firsts.push(v.sequence);
    }
    nats.kill(0);
    for person in 0..3 {
        let v = enrol_retrying(&front, &format!("n{person}-b"), &capture(&pop, person, 1)).await;
        assert_eq!(v.verdict, "duplicate", "{v:?}");
        assert_eq!(keys(&v), vec![firsts[person as usize]]);
    }
    let fresh = enrol_retrying(&front, "n9", &capture(&pop, 9, 0)).await;
    assert_eq!(fresh.verdict, "single");
    nats.restart(0);
    let back = Front::connect(&nats.url(0), 2, 3).await.unwrap();
    let v = enrol_retrying(&back, "n9-b", &capture(&pop, 9, 1)).await;
    assert_eq!(v.verdict, "duplicate", "{v:?}");
    assert_eq!(keys(&v), vec![fresh.sequence]);
    // The retry of an enrolment decided while node 0 was down, through node 0.
    let again = enrol_retrying(&back, "n1-b", &capture(&pop, 1, 1)).await;
    assert_eq!(keys(&again), vec![firsts[1]]);
}
