//! Eye image to iris code (segmentation, normalisation, encoding, quality) on one thread:
//! a 320×280 CASIA-IrisV1 image, a 320×238 MMU2 image and the 640×480 open-iris sample,
//! each in the 2048-bit and the open-iris layout. Images that are absent are skipped with a
//! message; a synthetic 320×280 eye is always benchmarked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use tunggal_index::eye::{EyeEncoder, EyeParams};
use tunggal_index::image::{decode, FingerImage};
use tunggal_index::iris::IrisLayout;

fn synthetic() -> FingerImage {
    let (w, h) = (320usize, 280usize);
    let px = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f32 - 160.0, (i / w) as f32 - 140.0);
            let d = x.hypot(y);
            if d < 35.0 {
                20
            } else if d < 100.0 {
                let phi = y.atan2(x);
                (110.0 + 30.0 * (phi * 23.0).sin() * (d * 0.2).cos()) as u8
            } else {
                200
            }
        })
        .collect();
    FingerImage::new(w as u32, h as u32, None, px).unwrap()
}

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/iris-images");
    let mut images = vec![("synthetic 320x280".to_owned(), synthetic())];
    for (name, path) in [
        ("casia-v1 320x280", "casia-v1/001/U/001_1_1.jpg"),
        ("mmu2 320x238", "mmu2/001/01/010101.png"),
        ("open-iris 640x480", "open-iris-sample/anonymized.png"),
    ] {
        match std::fs::read(root.join(path)) {
            Ok(bytes) => images.push((name.to_owned(), decode(&bytes, None).unwrap())),
            Err(_) => eprintln!("{} is absent: {name} skipped", root.join(path).display()),
        }
    }
    let encoder = EyeEncoder::new(EyeParams::default()).unwrap();
    for (name, img) in &images {
        for (lname, layout) in IrisLayout::NAMED {
            if encoder.encode(img, layout).is_err() {
                eprintln!("{name} fails to enrol; timed all the same");
            }
            c.bench_function(&format!("eye encode {name} {lname}"), |b| {
                b.iter(|| black_box(encoder.encode(black_box(img), layout)))
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
