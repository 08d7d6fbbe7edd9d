//! `tunggal gen requests`: ready-to-send enrolment bodies and their ground truth.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rayon::prelude::*;

use crate::loadgen::requests::{BodyBuilder, Planned, RequestPlanner, TruthLine};

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
    let truth_path = a.out.join("truth.jsonl");
    let mut truth = std::io::BufWriter::new(
        std::fs::File::create(&truth_path)
            .with_context(|| format!("cannot create {}", truth_path.display()))?,
    );
    for chunk in plans.chunks(CHUNK) {
        chunk.par_iter().try_for_each(|p| -> anyhow::Result<()> {
            let body = builder.enrolment(p, None)?;
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
