//! A killed shard replica restarts and catches up.

use std::time::Duration;

use tunggal::cluster::{shard_of, Front};
use tunggal_datasets::population::Population;

use crate::common::{capture, keys, Nats, ShardProc, SEED};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_shard_replica_catches_up_and_still_catches_duplicates() {
    let Some(nats) = Nats::start() else { return };
    let url = nats.url();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let keep = ShardProc::start(&url, 0, 2, 0, dirs[0].path());
    let victim = ShardProc::start(&url, 1, 2, 0, dirs[1].path());
    let front = Front::connect(&url, 2, 1)
        .await
        .unwrap()
        .with_wait(Duration::from_secs(120));
    let pop = Population::new(SEED + 1);
    let mut enrolled = Vec::new();
    for person in 10..14 {
        let v = front
            .enrol(&format!("p{person}"), &capture(&pop, person, 0))
            .await
            .unwrap();
        assert_eq!(v.verdict, "single", "{v:?}");
        enrolled.push((person, v.sequence));
    }
    victim.kill();
    // Enrolled while the replica is down: its partial comes once it is back.
    let pending = {
        let front = front.clone();
        let e = capture(&pop, 14, 0);
        tokio::spawn(async move { front.enrol("p14", &e).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!pending.is_finished(), "decided without every shard");
    let back = ShardProc::start(&url, 1, 2, 0, dirs[1].path());
    let v = pending.await.unwrap().unwrap();
    assert_eq!(v.verdict, "single", "{v:?}");
    enrolled.push((14, v.sequence));
    // Every person's second capture is caught, those the restarted replica holds included.
    let mut on_victim = 0;
    for (person, sequence) in enrolled {
        on_victim += usize::from(shard_of(sequence, 2) == 1);
        let d = front
            .enrol(&format!("p{person}-again"), &capture(&pop, person, 1))
            .await
            .unwrap();
        assert_eq!(d.verdict, "duplicate", "person {person}: {d:?}");
        assert_eq!(keys(&d), vec![sequence], "person {person}");
    }
    assert!(
        on_victim > 0,
        "no person of the test is held by the restarted shard"
    );
    drop((keep, back));
}
