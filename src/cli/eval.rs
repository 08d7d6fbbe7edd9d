//! `tunggal eval`: accuracy on FVC-style databases.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use tunggal_index::eval::ErrorRates;
use tunggal_index::finger::{FingerMatcher, MccParams};

use tunggal_index::extract::{ExtractParams, Extractor};

use crate::eval::images::PpiPlan;
use crate::eval::lodo::{self, Objective};
use crate::eval::lodo_images::PREFIX as EXTRACT_PREFIX;
use crate::eval::{report, score_all_pairs, DatabaseReport};

/// Evaluation subcommands.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Scores every pair of every database under DATA (folders of `{finger}_{impression}.iso`,
    /// or of images `.tif`, `.tiff`, `.png`, `.wsq`, `.jp2`, `.j2k`, `.fir` (19794-4), which are
    /// extracted first) and prints EER, FMR100, FMR1000 and ZeroFMR for the FVC and
    /// all-impostor protocols.
    Fvc {
        /// Root folder holding one folder per database.
        #[arg(long)]
        data: PathBuf,
        /// Write every scored pair as CSV (`database,template_a,template_b,score`).
        #[arg(long)]
        scores: Option<PathBuf>,
        /// Where to write the DET plot (SVG).
        #[arg(long, default_value = "det.svg")]
        det: PathBuf,
        /// Write the figures as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Override a matcher parameter, e.g. `--set ns=8`, or with images an extractor
        /// parameter, e.g. `--set extract.gabor_extent=2.0` (repeatable; for tuning runs).
        #[arg(long = "set")]
        overrides: Vec<String>,
        /// Image resolution when the image carries none: `N` for every database or
        /// `DATABASE=N` for one (repeatable; the database's wins over `N`; default 500).
        #[arg(long = "ppi")]
        ppi: Vec<String>,
        /// Leave-one-database-out tuning: for each database, choose among the `--grid`
        /// combinations (and the base parameters) on the other databases and report the
        /// held-out database's figures.
        #[arg(long)]
        lodo: bool,
        /// A grid axis for `--lodo`, `name=v1,v2,…` (pairs as `a:b`; repeatable); with images
        /// `extract.name=v1,v2,…` for an extractor parameter (extraction runs once per distinct
        /// extractor setting).
        #[arg(long = "grid", requires = "lodo")]
        grid: Vec<String>,
        /// What `--lodo` minimises on the training databases.
        #[arg(long, value_enum, default_value = "both")]
        objective: Objective,
    },
    /// Real persons 1:N through the deduplicator: each database folder's fingers (sorted,
    /// ten per person at positions 1…10) enrol their first impression into a synthetic
    /// background gallery; later impressions are new applicants and chimeras non-mated ones.
    /// Prints the summary; the JSON report has every probe and the per-finger retention.
    Persons(PersonsArgs),
    /// Iris accuracy on eye images: every image of a manifest (`path,person,eye,sample`,
    /// paths relative to DATA) is segmented and encoded, every genuine and impostor pair is
    /// scored per database (first path component) and pooled, and EER, FNMR at FMR 10⁻³ and
    /// 10⁻⁴, the impostor mean and degrees of freedom, failure to enrol (with reasons) and
    /// time per image are printed.
    Iris(super::eval_iris::IrisArgs),
}

/// Arguments of `eval persons`.
#[derive(Debug, clap::Args)]
pub struct PersonsArgs {
    /// Root folder holding one folder per database (`{finger}_{impression}.iso`).
    #[arg(long)]
    data: PathBuf,
    /// Synthetic background persons in the gallery.
    #[arg(long, default_value_t = 20_000)]
    background: u64,
    /// Biometrics of the real persons: fingers only, with two synthetic irises, or enrolled
    /// with two and searched with one.
    #[arg(long, value_enum, default_value = "fingers")]
    mode: crate::persons::Mode,
    /// Write the full report as JSON.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write the plot (SVG).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Seed of the background population and of the synthetic irises.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Gallery directory: the background is built there, or reused when an earlier run
    /// built the same one (with --keep). Removed afterwards unless --keep.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the gallery directory.
    #[arg(long)]
    keep: bool,
    /// Most synthetic fingers in the per-finger background (taken from the gallery).
    #[arg(long, default_value_t = 200_000)]
    finger_background: usize,
    /// Tuning runs: descriptor hash functions per cylinder (default: the gallery default).
    #[arg(long)]
    descriptor_hashes: Option<usize>,
    /// Tuning runs: descriptor bits sampled per hash function.
    #[arg(long)]
    descriptor_bits: Option<usize>,
    /// Tuning runs: fewest set sampled bits for a descriptor word to be inserted.
    #[arg(long)]
    descriptor_min_ones: Option<u32>,
    /// Start from the version 1 descriptor parameters (16 hashes of 14 valid cells within
    /// 3/8 of the cylinder, at least 1 set) instead of the default, for comparisons.
    #[arg(long)]
    descriptor_v1: bool,
}

impl PersonsArgs {
    fn run(self) -> anyhow::Result<()> {
        let dir = self.dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("tunggal-persons-{}", std::process::id()))
        });
        let mut descriptor = if self.descriptor_v1 {
            tunggal_index::gallery::DescriptorParams::version1()
        } else {
            tunggal_index::gallery::DescriptorParams::default()
        };
        if let Some(h) = self.descriptor_hashes {
            descriptor.hashes = h;
        }
        if let Some(b) = self.descriptor_bits {
            descriptor.bits_per_hash = b;
        }
        if let Some(m) = self.descriptor_min_ones {
            descriptor.min_ones = m;
        }
        let plan = crate::persons::PersonsPlan {
            data: self.data,
            background: self.background,
            mode: self.mode,
            seed: self.seed,
            dir: dir.clone(),
            finger_background: self.finger_background,
            descriptor,
        };
        let result = crate::persons::run(&plan);
        if !self.keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
        let r = result?;
        let s = &r.summary;
        println!(
            "{} persons, background {}, gallery {}, mode {:?}",
            r.persons.len(),
            r.background,
            r.gallery_size,
            r.mode
        );
        println!(
            "mated probes {}: found {}, missed {} (FNIR {:.2}%), mate shortlisted {} ({:.2}%), mate's fused ratio above the threshold {}",
            s.mated,
            s.found,
            s.missed,
            s.fnir * 100.0,
            s.shortlisted,
            s.first_stage_retention * 100.0,
            s.mate_above_threshold
        );
        println!(
            "chimeras {}: duplicate {} (FPIR {:.2}%); rejected probes {}",
            s.chimeras,
            s.chimera_duplicates,
            s.fpir * 100.0,
            s.rejected
        );
        for p in &r.persons {
            println!(
                "  {:<12} enrolment {:<9} found {}/{}",
                p.name, p.enrolment, p.found, p.probes
            );
        }
        let f = &r.fingers;
        println!(
            "per finger: {} genuine pairs ({} undescribed) against {} synthetic + up to {} real impostor fingers",
            f.genuine_pairs, f.undescribed_pairs, f.synthetic_fingers, f.real_impostor_fingers
        );
        for ret in [&f.all, &f.real_only].into_iter().chain(&f.per_person) {
            let cells: Vec<String> = ret
                .retention
                .iter()
                .map(|(p, share)| format!("{:.1}% at {}%", share * 100.0, p * 100.0))
                .collect();
            println!("  {:<12} {}", ret.name, cells.join(", "));
        }
        if let Some(path) = &self.report {
            std::fs::write(path, serde_json::to_vec_pretty(&r)?)
                .with_context(|| path.display().to_string())?;
        }
        if let Some(path) = &self.plot {
            crate::persons::plot(&r, path)?;
        }
        Ok(())
    }
}

fn pct(v: f64) -> String {
    format!("{:6.2}%", v * 100.0)
}

fn row(name: &str, protocol: &str, r: &ErrorRates) -> String {
    format!(
        "{name:<10} {protocol:<13} {} {} {} {} {:>6} {:>7}",
        pct(r.eer),
        pct(r.fmr100),
        pct(r.fmr1000),
        pct(r.zero_fmr),
        r.genuine,
        r.impostor
    )
}

fn mean(reports: &[DatabaseReport], pick: impl Fn(&DatabaseReport) -> &ErrorRates) -> ErrorRates {
    let n = reports.len().max(1) as f64;
    let sum = |f: &dyn Fn(&ErrorRates) -> f64| reports.iter().map(|r| f(pick(r))).sum::<f64>() / n;
    ErrorRates {
        eer: sum(&|r| r.eer),
        fmr100: sum(&|r| r.fmr100),
        fmr1000: sum(&|r| r.fmr1000),
        zero_fmr: sum(&|r| r.zero_fmr),
        genuine: reports.iter().map(|r| pick(r).genuine).sum(),
        impostor: reports.iter().map(|r| pick(r).impostor).sum(),
    }
}

impl EvalCommand {
    /// Runs the evaluation.
    pub fn run(self) -> anyhow::Result<()> {
        let (data, scores, det, json, overrides, ppi, lodo, grid, objective) = match self {
            EvalCommand::Fvc {
                data,
                scores,
                det,
                json,
                overrides,
                ppi,
                lodo,
                grid,
                objective,
            } => (
                data, scores, det, json, overrides, ppi, lodo, grid, objective,
            ),
            EvalCommand::Persons(args) => return args.run(),
            EvalCommand::Iris(args) => return args.run(),
        };
        let images = crate::eval::images::is_image_root(&data)?;
        let (extract_overrides, matcher_overrides): (Vec<&String>, Vec<&String>) = overrides
            .iter()
            .partition(|o| o.starts_with(EXTRACT_PREFIX));
        anyhow::ensure!(
            images || (extract_overrides.is_empty() && ppi.is_empty()),
            "extractor settings and --ppi apply only to folders of images"
        );
        let mut params = MccParams::default();
        for o in &matcher_overrides {
            params.set(o)?;
        }
        let mut extract_params = ExtractParams::default();
        for o in &extract_overrides {
            extract_params.set(&o[EXTRACT_PREFIX.len()..])?;
        }
        let ppi = PpiPlan::parse(&ppi)?;
        let image_dbs = if images {
            crate::eval::images::load_root(&data)
                .with_context(|| format!("loading {}", data.display()))?
        } else {
            Vec::new()
        };
        if lodo {
            if images {
                let started = std::time::Instant::now();
                let trials = crate::eval::lodo_images::evaluate(
                    &image_dbs,
                    &extract_params,
                    &ppi,
                    &params,
                    &grid,
                )?;
                for setting in &trials.extraction {
                    let all = crate::eval::images::total(&setting.databases);
                    println!(
                        "extraction {}: {} images, {:.2} ms/image, {:.1} CPU s, {} failures to enrol",
                        if setting.assignments.is_empty() {
                            "(base)".to_owned()
                        } else {
                            setting.assignments.join(" ")
                        },
                        all.images,
                        all.mean_ms,
                        all.total_cpu_s,
                        all.failures
                    );
                }
                let extraction = serde_json::to_value(&trials.extraction)?;
                return report_lodo(
                    &trials.names,
                    &trials.candidates,
                    trials.combinations,
                    started,
                    &grid,
                    objective,
                    json.as_deref(),
                    Some(extraction),
                );
            }
            let databases = tunggal_datasets::fvc::load_root(&data)
                .with_context(|| format!("loading {}", data.display()))?;
            anyhow::ensure!(
                !databases.is_empty(),
                "no database folders found under {}",
                data.display()
            );
            return run_lodo(&databases, &params, &grid, objective, json.as_deref());
        }
        let (databases, extraction) = if images {
            let extractor = Extractor::new(extract_params);
            let started = std::time::Instant::now();
            let (dbs, reports) = crate::eval::images::extract_all(&image_dbs, &extractor, &ppi);
            println!(
                "extracted {} images in {:.2} s on {} threads",
                reports.iter().map(|r| r.images).sum::<usize>(),
                started.elapsed().as_secs_f64(),
                rayon::current_num_threads()
            );
            crate::eval::images::print(&reports);
            (dbs, Some(reports))
        } else {
            let dbs = tunggal_datasets::fvc::load_root(&data)
                .with_context(|| format!("loading {}", data.display()))?;
            (dbs, None)
        };
        anyhow::ensure!(
            !databases.is_empty(),
            "no database folders found under {}",
            data.display()
        );
        let matcher = FingerMatcher::new(params);
        let mut csv = match &scores {
            Some(path) => {
                let mut f = std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?,
                );
                writeln!(f, "database,template_a,template_b,score")?;
                Some(f)
            }
            None => None,
        };
        let mut reports = Vec::new();
        let started = std::time::Instant::now();
        let mut comparisons = 0usize;
        for db in &databases {
            let pairs = score_all_pairs(db, &matcher);
            comparisons += pairs.len();
            if let Some(f) = csv.as_mut() {
                for p in &pairs {
                    writeln!(
                        f,
                        "{},{},{},{:.6}",
                        db.name, db.samples[p.a].stem, db.samples[p.b].stem, p.score
                    )?;
                }
            }
            match report(db, &pairs) {
                Some(r) => reports.push(r),
                None => eprintln!("{}: no genuine or no impostor pairs; skipped", db.name),
            }
        }
        if let Some(mut f) = csv {
            f.flush()?;
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "{:<10} {:<13} {:>7} {:>7} {:>7} {:>7} {:>6} {:>7}",
            "database", "protocol", "EER", "FMR100", "FMR1000", "ZeroFMR", "genuine", "impostor"
        );
        for r in &reports {
            println!("{}", row(&r.name, "fvc", &r.fvc));
            println!("{}", row(&r.name, "all-impostor", &r.all_impostor));
        }
        println!("{}", row("mean", "fvc", &mean(&reports, |r| &r.fvc)));
        println!(
            "{}",
            row("mean", "all-impostor", &mean(&reports, |r| &r.all_impostor))
        );
        println!(
            "{comparisons} comparisons (including template preparation) in {elapsed:.2} s on {} threads",
            rayon::current_num_threads()
        );
        crate::plot::det_svg(&det, &reports)?;
        println!("DET plot written to {}", det.display());
        if let Some(path) = json {
            let body = serde_json::json!({
                "databases": reports,
                "mean_fvc": mean(&reports, |r| &r.fvc),
                "mean_all_impostor": mean(&reports, |r| &r.all_impostor),
                "extraction": extraction.as_ref().map(|e| serde_json::json!({
                    "databases": e,
                    "all": crate::eval::images::total(e),
                })),
            });
            std::fs::write(&path, serde_json::to_vec_pretty(&body)?)?;
        }
        Ok(())
    }
}

fn lodo_row(name: &str, r: &ErrorRates, chosen: &[String]) -> String {
    let chosen = if chosen.is_empty() {
        "(base)".to_owned()
    } else {
        chosen.join(" ")
    };
    format!(
        "{name:<10} {} {} {}  {chosen}",
        pct(r.eer),
        pct(r.fmr100),
        pct(r.fmr1000)
    )
}

fn run_lodo(
    databases: &[tunggal_datasets::fvc::FvcDatabase],
    base: &MccParams,
    grid: &[String],
    objective: Objective,
    json: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let axes = grid
        .iter()
        .map(|g| lodo::parse_axis(g, base))
        .collect::<Result<Vec<_>, _>>()?;
    let combos = lodo::combinations(&axes)?;
    let started = std::time::Instant::now();
    let candidates = lodo::evaluate(databases, base, &combos)?;
    let names: Vec<String> = databases.iter().map(|d| d.name.clone()).collect();
    report_lodo(
        &names,
        &candidates,
        combos.len(),
        started,
        grid,
        objective,
        json,
        None,
    )
}

/// Prints the folds of a scored grid and writes them as JSON (with `extraction` when the
/// databases were images).
#[allow(clippy::too_many_arguments)]
fn report_lodo(
    names: &[String],
    candidates: &[lodo::ParameterTrial],
    combinations: usize,
    started: std::time::Instant,
    grid: &[String],
    objective: Objective,
    json: Option<&std::path::Path>,
    extraction: Option<serde_json::Value>,
) -> anyhow::Result<()> {
    let folds = lodo::folds(names, candidates, objective)?;
    let held: Vec<ErrorRates> = folds.iter().map(|f| f.held_out_rates).collect();
    let mean_of = |rates: &[ErrorRates]| {
        let n = rates.len().max(1) as f64;
        let m = |f: &dyn Fn(&ErrorRates) -> f64| rates.iter().map(f).sum::<f64>() / n;
        ErrorRates {
            eer: m(&|r| r.eer),
            fmr100: m(&|r| r.fmr100),
            fmr1000: m(&|r| r.fmr1000),
            zero_fmr: m(&|r| r.zero_fmr),
            genuine: rates.iter().map(|r| r.genuine).sum(),
            impostor: rates.iter().map(|r| r.impostor).sum(),
        }
    };
    println!(
        "{} combinations plus the base, {} databases, objective {objective:?}, {:.1} s",
        combinations,
        names.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<10} {:>7} {:>7} {:>7}  chosen on the other databases",
        "held out", "EER", "FMR100", "FMR1000"
    );
    for f in &folds {
        println!("{}", lodo_row(&f.held_out, &f.held_out_rates, &f.chosen));
    }
    let lodo_mean = mean_of(&held);
    println!(
        "{}",
        lodo_row("LODO mean", &lodo_mean, &[]).trim_end_matches("  (base)")
    );
    let base_mean = mean_of(&candidates[0].rates);
    println!("{}", lodo_row("base mean", &base_mean, &[]));
    let all = lodo::best(candidates, objective, |_| true);
    let in_sample = mean_of(&candidates[all].rates);
    println!(
        "{}",
        lodo_row("in-sample", &in_sample, &candidates[all].assignments)
    );
    for (n, r) in names.iter().zip(&candidates[all].rates) {
        println!(
            "{}",
            lodo_row(&format!("  {n}"), r, &[]).trim_end_matches("  (base)")
        );
    }
    if let Some(path) = json {
        let body = serde_json::json!({
            "objective": objective,
            "grid": grid,
            "folds": folds,
            "lodo_mean": lodo_mean,
            "base_mean": base_mean,
            "in_sample_choice": candidates[all].assignments,
            "in_sample_mean": in_sample,
            "candidates": candidates,
            "extraction": extraction,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&body)?)?;
    }
    Ok(())
}
