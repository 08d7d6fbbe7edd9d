//! Identical captures in the verdict: the same templates submitted again are flagged on the
//! candidate of the enrolment and identify answers and on the case; a new capture of the
//! same person is not.

use super::harness::*;

/// Flagged finger positions and eyes, each with its `exact` flag.
type Flags = (Vec<(u64, bool)>, Vec<(String, bool)>);

/// The positions and eyes of a candidate's `identical_capture`, with their `exact` flags.
fn flagged(candidate: &Value) -> Flags {
    let ic = &candidate["identical_capture"];
    let fingers = ic["fingers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["position"].as_u64().unwrap(),
                f["exact"].as_bool().unwrap(),
            )
        })
        .collect();
    let eyes = ic["eyes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["eye"].as_str().unwrap().to_owned(),
                e["exact"].as_bool().unwrap(),
            )
        })
        .collect();
    (fingers, eyes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubmitted_templates_are_flagged_on_the_candidate_and_new_captures_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let s = start(dir.path()).await;
    let sp = sp_key(&s, "sp-1").await;
    let analyst = key(&s, json!({"role": "analyst", "name": "Analis"})).await;
    let mut refs = Vec::new();
    for id in 0..4u64 {
        let v = enrol(
            &s,
            &sp,
            &body(&pop, id, 0, None, &format!("g-{id}"), "sp-1"),
        )
        .await;
        assert_eq!(v["verdict"], "single", "{v}");
        refs.push(v["reference_id"].as_str().unwrap().to_owned());
    }

    // A new capture of person 1 under an alias: a duplicate, but nothing is the same capture.
    let genuine = enrol(&s, &sp, &body(&pop, 1, 1, Some(1), "new-1", "sp-1")).await;
    assert_eq!(genuine["verdict"], "duplicate", "{genuine}");
    let c = &genuine["candidates"][0];
    assert_eq!(c["reference_id"], refs[1].as_str());
    assert!(c.get("identical_capture").is_none(), "{c}");

    // Person 2's enrolled templates under an alias's demographics: every finger and eye is
    // the same capture, with equal templates.
    let mut replay_body = body(&pop, 2, 0, Some(1), "replay-2", "sp-1");
    let original = body(&pop, 2, 0, None, "x", "sp-1");
    replay_body["fingerprints"] = original["fingerprints"].clone();
    replay_body["irises"] = original["irises"].clone();
    let replay = enrol(&s, &sp, &replay_body).await;
    assert_eq!(replay["verdict"], "duplicate", "{replay}");
    let c = &replay["candidates"][0];
    assert_eq!(c["reference_id"], refs[2].as_str());
    let (fingers, eyes) = flagged(c);
    let submitted: Vec<u64> = original["fingerprints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["position"].as_u64().unwrap())
        .collect();
    assert!(!submitted.is_empty());
    let mut expected: Vec<(u64, bool)> = submitted.iter().map(|&p| (p, true)).collect();
    expected.sort_unstable();
    assert_eq!(fingers, expected, "{c}");
    assert_eq!(
        eyes.len(),
        original["irises"].as_array().unwrap().len(),
        "{c}"
    );
    assert!(eyes.iter().all(|(_, exact)| *exact), "{c}");

    // The case carries the same flags (the case page reads them from there).
    let case_id = replay["case_id"].as_str().unwrap();
    let case = s.engine().cases().get(case_id).unwrap();
    let on_case = case.new.candidates[0].identical;
    assert_eq!(on_case.fingers.iter().flatten().count(), submitted.len());
    assert!(on_case.any_exact());
    // The genuine new capture's case has none.
    let case = s
        .engine()
        .cases()
        .get(genuine["case_id"].as_str().unwrap())
        .unwrap();
    assert!(case.new.candidates[0].identical.is_empty());

    // A 1:N identification with person 3's enrolled templates flags them too; with a new
    // capture of person 3 it does not.
    let ident = |rid: &str, b: &Value| {
        json!({
            "request_id": rid,
            "fingerprints": b["fingerprints"].clone(),
            "irises": b["irises"].clone(),
        })
    };
    let same = body(&pop, 3, 0, None, "x", "sp-1");
    let r = post(&s.url("/v1/identify"), &analyst, &ident("i-same", &same)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let c = &r.json()["candidates"][0];
    assert_eq!(c["reference_id"], refs[3].as_str());
    assert!(flagged(c).0.iter().all(|(_, exact)| *exact), "{c}");
    let new = body(&pop, 3, 2, None, "x", "sp-1");
    let r = post(&s.url("/v1/identify"), &analyst, &ident("i-new", &new)).await;
    let c = &r.json()["candidates"][0];
    assert_eq!(c["reference_id"], refs[3].as_str());
    assert!(c.get("identical_capture").is_none(), "{c}");
    s.stop().await;
}
