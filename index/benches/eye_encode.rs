//! Eye image to iris code, one image per iteration on one thread: a 320×280 CASIA-IrisV1
//! image, a 320×238 MMU2 image and the 640×480 open-iris sample from
//! `../shared/datasets/iris-images/` or the folder `TUNGGAL_IRIS_IMAGES` names (each skipped
//! with a message when absent), the CASIA image scaled by two and cropped to 640×480 (the
//! open-iris sample fails to enrol, so this is the enrolling eye at that frame size), and a
//! synthetic 320×280 eye (always). Decoding is excluded.
//! Each image is encoded with the default settings into the `daugman-2048` layout and, as
//! `…/open-iris`, into the open-iris layout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use tunggal_index::eye::{EyeEncoder, EyeParams};
use tunggal_index::image::{decode, to_500ppi, FingerImage};
use tunggal_index::iris::IrisLayout;

/// A synthetic eye: bright surround, a textured iris annulus, a dark pupil with a glint.
fn synthetic_eye() -> FingerImage {
    let (w, h) = (320usize, 280usize);
    let (cx, cy, rp, ri) = (158.0f32, 142.0f32, 34.0f32, 98.0f32);
    let mut px = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let d = dx.hypot(dy);
            let phi = (-dy).atan2(dx);
            let v = if d < rp {
                if (dx - 8.0).hypot(dy + 6.0) < 4.0 {
                    255.0
                } else {
                    18.0
                }
            } else if d < ri {
                let rho = (d - rp) / (ri - rp);
                105.0
                    + 12.0 * (13.0 * phi + 7.0 * rho).sin()
                    + 9.0 * (21.0 * phi - 11.0 * rho + 1.0).sin()
                    + 7.0 * (31.0 * phi + 3.0 * rho + 2.0).sin()
            } else {
                200.0
            };
            px[y * w + x] = v.clamp(0.0, 255.0) as u8;
        }
    }
    FingerImage::new(w as u32, h as u32, None, px).unwrap()
}

/// `image` scaled by two (bilinear, [`to_500ppi`] from 250 ppi) and cropped to 640×480
/// about its centre: an enrolling eye at the larger frame size (the open-iris sample, the only
/// real 640×480 image, fails to enrol).
fn doubled_640x480(image: &FingerImage) -> FingerImage {
    let doubled = to_500ppi(image, 250.0).unwrap();
    let (w, h) = (doubled.width() as usize, doubled.height() as usize);
    let (ow, oh) = (640usize.min(w), 480usize.min(h));
    let (x0, y0) = ((w - ow) / 2, (h - oh) / 2);
    let px = doubled
        .pixels()
        .chunks_exact(w)
        .skip(y0)
        .take(oh)
        .flat_map(|row| &row[x0..x0 + ow])
        .copied()
        .collect();
    FingerImage::new(ow as u32, oh as u32, None, px).unwrap()
}

fn bench(c: &mut Criterion) {
    let encoder = EyeEncoder::new(EyeParams::default()).unwrap();
    // `TUNGGAL_IRIS_IMAGES` names the folder when the checkout is not next to `shared/`.
    let root = std::env::var_os("TUNGGAL_IRIS_IMAGES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/iris-images"),
        std::path::PathBuf::from,
    );
    let mut images = vec![("synthetic_320x280".to_owned(), synthetic_eye())];
    for (name, rel) in [
        ("casia_320x280", "casia-v1/001/U/001_1_1.jpg"),
        ("mmu2_320x238", "mmu2/001/01/010101.png"),
        ("open_iris_640x480", "open-iris-sample/anonymized.png"),
    ] {
        match std::fs::read(root.join(rel)) {
            Ok(bytes) => images.push((name.to_owned(), decode(&bytes, None).unwrap())),
            Err(e) => eprintln!("skipping {name}: {} ({e})", root.join(rel).display()),
        }
    }
    if let Some((_, casia)) = images.iter().find(|(n, _)| n == "casia_320x280") {
        let doubled = doubled_640x480(casia);
        images.push(("casia_doubled_640x480".to_owned(), doubled));
    }
    let mut group = c.benchmark_group("eye_encode");
    for (name, image) in &images {
        // Failures to enrol are timed too: they are part of the work per image.
        if let Err(e) = encoder.encode(image, IrisLayout::DAUGMAN_2048) {
            eprintln!("{name} fails to enrol ({e}); timed all the same");
        }
        for (tag, layout) in [
            ("", IrisLayout::DAUGMAN_2048),
            ("/open-iris", IrisLayout::OPEN_IRIS),
        ] {
            group.bench_function(format!("{name}{tag}"), |b| {
                b.iter(|| {
                    let _ = black_box(encoder.encode(black_box(image), layout));
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
