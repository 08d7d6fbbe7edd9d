//! Behaviour of the iris matcher: rotation compensation, random-code statistics, masks,
//! unusable inputs and agreement between kernels.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tunggal_datasets::iris::IrisGenerator;
use tunggal_index::iris::{
    record_of, IrisComparison, IrisError, IrisLayout, IrisMatcher, IrisRecords, IrisScore,
    IrisTemplate, Kernel, MatchConfig, ScanStrategy,
};

fn random_template(layout: IrisLayout, valid: f64, rng: &mut ChaCha8Rng) -> IrisTemplate {
    let code = (0..layout.code_words()).map(|_| rng.gen()).collect();
    let mut t = IrisTemplate::from_words(layout, code, vec![0; layout.code_words()]).unwrap();
    for i in 0..layout.total_bits() {
        t.set_mask_bit(i, rng.gen_bool(valid));
    }
    t
}

fn score(m: &IrisMatcher, a: &IrisTemplate, b: &IrisTemplate) -> IrisScore {
    m.compare_templates(a, b).unwrap().score().unwrap()
}

#[test]
fn a_rotated_copy_scores_zero_at_its_rotation_for_every_shift_in_the_window() {
    for (layout, seed) in [(IrisLayout::DAUGMAN_2048, 1), (IrisLayout::OPEN_IRIS, 2)] {
        let g = IrisGenerator::new(seed, layout);
        let mut rng = g.rng(0);
        let t = g.capture(&g.master(&mut rng), 0.8, &mut rng);
        let m = IrisMatcher::for_layout(layout);
        let window = m.config().window as i32;
        for k in -window..=window {
            let s = score(&m, &t, &t.rotated(k));
            assert_eq!(s.hd, 0.0, "{layout} k={k}");
            assert_eq!(s.rotation, k, "{layout}");
            assert_eq!(s.compared_bits, t.valid_bits());
        }
        // A quarter turn, far beyond the window, no longer aligns.
        let outside = score(&m, &t, &t.rotated(layout.angular() as i32 / 4));
        assert!(outside.hd > 0.3, "{layout}: {}", outside.hd);
    }
}

#[test]
fn independent_random_codes_score_one_half_at_rotation_zero() {
    for (layout, pairs) in [(IrisLayout::DAUGMAN_2048, 300), (IrisLayout::OPEN_IRIS, 40)] {
        let config = MatchConfig {
            window: 0,
            ..MatchConfig::for_layout(layout)
        };
        let m = IrisMatcher::new(layout, config).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut within = 0;
        let mut sum = 0.0;
        for _ in 0..pairs {
            let a = random_template(layout, 1.0, &mut rng);
            let b = random_template(layout, 1.0, &mut rng);
            let s = score(&m, &a, &b);
            assert_eq!(s.rotation, 0);
            assert_eq!(s.compared_bits as usize, layout.total_bits());
            sum += s.hd;
            if (s.hd - 0.5).abs() <= 0.02 {
                within += 1;
            }
        }
        let mean = sum / pairs as f64;
        assert!((mean - 0.5).abs() <= 0.005, "{layout}: mean {mean}");
        // One pair of 2048 random bits has sd 0.011, so about 93 % fall within ±0.02.
        assert!(
            within * 100 >= pairs * 88,
            "{layout}: {within}/{pairs} within ±0.02"
        );
    }
}

#[test]
fn masked_bits_do_not_influence_the_score() {
    for layout in [IrisLayout::DAUGMAN_2048, IrisLayout::OPEN_IRIS] {
        let g = IrisGenerator::new(9, layout);
        let mut rng = g.rng(0);
        let master = g.master(&mut rng);
        let a = g.capture(&master, 0.5, &mut rng);
        let b = g.capture(&master, 0.5, &mut rng);
        let m = IrisMatcher::for_layout(layout);
        let before = m.compare_templates(&a, &b).unwrap();
        let flip_masked = |t: &IrisTemplate| {
            let mut out = t.clone();
            for i in 0..layout.total_bits() {
                if !t.mask_bit(i) {
                    out.set_code_bit(i, !t.code_bit(i));
                }
            }
            out
        };
        let (a2, b2) = (flip_masked(&a), flip_masked(&b));
        assert_ne!(a2, a);
        assert_eq!(m.compare_templates(&a2, &b2).unwrap(), before);
        assert_eq!(m.compare_templates(&a2, &b).unwrap(), before);
        // Flipping valid bits does change it, so the check above can fail.
        let mut a3 = a.clone();
        for i in (0..layout.total_bits())
            .filter(|&i| a.mask_bit(i))
            .step_by(5)
        {
            a3.set_code_bit(i, !a.code_bit(i));
        }
        assert_ne!(m.compare_templates(&a3, &b).unwrap(), before);
    }
}

#[test]
fn unusable_templates_and_disjoint_masks_are_reported_not_scored() {
    let layout = IrisLayout::DAUGMAN_2048;
    let m = IrisMatcher::for_layout(layout);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let good = random_template(layout, 0.8, &mut rng);
    let poor = random_template(layout, 0.1, &mut rng);
    assert!(matches!(
        m.compare_templates(&poor, &good),
        Err(IrisError::Unusable { .. })
    ));
    assert!(matches!(
        m.compare_templates(&good, &poor),
        Err(IrisError::Unusable { .. })
    ));
    // First half of the rows valid in one, second half in the other: nothing in common at
    // any rotation, because rotation stays within rows.
    let mut top = random_template(layout, 0.0, &mut rng);
    let mut bottom = top.clone();
    for i in 0..layout.total_bits() {
        top.set_mask_bit(i, i < 1024);
        bottom.set_mask_bit(i, i >= 1024);
    }
    assert_eq!(
        m.compare_templates(&top, &bottom).unwrap(),
        IrisComparison::TooFewBits {
            compared_bits: 0,
            required: m.config().min_compared_bits
        }
    );
    let open = IrisTemplate::empty(IrisLayout::OPEN_IRIS);
    assert!(matches!(
        m.compare_templates(&good, &open),
        Err(IrisError::LayoutMismatch { .. })
    ));
    let probe = m.prepare(&good).unwrap();
    assert!(matches!(
        m.compare(&probe, &[0; 10]),
        Err(IrisError::WrongLength { .. })
    ));
}

#[test]
fn every_available_kernel_gives_identical_comparisons_and_scans() {
    for layout in [IrisLayout::DAUGMAN_2048, IrisLayout::OPEN_IRIS] {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let gallery: Vec<IrisTemplate> = (0..60)
            .map(|_| random_template(layout, 0.7, &mut rng))
            .collect();
        let probe_t = gallery[7].rotated(-2);
        let words: Vec<u64> = gallery.iter().flat_map(record_of).collect();
        let records = IrisRecords::new(layout, &words).unwrap();
        let portable = IrisMatcher::for_layout(layout).with_kernel(Kernel::portable());
        let probe = portable.prepare(&probe_t).unwrap();
        let expected: Vec<_> = records
            .iter()
            .map(|r| portable.compare(&probe, r).unwrap())
            .collect();
        // A threshold above the random-code scores makes every record a hit.
        let query = portable.query(&probe_t, 0.6).unwrap();
        let mut expected_hits = Vec::new();
        portable
            .scan(&query, records, 0, ScanStrategy::Full, &mut expected_hits)
            .unwrap();
        assert_eq!(expected_hits.len(), 60);
        for kernel in Kernel::available() {
            let m = portable.with_kernel(kernel);
            for (r, e) in records.iter().zip(&expected) {
                assert_eq!(m.compare(&probe, r).unwrap(), *e, "{}", kernel.name());
            }
            for strategy in [
                ScanStrategy::Full,
                ScanStrategy::FullReference,
                ScanStrategy::Cascade,
                ScanStrategy::CascadeReference,
            ] {
                let mut hits = Vec::new();
                m.scan(&query, records, 0, strategy, &mut hits).unwrap();
                assert_eq!(hits, expected_hits, "{} {strategy:?}", kernel.name());
            }
        }
        let own = expected[7].score().unwrap();
        assert_eq!(own.hd, 0.0);
        assert_eq!(own.rotation, 2);
    }
}

#[test]
fn par_scan_finds_the_same_hits_as_a_serial_scan() {
    let layout = IrisLayout::DAUGMAN_2048;
    let g = IrisGenerator::new(6, layout);
    let mut rng = g.rng(0);
    let masters: Vec<_> = (0..500).map(|_| g.master(&mut rng)).collect();
    let words: Vec<u64> = masters
        .iter()
        .flat_map(|m| record_of(&g.capture(m, 0.9, &mut rng)))
        .collect();
    let records = IrisRecords::new(layout, &words).unwrap();
    let m = IrisMatcher::for_layout(layout);
    let query = m
        .query(&g.capture(&masters[321], 0.9, &mut rng), 0.32)
        .unwrap();
    let mut serial = Vec::new();
    m.scan(&query, records, 0, ScanStrategy::Full, &mut serial)
        .unwrap();
    assert_eq!(
        serial.iter().map(|h| h.index).collect::<Vec<_>>(),
        vec![321]
    );
    for strategy in [
        ScanStrategy::Full,
        ScanStrategy::Cascade,
        ScanStrategy::FullReference,
        ScanStrategy::CascadeReference,
    ] {
        let (hits, stats) = m.par_scan(&query, records, strategy, 64).unwrap();
        assert_eq!(hits, serial);
        assert_eq!(stats.records, 500);
    }
}
