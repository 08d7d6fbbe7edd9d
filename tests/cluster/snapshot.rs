//! Partition snapshots in the object store: a new replica started from one equals its
//! sibling; a damaged snapshot is refused, and the replica falls back to an older one or to
//! a full replay.

use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::jetstream::object_store::ObjectStore;
use tokio::io::AsyncReadExt as _;
use tunggal::cluster::shard::read_applied;
use tunggal::cluster::snapshot::{self, SnapshotFault, MANIFEST_OBJECT};
use tunggal::cluster::{shard_of, Front, ShardOptions};
use tunggal_datasets::population::Population;
use tunggal_index::gallery::{Gallery, GalleryConfig};
use tunggal_index::search::SearchConfig;

use crate::common::{capture, keys, Nats, ShardProc, SEED};

async fn store(url: &str) -> ObjectStore {
    let client = async_nats::connect(url).await.unwrap();
    snapshot::bucket(&async_nats::jetstream::new(client), 1)
        .await
        .unwrap()
}

/// Waits until shard `shard` of 2 has a complete snapshot at `sequence`; its prefix.
async fn snapshot_at(store: &ObjectStore, shard: u32, sequence: u64) -> String {
    let started = Instant::now();
    loop {
        let listed = snapshot::list(store, shard, 2).await.unwrap();
        if let Some(s) = listed.iter().find(|s| s.complete && s.sequence == sequence) {
            return s.prefix.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no snapshot of shard {shard} at {sequence}: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the replica in `dir` has applied `sequence`.
async fn applied(dir: &Path, sequence: u64) {
    let started = Instant::now();
    while read_applied(dir).unwrap() < sequence {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{} stuck at {}",
            dir.display(),
            read_applied(dir).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts the two partitions hold the same persons, hot records and cold blobs byte for
/// byte; returns how many.
fn same_partition(a: &Path, b: &Path) -> usize {
    let open = |d: &Path| Gallery::open(d.join("gallery"), GalleryConfig::default(), None).unwrap();
    let (ga, gb) = (open(a), open(b));
    let (sa, sb) = (ga.snapshot(), gb.snapshot());
    let mut ka: Vec<u64> = sa.keys().collect();
    let mut kb: Vec<u64> = sb.keys().collect();
    ka.sort_unstable();
    kb.sort_unstable();
    assert_eq!(ka, kb, "the partitions hold different persons");
    for &key in &ka {
        let (ra, rb) = (sa.get(key).unwrap().unwrap(), sb.get(key).unwrap().unwrap());
        assert_eq!(ra.record, rb.record, "hot record of {key}");
        assert_eq!(
            sa.blob(key).unwrap(),
            sb.blob(key).unwrap(),
            "cold blob of {key}"
        );
    }
    ka.len()
}

fn options(url: &str, replica: u32, dir: &Path) -> ShardOptions {
    ShardOptions {
        nats: url.to_owned(),
        shard: 1,
        shards: 2,
        replica,
        data_dir: dir.to_path_buf(),
        stream_replicas: 1,
        search: SearchConfig::default(),
        gallery: GalleryConfig::default(),
        snapshot_every: 0,
    }
}

/// Replaces the object `name` with its bytes, one flipped.
async fn flip_byte(store: &ObjectStore, name: &str, at: impl Fn(usize) -> usize) {
    let mut bytes = Vec::new();
    store
        .get(name)
        .await
        .unwrap()
        .read_to_end(&mut bytes)
        .await
        .unwrap();
    let i = at(bytes.len());
    bytes[i] ^= 0x01;
    store.put(name, &mut bytes.as_slice()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_replica_from_a_snapshot_equals_its_sibling() {
    let Some(nats) = Nats::start() else { return };
    let url = nats.url();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let every = ["--snapshot-every", "4"];
    let s0 = ShardProc::start_with(&url, 0, 2, 0, dirs[0].path(), &every);
    let s1 = ShardProc::start_with(&url, 1, 2, 0, dirs[1].path(), &every);
    let front = Front::connect(&url, 2, 1)
        .await
        .unwrap()
        .with_wait(Duration::from_secs(120));
    let pop = Population::new(SEED + 3);
    let store = store(&url).await;
    let mut enrolled = Vec::new();
    // A snapshot due while the previous one uploads is skipped: the one at 4 is waited for
    // before the enrolments that make the one at 8 due.
    for batch in [0..4, 4..10] {
        for person in batch {
            let v = front
                .enrol(&format!("p{person}"), &capture(&pop, person, 0))
                .await
                .unwrap();
            assert_eq!(v.verdict, "single", "{v:?}");
            enrolled.push((person, v.sequence));
        }
        if enrolled.len() == 4 {
            snapshot_at(&store, 1, 4).await;
        }
    }
    let prefix = snapshot_at(&store, 1, 8).await;
    // One more after the snapshot: the new replica replays it.
    let v = front.enrol("p10", &capture(&pop, 10, 0)).await.unwrap();
    enrolled.push((10, v.sequence));
    let held = enrolled
        .iter()
        .filter(|(_, s)| *s <= 8 && shard_of(*s, 2) == 1)
        .count();
    assert!(held > 0, "the snapshot holds nobody");
    let fresh = ShardProc::start_with(&url, 1, 2, 1, dirs[2].path(), &[]);
    assert!(
        fresh.ready.contains(&format!(
            "ready: {held} persons, applied through sequence 8"
        )),
        "{}",
        fresh.ready
    );
    assert!(
        fresh
            .ready
            .contains(&format!("from snapshot {prefix} at sequence 8, 0 refused")),
        "{}",
        fresh.ready
    );
    // Both replicas of shard 1 serve: every second capture is caught.
    let mut last = 0;
    for &(person, sequence) in &enrolled {
        let d = front
            .enrol(&format!("p{person}-again"), &capture(&pop, person, 1))
            .await
            .unwrap();
        assert_eq!(d.verdict, "duplicate", "person {person}: {d:?}");
        assert_eq!(keys(&d), vec![sequence], "person {person}");
        last = d.sequence;
    }
    applied(dirs[1].path(), last).await;
    applied(dirs[2].path(), last).await;
    drop((s0, s1, fresh));
    let persons = same_partition(dirs[1].path(), dirs[2].path());
    let on_shard = enrolled
        .iter()
        .filter(|(_, s)| shard_of(*s, 2) == 1)
        .count();
    assert_eq!(persons, on_shard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_snapshot_is_refused_for_an_older_one_or_a_full_replay() {
    let Some(nats) = Nats::start() else { return };
    let url = nats.url();
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let every = ["--snapshot-every", "4"];
    let s0 = ShardProc::start_with(&url, 0, 2, 0, dirs[0].path(), &every);
    let s1 = ShardProc::start_with(&url, 1, 2, 0, dirs[1].path(), &every);
    let front = Front::connect(&url, 2, 1)
        .await
        .unwrap()
        .with_wait(Duration::from_secs(120));
    let pop = Population::new(SEED + 4);
    let store = store(&url).await;
    let mut prefixes = Vec::new();
    // A snapshot due while the previous one uploads is skipped: wait for each.
    for batch in [0..4, 4..8] {
        for person in batch {
            let v = front
                .enrol(&format!("p{person}"), &capture(&pop, person, 0))
                .await
                .unwrap();
            assert_eq!(v.verdict, "single", "{v:?}");
        }
        prefixes.push(snapshot_at(&store, 1, 4 * (prefixes.len() as u64 + 1)).await);
    }
    let (older, newer) = (prefixes[0].clone(), prefixes[1].clone());

    // One flipped bit in the newer snapshot's segment file: refused, the older one used.
    let segment = format!("{newer}files/seg-00000001.dat");
    flip_byte(&store, &segment, |len| len / 3).await;
    let restored = snapshot::restore_new_replica(&options(&url, 1, dirs[2].path()))
        .await
        .unwrap();
    assert_eq!(restored.from, Some((older.clone(), 4)), "{restored:?}");
    assert_eq!(restored.refused.len(), 1, "{restored:?}");
    assert_eq!(restored.refused[0].0, newer);
    assert!(
        matches!(&restored.refused[0].1, SnapshotFault::Crc { file, .. } if file == "seg-00000001.dat"),
        "{restored:?}"
    );
    assert_eq!(read_applied(dirs[2].path()).unwrap(), 4);
    assert!(!dirs[2].path().join("gallery.restoring").exists());

    // The older one's manifest damaged too: both refused, nothing installed, full replay.
    flip_byte(&store, &format!("{older}{MANIFEST_OBJECT}"), |len| len / 2).await;
    let none = snapshot::restore_new_replica(&options(&url, 2, dirs[3].path()))
        .await
        .unwrap();
    assert!(none.looked && none.from.is_none(), "{none:?}");
    assert_eq!(none.refused.len(), 2, "{none:?}");
    assert!(
        matches!(none.refused[1].1, SnapshotFault::ManifestCrc { .. }),
        "{none:?}"
    );
    assert!(!dirs[3].path().join("gallery").exists());
    assert!(!dirs[3].path().join("gallery.restoring").exists());
    assert_eq!(read_applied(dirs[3].path()).unwrap(), 0);

    // Both serve as replicas of shard 1 and end equal to the sibling.
    let from_older = ShardProc::start_with(&url, 1, 2, 1, dirs[2].path(), &[]);
    let replayed = ShardProc::start_with(&url, 1, 2, 2, dirs[3].path(), &[]);
    assert!(
        replayed.ready.contains("no usable snapshot, 2 refused"),
        "{}",
        replayed.ready
    );
    applied(dirs[2].path(), 8).await;
    applied(dirs[3].path(), 8).await;
    drop((s0, s1, from_older, replayed));
    let persons = same_partition(dirs[1].path(), dirs[2].path());
    assert_eq!(persons, same_partition(dirs[1].path(), dirs[3].path()));
    assert!(persons > 0);
}
