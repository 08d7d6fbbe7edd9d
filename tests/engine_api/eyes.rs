//! Irises submitted as eye images: real CASIA-IrisV1 eyes enrolled, found again by other
//! images of the same eyes and not by other eyes (skipped with a message when the shared
//! data set is absent); faulty eye images answered as problems; the case page draws both
//! persons' eye images and serves them to analysts only.

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use tunggal_index::image;

use super::harness::*;
use super::prints::served_png;

fn casia_root() -> Option<PathBuf> {
    let root =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/iris-images/casia-v1");
    if root.join("001/U/001_1_1.jpg").exists() {
        Some(root)
    } else {
        eprintln!(
            "skipping the CASIA-IrisV1 part: {} is absent",
            root.display()
        );
        None
    }
}

/// CASIA-IrisV1 image `n` of session `session` of eye class `class`, as JPEG bytes.
fn casia(root: &std::path::Path, class: u32, session: u32, n: u32) -> Vec<u8> {
    let path = root.join(format!("{class:03}/U/{class:03}_{session}_{n}.jpg"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn eye_image(eye: &str, format: &str, bytes: &[u8]) -> Value {
    json!({"eye": eye, "image": {"format": format, "data": B64.encode(bytes)}})
}

/// A uniform grey PNG: no pupil, no iris.
fn flat_png(w: u32, h: u32) -> Vec<u8> {
    let img = image::FingerImage::new(w, h, None, vec![128; (w * h) as usize]).unwrap();
    image::encode_png(&img).unwrap()
}

/// A 24-bit BMP header claiming `w × h` pixels, with no pixel data.
fn bmp_header(w: i32, h: i32) -> Vec<u8> {
    let mut b = b"BM".to_vec();
    b.extend_from_slice(&54u32.to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&54u32.to_le_bytes());
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(&w.to_le_bytes());
    b.extend_from_slice(&h.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&[0; 24]);
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_eye_images_enrol_and_find_the_same_eyes_only() {
    let Some(root) = casia_root() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let s = start(dir.path()).await;
    let sp = sp_key(&s, "sp-eye").await;
    let analyst = key(&s, json!({"role": "analyst", "name": "Analis"})).await;

    // Person A: synthetic fingers, CASIA eyes 001 (as right) and 002 (as left), session 1.
    let mut a = body(&pop, 5, 0, None, "eye-a", "sp-eye");
    a["irises"] = json!([
        eye_image("right", "jpeg", &casia(&root, 1, 1, 1)),
        eye_image("left", "jpeg", &casia(&root, 2, 1, 1)),
    ]);
    let before = s.engine().image_store_bytes().unwrap();
    let v = enrol(&s, &sp, &a).await;
    assert_eq!(v["verdict"], "single", "{v}");
    let enrolled = v["reference_id"].as_str().unwrap().to_owned();
    let q = v["iris_quality"].as_array().unwrap();
    assert_eq!(q.len(), 2, "{v}");
    assert_eq!(
        (q[0]["eye"].as_str(), q[1]["eye"].as_str()),
        (Some("right"), Some("left"))
    );
    for e in q {
        assert!(e.get("unusable").is_none(), "a CASIA eye failed: {v}");
        assert!(e["quality"].as_u64().unwrap() <= 100);
        let m = &e["measures"];
        assert!(m["usable_share"].as_f64().unwrap() > 0.0, "{e}");
        assert!(m["dilation"].as_f64().unwrap() > 0.1, "{e}");
    }
    eprintln!("CASIA 001_1_1 / 002_1_1 quality: {}", v["iris_quality"]);
    // Both JPEGs are kept as received (16 header bytes each).
    let kept = s.engine().image_store_bytes().unwrap() - before;
    let input = casia(&root, 1, 1, 1).len() + casia(&root, 2, 1, 1).len();
    assert_eq!(kept, input as u64 + 2 * 16);
    // A retry answers the same quality.
    let again = enrol(&s, &sp, &a).await;
    assert_eq!(again["iris_quality"], v["iris_quality"]);

    // Another person's fingers with images of the same two eyes from the second session
    // (`001_2_1` once segmented with its limbus on the pupil boundary, quality 8): a
    // biometric duplicate of A found by the irises alone.
    let mut b = body(&pop, 6, 0, None, "eye-b", "sp-eye");
    b["irises"] = json!([
        eye_image("right", "jpeg", &casia(&root, 1, 2, 1)),
        eye_image("left", "jpeg", &casia(&root, 2, 2, 1)),
    ]);
    let dup = enrol(&s, &sp, &b).await;
    assert_eq!(dup["verdict"], "duplicate", "{dup}");
    assert_eq!(dup["candidates"][0]["reference_id"], enrolled.as_str());
    let scores = dup["candidates"][0]["iris_scores"].as_array().unwrap();
    eprintln!("same eyes, session 1 against session 2: iris scores {scores:?}");
    assert_eq!(scores.len(), 2, "{dup}");
    assert!(
        scores.iter().all(|e| e["distance"].as_f64().unwrap() < 0.3),
        "{dup}"
    );
    for q in dup["iris_quality"].as_array().into_iter().flatten() {
        assert!(q["quality"].as_u64().unwrap() >= 50, "{dup}");
    }
    let case_id = dup["case_id"].as_str().unwrap().to_owned();
    let applicant = dup["reference_id"].as_str().unwrap().to_owned();

    // Other eyes (003, 004) with other fingers: single, no candidate.
    let mut c = body(&pop, 7, 0, None, "eye-c", "sp-eye");
    c["irises"] = json!([
        eye_image("right", "jpeg", &casia(&root, 3, 1, 1)),
        eye_image("left", "jpeg", &casia(&root, 4, 1, 1)),
    ]);
    let single = enrol(&s, &sp, &c).await;
    assert_eq!(single["verdict"], "single", "{single}");

    // Identify by eye images alone: searched without fingers, A at rank 1, with the
    // distances of both eyes.
    let r = post(
        &s.url("/v1/identify"),
        &analyst,
        &json!({"request_id": "id-eye-1", "irises": [
            eye_image("right", "jpeg", &casia(&root, 1, 1, 2)),
            eye_image("left", "jpeg", &casia(&root, 2, 1, 2)),
        ]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let found = r.json();
    eprintln!("identify by A's eyes (images 2): {found}");
    assert_eq!(
        found["iris_quality"].as_array().unwrap().len(),
        2,
        "{found}"
    );
    let candidates = found["candidates"].as_array().unwrap();
    assert!(!candidates.is_empty(), "no candidate: {found}");
    assert_eq!(candidates[0]["reference_id"], enrolled.as_str(), "{found}");
    let eyes = candidates[0]["iris_scores"].as_array().unwrap();
    assert_eq!(eyes.len(), 2, "{found}");
    assert!(
        eyes.iter().all(|e| e["distance"].as_f64().unwrap() < 0.35),
        "{found}"
    );
    // Other eyes alone: searched, no candidate.
    let r = post(
        &s.url("/v1/identify"),
        &analyst,
        &json!({"request_id": "id-eye-2", "irises": [
            eye_image("right", "jpeg", &casia(&root, 5, 1, 1)),
            eye_image("left", "jpeg", &casia(&root, 6, 1, 1)),
        ]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    assert_eq!(r.json()["candidates"], json!([]), "{}", r.json());
    let r = post(
        &s.url("/v1/verify"),
        &analyst,
        &json!({"request_id": "ver-eye", "reference_id": enrolled,
                "irises": [eye_image("left", "jpeg", &casia(&root, 2, 1, 2))]}),
    )
    .await;
    let ver = r.json();
    eprintln!("verify A by its left eye (image 2): {ver}");
    assert_eq!(ver["iris_scores"][0]["eye"], "left", "{ver}");
    assert!(
        ver["iris_scores"][0]["distance"].as_f64().unwrap() < 0.35,
        "{ver}"
    );
    assert_eq!(ver["iris_quality"][0]["eye"], "left");

    // The case page: both persons' eye images with their segmentation, beside the codes.
    let route = |who: &str, eye: &str| s.url(&format!("/review/cases/{case_id}/eyes/{who}/{eye}"));
    let r = page(&route(&applicant, "right"), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["content-type"], "application/problem+json");
    let r = send(
        Method::GET,
        &route(&applicant, "right"),
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "a bearer key is no session"
    );
    let session = review_login(&s, &analyst)
        .await
        .unwrap_or_else(|r| panic!("log-in refused: {} {}", r.status, r.body));
    let png = served_png(&page(&route(&applicant, "right"), Some(&session)).await);
    let original = image::decode(&casia(&root, 1, 2, 1), None).unwrap();
    assert_eq!(
        (png.width(), png.height()),
        (original.width(), original.height())
    );
    assert_eq!(
        png.pixels(),
        original.pixels(),
        "the JPEG's pixels, losslessly as PNG"
    );
    served_png(&page(&route(&enrolled, "left"), Some(&session)).await);
    // Not an eye, a person outside the case, a person of the case without eye images.
    let outsider = single["reference_id"].as_str().unwrap();
    for url in [
        route(&applicant, "middle"),
        route(outsider, "right"),
        route("P0000000099", "right"),
    ] {
        let r = page(&url, Some(&session)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{url}");
    }
    let case_page = page(&s.url(&format!("/review/cases/{case_id}")), Some(&session)).await;
    assert_eq!(case_page.status, StatusCode::OK);
    let html = case_page.text();
    for (who, eye) in [
        (&applicant, "right"),
        (&enrolled, "right"),
        (&applicant, "left"),
    ] {
        assert!(html.contains(&format!("eyes/{who}/{eye}")), "{who} {eye}");
    }
    assert!(html.matches("class=\"limbus\"").count() >= 4, "{html}");
    assert!(html.matches("class=\"pupil\"").count() >= 4);
    assert!(html.contains("class=\"eye-mask\""));
    assert!(html.contains("Right eye images") && html.contains("Left eye images"));
    // The reads are audited.
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(audit.contains("view_eye_image"));
    assert!(audit.contains(&format!("person:{applicant} eye:right")));

    // A deleted person's eye images are no longer served.
    let r = send(
        Method::DELETE,
        &s.url(&format!("/v1/persons/{enrolled}")),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(r.json()["deleted"], true, "{}", r.text());
    let r = page(&route(&enrolled, "left"), Some(&session)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty_eye_images_are_problems_and_failed_eyes_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let s = start(dir.path()).await;
    let sp = sp_key(&s, "sp-eye").await;
    let analyst = key(&s, json!({"role": "analyst", "name": "Analis"})).await;
    let identify = |iris: Value| json!({"request_id": "bad-eye", "irises": [iris]});
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            eye_image("right", "png", b"\x89PNG\r\n\x1a\n not a png"),
            "image_corrupt",
            "/irises/0/image/data",
        ),
        (
            eye_image("right", "bmp", &bmp_header(60_000, 60_000)),
            "image_too_large",
            "/irises/0/image/data",
        ),
        (
            eye_image("right", "wsq", b"\xff\xa0\xff\xa8"),
            "image_unsupported_format",
            "/irises/0/image/format",
        ),
        (
            eye_image("right", "png", &flat_png(60, 60)),
            "iris_image_size",
            "/irises/0/image/data",
        ),
        (
            json!({"eye": "right", "layout": "daugman-2048", "code": "AA==", "mask": "AA==",
                   "image": {"format": "png", "data": B64.encode(flat_png(200, 200))}}),
            "invalid_iris_form",
            "/irises/0",
        ),
        (
            json!({"eye": "right", "layout": "daugman-2048"}),
            "invalid_iris_form",
            "/irises/0",
        ),
        // Nothing else to compare: the encoder's own reason.
        (
            eye_image("left", "png", &flat_png(200, 200)),
            "iris_pupil_not_found",
            "/irises/0/image",
        ),
    ];
    for (iris, reason, pointer) in cases {
        let r = post(&s.url("/v1/identify"), &analyst, &identify(iris)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{reason}");
        assert_eq!(r.headers["content-type"], "application/problem+json");
        let p = r.json();
        assert_eq!(p["reason"], reason, "{p}");
        assert_eq!(p["pointer"], pointer, "{p}");
    }
    // In an enrolment with fingerprints, a failed eye is left out and reported.
    let mut e = body(&pop, 9, 0, None, "eye-fail", "sp-eye");
    e["irises"] = json!([eye_image("left", "png", &flat_png(200, 200))]);
    let v = enrol(&s, &sp, &e).await;
    assert_eq!(v["verdict"], "single", "{v}");
    assert_eq!(
        v["iris_quality"],
        json!([{"eye": "left", "quality": 0, "unusable": "iris_pupil_not_found"}]),
        "{v}"
    );
    // Two irises for one eye, one an image and one a code.
    let mut d = body(&pop, 10, 0, None, "eye-dup", "sp-eye");
    let code = d["irises"][0].clone();
    let eye = code["eye"].as_str().unwrap().to_owned();
    d["irises"] = json!([code, eye_image(&eye, "png", &flat_png(200, 200))]);
    let r = post(&s.url("/v1/enrolments"), &sp, &d).await;
    assert_eq!(r.json()["reason"], "duplicate_iris_eye", "{}", r.text());
    s.stop().await;
}
