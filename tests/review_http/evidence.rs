//! Evidence on the case page: no correspondences on fingers against a match, the large
//! finger view, identical captures.

use super::*;

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
        identical: Default::default(),
    };
    candidate.finger_scores[3] = Some(0.2);
    // The flags come from the search, not from the page's own reading of the scores: the
    // right ring finger scores 0.2 but is flagged near-identical, the right little finger
    // scores 0.997 but is not flagged.
    candidate.identical.fingers = [Some(Sameness::Exact); 10];
    candidate.identical.fingers[3] = Some(Sameness::Near);
    candidate.identical.fingers[4] = None;
    candidate.identical.eyes[0] = Some(Sameness::Exact);
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
    let banner = &page.body[start..start + page.body[start..].find("</div>").unwrap()];
    let exact_at = banner.find("id=\"identical-exact\"").unwrap();
    let near_at = banner.find("id=\"identical-near\"").unwrap();
    let (exact, near) = (&banner[exact_at..near_at], &banner[near_at..]);
    assert!(
        exact.contains("R thumb") && exact.contains("R eye"),
        "{banner}"
    );
    assert!(
        !exact.contains("R ring") && !exact.contains("R little"),
        "{banner}"
    );
    assert!(
        near.contains("R ring") && !near.contains("R thumb"),
        "{banner}"
    );
    assert!(
        !banner.contains("R little") && !banner.contains("L eye"),
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
