//! The fingerprint matcher's kernels on real templates: the AVX2 and portable kernels agree
//! bit for bit, and the score does not depend on the order of the two templates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use tunggal_index::finger::kernel::Kernel;
use tunggal_index::finger::{FingerMatcher, PreparedTemplate};
use tunggal_index::template::{self, FingerTemplate};

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
fn avx2_and_portable_kernels_agree_bit_for_bit_on_fvc() {
    let Some(root) = fvc_root() else { return };
    let avx2 = FingerMatcher::default().with_kernel(Kernel::Avx2);
    let portable = FingerMatcher::default().with_kernel(Kernel::Portable);
    let mut compared = 0;
    for db in 1..=4 {
        let t = prepared(&portable, &root, db);
        for (i, a) in t.iter().enumerate() {
            for b in &t[i..] {
                let (x, y) = (avx2.compare(a, b), portable.compare(a, b));
                assert_eq!(x.to_bits(), y.to_bits(), "DB{db}: {x} vs {y}");
                let (dx, dy) = (avx2.compare_detailed(a, b), portable.compare_detailed(a, b));
                assert_eq!(dx, dy);
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 4 * 80 * 81 / 2);
}
