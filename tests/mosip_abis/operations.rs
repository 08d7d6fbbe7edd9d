//! Every operation on synthetic persons: A and its second capture B, C someone else.

use serde_json::json;
use tunggal_datasets::population::Population;

use crate::harness::*;

pub async fn operations(s: &mut Suite) {
    let pop = Population::new(SEED);
    let a = s.share.put("a", synthetic_cbeff(&pop, 1, 0));
    let b = s.share.put("b", synthetic_cbeff(&pop, 1, 1));
    let c = s.share.put("c", synthetic_cbeff(&pop, 2, 0));

    assert_success(&s.op("ping", json!({})).await, "ping");

    let r = s.op("referenceCount", json!({})).await;
    assert_success(&r, "referenceCount");
    assert_eq!(r["count"], "0", "{r}");

    // Insert does not deduplicate: A and B (the same person) both go in.
    for (id, url) in [("ref-a", &a), ("ref-b", &b), ("ref-c", &c)] {
        assert_success(&s.insert(id, url).await, "insert");
    }
    let r = s.insert("ref-a", &a).await;
    assert_failure(&r, 10, "a referenceId inserted before");

    let r = s.op("referenceCount", json!({})).await;
    assert_eq!(r["count"], "3", "{r}");

    // Identify without a gallery: B finds A, never itself, never C.
    let r = s.identify("ref-b", json!({})).await;
    assert_success(&r, "identify");
    assert_eq!(candidates(&r), vec!["ref-a"], "{r}");
    let first = &r["candidateList"]["candidates"][0];
    let score: f64 = first["analytics"]["internalScore"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(score > 0.0, "{r}");
    let kinds: Vec<&str> = first["modalities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["biometricType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["FIR", "IIR", "FACE"], "{r}");
    let fir = &first["modalities"][0]["analytics"];
    assert_eq!(fir["fingersCompared"], "10", "{r}");
    assert_eq!(first["modalities"][1]["analytics"]["used"], "false", "{r}");
    assert_eq!(first["modalities"][2]["analytics"]["used"], "false", "{r}");

    // The same with a gallery that holds A, and with one that does not.
    let with = json!({"gallery": {"referenceIds": [{"referenceId": "ref-c"}, {"referenceId": "ref-a"}, {"referenceId": "ref-unknown"}]}});
    let r = s.identify("ref-b", with).await;
    assert_success(&r, "identify");
    assert_eq!(candidates(&r), vec!["ref-a"], "{r}");
    let without = json!({"gallery": {"referenceIds": [{"referenceId": "ref-c"}]}});
    let r = s.identify("ref-b", without).await;
    assert_success(&r, "identify");
    assert!(candidates(&r).is_empty(), "{r}");

    // C matches nobody.
    let r = s.identify("ref-c", json!({})).await;
    assert_success(&r, "identify");
    assert!(candidates(&r).is_empty(), "{r}");

    // Flags: maxResults bounds the list.
    let flags = json!({"flags": {"maxResults": 1, "targetFPIR": 30}});
    let r = s.identify("ref-b", flags).await;
    assert_eq!(candidates(&r), vec!["ref-a"], "{r}");

    // Identify by referenceUrl (biometrics not inserted): B's share finds A and B.
    let r = s.op("identify", json!({"referenceUrl": b})).await;
    assert_success(&r, "identify");
    let mut found = candidates(&r);
    found.sort();
    assert_eq!(found, vec!["ref-a", "ref-b"], "{r}");

    // An insert and the identify of a duplicate of it, queued back to back: the identify
    // sees the insert.
    let d = s.share.put("d", synthetic_cbeff(&pop, 3, 0));
    let e = s.share.put("e", synthetic_cbeff(&pop, 3, 1));
    assert_success(&s.insert("ref-e", &e).await, "insert");
    let (rid_insert, rid_identify) = (s.rid(), s.rid());
    s.mosip.send(&insert(&rid_insert, "ref-d", &d)).await;
    s.mosip
        .send(&identify(&rid_identify, "ref-e", json!({})))
        .await;
    let first = s.mosip.receive().await;
    let second = s.mosip.receive().await;
    assert_eq!(
        first["requestId"], rid_insert,
        "responses come in queue order"
    );
    assert_success(&first, "insert");
    assert_eq!(second["requestId"], rid_identify);
    assert_eq!(candidates(&second), vec!["ref-d"], "{second}");

    // pendingJobs: nothing else waits while it is answered.
    let r = s.op("pendingJobs", json!({})).await;
    assert_success(&r, "pendingJobs");
    assert_eq!(r["jobscount"], "0", "{r}");

    // Delete A: B no longer finds it; a second delete and an identify of A fail.
    let r = s.op("delete", json!({"referenceId": "ref-a"})).await;
    assert_success(&r, "delete");
    let r = s.identify("ref-b", json!({})).await;
    assert!(candidates(&r).is_empty(), "{r}");
    let r = s.op("delete", json!({"referenceId": "ref-a"})).await;
    assert_failure(&r, 12, "delete of a deleted referenceId");
    let r = s.identify("ref-a", json!({})).await;
    assert_failure(&r, 12, "identify of a deleted referenceId");
    let r = s.op("referenceCount", json!({})).await;
    assert_eq!(r["count"], "4", "{r}");
    // MOSIP's persons are in the engine's gallery beside its own.
    assert_eq!(s.engine.gallery().len(), 4);
}
