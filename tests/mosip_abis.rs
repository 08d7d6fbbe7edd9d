//! MOSIP's ABIS interface, black box: a broker (ActiveMQ from Debian's package, started
//! here on loopback), a datashare server and a STOMP client playing MOSIP's registration
//! processor, against Tunggal's listener and engine. One broker serves every scenario of
//! the suite (one `#[test]`); it is skipped, saying why, when ActiveMQ or Java is absent.
//!
//! Covered: insert, identify with and without a gallery, identify of a just-inserted record
//! queued right behind its insert, identify by `referenceUrl`, delete then identify, ping,
//! pendingJobs, referenceCount, every failure reason a request can trigger (4–18; 1–3 are
//! internal errors no request causes), duplicate detection on FVC2002 images wrapped in
//! ISO/IEC 19794-4 records in CBEFF (skipped when the data set is absent), and a JMS
//! client's text message answered with a text message.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod mosip_support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tunggal::cases::CaseStore;
use tunggal::engine::synthetic::request_of;
use tunggal::engine::{EngineOptions, GalleryEngine};
use tunggal::mosip::handler::Abis;
use tunggal::mosip::{transport, MosipConfig};
use tunggal_datasets::population::{CaptureSpec, Population};

use mosip_support::*;

const TOKEN: &str = "datashare-test-token";
const SEED: u64 = 29;

fn now() -> String {
    tunggal::mosip::message::response_time()
}

/// A request of operation `op` (`insert`, `identify`, …) with `fields` added.
fn request(op: &str, request_id: &str, fields: Value) -> Value {
    let mut r = json!({
        "id": format!("mosip.abis.{op}"),
        "version": "1.1",
        "requestId": request_id,
        "requesttime": now(),
    });
    if let (Some(r), Value::Object(extra)) = (r.as_object_mut(), fields) {
        r.extend(extra);
    }
    r
}

fn insert(request_id: &str, reference_id: &str, url: &str) -> Value {
    request(
        "insert",
        request_id,
        json!({"referenceId": reference_id, "referenceURL": url}),
    )
}

fn identify(request_id: &str, reference_id: &str, extra: Value) -> Value {
    let mut r = request("identify", request_id, json!({"referenceId": reference_id}));
    if let (Some(r), Value::Object(extra)) = (r.as_object_mut(), extra) {
        r.extend(extra);
    }
    r
}

fn assert_success(r: &Value, id: &str) {
    assert_eq!(r["returnValue"], "1", "{id}: {r}");
    assert!(r.get("failureReason").is_none(), "{id}: {r}");
    assert_eq!(r["id"], format!("mosip.abis.{id}"), "{r}");
    assert!(
        tunggal::mosip::message::valid_request_time(r["responsetime"].as_str().unwrap()),
        "{r}"
    );
}

fn assert_failure(r: &Value, reason: u8, what: &str) {
    assert_eq!(r["returnValue"], "2", "{what}: {r}");
    assert_eq!(r["failureReason"], reason.to_string(), "{what}: {r}");
}

/// The referenceIds of an identify response's candidates, in order.
fn candidates(r: &Value) -> Vec<String> {
    let list = &r["candidateList"];
    let ids: Vec<String> = list["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["referenceId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(list["count"], ids.len().to_string(), "{r}");
    ids
}

/// A synthetic person's capture as a CBEFF of minutiae BIRs, plus an iris and a face sample.
fn synthetic_cbeff(pop: &Population, person: u64, capture: u64) -> Vec<u8> {
    let c = pop.capture(&pop.person(person), capture, &CaptureSpec::default());
    let req = request_of(&c, "x", "317101", "sp");
    let mut samples = minutiae_samples(&req.fingerprints);
    samples.push(Sample::iris("Left"));
    samples.push(Sample::face());
    cbeff(&samples)
}

struct Suite {
    mosip: MosipClient,
    share: Datashare,
    engine: Arc<GalleryEngine>,
    next: u64,
}

impl Suite {
    fn rid(&mut self) -> String {
        self.next += 1;
        format!("req-{:04}", self.next)
    }

    /// Sends a request and returns its answer (checked to carry its requestId).
    async fn call(&mut self, body: &Value) -> Value {
        self.mosip.send(body).await;
        let r = self.mosip.receive().await;
        assert_eq!(r["requestId"], body["requestId"], "{r}");
        r
    }

    /// Sends a request and returns the next answer, whatever its requestId.
    async fn call_any(&mut self, body: &Value) -> Value {
        self.mosip.send(body).await;
        self.mosip.receive().await
    }
}

#[test]
fn mosip_abis_over_activemq() {
    let Some(broker) = start_broker() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let engine = open_engine(dir.path()).await;
        let share = start_datashare(TOKEN).await;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut config = MosipConfig::new(&broker.stomp.to_string());
        config.datashare_token = Some(TOKEN.to_owned());
        config.datashare_timeout = Duration::from_secs(10);
        let abis = Abis::new(
            engine.clone(),
            config.origin.clone(),
            transport::datashare(&config).unwrap(),
        );
        let listener = tokio::spawn(transport::run(abis, config.clone(), stopped));
        let mosip = MosipClient::connect(broker.stomp, &config.inbound, &config.outbound).await;
        let mut s = Suite {
            mosip,
            share,
            engine,
            next: 0,
        };
        let started = Instant::now();
        operations(&mut s).await;
        eprintln!("operations: {:.1} s", started.elapsed().as_secs_f64());
        negatives(&mut s).await;
        eprintln!("negatives: {:.1} s", started.elapsed().as_secs_f64());
        fvc_duplicates(&mut s).await;
        eprintln!("FVC2002: {:.1} s", started.elapsed().as_secs_f64());
        let Suite { mosip, .. } = s;
        mosip.close().await;
        jms_text_messages(&broker).await;
        eprintln!("JMS: {:.1} s", started.elapsed().as_secs_f64());
        let _ = stop.send(true);
        tokio::time::timeout(Duration::from_secs(30), listener)
            .await
            .expect("the listener stops when told")
            .unwrap();
    });
}

async fn open_engine(dir: &std::path::Path) -> Arc<GalleryEngine> {
    let cases = Arc::new(CaseStore::open(dir).unwrap());
    let d = dir.to_path_buf();
    let engine = tokio::task::spawn_blocking(move || {
        let options = EngineOptions {
            calibration: tunggal::dedup::synthetic_calibration(120),
            ..EngineOptions::default()
        };
        GalleryEngine::open(&d, cases, options)
    })
    .await
    .unwrap()
    .unwrap();
    Arc::new(engine)
}

/// Every operation on synthetic persons: A and its second capture B, C someone else.
async fn operations(s: &mut Suite) {
    let pop = Population::new(SEED);
    let a = s.share.put("a", synthetic_cbeff(&pop, 1, 0));
    let b = s.share.put("b", synthetic_cbeff(&pop, 1, 1));
    let c = s.share.put("c", synthetic_cbeff(&pop, 2, 0));

    let rid = s.rid();
    let r = s.call(&request("ping", &rid, json!({}))).await;
    assert_success(&r, "ping");
    assert_eq!(r["requestId"], rid);

    let rid = s.rid();
    let r = s.call(&request("referenceCount", &rid, json!({}))).await;
    assert_success(&r, "referenceCount");
    assert_eq!(r["count"], "0", "{r}");

    // Insert does not deduplicate: A and B (the same person) both go in.
    for (id, url) in [("ref-a", &a), ("ref-b", &b), ("ref-c", &c)] {
        let rid = s.rid();
        let r = s.call(&insert(&rid, id, url)).await;
        assert_success(&r, "insert");
        assert_eq!(r["requestId"], rid);
    }
    let rid = s.rid();
    let r = s.call(&insert(&rid, "ref-a", &a)).await;
    assert_failure(&r, 10, "a referenceId inserted before");

    let rid = s.rid();
    let r = s.call(&request("referenceCount", &rid, json!({}))).await;
    assert_eq!(r["count"], "3", "{r}");

    // Identify without a gallery: B finds A, never itself, never C.
    let rid = s.rid();
    let r = s.call(&identify(&rid, "ref-b", json!({}))).await;
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
    let rid = s.rid();
    let with = json!({"gallery": {"referenceIds": [{"referenceId": "ref-c"}, {"referenceId": "ref-a"}, {"referenceId": "ref-unknown"}]}});
    let r = s.call(&identify(&rid, "ref-b", with)).await;
    assert_success(&r, "identify");
    assert_eq!(candidates(&r), vec!["ref-a"], "{r}");
    let rid = s.rid();
    let without = json!({"gallery": {"referenceIds": [{"referenceId": "ref-c"}]}});
    let r = s.call(&identify(&rid, "ref-b", without)).await;
    assert_success(&r, "identify");
    assert!(candidates(&r).is_empty(), "{r}");

    // C matches nobody.
    let rid = s.rid();
    let r = s.call(&identify(&rid, "ref-c", json!({}))).await;
    assert_success(&r, "identify");
    assert!(candidates(&r).is_empty(), "{r}");

    // Flags: maxResults bounds the list.
    let rid = s.rid();
    let r = s
        .call(&identify(
            &rid,
            "ref-b",
            json!({"flags": {"maxResults": 1, "targetFPIR": 30}}),
        ))
        .await;
    assert_eq!(candidates(&r), vec!["ref-a"], "{r}");

    // Identify by referenceUrl (biometrics not inserted): B's share finds A and B.
    let rid = s.rid();
    let r = s
        .call(&request("identify", &rid, json!({"referenceUrl": b})))
        .await;
    assert_success(&r, "identify");
    let mut found = candidates(&r);
    found.sort();
    assert_eq!(found, vec!["ref-a", "ref-b"], "{r}");

    // An insert and the identify of a duplicate of it, queued back to back: the identify
    // sees the insert.
    let d = s.share.put("d", synthetic_cbeff(&pop, 3, 0));
    let e = s.share.put("e", synthetic_cbeff(&pop, 3, 1));
    let rid = s.rid();
    let r = s.call(&insert(&rid, "ref-e", &e)).await;
    assert_success(&r, "insert");
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
    let rid = s.rid();
    let r = s.call(&request("pendingJobs", &rid, json!({}))).await;
    assert_success(&r, "pendingJobs");
    assert_eq!(r["jobscount"], "0", "{r}");

    // Delete A: B no longer finds it; a second delete and an identify of A fail.
    let rid = s.rid();
    let r = s
        .call(&request("delete", &rid, json!({"referenceId": "ref-a"})))
        .await;
    assert_success(&r, "delete");
    let rid = s.rid();
    let r = s.call(&identify(&rid, "ref-b", json!({}))).await;
    assert!(candidates(&r).is_empty(), "{r}");
    let rid = s.rid();
    let r = s
        .call(&request("delete", &rid, json!({"referenceId": "ref-a"})))
        .await;
    assert_failure(&r, 12, "delete of a deleted referenceId");
    let rid = s.rid();
    let r = s.call(&identify(&rid, "ref-a", json!({}))).await;
    assert_failure(&r, 12, "identify of a deleted referenceId");
    let rid = s.rid();
    let r = s.call(&request("referenceCount", &rid, json!({}))).await;
    assert_eq!(r["count"], "4", "{r}");
    // MOSIP's persons are in the engine's gallery beside its own.
    assert_eq!(s.engine.gallery().len(), 4);
}

/// Every failure reason a request can trigger.
async fn negatives(s: &mut Suite) {
    let pop = Population::new(SEED);
    let good = s.share.put("good", synthetic_cbeff(&pop, 7, 0));

    // 4: not a JSON object.
    s.mosip.send_text("this is not JSON").await;
    let r = s.mosip.receive().await;
    assert_failure(&r, 4, "a body that is not JSON");
    let rid = s.rid();
    let mut bad = identify(&rid, "ref-b", json!({"flags": {"maxResults": "many"}}));
    let r = s.call(&bad).await;
    assert_failure(&r, 4, "maxResults not a number");
    bad["flags"] = json!({});
    bad["gallery"] = json!({"referenceIds": "ref-c"});
    let r = s.call(&bad).await;
    assert_failure(&r, 4, "gallery not a list");

    // 14, 6, 13, 9, 15: the common fields.
    let rid = s.rid();
    let mut r = request("ping", &rid, json!({}));
    r["id"] = json!("mosip.abis.nothing");
    assert_failure(&s.call(&r).await, 14, "unknown id");
    let mut r = request("ping", "x", json!({}));
    r.as_object_mut().unwrap().remove("requestId");
    let answer = s.call_any(&r).await;
    assert_failure(&answer, 6, "missing requestId");
    let rid = s.rid();
    let mut r = request("ping", &rid, json!({}));
    r["version"] = json!("0.1");
    assert_failure(&s.call(&r).await, 13, "unknown version");
    let rid = s.rid();
    let mut r = request("ping", &rid, json!({}));
    r.as_object_mut().unwrap().remove("requesttime");
    assert_failure(&s.call(&r).await, 9, "missing requesttime");
    let rid = s.rid();
    let mut r = request("ping", &rid, json!({}));
    r["requesttime"] = json!("05/12/2026 10:00");
    assert_failure(&s.call(&r).await, 15, "requesttime not ISO 8601");

    // 5, 8: insert's own fields; 5 for an identify with neither referenceId nor URL.
    let rid = s.rid();
    let r = request("insert", &rid, json!({"referenceURL": good}));
    assert_failure(&s.call(&r).await, 5, "insert without referenceId");
    let rid = s.rid();
    let r = request("insert", &rid, json!({"referenceId": "ref-n1"}));
    assert_failure(&s.call(&r).await, 8, "insert without referenceURL");
    let rid = s.rid();
    let r = request("identify", &rid, json!({}));
    assert_failure(&s.call(&r).await, 5, "identify without referenceId or URL");
    let rid = s.rid();
    let r = request("delete", &rid, json!({}));
    assert_failure(&s.call(&r).await, 5, "delete without referenceId");

    // 7: the share cannot be fetched (unknown share, refused token, closed port).
    let rid = s.rid();
    let r = insert(
        &rid,
        "ref-n2",
        &format!("http://{}/elsewhere", s.share.addr),
    );
    assert_failure(
        &s.call(&r).await,
        17,
        "a share the datashare no longer has (404)",
    );
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let rid = s.rid();
    let r = insert(&rid, "ref-n3", &format!("http://{closed}/share/x"));
    assert_failure(&s.call(&r).await, 7, "a datashare that does not answer");
    let rid = s.rid();
    let r = insert(&rid, "ref-n4", "ftp://datashare/share/x");
    assert_failure(&s.call(&r).await, 7, "a referenceURL that is not http");
    let unauthorised = s.share.put_status("locked", 401, Vec::new());
    let rid = s.rid();
    assert_failure(
        &s.call(&insert(&rid, "ref-n5", &unauthorised)).await,
        7,
        "the datashare refuses the token",
    );

    // 17: the datashare says the share expired (status 200, an error body).
    let expired = s.share.put(
        "expired",
        br#"{"id":"mosip.data.share","errors":[{"errorCode":"DAT-SER-006","message":"Data share usuage expired"}]}"#.to_vec(),
    );
    let rid = s.rid();
    assert_failure(
        &s.call(&insert(&rid, "ref-n6", &expired)).await,
        17,
        "expired share",
    );

    // 16: not CBEFF; a finger sample that does not decode; two samples of one finger.
    let garbage = s.share.put("garbage", b"<html>not a BIR".to_vec());
    let rid = s.rid();
    assert_failure(
        &s.call(&insert(&rid, "ref-n7", &garbage)).await,
        16,
        "not XML",
    );
    let broken = s.share.put(
        "broken",
        cbeff(&[
            Sample::finger_image(1, b"FIR\x00020\x00 truncated".to_vec()),
            Sample::finger_image(2, b"FIR\x00020\x00 truncated".to_vec()),
            Sample::finger_image(3, b"FIR\x00020\x00 truncated".to_vec()),
        ]),
    );
    let rid = s.rid();
    assert_failure(
        &s.call(&insert(&rid, "ref-n8", &broken)).await,
        16,
        "broken image",
    );
    let encrypted = s
        .share
        .put("encrypted", b"bm90IGEgQ0JFRkYgZG9jdW1lbnQ".to_vec());
    let rid = s.rid();
    assert_failure(
        &s.call(&insert(&rid, "ref-n9", &encrypted)).await,
        16,
        "base64 that is not CBEFF (an encrypted share)",
    );

    // 11: no sample carries data (all exceptions), or only face and iris samples.
    let empty = s.share.put("empty", cbeff(&[]));
    let rid = s.rid();
    assert_failure(
        &s.call(&insert(&rid, "ref-n10", &empty)).await,
        11,
        "no samples",
    );
    let exceptions = s.share.put(
        "exceptions",
        cbeff(&[
            Sample::finger_image(1, Vec::new()),
            Sample::finger_image(2, Vec::new()),
        ]),
    );
    let rid = s.rid();
    assert_failure(
        &s.call(&insert(&rid, "ref-n11", &exceptions)).await,
        11,
        "only empty BDBs",
    );
    let face_only = s
        .share
        .put("face-only", cbeff(&[Sample::face(), Sample::iris("Right")]));
    let rid = s.rid();
    assert_failure(
        &s.call(&insert(&rid, "ref-n12", &face_only)).await,
        11,
        "only face and iris samples",
    );

    // 18: too few usable fingers for a search (the engine's minimum is 3).
    let c = pop.capture(&pop.person(8), 0, &CaptureSpec::default());
    let req = request_of(&c, "x", "317101", "sp");
    let two = s
        .share
        .put("two", cbeff(&minutiae_samples(&req.fingerprints[..2])));
    let rid = s.rid();
    assert_failure(
        &s.call(&insert(&rid, "ref-n13", &two)).await,
        18,
        "two fingers",
    );

    // 12: identify of an unknown referenceId; 10 checked in the operations.
    let rid = s.rid();
    let r = identify(&rid, "ref-never", json!({}));
    assert_failure(&s.call(&r).await, 12, "unknown referenceId");

    // None of these inserts stored anything, and the good share still goes in.
    let rid = s.rid();
    assert_success(&s.call(&insert(&rid, "ref-good", &good)).await, "insert");
    let rid = s.rid();
    let r = s.call(&request("referenceCount", &rid, json!({}))).await;
    assert_eq!(r["count"], "5", "{r}");
}

/// FVC2002 DB1_B: fingers 101–110 as one person's ten fingers, impression 1 and 2 as two
/// captures, 19794-4 image records in CBEFF; DB3_B's fingers as someone else.
async fn fvc_duplicates(s: &mut Suite) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/fvc2002-images");
    if !root.join("DB1_B/101_1.tif").exists() {
        eprintln!(
            "skipping the FVC2002 part: {} is absent",
            root.join("DB1_B/101_1.tif").display()
        );
        return;
    }
    let person = |db: &str, impression: u32| -> Vec<u8> {
        let samples: Vec<Sample> = (0..10u8)
            .map(|i| {
                let path = root.join(format!("{db}/{}_{impression}.tif", 101 + u32::from(i)));
                let bytes = std::fs::read(&path).unwrap();
                let img = tunggal_index::image::decode(&bytes, None).unwrap();
                let record = iso_19794_4(
                    i + 1,
                    img.width() as u16,
                    img.height() as u16,
                    img.pixels(),
                    500,
                );
                Sample::finger_image(i + 1, record)
            })
            .collect();
        cbeff(&samples)
    };
    let x = s.share.put("fvc-x", person("DB1_B", 1));
    let y = s.share.put("fvc-y", person("DB1_B", 2));
    let z = s.share.put("fvc-z", person("DB3_B", 1));
    for (id, url) in [("fvc-x", &x), ("fvc-y", &y), ("fvc-z", &z)] {
        let rid = s.rid();
        let r = s.call(&insert(&rid, id, url)).await;
        assert_success(&r, "insert");
    }
    let rid = s.rid();
    let r = s.call(&identify(&rid, "fvc-y", json!({}))).await;
    assert_success(&r, "identify");
    assert_eq!(candidates(&r), vec!["fvc-x"], "{r}");
    let rid = s.rid();
    let r = s.call(&identify(&rid, "fvc-z", json!({}))).await;
    assert!(candidates(&r).is_empty(), "{r}");
}

/// A request sent by a JMS client (ActiveMQ's own producer command, over OpenWire) is read,
/// and its answer is a JMS TextMessage (ActiveMQ's browse command shows its `JMSText`). Runs
/// with MOSIP's client gone, so the answer stays on the queue.
async fn jms_text_messages(broker: &Broker) {
    let rid = "jms-ping-1";
    let body = serde_json::to_string(&request("ping", rid, json!({}))).unwrap();
    let url = format!("tcp://{}", broker.openwire);
    let Some(produced) = jms_command(&[
        "producer",
        "--brokerUrl",
        &url,
        "--destination",
        "queue://mosip-to-abis",
        "--messageCount",
        "1",
        "--message",
        &body,
    ])
    .await
    else {
        return;
    };
    assert!(
        produced.status.success(),
        "{}{}",
        String::from_utf8_lossy(&produced.stdout),
        String::from_utf8_lossy(&produced.stderr)
    );
    let started = Instant::now();
    loop {
        let browsed = jms_command(&["browse", "--amqurl", &url, "abis-to-mosip"])
            .await
            .unwrap();
        let out = String::from_utf8_lossy(&browsed.stdout).into_owned();
        if out.contains(rid) {
            assert!(out.contains("JMSText"), "not a TextMessage: {out}");
            assert!(out.contains("\"returnValue\":\"1\""), "{out}");
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no answer to the JMS request within 60 s: {out}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn jms_command(args: &[&str]) -> Option<std::process::Output> {
    let home = std::path::Path::new(ACTIVEMQ_HOME);
    let mut cmd = tokio::process::Command::new("java");
    cmd.arg("-Xmx128m")
        .arg("-XX:TieredStopAtLevel=1")
        .arg(format!("-Dactivemq.home={}", home.display()))
        .arg("-jar")
        .arg(home.join("bin/activemq.jar"))
        .args(args);
    match tokio::time::timeout(Duration::from_secs(120), cmd.output()).await {
        Ok(Ok(out)) => Some(out),
        Ok(Err(e)) => {
            eprintln!("skipping the JMS part: cannot run ActiveMQ's command line: {e}");
            None
        }
        Err(_) => panic!("ActiveMQ's command line did not finish in 120 s"),
    }
}

/// Identify latency through ActiveMQ against the same person searched over HTTP, on one
/// engine: `cargo test --release --test mosip_abis -- --ignored --nocapture`. A report,
/// not a check: it prints the figures.
#[test]
#[ignore]
fn identify_latency_report() {
    let Some(broker) = start_broker() else {
        return;
    };
    let persons: u64 = std::env::var("MOSIP_REPORT_PERSONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rounds: u64 = 40;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        use tunggal::service::{Service, ServiceConfig};
        const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef0123456789";
        let dir = tempfile::tempdir().unwrap();
        let engine = open_engine(dir.path()).await;
        let share = start_datashare(TOKEN).await;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut config = MosipConfig::new(&broker.stomp.to_string());
        config.datashare_token = Some(TOKEN.to_owned());
        let abis = Abis::new(
            engine.clone(),
            config.origin.clone(),
            transport::datashare(&config).unwrap(),
        );
        let listener = tokio::spawn(transport::run(abis, config.clone(), stopped));
        let mut mosip =
            MosipClient::connect(broker.stomp, &config.inbound, &config.outbound).await;
        let service_config = ServiceConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            ..ServiceConfig::default()
        };
        let cases = engine.cases().clone();
        let service = Service::bind(service_config, engine.clone(), cases, Some(ADMIN_KEY))
            .await
            .unwrap();
        let addr = service.local_addr().unwrap();
        let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let http = tokio::spawn(service.run(async move {
            let _ = http_stopped.await;
        }));
        let http_client = HttpClient::new(addr);
        let sp_key = http_client
            .post_json(
                "/v1/admin/keys",
                ADMIN_KEY,
                &json!({"role": "service-point", "name": "bench", "district": "317101", "service_point": "bench"}),
            )
            .await["key"]
            .as_str()
            .unwrap()
            .to_owned();

        let pop = Population::new(SEED);
        let started = Instant::now();
        for p in 0..persons {
            let url = share.put(&format!("p{p}"), synthetic_cbeff(&pop, p, 0));
            let r = mosip
                .request(&insert(&format!("ins-{p}"), &format!("ref-{p}"), &url))
                .await;
            assert_eq!(r["returnValue"], "1", "{r}");
        }
        eprintln!(
            "inserted {persons} persons through ActiveMQ in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let mut over_queue = Vec::new();
        let mut over_http = Vec::new();
        for k in 0..rounds {
            let p = (k * 7919) % persons;
            let t = Instant::now();
            let r = mosip
                .request(&identify(&format!("idn-{k}"), &format!("ref-{p}"), json!({})))
                .await;
            over_queue.push(t.elapsed());
            assert_eq!(r["returnValue"], "1", "{r}");
            let c = pop.capture(&pop.person(p), 0, &CaptureSpec::default());
            let req = request_of(&c, "x", "317101", "bench");
            let body = json!({"request_id": format!("http-{k}"), "fingerprints": req.fingerprints});
            let t = Instant::now();
            let answer = http_client.post_json("/v1/identify", &sp_key, &body).await;
            over_http.push(t.elapsed());
            assert!(answer.get("candidates").is_some(), "{answer}");
        }
        let stats = |v: &mut Vec<Duration>| {
            v.sort();
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            let mean = v.iter().map(|d| ms(*d)).sum::<f64>() / v.len() as f64;
            (mean, ms(v[v.len() / 2]), ms(v[v.len() * 95 / 100]))
        };
        let (qm, q50, q95) = stats(&mut over_queue);
        let (hm, h50, h95) = stats(&mut over_http);
        println!(
            "identify over {persons} persons, {rounds} rounds: ActiveMQ (STOMP, by referenceId) \
             mean {qm:.1} ms, p50 {q50:.1} ms, p95 {q95:.1} ms; HTTP POST /v1/identify (same \
             person's templates) mean {hm:.1} ms, p50 {h50:.1} ms, p95 {h95:.1} ms; \
             difference of means {:.1} ms",
            qm - hm
        );
        mosip.close().await;
        let _ = stop.send(true);
        let _ = listener.await;
        let _ = stop_http.send(());
        let _ = http.await;
    });
}
