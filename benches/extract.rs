//! Minutiae extraction from one 500 ppi FVC2002 image of about 300×400 (DB4_B, 288×384),
//! on one thread; a synthetic ridge pattern of the same size when the data set is absent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use tunggal::cli::extract::{read_image, GreyImage};
use tunggal_index::extract::{Extractor, Raster};

fn image() -> GreyImage {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/datasets/fvc2002-images/DB4_B/101_1.tif");
    match read_image(&path) {
        Ok(img) => img,
        Err(_) => {
            eprintln!(
                "{} is absent: benchmarking a synthetic pattern",
                path.display()
            );
            let (width, height) = (288, 384);
            let pixels = (0..width * height)
                .map(|i| {
                    let (x, y) = ((i % width) as f32, (i / width) as f32);
                    let r = ((x - 144.0).powi(2) + (y - 192.0).powi(2)).sqrt();
                    (128.0 + 100.0 * (r * std::f32::consts::TAU / 9.0).sin()) as u8
                })
                .collect();
            GreyImage {
                width,
                height,
                pixels,
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    let img = image();
    let extractor = Extractor::default();
    c.bench_function("extract 288x384 500 ppi", |b| {
        b.iter(|| {
            black_box(
                extractor
                    .extract(&Raster {
                        width: img.width,
                        height: img.height,
                        ppi: 500.0,
                        pixels: black_box(&img.pixels),
                    })
                    .unwrap(),
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
