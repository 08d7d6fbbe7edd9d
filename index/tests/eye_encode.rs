//! Eye images to iris codes: a synthetic eye drawn here (always run) and the real
//! near-infrared images of `../shared/datasets/iris-images/` (skipped with a message when
//! absent): segmentation, genuine against impostor distances, and rotation of the image as
//! a rotation of the code.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::f32::consts::TAU;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tunggal_index::eye::{EyeEncoder, EyeParams};
use tunggal_index::image::{decode, FingerImage};
use tunggal_index::iris::{IrisComparison, IrisLayout, IrisMatcher};

/// A synthetic eye: skin/sclera background, a textured iris annulus, a dark pupil with a
/// specular glint, texture rotated counter-clockwise by `turn` (a fraction of a turn).
fn synthetic_eye(seed: u64, turn: f32, noise_seed: u64) -> FingerImage {
    let (w, h) = (320usize, 280usize);
    let (cx, cy, rp, ri) = (158.0f32, 142.0f32, 34.0f32, 98.0f32);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Texture: a sum of angular × radial waves with random frequencies and phases.
    let waves: Vec<(f32, f32, f32, f32)> = (0..24)
        .map(|_| {
            (
                rng.gen_range(3..40) as f32,
                rng.gen_range(0.5f32..4.0),
                rng.gen_range(0.0..TAU),
                rng.gen_range(6.0f32..14.0),
            )
        })
        .collect();
    let mut noise = ChaCha8Rng::seed_from_u64(noise_seed);
    let mut px = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let d = dx.hypot(dy);
            let phi = (-dy).atan2(dx) - turn * TAU;
            let v = if d < rp {
                if (x as f32 - cx - 8.0).hypot(y as f32 - cy + 6.0) < 4.0 {
                    255.0
                } else {
                    18.0
                }
            } else if d < ri {
                let rho = (d - rp) / (ri - rp);
                let t: f32 = waves
                    .iter()
                    .map(|&(k, m, p, a)| a * (k * phi + m * TAU * rho + p).sin())
                    .sum();
                (105.0 + t * 0.6).clamp(40.0, 200.0)
            } else {
                200.0
            };
            let n: f32 = noise.gen_range(-3.0..3.0);
            px[y * w + x] = (v + n).clamp(0.0, 255.0) as u8;
        }
    }
    FingerImage::new(w as u32, h as u32, None, px).unwrap()
}

fn encoder() -> EyeEncoder {
    EyeEncoder::new(EyeParams::default()).unwrap()
}

fn hd(
    matcher: &IrisMatcher,
    a: &tunggal_index::iris::IrisTemplate,
    b: &tunggal_index::iris::IrisTemplate,
) -> (f64, i32) {
    match matcher.compare_templates(a, b).unwrap() {
        IrisComparison::Scored(s) => (s.hd_norm, s.rotation),
        other => panic!("not scored: {other:?}"),
    }
}

#[test]
fn synthetic_eye_is_segmented_and_encoded() {
    let enc = encoder();
    for layout in [IrisLayout::DAUGMAN_2048, IrisLayout::OPEN_IRIS] {
        let e = enc.encode(&synthetic_eye(1, 0.0, 1), layout).unwrap();
        let s = &e.segmentation;
        assert!(
            (s.pupil.x - 158.0).abs() < 2.5 && (s.pupil.y - 142.0).abs() < 2.5,
            "{s:?}"
        );
        assert!((s.pupil.r - 34.0).abs() < 3.0, "{s:?}");
        assert!((s.iris.r - 98.0).abs() < 5.0, "{s:?}");
        assert_eq!(e.template.layout(), layout);
        assert!(
            e.template.valid_bits() as usize > layout.total_bits() * 6 / 10,
            "{} valid bits",
            e.template.valid_bits()
        );
        assert!(e.quality.score > 0, "{:?}", e.quality);
    }
}

#[test]
fn same_synthetic_iris_matches_and_different_ones_do_not() {
    let enc = encoder();
    let m = IrisMatcher::for_layout(IrisLayout::DAUGMAN_2048);
    let a = enc
        .encode(&synthetic_eye(1, 0.0, 1), IrisLayout::DAUGMAN_2048)
        .unwrap();
    let b = enc
        .encode(&synthetic_eye(1, 0.0, 2), IrisLayout::DAUGMAN_2048)
        .unwrap();
    let c = enc
        .encode(&synthetic_eye(2, 0.0, 3), IrisLayout::DAUGMAN_2048)
        .unwrap();
    let (same, _) = hd(&m, &a.template, &b.template);
    let (diff, _) = hd(&m, &a.template, &c.template);
    // The distance at rotation 0 alone, beside the best over the rotation window.
    let (differ, both) = a.template.unrotated_difference(&c.template);
    let unrotated = differ as f64 / both.max(1) as f64;
    eprintln!("same iris {same:.3}, different irises {diff:.3} (unrotated {unrotated:.3} over {both} bits)");
    assert!(same < 0.15, "same iris, new noise: {same}");
    assert!(
        diff > 0.35,
        "different irises: {diff} (unrotated fractional distance {unrotated:.3} over {both} bits)"
    );
}

#[test]
fn rotating_the_eye_rotates_the_code() {
    let enc = encoder();
    for (layout, k) in [
        (IrisLayout::DAUGMAN_2048, 5i32),
        (IrisLayout::OPEN_IRIS, -9),
    ] {
        let m = IrisMatcher::for_layout(layout);
        let n = layout.angular() as f32;
        let base = enc.encode(&synthetic_eye(7, 0.0, 1), layout).unwrap();
        let turned = enc
            .encode(&synthetic_eye(7, k as f32 / n, 1), layout)
            .unwrap();
        // The turned eye's code is the base code rotated by k positions…
        let expected = base.template.rotated(k);
        let (differ, both) = expected.unrotated_difference(&turned.template);
        let frac = differ as f64 / both.max(1) as f64;
        assert!(
            frac < 0.1,
            "{layout}: {frac} of the bits differ after rotating by {k}"
        );
        // …so the matcher finds the rotation −k (the probe rotated by −k aligns).
        let (d, rotation) = hd(&m, &turned.template, &base.template);
        assert_eq!(rotation, -k, "{layout}: hd {d}");
    }
}

/// The blob ladder counts as further pupil candidates only with the blob stage on, and is
/// bounded like the retries.
#[test]
fn pupil_candidates_count_the_blob_ladder_and_the_retries() {
    let mut p = EyeParams::default();
    p.set("pupil_blob_ladder=2").unwrap();
    p.set("pupil_retries=3").unwrap();
    assert_eq!(p.pupil_candidates(), 6);
    p.set("pupil_blob=0").unwrap();
    assert_eq!(p.pupil_candidates(), 4);
    assert!(p.set("pupil_blob_ladder=9").is_err());
    assert!(p.set("reflection_max_extent=1.5").is_err());
}

/// The open-iris sample (640×480, a caption of black letters under the eye) enrols on its
/// own pupil and iris: the pupil's dark disc spans about x 270–390, y 175–295, the iris
/// about x 205–445.
#[test]
fn open_iris_sample_enrols_on_its_pupil_and_iris() {
    let Some(root) = iris_root() else { return };
    let path = root.join("open-iris-sample/anonymized.png");
    let Ok(bytes) = std::fs::read(&path) else {
        eprintln!("skipping: {} not found", path.display());
        return;
    };
    let img = decode(&bytes, None).unwrap();
    let e = encoder()
        .encode(&img, IrisLayout::DAUGMAN_2048)
        .unwrap_or_else(|e| panic!("the open-iris sample fails to enrol: {e}"));
    let s = &e.segmentation;
    let near = |x: f32, y: f32, to: (f32, f32), within: f32| (x - to.0).hypot(y - to.1) <= within;
    assert!(near(s.pupil.x, s.pupil.y, (330.0, 235.0), 8.0), "{s:?}");
    assert!((55.0..=70.0).contains(&s.pupil.r), "{s:?}");
    assert!(near(s.iris.x, s.iris.y, (325.0, 235.0), 10.0), "{s:?}");
    assert!((110.0..=132.0).contains(&s.iris.r), "{s:?}");
    if let Some(lid) = s.upper_eyelid {
        assert!(
            lid.apex_y < s.pupil.y - s.pupil.r,
            "upper lid over the pupil: {s:?}"
        );
    }
}

#[test]
fn blank_and_tiny_images_fail_with_reasons() {
    let enc = encoder();
    let blank = FingerImage::new(320, 280, None, vec![128; 320 * 280]).unwrap();
    let err = enc.encode(&blank, IrisLayout::DAUGMAN_2048).unwrap_err();
    assert!(err.reason().starts_with("iris_"), "{err}");
    assert!(err.is_failure_to_enrol());
    let tiny = FingerImage::new(40, 40, None, vec![0; 1600]).unwrap();
    let err = enc.encode(&tiny, IrisLayout::DAUGMAN_2048).unwrap_err();
    assert_eq!(err.reason(), "iris_image_size");
}

fn iris_root() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/iris-images");
    if root.join("manifest.csv").is_file() {
        Some(root)
    } else {
        eprintln!("skipping: real iris images not found at {}", root.display());
        None
    }
}

/// A few eyes × samples of each real database: (path, identity).
fn real_subset(root: &Path, eyes: usize, samples: usize) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root.join("manifest.csv")).unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    for db in ["casia-v1", "mmu2"] {
        let mut ids: Vec<String> = Vec::new();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if !f[0].starts_with(db) {
                continue;
            }
            let id = format!("{}|{}", f[1], f[2]);
            if !ids.contains(&id) {
                if ids.len() == eyes {
                    continue;
                }
                ids.push(id.clone());
            }
            if out.iter().filter(|(_, i)| *i == id).count() < samples {
                out.push((f[0].to_owned(), id));
            }
        }
    }
    out
}

#[test]
fn real_images_segment_and_separate_genuine_from_impostor() {
    let Some(root) = iris_root() else { return };
    let enc = encoder();
    let layout = IrisLayout::DAUGMAN_2048;
    let m = IrisMatcher::for_layout(layout);
    let subset = real_subset(&root, 4, 3);
    let mut enrolled = Vec::new();
    for (path, id) in &subset {
        let img = decode(&std::fs::read(root.join(path)).unwrap(), None).unwrap();
        match enc.encode(&img, layout) {
            Ok(e) => {
                let s = &e.segmentation;
                assert!((0.15..=0.8).contains(&s.dilation()), "{path}: {s:?}");
                enrolled.push((id.clone(), e.template));
            }
            Err(e) => eprintln!("{path}: {e}"),
        }
    }
    assert!(
        enrolled.len() * 10 >= subset.len() * 8,
        "only {} of {} images enrolled",
        enrolled.len(),
        subset.len()
    );
    let (mut g, mut i) = (Vec::new(), Vec::new());
    for x in 0..enrolled.len() {
        for y in x + 1..enrolled.len() {
            if let IrisComparison::Scored(s) =
                m.compare_templates(&enrolled[x].1, &enrolled[y].1).unwrap()
            {
                if enrolled[x].0 == enrolled[y].0 {
                    g.push(s.hd_norm);
                } else {
                    i.push(s.hd_norm);
                }
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (gm, im) = (mean(&g), mean(&i));
    eprintln!(
        "{} genuine pairs mean {gm:.3}, {} impostor pairs mean {im:.3}",
        g.len(),
        i.len()
    );
    assert!(!g.is_empty() && !i.is_empty());
    assert!(im - gm > 0.1, "genuine mean {gm:.3}, impostor mean {im:.3}");
    assert!((0.4..0.56).contains(&im), "impostor mean {im:.3}");
}

/// The image turned counter-clockwise by `angle` radians about `(cx, cy)`, bilinear, the
/// border value outside.
fn rotate_image(img: &FingerImage, cx: f32, cy: f32, angle: f32) -> FingerImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let src = img.pixels();
    let (c, s) = (angle.cos(), angle.sin());
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            // Counter-clockwise as viewed (y down): inverse map of the output point.
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let sx = cx + c * dx - s * dy;
            let sy = cy + s * dx + c * dy;
            let v = if sx >= 0.0 && sy >= 0.0 && sx < (w - 1) as f32 && sy < (h - 1) as f32 {
                let (x0, y0) = (sx as usize, sy as usize);
                let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
                let p = |xx: usize, yy: usize| f32::from(src[yy * w + xx]);
                let top = p(x0, y0) * (1.0 - fx) + p(x0 + 1, y0) * fx;
                let bottom = p(x0, y0 + 1) * (1.0 - fx) + p(x0 + 1, y0 + 1) * fx;
                top * (1.0 - fy) + bottom * fy
            } else {
                f32::from(src[y.min(h - 1) * w + x.min(w - 1)])
            };
            out[y * w + x] = v.round() as u8;
        }
    }
    FingerImage::new(w as u32, h as u32, None, out).unwrap()
}

#[test]
fn rotating_a_real_eye_image_shifts_its_code() {
    let Some(root) = iris_root() else { return };
    let enc = encoder();
    let layout = IrisLayout::DAUGMAN_2048;
    let m = IrisMatcher::for_layout(layout);
    let k = 4i32;
    for (path, _) in real_subset(&root, 2, 1) {
        let img = decode(&std::fs::read(root.join(&path)).unwrap(), None).unwrap();
        let Ok(base) = enc.encode(&img, layout) else {
            eprintln!("{path}: not enrolled, skipped");
            continue;
        };
        let p = base.segmentation.pupil;
        let turned = rotate_image(&img, p.x, p.y, TAU * k as f32 / layout.angular() as f32);
        let t = enc.encode(&turned, layout).unwrap();
        let (d, rotation) = hd(&m, &t.template, &base.template);
        assert!(
            (rotation + k).abs() <= 1,
            "{path}: rotation {rotation}, hd {d}"
        );
        assert!(d < 0.3, "{path}: hd {d}");
    }
}
