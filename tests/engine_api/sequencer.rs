//! Every job that needs the total order goes through the deduplicator: concurrent
//! enrolments of one NIK, one request id sent twice at once, and a re-issue racing another
//! enrolment of the same person give consistent answers, and every acknowledged enrolment
//! is kept (read back after a restart).

use super::harness::*;

/// The body of person `id`'s capture `number` presenting the NIK, sex and birth date of
/// person `holder`.
fn with_nik_of(pop: &Population, id: u64, number: u64, holder: u64, rid: &str) -> Value {
    let mut b = body(pop, id, number, None, rid, "sp-1");
    let owner = body(pop, holder, 0, None, "x", "sp-1");
    for field in ["nik", "sex", "date_of_birth"] {
        b[field] = owner[field].clone();
    }
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enrolments_of_one_new_nik_give_one_holder() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED + 7);
    let s = start(dir.path()).await;
    let sp1 = sp_key(&s, "sp-1").await;
    let url = s.url("/v1/enrolments");
    let mut acknowledged = Vec::new();
    for round in 0..4u64 {
        // Three different persons present one NIK nobody holds yet, all at once.
        let holder = 200 + round * 10;
        let bodies: Vec<Value> = (0..3u64)
            .map(|i| with_nik_of(&pop, holder + i, 0, holder, &format!("n-{round}-{i}")))
            .collect();
        let (a, b, c) = tokio::join!(
            post(&url, &sp1, &bodies[0]),
            post(&url, &sp1, &bodies[1]),
            post(&url, &sp1, &bodies[2])
        );
        let verdicts = [a.json(), b.json(), c.json()];
        let singles: Vec<&Value> = verdicts
            .iter()
            .filter(|v| v["verdict"] == "single")
            .collect();
        assert_eq!(singles.len(), 1, "round {round}: {verdicts:?}");
        let single = singles[0]["reference_id"].as_str().unwrap();
        for v in verdicts.iter().filter(|v| v["verdict"] != "single") {
            assert_eq!(v["verdict"], "duplicate", "round {round}: {v}");
            assert_eq!(v["duplicate_reason"], "nik_conflict", "round {round}: {v}");
            assert_eq!(v["candidates"][0]["reference_id"], single, "round {round}");
        }
        acknowledged.extend(verdicts.iter().map(|v| v["reference_id"].clone()));
    }
    s.stop().await;
    kept_after_restart(dir.path(), &acknowledged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_id_sent_twice_at_once_gets_one_answer() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED + 8);
    let s = start(dir.path()).await;
    let sp1 = sp_key(&s, "sp-1").await;
    let url = s.url("/v1/enrolments");
    for id in 0..4u64 {
        let b = body(&pop, id, 0, None, &format!("same-{id}"), "sp-1");
        let (r1, r2) = tokio::join!(post(&url, &sp1, &b), post(&url, &sp1, &b));
        // A request still running answers its twin `request_in_progress`; otherwise both
        // get the one answer.
        let answered: Vec<Value> = [r1, r2]
            .into_iter()
            .filter(|r| r.status == StatusCode::OK)
            .map(|r| r.json())
            .collect();
        assert!(!answered.is_empty(), "person {id}: no answer");
        for v in &answered {
            assert_eq!(v["verdict"], "single", "person {id}: {v}");
            assert_eq!(
                v["reference_id"], answered[0]["reference_id"],
                "person {id}"
            );
        }
        // Once settled, a retry gets that same answer.
        let again = enrol(&s, &sp1, &b).await;
        assert_eq!(again["reference_id"], answered[0]["reference_id"]);
    }
    assert_eq!(s.engine().gallery().len(), 4);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reissue_racing_another_enrolment_of_the_person() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED + 9);
    let s = start(dir.path()).await;
    let sp1 = sp_key(&s, "sp-1").await;
    let sp2 = sp_key(&s, "sp-2").await;
    let url = s.url("/v1/enrolments");
    let mut acknowledged = Vec::new();
    for id in 0..4u64 {
        let first = enrol(
            &s,
            &sp1,
            &body(&pop, id, 0, None, &format!("f-{id}"), "sp-1"),
        )
        .await;
        assert_eq!(first["verdict"], "single", "{first}");
        let person = first["reference_id"].clone();
        // At once: the person re-applies under their own NIK, and again under an alias.
        let reissue = body(&pop, id, 1, None, &format!("r-{id}"), "sp-1");
        let alias = body(&pop, id, 2, Some(1), &format!("a-{id}"), "sp-2");
        let (r, a) = tokio::join!(post(&url, &sp1, &reissue), post(&url, &sp2, &alias));
        let (r, a) = (r.json(), a.json());
        assert_eq!(r["verdict"], "single", "{r}");
        assert_eq!(r["reissue"], true, "{r}");
        assert_eq!(r["reference_id"], person, "{r}");
        assert_eq!(a["verdict"], "duplicate", "{a}");
        assert_eq!(a["candidates"][0]["reference_id"], person, "{a}");
        acknowledged.extend([person, a["reference_id"].clone()]);
    }
    // Nobody new entered the gallery: one member per person.
    assert_eq!(s.engine().gallery().len(), 4);
    s.stop().await;
    kept_after_restart(dir.path(), &acknowledged).await;
}

/// Every acknowledged reference id is still known after the engine is opened again.
async fn kept_after_restart(dir: &std::path::Path, refs: &[Value]) {
    let s = start(dir).await;
    let analyst = key(&s, json!({"role": "analyst", "name": "Analis"})).await;
    for r in refs {
        let r = r.as_str().unwrap();
        let p = get(&s.url(&format!("/v1/persons/{r}")), &analyst).await;
        assert_eq!(p.status, StatusCode::OK, "{r}: {}", p.json());
    }
    s.stop().await;
}
