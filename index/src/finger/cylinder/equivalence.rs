//! The fast cylinder construction against the straightforward one: identical templates on
//! every real FVC2002 template and on synthetic minutiae sets, including degenerate ones.

use std::path::Path;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::reference::prepare_reference;
use super::{prepare_into, CylinderTables, PrepareScratch, PreparedTemplate};
use crate::finger::geometry::{convex_hull, within_hull, HullTest, Point};
use crate::finger::kernel;
use crate::finger::params::MccParams;
use crate::template::{self, FingerTemplate, Minutia};

/// Asserts that two prepared templates are the same to the bit, naming the first difference.
fn assert_same(fast: &PreparedTemplate, reference: &PreparedTemplate, what: &str) {
    assert_eq!(fast.stride, reference.stride, "{what}: stride");
    assert_eq!(fast.minutiae, reference.minutiae, "{what}: minutiae");
    assert_eq!(fast.source_index, reference.source_index, "{what}: order");
    assert_eq!(fast.directions, reference.directions, "{what}: directions");
    let bits = |p: &[Point]| -> Vec<[u32; 3]> {
        p.iter()
            .map(|p| [p.x.to_bits(), p.y.to_bits(), p.theta.to_bits()])
            .collect()
    };
    assert_eq!(
        bits(&fast.points),
        bits(&reference.points),
        "{what}: points"
    );
    if let Some(w) =
        (0..fast.bits.len().min(reference.bits.len())).find(|&w| fast.bits[w] != reference.bits[w])
    {
        panic!(
            "{what}: cylinder {} word {} differs: {:#018x} vs {:#018x}",
            w / fast.stride.max(1),
            w % fast.stride.max(1),
            fast.bits[w],
            reference.bits[w]
        );
    }
    assert_eq!(fast.bits.len(), reference.bits.len(), "{what}: bits length");
    assert_eq!(fast, reference, "{what}");
}

/// Checks the fast construction with every summing body this CPU has against the
/// reference.
fn check(t: &FingerTemplate, params: &MccParams, scratch: &mut PrepareScratch, what: &str) {
    let tables = CylinderTables::new(params);
    let reference = prepare_reference(t, params, &tables);
    for kernel in kernel::available() {
        let tables = tables.clone().with_kernel(kernel);
        let fast = prepare_into(t, params, &tables, scratch);
        assert_same(&fast, &reference, &format!("{what} ({kernel:?})"));
    }
}

/// Matcher parameters the construction must agree under: the defaults and variants that
/// move every quantity the fast path depends on.
fn parameter_sets() -> Vec<(&'static str, MccParams)> {
    let d = MccParams::default();
    vec![
        ("default", d.clone()),
        (
            "ns16 nd8",
            MccParams {
                ns: 16,
                nd: 8,
                ..d.clone()
            },
        ),
        (
            "wide reach",
            MccParams {
                sigma_s: 20.0,
                radius: 90.0,
                ..d.clone()
            },
        ),
        (
            "no margin",
            MccParams {
                omega: 0.0,
                min_vc: 0.0,
                ..d.clone()
            },
        ),
        (
            "negative margin",
            MccParams {
                omega: -30.0,
                ..d.clone()
            },
        ),
        (
            "zero radius",
            MccParams {
                radius: 0.0,
                min_vc: 0.0,
                ..d.clone()
            },
        ),
        (
            "keep all",
            MccParams {
                min_m: 0,
                min_vc: 0.0,
                ..d
            },
        ),
    ]
}

#[test]
fn identical_on_every_fvc2002_template() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/fvc2002-iso");
    if !root.is_dir() {
        eprintln!("skipping: {} is absent", root.display());
        return;
    }
    let params = MccParams::default();
    let mut scratch = PrepareScratch::default();
    let mut checked = 0;
    for db in 1..=4 {
        let dir = root.join(format!("DB{db}_B"));
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "iso"))
            .collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).unwrap();
            let record = template::decode(&bytes).unwrap();
            let t = record.template(0).unwrap();
            check(&t, &params, &mut scratch, &path.display().to_string());
            checked += 1;
        }
    }
    assert_eq!(checked, 320, "FVC2002 DB1–DB4 set B has 320 templates");
}

#[test]
fn identical_on_fvc2002_under_other_parameters() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/fvc2002-iso");
    if !root.is_dir() {
        eprintln!("skipping: {} is absent", root.display());
        return;
    }
    let mut scratch = PrepareScratch::default();
    for (name, params) in parameter_sets() {
        for db in 1..=4 {
            for impression in [1, 5] {
                let path = root.join(format!("DB{db}_B/10{db}_{impression}.iso"));
                let bytes = std::fs::read(&path).unwrap();
                let t = template::decode(&bytes).unwrap().template(0).unwrap();
                check(
                    &t,
                    &params,
                    &mut scratch,
                    &format!("{name} {}", path.display()),
                );
            }
        }
    }
}

fn template_of(minutiae: Vec<Minutia>) -> FingerTemplate {
    FingerTemplate {
        width: 500,
        height: 500,
        position: 1,
        quality: 60,
        minutiae,
    }
}

fn minutia(x: u16, y: u16, angle: u8) -> Minutia {
    Minutia {
        x,
        y,
        angle,
        ..Minutia::default()
    }
}

/// A random finger-like minutiae set: `n` minutiae in a `w`×`h` area at `(x0, y0)`, some
/// of them repeated at the same position (with the same or another direction).
fn random_template(rng: &mut ChaCha8Rng, n: usize) -> FingerTemplate {
    let (w, h) = (rng.gen_range(1..450u16), rng.gen_range(1..500u16));
    let (x0, y0) = (rng.gen_range(0..200u16), rng.gen_range(0..200u16));
    let mut minutiae: Vec<Minutia> = (0..n)
        .map(|_| {
            minutia(
                x0 + rng.gen_range(0..w),
                y0 + rng.gen_range(0..h),
                rng.gen(),
            )
        })
        .collect();
    for _ in 0..n / 8 {
        let m = minutiae[rng.gen_range(0..n)];
        let angle = if rng.gen_bool(0.5) {
            m.angle
        } else {
            rng.gen()
        };
        minutiae.push(minutia(m.x, m.y, angle));
    }
    template_of(minutiae)
}

#[test]
fn identical_on_degenerate_minutiae_sets() {
    let mut scratch = PrepareScratch::default();
    let border = |x, y| {
        template_of(vec![
            minutia(x, y, 0),
            minutia(x, y.saturating_add(20), 64),
            minutia(x.saturating_add(30), y, 128),
            minutia(x.saturating_add(10), y.saturating_add(10), 200),
        ])
    };
    let mut cases = vec![
        ("empty", template_of(vec![])),
        ("one", template_of(vec![minutia(100, 100, 3)])),
        (
            "two",
            template_of(vec![minutia(100, 100, 3), minutia(120, 110, 90)]),
        ),
        ("same place", template_of(vec![minutia(100, 100, 3); 5])),
        (
            "collinear",
            template_of(
                (0..8)
                    .map(|i| minutia(50 + 20 * i, 80, (36 * i) as u8))
                    .collect(),
            ),
        ),
        ("top-left border", border(0, 0)),
        ("far corner", border(u16::MAX - 40, u16::MAX - 40)),
        ("x border", border(0, 300)),
        ("y border", border(300, 0)),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for n in [3, 4, 7, 20, 40, 60, 100] {
        for _ in 0..10 {
            cases.push(("random", random_template(&mut rng, n)));
        }
    }
    for (name, params) in parameter_sets() {
        for (i, (what, t)) in cases.iter().enumerate() {
            check(
                t,
                &params,
                &mut scratch,
                &format!("{name}: case {i} ({what})"),
            );
        }
    }
}

#[test]
fn hull_test_answers_as_within_hull() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut test = HullTest::default();
    for n in [0usize, 1, 2, 3, 5, 12, 40] {
        for _ in 0..20 {
            let points: Vec<Point> = (0..n)
                .map(|_| Point {
                    x: f32::from(rng.gen_range(0..400u16)),
                    y: -f32::from(rng.gen_range(0..400u16)),
                    theta: 0.0,
                })
                .collect();
            let hull = convex_hull(&points);
            for margin in [0.0f32, 10.0, 50.0, -20.0] {
                test.rebuild(&points, margin);
                assert_eq!(test.vertices(), hull.as_slice());
                let xs: Vec<f32> = (0..300).map(|_| rng.gen_range(-100.0..500.0)).collect();
                let ys: Vec<f32> = (0..300).map(|_| rng.gen_range(-500.0..100.0)).collect();
                let wanted: Vec<bool> = (0..300).map(|i| i % 7 != 3).collect();
                let mut many = vec![vec![true; 300]; 3];
                for (k, m) in kernel::available().into_iter().zip(many.iter_mut()) {
                    test.contains_many(k, &xs, &ys, &wanted, m);
                }
                for i in 0..300 {
                    let (x, y) = (xs[i], ys[i]);
                    let expected = within_hull(&hull, x, y, margin);
                    assert_eq!(
                        test.contains(x, y),
                        expected,
                        "({x}, {y}) margin {margin} hull {hull:?}"
                    );
                    for (k, m) in kernel::available().into_iter().zip(&many) {
                        assert_eq!(m[i], wanted[i] && expected, "{k:?}: ({x}, {y}) {margin}");
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn identical_on_arbitrary_minutiae(
        raw in proptest::collection::vec((0u16..600, 0u16..600, any::<u8>()), 0..70),
        repeat in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let mut minutiae: Vec<Minutia> = raw.iter().map(|&(x, y, a)| minutia(x, y, a)).collect();
        if !minutiae.is_empty() {
            for r in &repeat {
                let m = minutiae[r.index(minutiae.len())];
                minutiae.push(m);
            }
        }
        let t = template_of(minutiae);
        let params = MccParams::default();
        let tables = CylinderTables::new(&params);
        let reference = prepare_reference(&t, &params, &tables);
        for kernel in kernel::available() {
            let tables = tables.clone().with_kernel(kernel);
            let fast = prepare_into(&t, &params, &tables, &mut PrepareScratch::default());
            prop_assert_eq!(&fast, &reference, "{:?}", kernel);
        }
    }
}
