//! Malformed requests, oversized bodies and bad keys answered as precise problems.

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_inputs_are_problems_with_precise_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), MemoryEngine::new()).await;
    let key = service_point_key(&s).await;
    let truncated = shared_edge_case("openafis-101_1_truncate_3_bytes.iso").unwrap_or_else(|| {
        let t = iso_template(1, 7);
        t[..t.len() - 3].to_vec()
    });
    type Mutate = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutate, &str)> = vec![
        (
            "bad base64",
            Box::new(|b| b["fingerprints"][2]["template"] = json!("@@not base64@@")),
            "bad_base64",
        ),
        (
            "truncated ISO",
            Box::new(move |b| {
                b["fingerprints"][0]["template"] = json!(STANDARD.encode(&truncated))
            }),
            "template_truncated",
        ),
        (
            "not a minutiae record",
            Box::new(|b| {
                b["fingerprints"][0]["template"] = json!(STANDARD.encode(b"hello world, not FMR"))
            }),
            "template_unknown_record",
        ),
        (
            "wrong iris layout",
            Box::new(|b| b["irises"][0]["layout"] = json!("daugman-4096")),
            "unknown_iris_layout",
        ),
        (
            "iris all masked",
            Box::new(|b| b["irises"][1]["mask"] = json!(STANDARD.encode(vec![0u8; 256]))),
            "iris_unusable",
        ),
        (
            "iris short code",
            Box::new(|b| b["irises"][1]["code"] = json!(STANDARD.encode(vec![1u8; 100]))),
            "iris_wrong_length",
        ),
        (
            "NIK with bad date",
            Box::new(|b| b["nik"] = json!("3171017213900001")),
            "nik_invalid_date",
        ),
        (
            "NIK of the other sex",
            Box::new(|b| b["nik"] = json!("3171010508900001")),
            "nik_mismatch",
        ),
        (
            "NIK not digits",
            Box::new(|b| b["nik"] = json!("31710145089000x1")),
            "nik_malformed",
        ),
        (
            "unknown finger position",
            Box::new(|b| b["fingerprints"][3]["position"] = json!(11)),
            "unknown_finger_position",
        ),
        (
            "duplicate finger positions",
            Box::new(|b| b["fingerprints"][4]["position"] = json!(1)),
            "duplicate_finger_position",
        ),
        (
            "too few fingers",
            Box::new(|b| {
                b["fingerprints"].as_array_mut().unwrap().truncate(3);
            }),
            "too_few_fingers",
        ),
        (
            "WNA without documents",
            Box::new(|b| b["citizenship"] = json!("WNA")),
            "missing_wna_documents",
        ),
        (
            "unknown template format",
            Box::new(|b| b["fingerprints"][0]["format"] = json!("wsq")),
            "unknown_template_format",
        ),
        (
            "declared ANSI, sent ISO",
            Box::new(|b| b["fingerprints"][0]["format"] = json!("ansi378")),
            "template_format_mismatch",
        ),
        (
            "quality above 100",
            Box::new(|b| b["fingerprints"][0]["quality"] = json!(150)),
            "invalid_quality",
        ),
        (
            "bad request_id",
            Box::new(|b| b["request_id"] = json!("has spaces")),
            "invalid_request_id",
        ),
        (
            "plain http callback",
            Box::new(|b| b["callback_url"] = json!("http://example.org/cb")),
            "invalid_callback_url",
        ),
        (
            "unknown sex",
            Box::new(|b| b["sex"] = json!("x")),
            "invalid_sex",
        ),
        (
            "missing field",
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("nik");
            }),
            "malformed_json",
        ),
    ];
    assert!(cases.len() >= 10);
    for (what, mutate, reason) in &cases {
        let mut body = enrolment("bad-1", 1);
        mutate(&mut body);
        let r = post(&s.url("/v1/enrolments"), Some(&key), &body).await;
        assert_eq!(
            r.reason(),
            *reason,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // Where the fault is, and no NIK in the detail.
    let mut body = enrolment("bad-2", 1);
    body["fingerprints"][3]["position"] = json!(0);
    let p = post(&s.url("/v1/enrolments"), Some(&key), &body)
        .await
        .json();
    assert_eq!(p["pointer"], "/fingerprints/3/position");
    assert_eq!(p["status"], 422);
    let mut body = enrolment("bad-3", 1);
    body["nik"] = json!("3171017213900001");
    let p = post(&s.url("/v1/enrolments"), Some(&key), &body)
        .await
        .json();
    assert!(!p["detail"].as_str().unwrap().contains("3171017213900001"));
    // Not JSON at all, and not declared as JSON.
    let r = send(
        Method::POST,
        &s.url("/v1/enrolments"),
        Some(&key),
        Some(b"{nope".to_vec()),
    )
    .await;
    assert_eq!(r.reason(), "malformed_json");
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_is_413_problem() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), MemoryEngine::new()).await;
    let key = service_point_key(&s).await;
    let mut body = enrolment("big-1", 1);
    body["photo"] = json!(STANDARD.encode(vec![7u8; 300 * 1024]));
    let r = post(&s.url("/v1/enrolments"), Some(&key), &body).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.reason(), "body_too_large");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_key_requests_are_problems() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), MemoryEngine::new()).await;
    let url = s.url("/v1/admin/keys");
    let r = post(&url, Some(ADMIN_KEY), &json!({"role": "root", "name": "x"})).await;
    assert_eq!(r.reason(), "unknown_role");
    let r = post(
        &url,
        Some(ADMIN_KEY),
        &json!({"role": "service-point", "name": "x"}),
    )
    .await;
    assert_eq!(r.reason(), "invalid_key_request");
    s.stop().await;
}
