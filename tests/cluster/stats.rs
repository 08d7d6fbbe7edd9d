//! Every shard replica answers its figures: where it is in the log, its partition, and a
//! count and time for each stage of the entries it applied.

use tunggal::cluster::stats::ask;
use tunggal::cluster::{shard_of, Front};
use tunggal_datasets::population::Population;

use crate::common::{capture, Nats, ShardProc, SEED};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_counts_its_searches_and_inserts() {
    let Some(nats) = Nats::start() else { return };
    let url = nats.url();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let _shards: Vec<ShardProc> = (0..2)
        .map(|i| ShardProc::start(&url, i, 2, 0, dirs[i as usize].path()))
        .collect();
    let front = Front::connect(&url, 2, 1).await.unwrap();
    let pop = Population::new(SEED + 7);
    let mut singles = Vec::new();
    for person in 0..6 {
        let v = front
            .enrol(&format!("s{person}"), &capture(&pop, person, 0))
            .await
            .unwrap();
        assert_eq!(v.verdict, "single", "{v:?}");
        singles.push(v.sequence);
    }
    let again = front.enrol("s0-again", &capture(&pop, 0, 1)).await.unwrap();
    assert_eq!(again.verdict, "duplicate", "{again:?}");
    let last = again.sequence;
    let client = &front.topology().client;
    let mut held = 0;
    for shard in 0..2 {
        // The owner's insert and acknowledgement may follow the front-end's answer.
        let mut s = ask(client, shard, 2, 0).await.unwrap();
        for _ in 0..100 {
            if s.applied >= last && s.work.ack.count >= 7 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            s = ask(client, shard, 2, 0).await.unwrap();
        }
        let owned = singles.iter().filter(|&&k| shard_of(k, 2) == shard).count() as u64;
        let owns_last = u64::from(shard_of(last, 2) == shard);
        assert_eq!((s.shard, s.shards, s.replica), (shard, 2, 0));
        assert_eq!(s.applied, last, "{s:?}");
        assert_eq!(s.partition_size, owned, "{s:?}");
        // Every entry searched, published, recorded, acknowledged on every shard.
        for stage in [s.work.search, s.work.publish, s.work.record, s.work.ack] {
            assert_eq!(stage.count, 7, "{s:?}");
        }
        // The owner collects for its own entries and inserts the singles only.
        assert_eq!(s.work.collect.count, owned + owns_last, "{s:?}");
        assert_eq!(s.work.insert.count, owned, "{s:?}");
        assert!(
            s.work.search.cpu_us > 0 && s.work.search.wall_us > 0,
            "{s:?}"
        );
        assert!(s.process_cpu_us >= s.work.search.cpu_us, "{s:?}");
        assert!(s.rss_bytes > 0 && s.peak_rss_bytes >= s.rss_bytes, "{s:?}");
        assert!(s.disk_bytes > 0 && s.disk_bytes >= s.wal_bytes, "{s:?}");
        held += s.partition_size;
    }
    assert_eq!(held, 6);
    assert!(
        ask(client, 2, 2, 0).await.is_err(),
        "no shard 2 of 2 answers"
    );
}
