//! The fingerprint matcher's kernels on real templates: every kernel agrees with the portable one
//! bit for bit, and the score does not depend on the order of the two templates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tunggal_index::finger::kernel::{self, Kernel};
use tunggal_index::finger::{FingerMatcher, MccParams, PreparedTemplate};
use tunggal_index::template::{self, FingerTemplate, Minutia, MinutiaKind};

fn fvc_root() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/fvc2002-iso");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: {} is absent", dir.display());
        None
    }
}

/// The templates of one FVC database, in finger-major order.
fn database(root: &Path, db: u32) -> Vec<FingerTemplate> {
    let mut out = Vec::new();
    for finger in 101..=110 {
        for impression in 1..=8 {
            let path = root.join(format!("DB{db}_B/{finger}_{impression}.iso"));
            let bytes = std::fs::read(&path).unwrap();
            out.push(template::decode(&bytes).unwrap().template(0).unwrap());
        }
    }
    out
}

fn prepared(matcher: &FingerMatcher, root: &Path, db: u32) -> Vec<PreparedTemplate> {
    database(root, db)
        .iter()
        .map(|t| matcher.prepare(t))
        .collect()
}

#[test]
fn compare_is_symmetric_on_fvc() {
    let Some(root) = fvc_root() else { return };
    let matcher = FingerMatcher::default();
    let mut worst = 0.0f32;
    let mut differing = 0;
    let mut pairs = 0;
    for db in 1..=4 {
        let t = prepared(&matcher, &root, db);
        for (i, a) in t.iter().enumerate() {
            for b in &t[i + 1..] {
                let d = (matcher.compare(a, b) - matcher.compare(b, a)).abs();
                worst = worst.max(d);
                differing += usize::from(d > 0.0);
                pairs += 1;
            }
        }
    }
    eprintln!("{differing} of {pairs} pairs differ; largest difference {worst}");
    assert!(worst < 1e-3, "largest difference {worst}");
}

#[test]
fn every_kernel_agrees_with_the_portable_one_bit_for_bit_on_fvc() {
    let Some(root) = fvc_root() else { return };
    let portable = FingerMatcher::default().with_kernel(Kernel::Portable);
    for kernel in kernel::available() {
        let fast = FingerMatcher::default().with_kernel(kernel);
        agree_on_fvc(&root, &portable, &fast, kernel);
    }
}

#[test]
fn every_kernel_agrees_bit_for_bit_with_aligned_pairing() {
    let Some(root) = fvc_root() else { return };
    // The defaults (matcher version 2) have the pairing stage; version 1 has none.
    let params = MccParams::default();
    assert!(params.pair_weight > 0.0);
    let portable = FingerMatcher::new(params.clone()).with_kernel(Kernel::Portable);
    let plain = FingerMatcher::new(MccParams::v1());
    let t = prepared(&portable, &root, 3);
    // The option changes scores (so this test exercises the pairing stage).
    let changed = (0..8)
        .filter(|&i| portable.compare(&t[0], &t[i]) != plain.compare(&t[0], &t[i]))
        .count();
    assert!(changed >= 4, "{changed}");
    for kernel in kernel::available() {
        let fast = FingerMatcher::new(params.clone()).with_kernel(kernel);
        agree_on_fvc(&root, &portable, &fast, kernel);
    }
}

fn agree_on_fvc(root: &Path, portable: &FingerMatcher, fast: &FingerMatcher, kernel: Kernel) {
    let mut compared = 0;
    for db in 1..=4 {
        let t = prepared(portable, root, db);
        for (i, a) in t.iter().enumerate() {
            for b in &t[i..] {
                let (x, y) = (fast.compare(a, b), portable.compare(a, b));
                assert_eq!(x.to_bits(), y.to_bits(), "{kernel:?} DB{db}: {x} vs {y}");
                let (dx, dy) = (fast.compare_detailed(a, b), portable.compare_detailed(a, b));
                assert_eq!(dx, dy, "{kernel:?} DB{db}");
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 4 * 80 * 81 / 2);
}

/// A random finger: `n` minutiae spread over a 300×400 area.
fn random_finger(rng: &mut ChaCha8Rng, n: usize) -> Vec<(f32, f32, f32)> {
    (0..n)
        .map(|_| {
            (
                rng.gen_range(20.0..280.0),
                rng.gen_range(20.0..380.0),
                rng.gen_range(0.0..std::f32::consts::TAU),
            )
        })
        .collect()
}

/// An impression of `finger`: rotated, shifted, jittered, with some minutiae lost.
fn impression(rng: &mut ChaCha8Rng, finger: &[(f32, f32, f32)]) -> FingerTemplate {
    let turn: f32 = rng.gen_range(-0.4..0.4);
    let (dx, dy) = (rng.gen_range(-25.0..25.0), rng.gen_range(-25.0..25.0));
    let (sin, cos) = turn.sin_cos();
    let kept: Vec<_> = finger
        .iter()
        .filter(|_| rng.gen_bool(0.85))
        .copied()
        .collect();
    let minutiae = kept
        .into_iter()
        .filter_map(|(x, y, a)| {
            let (cx, cy) = (x - 150.0, y - 200.0);
            let nx = 150.0 + cos * cx - sin * cy + dx + rng.gen_range(-3.0..3.0);
            let ny = 200.0 + sin * cx + cos * cy + dy + rng.gen_range(-3.0..3.0);
            if !(0.0..300.0).contains(&nx) || !(0.0..400.0).contains(&ny) {
                return None;
            }
            let angle = (a - turn + rng.gen_range(-0.1..0.1)).rem_euclid(std::f32::consts::TAU);
            Some(Minutia {
                x: nx as u16,
                y: ny as u16,
                angle: ((angle / std::f32::consts::TAU * 256.0) as u32 % 256) as u8,
                kind: MinutiaKind::Ending,
                quality: 0,
            })
        })
        .collect();
    FingerTemplate {
        width: 300,
        height: 400,
        position: 0,
        quality: 0,
        minutiae,
    }
}

#[test]
fn kernels_agree_and_compare_is_symmetric_on_synthetic_templates() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut templates = Vec::new();
    for _ in 0..6 {
        let n = rng.gen_range(15..70);
        let finger = random_finger(&mut rng, n);
        for _ in 0..3 {
            templates.push(impression(&mut rng, &finger));
        }
    }
    let mut wide = MccParams::default();
    wide.set("ns=16").unwrap();
    for params in [MccParams::default(), wide] {
        let portable = FingerMatcher::new(params.clone()).with_kernel(Kernel::Portable);
        let t: Vec<_> = templates.iter().map(|t| portable.prepare(t)).collect();
        for kernel in kernel::available() {
            let fast = FingerMatcher::new(params.clone()).with_kernel(kernel);
            let mut matched = 0;
            for a in &t {
                for b in &t {
                    let x = fast.compare_detailed(a, b);
                    assert_eq!(x, portable.compare_detailed(a, b), "{kernel:?}");
                    // A template without its sweep layout (as built by hand) is laid out
                    // per comparison, to the same result.
                    let mut bare = b.clone();
                    bare.layout = Default::default();
                    assert_eq!(x, fast.compare_detailed(a, &bare), "{kernel:?} bare");
                    assert_eq!(x.score.to_bits(), fast.compare(b, a).to_bits());
                    matched += usize::from(x.score > 0.25);
                }
            }
            // Beyond every template against itself, impressions of one finger match: the
            // comparisons went through the whole path.
            assert!(
                matched >= t.len() + 6,
                "{kernel:?}: {matched} strong scores"
            );
        }
    }
}
