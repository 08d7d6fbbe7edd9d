//! Enrolments through the cluster decide as a single node.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use tunggal::cluster::wire::StoredVerdict;
use tunggal::cluster::Front;
use tunggal_datasets::population::Population;
use tunggal_index::gallery::{Enrolment, Gallery, GalleryConfig};
use tunggal_index::search::SearchConfig;
use tunggal_index::storage::Durability;

use crate::common::{capture, keys, single_node, FrontProc, Nats, Outcome, ShardProc, SEED};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_decide_as_a_single_node_across_two_front_ends() {
    let Some(nats) = Nats::start() else { return };
    let url = nats.url();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let _shards: Vec<ShardProc> = (0..2)
        .map(|i| ShardProc::start(&url, i, 2, 0, dirs[i as usize].path()))
        .collect();
    let a = Front::connect(&url, 2, 1).await.unwrap();
    let b = Front::connect(&url, 2, 1).await.unwrap();
    let pop = Population::new(SEED);
    let mut sent: HashMap<String, Enrolment> = HashMap::new();
    let mut verdicts: Vec<StoredVerdict> = Vec::new();
    let mut enrol = |front: &Front, id: &str, e: Enrolment| {
        sent.insert(id.to_owned(), e.clone());
        let front = front.clone();
        let id = id.to_owned();
        async move { front.enrol(&id, &e).await.unwrap() }
    };

    // (a) A person enrolled, then a second capture of them: a duplicate of the first.
    let first = enrol(&a, "p1-c0", capture(&pop, 1, 0)).await;
    assert_eq!(first.verdict, "single", "{first:?}");
    let other = enrol(&a, "p2-c0", capture(&pop, 2, 0)).await;
    assert_eq!(other.verdict, "single", "{other:?}");
    let again = enrol(&a, "p1-c1", capture(&pop, 1, 1)).await;
    assert_eq!(again.verdict, "duplicate", "{again:?}");
    assert_eq!(keys(&again), vec![first.sequence]);
    verdicts.extend([first, other, again.clone()]);

    // (b) Two captures of one person at the same moment through two front-ends.
    let (x, y) = tokio::join!(
        enrol(&a, "p3-c0", capture(&pop, 3, 0)),
        enrol(&b, "p3-c1", capture(&pop, 3, 1))
    );
    let mut kinds = [x.verdict.as_str(), y.verdict.as_str()];
    kinds.sort_unstable();
    assert_eq!(kinds, ["duplicate", "single"], "{x:?} {y:?}");
    let (single, duplicate) = if x.verdict == "single" {
        (&x, &y)
    } else {
        (&y, &x)
    };
    assert!(single.sequence < duplicate.sequence);
    assert_eq!(keys(duplicate), vec![single.sequence]);
    verdicts.extend([x.clone(), y.clone()]);

    // (c) A retry of the same request id through the other front-end: the same verdict,
    // and the log holds the enrolment once.
    let retry = enrol(&b, "p1-c1", capture(&pop, 1, 1)).await;
    assert_eq!(retry, again);
    let retry = enrol(&a, "p3-c1", capture(&pop, 3, 1)).await;
    assert_eq!(retry, y);

    // A front-end that published and died before it kept the verdict: the retry through
    // the other front-end gets the same sequence from the log's duplicate window.
    let lost = capture(&pop, 7, 0);
    let published = a.publish("p7-c0", &lost).await.unwrap();
    assert_eq!(a.publish("p7-c0", &lost).await.unwrap(), published);
    let decided = enrol(&b, "p7-c0", lost.clone()).await;
    assert_eq!(decided.sequence, published);
    assert_eq!(decided.verdict, "single");
    verdicts.push(decided);

    for (id, person, number) in [("p4-c0", 4, 0), ("p2-c2", 2, 2), ("p5-c0", 5, 0)] {
        let front = if person % 2 == 0 { &a } else { &b };
        verdicts.push(enrol(front, id, capture(&pop, person, number)).await);
    }
    let next = enrol(&a, "after-retries", capture(&pop, 6, 0)).await;
    let max = verdicts.iter().map(|v| v.sequence).max().unwrap();
    assert_eq!(next.sequence, max + 1, "a retry took a place in the log");
    verdicts.push(next);

    // (e) The verdicts equal a single-node run of the same stream.
    verdicts.sort_by_key(|v| v.sequence);
    let stream: Vec<(u64, Enrolment)> = verdicts
        .iter()
        .map(|v| (v.sequence, sent[&v.request_id].clone()))
        .collect();
    let reference = single_node(&stream);
    let cluster: Vec<Outcome> = verdicts
        .iter()
        .map(|v| {
            let c = v.candidates.iter().map(|c| (c.key, c.score)).collect();
            (v.sequence, v.verdict.clone(), c)
        })
        .collect();
    assert_eq!(cluster, reference);
    assert!(cluster.iter().filter(|v| v.1 == "duplicate").count() >= 3);
}

#[test]
fn serve_cluster_answers_enrolments_and_retries_over_http() {
    let Some(nats) = Nats::start() else { return };
    let url = nats.url();
    let dir = tempfile::tempdir().unwrap();
    let requests = dir.path().join("req");
    let gen = Command::new(env!("CARGO_BIN_EXE_tunggal"))
        .args([
            "gen",
            "requests",
            "--persons",
            "8",
            "--duplicate-ratio",
            "0.4",
        ])
        .args(["--seed", "21", "--out"])
        .arg(&requests)
        .output()
        .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let truth: Vec<serde_json::Value> = std::fs::read_to_string(requests.join("truth.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let _shards: Vec<ShardProc> = (0..2)
        .map(|i| ShardProc::start(&url, i, 2, 0, &dir.path().join(format!("shard{i}"))))
        .collect();
    let one = FrontProc::start(&url, 2, &dir.path().join("front1"));
    let two = FrontProc::start(&url, 2, &dir.path().join("front2"));
    let mut answers = Vec::new();
    for (i, line) in truth.iter().enumerate() {
        let file = requests.join(format!("{:06}.json", i + 1));
        let front = if i % 2 == 0 { &one } else { &two };
        let v = front.enrol(&file);
        assert_eq!(v["request_id"], line["request_id"]);
        assert_eq!(v["verdict"], line["expected"], "request {}: {v}", i + 1);
        answers.push((file, v));
    }
    assert!(answers.iter().any(|(_, v)| v["verdict"] == "duplicate"));
    // Every request retried through the other front-end: the same verdict and person.
    for (i, (file, first)) in answers.iter().enumerate() {
        let other = if i % 2 == 0 { &two } else { &one };
        let again = other.enrol(file);
        assert_eq!(again["verdict"], first["verdict"], "request {}", i + 1);
        assert_eq!(
            again["reference_id"],
            first["reference_id"],
            "request {}",
            i + 1
        );
    }
    // Identify through the same HTTP route as a single node: a person enrolled single is
    // found under their reference id, a duplicate's probe finds the person it duplicated.
    for (i, (file, first)) in answers.iter().enumerate() {
        let front = if i % 2 == 0 { &one } else { &two };
        let found = front.identify(file);
        let best = &found["candidates"][0]["reference_id"];
        let want = if first["verdict"] == "single" {
            &first["reference_id"]
        } else {
            &first["candidates"][0]["reference_id"]
        };
        assert_eq!(best, want, "request {}: {found}", i + 1);
    }
}

/// Re-applying a sequence whose insert committed before a crash gives the partial of the
/// first application: the person's own record is left out.
#[test]
fn a_sequence_applied_again_is_searched_without_its_own_record() {
    use tunggal::cluster::search::search_partition;
    use tunggal::cluster::wire::EnrolMessage;
    let pop = Population::new(SEED + 2);
    let open = |dir: &Path| {
        let mut config = GalleryConfig::default();
        config.store.durability = Durability::NoSync;
        let calibration = tunggal::engine::calibrate::shipped().unwrap();
        Gallery::open(dir, config, Some(calibration)).unwrap()
    };
    let (before, after) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (g1, g2) = (open(before.path()), open(after.path()));
    for key in 1..=4 {
        let e = capture(&pop, key, 0);
        g1.enrol(key, &e).unwrap();
        g2.enrol(key, &e).unwrap();
    }
    // Sequence 5 is person 2's second capture; `after` already holds it under key 5.
    let probe = capture(&pop, 2, 1);
    g2.enrol(5, &probe).unwrap();
    let config = SearchConfig::default();
    let message = || Ok(EnrolMessage::new("again", &probe));
    let (first, _) = search_partition(&g1, &config, 5, 0, 1, message()).unwrap();
    let (again, prepared) = search_partition(&g2, &config, 5, 0, 1, message()).unwrap();
    assert!(prepared.is_some());
    assert_eq!(again, first);
    assert_eq!(again.partition_size, 4);
    assert_eq!(again.candidates.first().map(|c| c.key), Some(2));
}
