//! Access rules and the case workflow of the `/review` pages over plain HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod review_support;

use hyper::{Method, StatusCode};
use review_support::{form, login, send, start};
use tunggal::access::audit::AuditLog;
use tunggal::cases::{CaseCandidate, CaseKind, CaseOutcome, CaseStatus, NewCase};

#[tokio::test]
async fn no_session_means_no_page() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), 3).await;
    for path in ["/review", "/review/cases/C000000001"] {
        let r = send(Method::GET, &s.url(path), None, None, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), Some("/review/login"));
        assert!(!r.body.contains("C000000001"));
    }
    // A forged cookie is no session either, and a bearer key does not replace the log-in.
    let r = send(
        Method::GET,
        &s.url("/review"),
        Some("tgl_review=forged"),
        Some(&s.analyst_a),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // Posting a decision without a session changes nothing.
    let r = send(
        Method::POST,
        &s.url("/review/cases/C000000001/decide"),
        None,
        None,
        Some(form(&[("decision", "clear"), ("comment", "x")])),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(s.cases.get("C000000001").unwrap().status, CaseStatus::Open);
    s.stop().await;
}

#[tokio::test]
async fn only_analyst_keys_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), 1).await;
    let sp = login(&s, &s.service_point.clone()).await.unwrap_err();
    assert_eq!(sp.status, StatusCode::FORBIDDEN);
    assert!(sp
        .body
        .contains("service-point key cannot open the review pages"));
    assert!(sp
        .cookies()
        .iter()
        .all(|c| !c.starts_with("tgl_review=") || c.len() == 11));
    let admin = login(&s, review_support::ADMIN_KEY).await.unwrap_err();
    assert_eq!(admin.status, StatusCode::FORBIDDEN);
    assert!(
        admin
            .body
            .contains("An admin key cannot open the review pages"),
        "{}",
        admin.body
    );
    let unknown = login(&s, "tgl_nope_nope").await.unwrap_err();
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let session = login(&s, &s.analyst_a.clone()).await.unwrap();
    let r = send(Method::GET, &s.url("/review"), Some(&session), None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("C000000001"));
    // Every failed log-in is audited: the refused roles by their key, the unknown key by a
    // short fingerprint (never the key itself); the queue view names the cases it showed.
    let events = AuditLog::read_all(dir.path()).unwrap();
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e.action == "review_login_failed")
        .collect();
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert_eq!(
        (
            failed[0].role.as_str(),
            failed[0].subject.as_str(),
            failed[0].status
        ),
        ("service-point", "wrong_role", 403)
    );
    assert_eq!((failed[1].role.as_str(), failed[1].status), ("admin", 403));
    assert_eq!((failed[2].key_id.as_str(), failed[2].status), ("-", 401));
    assert!(failed[2].subject.starts_with("unknown_key key-sha256:"));
    assert_eq!(failed[2].subject.len(), "unknown_key key-sha256:".len() + 8);
    assert!(events.iter().all(|e| !e.subject.contains("tgl_nope_nope")));
    let viewed: Vec<_> = events.iter().filter(|e| e.action == "view_queue").collect();
    assert_eq!(viewed.len(), 1);
    assert_eq!(viewed[0].subject, "cases:[C000000001]");
    assert_eq!(viewed[0].role, "analyst");
    // The session cookie is HttpOnly and SameSite=Strict.
    let page = send(Method::GET, &s.url("/review/login"), None, None, None).await;
    let raw = page.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(raw.contains("HttpOnly") && raw.contains("SameSite=Strict"));
    // Without TLS the cookie cannot be Secure (the browser would drop it).
    assert!(!raw.contains("Secure"));
    s.stop().await;
}

#[tokio::test]
async fn review_pages_are_not_cached_framed_or_open_to_foreign_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), 2).await;
    let session = login(&s, &s.analyst_a.clone()).await.unwrap();
    for path in ["/review", "/review/cases/C000000001"] {
        let r = send(Method::GET, &s.url(path), Some(&session), None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let h = |name: &str| r.headers.get(name).unwrap().to_str().unwrap().to_owned();
        assert_eq!(h("cache-control"), "no-store", "{path}");
        assert_eq!(h("x-frame-options"), "DENY", "{path}");
        let csp = h("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert_eq!(csp.matches("'sha256-").count(), 2, "{csp}");
        assert!(!csp.contains("script-src 'unsafe-inline'"), "{csp}");
    }
    s.stop().await;
}

#[tokio::test]
async fn forms_without_a_valid_csrf_token_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), 2).await;
    // The log-in form itself: no token, or a token that is not the cookie's.
    let r = send(
        Method::POST,
        &s.url("/review/login"),
        None,
        None,
        Some(form(&[("key", &s.analyst_a)])),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        Method::POST,
        &s.url("/review/login"),
        Some("tgl_review_login=abc"),
        None,
        Some(form(&[("csrf", "abd"), ("key", &s.analyst_a)])),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let session = login(&s, &s.analyst_a.clone()).await.unwrap();
    let url = s.url("/review/cases/C000000001/decide");
    for body in [
        form(&[("decision", "clear"), ("comment", "different people")]),
        form(&[("csrf", "wrong"), ("decision", "clear"), ("comment", "x")]),
    ] {
        let r = send(Method::POST, &url, Some(&session), None, Some(body)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(s.cases.get("C000000001").unwrap().status, CaseStatus::Open);
    assert!(s.engine.closed.lock().unwrap().is_empty());
    // Another session's token does not work either.
    let other = login(&s, &s.analyst_b.clone()).await.unwrap();
    let page_b = send(Method::GET, &s.url("/review"), Some(&other), None, None).await;
    let r = send(
        Method::POST,
        &url,
        Some(&session),
        None,
        Some(form(&[
            ("csrf", &page_b.csrf()),
            ("decision", "clear"),
            ("comment", "x"),
        ])),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The stale log-in forms and the three refused decisions are audited, the decisions by
    // the session's analyst.
    let events = AuditLog::read_all(dir.path()).unwrap();
    let stale = events
        .iter()
        .filter(|e| e.action == "review_login_failed" && e.subject == "stale_form")
        .count();
    assert_eq!(stale, 2);
    let forbidden: Vec<_> = events.iter().filter(|e| e.action == "forbidden").collect();
    assert_eq!(forbidden.len(), 3, "{forbidden:?}");
    for e in forbidden {
        assert_eq!(e.subject, "POST /review/cases/{id}/decide");
        assert_eq!((e.role.as_str(), e.status), ("analyst", 403));
    }
    s.stop().await;
}

#[tokio::test]
async fn four_eyes_over_http_with_taken_cases_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), 3).await;
    let a = login(&s, &s.analyst_a.clone()).await.unwrap();
    let b = login(&s, &s.analyst_b.clone()).await.unwrap();
    let case_url = s.url("/review/cases/C000000002");
    let page_a = send(Method::GET, &case_url, Some(&a), None, None).await;
    assert_eq!(page_a.status, StatusCode::OK);
    assert!(page_a.body.contains("id=\"modality-grid\""));
    assert!(page_a.body.contains("class=\"match-line\""));
    assert!(page_a.body.contains("data:image/png;base64,"));
    // Reading the case takes nothing and adds nothing to its trail.
    let read = s.cases.get("C000000002").unwrap();
    assert!(read.lease.is_none());
    assert_eq!(read.trail.len(), 1);
    assert!(page_a.body.contains("id=\"btn-take\""));
    // A takes it; B sees it taken by A and cannot decide it.
    let r = send(
        Method::POST,
        &format!("{case_url}/take"),
        Some(&a),
        None,
        Some(form(&[("csrf", &page_a.csrf())])),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let held = send(Method::GET, &case_url, Some(&a), None, None).await;
    assert!(held.body.contains("id=\"btn-release\""));
    assert!(!held.body.contains("id=\"btn-take\""));
    let page_b = send(Method::GET, &case_url, Some(&b), None, None).await;
    assert!(page_b.body.contains("Taken by"));
    let queue_b = send(
        Method::GET,
        &s.url("/review?status=taken"),
        Some(&b),
        None,
        None,
    )
    .await;
    assert!(queue_b.body.contains("C000000002") && queue_b.body.contains("Ana Analyst"));
    let r = send(
        Method::POST,
        &format!("{case_url}/decide"),
        Some(&b),
        None,
        Some(form(&[
            ("csrf", &page_b.csrf()),
            ("decision", "clear"),
            ("comment", "x"),
        ])),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // A decision without a comment is refused.
    let csrf_a = page_a.csrf();
    let r = send(
        Method::POST,
        &format!("{case_url}/decide"),
        Some(&a),
        None,
        Some(form(&[
            ("csrf", &csrf_a),
            ("decision", "confirm"),
            ("candidate", "P500001"),
            ("comment", " "),
        ])),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A confirms; nothing reaches the engine until B approves.
    let r = send(
        Method::POST,
        &format!("{case_url}/decide"),
        Some(&a),
        None,
        Some(form(&[
            ("csrf", &csrf_a),
            ("decision", "confirm"),
            ("candidate", "P500001"),
            ("comment", "ridges agree on 8 fingers"),
        ])),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(s.engine.closed.lock().unwrap().is_empty());
    // A cannot approve their own decision.
    let r = send(
        Method::POST,
        &format!("{case_url}/approve"),
        Some(&a),
        None,
        Some(form(&[
            ("csrf", &csrf_a),
            ("verdict", "approve"),
            ("comment", "me"),
        ])),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("cannot approve"));
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
    let closed = s.engine.closed.lock().unwrap().clone();
    assert_eq!(
        closed,
        vec![(
            "C000000002".to_owned(),
            "req-000001".to_owned(),
            CaseOutcome::ConfirmedDuplicate {
                duplicate_of: "P500001".into()
            }
        )]
    );
    let case = s.cases.get("C000000002").unwrap();
    assert_eq!(case.status, CaseStatus::ConfirmedDuplicate);
    assert!(case.outcome_delivered);
    // Clearing closes at once.
    let page = send(
        Method::GET,
        &s.url("/review/cases/C000000003"),
        Some(&b),
        None,
        None,
    )
    .await;
    let r = send(
        Method::POST,
        &s.url("/review/cases/C000000003/decide"),
        Some(&b),
        None,
        Some(form(&[
            ("csrf", &page.csrf()),
            ("decision", "clear"),
            ("comment", "different people"),
        ])),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(s.engine.closed.lock().unwrap()[1].2, CaseOutcome::Cleared);
    // The audit log names the case.
    let events = AuditLog::read_all(dir.path()).unwrap();
    assert!(events
        .iter()
        .any(|e| e.action == "approve_case" && e.case_id.as_deref() == Some("C000000002")));
    assert!(events
        .iter()
        .any(|e| e.action == "view_case" && e.key_name == "Budi Reviewer"));
    // Filters and bad filters.
    let r = send(
        Method::GET,
        &s.url("/review?district=320101&status=all"),
        Some(&a),
        None,
        None,
    )
    .await;
    assert!(r.body.contains("C000000001") && !r.body.contains("C000000002"));
    let r = send(
        Method::GET,
        &s.url("/review?min_score=abc"),
        Some(&a),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Overdue gauge is exported.
    let m = send(Method::GET, &s.url("/metrics"), None, None, None).await;
    assert!(m.body.contains("tunggal_cases_overdue 0"));
    assert!(m.body.contains("tunggal_cases_active 1"));
    s.stop().await;
}

/// Issues a key with an owner through a second key store (as `tunggal keys create` does).
fn issue(dir: &std::path::Path, role: &str, name: &str, owner: &str) -> String {
    use tunggal::access::keys::{KeySpec, KeyStore};
    let spec = KeySpec::parse(role, name, None, None)
        .unwrap()
        .owned_by(owner)
        .unwrap();
    KeyStore::open(dir).unwrap().create(&spec, "cli").unwrap().0
}

async fn decide(
    s: &review_support::Running,
    session: &str,
    case: &str,
    fields: &[(&str, &str)],
) -> review_support::Reply {
    let url = s.url(&format!("/review/cases/{case}"));
    let page = send(Method::GET, &url, Some(session), None, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.csrf();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    let action = if fields.iter().any(|(k, _)| *k == "verdict") {
        "approve"
    } else {
        "decide"
    };
    send(
        Method::POST,
        &format!("{url}/{action}"),
        Some(session),
        None,
        Some(form(&all)),
    )
    .await
}

#[tokio::test]
async fn two_keys_of_one_owner_are_one_pair_of_eyes_and_admin_owners_do_not_decide() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), 3).await;
    // An admin issues two analyst keys to one owner: confirming with one and approving
    // with the other is refused.
    let first = login(&s, &issue(dir.path(), "analyst", "Key one", "NIP-42"))
        .await
        .unwrap();
    let second = login(&s, &issue(dir.path(), "analyst", "Key two", "NIP-42"))
        .await
        .unwrap();
    let confirm = [
        ("decision", "confirm"),
        ("candidate", "P500001"),
        ("comment", "same"),
    ];
    let r = decide(&s, &first, "C000000002", &confirm).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let approve = [("verdict", "approve"), ("comment", "agreed")];
    let r = decide(&s, &second, "C000000002", &approve).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("cannot approve"));
    assert!(s.engine.closed.lock().unwrap().is_empty());
    assert_eq!(
        s.cases.get("C000000002").unwrap().status,
        CaseStatus::PendingApproval
    );
    // Another owner approves.
    let other = login(&s, &s.analyst_b.clone()).await.unwrap();
    let r = decide(&s, &other, "C000000002", &approve).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    // The owner of an admin key cannot decide with an analyst key either.
    issue(dir.path(), "admin", "Boss", "NIP-7");
    let boss = login(
        &s,
        &issue(dir.path(), "analyst", "Boss as analyst", "NIP-7"),
    )
    .await
    .unwrap();
    let clear = [("decision", "clear"), ("comment", "no")];
    let r = decide(&s, &boss, "C000000003", &clear).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("admin"), "{}", r.body);
    assert_eq!(s.cases.get("C000000003").unwrap().status, CaseStatus::Open);
    s.stop().await;
}

#[tokio::test]
async fn a_revoked_analyst_key_ends_its_session_at_the_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), 1).await;
    let key = issue(dir.path(), "analyst", "Leaving", "NIP-9");
    let session = login(&s, &key).await.unwrap();
    let page = send(Method::GET, &s.url("/review"), Some(&session), None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    let key_id = key.split('_').nth(1).unwrap().to_owned();
    tunggal::access::keys::KeyStore::open(dir.path())
        .unwrap()
        .revoke(&key_id, "cli")
        .unwrap();
    let page = send(Method::GET, &s.url("/review"), Some(&session), None, None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), Some("/review/login"));
    assert!(login(&s, &key).await.is_err(), "a revoked key logged in");
    s.stop().await;
}

#[tokio::test]
async fn clearing_a_case_far_above_the_threshold_needs_a_second_analyst() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), 3).await;
    // Threshold 4: the default bar (200 %) is 8, and every seeded case scores 10 or more.
    *s.engine.threshold.lock().unwrap() = Some(4.0);
    let a = login(&s, &s.analyst_a.clone()).await.unwrap();
    let r = decide(
        &s,
        &a,
        "C000000001",
        &[("decision", "clear"), ("comment", "no")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        r.location(),
        Some("/review/cases/C000000001?done=clear_pending")
    );
    assert_eq!(
        s.cases.get("C000000001").unwrap().status,
        CaseStatus::PendingApproval
    );
    assert!(
        s.engine.closed.lock().unwrap().is_empty(),
        "cleared by one analyst"
    );
    let b = login(&s, &s.analyst_b.clone()).await.unwrap();
    let approve = [("verdict", "approve"), ("comment", "agreed")];
    let r = decide(&s, &b, "C000000001", &approve).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        s.cases.get("C000000001").unwrap().status,
        CaseStatus::Cleared
    );
    let closed = s.engine.closed.lock().unwrap().clone();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].2, CaseOutcome::Cleared);
    s.stop().await;
}

/// The `<figure>` of finger `pos` on a case page.
fn finger_figure(body: &str, pos: u8) -> &str {
    let start = body
        .find(&format!("<figure data-position=\"{pos}\">"))
        .unwrap_or_else(|| panic!("no figure for finger {pos}"));
    let rest = &body[start..];
    &rest[..rest.find("</figure>").unwrap()]
}

#[tokio::test]
async fn evidence_against_draws_no_correspondences_and_a_finger_opens_large() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), 2).await;
    let session = login(&s, &s.analyst_a.clone()).await.unwrap();
    let get = |path: &str| {
        let (url, session) = (s.url(path), session.clone());
        async move { send(Method::GET, &url, Some(&session), None, None).await }
    };
    let page = get("/review/cases/C000000001").await;
    assert_eq!(page.status, StatusCode::OK);
    // Positions 5 (0.02) and 10 (0.004) are evidence against: no lines, numbers or pairs.
    for pos in [5, 10] {
        let fig = finger_figure(&page.body, pos);
        assert_eq!(fig.matches("match-line").count(), 0, "finger {pos}");
        assert_eq!(fig.matches("data-pair").count(), 0, "finger {pos}");
        assert!(fig.contains("against: no correspondence"), "{fig}");
        assert!(fig.contains("svg class=\"minutiae against\""));
    }
    // The others (0.06 and up) are evidence for: 24 numbered pairs, count and overlap shown.
    for pos in [1, 2, 3, 4, 6, 7, 9] {
        let fig = finger_figure(&page.body, pos);
        assert_eq!(
            fig.matches("class=\"match-line\"").count(),
            24,
            "finger {pos}"
        );
        assert!(fig.contains("24 matched minutiae"), "{fig}");
        assert!(fig.contains(" mm²"), "{fig}");
        assert!(fig.contains(&format!("/review/cases/C000000001/fingers/{pos}?c=0")));
    }
    assert!(page.body.contains("id=\"legend-against\""));
    // Times in WIB, UTC on hover: the seeded enrolment time 03:00 UTC is 10:00 WIB.
    assert!(page.body.contains("2026-11-25 10:00 WIB"), "enrolment time");
    assert!(page.body.contains(" WIB</time>") && page.body.contains(" UTC\">"));
    // The second candidate is weak on every finger: nothing drawn as a correspondence.
    let second = get("/review/cases/C000000001?c=1").await;
    assert_eq!(second.status, StatusCode::OK);
    assert!(second.body.contains("id=\"fingers\""));
    assert_eq!(second.body.matches("class=\"match-line\"").count(), 0);

    // The large view of one finger: the drawing and its numbered pairs as a table.
    let large = get("/review/cases/C000000001/fingers/2?c=0").await;
    assert_eq!(large.status, StatusCode::OK);
    assert!(large.body.contains("id=\"pair-table\""));
    assert_eq!(large.body.matches("<tr data-pair=").count(), 24);
    assert!(large.body.contains("R index"));
    let against = get("/review/cases/C000000001/fingers/10?c=0").await;
    assert_eq!(against.status, StatusCode::OK);
    assert!(!against.body.contains("pair-table"));
    for bad in [
        "/review/cases/C000000001/fingers/11",
        "/review/cases/C000000001/fingers/2?c=5",
        "/review/cases/C000000099/fingers/2",
    ] {
        assert_eq!(get(bad).await.status, StatusCode::NOT_FOUND, "{bad}");
    }
    let events = AuditLog::read_all(dir.path()).unwrap();
    assert_eq!(
        events.iter().filter(|e| e.action == "view_finger").count(),
        2
    );
    // A district filter that is no district code is an error, not an empty queue.
    for bad in ["51710", "5171O1", "5171011"] {
        let r = get(&format!("/review?district={bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.body.contains("is not a district code"), "{}", r.body);
    }
    assert_eq!(get("/review?district=320101").await.status, StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn a_resubmitted_capture_is_flagged_and_no_distance_is_negative() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), 1).await;
    let mut candidate = CaseCandidate {
        person: review_support::person(600_001, "Siti Rahayu", "317101", "sp-jkt"),
        score: 64.0,
        finger_scores: [Some(0.997); 10],
        iris_distances: [Some(-0.169), Some(0.31)],
    };
    candidate.finger_scores[3] = Some(0.2);
    let new = NewCase {
        kind: CaseKind::Biometric,
        applicant: review_support::person(1, "Siti Rahayu", "317101", "sp-jkt"),
        candidates: vec![candidate],
        callback_url: None,
        calibration: "test".into(),
    };
    let id = s.cases.open_case(new).unwrap().case_id;
    let session = login(&s, &s.analyst_a.clone()).await.unwrap();
    let page = send(
        Method::GET,
        &s.url(&format!("/review/cases/{id}")),
        Some(&session),
        None,
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let start = page.body.find("id=\"identical-capture\"").unwrap();
    let banner = &page.body[start..start + page.body[start..].find("</p>").unwrap()];
    assert!(banner.contains("R thumb"), "{banner}");
    assert!(!banner.contains("R ring"), "{banner}");
    assert!(
        banner.contains("R eye") && !banner.contains("L eye"),
        "{banner}"
    );
    // The grid shows the clamped distance; the computed one only in the cell's title.
    assert!(page.body.contains(">0.000</td>"));
    assert!(!page.body.contains(">-0."));
    // An ordinary case has no banner.
    let plain = send(
        Method::GET,
        &s.url("/review/cases/C000000001"),
        Some(&session),
        None,
        None,
    )
    .await;
    assert!(!plain.body.contains("identical-capture"));
    s.stop().await;
}
