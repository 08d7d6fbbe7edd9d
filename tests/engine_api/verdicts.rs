//! Verdicts, retries, re-issue, NIK conflicts, roles and restart.

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_retry_reissue_nik_conflict_roles_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let s = start(dir.path()).await;
    let ready = get(&s.url("/ready"), ADMIN_KEY).await;
    assert_eq!(ready.status, StatusCode::OK);
    let sp1 = sp_key(&s, "sp-1").await;
    let sp2 = sp_key(&s, "sp-2").await;
    let analyst = key(&s, json!({"role": "analyst", "name": "Analis"})).await;

    // Twelve different people: all single, each with its own reference id.
    let mut refs = Vec::new();
    for id in 0..12u64 {
        let v = enrol(
            &s,
            &sp1,
            &body(&pop, id, 0, None, &format!("g-{id}"), "sp-1"),
        )
        .await;
        assert_eq!(v["verdict"], "single", "person {id}: {v}");
        assert_eq!(v["status"], "print_ready");
        assert_eq!(v["reissue"], false);
        refs.push(v["reference_id"].as_str().unwrap().to_owned());
    }
    refs.dedup();
    assert_eq!(refs.len(), 12);
    // Gallery size and matcher work in /metrics: twelve searches over 0, 1, …, 11 persons.
    let m = String::from_utf8(get(&s.url("/metrics"), ADMIN_KEY).await.body).unwrap();
    let value = |name: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from {m}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("tunggal_gallery_persons"), 12);
    assert_eq!(value("tunggal_matcher_searches_total"), 12);
    assert_eq!(value("tunggal_matcher_persons_scanned_total"), 66);
    assert!(value("tunggal_matcher_comparisons_total") > 0);

    // A new capture of person 3 under an alias at another service point: duplicate.
    let dup_body = body(&pop, 3, 1, Some(1), "d-1", "sp-2");
    let dup = enrol(&s, &sp2, &dup_body).await;
    assert_eq!(dup["verdict"], "duplicate", "{dup}");
    assert_eq!(dup["duplicate_reason"], "biometric");
    assert_eq!(dup["status"], "under_review");
    let c0 = &dup["candidates"][0];
    assert_eq!(c0["reference_id"], refs[3].as_str());
    assert_eq!(c0["request_id"], "g-3");
    assert!(c0["score"].as_f64().unwrap() > 0.0);
    assert!(!c0["finger_scores"].as_array().unwrap().is_empty());
    assert!(!c0["iris_scores"].as_array().unwrap().is_empty());
    let case_id = dup["case_id"].as_str().unwrap().to_owned();
    assert!(case_id.starts_with('C'));
    // Analysts look an enrolment up by its request id alone.
    let r = get(&s.url("/v1/enrolments/d-1"), &analyst).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    assert_eq!(r.json()["case_id"], case_id.as_str());
    let r = get(&s.url("/v1/enrolments/nobody"), &analyst).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // One request id from two service points: name the one meant.
    let other = enrol(&s, &sp2, &body(&pop, 30, 0, None, "g-0", "sp-2")).await;
    assert_eq!(other["verdict"], "single", "{other}");
    let r = get(&s.url("/v1/enrolments/g-0"), &analyst).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.json());
    assert_eq!(r.json()["reason"], "ambiguous_request_id");
    let detail = r.json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("/sp-1") && detail.contains("/sp-2"),
        "{detail}"
    );

    // The idempotent retry returns the first answer, not "duplicate of itself".
    let again = post(&s.url("/v1/enrolments"), &sp2, &dup_body).await;
    assert_eq!(again.headers["idempotent-replay"], "true");
    assert_eq!(again.json()["case_id"], case_id.as_str());
    let first = enrol(&s, &sp1, &body(&pop, 0, 0, None, "g-0", "sp-1")).await;
    assert_eq!(first["verdict"], "single");
    assert_eq!(first["reference_id"], refs[0].as_str());

    // Person 5 re-applies under their own NIK: single, re-issue, no new person.
    let re = enrol(&s, &sp1, &body(&pop, 5, 2, None, "r-5", "sp-1")).await;
    assert_eq!(re["verdict"], "single", "{re}");
    assert_eq!(re["reissue"], true);
    assert_eq!(re["reference_id"], refs[5].as_str());

    // Someone new claims person 6's NIK: duplicate, nik_conflict.
    let mut claim = body(&pop, 40, 0, None, "n-1", "sp-1");
    let owner = body(&pop, 6, 0, None, "x", "sp-1");
    for field in ["nik", "sex", "date_of_birth"] {
        claim[field] = owner[field].clone();
    }
    let conflict = enrol(&s, &sp1, &claim).await;
    assert_eq!(conflict["verdict"], "duplicate", "{conflict}");
    assert_eq!(conflict["duplicate_reason"], "nik_conflict");
    assert_eq!(conflict["candidates"][0]["reference_id"], refs[6].as_str());

    // Persons: analysts read them, service points may not; the held applicant is visible.
    let p = get(&s.url(&format!("/v1/persons/{}", refs[3])), &analyst).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(p.json()["request_id"], "g-3");
    assert_eq!(p.json()["status"], "print_ready");
    let held = dup["reference_id"].as_str().unwrap();
    let p = get(&s.url(&format!("/v1/persons/{held}")), &analyst).await;
    assert_eq!(p.json()["status"], "under_review");
    assert_eq!(p.json()["case_id"], case_id.as_str());
    let p = get(&s.url(&format!("/v1/persons/{}", refs[3])), &sp1).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = get(&s.url("/v1/persons/P9999999999"), &analyst).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    // An analyst may not enrol; a service point may not read another's submission.
    let r = post(&s.url("/v1/enrolments"), &analyst, &dup_body).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = get(&s.url("/v1/enrolments/d-1"), &sp1).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Evidence for analysts: the matched finger's minutia pairs, the aligned iris.
    let held_ref = dup["reference_id"].as_str().unwrap().to_owned();
    let f = s.engine().finger(&held_ref, &refs[3], 1).unwrap();
    assert!(f.pairs.len() >= 4 && f.score > 0.0);
    assert!(f
        .pairs
        .iter()
        .all(|&(a, c)| a < f.applicant.minutiae.len() && c < f.candidate.minutiae.len()));
    let eye = (0..2)
        .find_map(|e| s.engine().iris(&held_ref, &refs[3], e))
        .unwrap();
    assert!(eye.distance < 0.35, "{}", eye.distance);
    assert_eq!(eye.applicant_code.len(), eye.angular * eye.radial);

    // Analysts' final decisions change the status the service point reads.
    let case = s.engine().cases().get(&case_id).unwrap();
    s.engine()
        .case_closed(&case_id, &case.new.applicant, &CaseOutcome::Cleared)
        .unwrap();
    let r = get(&s.url("/v1/enrolments/d-1"), &sp2).await.json();
    assert_eq!(r["verdict"], "single", "{r}");
    assert_eq!(r["status"], "print_ready");
    assert_eq!(r["reference_id"], held_ref.as_str());
    let conflict_case = conflict["case_id"].as_str().unwrap();
    let case = s.engine().cases().get(conflict_case).unwrap();
    let confirmed = CaseOutcome::ConfirmedDuplicate {
        duplicate_of: refs[6].clone(),
    };
    s.engine()
        .case_closed(conflict_case, &case.new.applicant, &confirmed)
        .unwrap();
    let r = get(&s.url("/v1/enrolments/n-1"), &sp1).await.json();
    assert_eq!(r["verdict"], "duplicate");
    assert_eq!(r["status"], "refused");
    assert_eq!(r["duplicate_of"], refs[6].as_str());

    // 1:1 verify by reference id: the mate matches, another person does not.
    let e = body(&pop, 7, 3, None, "v-1", "sp-1");
    let mut v =
        json!({"request_id": "v-1", "fingerprints": e["fingerprints"], "irises": e["irises"]});
    v["reference_id"] = json!(refs[7]);
    let r = post(&s.url("/v1/verify"), &analyst, &v).await;
    let m = r.json();
    assert_eq!(m["matched"], true, "{m}");
    // The answer carries the threshold and the evidence behind the score.
    assert!(m["threshold"].as_f64().unwrap() > 0.0, "{m}");
    assert!(
        m["score"].as_f64().unwrap() >= m["threshold"].as_f64().unwrap(),
        "{m}"
    );
    assert!(!m["finger_scores"].as_array().unwrap().is_empty(), "{m}");
    v["request_id"] = json!("v-2");
    v["reference_id"] = json!(refs[8]);
    let r = post(&s.url("/v1/verify"), &analyst, &v).await;
    assert_eq!(r.json()["matched"], false);
    // An unknown reference id is not "another person": 404 person_not_found.
    v["request_id"] = json!("v-3");
    v["reference_id"] = json!("P9999999999");
    let r = post(&s.url("/v1/verify"), &analyst, &v).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.json());
    assert_eq!(r.json()["reason"], "person_not_found");
    // Persons read back with the request's spelling of sex.
    let r = get(&s.url(&format!("/v1/persons/{}", refs[7])), &analyst)
        .await
        .json();
    assert!(r["sex"] == "male" || r["sex"] == "female", "{r}");
    s.stop().await;

    // Restart on the same data directory: every acknowledged answer and person is kept.
    let s = start(dir.path()).await;
    let r = get(&s.url("/v1/enrolments/g-11"), &sp1).await;
    assert_eq!(r.json()["reference_id"], refs[11].as_str());
    let r = get(&s.url("/v1/enrolments/d-1"), &sp2).await;
    assert_eq!(r.json()["status"], "print_ready");
    let r = get(&s.url("/v1/enrolments/n-1"), &sp1).await;
    assert_eq!(r.json()["status"], "refused");
    // Duplicates are still caught across the restart.
    let v = enrol(&s, &sp2, &body(&pop, 9, 4, Some(2), "d-2", "sp-2")).await;
    assert_eq!(v["verdict"], "duplicate", "{v}");
    assert_eq!(v["candidates"][0]["reference_id"], refs[9].as_str());
    // A new person after the restart gets a fresh reference id.
    let v = enrol(&s, &sp1, &body(&pop, 50, 0, None, "g-50", "sp-1")).await;
    assert_eq!(v["verdict"], "single", "{v}");
    assert!(!refs.contains(&v["reference_id"].as_str().unwrap().to_owned()));
    // A later read answers the decision's time, not the read's.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = get(&s.url("/v1/enrolments/g-50"), &sp1).await.json();
    assert_eq!(r["decided_at"], v["decided_at"], "{r}");
    // Every time in the API is RFC 3339 UTC.
    let at = v["decided_at"].as_str().unwrap();
    assert!(
        at.len() == 20 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
        "{at}"
    );
    // An admin deletes a person; a new capture of them is then single.
    let r = send(
        Method::DELETE,
        &s.url(&format!("/v1/persons/{}", refs[10])),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(r.json()["deleted"], true);
    // A second deletion, and a verification against the deleted person: 410 person_deleted.
    let r = send(
        Method::DELETE,
        &s.url(&format!("/v1/persons/{}", refs[10])),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::GONE, "{}", r.json());
    assert_eq!(r.json()["reason"], "person_deleted");
    let e = body(&pop, 10, 3, None, "v-4", "sp-1");
    let gone = json!({"request_id": "v-4", "reference_id": refs[10],
        "fingerprints": e["fingerprints"], "irises": e["irises"]});
    let r = post(&s.url("/v1/verify"), &analyst, &gone).await;
    assert_eq!(r.status, StatusCode::GONE, "{}", r.json());
    // The service point's read of that enrolment now says so, not `print_ready`.
    let r = get(&s.url("/v1/enrolments/g-10"), &sp1).await.json();
    assert_eq!(r["verdict"], "single", "{r}");
    assert_eq!(r["status"], "deleted", "{r}");
    let v = enrol(&s, &sp2, &body(&pop, 10, 5, Some(1), "d-3", "sp-2")).await;
    assert_eq!(v["verdict"], "single", "{v}");
    s.stop().await;
}
