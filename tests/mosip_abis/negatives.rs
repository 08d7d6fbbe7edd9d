//! Every failure reason a request can trigger.

use serde_json::json;
use tunggal::engine::synthetic::request_of;
use tunggal_datasets::population::{CaptureSpec, Population};

use crate::harness::*;
use crate::support::*;

pub async fn negatives(s: &mut Suite) {
    let pop = Population::new(SEED);
    let good = s.share.put("good", synthetic_cbeff(&pop, 7, 0));

    // 4: not a JSON object; flags or gallery malformed.
    s.mosip.send_text("this is not JSON").await;
    let r = s.mosip.receive().await;
    assert_failure(&r, 4, "a body that is not JSON");
    let bad = json!({"flags": {"maxResults": "many"}});
    assert_failure(
        &s.identify("ref-b", bad).await,
        4,
        "maxResults not a number",
    );
    let bad = json!({"gallery": {"referenceIds": "ref-c"}});
    assert_failure(&s.identify("ref-b", bad).await, 4, "gallery not a list");

    // 14, 6, 13, 9, 15: the common fields.
    let r = s
        .op_with("ping", json!({}), |r| r["id"] = json!("mosip.abis.nothing"))
        .await;
    assert_failure(&r, 14, "unknown id");
    let mut r = request("ping", "x", json!({}));
    r.as_object_mut().unwrap().remove("requestId");
    let answer = s.call_any(&r).await;
    assert_failure(&answer, 6, "missing requestId");
    let r = s
        .op_with("ping", json!({}), |r| r["version"] = json!("0.1"))
        .await;
    assert_failure(&r, 13, "unknown version");
    let r = s
        .op_with("ping", json!({}), |r| {
            r.as_object_mut().unwrap().remove("requesttime");
        })
        .await;
    assert_failure(&r, 9, "missing requesttime");
    let r = s
        .op_with("ping", json!({}), |r| {
            r["requesttime"] = json!("05/12/2026 10:00");
        })
        .await;
    assert_failure(&r, 15, "requesttime not ISO 8601");

    // 5, 8: insert's own fields; 5 for an identify with neither referenceId nor URL.
    let r = s.op("insert", json!({"referenceURL": good})).await;
    assert_failure(&r, 5, "insert without referenceId");
    let r = s.op("insert", json!({"referenceId": "ref-n1"})).await;
    assert_failure(&r, 8, "insert without referenceURL");
    let r = s.op("identify", json!({})).await;
    assert_failure(&r, 5, "identify without referenceId or URL");
    let r = s.op("delete", json!({})).await;
    assert_failure(&r, 5, "delete without referenceId");

    // 17 for a share the datashare no longer has; 7: the share cannot be fetched (closed
    // port, not http, refused token).
    let gone = format!("http://{}/elsewhere", s.share.addr);
    assert_failure(
        &s.insert("ref-n2", &gone).await,
        17,
        "a share the datashare no longer has (404)",
    );
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let r = s
        .insert("ref-n3", &format!("http://{closed}/share/x"))
        .await;
    assert_failure(&r, 7, "a datashare that does not answer");
    let r = s.insert("ref-n4", "ftp://datashare/share/x").await;
    assert_failure(&r, 7, "a referenceURL that is not http");
    let unauthorised = s.share.put_status("locked", 401, Vec::new());
    assert_failure(
        &s.insert("ref-n5", &unauthorised).await,
        7,
        "the datashare refuses the token",
    );

    // 17: the datashare says the share expired (status 200, an error body).
    let expired = s.share.put(
        "expired",
        br#"{"id":"mosip.data.share","errors":[{"errorCode":"DAT-SER-006","message":"Data share usuage expired"}]}"#.to_vec(),
    );
    assert_failure(&s.insert("ref-n6", &expired).await, 17, "expired share");

    // 16: not CBEFF; a finger sample that does not decode; an encrypted share without a key.
    let garbage = s.share.put("garbage", b"<html>not a BIR".to_vec());
    assert_failure(&s.insert("ref-n7", &garbage).await, 16, "not XML");
    let broken = s.share.put(
        "broken",
        cbeff(&[
            Sample::finger_image(1, b"FIR\x00020\x00 truncated".to_vec()),
            Sample::finger_image(2, b"FIR\x00020\x00 truncated".to_vec()),
            Sample::finger_image(3, b"FIR\x00020\x00 truncated".to_vec()),
        ]),
    );
    assert_failure(&s.insert("ref-n8", &broken).await, 16, "broken image");
    let encrypted = s
        .share
        .put("encrypted", b"bm90IGEgQ0JFRkYgZG9jdW1lbnQ".to_vec());
    assert_failure(
        &s.insert("ref-n9", &encrypted).await,
        16,
        "base64 that is not CBEFF (an encrypted share)",
    );

    // 11: no sample carries data (all exceptions), or only face samples.
    let empty = s.share.put("empty", cbeff(&[]));
    assert_failure(&s.insert("ref-n10", &empty).await, 11, "no samples");
    let exceptions = s.share.put(
        "exceptions",
        cbeff(&[
            Sample::finger_image(1, Vec::new()),
            Sample::finger_image(2, Vec::new()),
        ]),
    );
    assert_failure(
        &s.insert("ref-n11", &exceptions).await,
        11,
        "only empty BDBs",
    );
    let face_only = s.share.put("face-only", cbeff(&[Sample::face()]));
    assert_failure(
        &s.insert("ref-n12", &face_only).await,
        11,
        "only a face sample",
    );
    // 16: a face and an iris sample that does not decode (nothing else to search).
    let bad_iris = s
        .share
        .put("bad-iris", cbeff(&[Sample::face(), Sample::iris("Right")]));
    assert_failure(
        &s.insert("ref-n12b", &bad_iris).await,
        16,
        "a face and an undecodable iris",
    );

    // 18: too few usable fingers for a search (the engine's minimum is 3).
    let c = pop.capture(&pop.person(8), 0, &CaptureSpec::default());
    let req = request_of(&c, "x", "317101", "sp");
    let two = s
        .share
        .put("two", cbeff(&minutiae_samples(&req.fingerprints[..2])));
    assert_failure(&s.insert("ref-n13", &two).await, 18, "two fingers");

    // 12: identify of an unknown referenceId; 10 checked in the operations.
    let r = s.identify("ref-never", json!({})).await;
    assert_failure(&r, 12, "unknown referenceId");

    // None of these inserts stored anything, and the good share still goes in.
    assert_success(&s.insert("ref-good", &good).await, "insert");
    let r = s.op("referenceCount", json!({})).await;
    assert_eq!(r["count"], "5", "{r}");
}
