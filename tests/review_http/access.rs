//! Log-in, sessions, page headers and CSRF.

use super::*;

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
        Some(form(&[
            ("decision", "clear"),
            ("reason", "family_member"),
            ("comment", "x"),
        ])),
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
        form(&[
            ("decision", "clear"),
            ("reason", "family_member"),
            ("comment", "different people"),
        ]),
        form(&[
            ("csrf", "wrong"),
            ("decision", "clear"),
            ("reason", "family_member"),
            ("comment", "x"),
        ]),
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
            ("reason", "family_member"),
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
