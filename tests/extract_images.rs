//! Minutiae extraction on real FVC2002 images (skipped with a message when the shared data
//! set is absent): plausible minutiae counts, invariance to a 90° rotation and a
//! translation of the raster, and genuine pairs scoring above impostor pairs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use tunggal::cli::extract::{read_image, GreyImage};
use tunggal_index::extract::{Extractor, Raster};
use tunggal_index::finger::{FingerMatcher, MccParams};
use tunggal_index::template::FingerTemplate;

fn root() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/fvc2002-images");
    if root.join("DB1_B/101_1.tif").exists() {
        Some(root)
    } else {
        eprintln!("skipping: {} is absent", root.display());
        None
    }
}

fn extract(img: &GreyImage) -> FingerTemplate {
    Extractor::default()
        .extract(&Raster {
            width: img.width,
            height: img.height,
            ppi: 500.0,
            pixels: &img.pixels,
        })
        .unwrap()
        .template
}

/// Rotates 90° clockwise on the image: `(x, y)` goes to `(h − 1 − y, x)`.
fn rotate(img: &GreyImage) -> GreyImage {
    let (w, h) = (img.width, img.height);
    let mut pixels = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            pixels[x * h + (h - 1 - y)] = img.pixels[y * w + x];
        }
    }
    GreyImage {
        width: h,
        height: w,
        pixels,
    }
}

/// Moves the image `dx`, `dy` pixels right and down on a white canvas as large again.
fn translate(img: &GreyImage, dx: usize, dy: usize) -> GreyImage {
    let (w, h) = (img.width + dx, img.height + dy);
    let mut pixels = vec![255u8; w * h];
    for y in 0..img.height {
        pixels[(y + dy) * w + dx..(y + dy) * w + dx + img.width]
            .copy_from_slice(&img.pixels[y * img.width..(y + 1) * img.width]);
    }
    GreyImage {
        width: w,
        height: h,
        pixels,
    }
}

/// Share of `a`'s minutiae with a counterpart in `b` after mapping `a`'s position by `map`
/// and its angle by `turn` (1/256 turns): within 6 px and 24 units.
fn agreement(
    a: &FingerTemplate,
    b: &FingerTemplate,
    map: impl Fn(u16, u16) -> (i32, i32),
    turn: u8,
) -> f64 {
    let hits = a
        .minutiae
        .iter()
        .filter(|m| {
            let (x, y) = map(m.x, m.y);
            let angle = m.angle.wrapping_add(turn);
            b.minutiae.iter().any(|n| {
                let d = (i32::from(n.x) - x).pow(2) + (i32::from(n.y) - y).pow(2);
                let da = n.angle.wrapping_sub(angle).min(angle.wrapping_sub(n.angle));
                d <= 36 && da <= 24
            })
        })
        .count();
    hits as f64 / a.minutiae.len().max(1) as f64
}

#[test]
fn minutiae_counts_are_plausible() {
    let Some(root) = root() else { return };
    for name in ["DB1_B/101_1.tif", "DB3_B/105_2.tif", "DB4_B/110_4.tif"] {
        let t = extract(&read_image(&root.join(name)).unwrap());
        let n = t.minutiae.len();
        assert!((15..=100).contains(&n), "{name}: {n} minutiae");
        assert!(t.minutiae.iter().all(|m| m.x < t.width && m.y < t.height));
    }
}

#[test]
fn rotation_and_translation_move_the_minutiae_with_the_image() {
    let Some(root) = root() else { return };
    let img = read_image(&root.join("DB1_B/102_3.tif")).unwrap();
    let base = extract(&img);
    let h = img.height as i32;
    let rotated = extract(&rotate(&img));
    // Clockwise on the image is −90° counter-clockwise: −64 units.
    let r = agreement(
        &base,
        &rotated,
        |x, y| (h - 1 - i32::from(y), i32::from(x)),
        192,
    );
    assert!(r >= 0.7, "rotation: {r:.2} of minutiae agree");
    let shifted = extract(&translate(&img, 37, 21));
    let s = agreement(
        &base,
        &shifted,
        |x, y| (i32::from(x) + 37, i32::from(y) + 21),
        0,
    );
    assert!(s >= 0.8, "translation: {s:.2} of minutiae agree");
}

#[test]
fn genuine_pairs_score_above_impostor_pairs() {
    let Some(root) = root() else { return };
    let matcher = FingerMatcher::new(MccParams::default());
    let load = |name: &str| matcher.prepare(&extract(&read_image(&root.join(name)).unwrap()));
    let a1 = load("DB1_B/101_1.tif");
    let a2 = load("DB1_B/101_2.tif");
    let b1 = load("DB1_B/103_1.tif");
    let b2 = load("DB1_B/103_2.tif");
    let genuine = matcher.compare(&a1, &a2).min(matcher.compare(&b1, &b2));
    let impostor = [(&a1, &b1), (&a1, &b2), (&a2, &b1), (&a2, &b2)]
        .iter()
        .map(|(x, y)| matcher.compare(x, y))
        .fold(f32::MIN, f32::max);
    assert!(
        genuine > impostor,
        "genuine {genuine} vs impostor {impostor}"
    );
}
