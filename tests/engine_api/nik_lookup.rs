//! Looking enrolled persons up by NIK: analysts and admins only, every look-up audited.

use super::harness::*;
use tunggal::access::audit::AuditLog;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysts_look_persons_up_by_nik_and_every_look_up_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let s = start(dir.path()).await;
    let sp1 = sp_key(&s, "sp-1").await;
    let analyst = key(&s, json!({"role": "analyst", "name": "Analis NIK"})).await;
    let mut enrolled = Vec::new();
    for id in 0..3u64 {
        let b = body(&pop, id, 0, None, &format!("k-{id}"), "sp-1");
        let v = enrol(&s, &sp1, &b).await;
        assert_eq!(v["verdict"], "single", "{v}");
        enrolled.push((b["nik"].as_str().unwrap().to_owned(), v));
    }
    let lookup = |nik: &str, key: &str| {
        let url = s.url(&format!("/v1/persons?nik={nik}"));
        let key = key.to_owned();
        async move { get(&url, &key).await }
    };
    // Found: the person with its reference id, status and enrolment time.
    let (nik, v) = &enrolled[1];
    let r = lookup(nik, &analyst).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let found = r.json();
    assert_eq!(found["nik"], nik.as_str());
    let persons = found["persons"].as_array().unwrap();
    assert_eq!(persons.len(), 1, "{found}");
    assert_eq!(persons[0]["reference_id"], v["reference_id"]);
    assert_eq!(persons[0]["status"], "print_ready");
    assert!(persons[0]["enrolled_at"].as_str().unwrap().ends_with('Z'));
    // Admins too.
    assert_eq!(lookup(nik, ADMIN_KEY).await.status, StatusCode::OK);
    // A valid NIK nobody holds: 404 problem.
    let unknown = format!("{}9998", &nik[..12]);
    assert!(enrolled.iter().all(|(n, _)| *n != unknown));
    let r = lookup(&unknown, &analyst).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.headers["content-type"], "application/problem+json");
    assert_eq!(r.json()["reason"], "person_not_found");
    // Service points may not.
    let r = lookup(nik, &sp1).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["reason"], "forbidden");
    // Not a NIK: 422 with its reason; no NIK at all: 400.
    let r = lookup("12345", &analyst).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["reason"], "nik_malformed");
    let r = get(&s.url("/v1/persons"), &analyst).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["reason"], "invalid_query");
    // Every look-up that reached the handler is audited with the key and the NIK.
    let events = AuditLog::read_all(dir.path()).unwrap();
    let looked: Vec<_> = events.iter().filter(|e| e.action == "lookup_nik").collect();
    assert!(looked.iter().any(|e| e.key_name == "Analis NIK"
        && e.subject == format!("nik:{nik}")
        && e.status == 200));
    assert!(looked
        .iter()
        .any(|e| e.subject == format!("nik:{unknown}") && e.status == 404 && !e.key_id.is_empty()));
    assert!(looked
        .iter()
        .any(|e| e.subject == "nik:12345" && e.status == 422));
    s.stop().await;
}
