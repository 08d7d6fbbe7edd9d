//! The queue's search box, ties at the score cap, decision reasons, supervisors and
//! lease requests.

use super::*;

#[tokio::test]
async fn the_search_box_finds_cases_by_nik_request_id_name_and_case_id() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), 12).await;
    let a = login(&s, &s.analyst_a.clone()).await.unwrap();
    let get = |q: &str| {
        let url = s.url(&format!("/review?q={q}"));
        let a = a.clone();
        async move { send(Method::GET, &url, Some(&a), None, None).await }
    };
    // The applicant of C000000008 (person 7), by NIK: that case only.
    let nik = s.cases.get("C000000008").unwrap().new.applicant.nik;
    let r = get(&nik).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("id=\"search-results\""));
    let listed = |body: &str| {
        (1..=12)
            .map(|i| format!("C{i:09}"))
            .filter(|id| body.contains(&format!("href=\"/review/cases/{id}\"")))
            .collect::<Vec<_>>()
    };
    assert_eq!(listed(&r.body), ["C000000008"]);
    // request_id exactly, case id exactly.
    assert_eq!(listed(&get("req-000003").await.body), ["C000000004"]);
    assert_eq!(listed(&get("C000000011").await.body), ["C000000011"]);
    // Names by their start, without case: Agus Wijaya is every fifth applicant from 3.
    let agus = get("aGuS%20w").await.body;
    assert_eq!(listed(&agus), ["C000000004", "C000000009"]);
    let at = |id: &str| agus.find(&format!("href=\"/review/cases/{id}\"")).unwrap();
    assert!(at("C000000009") < at("C000000004"), "newest first");
    // The queue page itself carries the box.
    let queue = send(Method::GET, &s.url("/review"), Some(&a), None, None).await;
    assert!(queue.body.contains("id=\"queue-search\""));
    // Bad input is refused like a bad filter.
    for bad in ["x", "%01abc"] {
        let r = get(bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.body.contains("search"), "{}", r.body);
    }
    let r = get(&"a".repeat(200)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Searches are audited with what was searched and what was shown.
    let events = AuditLog::read_all(dir.path()).unwrap();
    assert!(events.iter().any(|e| e.action == "search_queue"
        && e.subject.contains(&nik)
        && e.subject.contains("C000000008")));
    s.stop().await;
}

async fn page(s: &review_support::Running, who: &str, case: &str) -> review_support::Reply {
    send(
        Method::GET,
        &s.url(&format!("/review/cases/{case}")),
        Some(who),
        None,
        None,
    )
    .await
}

async fn post_form(
    s: &review_support::Running,
    who: &str,
    path: &str,
    pairs: &[(&str, &str)],
) -> review_support::Reply {
    send(
        Method::POST,
        &s.url(path),
        Some(who),
        None,
        Some(form(pairs)),
    )
    .await
}

#[tokio::test]
async fn reasons_are_required_shown_in_the_trail_and_exported_for_admins() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), 3).await;
    let a = login(&s, &s.analyst_a.clone()).await.unwrap();
    let csrf = page(&s, &a, "C000000002").await.csrf();
    assert!(page(&s, &a, "C000000002")
        .await
        .body
        .contains("name=\"reason\""));
    let decide = |pairs: Vec<(&'static str, &'static str)>| {
        let (s, a, csrf) = (&s, a.clone(), csrf.clone());
        async move {
            let mut all = vec![("csrf", csrf.as_str())];
            all.extend(pairs);
            post_form(s, &a, "/review/cases/C000000002/decide", &all).await
        }
    };
    // No reason, an unknown one, one that does not fit: refused.
    let r = decide(vec![("decision", "clear"), ("comment", "siblings")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("reason is required"), "{}", r.body);
    let r = decide(vec![
        ("decision", "clear"),
        ("reason", "hunch"),
        ("comment", "x"),
    ])
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = decide(vec![
        ("decision", "clear"),
        ("reason", "same_person"),
        ("comment", "x"),
    ])
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(s.cases.get("C000000002").unwrap().status, CaseStatus::Open);
    let r = decide(vec![
        ("decision", "clear"),
        ("reason", "twins"),
        ("comment", "twin sisters, fingerprints differ"),
    ])
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let shown = page(&s, &a, "C000000002").await;
    assert!(shown
        .body
        .contains("reason: <span class=\"reason\">twins</span>"));
    // The export: admins only, JSON lines, filtered by status and decision time.
    let export = |query: &'static str, key: String| {
        let url = s.url(&format!("/v1/admin/cases/export{query}"));
        async move { send(Method::GET, &url, None, Some(&key), None).await }
    };
    let admin = review_support::ADMIN_KEY.to_owned();
    let r = export("", admin.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
    let lines: Vec<serde_json::Value> = r
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{}", r.body);
    let row = &lines[0];
    assert_eq!(row["case_id"], "C000000002");
    assert_eq!(row["status"], "cleared");
    assert_eq!(row["decision"], "clear");
    assert_eq!(row["reason"], "twins");
    assert_eq!(row["comment"], "twin sisters, fingerprints differ");
    assert_eq!(row["applicant"], "P000001");
    assert_eq!(row["candidate"], "P500001");
    assert_eq!(row["score"], 11.0);
    let decided_at = row["decided_at"].as_str().unwrap();
    assert!(decided_at.ends_with('Z') && decided_at.contains('T'));
    assert!(!row["decided_by"].as_str().unwrap().is_empty());
    let r = export("?status=all", admin.clone()).await;
    assert_eq!(r.body.lines().count(), 3);
    let r = export("?status=open&since=2000-01-01T00:00:00Z", admin.clone()).await;
    assert_eq!(r.body.lines().count(), 0, "open cases have no decision");
    let r = export("?since=2999-01-01T00:00:00Z", admin.clone()).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, ""));
    for bad in ["?status=maybe", "?since=yesterday", "?limit=3"] {
        let r = send(
            Method::GET,
            &s.url(&format!("/v1/admin/cases/export{bad}")),
            None,
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            r.body.contains("\"reason\":\"invalid_query\""),
            "{}",
            r.body
        );
    }
    let r = export("", s.analyst_a.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The export is audited with its filters before the first line, and with its size when
    // the stream ends (before the body does).
    let events = AuditLog::read_all(dir.path()).unwrap();
    assert!(events
        .iter()
        .any(|e| e.action == "export_cases" && e.subject.contains("status=decided")));
    assert!(events.iter().any(|e| e.action == "export_cases_done"
        && e.subject.contains("rows=1")
        && e.status == 200));
    s.stop().await;
}

#[tokio::test]
async fn an_analyst_asks_for_a_held_case_and_a_supervisor_releases_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), 2).await;
    let a = login(&s, &s.analyst_a.clone()).await.unwrap();
    let b = login(&s, &s.analyst_b.clone()).await.unwrap();
    let csrf_a = page(&s, &a, "C000000001").await.csrf();
    let r = post_form(
        &s,
        &a,
        "/review/cases/C000000001/take",
        &[("csrf", &csrf_a)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // B sees it taken and asks for it; B cannot release it.
    let seen_b = page(&s, &b, "C000000001").await;
    assert!(seen_b.body.contains("id=\"btn-ask\""));
    let csrf_b = seen_b.csrf();
    let r = post_form(
        &s,
        &b,
        "/review/cases/C000000001/release",
        &[("csrf", &csrf_b)],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = post_form(&s, &b, "/review/cases/C000000001/ask", &[("csrf", &csrf_b)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(page(&s, &b, "C000000001")
        .await
        .body
        .contains("id=\"asked-notice\""));
    // Asking for a case nobody holds is refused: take it instead.
    let r = post_form(&s, &b, "/review/cases/C000000002/ask", &[("csrf", &csrf_b)]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // A sees the request on the case and in the queue.
    let seen_a = page(&s, &a, "C000000001").await;
    assert!(seen_a.body.contains("id=\"requested-notice\""));
    assert!(seen_a.body.contains("Budi Reviewer"));
    let queue = send(Method::GET, &s.url("/review"), Some(&a), None, None).await;
    assert!(queue.body.contains("requested by Budi Reviewer"));
    // A supervisor (an admin key) releases A's hold; analysts may not use the route.
    let release = |key: String| {
        let url = s.url("/v1/admin/cases/C000000001/release");
        async move { send(Method::POST, &url, None, Some(&key), None).await }
    };
    let r = release(s.analyst_b.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = release(review_support::ADMIN_KEY.to_owned()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let answer: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(answer["case_id"], "C000000001");
    assert!(answer["released_from"]
        .as_str()
        .is_some_and(|k| !k.is_empty()));
    let case = s.cases.get("C000000001").unwrap();
    assert!(case.lease.is_none());
    let seen = page(&s, &b, "C000000001").await;
    assert!(seen
        .body
        .contains("released the case held by Ana Analyst (supervisor)"));
    assert!(seen.body.contains("id=\"btn-take\""));
    // Unknown case: 404 problem.
    let r = send(
        Method::POST,
        &s.url("/v1/admin/cases/C000000099/release"),
        None,
        Some(review_support::ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Asking and the supervisor's release are audited.
    let events = AuditLog::read_all(dir.path()).unwrap();
    assert!(events
        .iter()
        .any(|e| e.action == "ask_for_case" && e.key_name == "Budi Reviewer"));
    assert!(events
        .iter()
        .any(|e| e.action == "supervisor_release" && e.status == 200));
    s.stop().await;
}

#[tokio::test]
async fn a_supervisor_releases_another_analysts_hold_on_the_case_page() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), 2).await;
    let a = login(&s, &s.analyst_a.clone()).await.unwrap();
    let b = login(&s, &s.analyst_b.clone()).await.unwrap();
    let sup = login(&s, &s.supervisor.clone()).await.unwrap();
    let csrf_a = page(&s, &a, "C000000001").await.csrf();
    let r = post_form(
        &s,
        &a,
        "/review/cases/C000000001/take",
        &[("csrf", &csrf_a)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // The holder and another analyst see no supervisor button; the supervisor does.
    assert!(!page(&s, &a, "C000000001")
        .await
        .body
        .contains("btn-supervisor-release"));
    let seen_b = page(&s, &b, "C000000001").await;
    assert!(!seen_b.body.contains("btn-supervisor-release"));
    let seen_sup = page(&s, &sup, "C000000001").await;
    assert!(seen_sup.body.contains("id=\"btn-supervisor-release\""));
    // Nor on a case nobody holds.
    assert!(!page(&s, &sup, "C000000002")
        .await
        .body
        .contains("btn-supervisor-release"));
    // An analyst posting the form is refused and nothing changes.
    let path = "/review/cases/C000000001/supervisor-release";
    let r = post_form(&s, &b, path, &[("csrf", &seen_b.csrf())]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(s.cases.get("C000000001").unwrap().lease.is_some());
    // The supervisor without the form's token is refused too.
    let r = post_form(&s, &sup, path, &[("csrf", "wrong")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post_form(&s, &sup, path, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(s.cases.get("C000000001").unwrap().lease.is_some());
    // With it, the hold ends: back to the case with a flash, a trail entry naming the
    // holder, an audit entry.
    let r = post_form(&s, &sup, path, &[("csrf", &seen_sup.csrf())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        r.location(),
        Some("/review/cases/C000000001?done=supervisor_released")
    );
    assert!(s.cases.get("C000000001").unwrap().lease.is_none());
    let after = send(
        Method::GET,
        &s.url("/review/cases/C000000001?done=supervisor_released"),
        Some(&sup),
        None,
        None,
    )
    .await;
    assert!(
        after.body.contains("Released as supervisor"),
        "{}",
        after.body
    );
    assert!(after
        .body
        .contains("released the case held by Ana Analyst (supervisor)"));
    assert!(!after.body.contains("btn-supervisor-release"));
    let events = AuditLog::read_all(dir.path()).unwrap();
    assert!(events.iter().any(|e| e.action == "supervisor_release"
        && e.key_name == "Sari Supervisor"
        && e.subject.contains("holder:")));
    // A supervisor key may also use the admin API's release.
    let csrf_a = page(&s, &a, "C000000002").await.csrf();
    post_form(
        &s,
        &a,
        "/review/cases/C000000002/take",
        &[("csrf", &csrf_a)],
    )
    .await;
    let r = send(
        Method::POST,
        &s.url("/v1/admin/cases/C000000002/release"),
        None,
        Some(&s.supervisor),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(s.cases.get("C000000002").unwrap().lease.is_none());
    s.stop().await;
}

#[tokio::test]
async fn a_large_export_streams_every_case_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), 0).await;
    // 5,000 cases in one transaction per 1,000 (five export chunks).
    let total = 5_000u32;
    let t0 = 1_795_000_000u64;
    for first in (0..total).step_by(1_000) {
        let batch = (first..first + 1_000)
            .map(|i| {
                let new = NewCase {
                    kind: CaseKind::Biometric,
                    applicant: review_support::person(i, "Siti Rahayu", "317101", "sp-jkt"),
                    candidates: vec![CaseCandidate {
                        person: review_support::person(
                            100_000 + i,
                            "Dewi Lestari",
                            "317101",
                            "sp-jkt",
                        ),
                        score: 10.0 + f64::from(i % 50),
                        finger_scores: review_support::BEST_FINGERS,
                        iris_distances: [Some(0.21), Some(0.33)],
                        identical: Default::default(),
                    }],
                    callback_url: None,
                    calibration: "test".into(),
                };
                (new, t0 + u64::from(i))
            })
            .collect();
        s.cases.open_cases_at(batch).unwrap();
    }
    let r = send(
        Method::GET,
        &s.url("/v1/admin/cases/export?status=all"),
        None,
        Some(review_support::ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let ids: Vec<String> = r
        .body
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["case_id"].as_str().unwrap().to_owned()
        })
        .collect();
    let expected: Vec<String> = (1..=total).map(|i| format!("C{i:09}")).collect();
    assert_eq!(ids.len(), expected.len());
    assert!(ids == expected, "every case once, oldest first");
    // The same cases through the open status's index.
    let r = send(
        Method::GET,
        &s.url("/v1/admin/cases/export?status=open"),
        None,
        Some(review_support::ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(r.body.lines().count(), total as usize);
    let events = AuditLog::read_all(dir.path()).unwrap();
    assert!(events.iter().any(|e| e.action == "export_cases_done"
        && e.subject.contains("status=all")
        && e.subject.contains("rows=5000")));
    s.stop().await;
}
