//! Resharding's core step, in one process (no NATS): two partitions apply the first `Q`
//! enrolments as shard replicas do (every partition searches, the partials are fused, the
//! owner inserts), their snapshots are taken, three new partitions are built from those
//! snapshots, and the new set continues from `Q + 1`. Every verdict before and after the
//! switch equals a single node's on the same stream.

use std::path::Path;

use tunggal::cluster::search::search_partition;
use tunggal::cluster::snapshot::publish::{stage, Origin};
use tunggal::cluster::wire::EnrolMessage;
use tunggal::cluster::{fuse, reshard, shard_of};
use tunggal_datasets::population::Population;
use tunggal_index::gallery::{Enrolment, Gallery, GalleryConfig};
use tunggal_index::search::SearchConfig;
use tunggal_index::storage::Durability;

use crate::common::{capture, single_node, Outcome, SEED};

fn config() -> GalleryConfig {
    let mut config = GalleryConfig::default();
    config.store.durability = Durability::NoSync;
    config
}

fn new_partition(dir: &Path) -> Gallery {
    let calibration = tunggal::engine::calibrate::shipped().unwrap();
    Gallery::open(dir, config(), Some(calibration)).unwrap()
}

/// One enrolment through `parts` as the shard replicas apply it.
fn apply(parts: &[Gallery], sequence: u64, e: &Enrolment) -> Outcome {
    let shards = parts.len() as u32;
    let search = SearchConfig::default();
    let mut partials = Vec::new();
    let mut owned = None;
    for (i, g) in parts.iter().enumerate() {
        let message = Ok(EnrolMessage::new("r", e));
        let (partial, prepared) =
            search_partition(g, &search, sequence, i as u32, shards, message).unwrap();
        if shard_of(sequence, shards) == i as u32 {
            owned = prepared;
        }
        partials.push(partial);
    }
    let fused = fuse(&partials, &search).unwrap();
    if fused.is_single() {
        let owner = shard_of(sequence, shards) as usize;
        parts[owner].insert(sequence, &owned.unwrap()).unwrap();
    }
    let v = fused.stored("r", sequence);
    let candidates = v.candidates.iter().map(|c| (c.key, c.score)).collect();
    (sequence, v.verdict, candidates)
}

#[test]
fn partitions_of_a_new_shard_count_built_from_snapshots_decide_as_a_single_node() {
    let pop = Population::new(SEED + 5);
    // New persons, with a returning person every third enrolment.
    let stream: Vec<(u64, Enrolment)> = (0..36u64)
        .map(|n| {
            let e = if n % 3 == 2 {
                capture(&pop, n / 3, 1)
            } else {
                capture(&pop, n, 0)
            };
            (n + 1, e)
        })
        .collect();
    let switch_at = 20;
    let dir = tempfile::tempdir().unwrap();
    let old: Vec<Gallery> = (0..2)
        .map(|i| new_partition(&dir.path().join(format!("old-{i}"))))
        .collect();
    let mut outcomes: Vec<Outcome> = stream[..switch_at]
        .iter()
        .map(|(s, e)| apply(&old, *s, e))
        .collect();
    // The old partitions' snapshots at the switch sequence, opened where they were copied.
    let snapshots: Vec<Gallery> = old
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let out = dir.path().join(format!("snapshot-{i}"));
            let origin = Origin {
                shard: i as u32,
                shards: 2,
                replica: 0,
                sequence: switch_at as u64,
            };
            let staged = stage(g, &out, origin).unwrap();
            assert_eq!(staged.manifest.persons, g.len() as u64);
            Gallery::open(&out, config(), None).unwrap()
        })
        .collect();
    let sources: Vec<&Gallery> = snapshots.iter().collect();
    let new: Vec<Gallery> = (0..3)
        .map(|j| {
            let g = new_partition(&dir.path().join(format!("new-{j}")));
            reshard::split(&sources, &g, j, 3).unwrap();
            g
        })
        .collect();
    let before: usize = old.iter().map(Gallery::len).sum();
    assert_eq!(new.iter().map(Gallery::len).sum::<usize>(), before);
    assert!(
        new.iter().all(|g| !g.is_empty()),
        "a new partition is empty"
    );
    for (i, g) in new.iter().enumerate() {
        let keys: Vec<u64> = g.snapshot().keys().collect();
        assert!(keys.iter().all(|&k| shard_of(k, 3) == i as u32));
    }
    outcomes.extend(stream[switch_at..].iter().map(|(s, e)| apply(&new, *s, e)));
    let single = single_node(&stream);
    assert_eq!(outcomes, single);
    let duplicates_after = outcomes[switch_at..]
        .iter()
        .filter(|o| o.1 == "duplicate")
        .count();
    assert!(duplicates_after >= 4, "{outcomes:?}");
}
