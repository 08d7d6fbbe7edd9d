//! The suite's state and its one way of talking to the listener: [`Suite::op`] builds a
//! request with a fresh `requestId`, sends it, waits for its answer and checks that the
//! answer carries that `requestId`. Assertions on answers and the engine set-up live here too.

use std::sync::Arc;

use serde_json::{json, Value};
use tunggal::cases::CaseStore;
use tunggal::engine::synthetic::request_of;
use tunggal::engine::{EngineOptions, GalleryEngine};
use tunggal_datasets::population::{CaptureSpec, Population};

use crate::support::*;

pub const TOKEN: &str = "datashare-test-token";
pub const SEED: u64 = 29;

fn now() -> String {
    tunggal::mosip::message::response_time()
}

/// A request of operation `op` (`insert`, `identify`, …) with `fields` added.
pub fn request(op: &str, request_id: &str, fields: Value) -> Value {
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

pub fn insert(request_id: &str, reference_id: &str, url: &str) -> Value {
    request(
        "insert",
        request_id,
        json!({"referenceId": reference_id, "referenceURL": url}),
    )
}

pub fn identify(request_id: &str, reference_id: &str, extra: Value) -> Value {
    let mut r = request("identify", request_id, json!({"referenceId": reference_id}));
    if let (Some(r), Value::Object(extra)) = (r.as_object_mut(), extra) {
        r.extend(extra);
    }
    r
}

pub fn assert_success(r: &Value, id: &str) {
    assert_eq!(r["returnValue"], "1", "{id}: {r}");
    assert!(r.get("failureReason").is_none(), "{id}: {r}");
    assert_eq!(r["id"], format!("mosip.abis.{id}"), "{r}");
    assert!(
        tunggal::mosip::message::valid_request_time(r["responsetime"].as_str().unwrap()),
        "{r}"
    );
}

pub fn assert_failure(r: &Value, reason: u8, what: &str) {
    assert_eq!(r["returnValue"], "2", "{what}: {r}");
    assert_eq!(r["failureReason"], reason.to_string(), "{what}: {r}");
}

/// The referenceIds of an identify response's candidates, in order.
pub fn candidates(r: &Value) -> Vec<String> {
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
pub fn synthetic_cbeff(pop: &Population, person: u64, capture: u64) -> Vec<u8> {
    let c = pop.capture(&pop.person(person), capture, &CaptureSpec::default());
    let req = request_of(&c, "x", "317101", "sp");
    let mut samples = minutiae_samples(&req.fingerprints);
    samples.push(Sample::iris("Left"));
    samples.push(Sample::face());
    cbeff(&samples)
}

pub struct Suite {
    pub mosip: MosipClient,
    pub share: Datashare,
    pub engine: Arc<GalleryEngine>,
    pub next: u64,
}

impl Suite {
    /// A fresh requestId.
    pub fn rid(&mut self) -> String {
        self.next += 1;
        format!("req-{:04}", self.next)
    }

    /// Sends operation `op` (`ping`, `insert`, …) with `fields` under a fresh requestId and
    /// returns its answer, checked to carry that requestId.
    pub async fn op(&mut self, op: &str, fields: Value) -> Value {
        self.op_with(op, fields, |_| {}).await
    }

    /// [`Suite::op`] with the request changed by `edit` before it is sent.
    pub async fn op_with(
        &mut self,
        op: &str,
        fields: Value,
        edit: impl FnOnce(&mut Value),
    ) -> Value {
        let rid = self.rid();
        let mut body = request(op, &rid, fields);
        edit(&mut body);
        self.call(&body).await
    }

    /// Inserts the share at `url` as `reference_id`.
    pub async fn insert(&mut self, reference_id: &str, url: &str) -> Value {
        self.op(
            "insert",
            json!({"referenceId": reference_id, "referenceURL": url}),
        )
        .await
    }

    /// Identifies `reference_id`, with `extra` fields (`flags`, `gallery`).
    pub async fn identify(&mut self, reference_id: &str, extra: Value) -> Value {
        let mut fields = json!({"referenceId": reference_id});
        if let (Some(f), Value::Object(extra)) = (fields.as_object_mut(), extra) {
            f.extend(extra);
        }
        self.op("identify", fields).await
    }

    /// Sends a request and returns its answer (checked to carry its requestId).
    pub async fn call(&mut self, body: &Value) -> Value {
        self.mosip.send(body).await;
        let r = self.mosip.receive().await;
        assert_eq!(r["requestId"], body["requestId"], "{r}");
        r
    }

    /// Sends a request and returns the next answer, whatever its requestId.
    pub async fn call_any(&mut self, body: &Value) -> Value {
        self.mosip.send(body).await;
        self.mosip.receive().await
    }
}

pub async fn open_engine(dir: &std::path::Path) -> Arc<GalleryEngine> {
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
