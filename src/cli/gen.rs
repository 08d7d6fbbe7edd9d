//! `tunggal gen`: synthetic data sets (FVC-style folders, populations with ground truth) and
//! the realism report against real templates.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};
use rayon::prelude::*;
use tunggal_datasets::accuracy::database_error_rates;
use tunggal_datasets::fvc::{load_root, FvcDatabase};
use tunggal_datasets::output::fvc_folder::write_database;
use tunggal_datasets::output::manifest::ManifestLine;
use tunggal_datasets::population::Population;
use tunggal_datasets::realism::{compare, markdown_table, TemplateStats};
use tunggal_datasets::scenario::{HardCaseRates, Scenario, ScenarioPlan};
use tunggal_datasets::synthetic_fvc::SyntheticFvc;
use tunggal_index::finger::FingerMatcher;

/// Generate synthetic biometric data.
#[derive(Debug, Args)]
pub struct GenArgs {
    #[command(subcommand)]
    command: GenCommand,
}

#[derive(Debug, Subcommand)]
enum GenCommand {
    /// FVC-style folders DB1, DB2, … of `{101..110}_{1..8}.iso` templates.
    Fvc(FvcArgs),
    /// A gallery (and optionally a probe stream) as JSON-lines manifests.
    Population(PopulationArgs),
    /// Compare synthetic FVC-style templates with a folder of real ones.
    Realism(RealismArgs),
    /// Ready-to-send `POST /v1/enrolments` bodies with ground truth.
    Requests(super::gen_requests::RequestsArgs),
}

#[derive(Debug, Args)]
struct FvcArgs {
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Number of databases.
    #[arg(long, default_value_t = 4)]
    databases: u32,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, Args)]
struct PopulationArgs {
    /// People in the gallery (`manifest.jsonl`, one capture each).
    #[arg(long)]
    persons: u64,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Probes to write to `probes.jsonl` (ground truth in `truth.jsonl`).
    #[arg(long, default_value_t = 0)]
    probes: u64,
    /// Share of probes that are returning gallery people.
    #[arg(long, default_value_t = 0.3)]
    duplicate_ratio: f64,
    /// Leave out hard cases (poor quality, four fingers, one eye, twins, aliases).
    #[arg(long)]
    no_hard_cases: bool,
}

#[derive(Debug, Args)]
struct RealismArgs {
    /// Folder of real FVC-style databases (for example `../shared/datasets/fvc2002-iso`).
    #[arg(long)]
    real: PathBuf,
    /// Seed of the synthetic databases.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of synthetic databases.
    #[arg(long, default_value_t = 4)]
    databases: u32,
}

impl GenArgs {
    /// Runs the chosen generator.
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            GenCommand::Fvc(a) => run_fvc(&a),
            GenCommand::Population(a) => run_population(&a),
            GenCommand::Realism(a) => run_realism(&a),
            GenCommand::Requests(a) => super::gen_requests::run(&a),
        }
    }
}

fn run_fvc(a: &FvcArgs) -> anyhow::Result<()> {
    let g = SyntheticFvc::new(a.seed);
    let dbs: Vec<FvcDatabase> = (0..a.databases)
        .into_par_iter()
        .map(|db| g.database(db))
        .collect();
    let mut files = 0;
    for db in &dbs {
        files += write_database(&a.out, db)?;
    }
    println!(
        "wrote {files} templates in {} databases under {}",
        dbs.len(),
        a.out.display()
    );
    Ok(())
}

const CHUNK: u64 = 4096;

fn create(path: &Path) -> anyhow::Result<BufWriter<File>> {
    let f = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(BufWriter::with_capacity(1 << 20, f))
}

fn run_population(a: &PopulationArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let population = Population::new(a.seed);
    let plan = ScenarioPlan {
        gallery_size: a.persons,
        probes: a.probes,
        duplicate_ratio: a.duplicate_ratio,
        hard: if a.no_hard_cases {
            HardCaseRates::none()
        } else {
            HardCaseRates::default()
        },
    };
    let scenario = Scenario::new(&population, plan);

    let start = Instant::now();
    let mut out = create(&a.out.join("manifest.jsonl"))?;
    let bar = super::progress_bar(a.persons, "gallery");
    let mut next = 0;
    while next < a.persons {
        let end = (next + CHUNK).min(a.persons);
        let lines: Vec<String> = scenario
            .gallery_range_par(next..end)
            .map(|c| -> anyhow::Result<String> { Ok(ManifestLine::of(&c, true)?.to_json_line()?) })
            .collect::<anyhow::Result<_>>()?;
        for line in &lines {
            out.write_all(line.as_bytes())?;
        }
        bar.inc(end - next);
        next = end;
    }
    out.flush()?;
    bar.finish();
    let gallery_secs = start.elapsed().as_secs_f64();

    if a.probes > 0 {
        let mut probes = create(&a.out.join("probes.jsonl"))?;
        let mut truth = create(&a.out.join("truth.jsonl"))?;
        let bar = super::progress_bar(a.probes, "probes ");
        let mut next = 0;
        while next < a.probes {
            let end = (next + CHUNK).min(a.probes);
            let lines: Vec<(String, String)> = scenario
                .probes_range_par(next..end)
                .map(|(c, t)| -> anyhow::Result<(String, String)> {
                    let mut t_line = serde_json::to_string(&t)?;
                    t_line.push('\n');
                    Ok((ManifestLine::of(&c, false)?.to_json_line()?, t_line))
                })
                .collect::<anyhow::Result<_>>()?;
            for (p, t) in &lines {
                probes.write_all(p.as_bytes())?;
                truth.write_all(t.as_bytes())?;
            }
            bar.inc(end - next);
            next = end;
        }
        probes.flush()?;
        truth.flush()?;
        bar.finish();
    }
    println!(
        "gallery: {} persons in {:.2} s = {:.0} persons/s on {} threads; output in {}",
        a.persons,
        gallery_secs,
        a.persons as f64 / gallery_secs.max(1e-9),
        rayon::current_num_threads(),
        a.out.display()
    );
    Ok(())
}

fn run_realism(a: &RealismArgs) -> anyhow::Result<()> {
    let real = load_root(&a.real)?;
    anyhow::ensure!(
        !real.is_empty(),
        "no FVC-style databases under {}",
        a.real.display()
    );
    let real_templates: Vec<_> = real
        .iter()
        .flat_map(|d| &d.samples)
        .map(|s| &s.template)
        .collect();
    let g = SyntheticFvc::new(a.seed);
    let synthetic: Vec<FvcDatabase> = (0..a.databases)
        .into_par_iter()
        .map(|db| g.database(db))
        .collect();
    let synth_templates: Vec<_> = synthetic
        .iter()
        .flat_map(|d| &d.samples)
        .map(|s| &s.template)
        .collect();
    println!(
        "real: {} templates in {} databases; synthetic: {} templates in {} databases (seed {})\n",
        real_templates.len(),
        real.len(),
        synth_templates.len(),
        synthetic.len(),
        a.seed
    );
    let rows = compare(
        &TemplateStats::of(real_templates.iter().copied()),
        &TemplateStats::of(synth_templates.iter().copied()),
    );
    println!("{}", markdown_table(&rows));

    println!("Single-finger accuracy, all-impostor protocol (280 genuine, 2880 impostor pairs per database):\n");
    println!("| database | EER | FMR100 | FMR1000 |\n|---|---|---|---|");
    let matcher = FingerMatcher::default();
    for (kind, dbs) in [("real", &real), ("synthetic", &synthetic)] {
        for db in dbs.iter() {
            if let Some(r) = database_error_rates(db, &matcher) {
                println!(
                    "| {kind} {} | {:.2}% | {:.2}% | {:.2}% |",
                    db.name,
                    100.0 * r.eer,
                    100.0 * r.fmr100,
                    100.0 * r.fmr1000
                );
            }
        }
    }
    Ok(())
}
