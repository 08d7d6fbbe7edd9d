//! Fingerprint images for analysts: the enrolment answer carries the measured quality, the
//! images are kept in the image store, and the case page draws them under the minutiae,
//! served as PNG by an analysts-only route. FVC2002 images are used when the shared data set
//! is present (skipped with a message otherwise).

use std::path::PathBuf;

use tunggal::engine::images::IMAGES_DIR;
use tunggal_index::image::{self, ImageFormat};

use super::harness::*;

/// The PNG an image route served, decoded.
pub(super) fn served_png(r: &Reply) -> image::FingerImage {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers["content-type"], "image/png");
    let cache = r.headers["cache-control"].to_str().unwrap();
    // The review pages' headers layer makes every answer `no-store`; never shared caching.
    assert!(
        cache.contains("no-store") || cache.starts_with("private"),
        "{cache}"
    );
    assert!(r.body.starts_with(b"\x89PNG\r\n\x1a\n"));
    image::decode(&r.body, Some(ImageFormat::Png)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_fingers_are_kept_and_served_to_analysts_only() {
    let Some(fx) = image_fixtures() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let s = start_limited(dir.path(), loopback_callbacks(), 4 * 1024 * 1024).await;
    let sp = sp_key(&s, "sp-img").await;
    let analyst = key(&s, json!({"role": "analyst", "name": "Analis"})).await;

    // Templates and two image fingers: WSQ (kept as received) and TIFF (kept as PNG).
    let png = fx.read("ridges_256x320.png");
    let decoded = image::decode(&png, None).unwrap();
    let tiff = {
        let mut out = Vec::new();
        let mut enc = tiff::encoder::TiffEncoder::new(std::io::Cursor::new(&mut out)).unwrap();
        enc.write_image::<tiff::encoder::colortype::Gray8>(256, 320, decoded.pixels())
            .unwrap();
        out
    };
    let wsq = fx.read("ridges_256x320.wsq");
    let mut first = body(&pop, 3, 0, None, "pr-1", "sp-img");
    first["fingerprints"][1] = image_finger(2, "wsq", &wsq, Some(500.0));
    first["fingerprints"][2] = image_finger(3, "tiff", &tiff, Some(500.0));
    let store_before = s.engine().image_store_bytes().unwrap();
    let v = enrol(&s, &sp, &first).await;
    assert_eq!(v["verdict"], "single", "{v}");
    let enrolled = v["reference_id"].as_str().unwrap().to_owned();
    let q = v["fingerprint_quality"].as_array().unwrap();
    assert_eq!(
        q.iter()
            .map(|f| f["position"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [2, 3],
        "{v}"
    );
    assert!(q.iter().all(|f| f["quality"].as_u64().unwrap() <= 100));
    // The WSQ bytes are kept as received, the TIFF as a (smaller) lossless PNG.
    let kept = s.engine().image_store_bytes().unwrap() - store_before;
    assert!(
        kept > wsq.len() as u64 && kept < (wsq.len() + tiff.len()) as u64,
        "{kept}"
    );
    assert!(dir.path().join(IMAGES_DIR).join("img-000001.dat").exists());
    // A retry of the request is answered with the same quality.
    let again = enrol(&s, &sp, &first).await;
    assert_eq!(again["fingerprint_quality"], v["fingerprint_quality"]);

    // Another capture of the same person under another NIK: a duplicate with a case.
    let mut second = body(&pop, 3, 1, Some(40), "pr-2", "sp-img");
    second["fingerprints"][1] = image_finger(2, "png", &png, Some(500.0));
    let dup = enrol(&s, &sp, &second).await;
    assert_eq!(dup["verdict"], "duplicate", "{dup}");
    assert_eq!(dup["fingerprint_quality"][0]["position"], 2, "{dup}");
    let case_id = dup["case_id"].as_str().unwrap().to_owned();
    let applicant = dup["reference_id"].as_str().unwrap().to_owned();
    assert_eq!(dup["candidates"][0]["reference_id"], enrolled.as_str());

    let route = |who: &str, pos: u8| s.url(&format!("/review/cases/{case_id}/prints/{who}/{pos}"));
    // Without a session: 401 problem+json; a service-point key cannot log in (403).
    let r = page(&route(&applicant, 2), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["content-type"], "application/problem+json");
    assert_eq!(r.json()["reason"], "unauthorized");
    let refused = review_login(&s, &sp).await.unwrap_err();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let r = send(Method::GET, &route(&applicant, 2), Some(&analyst), None).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "a bearer key is no session"
    );

    let session = review_login(&s, &analyst)
        .await
        .unwrap_or_else(|r| panic!("log-in refused: {} {}", r.status, r.body));
    // Both persons' images, as PNG in the 500 ppi frame of their minutiae.
    let a = served_png(&page(&route(&applicant, 2), Some(&session)).await);
    assert_eq!((a.width(), a.height()), (256, 320));
    assert_eq!(
        a.pixels(),
        decoded.pixels(),
        "PNG input is served losslessly"
    );
    let c = served_png(&page(&route(&enrolled, 2), Some(&session)).await);
    assert_eq!((c.width(), c.height()), (256, 320));
    let t = served_png(&page(&route(&enrolled, 3), Some(&session)).await);
    assert_eq!(
        t.pixels(),
        decoded.pixels(),
        "TIFF input is kept losslessly"
    );
    // A finger sent as a template, a position out of range, or a person outside the case.
    for url in [
        route(&applicant, 3),
        route(&applicant, 11),
        route("P0000000099", 2),
    ] {
        let r = page(&url, Some(&session)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{url}");
    }

    // The case page shows the quality of the image fingers it draws, and draws the images
    // of a pair under its minutiae.
    let case_page = page(&s.url(&format!("/review/cases/{case_id}")), Some(&session)).await;
    let html = case_page.text();
    assert_eq!(case_page.status, StatusCode::OK);
    if html.contains("data-position=\"2\"") {
        assert!(html.contains(&format!("prints/{applicant}/2")), "{html}");
        assert!(html.contains(&format!("prints/{enrolled}/2")));
        assert!(html.contains("applicant quality"));
    } else {
        // The synthetic ridge pattern failed the enrolment rule: no comparison is drawn.
        let unusable = dup["fingerprint_quality"][0]["unusable"].as_str();
        assert!(unusable.is_some(), "position 2 not drawn: {dup}");
        eprintln!("the synthetic position-2 image is unusable ({unusable:?}): not drawn");
    }

    // A deleted person's images are no longer read.
    let r = send(
        Method::DELETE,
        &s.url(&format!("/v1/persons/{enrolled}")),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(r.json()["deleted"], true, "{}", r.text());
    let r = page(&route(&enrolled, 2), Some(&session)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    s.stop().await;
}

/// Every `<figure data-position=…>…</figure>` of a page.
fn figures(html: &str) -> Vec<&str> {
    html.split("<figure data-position=")
        .skip(1)
        .map(|f| &f[..f.find("</figure>").unwrap_or(f.len())])
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_of_real_prints_draws_both_images_with_quality_and_no_lines_against() {
    let Some(root) = fvc_root() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = start_limited(dir.path(), loopback_callbacks(), 8 * 1024 * 1024).await;
    let sp = sp_key(&s, "sp-img").await;
    let analyst = key(&s, json!({"role": "analyst", "name": "Analis"})).await;
    let (first, tiff_bytes) = fvc_fingers(&root, 1);
    let before = s.engine().image_store_bytes().unwrap();
    let v = enrol(
        &s,
        &sp,
        &image_enrolment("fvc-1", "3171010101900001", first),
    )
    .await;
    assert_eq!(v["verdict"], "single", "{v}");
    let kept = s.engine().image_store_bytes().unwrap() - before;
    eprintln!(
        "image store: {kept} bytes for one person (ten FVC2002 DB1_B impressions 101_1…110_1, \
         {tiff_bytes} bytes of TIFF input, kept as PNG)"
    );
    assert_eq!(v["fingerprint_quality"].as_array().unwrap().len(), 10);
    let enrolled = v["reference_id"].as_str().unwrap().to_owned();
    let (second, _) = fvc_fingers(&root, 2);
    let dup = enrol(
        &s,
        &sp,
        &image_enrolment("fvc-2", "3171010101900003", second),
    )
    .await;
    assert_eq!(dup["verdict"], "duplicate", "{dup}");
    let case_id = dup["case_id"].as_str().unwrap().to_owned();
    let applicant = dup["reference_id"].as_str().unwrap().to_owned();

    let session = review_login(&s, &analyst)
        .await
        .unwrap_or_else(|r| panic!("log-in refused: {} {}", r.status, r.body));
    let case_page = page(&s.url(&format!("/review/cases/{case_id}")), Some(&session)).await;
    let html = case_page.text();
    let figs = figures(&html);
    assert!(figs.len() >= 5, "{} fingers drawn", figs.len());
    let mut against = 0;
    for f in &figs {
        assert_eq!(f.matches("<image class=\"print\"").count(), 2, "{f}");
        assert!(
            f.contains(&format!("prints/{applicant}/"))
                && f.contains(&format!("prints/{enrolled}/"))
        );
        assert!(f.contains("applicant quality") && f.contains("candidate quality"));
        if f.contains("against-note") {
            against += 1;
            assert!(!f.contains("match-line"), "{f}");
        }
    }
    eprintln!("{} finger pairs drawn, {against} against", figs.len());
    // Every image the page names is served.
    let img = page(
        &s.url(&format!("/review/cases/{case_id}/prints/{enrolled}/1")),
        Some(&session),
    )
    .await;
    let png = served_png(&img);
    assert_eq!((png.width(), png.height()), (388, 374));
    // The large view of a finger zooms.
    let large = page(
        &s.url(&format!("/review/cases/{case_id}/fingers/1?c=0&zoom=2")),
        Some(&session),
    )
    .await;
    let large = large.text();
    assert!(large.contains("width:200%"), "{large}");
    assert!(large.contains("<image class=\"print\""));

    // With `TUNGGAL_FVC_WSQ=DIR` (`DIR/DB1_B/<finger>_<impression>.wsq`, written by an
    // independent WSQ encoder), the same ten fingers as WSQ, kept as received.
    if let Some(wsq_root) = std::env::var_os("TUNGGAL_FVC_WSQ").map(PathBuf::from) {
        let mut input = 0;
        let fingers: Vec<Value> = (1..=10u8)
            .map(|pos| {
                let path = wsq_root.join(format!("DB1_B/{}_3.wsq", 100 + u32::from(pos)));
                let wsq =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                input += wsq.len();
                image_finger(pos, "wsq", &wsq, Some(500.0))
            })
            .collect();
        let before = s.engine().image_store_bytes().unwrap();
        let v = enrol(
            &s,
            &sp,
            &image_enrolment("fvc-wsq", "3171010101900005", fingers),
        )
        .await;
        let kept = s.engine().image_store_bytes().unwrap() - before;
        assert_eq!(
            kept,
            input as u64 + 10 * 16,
            "WSQ kept as received, 16 header bytes each"
        );
        eprintln!(
            "image store: {kept} bytes for one person (ten FVC2002 DB1_B impressions \
             101_3…110_3 as WSQ, {input} bytes of input); verdict {}",
            v["verdict"]
        );
    }
    s.stop().await;
}
