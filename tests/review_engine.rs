//! The review pages against the real gallery engine: a duplicate enrolment opens a case,
//! two analysts confirm and approve it in `/review`, and the service point's enrolment
//! status changes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod review_support;

use std::sync::Arc;

use hyper::{Method, StatusCode};
use review_support::{form, login_at, send, ADMIN_KEY};
use serde_json::Value;
use tokio::sync::oneshot;
use tunggal::access::keys::KeySpec;
use tunggal::cases::{CaseStatus, CaseStore};
use tunggal::engine::synthetic::request_of;
use tunggal::engine::{EngineOptions, GalleryEngine};
use tunggal::service::{Service, ServiceConfig};
use tunggal_datasets::population::{CaptureSpec, Population};

fn body(pop: &Population, id: u64, number: u64, alias: Option<u64>, rid: &str, sp: &str) -> String {
    let spec = CaptureSpec {
        alias,
        ..CaptureSpec::default()
    };
    let capture = pop.capture(&pop.person(id), number, &spec);
    serde_json::to_string(&request_of(&capture, rid, "317101", sp)).unwrap()
}

async fn json_request(method: Method, url: &str, key: &str, body: Option<String>) -> Value {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .unwrap();
    let r = client.request(req).await.unwrap();
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysts_resolve_a_real_duplicate_and_the_service_point_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        request_timeout_secs: 120,
        ..ServiceConfig::default()
    };
    let cases = Arc::new(CaseStore::open(dir.path()).unwrap());
    let (d, c) = (dir.path().to_path_buf(), cases.clone());
    let engine = tokio::task::spawn_blocking(move || {
        let options = EngineOptions {
            calibration: tunggal::dedup::synthetic_calibration(120),
            ..EngineOptions::default()
        };
        GalleryEngine::open(&d, c, options)
    })
    .await
    .unwrap()
    .unwrap();
    let service = Service::bind(config, Arc::new(engine), cases.clone(), Some(ADMIN_KEY))
        .await
        .unwrap();
    let keys = &service.app().keys;
    let key = |spec| keys.create(&spec, "test").unwrap().0;
    let sp1 = key(KeySpec::parse("service-point", "sp-1", Some("317101"), Some("sp-1")).unwrap());
    let sp2 = key(KeySpec::parse("service-point", "sp-2", Some("317101"), Some("sp-2")).unwrap());
    let analyst_a = key(KeySpec::parse("analyst", "Ana", None, None).unwrap());
    let analyst_b = key(KeySpec::parse("analyst", "Budi", None, None).unwrap());
    let base = format!("http://{}", service.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(service.run(async move {
        let _ = rx.await;
    }));

    let pop = Population::new(11);
    let enrol = |key: String, body: String| {
        let url = format!("{base}/v1/enrolments");
        async move { json_request(Method::POST, &url, &key, Some(body)).await }
    };
    for id in 0..4u64 {
        let v = enrol(
            sp1.clone(),
            body(&pop, id, 0, None, &format!("g-{id}"), "sp-1"),
        )
        .await;
        assert_eq!(v["verdict"], "single", "{v}");
    }
    let dup = enrol(sp2.clone(), body(&pop, 2, 1, Some(1), "d-1", "sp-2")).await;
    assert_eq!(dup["verdict"], "duplicate", "{dup}");
    let case_id = dup["case_id"].as_str().unwrap().to_owned();
    let duplicate_of = dup["candidates"][0]["reference_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let status_url = format!("{base}/v1/enrolments/d-1");
    let before = json_request(Method::GET, &status_url, &sp2, None).await;
    assert_eq!(before["status"], "under_review", "{before}");

    // Analyst A opens the case: the real evidence is drawn.
    let a = login_at(&base, &analyst_a).await.unwrap();
    let queue = send(Method::GET, &format!("{base}/review"), Some(&a), None, None).await;
    assert!(queue.body.contains(&case_id));
    let case_url = format!("{base}/review/cases/{case_id}");
    let page = send(Method::GET, &case_url, Some(&a), None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"modality-grid\""));
    assert!(
        page.body.contains("class=\"match-line\""),
        "no matched minutiae drawn"
    );
    assert!(
        page.body.contains("data:image/png;base64,"),
        "no iris drawn"
    );
    let r = send(
        Method::POST,
        &format!("{case_url}/decide"),
        Some(&a),
        None,
        Some(form(&[
            ("csrf", &page.csrf()),
            ("decision", "confirm"),
            ("reason", "same_person"),
            ("candidate", &duplicate_of),
            ("comment", "same person"),
        ])),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let pending = json_request(Method::GET, &status_url, &sp2, None).await;
    assert_eq!(pending["status"], "under_review", "{pending}");

    // Analyst B approves; the enrolment the service point reads changes.
    let b = login_at(&base, &analyst_b).await.unwrap();
    let page_b = send(Method::GET, &case_url, Some(&b), None, None).await;
    let r = send(
        Method::POST,
        &format!("{case_url}/approve"),
        Some(&b),
        None,
        Some(form(&[
            ("csrf", &page_b.csrf()),
            ("verdict", "approve"),
            ("comment", "agreed"),
        ])),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.location().unwrap().ends_with("done=approved"),
        "{:?}",
        r.location()
    );
    let case = cases.get(&case_id).unwrap();
    assert_eq!(case.status, CaseStatus::ConfirmedDuplicate);
    assert!(case.outcome_delivered);
    let after = json_request(Method::GET, &status_url, &sp2, None).await;
    assert_ne!(after["status"], "under_review", "{after}");
    eprintln!("enrolment status after approval: {after}");

    let _ = tx.send(());
    task.await.unwrap().unwrap();
}
