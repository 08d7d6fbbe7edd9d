//! Score profiles of real FVC-style databases next to synthetic routine and hard captures:
//! genuine p1 / p5 / p50, impostor p99 / p99.9, EER and FMR1000 (all-impostor protocol,
//! `FingerMatcher::default()`), then how far each real database lies from the hard profile.
//!
//! ```text
//! cargo run --release -p tunggal-datasets --example capture_profiles -- \
//!     --real ../shared/datasets/fvc2002-iso [--seeds 1,2,3,4] [field=best,worst ...]
//! ```
//!
//! `--real` takes any folder of FVC-style database folders (`{finger}_{impression}.iso`).
//! `field=best,worst` overrides a span of the hard profile's [`ImpressionParams`] (for tuning
//! runs; the names are the field names).
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use tunggal_datasets::fingerprint::{CaptureDifficulty, ImpressionParams, Span};
use tunggal_datasets::fvc::{load_root, FvcDatabase};
use tunggal_datasets::realism::mean;
use tunggal_datasets::score_profile::{hardest, DatabaseScores, ScoreProfile};
use tunggal_datasets::synthetic_fvc::SyntheticFvc;
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

/// Mean minutiae count of the templates of `dbs`.
fn mean_count(dbs: &[FvcDatabase]) -> f64 {
    let counts: Vec<f64> = dbs
        .iter()
        .flat_map(|d| d.samples.iter().map(|s| s.template.minutiae.len() as f64))
        .collect();
    mean(&counts)
}

/// Scores and mean minutiae count of four databases per seed.
fn synthetic(
    seeds: &[u64],
    g: impl Fn(u64) -> SyntheticFvc,
    m: &FingerMatcher,
) -> (Vec<DatabaseScores>, f64) {
    let dbs: Vec<FvcDatabase> = seeds
        .iter()
        .flat_map(|&s| {
            let g = g(s);
            (0..4).map(move |d| g.database(d))
        })
        .collect();
    (DatabaseScores::of_all(&dbs, m), mean_count(&dbs))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut real_root: Option<PathBuf> = None;
    let mut seeds: Vec<u64> = vec![1, 2, 3, 4];
    let mut hard = ImpressionParams::hard();
    let mut routine_hard_share = 0.0;
    let mut routine_hard_fingers = 0;
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
            "--routine-hard-share" => {
                routine_hard_share = args.next().unwrap_or_default().parse()?
            }
            "--routine-hard-fingers" => {
                routine_hard_fingers = args.next().unwrap_or_default().parse()?;
            }
            kv => {
                let (k, v) = kv.split_once('=').ok_or(format!("bad argument {kv}"))?;
                let (b, w) = v.split_once(',').ok_or(format!("bad span {v}"))?;
                let span = span_field(&mut hard, k).ok_or(format!("unknown field {k}"))?;
                *span = Span::new(b.parse()?, w.parse()?);
            }
        }
    }
    let matcher = FingerMatcher::default();
    let seed_list = seeds
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    println!("{}", ScoreProfile::MARKDOWN_HEADER);
    let mut real_rows = Vec::new();
    let mut real_pooled = None;
    let mut counts = Vec::new();
    if let Some(root) = &real_root {
        let dbs = load_root(root)?;
        let real = DatabaseScores::of_all(&dbs, &matcher);
        for (db, data) in real.iter().zip(&dbs) {
            let row = ScoreProfile::of(&format!("real {}", db.name), std::slice::from_ref(db));
            println!("{}", row.markdown_row());
            counts.push((row.name.clone(), mean_count(std::slice::from_ref(data))));
            real_rows.push(row);
        }
        let pooled = ScoreProfile::of("real, all databases", &real);
        println!("{}", pooled.markdown_row());
        real_pooled = Some(pooled);
    }
    let (scores, count) = synthetic(
        &seeds,
        |s| {
            let mut g = SyntheticFvc::with_difficulty(s, CaptureDifficulty::Routine);
            g.variation.hard_share = routine_hard_share;
            g.variation.hard_fingers = routine_hard_fingers;
            g
        },
        &matcher,
    );
    let routine = ScoreProfile::of(&format!("synthetic routine, seeds {seed_list}"), &scores);
    println!("{}", routine.markdown_row());
    counts.push((routine.name.clone(), count));
    let (scores, count) = synthetic(
        &seeds,
        |s| SyntheticFvc {
            impression: hard.clone(),
            ..SyntheticFvc::new(s)
        },
        &matcher,
    );
    let hard_profile = ScoreProfile::of(&format!("synthetic hard, seeds {seed_list}"), &scores);
    println!("{}", hard_profile.markdown_row());
    counts.push((hard_profile.name.clone(), count));
    let counts: Vec<String> = counts.iter().map(|(n, c)| format!("{n}: {c:.1}")).collect();
    println!("\nmean minutiae per template: {}", counts.join("; "));

    if let (Some(pooled), Some(worst)) = (&real_pooled, hardest(&real_rows)) {
        println!();
        println!("hard profile against each real database (ratio hard / real)");
        println!("| real | genuine p1 | p5 | p50 | impostor p99 | p99.9 | EER | FMR1000 |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
        for r in real_rows.iter().chain(std::iter::once(pooled)) {
            let x = hard_profile.ratios(r);
            println!(
                "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                r.name, x[0], x[1], x[2], x[3], x[4], x[5], x[6]
            );
        }
        let t = hard_profile.ratios(pooled);
        println!(
            "\nhardest real database by genuine median: {} ({:.3}); hard median ratio {:.2}; \
             impostor tail against pooled real: p99 {:+.1}%, p99.9 {:+.1}%",
            worst.name,
            worst.genuine_p50,
            hard_profile.genuine_p50 / worst.genuine_p50,
            100.0 * (t[3] - 1.0),
            100.0 * (t[4] - 1.0)
        );
    }
    Ok(())
}
