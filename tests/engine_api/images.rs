//! Fingerprints submitted as images: enrolment and identification of FVC2002 fingers (skipped
//! with a message when the shared data set is absent), a record mixing templates and images,
//! and every image fault answered as a problem.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::harness::*;

/// An uncompressed 8-bit grey little-endian TIFF.
pub(crate) fn tiff_grey8(width: u32, height: u32, pixels: &[u8]) -> Vec<u8> {
    let tags: [(u16, u16, u32); 9] = [
        (256, 4, width),
        (257, 4, height),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 8 + 2 + 9 * 12 + 4),
        (277, 3, 1),
        (278, 4, height),
        (279, 4, width * height),
    ];
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&(tags.len() as u16).to_le_bytes());
    for (tag, kind, value) in tags {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(pixels);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_fingers_enrol_identify_verify_and_mix_with_templates() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let s = start_limited(dir.path(), loopback_callbacks(), 4 * 1024 * 1024).await;
    let sp = sp_key(&s, "sp-img").await;
    let analyst = key(&s, json!({"role": "analyst", "name": "Analis"})).await;

    // A synthetic person whose position-2 finger is an image (the generated fixtures) and
    // the rest templates.
    let mut mixed_ref = None;
    if let Some(fx) = image_fixtures() {
        let mut mixed = body(&pop, 5, 0, None, "mix-1", "sp-img");
        mixed["fingerprints"][1] = image_finger(2, "wsq", &fx.read("ridges_256x320.wsq"), None);
        let v = enrol(&s, &sp, &mixed).await;
        assert_eq!(v["verdict"], "single", "{v}");
        let reference = v["reference_id"].as_str().unwrap().to_owned();
        // Another capture of the same person, still mixed, identifies them.
        let mut probe = body(&pop, 5, 1, None, "mix-2", "sp-img");
        probe["fingerprints"][1] = image_finger(2, "png", &fx.read("ridges_256x320.png"), None);
        let r = post(
            &s.url("/v1/identify"),
            &analyst,
            &json!({"request_id": "id-mix", "fingerprints": probe["fingerprints"]}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json());
        let a = r.json();
        assert_eq!(
            a["candidates"][0]["reference_id"],
            reference.as_str(),
            "{a}"
        );
        let q = a["fingerprint_quality"].as_array().unwrap();
        assert_eq!(q.len(), 1, "{a}");
        assert_eq!(q[0]["position"], 2);
        assert!(q[0]["quality"].as_u64().unwrap() <= 100);
        mixed_ref = Some(reference);
    }

    let Some(root) = fvc_root() else {
        s.stop().await;
        return;
    };
    // Ten image fingers: FVC2002 DB1_B fingers 101–110, impression 1.
    let v = enrol(
        &s,
        &sp,
        &image_enrolment("fvc-1", "3171010101900001", fvc_fingers(&root, 1).0),
    )
    .await;
    assert_eq!(v["verdict"], "single", "{v}");
    let fvc_ref = v["reference_id"].as_str().unwrap().to_owned();
    // The extracted quality is stored with the person's templates.
    // Impression 2 of the same ten fingers finds them.
    let r = post(
        &s.url("/v1/identify"),
        &analyst,
        &json!({"request_id": "id-fvc", "fingerprints": fvc_fingers(&root, 2).0}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let a = r.json();
    assert_eq!(a["candidates"][0]["reference_id"], fvc_ref.as_str(), "{a}");
    let q = a["fingerprint_quality"].as_array().unwrap();
    assert_eq!(q.len(), 10, "{a}");
    for (i, f) in q.iter().enumerate() {
        assert_eq!(f["position"], i + 1);
        assert!(f["quality"].as_u64().unwrap() <= 100, "{f}");
    }
    // Impression 3 verifies against the person, and not against the mixed one.
    let verify = |rid: &str, reference: &str| json!({"request_id": rid, "reference_id": reference, "fingerprints": fvc_fingers(&root, 3).0});
    let r = post(&s.url("/v1/verify"), &analyst, &verify("v-1", &fvc_ref)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    assert_eq!(r.json()["matched"], true, "{}", r.json());
    if let Some(mixed_ref) = mixed_ref {
        let r = post(&s.url("/v1/verify"), &analyst, &verify("v-2", &mixed_ref)).await;
        assert_eq!(r.json()["matched"], false, "{}", r.json());
    }
    s.stop().await;
}

async fn identify_reason(s: &Running, key: &str, rid: &str, finger: Value) -> Value {
    let r = post(
        &s.url("/v1/identify"),
        key,
        &json!({"request_id": rid, "fingerprints": [finger]}),
    )
    .await;
    assert_eq!(
        r.headers["content-type"], "application/problem+json",
        "{rid}"
    );
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{rid}: {}",
        r.json()
    );
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_faults_are_problems_with_reasons_and_pointers() {
    let Some(fx) = image_fixtures() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let analyst = key(&s, json!({"role": "analyst", "name": "Analis"})).await;
    let sp = sp_key(&s, "sp-img").await;
    let wsq = fx.read("ridges_256x320.wsq");
    let png = fx.read("ridges_256x320.png");

    let mut huge = fx.read("ridges_97x131_hq.wsq");
    let sof = huge.windows(2).position(|w| w == [0xff, 0xa2]).unwrap();
    huge[sof + 6..sof + 8].copy_from_slice(&60_000u16.to_be_bytes());
    huge[sof + 8..sof + 10].copy_from_slice(&60_000u16.to_be_bytes());
    let started = Instant::now();
    let p = identify_reason(&s, &analyst, "e-huge", image_finger(1, "wsq", &huge, None)).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(p["reason"], "image_too_large", "{p}");
    assert_eq!(p["pointer"], "/fingerprints/0/image/data");

    let mut corrupt = png.clone();
    let idat = corrupt.windows(4).position(|w| w == b"IDAT").unwrap();
    for b in &mut corrupt[idat + 8..idat + 200] {
        *b ^= 0x5a;
    }
    let mut empty = fx.read("ridges_97x131_hq.wsq");
    empty[sof + 8..sof + 10].copy_from_slice(&0u16.to_be_bytes());
    let blank = tiff_grey8(300, 400, &vec![255u8; 300 * 400]);
    let cases: Vec<(&str, Value)> = vec![
        (
            "image_truncated",
            image_finger(1, "wsq", &wsq[..wsq.len() / 2], None),
        ),
        ("image_corrupt", image_finger(1, "png", &corrupt, None)),
        (
            "image_unsupported_format",
            image_finger(1, "gif", &png, None),
        ),
        ("image_corrupt", image_finger(1, "png", &wsq, None)),
        (
            "image_resolution_out_of_range",
            image_finger(1, "png", &png, Some(100.0)),
        ),
        ("image_empty", image_finger(1, "wsq", &empty, None)),
        ("finger_unusable", image_finger(1, "tiff", &blank, None)),
        (
            "invalid_fingerprint_form",
            json!({"position": 1, "format": "iso19794-2", "quality": 50, "template": "AAAA",
                   "image": {"format": "png", "data": ""}}),
        ),
        (
            "bad_base64",
            json!({"position": 1, "image": {"format": "png", "data": "!!"}}),
        ),
    ];
    for (n, (reason, finger)) in cases.into_iter().enumerate() {
        let p = identify_reason(&s, &analyst, &format!("e-{n}"), finger).await;
        assert_eq!(p["reason"], reason, "case {n}: {p}");
        assert!(
            p["pointer"]
                .as_str()
                .unwrap()
                .starts_with("/fingerprints/0"),
            "{p}"
        );
    }
    // An unknown member of the image object is refused by name.
    let r = post(
        &s.url("/v1/identify"),
        &analyst,
        &json!({"request_id": "e-unknown", "fingerprints": [
            {"position": 1, "image": {"format": "png", "data": B64.encode(&png), "dpi": 500}}
        ]}),
    )
    .await;
    assert_eq!(r.json()["reason"], "unknown_field", "{}", r.json());

    // An enrolment whose every finger is unusable is rejected, as unusable templates are.
    let fingers: Vec<Value> = (1..=4u8)
        .map(|pos| image_finger(pos, "tiff", &blank, None))
        .collect();
    let v = enrol(
        &s,
        &sp,
        &image_enrolment("blank-1", "3171010101900002", fingers),
    )
    .await;
    assert_eq!(v["verdict"], "rejected", "{v}");
    assert_eq!(v["reason"], "unusable_templates", "{v}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_enrolment_status_carries_the_fingerprint_quality() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let s = start_limited(dir.path(), loopback_callbacks(), 4 * 1024 * 1024).await;
    let sp = sp_key(&s, "sp-img").await;
    let analyst = key(&s, json!({"role": "analyst", "name": "Analis"})).await;
    // Templates and one blank TIFF finger: measured, unusable, left out of matching.
    let blank = tiff_grey8(300, 400, &vec![255u8; 300 * 400]);
    let mut with_image = body(&pop, 9, 0, None, "q-1", "sp-img");
    with_image["fingerprints"][3] = image_finger(4, "tiff", &blank, None);
    let v = enrol(&s, &sp, &with_image).await;
    assert_eq!(v["verdict"], "single", "{v}");
    let quality = v["fingerprint_quality"].clone();
    assert_eq!(quality.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(quality[0]["position"], 4, "{v}");
    assert!(quality[0]["unusable"].is_string(), "{v}");
    // Templates only: no quality to report.
    let v = enrol(&s, &sp, &body(&pop, 10, 0, None, "q-2", "sp-img")).await;
    assert!(v.get("fingerprint_quality").is_none(), "{v}");

    // The status read answers the same quality, by the service point's key and by an
    // analyst's (looked up by request id alone).
    for reader in [&sp, &analyst] {
        let r = get(&s.url("/v1/enrolments/q-1"), reader).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let a = r.json();
        assert_eq!(a["verdict"], "single", "{a}");
        assert_eq!(a["fingerprint_quality"], quality, "{a}");
        let r = get(&s.url("/v1/enrolments/q-2"), reader).await;
        assert!(
            r.json().get("fingerprint_quality").is_none(),
            "{}",
            r.text()
        );
    }
    s.stop().await;
}
