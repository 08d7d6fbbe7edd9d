//! The four-eyes workflow: taken cases, owners, revoked keys, clearing far above the
//! threshold.

use super::*;

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
            ("reason", "family_member"),
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
            ("reason", "same_person"),
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
            ("reason", "same_person"),
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
            ("reason", "family_member"),
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
        ("reason", "same_person"),
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
    let clear = [
        ("decision", "clear"),
        ("reason", "family_member"),
        ("comment", "no"),
    ];
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
        &[
            ("decision", "clear"),
            ("reason", "family_member"),
            ("comment", "no"),
        ],
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
