//! What each role may do, and the life of API keys.

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_bound_what_each_key_may_do() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), MemoryEngine::new()).await;
    let sp = service_point_key(&s).await;
    let other_sp = create_key(
        &s,
        json!({"role": "service-point", "name": "Loket 9", "district": "317102", "service_point": "sp-9"}),
    )
    .await;
    let analyst = create_key(&s, json!({"role": "analyst", "name": "Ana"})).await;
    let enrol_url = s.url("/v1/enrolments");

    let r = post(&enrol_url, None, &enrolment("a-1", 1)).await;
    assert_eq!(
        (r.status, r.reason().as_str()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let r = post(&enrol_url, Some("tgl_unknown_key"), &enrolment("a-1", 1)).await;
    assert_eq!(r.reason(), "unauthorized");
    // A service point may not enrol for another service point, nor identify, nor manage keys.
    let r = post(&enrol_url, Some(&other_sp), &enrolment("a-1", 1)).await;
    assert_eq!(
        (r.status, r.reason().as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let ident =
        json!({"request_id": "i-1", "fingerprints": [enrolment("x", 1)["fingerprints"][0]]});
    let r = post(&s.url("/v1/identify"), Some(&sp), &ident).await;
    assert_eq!(r.reason(), "forbidden");
    let r = post(
        &s.url("/v1/admin/keys"),
        Some(&sp),
        &json!({"role": "admin", "name": "me"}),
    )
    .await;
    assert_eq!(r.reason(), "forbidden");
    // An analyst may not enrol or create keys, but may identify.
    let r = post(&enrol_url, Some(&analyst), &enrolment("a-2", 1)).await;
    assert_eq!(r.reason(), "forbidden");
    let r = post(
        &s.url("/v1/admin/keys"),
        Some(&analyst),
        &json!({"role": "admin", "name": "me"}),
    )
    .await;
    assert_eq!(r.reason(), "forbidden");
    // The owner enrols; only it (and analysts naming the service point) may read the answer.
    let r = post(&enrol_url, Some(&sp), &enrolment("a-3", 1)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["verdict"], "single");
    let r = get(&s.url("/v1/enrolments/a-3"), Some(&sp)).await;
    assert_eq!(r.json()["verdict"], "single");
    let r = get(&s.url("/v1/enrolments/a-3"), Some(&other_sp)).await;
    assert_eq!(r.reason(), "not_found");
    let r = get(
        &s.url("/v1/enrolments/a-3?district=317101&service_point=sp-1"),
        Some(&other_sp),
    )
    .await;
    assert_eq!(r.reason(), "forbidden");
    let r = get(
        &s.url("/v1/enrolments/a-3?district=317101&service_point=sp-1"),
        Some(&analyst),
    )
    .await;
    assert_eq!(r.json()["verdict"], "single");
    let r = post(&s.url("/v1/identify"), Some(&analyst), &ident).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(
        Method::DELETE,
        &s.url("/v1/persons/P0000000001"),
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(r.reason(), "forbidden");
    // Every 403 is audited with the caller's key and the route, never the raw path.
    let forbidden: Vec<(String, String)> = AuditLog::read_all(dir.path())
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "forbidden" && e.status == 403)
        .map(|e| (e.role, e.subject))
        .collect();
    let expected = [
        ("service-point", "POST /v1/enrolments"),
        ("service-point", "POST /v1/identify"),
        ("service-point", "POST /v1/admin/keys"),
        ("analyst", "POST /v1/enrolments"),
        ("analyst", "POST /v1/admin/keys"),
        ("service-point", "GET /v1/enrolments/{request_id}"),
        ("analyst", "DELETE /v1/persons/{reference_id}"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(r, s)| ((*r).to_owned(), (*s).to_owned()))
        .collect();
    assert_eq!(forbidden, expected);
    s.stop().await;
}

/// Key governance: creation with an owner and expiry, listing, revocation and rotation
/// through the admin API and by a second store (the CLI), each refused from the next
/// request on, and every change in the audit log and the key trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_issued_to_owners_listed_revoked_rotated_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), MemoryEngine::new()).await;
    let probe = |key: String| {
        let url = s.url("/v1/persons/P0000000001");
        async move { get(&url, Some(&key)).await }
    };
    let created = post(
        &s.url("/v1/admin/keys"),
        Some(ADMIN_KEY),
        &json!({"role": "analyst", "name": "Ana", "owner": "NIP-198001"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let ana = created.json()["key"].as_str().unwrap().to_owned();
    let ana_id = created.json()["key_id"].as_str().unwrap().to_owned();
    assert_ne!(probe(ana.clone()).await.status, StatusCode::UNAUTHORIZED);

    // Listed with its owner, never with its hash; only admins list.
    let list = get(&s.url("/v1/admin/keys"), Some(ADMIN_KEY)).await;
    assert_eq!(list.status, StatusCode::OK);
    let listed = list.json();
    let entry = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == ana_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["owner"], "NIP-198001");
    assert_eq!(entry["role"], "analyst");
    assert!(!list.body.windows(6).any(|w| w == b"sha256"));
    assert_eq!(
        get(&s.url("/v1/admin/keys"), Some(&ana)).await.status,
        StatusCode::FORBIDDEN
    );

    // Rotation: a new secret for the same owner and role; the old key is refused at once.
    let rotated = post(
        &s.url(&format!("/v1/admin/keys/{ana_id}/rotate")),
        Some(ADMIN_KEY),
        &json!({}),
    )
    .await;
    assert_eq!(rotated.status, StatusCode::CREATED);
    let ana2 = rotated.json()["key"].as_str().unwrap().to_owned();
    let ana2_id = rotated.json()["key_id"].as_str().unwrap().to_owned();
    let old = probe(ana.clone()).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    assert_eq!(old.json()["reason"], "key_revoked");
    assert_ne!(probe(ana2.clone()).await.status, StatusCode::UNAUTHORIZED);
    let listed = get(&s.url("/v1/admin/keys"), Some(ADMIN_KEY)).await.json();
    let new_entry = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == ana2_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (new_entry["owner"].clone(), new_entry["role"].clone()),
        (json!("NIP-198001"), json!("analyst"))
    );

    // Revocation through the admin API: refused from the next request on.
    let r = post(
        &s.url(&format!("/v1/admin/keys/{ana2_id}/revoke")),
        Some(ADMIN_KEY),
        &json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(probe(ana2.clone()).await.json()["reason"], "key_revoked");
    let again = post(
        &s.url(&format!("/v1/admin/keys/{ana2_id}/revoke")),
        Some(ADMIN_KEY),
        &json!({}),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    // Revocation by another process (the CLI's store) while the server runs.
    let budi = create_key(&s, json!({"role": "analyst", "name": "Budi"})).await;
    assert_ne!(probe(budi.clone()).await.status, StatusCode::UNAUTHORIZED);
    let budi_id = budi.split('_').nth(1).unwrap().to_owned();
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        tunggal::access::keys::KeyStore::open(&d)
            .unwrap()
            .revoke(&budi_id, "cli")
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(probe(budi).await.json()["reason"], "key_revoked");

    // Expiry.
    let soon = tunggal::access::keys::now_secs() + 2;
    let short = create_key(
        &s,
        json!({"role": "analyst", "name": "Temp", "expires_at": soon}),
    )
    .await;
    assert_ne!(probe(short.clone()).await.status, StatusCode::UNAUTHORIZED);
    while tunggal::access::keys::now_secs() <= soon {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let expired = probe(short).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.json()["reason"], "key_expired");
    let past = post(
        &s.url("/v1/admin/keys"),
        Some(ADMIN_KEY),
        &json!({"role": "analyst", "name": "Late", "expires_at": 1}),
    )
    .await;
    assert_eq!(past.json()["reason"], "invalid_key_request");

    // Every change is in the key trail and the audit log.
    let events = get(&s.url("/v1/admin/keys/events"), Some(ADMIN_KEY))
        .await
        .json();
    let actions: Vec<(String, String)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["key_id"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        (ana_id.clone(), "created"),
        (ana_id.clone(), "rotated"),
        (ana2_id.clone(), "created"),
        (ana2_id.clone(), "revoked"),
    ] {
        assert!(
            actions.contains(&(expected.0.clone(), expected.1.to_owned())),
            "{expected:?} missing from {actions:?}"
        );
    }
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    for action in ["create_key", "rotate_key", "revoke_key"] {
        assert!(audit.contains(action), "{action} not audited");
    }
    assert!(audit.contains("owner:NIP-198001"));
    s.stop().await;
}
