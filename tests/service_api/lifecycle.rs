//! Idempotent retries, the queue, shutdown, readiness, the OpenAPI document and the binary.

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_return_the_first_answer_even_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let engine = MemoryEngine::new();
    let s = start(dir.path(), engine.clone()).await;
    let key = service_point_key(&s).await;
    let url = s.url("/v1/enrolments");
    let first = post(&url, Some(&key), &enrolment("r-1", 1)).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.json()["verdict"], "single");
    assert!(first.headers.get("idempotent-replay").is_none());
    let again = post(&url, Some(&key), &enrolment("r-1", 1)).await;
    assert_eq!(again.json(), first.json());
    assert_eq!(again.headers["idempotent-replay"], "true");
    assert_eq!(engine.calls.load(Ordering::SeqCst), 1);
    // Same request_id, different body.
    let r = post(&url, Some(&key), &enrolment("r-1", 2)).await;
    assert_eq!(
        (r.status, r.reason().as_str()),
        (StatusCode::CONFLICT, "idempotency_conflict")
    );
    // The same fingers under a new request_id are a duplicate (test double matching).
    let dup = post(&url, Some(&key), &enrolment("r-2", 1)).await;
    assert_eq!(dup.json()["verdict"], "duplicate");
    assert_eq!(dup.json()["candidates"][0]["reference_id"], "p1");
    s.stop().await;

    // Restart on the same data directory with a fresh engine: answers are replayed.
    let engine2 = MemoryEngine::new();
    let s = start(dir.path(), engine2.clone()).await;
    let replay = post(&s.url("/v1/enrolments"), Some(&key), &enrolment("r-1", 1)).await;
    assert_eq!(replay.json(), first.json());
    assert_eq!(replay.headers["idempotent-replay"], "true");
    assert_eq!(engine2.calls.load(Ordering::SeqCst), 0);
    let r = get(&s.url("/v1/enrolments/r-2"), Some(&key)).await;
    assert_eq!(r.json()["verdict"], "duplicate");
    // Metrics and audit saw it all.
    let metrics = String::from_utf8(get(&s.url("/metrics"), None).await.body).unwrap();
    assert!(metrics.contains(
        "tunggal_http_requests_total{route=\"/v1/enrolments\",method=\"POST\",status=\"200\"} 1"
    ));
    s.stop().await;
    let audit = AuditLog::read_all(dir.path()).unwrap();
    let enrols = audit.iter().filter(|e| e.action == "enrol").count();
    assert_eq!(enrols, 5);
    assert!(audit
        .iter()
        .any(|e| e.action == "read_enrolment" && e.status == 200));
    // The admin's key creation is audited too; everything else was the service point.
    assert!(audit
        .iter()
        .any(|e| e.action == "create_key" && e.role == "admin"));
    assert!(audit
        .iter()
        .filter(|e| e.action != "create_key")
        .all(|e| e.key_name == "Loket 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_answers_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let engine = MemoryEngine::new();
    let release = engine.hold();
    let mut cfg = config(dir.path());
    cfg.queue_capacity = 1;
    let s = start_with(cfg, engine.clone()).await;
    let key = service_point_key(&s).await;
    let url = s.url("/v1/enrolments");
    let held = tokio::spawn({
        let (url, key) = (url.clone(), key.clone());
        async move { post(&url, Some(&key), &enrolment("hold-1", 1)).await }
    });
    // Wait (bounded) until the held job occupies the queue.
    let mut admitted = false;
    for _ in 0..500 {
        let m = String::from_utf8(get(&s.url("/metrics"), None).await.body).unwrap();
        if m.contains("tunggal_queue_depth 1") {
            admitted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(admitted);
    let r = post(&url, Some(&key), &enrolment("q-2", 2)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.reason(), "queue_full");
    assert_eq!(r.headers["retry-after"], "1");
    // A retry of the held request while it runs.
    let r = post(&url, Some(&key), &enrolment("hold-1", 1)).await;
    assert_eq!(r.reason(), "request_in_progress");
    release.send(()).unwrap();
    let r = held.await.unwrap();
    assert_eq!(r.json()["verdict"], "single");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_the_running_request() {
    let dir = tempfile::tempdir().unwrap();
    let engine = MemoryEngine::new();
    let release = engine.hold();
    let s = start(dir.path(), engine.clone()).await;
    let key = service_point_key(&s).await;
    let url = s.url("/v1/enrolments");
    let addr = s.addr;
    let held = tokio::spawn(async move { post(&url, Some(&key), &enrolment("hold-9", 1)).await });
    for _ in 0..500 {
        if engine.calls.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(engine.calls.load(Ordering::SeqCst), 1);
    let stopping = tokio::spawn(s.stop());
    release.send(()).unwrap();
    let r = held.await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    stopping.await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwired_engine_is_not_ready_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), Arc::new(UnwiredEngine)).await;
    let health = get(&s.url("/health"), None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["engine_wired"], false);
    let ready = get(&s.url("/ready"), None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.reason(), "engine_not_wired");
    let key = service_point_key(&s).await;
    let r = post(&s.url("/v1/enrolments"), Some(&key), &enrolment("u-1", 1)).await;
    assert_eq!(r.reason(), "engine_not_wired");
    // Not kept: a retry runs again once an engine is there.
    let r = post(&s.url("/v1/enrolments"), Some(&key), &enrolment("u-1", 1)).await;
    assert_eq!(r.reason(), "engine_not_wired");
    let m = String::from_utf8(get(&s.url("/metrics"), None).await.body).unwrap();
    assert!(m.contains("tunggal_engine_wired 0"));
    let r = get(&s.url("/no/such/route"), None).await;
    assert_eq!(r.reason(), "not_found");
    let r = send(Method::PUT, &s.url("/health"), None, None).await;
    assert_eq!(r.reason(), "method_not_allowed");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_matches_the_real_routes() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), MemoryEngine::new()).await;
    let doc = get(&s.url("/openapi.json"), None).await.json();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let expected = [
        ("DELETE", "/v1/persons/{reference_id}"),
        ("GET", "/health"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/ready"),
        ("GET", "/v1/admin/callbacks/dead"),
        ("GET", "/v1/admin/cases/export"),
        ("GET", "/v1/admin/keys"),
        ("GET", "/v1/admin/keys/events"),
        ("GET", "/v1/enrolments/{request_id}"),
        ("GET", "/v1/persons"),
        ("GET", "/v1/persons/{reference_id}"),
        ("POST", "/v1/admin/callbacks/{id}/requeue"),
        ("POST", "/v1/admin/cases/{case_id}/release"),
        ("POST", "/v1/admin/images/compact"),
        ("POST", "/v1/admin/keys"),
        ("POST", "/v1/admin/keys/{key_id}/revoke"),
        ("POST", "/v1/admin/keys/{key_id}/rotate"),
        ("POST", "/v1/enrolments"),
        ("POST", "/v1/identify"),
        ("POST", "/v1/verify"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, expected);
    // Every documented route exists on the server with that method.
    for (method, path) in &documented {
        let concrete = path
            .replace("{reference_id}", "P0000000001")
            .replace("{request_id}", "x-1")
            .replace("{key_id}", "0123456789ab")
            .replace("{case_id}", "C000000001")
            .replace("{id}", "1");
        let r = send(
            Method::from_bytes(method.as_bytes()).unwrap(),
            &s.url(&concrete),
            None,
            None,
        )
        .await;
        assert!(
            r.status != StatusCode::NOT_FOUND && r.status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} answered {}",
            r.status
        );
    }
    // Reasons and the bearer scheme are in the document.
    let reasons = &doc["components"]["schemas"]["Reason"];
    assert!(reasons.to_string().contains("queue_full"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    s.stop().await;
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tunggal"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_with_the_gallery_engine_and_stops_on_sigterm() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("TUNGGAL_ADMIN_KEY", ADMIN_KEY)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut said_gallery_open = false;
    let mut addr = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        said_gallery_open |= line.contains("gallery open with 0 persons");
        if let Some(a) = line.strip_prefix("tunggal: listening on http://") {
            addr = Some(a.to_owned());
            break;
        }
    }
    assert!(said_gallery_open);
    let addr = addr.unwrap();
    let r = get(&format!("http://{addr}/ready"), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["engine"], "gallery");
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().await.unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        rest.push(line);
    }
    assert!(rest.iter().any(|l| l.contains("stopped")));
}
