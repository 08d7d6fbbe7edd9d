//! Impostor and genuine Hamming-distance statistics of the synthetic 2048-bit iris codes next
//! to Daugman's model (binomial with 249 degrees of freedom, best of 7 rotations).
//!
//! ```text
//! cargo run --release -p tunggal-datasets --example iris_stats -- \
//!     [--pairs 20000] [--seed 2024] [correlation=2.3] [radial=0.5] [noise_best=0.25] [noise_worst=0.6]
//! ```
#![allow(clippy::print_stdout)]

use rand::Rng;
use rayon::prelude::*;
use tunggal_datasets::iris::{IrisGenerator, IrisSynthParams};
use tunggal_datasets::iris_theory::BestOfRotations;
use tunggal_datasets::realism::quantile;
use tunggal_index::iris::{IrisLayout, IrisMatcher, IrisTemplate, MatchConfig};

fn moments(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, v.sqrt())
}

fn hd(m: &IrisMatcher, a: &IrisTemplate, b: &IrisTemplate) -> f64 {
    m.compare_templates(a, b)
        .ok()
        .and_then(|c| c.score())
        .map_or(f64::NAN, |s| s.hd)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut pairs = 20_000u64;
    let mut seed = 2024u64;
    let mut p = IrisSynthParams::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--pairs" => pairs = args.next().unwrap_or_default().parse()?,
            "--seed" => seed = args.next().unwrap_or_default().parse()?,
            kv => {
                let (k, v) = kv.split_once('=').ok_or(format!("bad argument {kv}"))?;
                let v: f32 = v.parse()?;
                match k {
                    "correlation" => p.correlation = v,
                    "radial" => p.radial_correlation = v,
                    "noise_best" => p.noise_best = v,
                    "noise_worst" => p.noise_worst = v,
                    "rotation" => p.max_rotation = v,
                    _ => return Err(format!("unknown parameter {k}").into()),
                }
            }
        }
    }
    let layout = IrisLayout::DAUGMAN_2048;
    let g = IrisGenerator::with_params(seed, layout, p);
    let best = IrisMatcher::for_layout(layout);
    let zero = IrisMatcher::new(
        layout,
        MatchConfig {
            window: 0,
            ..*best.config()
        },
    )?;
    let rows: Vec<[f64; 3]> = (0..pairs)
        .into_par_iter()
        .map(|i| {
            let mut rng = g.rng(i);
            let qa: f32 = rng.gen_range(0.2..1.0);
            let qb: f32 = rng.gen_range(0.2..1.0);
            let ma = g.master(&mut rng);
            let mb = g.master(&mut rng);
            let a = g.capture(&ma, qa, &mut rng);
            let a2 = g.capture(&ma, qb, &mut rng);
            let b = g.capture(&mb, qb, &mut rng);
            [hd(&zero, &a, &b), hd(&best, &a, &b), hd(&best, &a, &a2)]
        })
        .collect();
    let col = |j: usize| -> Vec<f64> {
        rows.iter()
            .map(|r| r[j])
            .filter(|x| x.is_finite())
            .collect()
    };
    let (imp0, impb, gen) = (col(0), col(1), col(2));
    let (m0, s0) = moments(&imp0);
    let dof = m0 * (1.0 - m0) / (s0 * s0);
    let (mb, sb) = moments(&impb);
    let (mg, sg) = moments(&gen);
    println!("{p:?}, {pairs} pairs, seed {seed}");
    println!("impostor rotation 0: mean {m0:.4} sd {s0:.4} dof {dof:.1}");
    let qs = [0.001, 0.01, 0.05, 0.5];
    let show = |name: &str, mean: f64, sd: f64, q: &dyn Fn(f64) -> f64| {
        let qv: Vec<String> = qs.iter().map(|&l| format!("{:.4}", q(l))).collect();
        println!(
            "{name}: mean {mean:.4} sd {sd:.4} p0.1/p1/p5/p50 {}",
            qv.join("/")
        );
    };
    show("synthetic best of 17", mb, sb, &|l| quantile(&impb, l));
    for k in [5, 7, 9] {
        let t = BestOfRotations::new(249, k);
        show(
            &format!("Daugman 249 dof best of {k}"),
            t.mean(),
            t.sd(),
            &|l| t.quantile(l),
        );
    }
    let t = BestOfRotations::new(dof.round() as u32, 7);
    show(
        &format!("measured {:.0} dof best of 7", dof.round()),
        t.mean(),
        t.sd(),
        &|l| t.quantile(l),
    );
    println!("genuine best of 17: mean {mg:.4} sd {sg:.4}");
    Ok(())
}
