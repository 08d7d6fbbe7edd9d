use super::*;
use crate::iris::CoarseConfig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A random code whose bits repeat along the angle with probability 0.9 (as the bits of
/// real codes are correlated over neighbouring positions), with about an eighth of its
/// bits masked.
fn random(layout: IrisLayout, rng: &mut ChaCha8Rng) -> IrisTemplate {
    let mut t = IrisTemplate::empty(layout);
    let bpp = layout.bits_per_position();
    for row in 0..layout.rows() {
        for b in 0..bpp {
            let mut bit = rng.gen::<bool>();
            for a in 0..layout.angular() {
                if rng.gen_bool(0.1) {
                    bit = !bit;
                }
                let i = row * layout.row_bits() + a * bpp + b;
                t.set_code_bit(i, bit);
                t.set_mask_bit(i, !rng.gen_bool(0.125));
            }
        }
    }
    t
}

/// `t` rotated within the window with about `1/8` of its code bits flipped.
fn genuine(t: &IrisTemplate, rotation: i32, rng: &mut ChaCha8Rng) -> IrisTemplate {
    let r = t.rotated(rotation);
    let code = r
        .code()
        .iter()
        .map(|w| w ^ (rng.gen::<u64>() & rng.gen::<u64>() & rng.gen::<u64>()))
        .collect();
    IrisTemplate::from_words(t.layout(), code, r.mask().to_vec()).unwrap()
}

fn scan(m: &IrisMatcher, q: &IrisQuery, words: &[u64], s: ScanStrategy) -> Vec<IrisHit> {
    let records = IrisRecords::new(m.layout(), words).unwrap();
    let mut hits = Vec::new();
    m.scan(q, records, 0, s, &mut hits).unwrap();
    hits
}

#[test]
fn coarse_hits_are_full_hits_and_keep_every_genuine() {
    let layout = IrisLayout::DAUGMAN_2048;
    let m = IrisMatcher::for_layout(layout);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for kernel in Kernel::available() {
        let m = m.with_kernel(kernel);
        for _ in 0..4 {
            let probe = random(layout, &mut rng);
            let mut words = Vec::new();
            let mut genuines = Vec::new();
            for i in 0..150 {
                let t = if i % 5 == 0 {
                    genuines.push(i);
                    genuine(&probe, rng.gen_range(-8..=8), &mut rng)
                } else {
                    random(layout, &mut rng)
                };
                words.extend(record_of(&t));
            }
            let q = m.query(&probe, 0.40).unwrap();
            let full = scan(&m, &q, &words, ScanStrategy::Full);
            let coarse = scan(&m, &q, &words, ScanStrategy::Coarse);
            for hit in &coarse {
                assert!(full.contains(hit), "{} {hit:?}", kernel.name());
            }
            let found: Vec<usize> = coarse.iter().map(|h| h.index).collect();
            for g in &genuines {
                assert!(found.contains(g), "{} genuine {g}", kernel.name());
            }
            // The level's first test only drops: one test after all coarse rows keeps
            // every record the two tests keep.
            let single = CoarseConfig {
                gate_rows: 0,
                ..*q.coarse()
            };
            assert!(q.coarse().first_test_rows().is_some());
            let one_test = scan(
                &m,
                &q.clone().with_coarse(single).unwrap(),
                &words,
                ScanStrategy::Coarse,
            );
            for hit in &coarse {
                assert!(one_test.contains(hit), "{} {hit:?}", kernel.name());
            }
            // With a coarse level that cannot reject, the strategy is the full scan.
            let open = CoarseConfig {
                misalignment: 0.5,
                reach: 1.0,
                ..*q.coarse()
            };
            let q = q.with_coarse(open).unwrap();
            assert_eq!(scan(&m, &q, &words, ScanStrategy::Coarse), full);
        }
    }
}

#[test]
fn coarse_settings_are_checked() {
    let layout = IrisLayout::DAUGMAN_2048;
    let m = IrisMatcher::for_layout(layout);
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let q = m.query(&random(layout, &mut rng), 0.32).unwrap();
    let good = *q.coarse();
    assert_eq!(good.validate(layout), Ok(()));
    for bad in [
        CoarseConfig { step: 0, ..good },
        CoarseConfig { rows: 9, ..good },
        CoarseConfig { z: -1.0, ..good },
        CoarseConfig {
            gate_z: f64::INFINITY,
            ..good
        },
        CoarseConfig {
            misalignment: 0.7,
            ..good
        },
        CoarseConfig {
            reach: f64::NAN,
            ..good
        },
    ] {
        assert!(q.clone().with_coarse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(good.slots(17), 9);
}
