//! In-memory generation rate of gallery captures: ten fingers encoded as ISO 19794-2 records
//! and two iris codes per person, nothing written to disk.
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo run --release -p tunggal-datasets --example gen_rate -- \
//!     [--persons 20000] [--seed 1] [--no-iris]
//! ```
//!
//! Prints persons per second over all rayon threads (set `RAYON_NUM_THREADS=1` for a
//! per-core figure).
#![allow(clippy::print_stdout)]

use std::time::Instant;

use rayon::prelude::*;
use tunggal_datasets::output::iso::encode_template;
use tunggal_datasets::population::{CaptureSpec, EyesCaptured, Population};
use tunggal_datasets::scenario::{HardCaseRates, Scenario, ScenarioPlan};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut persons = 20_000u64;
    let mut seed = 1u64;
    let mut irises = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--persons" => persons = args.next().unwrap_or_default().parse()?,
            "--seed" => seed = args.next().unwrap_or_default().parse()?,
            "--no-iris" => irises = false,
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    let population = Population::new(seed);
    let scenario = Scenario::new(
        &population,
        ScenarioPlan {
            gallery_size: persons,
            probes: 0,
            duplicate_ratio: 0.0,
            hard: HardCaseRates::none(),
        },
    );
    let spec = CaptureSpec {
        eyes: if irises {
            EyesCaptured::Both
        } else {
            EyesCaptured::None
        },
        ..CaptureSpec::default()
    };
    let start = Instant::now();
    let bytes: usize = if irises {
        scenario
            .gallery_range_par(0..persons)
            .map(|c| {
                let fingers: usize = c
                    .fingers
                    .iter()
                    .map(|t| encode_template(t).map_or(0, |b| b.len()))
                    .sum();
                fingers + c.irises.iter().map(|i| i.code.len()).sum::<usize>()
            })
            .sum()
    } else {
        (0..persons)
            .into_par_iter()
            .map(|id| {
                let c = population.capture(&population.person(id), 0, &spec);
                c.fingers
                    .iter()
                    .map(|t| encode_template(t).map_or(0, |b| b.len()))
                    .sum::<usize>()
            })
            .sum()
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{persons} persons ({}) in {secs:.2} s = {:.0} persons/s on {} rayon threads ({} bytes of templates and codes)",
        if irises { "10 ISO fingers + 2 irises" } else { "10 ISO fingers, no irises" },
        persons as f64 / secs,
        rayon::current_num_threads(),
        bytes
    );
    Ok(())
}
