//! Statistical bands of the synthetic iris generator (see the iris section of REALISM.md).
//!
//! Run with `--nocapture` to print the measured values.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rand::Rng;
use tunggal_datasets::iris::IrisGenerator;
use tunggal_datasets::iris_theory::BestOfRotations;
use tunggal_datasets::realism::quantile;
use tunggal_index::iris::{IrisLayout, IrisMatcher, IrisTemplate, MatchConfig};

const PAIRS: usize = 3000;

struct Stats {
    mean: f64,
    sd: f64,
}

fn stats(xs: &[f64]) -> Stats {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Stats {
        mean,
        sd: var.sqrt(),
    }
}

fn raw_hd(m: &IrisMatcher, a: &IrisTemplate, b: &IrisTemplate) -> f64 {
    m.compare_templates(a, b).unwrap().score().unwrap().hd
}

fn pair_sample(layout: IrisLayout, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let g = IrisGenerator::new(seed, layout);
    let mut rng = g.rng(0);
    let default = IrisMatcher::for_layout(layout);
    let config = MatchConfig {
        window: 0,
        ..*default.config()
    };
    let zero = IrisMatcher::new(layout, config).unwrap();
    let (mut imp0, mut imp_best, mut gen, mut masked) = (vec![], vec![], vec![], vec![]);
    for _ in 0..PAIRS {
        let qa: f32 = rng.gen_range(0.2..1.0);
        let qb: f32 = rng.gen_range(0.2..1.0);
        let ma = g.master(&mut rng);
        let mb = g.master(&mut rng);
        let a = g.capture(&ma, qa, &mut rng);
        let a2 = g.capture(&ma, qb, &mut rng);
        let b = g.capture(&mb, qb, &mut rng);
        imp0.push(raw_hd(&zero, &a, &b));
        imp_best.push(raw_hd(&default, &a, &b));
        gen.push(raw_hd(&default, &a, &a2));
        masked.push(1.0 - f64::from(a.valid_bits()) / layout.total_bits() as f64);
    }
    (imp0, imp_best, gen, masked)
}

#[test]
fn iris_2048_codes_have_published_iriscode_statistics() {
    let (imp0, imp_best, gen, masked) = pair_sample(IrisLayout::DAUGMAN_2048, 2024);
    let i0 = stats(&imp0);
    let dof = i0.mean * (1.0 - i0.mean) / (i0.sd * i0.sd);
    let ib = stats(&imp_best);
    let g = stats(&gen);
    let mk = stats(&masked);
    let below = masked.iter().filter(|&&f| f < 0.10).count();
    eprintln!(
        "masked below 0.10: {below}, max {:.3}",
        masked.iter().cloned().fold(0.0, f64::max)
    );
    let in_band = masked
        .iter()
        .filter(|&&f| (0.10..=0.35).contains(&f))
        .count();
    eprintln!(
        "2048-bit, {PAIRS} pairs: impostor rot0 mean {:.4} sd {:.4} dof {:.1}; \
         impostor best-of-17 mean {:.4} sd {:.4}; genuine mean {:.4} sd {:.4}; \
         masked fraction mean {:.3} sd {:.3}, {:.1}% in [0.10, 0.35]",
        i0.mean,
        i0.sd,
        dof,
        ib.mean,
        ib.sd,
        g.mean,
        g.sd,
        mk.mean,
        mk.sd,
        100.0 * in_band as f64 / masked.len() as f64
    );
    assert!((i0.mean - 0.5).abs() <= 0.01, "impostor mean {}", i0.mean);
    assert!((200.0..=300.0).contains(&dof), "degrees of freedom {dof}");
    assert!(
        (0.44..=0.48).contains(&ib.mean),
        "best-rotation impostor mean {}",
        ib.mean
    );
    assert!((0.08..=0.22).contains(&g.mean), "genuine mean {}", g.mean);

    // Shape of the best-over-rotations impostor distribution against Daugman's model
    // (binomial with 249 degrees of freedom, best of 7 rotations: mean 0.457, sd 0.020,
    // 1st percentile 0.406, 5th 0.422): the centre, the spread and the lower tail, where
    // false matches come from. A code whose rotations are too correlated is centred near 0.47
    // with an sd near 0.025; one with a light tail has its 1st percentile well above 0.41.
    let daugman = BestOfRotations::new(249, 7);
    let [p1, p5, p50] = [0.01, 0.05, 0.5].map(|q| quantile(&imp_best, q));
    eprintln!(
        "best-of-17 impostor p1/p5/p50 {p1:.4}/{p5:.4}/{p50:.4}; Daugman best of 7: \
         mean {:.4} sd {:.4} p1/p5/p50 {:.4}/{:.4}/{:.4}",
        daugman.mean(),
        daugman.sd(),
        daugman.quantile(0.01),
        daugman.quantile(0.05),
        daugman.quantile(0.5)
    );
    assert!(
        (ib.mean - daugman.mean()).abs() <= 0.006,
        "best-rotation impostor mean {} against {}",
        ib.mean,
        daugman.mean()
    );
    assert!(
        (0.8 * daugman.sd()..=1.2 * daugman.sd()).contains(&ib.sd),
        "best-rotation impostor sd {} against {}",
        ib.sd,
        daugman.sd()
    );
    for (q, measured) in [(0.01, p1), (0.05, p5), (0.5, p50)] {
        let expected = daugman.quantile(q);
        assert!(
            (measured - expected).abs() <= 0.008,
            "best-rotation impostor quantile {q}: {measured} against {expected}"
        );
    }
    assert!(
        in_band as f64 >= 0.9 * masked.len() as f64,
        "masked fractions out of band"
    );
}

#[test]
fn open_iris_codes_keep_impostors_at_half_and_genuines_low() {
    let layout = IrisLayout::OPEN_IRIS;
    let g = IrisGenerator::new(77, layout);
    let mut rng = g.rng(1);
    let matcher = IrisMatcher::for_layout(layout);
    let (mut imp, mut gen) = (vec![], vec![]);
    for _ in 0..150 {
        let ma = g.master(&mut rng);
        let mb = g.master(&mut rng);
        let a = g.capture(&ma, 0.7, &mut rng);
        let a2 = g.capture(&ma, 0.7, &mut rng);
        let b = g.capture(&mb, 0.7, &mut rng);
        imp.push(raw_hd(&matcher, &a, &b));
        gen.push(raw_hd(&matcher, &a, &a2));
    }
    let (i, g) = (stats(&imp), stats(&gen));
    eprintln!(
        "open-iris, 150 pairs: impostor best-of-31 mean {:.4} sd {:.4}; genuine mean {:.4} sd {:.4}",
        i.mean, i.sd, g.mean, g.sd
    );
    assert!((0.44..=0.50).contains(&i.mean), "impostor mean {}", i.mean);
    assert!((0.08..=0.22).contains(&g.mean), "genuine mean {}", g.mean);
}
