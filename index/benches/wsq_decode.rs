//! WSQ decoding time per image: the generated 256×320 and 301×257 synthetic fixtures
//! (`tests/fixtures/images/make_fixtures.py`; none without python3 and its modules), and the
//! time to refuse the 256×320 file with its frame header claiming 500 × 500 or 2,000 × 2,000
//! pixels (the largest accepted): its coded data ends before the frame's coefficients are
//! filled, so it is refused before the pixel plane and the inverse transform (which once ran
//! over the whole plane, the worst case a small hostile file could ask for).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/image_common/generated.rs"]
mod image_fixtures;

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use tunggal_index::image::{decode, ImageFormat};

/// The WSQ file with its frame header's height and width replaced.
fn wsq_resized(bytes: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let mut at = 2; // after SOI
    loop {
        let marker = u16::from_be_bytes([out[at], out[at + 1]]);
        let len = usize::from(u16::from_be_bytes([out[at + 2], out[at + 3]]));
        if marker == 0xffa2 {
            out[at + 6..at + 8].copy_from_slice(&height.to_be_bytes());
            out[at + 8..at + 10].copy_from_slice(&width.to_be_bytes());
            return out;
        }
        at += 2 + len;
    }
}

fn bench(c: &mut Criterion) {
    let index = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures =
        match image_fixtures::generated_fixtures(index, Path::new(env!("CARGO_TARGET_TMPDIR"))) {
            Ok(dir) => dir,
            Err(why) => {
                eprintln!("no WSQ benchmarks: {why}");
                return;
            }
        };
    let mut group = c.benchmark_group("wsq_decode");
    for name in ["ridges_256x320", "ridges_301x257"] {
        let bytes = std::fs::read(fixtures.join(format!("{name}.wsq"))).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| decode(black_box(&bytes), Some(ImageFormat::Wsq)).unwrap())
        });
    }
    let bytes = std::fs::read(fixtures.join("ridges_256x320.wsq")).unwrap();
    for side in [500u16, 2_000] {
        let large = wsq_resized(&bytes, side, side);
        assert_eq!(
            decode(&large, None).unwrap_err().reason(),
            "image_corrupt",
            "{side}"
        );
        group.bench_function(format!("header_{side}x{side}_refused"), |b| {
            b.iter(|| decode(black_box(&large), Some(ImageFormat::Wsq)).unwrap_err())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
