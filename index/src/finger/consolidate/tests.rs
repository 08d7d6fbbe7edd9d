use super::super::geometry::angle_diff;
use super::*;

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
