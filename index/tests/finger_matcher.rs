//! Behaviour of the fingerprint matcher: rotation and translation invariance, matched pairs,
//! degenerate templates, and separation of genuine from impostor pairs on real data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tunggal_index::finger::FingerMatcher;
use tunggal_index::template::{iso, FingerTemplate, Minutia, MinutiaKind};

fn fvc_root() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/fvc2002-iso");
    if root.is_dir() {
        Some(root)
    } else {
        eprintln!(
            "skipping: real FVC templates not found at {}",
            root.display()
        );
        None
    }
}

fn load(path: &Path) -> FingerTemplate {
    let bytes = std::fs::read(path).unwrap();
    iso::decode(&bytes).unwrap().template(0).unwrap()
}

/// A random but finger-like template: minutiae at least 10 px apart in a 300×400 window.
fn synthetic(seed: u64, count: usize) -> FingerTemplate {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut minutiae: Vec<Minutia> = Vec::new();
    while minutiae.len() < count {
        let (x, y) = (rng.gen_range(60..340u16), rng.gen_range(60..440u16));
        let far = minutiae.iter().all(|m| {
            let (dx, dy) = (f32::from(m.x) - f32::from(x), f32::from(m.y) - f32::from(y));
            dx * dx + dy * dy >= 100.0
        });
        if far {
            let kind = if rng.gen_bool(0.6) {
                MinutiaKind::Ending
            } else {
                MinutiaKind::Bifurcation
            };
            minutiae.push(Minutia {
                x,
                y,
                angle: rng.gen(),
                kind,
                quality: 60,
            });
        }
    }
    FingerTemplate {
        width: 400,
        height: 500,
        position: 2,
        quality: 60,
        minutiae,
    }
}

/// Rotates a template by `degrees` counter-clockwise as seen on the image about its centre,
/// then translates it by (dx, dy), keeping every coordinate in range.
fn rotate(t: &FingerTemplate, degrees: f32, dx: f32, dy: f32) -> FingerTemplate {
    let n = t.minutiae.len().max(1) as f32;
    let cx = t.minutiae.iter().map(|m| f32::from(m.x)).sum::<f32>() / n;
    let cy = t.minutiae.iter().map(|m| f32::from(m.y)).sum::<f32>() / n;
    // Directions are stored in 1/256 turns: rotate positions by the same quantised angle.
    let turn = (degrees / 360.0 * 256.0).round() as i32;
    let phi = (turn as f32 * 360.0 / 256.0).to_radians();
    // Image axes have y down: a visually counter-clockwise turn is clockwise in (x, y).
    let minutiae = t
        .minutiae
        .iter()
        .map(|m| {
            let (x, y) = (f32::from(m.x) - cx, f32::from(m.y) - cy);
            let xr = x * phi.cos() + y * phi.sin();
            let yr = -x * phi.sin() + y * phi.cos();
            Minutia {
                x: (cx + xr + dx + 200.0).round() as u16,
                y: (cy + yr + dy + 200.0).round() as u16,
                angle: (i32::from(m.angle) + turn).rem_euclid(256) as u8,
                ..*m
            }
        })
        .collect();
    FingerTemplate {
        width: t.width + 600,
        height: t.height + 600,
        minutiae,
        ..t.clone()
    }
}

fn assert_rotation_invariant(matcher: &FingerMatcher, t: &FingerTemplate, name: &str) {
    let base = matcher.prepare(t);
    let reference = matcher.compare(&base, &matcher.prepare(&rotate(t, 0.0, 0.0, 0.0)));
    assert!(reference > 0.5, "{name}: self score {reference}");
    for degrees in [-45.0, -30.0, -17.0, -5.0, 5.0, 12.0, 30.0, 45.0] {
        let moved = matcher.prepare(&rotate(t, degrees, 37.0, -21.0));
        let score = matcher.compare(&base, &moved);
        assert!(
            score >= 0.95 * reference,
            "{name}: rotated by {degrees}°: {score} against unrotated {reference}"
        );
    }
}

#[test]
fn rotation_and_translation_keep_the_score_on_synthetic_templates() {
    let matcher = FingerMatcher::default();
    for seed in 0..6 {
        assert_rotation_invariant(&matcher, &synthetic(seed, 40), &format!("synthetic {seed}"));
    }
}

#[test]
fn rotation_and_translation_keep_the_score_on_real_templates() {
    let Some(root) = fvc_root() else { return };
    let matcher = FingerMatcher::default();
    for db in ["DB1_B", "DB2_B", "DB3_B", "DB4_B"] {
        for stem in ["101_1", "105_3", "110_8"] {
            let t = load(&root.join(db).join(format!("{stem}.iso")));
            if t.minutiae.len() >= 15 {
                assert_rotation_invariant(&matcher, &t, &format!("{db}/{stem}"));
            }
        }
    }
}

#[test]
fn a_wrongly_handed_rotation_is_not_a_match() {
    // Rotating positions one way and directions the other breaks the geometry: the matcher
    // must notice, or it has lost the angle convention.
    let matcher = FingerMatcher::default();
    let t = synthetic(42, 40);
    let mut wrong = rotate(&t, 30.0, 0.0, 0.0);
    for (m, orig) in wrong.minutiae.iter_mut().zip(&t.minutiae) {
        m.angle = orig.angle.wrapping_sub(21);
    }
    let base = matcher.prepare(&t);
    let right = matcher.compare(&base, &matcher.prepare(&rotate(&t, 30.0, 0.0, 0.0)));
    let wrong = matcher.compare(&base, &matcher.prepare(&wrong));
    assert!(
        wrong < 0.5 * right,
        "wrong handedness {wrong} vs right {right}"
    );
}

#[test]
fn self_match_pairs_each_minutia_with_itself() {
    let matcher = FingerMatcher::default();
    let t = synthetic(7, 35);
    let p = matcher.prepare(&t);
    let detail = matcher.compare_detailed(&p, &p);
    assert!(!detail.pairs.is_empty());
    assert!((detail.score - matcher.compare(&p, &p)).abs() < 1e-6);
    for pair in &detail.pairs {
        assert_eq!(pair.probe, pair.gallery);
        assert!(usize::from(pair.probe) < t.minutiae.len());
        assert!(pair.strength > 0.0 && pair.strength <= 1.0);
    }
}

#[test]
fn degenerate_templates_score_zero() {
    let matcher = FingerMatcher::default();
    let full = matcher.prepare(&synthetic(1, 30));
    for count in [0, 1, 2] {
        let tiny = matcher.prepare(&synthetic(9, count));
        assert_eq!(matcher.compare(&tiny, &full), 0.0, "{count} minutiae");
        assert_eq!(matcher.compare(&full, &tiny), 0.0, "{count} minutiae");
    }
}

#[test]
fn genuine_pairs_outscore_impostor_pairs_on_real_data() {
    let Some(root) = fvc_root() else { return };
    let matcher = FingerMatcher::default();
    let dir = root.join("DB1_B");
    let prepared: Vec<(u32, _)> = (101..=110)
        .flat_map(|f| (1..=4).map(move |i| (f, i)))
        .map(|(f, i)| (f, matcher.prepare(&load(&dir.join(format!("{f}_{i}.iso"))))))
        .collect();
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for (i, (fa, a)) in prepared.iter().enumerate() {
        for (fb, b) in &prepared[i + 1..] {
            let s = matcher.compare(a, b);
            if fa == fb {
                genuine.push(s)
            } else {
                impostor.push(s)
            }
        }
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let mut sorted = impostor.clone();
    sorted.sort_by(f32::total_cmp);
    let p99 = sorted[sorted.len() * 99 / 100];
    let above = genuine.iter().filter(|&&s| s > p99).count();
    assert!(mean(&genuine) > 2.0 * mean(&impostor));
    // Most genuine pairs score above the 99th percentile of impostors.
    assert!(
        above * 10 >= genuine.len() * 8,
        "{above} of {} genuine above {p99}",
        genuine.len()
    );
}
