use super::super::geometry::angle_diff;
use super::*;
use std::f32::consts::TAU;

#[test]
fn fast_atan2_is_close() {
    for i in 0..360 {
        let a = (i as f32).to_radians() - PI + 0.001;
        let (y, x) = (a.sin() * 3.0, a.cos() * 3.0);
        let err = angle_diff(fast_atan2(y, x), y.atan2(x)).abs();
        assert!(err < 2e-4, "angle {a}: error {err}");
    }
}

#[test]
fn compatibility_is_the_f32_product_above_the_floor() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let tables = Tables::new(&MccParams::default());
    let samples: Vec<f32> = [
        &tables.distance.values[..],
        &tables.direction.values[..],
        &tables.radial.values[..],
    ]
    .concat();
    let floor = RHO_FLOOR as f32;
    let mut zeros = 0;
    for i in 0..200_000 {
        let mut pick = || {
            let r = next();
            if i % 2 == 0 {
                samples[(r % samples.len() as u64) as usize]
            } else {
                // Any magnitude down to 2⁻¹²⁶.
                f32::from_bits(0x0080_0000 + (r % (0x3f80_0000 - 0x0080_0000)) as u32)
            }
        };
        let (d, a, r) = (pick(), pick(), pick());
        let got = compatibility(d, a, r);
        let want = d * a * r;
        if want >= floor {
            assert_eq!(got.to_bits(), want.to_bits(), "{d} {a} {r}");
        } else {
            assert!(got == 0.0 || got >= floor, "{d} {a} {r}: {got}");
            zeros += usize::from(got == 0.0);
        }
        assert!(got == 0.0 || got.is_normal());
    }
    assert!(zeros > 1000, "{zeros} products below the floor");
    for t in [&tables.distance, &tables.direction, &tables.radial] {
        assert!(t
            .values
            .iter()
            .all(|&v| v == 0.0 || f64::from(v) >= RHO_FLOOR));
    }
}

#[test]
fn short_and_long_lists_sort_descending() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut spare = Vec::new();
    for len in [0, 1, 2, 7, 16, 31, 32, 33, 60] {
        let mut keys: Vec<u64> = (0..len as u64)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Few distinct high words: ties broken by the low word.
                ((x % 3) << 32) | (0xffff_ffff - i)
            })
            .collect();
        let mut want = keys.clone();
        want.sort_unstable_by(|a, b| b.cmp(a));
        sort_descending(&mut keys, &mut spare);
        assert_eq!(keys, want, "{len}");
    }
}

#[test]
fn total_order_is_that_of_total_cmp() {
    let values = [
        f32::NEG_INFINITY,
        -3.5,
        -1e-40,
        -0.0,
        0.0,
        1e-40,
        0.25,
        0.5,
        1.0,
        7.0,
        f32::INFINITY,
        f32::NAN,
    ];
    for x in values {
        for y in values {
            assert_eq!(
                total_order(x).cmp(&total_order(y)),
                x.total_cmp(&y),
                "{x} {y}"
            );
        }
    }
}

#[test]
fn pack_orders_by_similarity_then_index() {
    let mut keys = [pack(0.5, 3, 1), pack(0.9, 7, 7), pack(0.5, 1, 2)];
    keys.sort_unstable_by_key(|&k| Reverse(k));
    assert_eq!(unpack(keys[0]).0, 7);
    assert_eq!(unpack(keys[1]), (1, 2, 0.5));
    assert_eq!(unpack(keys[2]), (3, 1, 0.5));
}

/// Synthetic impressions of a few fingers: each finger's minutiae rotated, shifted,
/// jittered and thinned, so that mates pair many minutiae and strangers few.
fn impressions(seed: u64) -> Vec<crate::template::FingerTemplate> {
    use crate::template::{FingerTemplate, Minutia, MinutiaKind};
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 40) as f32 / (1u64 << 24) as f32
    };
    let mut out = Vec::new();
    for _ in 0..5 {
        let n = 15 + (next() * 50.0) as usize;
        let finger: Vec<(f32, f32, f32)> = (0..n)
            .map(|_| (20.0 + next() * 260.0, 20.0 + next() * 360.0, next() * TAU))
            .collect();
        for _ in 0..3 {
            let turn = (next() - 0.5) * 0.8;
            let (dx, dy) = ((next() - 0.5) * 50.0, (next() - 0.5) * 50.0);
            let (sin, cos) = turn.sin_cos();
            let mut minutiae = Vec::new();
            for &(x, y, a) in &finger {
                if next() < 0.15 {
                    continue;
                }
                let (cx, cy) = (x - 150.0, y - 200.0);
                let nx = 150.0 + cos * cx - sin * cy + dx + (next() - 0.5) * 6.0;
                let ny = 200.0 + sin * cx + cos * cy + dy + (next() - 0.5) * 6.0;
                if !(0.0..300.0).contains(&nx) || !(0.0..400.0).contains(&ny) {
                    continue;
                }
                let angle = (a - turn + (next() - 0.5) * 0.2).rem_euclid(TAU);
                minutiae.push(Minutia {
                    x: nx as u16,
                    y: ny as u16,
                    angle: ((angle / TAU * 256.0) as u32 % 256) as u8,
                    kind: MinutiaKind::Ending,
                    quality: 0,
                });
            }
            out.push(FingerTemplate {
                width: 300,
                height: 400,
                position: 0,
                quality: 0,
                minutiae,
            });
        }
    }
    out
}

fn pairing_params(gate: f32) -> MccParams {
    let mut params = MccParams::default();
    for set in [
        "min_np=3",
        "max_np=12",
        "relax_weight=0.5",
        "pair_weight=0.5",
        "pair_distance=14",
        "pair_growth=0.15",
        "pair_floor=8",
        "pair_overlap_np=1",
    ] {
        params.set(set).expect("a valid setting");
    }
    params.pair_gate = gate;
    params
}

#[test]
fn below_the_gate_the_score_is_the_local_score() {
    use crate::finger::FingerMatcher;
    let templates = impressions(3);
    let full = FingerMatcher::new(pairing_params(0.0));
    let local = FingerMatcher::new(MccParams {
        pair_weight: 0.0,
        ..pairing_params(0.0)
    });
    let t: Vec<_> = templates.iter().map(|t| full.prepare(t)).collect();
    // The gate between the lowest and highest local scores of the set.
    let mut scores: Vec<f32> = t
        .iter()
        .flat_map(|a| t.iter().map(|b| local.compare(a, b)))
        .collect();
    scores.sort_by(f32::total_cmp);
    let gate = scores[scores.len() / 2];
    let gated = FingerMatcher::new(pairing_params(gate));
    let (mut skipped, mut paired) = (0, 0);
    for a in &t {
        for b in &t {
            let s = local.compare(a, b);
            let got = gated.compare_detailed(a, b);
            if s < gate {
                assert_eq!(got.score.to_bits(), s.to_bits());
                skipped += 1;
            } else {
                assert_eq!(got, full.compare_detailed(a, b));
                paired += 1;
            }
            // The pairs behind the score do not depend on the gate.
            assert_eq!(got.pairs, full.compare_detailed(a, b).pairs);
        }
    }
    assert!(
        skipped > 50 && paired > 50,
        "{skipped} skipped, {paired} paired"
    );
    assert!(MccParams::default().set("pair_gate=1.5").is_err());
}
