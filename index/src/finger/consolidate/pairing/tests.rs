use super::*;

fn moved(points: &[Point], angle: f32, tx: f32, ty: f32) -> Vec<Point> {
    let (s, c) = angle.sin_cos();
    points
        .iter()
        .map(|p| Point {
            x: c * p.x - s * p.y + tx,
            y: s * p.x + c * p.y + ty,
            theta: (p.theta + angle).rem_euclid(TAU),
        })
        .collect()
}

fn spread(n: usize, seed: u64) -> Vec<Point> {
    let mut x = seed;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 40) as f32 / (1u64 << 24) as f32
    };
    (0..n)
        .map(|_| Point {
            x: next() * 250.0,
            y: -next() * 350.0,
            // Directions on the templates' grid of 1/256 turns.
            theta: (next() * 256.0).floor() * (TAU / 256.0),
        })
        .collect()
}

/// A template of these minutiae (no cylinders; `with_hull`: the hull built in advance,
/// as preparation does).
fn template(points: Vec<Point>, with_hull: bool) -> PreparedTemplate {
    let directions = points
        .iter()
        .map(|p| (turns(p.theta).rem_euclid(256)) as u8)
        .collect();
    let mut t = PreparedTemplate {
        points,
        directions,
        ..Default::default()
    };
    if with_hull {
        t.layout.hull = Hull::of(&t.points);
    }
    t
}

fn every_pair(na: usize, nb: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..na).flat_map(move |a| (0..nb).map(move |b| (a, b)))
}

/// An angle of `k` 1/256 turns.
fn turn(k: i32) -> f32 {
    k as f32 * (TAU / 256.0)
}

#[test]
fn alignment_recovers_a_rigid_motion() {
    let b = template(spread(30, 7), false);
    let a = template(moved(&b.points, turn(25), 40.0, -25.0), false);
    let pairs: Vec<(u16, u16, f32)> = (0..5).map(|i| (i, i, 1.0)).collect();
    let al = Alignment::of(&a, &b, &pairs).expect("weighted pairs");
    assert!((al.angle - turn(25)).abs() < 1e-3, "{}", al.angle);
    for (p, q) in a.points.iter().zip(&b.points) {
        let (x, y) = al.forward(q.x, q.y);
        assert!((x - p.x).abs() < 0.05 && (y - p.y).abs() < 0.05);
        let (u, v) = al.backward(p.x, p.y);
        assert!((u - q.x).abs() < 0.05 && (v - q.y).abs() < 0.05);
    }
    assert!(Alignment::of(&a, &b, &[(0, 0, 0.0)]).is_none());
}

#[test]
fn a_moved_copy_pairs_fully_and_a_stranger_barely() {
    let params = MccParams {
        pair_weight: 0.5,
        ..MccParams::default()
    };
    let mut s = PairingScratch::default();
    let b = template(spread(35, 11), true);
    let a = template(moved(&b.points, turn(-45), -60.0, 15.0), false);
    let chosen: Vec<(u16, u16, f32)> = (0..6).map(|i| (i, i, 0.8)).collect();
    let o = Overlap::of(&a, &b, &chosen, &params, &mut s).expect("aligned");
    assert_eq!((o.a_inside, o.b_inside), (35, 35));
    let (score, m) = pairing_score(&a, &b, &o, every_pair(35, 35), &params, &mut s);
    assert_eq!(m, 35);
    assert!((score - 1.0).abs() < 1e-6, "{score}");
    // The candidates in reverse order: the same count.
    let rev: Vec<(usize, usize)> = every_pair(35, 35).collect();
    let (_, m) = pairing_score(&a, &b, &o, rev.into_iter().rev(), &params, &mut s);
    assert_eq!(m, 35);
    // An unrelated print aligned on six arbitrary pairs.
    let c = template(spread(35, 99), true);
    let o = Overlap::of(&a, &c, &chosen, &params, &mut s).expect("aligned");
    let (score, m) = pairing_score(&a, &c, &o, every_pair(35, 35), &params, &mut s);
    assert!(m < 15, "{m}");
    assert!(score < 0.2, "{score}");
}

#[test]
fn only_the_common_area_normalises() {
    let params = MccParams {
        pair_weight: 0.5,
        pair_floor: 5.0,
        ..MccParams::default()
    };
    let mut s = PairingScratch::default();
    // B is a print whose lower half A does not show; A's copy of the upper half is exact.
    let b = template(spread(40, 5), false);
    let index: Vec<usize> = (0..40).filter(|&i| b.points[i].y > -175.0).collect();
    let upper: Vec<Point> = index.iter().map(|&i| b.points[i]).collect();
    let a = template(moved(&upper, turn(12), 10.0, 10.0), true);
    let chosen: Vec<(u16, u16, f32)> = (0..5).map(|i| (i as u16, index[i] as u16, 1.0)).collect();
    let o = Overlap::of(&a, &b, &chosen, &params, &mut s).expect("aligned");
    assert_eq!(o.a_inside, a.points.len());
    assert!(o.b_inside < 40, "{}", o.b_inside);
    let cands = (0..index.len()).map(|i| (i, index[i]));
    let (score, m) = pairing_score(&a, &b, &o, cands, &params, &mut s);
    assert_eq!(m, a.points.len());
    // Far above the global normalisation m² / (|A| |B|).
    let global = (m * m) as f32 / (a.points.len() * 40) as f32;
    assert!(score > 0.8 && score > global * 1.5, "{score} vs {global}");
}

#[test]
fn a_prepared_hull_is_the_one_built_on_the_fly() {
    let params = MccParams::default();
    let b = spread(25, 3);
    let a = moved(&b, turn(8), 5.0, 5.0);
    let chosen: Vec<(u16, u16, f32)> = (0..4).map(|i| (i, i, 1.0)).collect();
    let mut s = PairingScratch::default();
    let with = Overlap::of(
        &template(a.clone(), true),
        &template(b.clone(), true),
        &chosen,
        &params,
        &mut s,
    );
    let without = Overlap::of(
        &template(a, false),
        &template(b, false),
        &chosen,
        &params,
        &mut s,
    );
    assert_eq!(with, without);
}

#[test]
fn counting_edge_by_edge_is_testing_point_by_point() {
    for seed in 1..30u64 {
        let hull = Hull::of(&spread(3 + seed as usize % 40, seed));
        let probe = spread(57, seed + 100);
        let xs: Vec<f32> = probe.iter().map(|p| p.x * 1.2 - 20.0).collect();
        let ys: Vec<f32> = probe.iter().map(|p| p.y * 1.2 + 30.0).collect();
        for margin in [0.0, 14.0, 40.0] {
            let one_by_one = xs
                .iter()
                .zip(&ys)
                .filter(|&(&x, &y)| hull.contains(x, y, margin))
                .count();
            let counted = hull.count_inside(&xs, &ys, margin, &mut Vec::new());
            assert_eq!(counted, one_by_one, "seed {seed}, margin {margin}");
        }
    }
}
