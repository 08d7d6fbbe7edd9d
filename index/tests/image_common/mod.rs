//! Helpers shared by the image decoding tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::{Path, PathBuf};

use tunggal_index::image::{decode, FingerImage, ImageFormat};

mod generated;

/// The synthetic image fixtures, generated at test time (see `generated.rs`).
#[derive(Debug)]
pub struct Fixtures(PathBuf);

impl Fixtures {
    /// The folder holding them.
    pub fn dir(&self) -> &Path {
        &self.0
    }

    /// The bytes of fixture `name`.
    pub fn read(&self, name: &str) -> Vec<u8> {
        let path = self.0.join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Fixture `name`, a PNG, decoded.
    pub fn png(&self, name: &str) -> FingerImage {
        decode(&self.read(name), Some(ImageFormat::Png)).unwrap()
    }
}

/// The generated fixtures, or `None` with a printed reason (python3, the NBIS `wsq`
/// package or Pillow absent).
pub fn fixtures() -> Option<Fixtures> {
    let index = Path::new(env!("CARGO_MANIFEST_DIR"));
    match generated::generated_fixtures(index, Path::new(env!("CARGO_TARGET_TMPDIR"))) {
        Ok(dir) => Some(Fixtures(dir)),
        Err(why) => {
            eprintln!("skipping: the synthetic image fixtures cannot be generated: {why}");
            None
        }
    }
}

/// The shared real data folder, or `None` with a printed reason.
pub fn datasets() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: shared data set folder {} is absent",
            dir.display()
        );
        None
    }
}

/// The 320 FVC2002 image paths with each database's expected size and resolution.
pub fn fvc_images(root: &Path) -> Vec<(PathBuf, u32, u32, f32)> {
    let mut out = Vec::new();
    for (db, w, h, ppi) in [
        ("DB1_B", 388, 374, 500.0),
        ("DB2_B", 296, 560, 569.0),
        ("DB3_B", 300, 300, 500.0),
        ("DB4_B", 288, 384, 500.0),
    ] {
        for finger in 101..=110 {
            for impression in 1..=8 {
                let path = root
                    .join("fvc2002-images")
                    .join(db)
                    .join(format!("{finger}_{impression}.tif"));
                out.push((path, w, h, ppi));
            }
        }
    }
    out
}

/// Mean squared error and PSNR (dB) between two images of the same size.
pub fn psnr(a: &FingerImage, b: &FingerImage) -> f64 {
    assert_eq!((a.width(), a.height()), (b.width(), b.height()));
    let mse: f64 = a
        .pixels()
        .iter()
        .zip(b.pixels())
        .map(|(&x, &y)| {
            let d = f64::from(x) - f64::from(y);
            d * d
        })
        .sum::<f64>()
        / a.pixels().len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// Largest absolute pixel difference.
pub fn max_diff(a: &FingerImage, b: &FingerImage) -> u8 {
    a.pixels()
        .iter()
        .zip(b.pixels())
        .map(|(&x, &y)| x.abs_diff(y))
        .max()
        .unwrap_or(0)
}
