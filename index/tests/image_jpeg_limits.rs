//! JPEG work caps: real encoders' output (Pillow's libjpeg, baseline and progressive, up to
//! the largest accepted colour image) decodes; generated progressive streams with more scans
//! than the cap, or whose scans visit more samples than the budget, are refused with their
//! reason before decoding. The fixtures are written at test time (`image_common`, skipped
//! with a message when they cannot be generated); the real iris JPEGs of
//! `../shared/datasets/iris-images/` are decoded when present (skipped with a message when
//! not).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod image_common;

use image_common::{datasets, fixtures};
use tunggal_index::image::jpeg_limits::{MAX_SCANS, MAX_WORK};
use tunggal_index::image::{decode, ImageFormat};

/// Offset of the frame height in the generated `scans_*` streams (SOI, a 67-byte DQT
/// segment, then SOF2: marker, length, precision).
const SOF_HEIGHT: usize = 2 + 69 + 5;

#[test]
fn pillow_baseline_and_progressive_jpegs_decode() {
    let Some(fx) = fixtures() else { return };
    for (name, size) in [
        ("ridges_97x131_hq.jpg", (97, 131)),
        ("ridges_97x131_hq.progressive.jpg", (97, 131)),
        ("ridges_2000x2000_rgb.progressive.jpg", (2000, 2000)),
    ] {
        let image = decode(&fx.read(name), Some(ImageFormat::Jpeg))
            .unwrap_or_else(|e| panic!("{name}: {e} ({})", e.reason()));
        assert_eq!((image.width(), image.height()), size, "{name}");
        let (lo, hi) = image
            .pixels()
            .iter()
            .fold((255, 0), |(lo, hi), &p| (lo.min(p), hi.max(p)));
        assert!(hi - lo > 100, "{name}: ridges decoded to {lo}..={hi}");
    }
}

#[test]
fn a_valid_stream_of_exactly_the_most_scans_decodes() {
    let Some(fx) = fixtures() else { return };
    for (name, size) in [
        ("scans_64_64x48.jpg", (64, 48)),
        ("scans_64_1000x1000.jpg", (1000, 1000)),
    ] {
        let image = decode(&fx.read(name), Some(ImageFormat::Jpeg))
            .unwrap_or_else(|e| panic!("{name}: {e} ({})", e.reason()));
        assert_eq!((image.width(), image.height()), size, "{name}");
        assert!(
            image.pixels().iter().all(|&p| p == 128),
            "{name}: flat grey"
        );
        let work = u64::from(image.width()) * u64::from(image.height()) * u64::from(MAX_SCANS);
        assert!(work <= MAX_WORK, "{name}: {work} samples");
    }
}

#[test]
fn one_scan_more_than_the_cap_is_refused() {
    let Some(fx) = fixtures() else { return };
    let err = decode(&fx.read("scans_127_64x48.jpg"), Some(ImageFormat::Jpeg)).unwrap_err();
    assert_eq!(err.reason(), "jpeg_too_many_scans", "{err}");
    // The same stream cut after its 65th scan header.
    let bytes = fx.read("scans_127_64x48.jpg");
    let sos: Vec<usize> = bytes
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w == &[0xff, 0xda])
        .map(|(i, _)| i)
        .collect();
    assert_eq!(sos.len(), 127);
    let first_over = sos[MAX_SCANS as usize];
    let err = decode(&bytes[..first_over + 14], Some(ImageFormat::Jpeg)).unwrap_err();
    assert_eq!(err.reason(), "jpeg_too_many_scans", "{err}");
    let cut = decode(&bytes[..first_over], Some(ImageFormat::Jpeg));
    assert!(
        cut.as_ref()
            .map_or_else(|e| e.reason() != "jpeg_too_many_scans", |_| true),
        "64 scans and a cut: {cut:?}"
    );
}

#[test]
fn scans_over_a_large_frame_past_the_budget_are_refused() {
    let Some(fx) = fixtures() else { return };
    // 64 scans of 2,000 x 2,000 samples: twice the budget.
    let err = decode(&fx.read("scans_64_2000x2000.jpg"), Some(ImageFormat::Jpeg)).unwrap_err();
    assert_eq!(err.reason(), "jpeg_work_over_budget", "{err}");
    // The small stream's frame header edited to claim 2,000 x 2,000: about a kilobyte of
    // scans that carry data for 48 blocks each, the decoder padding the rest.
    let mut bytes = fx.read("scans_64_64x48.jpg");
    assert_eq!(&bytes[SOF_HEIGHT - 5..SOF_HEIGHT - 3], &[0xff, 0xc2]);
    assert_eq!(&bytes[SOF_HEIGHT..SOF_HEIGHT + 4], &[0, 48, 0, 64]);
    bytes[SOF_HEIGHT..SOF_HEIGHT + 4].copy_from_slice(&[0x07, 0xd0, 0x07, 0xd0]);
    assert!(bytes.len() < 2_000);
    let err = decode(&bytes, Some(ImageFormat::Jpeg)).unwrap_err();
    assert_eq!(err.reason(), "jpeg_work_over_budget", "{err}");
    // Claiming 1,000 x 1,000 stays within the budget: the decoder pads the scans.
    bytes[SOF_HEIGHT..SOF_HEIGHT + 4].copy_from_slice(&[0x03, 0xe8, 0x03, 0xe8]);
    let image =
        decode(&bytes, Some(ImageFormat::Jpeg)).unwrap_or_else(|e| panic!("{e} ({})", e.reason()));
    assert_eq!((image.width(), image.height()), (1000, 1000));
}

#[test]
fn scan_markers_inside_other_segments_and_stuffed_data_are_not_scans() {
    let Some(fx) = fixtures() else { return };
    let bytes = fx.read("scans_64_64x48.jpg");
    // An APP1 segment after SOI full of scan markers, as an embedded thumbnail holds.
    let mut app = vec![0xff, 0xe1, 0x01, 0x02];
    app.extend([0xff, 0xda].repeat(128));
    let mut with_app = bytes[..2].to_vec();
    with_app.extend(&app);
    with_app.extend(&bytes[2..]);
    let image = decode(&with_app, Some(ImageFormat::Jpeg))
        .unwrap_or_else(|e| panic!("{e} ({})", e.reason()));
    assert_eq!((image.width(), image.height()), (64, 48));
}

#[test]
fn every_real_iris_jpeg_decodes() {
    let Some(root) = datasets() else { return };
    let root = root.join("iris-images");
    let mut stack = vec![root.clone()];
    let mut decoded = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "jpg" || e == "jpeg") {
                let image = decode(&std::fs::read(&path).unwrap(), Some(ImageFormat::Jpeg))
                    .unwrap_or_else(|e| panic!("{}: {e} ({})", path.display(), e.reason()));
                assert!(image.width() > 0, "{}", path.display());
                decoded += 1;
            }
        }
    }
    println!("{decoded} iris JPEGs of {} decoded", root.display());
    assert!(decoded > 0, "no JPEG under {}", root.display());
}
