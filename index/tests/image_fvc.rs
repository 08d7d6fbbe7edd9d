//! The 320 FVC2002 images: TIFF decoding with the published sizes, resampling to 500 ppi,
//! and WSQ round trips through the independent NBIS encoder (Python package `wsq`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod image_common;

use std::process::Command;

use image_common::{datasets, fvc_images, max_diff, psnr};
use tunggal_index::image::{decode, to_500ppi, FingerImage, ImageFormat};

#[test]
fn fvc2002_tiffs_decode_with_the_published_sizes() {
    let Some(root) = datasets() else { return };
    let images = fvc_images(&root);
    assert_eq!(images.len(), 320);
    for (path, w, h, ppi) in images {
        let bytes = std::fs::read(&path).unwrap();
        let img = decode(&bytes, None).unwrap();
        assert_eq!((img.width(), img.height()), (w, h), "{}", path.display());
        // The headers hold a placeholder resolution, which is not taken.
        assert_eq!(img.ppi(), None, "{}", path.display());
        let working = to_500ppi(&img, ppi).unwrap();
        let expected = (
            (w as f32 * 500.0 / ppi).round() as u32,
            (h as f32 * 500.0 / ppi).round() as u32,
        );
        assert_eq!((working.width(), working.height()), expected);
    }
}

/// Encodes every listed TIFF to WSQ with the NBIS encoder (0.75 bpp, the package default)
/// and decodes it with the NBIS decoder, writing `N.wsq` and `N.raw` into `out`.
const ENCODE_SCRIPT: &str = r#"
import sys, _wsq
from PIL import Image
out = sys.argv[1]
for i, path in enumerate(sys.argv[2:]):
    img = Image.open(path).convert("L")
    w, h = img.size
    enc = _wsq.compress(img.tobytes(), h, w, 12.0)
    open(f"{out}/{i}.wsq", "wb").write(enc)
    buf, dw, dh, _ = _wsq.decompress(enc)
    open(f"{out}/{i}.raw", "wb").write(bytes(buf))
"#;

fn python_with_wsq() -> Option<&'static str> {
    for python in ["python3", "python"] {
        let ok = Command::new(python)
            .args(["-c", "import _wsq, PIL"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return Some(python);
        }
    }
    eprintln!("skipping: no Python with the `wsq` package (pip install wsq)");
    None
}

#[test]
fn fvc2002_wsq_round_trip_through_the_nbis_encoder() {
    let Some(root) = datasets() else { return };
    let Some(python) = python_with_wsq() else {
        return;
    };
    let images = fvc_images(&root);
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(python)
        .arg("-c")
        .arg(ENCODE_SCRIPT)
        .arg(dir.path())
        .args(images.iter().map(|(p, ..)| p))
        .status()
        .unwrap();
    assert!(status.success(), "NBIS encoder script failed");

    let mut psnrs = Vec::new();
    let mut worst_vs_nbis = 0u8;
    let mut bytes_total = 0usize;
    for (i, (path, w, h, _)) in images.iter().enumerate() {
        let source = decode(&std::fs::read(path).unwrap(), None).unwrap();
        let wsq = std::fs::read(dir.path().join(format!("{i}.wsq"))).unwrap();
        bytes_total += wsq.len();
        let ours = decode(&wsq, Some(ImageFormat::Wsq))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!((ours.width(), ours.height()), (*w, *h));
        let nbis_px = std::fs::read(dir.path().join(format!("{i}.raw"))).unwrap();
        let nbis = FingerImage::new(*w, *h, None, nbis_px).unwrap();
        worst_vs_nbis = worst_vs_nbis.max(max_diff(&ours, &nbis));
        psnrs.push((psnr(&ours, &source), psnr(&nbis, &source)));
    }
    let n = psnrs.len() as f64;
    let mean = psnrs.iter().map(|p| p.0).sum::<f64>() / n;
    let min = psnrs.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let nbis_mean = psnrs.iter().map(|p| p.1).sum::<f64>() / n;
    println!(
        "WSQ round trip on {} FVC2002 images (NBIS encoder, 0.75 bpp, {:.1} KB mean): \
         PSNR mean {mean:.2} dB, min {min:.2} dB (NBIS decoder: mean {nbis_mean:.2} dB); \
         largest pixel difference from the NBIS decoder {worst_vs_nbis}",
        psnrs.len(),
        bytes_total as f64 / n / 1024.0
    );
    assert_eq!(psnrs.len(), 320);
    assert!(worst_vs_nbis <= 1, "differs from NBIS by {worst_vs_nbis}");
    assert!((mean - nbis_mean).abs() < 0.05);
    assert!(min > 20.0, "min PSNR {min:.2} dB");
}
