//! Resharding. In one process (no NATS): two partitions apply the first `Q` enrolments as
//! shard replicas do (every partition searches, the partials are fused, the owner inserts),
//! their snapshots are taken, three new partitions are built from those snapshots, and the
//! new set continues from `Q + 1`. Over NATS: a running two-shard cluster switches to three
//! shards at an announced sequence while enrolments continue. Every verdict before and
//! after the switch equals a single node's on the same stream.

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

/// A running two-shard cluster switches to three shards at a sequence announced while
/// enrolments continue: the new partitions are built from the old ones' snapshots and the
/// log up to the switch, the old set stops there, the new set decides every later entry,
/// and every verdict equals a single node's on the same stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_cluster_switches_to_three_shards_while_enrolments_continue() {
    use std::collections::HashMap;

    use tunggal::cluster::topology::Switch;
    use tunggal::cluster::wire::StoredVerdict;
    use tunggal::cluster::Front;

    use crate::common::{enrol_retrying, keys, Nats, ShardProc};

    let Some(nats) = Nats::start() else { return };
    let url = nats.url();
    let root = tempfile::tempdir().unwrap();
    let old: Vec<ShardProc> = (0..2)
        .map(|i| {
            let dir = root.path().join(format!("old-{i}"));
            ShardProc::start_with(&url, i, 2, 0, &dir, &["--snapshot-every", "4"])
        })
        .collect();
    let pop = Population::new(SEED + 6);
    let requests: Vec<(String, Enrolment)> = (0..36u64)
        .map(|n| {
            let e = if n % 3 == 2 {
                capture(&pop, n / 3, 1)
            } else {
                capture(&pop, n, 0)
            };
            (format!("req-{n}"), e)
        })
        .collect();
    let front = Front::connect(&url, 2, 1).await.unwrap();
    let mut verdicts: Vec<StoredVerdict> = Vec::new();
    for (id, e) in &requests[..12] {
        verdicts.push(front.enrol(id, e).await.unwrap());
    }
    // Enrolments go on through another front-end while the switch is announced and the
    // new set is built.
    let other = Front::connect(&url, 2, 1).await.unwrap();
    let rest = requests[12..].to_vec();
    let later = tokio::spawn(async move {
        let mut out = Vec::new();
        for (id, e) in &rest {
            out.push(enrol_retrying(&other, id, e).await);
        }
        out
    });
    let at = front.last_sequence().await.unwrap() + 8;
    let switch = Switch { from: 2, to: 3, at };
    front.topology().announce(switch).await.unwrap();
    assert!(
        front
            .topology()
            .announce(Switch {
                at: at + 1,
                ..switch
            })
            .await
            .is_err(),
        "a second switch while one is pending"
    );
    let new: Vec<ShardProc> = (0..3)
        .map(|j| {
            let dir = root.path().join(format!("new-{j}"));
            ShardProc::start_with(&url, j, 3, 0, &dir, &["--reshard-from", "2"])
        })
        .collect();
    for p in &new {
        assert!(
            p.ready.contains(&format!("up to the switch at {at}")),
            "{}",
            p.ready
        );
    }
    assert!(
        new.iter().any(|p| !p.ready.contains("0 persons copied")),
        "no new partition was copied from a snapshot: {:?}",
        new.iter().map(|p| &p.ready).collect::<Vec<_>>()
    );
    verdicts.extend(later.await.unwrap());
    verdicts.sort_by_key(|v| v.sequence);
    let sent: HashMap<&str, &Enrolment> = requests.iter().map(|(id, e)| (id.as_str(), e)).collect();
    let stream: Vec<(u64, Enrolment)> = verdicts
        .iter()
        .map(|v| (v.sequence, sent[v.request_id.as_str()].clone()))
        .collect();
    let cluster: Vec<Outcome> = verdicts
        .iter()
        .map(|v| {
            let c = v.candidates.iter().map(|c| (c.key, c.score)).collect();
            (v.sequence, v.verdict.clone(), c)
        })
        .collect();
    assert_eq!(cluster, single_node(&stream));
    let after: Vec<&StoredVerdict> = verdicts.iter().filter(|v| v.sequence > at).collect();
    assert!(
        after.len() >= 10,
        "{} enrolments after the switch",
        after.len()
    );
    assert!(
        after.iter().filter(|v| v.verdict == "duplicate").count() >= 3,
        "{after:?}"
    );
    // The old set stopped at the switch.
    for i in 0..2 {
        let applied =
            tunggal::cluster::shard::read_applied(&root.path().join(format!("old-{i}"))).unwrap();
        assert_eq!(applied, at, "old shard {i}");
    }
    // With the old set gone, the new one answers identifications of persons enrolled
    // before and after the switch.
    for p in old {
        p.kill();
    }
    for v in verdicts.iter().filter(|v| v.verdict == "duplicate") {
        let probe = sent[v.request_id.as_str()];
        let found = match front.identify(probe).await.unwrap() {
            tunggal::cluster::Fused::Searched(o) => match o.verdict {
                tunggal_index::search::SearchVerdict::Duplicate(c) => {
                    c.iter().map(|c| c.key).collect::<Vec<_>>()
                }
                _ => Vec::new(),
            },
            other => panic!("{other:?}"),
        };
        assert_eq!(found.first(), keys(v).first(), "{}", v.request_id);
    }
    drop(new);
}
