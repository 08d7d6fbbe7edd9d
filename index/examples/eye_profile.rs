//! Encodes one eye image N times on one thread, for an instruction-count profiler
//! (`valgrind --tool=callgrind`, `perf stat -e instructions`); prints the outcome once.
//!
//! `cargo run --release -p tunggal-index --example eye_profile -- IMAGE [N] [name=value…]`
//! (encoder parameters as in `EyeParams::set`)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use tunggal_index::eye::{EyeEncoder, EyeParams};
use tunggal_index::image::decode;
use tunggal_index::iris::IrisLayout;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let image = decode(&std::fs::read(&args[0]).unwrap(), None).unwrap();
    let n: usize = args.get(1).map_or(1, |v| v.parse().unwrap());
    let mut params = EyeParams::default();
    for assignment in args.iter().skip(2) {
        params.set(assignment).unwrap();
    }
    let enc = EyeEncoder::new(params).unwrap();
    let mut last = None;
    for _ in 0..n {
        last = Some(black_box(
            enc.encode(black_box(&image), IrisLayout::DAUGMAN_2048),
        ));
    }
    if let Some(r) = last {
        match r {
            Ok(e) => println!("enrolled, quality {}", e.quality.score),
            Err(e) => println!("failed to enrol: {e}"),
        }
    }
}
