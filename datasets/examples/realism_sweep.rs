//! Realism sweep over several seeds: per-database EER of the synthetic FVC-style databases,
//! genuine and impostor score percentiles next to the real FVC2002 ones, minutiae statistics,
//! and the mated single-finger scores of population captures.
//!
//! ```text
//! cargo run --release -p tunggal-datasets --example realism_sweep -- \
//!     --real ../shared/datasets/fvc2002-iso --seeds 1,2,3 [--persons 200] [field=best,worst ...]
//! ```
//!
//! `field=best,worst` overrides a span of [`ImpressionParams`] (for tuning runs);
//! `skin_sd=`, `db_sd=`, `displacement=`, `rotation=`, `drop=`, `hard_share=` and
//! `hard_fingers=` override the master and [`FvcVariation`] settings.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use rayon::prelude::*;
use tunggal_datasets::accuracy::{all_pairs_scores, population_capture_scores};
use tunggal_datasets::fingerprint::{ImpressionParams, MasterParams, Span};
use tunggal_datasets::fvc::{load_root, FvcDatabase};
use tunggal_datasets::population::{CaptureSpec, EyesCaptured, Population};
use tunggal_datasets::realism::{compare, quantile, ScorePercentiles, TemplateStats};
use tunggal_datasets::synthetic_fvc::{FvcVariation, SyntheticFvc};
use tunggal_index::eval::error_rates;
use tunggal_index::finger::FingerMatcher;

fn span_field<'a>(p: &'a mut ImpressionParams, name: &str) -> Option<&'a mut Span> {
    Some(match name {
        "placement_sd" => &mut p.placement_sd,
        "rotation_sd" => &mut p.rotation_sd,
        "contact_offset_sd" => &mut p.contact_offset_sd,
        "contact" => &mut p.contact,
        "distortion" => &mut p.distortion,
        "miss" => &mut p.miss,
        "spurious" => &mut p.spurious,
        "position_sd" => &mut p.position_sd,
        "angle_sd" => &mut p.angle_sd,
        "type_flip" => &mut p.type_flip,
        _ => return None,
    })
}

/// Genuine pairs below 0.02 per impression number (each pair counts for both impressions),
/// and per finger, as a failure profile.
fn failures(db: &FvcDatabase, matcher: &FingerMatcher) -> String {
    let prepared: Vec<_> = db
        .samples
        .iter()
        .map(|s| matcher.prepare(&s.template))
        .collect();
    let mut by_imp = [0u32; 9];
    let mut by_finger = std::collections::BTreeMap::<u32, u32>::new();
    let mut median = Vec::new();
    for i in 0..db.samples.len() {
        for j in i + 1..db.samples.len() {
            let (a, b) = (&db.samples[i], &db.samples[j]);
            if a.finger != b.finger {
                continue;
            }
            let s = matcher.compare(&prepared[i], &prepared[j]);
            median.push(f64::from(s));
            if s < 0.02 {
                by_imp[a.impression.min(8) as usize] += 1;
                by_imp[b.impression.min(8) as usize] += 1;
                *by_finger.entry(a.finger).or_default() += 1;
            }
        }
    }
    let fingers: Vec<u32> = by_finger.values().copied().collect();
    format!(
        "low by impression {:?} by finger {:?}",
        &by_imp[1..],
        fingers
    )
}

fn pct(v: &[f64]) -> String {
    ScorePercentiles::of(v).to_string()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut real_root: Option<PathBuf> = None;
    let mut seeds: Vec<u64> = vec![1, 2, 3];
    let mut persons: u64 = 200;
    let mut diag = false;
    let mut params = ImpressionParams::default();
    let mut master = MasterParams::default();
    let mut variation = FvcVariation::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--real" => real_root = args.next().map(PathBuf::from),
            "--seeds" => {
                seeds = args
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--diag" => diag = true,
            "--persons" => persons = args.next().unwrap_or_default().parse()?,
            kv if kv.starts_with("skin_sd=") => master.skin_sd = kv[8..].parse()?,
            kv if kv.starts_with("db_sd=") => variation.database_quality_sd = kv[6..].parse()?,
            kv if kv.starts_with("displacement=") => variation.displacement = kv[13..].parse()?,
            kv if kv.starts_with("rotation=") => variation.rotation = kv[9..].parse()?,
            kv if kv.starts_with("drop=") => variation.poor_quality_drop = kv[5..].parse()?,
            kv if kv.starts_with("hard_share=") => variation.hard_share = kv[11..].parse()?,
            kv if kv.starts_with("hard_fingers=") => variation.hard_fingers = kv[13..].parse()?,
            kv => {
                let (k, v) = kv.split_once('=').ok_or(format!("bad argument {kv}"))?;
                let (b, w) = v.split_once(',').ok_or(format!("bad span {v}"))?;
                let span = span_field(&mut params, k).ok_or(format!("unknown field {k}"))?;
                *span = Span::new(b.parse()?, w.parse()?);
            }
        }
    }
    let matcher = FingerMatcher::default();
    let mut eers = Vec::new();
    let mut real_templates = Vec::new();
    if let Some(root) = &real_root {
        let real = load_root(root)?;
        let mut all_g = Vec::new();
        let mut all_i = Vec::new();
        for db in &real {
            let (g, i) = all_pairs_scores(db, &matcher);
            let e = error_rates(&g, &i).map_or(f64::NAN, |r| r.eer);
            eers.push(e);
            println!(
                "real {:6} EER {:5.2}%  genuine {}",
                db.name,
                100.0 * e,
                pct(&g)
            );
            if diag {
                println!("  {}", failures(db, &matcher));
            }
            all_g.extend(g);
            all_i.extend(i);
        }
        let m = eers.iter().sum::<f64>() / eers.len() as f64;
        println!("real mean EER {:.2}%", 100.0 * m);
        println!("real genuine   {}", pct(&all_g));
        println!("real impostor  {}", pct(&all_i));
        real_templates = real
            .into_iter()
            .flat_map(|d| d.samples)
            .map(|s| s.template)
            .collect();
    }
    let mut syn_eers = Vec::new();
    let mut pooled = Vec::new();
    let mut pooled_mated = Vec::new();
    for &seed in &seeds {
        let g = SyntheticFvc {
            impression: params.clone(),
            master: master.clone(),
            variation: variation.clone(),
            ..SyntheticFvc::new(seed)
        };
        let dbs: Vec<FvcDatabase> = (0..4).into_par_iter().map(|d| g.database(d)).collect();
        let mut all_g = Vec::new();
        let mut all_i = Vec::new();
        let mut line = format!("seed {seed} EER");
        for db in &dbs {
            let (gs, is) = all_pairs_scores(db, &matcher);
            let e = error_rates(&gs, &is).map_or(f64::NAN, |r| r.eer);
            syn_eers.push(e);
            line.push_str(&format!(" {:5.2}%", 100.0 * e));
            if diag {
                println!("  {} {}", db.name, failures(db, &matcher));
            }
            all_g.extend(gs);
            all_i.extend(is);
        }
        println!("{line}");
        println!("  genuine   {}", pct(&all_g));
        pooled.extend_from_slice(&all_g);
        println!("  impostor  {}", pct(&all_i));
        if !real_templates.is_empty() {
            let synth: Vec<_> = dbs
                .iter()
                .flat_map(|d| &d.samples)
                .map(|s| &s.template)
                .collect();
            let rows = compare(
                &TemplateStats::of(&real_templates),
                &TemplateStats::of(synth.iter().copied()),
            );
            let ks: Vec<String> = rows
                .iter()
                .map(|r| format!("{:.3}/{:.3}/{:.3}", r.synthetic[0], r.real[0], r.ks))
                .collect();
            println!("  stats syn/real/KS {}", ks.join("  "));
        }
        if persons > 0 {
            let pop = Population {
                impression: params.clone(),
                master: master.clone(),
                ..Population::new(seed)
            };
            let spec = CaptureSpec {
                eyes: EyesCaptured::None,
                ..CaptureSpec::default()
            };
            let (mated, non) = population_capture_scores(&pop, &matcher, 0..persons, 0, &spec);
            let e = error_rates(&mated, &non).map_or(f64::NAN, |r| r.eer);
            pooled_mated.extend_from_slice(&mated);
            println!(
                "  population mated {}  non-mated p99 {:.3} EER {:.2}%",
                pct(&mated),
                quantile(&non, 0.99),
                100.0 * e
            );
        }
    }
    println!("pooled synthetic genuine {}", pct(&pooled));
    if !pooled_mated.is_empty() {
        println!("pooled population mated  {}", pct(&pooled_mated));
    }
    let n = syn_eers.len() as f64;
    let m = syn_eers.iter().sum::<f64>() / n;
    let lo = syn_eers.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = syn_eers.iter().copied().fold(0.0, f64::max);
    println!(
        "synthetic EER mean {:.2}% range {:.2}–{:.2}% over {} databases",
        100.0 * m,
        100.0 * lo,
        100.0 * hi,
        syn_eers.len()
    );
    Ok(())
}
