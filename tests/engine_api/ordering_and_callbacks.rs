//! One single per person under concurrency, and callbacks: delivery, restart, allow-list,
//! dead letters.

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enrolments_of_one_person_yield_one_single() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED + 1);
    let s = start(dir.path()).await;
    let sp1 = sp_key(&s, "sp-1").await;
    let sp2 = sp_key(&s, "sp-2").await;
    for id in 100..104u64 {
        let a = body(&pop, id, 0, None, &format!("a-{id}"), "sp-1");
        let b = body(&pop, id, 1, Some(1), &format!("b-{id}"), "sp-2");
        let url = s.url("/v1/enrolments");
        let (ra, rb) = tokio::join!(post(&url, &sp1, &a), post(&url, &sp2, &b));
        let verdicts = [ra.json(), rb.json()];
        let singles = verdicts.iter().filter(|v| v["verdict"] == "single").count();
        let dups: Vec<&Value> = verdicts
            .iter()
            .filter(|v| v["verdict"] == "duplicate")
            .collect();
        assert_eq!(singles, 1, "person {id}: {verdicts:?}");
        assert_eq!(dups.len(), 1, "person {id}: {verdicts:?}");
        let single = verdicts.iter().find(|v| v["verdict"] == "single").unwrap();
        assert_eq!(
            dups[0]["candidates"][0]["reference_id"],
            single["reference_id"]
        );
    }
    s.stop().await;
}

/// A local callback receiver: every POSTed JSON body goes to the channel.
async fn receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    receiver_at("127.0.0.1:0").await
}

/// [`receiver`] on a given address.
async fn receiver_at(at: &str) -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(at).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/cb"), rx)
}

async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Value>) -> Value {
    tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv())
        .await
        .expect("no callback within 30 s")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_post_final_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED + 2);
    let (url, mut rx) = receiver().await;
    let s = start(dir.path()).await;
    let sp1 = sp_key(&s, "sp-1").await;
    let sp2 = sp_key(&s, "sp-2").await;
    // Single: posted at once.
    let mut a = body(&pop, 1, 0, None, "cb-1", "sp-1");
    a["callback_url"] = json!(url);
    let v = enrol(&s, &sp1, &a).await;
    assert_eq!(v["verdict"], "single");
    let got = next(&mut rx).await;
    assert_eq!(got["request_id"], "cb-1");
    assert_eq!(got["verdict"], "single");
    // Duplicate: nothing until the case closes, then the final status.
    let mut b = body(&pop, 1, 1, Some(1), "cb-2", "sp-2");
    b["callback_url"] = json!(url);
    let v = enrol(&s, &sp2, &b).await;
    assert_eq!(v["verdict"], "duplicate", "{v}");
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(300), rx.recv()).await;
    assert!(quiet.is_err(), "no callback before the case closes");
    let case_id = v["case_id"].as_str().unwrap();
    let case = s.engine().cases().get(case_id).unwrap();
    let confirmed = CaseOutcome::ConfirmedDuplicate {
        duplicate_of: v["candidates"][0]["reference_id"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    s.engine()
        .case_closed(case_id, &case.new.applicant, &confirmed)
        .unwrap();
    let got = next(&mut rx).await;
    assert_eq!(got["request_id"], "cb-2");
    assert_eq!(got["status"], "refused");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleared_applicant_is_searched_against_persons_enrolled_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let s = start(dir.path()).await;
    let sp1 = sp_key(&s, "sp-1").await;
    for id in 0..6u64 {
        let v = enrol(
            &s,
            &sp1,
            &body(&pop, id, 0, None, &format!("g-{id}"), "sp-1"),
        )
        .await;
        assert_eq!(v["verdict"], "single", "person {id}: {v}");
    }
    // Person 30 claims person 2's NIK: a NIK conflict, held for review outside the gallery.
    let mut claim = body(&pop, 30, 0, None, "n-30", "sp-1");
    let owner = body(&pop, 2, 0, None, "x", "sp-1");
    for field in ["nik", "sex", "date_of_birth"] {
        claim[field] = owner[field].clone();
    }
    let held = enrol(&s, &sp1, &claim).await;
    assert_eq!(held["duplicate_reason"], "nik_conflict", "{held}");
    // While the case is open, person 30 enrols under their own NIK: nobody enrolled matches.
    let own = enrol(&s, &sp1, &body(&pop, 30, 1, None, "o-30", "sp-1")).await;
    assert_eq!(own["verdict"], "single", "{own}");

    // Analysts clear the claim: the applicant enters the gallery in order, and its match
    // with the person enrolled meanwhile becomes a gallery-pair case.
    let case_id = held["case_id"].as_str().unwrap();
    let case = s.engine().cases().get(case_id).unwrap();
    s.engine()
        .case_closed(case_id, &case.new.applicant, &CaseOutcome::Cleared)
        .unwrap();
    let mut pairs = Vec::new();
    s.engine()
        .cases()
        .for_each(|c| {
            if c.kind() == tunggal::cases::CaseKind::GalleryPair {
                pairs.push(c.clone());
            }
        })
        .unwrap();
    assert_eq!(pairs.len(), 1, "{pairs:?}");
    assert_eq!(pairs[0].new.applicant.request_id, "n-30");
    assert_eq!(pairs[0].new.candidates[0].person.request_id, "o-30");
    // Every later enrolment sees the cleared applicant.
    let again = enrol(&s, &sp1, &body(&pop, 30, 2, Some(3), "a-30", "sp-1")).await;
    assert_eq!(again["verdict"], "duplicate", "{again}");
    let found: Vec<&str> = again["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["request_id"].as_str())
        .collect();
    assert!(
        found.contains(&"n-30") && found.contains(&"o-30"),
        "{again}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_pending_at_shutdown_is_delivered_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED + 3);
    // A free port with nobody listening yet: every attempt before the restart fails.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = start(dir.path()).await;
    let sp1 = sp_key(&s, "sp-1").await;
    let mut a = body(&pop, 1, 0, None, "late-1", "sp-1");
    a["callback_url"] = json!(format!("http://127.0.0.1:{port}/cb"));
    let v = enrol(&s, &sp1, &a).await;
    assert_eq!(v["verdict"], "single");
    s.stop().await;

    let (_, mut rx) = receiver_at(&format!("127.0.0.1:{port}")).await;
    let s = start(dir.path()).await;
    let got = next(&mut rx).await;
    assert_eq!(got["request_id"], "late-1");
    assert_eq!(got["verdict"], "single");
    // The delivery is marked done in the outbox just after the receiver answers.
    let mut left = 1;
    for _ in 0..50 {
        let d = dir.path().to_path_buf();
        left = tokio::task::spawn_blocking(move || {
            tunggal::engine::outbox::Outbox::open(&d).unwrap().1.len()
        })
        .await
        .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "the delivered callback is still pending");
    s.stop().await;
    // Delivered notices are not posted again on the next start.
    let s = start(dir.path()).await;
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(1500), rx.recv()).await;
    assert!(quiet.is_err(), "a delivered callback was posted again");
    s.stop().await;
}

/// A receiver that answers every POST with 500 and counts them.
async fn failing_receiver() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                (StatusCode::INTERNAL_SERVER_ERROR, "down")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/cb"), hits)
}

async fn dead_letters(s: &Running, key: &str) -> Reply {
    get(&s.url("/v1/admin/callbacks/dead"), key).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_hosts_off_the_allow_list_are_refused_at_request() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED + 4);
    let callbacks = CallbackConfig {
        allowed_hosts: vec!["notify.example".to_owned()],
        ..CallbackConfig::default()
    };
    let s = start_with(dir.path(), callbacks).await;
    let sp1 = sp_key(&s, "sp-1").await;
    for (i, url) in [
        "https://169.254.169.254/latest/meta-data/",
        "https://evil.example/cb",
        "https://notify.example.evil.example/cb",
        "http://127.0.0.1:9/cb",
    ]
    .into_iter()
    .enumerate()
    {
        let mut a = body(&pop, 1, 0, None, &format!("h-{i}"), "sp-1");
        a["callback_url"] = json!(url);
        let r = post(&s.url("/v1/enrolments"), &sp1, &a).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}");
        assert_eq!(r.json()["reason"], "callback_host_not_allowed", "{url}");
        assert_eq!(r.json()["pointer"], "/callback_url", "{url}");
    }
    // Nothing was enrolled or journalled by the refused requests; an allowed host passes.
    let mut a = body(&pop, 1, 0, None, "h-ok", "sp-1");
    a["callback_url"] = json!("https://notify.example/cb");
    let v = enrol(&s, &sp1, &a).await;
    assert_eq!(v["verdict"], "single", "{v}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_callbacks_become_dead_letters_an_admin_lists_and_requeues() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED + 5);
    let (url, hits) = failing_receiver().await;
    let callbacks = CallbackConfig {
        max_attempts: 3,
        base_delay_ms: 20,
        ..loopback_callbacks()
    };
    let s = start_with(dir.path(), callbacks.clone()).await;
    let sp1 = sp_key(&s, "sp-1").await;
    let mut a = body(&pop, 1, 0, None, "dl-1", "sp-1");
    a["callback_url"] = json!(url);
    assert_eq!(enrol(&s, &sp1, &a).await["verdict"], "single");
    let mut dead = Value::Null;
    for _ in 0..300 {
        let r = dead_letters(&s, ADMIN_KEY).await;
        assert_eq!(r.status, StatusCode::OK);
        dead = r.json()["dead_letters"].clone();
        if dead.as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let list = dead.as_array().expect("dead letters");
    assert_eq!(list.len(), 1, "{dead}");
    assert_eq!(list[0]["request_id"], "dl-1");
    assert_eq!(list[0]["attempts"], 3);
    assert!(
        list[0]["last_error"].as_str().unwrap().contains("500"),
        "{dead}"
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 3);
    // Only admins see or requeue dead letters.
    assert_eq!(dead_letters(&s, &sp1).await.status, StatusCode::FORBIDDEN);
    let id = list[0]["id"].as_u64().unwrap();
    let requeue = format!("/v1/admin/callbacks/{id}/requeue");
    let r = post(&s.url(&requeue), &sp1, &json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    s.stop().await;

    // A restart does not retry a dead letter.
    let s = start_with(dir.path(), callbacks).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 3);
    // The admin's requeue gives it a fresh set of attempts, and is audited.
    let r = post(&s.url(&requeue), ADMIN_KEY, &json!({})).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let r = post(
        &s.url("/v1/admin/callbacks/999999/requeue"),
        ADMIN_KEY,
        &json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    for _ in 0..300 {
        let d = dead_letters(&s, ADMIN_KEY).await.json();
        if d["dead_letters"].as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 6);
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(
        audit.contains("requeue_callback") && audit.contains(&format!("callback:{id}")),
        "requeue not audited"
    );
    s.stop().await;
}
