//! Deletions and cleared applicants are entries of the enrolment log: every replica applies
//! them in log order, so every search after a deletion's sequence misses the person (on every
//! replica, after a restart too) and every search after a clearing finds the applicant; the
//! verdicts equal a single node's that applies the same operations in the same order.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use tunggal::cluster::control::Deletion;
use tunggal::cluster::{Front, Fused};
use tunggal_datasets::population::Population;
use tunggal_index::gallery::{Enrolment, Gallery, GalleryConfig};
use tunggal_index::search::{Deduplicator, SearchConfig, SearchVerdict};
use tunggal_index::storage::Durability;

use crate::common::{capture, keys, FrontProc, Nats, ShardProc, ADMIN_KEY, SEED};

/// One operation of the stream, in log order.
enum Op {
    Enrol(Enrolment),
    Delete(u64),
    Clear(u64, Enrolment),
}

/// What a single node decides for the enrolments of `ops` (keys are the log sequences),
/// applying deletions and clearings in the same order: (sequence, kind, candidate keys).
fn single_node(ops: &[(u64, Op)]) -> Vec<(u64, String, Vec<u64>)> {
    let dir = tempfile::tempdir().unwrap();
    let mut config = GalleryConfig::default();
    config.store.durability = Durability::NoSync;
    let calibration = tunggal::engine::calibrate::shipped().unwrap();
    let gallery = Gallery::open(dir.path(), config, Some(calibration)).unwrap();
    let dedup = Deduplicator::new(gallery, SearchConfig::default());
    let mut out = Vec::new();
    for (sequence, op) in ops {
        match op {
            Op::Enrol(e) => {
                let d = dedup.submit(*sequence, e).unwrap();
                let (kind, c) = match d.outcome.verdict {
                    SearchVerdict::Single => ("single", Vec::new()),
                    SearchVerdict::Duplicate(c) => ("duplicate", c.iter().map(|c| c.key).collect()),
                    SearchVerdict::Rejected(_) => ("rejected", Vec::new()),
                };
                out.push((*sequence, kind.to_owned(), c));
            }
            Op::Delete(key) => {
                if dedup.gallery().snapshot().contains(*key) {
                    dedup.gallery().delete(*key).unwrap();
                }
            }
            Op::Clear(key, e) => {
                dedup.gallery().enrol(*key, e).unwrap();
            }
        }
    }
    out
}

fn identified(fused: &Fused) -> Vec<u64> {
    match fused {
        Fused::Searched(o) => match &o.verdict {
            SearchVerdict::Duplicate(c) => c.iter().map(|c| c.key).collect(),
            _ => Vec::new(),
        },
        Fused::Rejected(r) => panic!("rejected: {r}"),
    }
}

/// `DELETE /v1/persons/{reference}` on `base` (`127.0.0.1:port`): status and body.
fn http_delete(addr: &str, reference: &str) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        s,
        "DELETE /v1/persons/{reference} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer \
         {ADMIN_KEY}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    // The body may be chunked: take the JSON object inside.
    let json = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) => serde_json::from_str(&body[a..=b]).unwrap(),
        _ => serde_json::Value::Null,
    };
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_and_cleared_applicants_apply_in_log_order_on_every_replica() {
    let Some(nats) = Nats::start() else { return };
    let url = nats.url();
    let root = tempfile::tempdir().unwrap();
    let dir = |i: u32, r: u32| root.path().join(format!("s{i}r{r}"));
    let mut replicas: Vec<Vec<Option<ShardProc>>> = (0..2)
        .map(|i| {
            (0..2)
                .map(|r| Some(ShardProc::start(&url, i, 2, r, &dir(i, r))))
                .collect()
        })
        .collect();
    let front = Front::connect(&url, 2, 1).await.unwrap();
    let pop = Population::new(SEED + 9);
    let mut ops: Vec<(u64, Op)> = Vec::new();
    let mut verdicts = Vec::new();
    for (id, person, n) in [
        ("a", 1, 0),
        ("b", 2, 0),
        ("c", 3, 0),
        ("d", 4, 0),
        ("e", 1, 1),
    ] {
        let e = capture(&pop, person, n);
        let v = front.enrol(id, &e).await.unwrap();
        ops.push((v.sequence, Op::Enrol(e)));
        verdicts.push(v);
    }
    let sequences: Vec<u64> = verdicts.iter().map(|v| v.sequence).collect();
    let key = |i: usize| sequences[i];
    assert_eq!(verdicts[4].verdict, "duplicate", "{:?}", verdicts[4]);
    assert_eq!(keys(&verdicts[4]), vec![key(0)]);

    // Person 2 deleted; a second deletion finds them deleted; the held-back applicant
    // (person 1's second capture, never inserted) is not in the gallery.
    assert_eq!(
        front.delete(key(1), "del-1").await.unwrap(),
        Deletion::Removed
    );
    ops.push((front.last_sequence().await.unwrap(), Op::Delete(key(1))));
    assert_eq!(
        front.delete(key(1), "del-2").await.unwrap(),
        Deletion::DeletedBefore
    );
    ops.push((front.last_sequence().await.unwrap(), Op::Delete(key(1))));
    assert_eq!(
        front.delete(key(4), "del-3").await.unwrap(),
        Deletion::Absent
    );
    ops.push((front.last_sequence().await.unwrap(), Op::Delete(key(4))));
    // A retry of the first deletion inside the log's window is the same entry.
    let before = front.last_sequence().await.unwrap();
    assert_eq!(
        front.delete(key(1), "del-1").await.unwrap(),
        Deletion::Removed
    );
    assert_eq!(front.last_sequence().await.unwrap(), before);

    // Analysts clear person 1's second capture: its last check finds person 1, and it is
    // inserted under its own key.
    let cleared = front.clear(key(4), "clear-1").await.unwrap();
    assert_eq!(cleared.key, key(4));
    assert_eq!(
        cleared.matches.iter().map(|c| c.key).collect::<Vec<_>>(),
        vec![key(0)]
    );
    let applicant = capture(&pop, 1, 1);
    ops.push((cleared.sequence, Op::Clear(key(4), applicant)));

    // After the log entries: person 2 returns as a new person; person 1 is found under
    // both keys; verify answers person 2 absent.
    for (id, person, n) in [("f", 2, 1), ("g", 1, 2), ("h", 5, 0)] {
        let e = capture(&pop, person, n);
        let v = front.enrol(id, &e).await.unwrap();
        ops.push((v.sequence, Op::Enrol(e)));
        verdicts.push(v);
    }
    assert_eq!(verdicts[5].verdict, "single", "{:?}", verdicts[5]);
    let mut both = keys(&verdicts[6]);
    both.sort_unstable();
    assert_eq!(both, vec![key(0), key(4)], "{:?}", verdicts[6]);
    assert!(front
        .verify(key(1), &capture(&pop, 2, 0))
        .await
        .unwrap()
        .is_none());
    assert!(front.was_deleted(key(1)).await.unwrap());

    let cluster: Vec<(u64, String, Vec<u64>)> = verdicts
        .iter()
        .map(|v| (v.sequence, v.verdict.clone(), keys(v)))
        .collect();
    assert_eq!(cluster, single_node(&ops));

    // Every replica, one at a time with its sibling killed, and after a restart: person 2's
    // first capture finds nobody under the deleted key.
    let owner = tunggal::cluster::shard_of(key(1), 2) as usize;
    let probe = capture(&pop, 2, 0);
    for r in 0..2 {
        let other = replicas[owner][1 - r].take().unwrap();
        other.kill();
        let found = identified(&front.identify(&probe).await.unwrap());
        assert!(!found.contains(&key(1)), "replica {r}: {found:?}");
        assert!(
            found.contains(&verdicts[5].sequence),
            "replica {r}: {found:?}"
        );
        replicas[owner][1 - r] = Some(ShardProc::start(
            &url,
            owner as u32,
            2,
            1 - r as u32,
            &dir(owner as u32, 1 - r as u32),
        ));
    }
    let restarted = replicas[owner][0].take().unwrap();
    restarted.kill();
    replicas[owner][0] = Some(ShardProc::start(
        &url,
        owner as u32,
        2,
        0,
        &dir(owner as u32, 0),
    ));
    replicas[owner][1].take().unwrap().kill();
    let found = identified(&front.identify(&probe).await.unwrap());
    assert!(!found.contains(&key(1)), "after a restart: {found:?}");
    let found = identified(&front.identify(&capture(&pop, 1, 3)).await.unwrap());
    assert!(
        found.contains(&key(4)),
        "the cleared applicant after a restart: {found:?}"
    );
}

#[test]
fn serve_cluster_deletes_through_the_single_node_route() {
    let Some(nats) = Nats::start() else { return };
    let url = nats.url();
    let root = tempfile::tempdir().unwrap();
    let _shards: Vec<ShardProc> = (0..2)
        .map(|i| ShardProc::start(&url, i, 2, 0, &root.path().join(format!("s{i}"))))
        .collect();
    let http = FrontProc::start(&url, 2, &root.path().join("front"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pop = Population::new(SEED + 10);
    let front = runtime.block_on(Front::connect(&url, 2, 1)).unwrap();
    let person = runtime
        .block_on(front.enrol("x/y/one", &capture(&pop, 1, 0)))
        .unwrap();
    let reference = format!("P{:010}", person.sequence);
    let (status, body) = http_delete(http.addr(), &reference);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted"], true);
    let (status, body) = http_delete(http.addr(), &reference);
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["reason"], "person_deleted");
    let (status, body) = http_delete(http.addr(), "P0000000099");
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["reason"], "person_not_found");
}
