//! Fingerprint image decoding per format on the committed 256×320 synthetic fixture (WSQ,
//! JPEG 2000 lossless, PNG), an FVC2002 TIFF when the shared data set is present, and
//! resampling a 569 ppi image to 500 ppi.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use tunggal_index::image::{decode, to_500ppi};

fn bench(c: &mut Criterion) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("index/tests/fixtures/images");
    let mut group = c.benchmark_group("image_decode");
    for ext in ["wsq", "jp2", "png"] {
        let bytes = std::fs::read(fixtures.join(format!("ridges_256x320.{ext}"))).unwrap();
        group.bench_function(format!("{ext}_256x320"), |b| {
            b.iter(|| decode(black_box(&bytes), None).unwrap())
        });
    }
    let tiff = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/datasets/fvc2002-images/DB2_B/101_1.tif");
    match std::fs::read(&tiff) {
        Ok(bytes) => {
            group.bench_function("tiff_fvc_296x560", |b| {
                b.iter(|| decode(black_box(&bytes), None).unwrap())
            });
            let image = decode(&bytes, None).unwrap();
            group.bench_function("to_500ppi_from_569", |b| {
                b.iter(|| to_500ppi(black_box(&image), 569.0).unwrap())
            });
        }
        Err(_) => eprintln!("{} is absent: no TIFF benchmark", tiff.display()),
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
