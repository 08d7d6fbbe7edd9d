//! `tunggal fsck` over the image store: a flipped byte in a kept fingerprint image is
//! reported with its segment and offset and the person whose registry row names it, and
//! nothing is changed.

use tunggal::engine::images::IMAGES_DIR;
use tunggal::ops::fsck;
use tunggal_index::image_store::{segment_name, HEADER_LEN};

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsck_reports_a_damaged_fingerprint_image_and_its_person() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let s = start_limited(dir.path(), loopback_callbacks(), 4 * 1024 * 1024).await;
    let sp = sp_key(&s, "sp-img").await;
    // Two blank TIFF fingers beside templates: kept in the image store as PNG.
    let blank = super::images::tiff_grey8(300, 400, &vec![255u8; 300 * 400]);
    let mut request = body(&pop, 12, 0, None, "fsck-1", "sp-img");
    request["fingerprints"][3] = image_finger(4, "tiff", &blank, None);
    request["fingerprints"][6] = image_finger(7, "tiff", &blank, None);
    let v = enrol(&s, &sp, &request).await;
    assert_eq!(v["verdict"], "single", "{v}");
    let reference = v["reference_id"].as_str().unwrap().to_owned();
    s.stop().await;

    let report = fsck::check(dir.path()).unwrap();
    assert!(report.clean, "{report:?}");
    assert!(report.images[0].contains("2 images"), "{:?}", report.images);
    assert!(report.image_refs.is_empty());

    // One byte inside the first image's payload.
    let segment = dir.path().join(IMAGES_DIR).join(segment_name(1));
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[HEADER_LEN + 40] ^= 0x01;
    std::fs::write(&segment, &bytes).unwrap();

    let report = fsck::check(dir.path()).unwrap();
    assert!(!report.clean);
    assert!(
        report.images.iter().any(|l| l
            .contains(&format!("{}: DAMAGED at offset 0", segment_name(1)))
            && l.contains("CRC mismatch")),
        "{:?}",
        report.images
    );
    assert!(report.images[0].contains("1 images"), "{:?}", report.images);
    assert_eq!(report.image_refs.len(), 1, "{:?}", report.image_refs);
    let damage = &report.image_refs[0];
    assert_eq!(damage.reference_id, reference);
    assert_eq!(damage.request_id, "fsck-1");
    assert!(
        damage.what.starts_with("fingerprint image at position 4:")
            && damage.what.contains("CRC mismatch"),
        "{}",
        damage.what
    );
    // The gallery and registry are not involved; the image is reported, never repaired.
    assert!(report.persons.is_empty(), "{:?}", report.persons);
    assert_eq!(std::fs::read(&segment).unwrap(), bytes);
}
