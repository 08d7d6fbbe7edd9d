//! Identify and verify in cluster mode answer as a single node does on the same gallery.

use tunggal::cluster::{Front, Fused};
use tunggal_datasets::population::Population;
use tunggal_index::gallery::{Enrolment, Gallery, GalleryConfig};
use tunggal_index::search::{self, Deduplicator, SearchConfig, SearchVerdict};
use tunggal_index::storage::Durability;

use crate::common::{capture, Nats, ShardProc, SEED};

/// Candidates as compared: keys and fused scores, best first.
fn candidates(v: &SearchVerdict) -> Vec<(u64, f32)> {
    match v {
        SearchVerdict::Duplicate(c) => c.iter().map(|c| (c.key, c.fused)).collect(),
        _ => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_identify_and_verify_equal_a_single_node_on_the_same_gallery() {
    let Some(nats) = Nats::start() else { return };
    let url = nats.url();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let _shards: Vec<ShardProc> = (0..2)
        .map(|i| ShardProc::start(&url, i, 2, 0, dirs[i as usize].path()))
        .collect();
    let front = Front::connect(&url, 2, 1).await.unwrap();
    let pop = Population::new(SEED + 4);

    // The gallery: twelve persons, one of them enrolled twice (a duplicate, not inserted).
    let mut stream: Vec<(u64, Enrolment)> = Vec::new();
    for (id, person, number) in
        (0..12)
            .map(|p| (format!("g{p}"), p, 0))
            .chain([("g3-again".to_owned(), 3, 1)])
    {
        let e = capture(&pop, person, number);
        let v = front.enrol(&id, &e).await.unwrap();
        stream.push((v.sequence, e));
    }
    // The same stream through a single node.
    let dir = tempfile::tempdir().unwrap();
    let mut config = GalleryConfig::default();
    config.store.durability = Durability::NoSync;
    let calibration = tunggal::engine::calibrate::shipped().unwrap();
    let gallery = Gallery::open(dir.path(), config, Some(calibration)).unwrap();
    let dedup = Deduplicator::new(gallery, SearchConfig::default());
    for (seq, e) in &stream {
        dedup.submit(*seq, e).unwrap();
    }
    let gallery = dedup.into_gallery();
    let persons = gallery.len();

    // Probes: third captures of enrolled persons, and persons never enrolled.
    let probes: Vec<Enrolment> = [(1, 2), (3, 2), (7, 2), (11, 2), (40, 0), (41, 0)]
        .into_iter()
        .map(|(person, number)| capture(&pop, person, number))
        .collect();
    let mut found = 0;
    for (i, probe) in probes.iter().enumerate() {
        let prepared = gallery.prepare(probe).unwrap();
        let single = search::search(&gallery, &prepared, &SearchConfig::default()).unwrap();
        let Fused::Searched(cluster) = front.identify(probe).await.unwrap() else {
            panic!("probe {i} rejected by the cluster")
        };
        assert_eq!(cluster.gallery_size, persons, "probe {i}");
        assert_eq!(cluster.gallery_size, single.gallery_size, "probe {i}");
        assert_eq!(
            candidates(&cluster.verdict),
            candidates(&single.verdict),
            "probe {i}"
        );
        found += usize::from(!candidates(&single.verdict).is_empty());
    }
    assert_eq!(
        found, 4,
        "the enrolled persons' probes are found, the others not"
    );

    // Verify: each probe against the first person's key, as the single node compares them.
    let threshold = front.verify_threshold();
    let first = stream[1].0;
    for (i, probe) in probes.iter().enumerate() {
        let cluster = front.verify(first, probe).await.unwrap().unwrap();
        let prepared = gallery.prepare(probe).unwrap();
        let stored = gallery.get(first).unwrap().unwrap();
        let query = search::Stage1Probe::new(
            &prepared.record,
            gallery.preparer().iris(),
            SearchConfig::default().iris_gate,
        )
        .unwrap();
        let hit = search::scorer(&gallery)
            .score_full(&query, &stored.record)
            .unwrap();
        let single = search::stage2::compare(
            gallery.preparer().matcher(),
            gallery.calibration(),
            &prepared.fingers,
            &hit,
            &stored.fingers,
        );
        assert_eq!(cluster.fused, single.fused, "probe {i}");
        assert_eq!(
            cluster.fused >= threshold,
            i == 0,
            "probe {i}: {}",
            cluster.fused
        );
    }
    // A key that is not a person (the duplicate was never inserted): none.
    let duplicate = stream.last().unwrap().0;
    assert!(front.verify(duplicate, &probes[0]).await.unwrap().is_none());
}
