//! A case page's history: earlier cases and decisions on the same pair or on either person,
//! linked, with status, decision, comment, who and when.

use super::*;

/// The `#history` card of a page body.
fn history_card(body: &str) -> &str {
    let start = body.find("id=\"history\"").unwrap();
    let end = start
        + body[start..]
            .find("</ol>")
            .or_else(|| body[start..].find("</p>"))
            .unwrap();
    &body[start..end]
}

#[tokio::test]
async fn a_case_page_lists_earlier_cases_on_either_person_with_their_decisions() {
    let dir = tempfile::tempdir().unwrap();
    // C000000001–3: applicants P000000–2, candidates P500000–2 (and P700000–2).
    let s = start(dir.path(), 3).await;
    let a = login(&s, &s.analyst_a.clone()).await.unwrap();
    // A clears case 2 through its page.
    let url = s.url("/review/cases/C000000002");
    let page = send(Method::GET, &url, Some(&a), None, None).await;
    let csrf = page.csrf();
    let r = send(
        Method::POST,
        &format!("{url}/decide"),
        Some(&a),
        None,
        Some(form(&[
            ("csrf", csrf.as_str()),
            ("decision", "clear"),
            ("reason", "other"),
            ("comment", "Different people: ridge counts differ"),
        ])),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        s.cases.get("C000000002").unwrap().status,
        CaseStatus::Cleared
    );

    // A later gallery pair: case 2's candidate against case 3's applicant.
    let pair = NewCase {
        kind: CaseKind::GalleryPair,
        applicant: review_support::person(2, "Dewi Lestari", "317101", "sp-jkt"),
        candidates: vec![CaseCandidate {
            person: review_support::person(500_001, "Budi Santoso", "317101", "sp-jkt"),
            score: 30.0,
            finger_scores: [Some(0.2); 10],
            iris_distances: [None, None],
            identical: Default::default(),
        }],
        callback_url: None,
        calibration: "test".into(),
    };
    let id = s.cases.open_case(pair).unwrap().case_id;
    assert_eq!(id, "C000000004");
    let page = send(
        Method::GET,
        &s.url(&format!("/review/cases/{id}")),
        Some(&a),
        None,
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let card = history_card(&page.body);
    // Case 3 (its applicant) and case 2 (its candidate, cleared by A), newest first; case 1
    // is about other persons.
    let c3 = card.find("href=\"/review/cases/C000000003\"").unwrap();
    let c2 = card.find("href=\"/review/cases/C000000002\"").unwrap();
    assert!(c3 < c2, "{card}");
    assert!(!card.contains("C000000001"), "{card}");
    assert!(!card.contains("C000000004"), "{card}");
    let earlier = &card[c2..];
    assert!(earlier.contains("badge cleared"), "{card}");
    assert!(earlier.contains("the candidate"), "{card}");
    assert!(earlier.contains("cleared (not a duplicate)"), "{card}");
    assert!(
        earlier.contains("Different people: ridge counts differ"),
        "{card}"
    );
    assert!(earlier.contains("by Ana Analyst"), "{card}");
    assert!(earlier.contains("WIB"), "{card}");
    assert!(card[c3..c2].contains("the applicant"), "{card}");

    // Case 2's own page shows the gallery pair about its candidate, and nothing else.
    let page = send(Method::GET, &url, Some(&a), None, None).await;
    let card = history_card(&page.body);
    assert!(card.contains("href=\"/review/cases/C000000004\""), "{card}");
    assert!(
        !card.contains("C000000003") && !card.contains("C000000001"),
        "{card}"
    );

    // A case about nobody else says so.
    let page = send(
        Method::GET,
        &s.url("/review/cases/C000000001"),
        Some(&a),
        None,
        None,
    )
    .await;
    assert!(history_card(&page.body).contains("No other case"));
    s.stop().await;
}
