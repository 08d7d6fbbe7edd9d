//! `tunggal gen requests`: ready-to-send enrolment bodies and their ground truth.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rayon::prelude::*;

use crate::enrolment::validate;
use crate::loadgen::requests::{BodyBuilder, Origin, Planned, RequestPlanner, TruthLine};

/// Options of `tunggal gen requests`.
#[derive(Debug, Args)]
pub struct RequestsArgs {
    /// Number of requests (people enrolled, counting returning ones).
    #[arg(long)]
    persons: u64,
    /// Share of requests that are a returning person under an alias.
    #[arg(long, default_value_t = 0.1)]
    duplicate_ratio: f64,
    /// Seed of the population and of the plan.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output folder: `000001.json`, … and `truth.jsonl`.
    #[arg(long)]
    out: PathBuf,
    /// Population id of the first new person (to stay clear of an imported gallery).
    #[arg(long, default_value_t = 0)]
    first_person: u64,
    /// Prefix of the request ids.
    #[arg(long)]
    prefix: Option<String>,
    /// District `PPRRDD` of the submitting service point (default: each person's own
    /// district, with a generic service point). Needs `--service-point`.
    #[arg(long, requires = "service_point")]
    district: Option<String>,
    /// Submitting service point id, e.g. `demo-1` (the demo's key). Needs `--district`.
    #[arg(long, requires = "district")]
    service_point: Option<String>,
}

const CHUNK: usize = 256;

/// Writes the bodies and `truth.jsonl`.
pub fn run(a: &RequestsArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let prefix = a
        .prefix
        .clone()
        .unwrap_or_else(|| format!("gen-{}-", a.seed));
    let plans: Vec<Planned> =
        RequestPlanner::new(a.seed, a.duplicate_ratio, a.first_person, &prefix)
            .take(usize::try_from(a.persons)?)
            .collect();
    let builder = BodyBuilder::new(a.seed);
    let origin = match (&a.district, &a.service_point) {
        (Some(district), Some(service_point)) => Some(Origin {
            district: validate::district(district, "--district")
                .map_err(|p| anyhow::anyhow!("--district {district}: {}", p.detail))?,
            service_point: validate::service_point(service_point, "--service-point")
                .map_err(|p| anyhow::anyhow!("--service-point {service_point}: {}", p.detail))?,
        }),
        _ => None,
    };
    let truth_path = a.out.join("truth.jsonl");
    let mut truth = std::io::BufWriter::new(
        std::fs::File::create(&truth_path)
            .with_context(|| format!("cannot create {}", truth_path.display()))?,
    );
    for chunk in plans.chunks(CHUNK) {
        chunk.par_iter().try_for_each(|p| -> anyhow::Result<()> {
            let body = builder.enrolment(p, origin.as_ref())?;
            let path = a.out.join(format!("{:06}.json", p.index + 1));
            let text = serde_json::to_vec_pretty(&body)?;
            std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
        })?;
        for p in chunk {
            serde_json::to_writer(&mut truth, &TruthLine::from(p))?;
            truth.write_all(b"\n")?;
        }
    }
    truth.flush()?;
    let dups = plans.iter().filter(|p| p.duplicate_of.is_some()).count();
    println!(
        "wrote {} requests ({} duplicates) and truth.jsonl to {}",
        plans.len(),
        dups,
        a.out.display()
    );
    Ok(())
}
