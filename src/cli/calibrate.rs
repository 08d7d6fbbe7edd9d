//! `tunggal calibrate`: finger calibration tables from real labelled pairs.

use std::path::PathBuf;

use anyhow::Context;
use tunggal_index::finger::MccParams;
use tunggal_index::gallery::descriptor::DescriptorParams;
use tunggal_index::gallery::Preparer;
use tunggal_index::search::bounded::DEFAULT_Z;
use tunggal_index::search::fusion::threshold;
use tunggal_index::search::shipped::{CalibrationFile, Provenance, Source, FORMAT};
use tunggal_index::search::{Calibration, FusionCaps};

use crate::calibrate::{self, bands_text, sources, spread, Pair, MIN_BAND_IMPOSTORS};

/// Arguments of `tunggal calibrate`.
#[derive(Debug, clap::Args)]
pub struct CalibrateArgs {
    /// An FVC-style root (one folder per database of `{finger}_{impression}.iso`): every
    /// pair within and across its databases is scored with the default matcher and
    /// descriptors (repeatable).
    #[arg(long)]
    fvc: Vec<PathBuf>,
    /// A labelled score CSV (the `tunggal eval fvc --scores` format, or any CSV with
    /// `score` and `mated` columns; repeatable).
    #[arg(long)]
    scores: Vec<PathBuf>,
    /// A data directory whose decided cases add pairs: a confirmed duplicate's matched
    /// candidate is mated, every candidate of a cleared case non-mated (server stopped).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where to write the calibration file. A server reads `DATA_DIR/finger-calibration.json`
    /// at its next start.
    #[arg(long)]
    out: PathBuf,
    /// Identifier recorded with every verdict these tables decide.
    #[arg(long, default_value = "finger-v2")]
    id: String,
    /// Gallery size for the threshold and the expected FPIR.
    #[arg(long, default_value_t = 1_000_000)]
    gallery_size: usize,
    /// Target FPIR behind the threshold `ln(N / FPIR)`.
    #[arg(long, default_value_t = 1e-3)]
    target_fpir: f64,
    /// One-sided confidence of the bounds, in standard deviations.
    #[arg(long, default_value_t = DEFAULT_Z)]
    z: f64,
    /// Also check, for each database, tables learned without it on its pairs.
    #[arg(long)]
    lodo: bool,
    /// Write the reliability figures as JSON.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Also check an existing calibration against the pairs: a gallery's stored
    /// `calibration.json` (e.g. the synthetic one of `bench dedup`) or a calibration file.
    #[arg(long)]
    compare: Option<PathBuf>,
}

impl CalibrateArgs {
    /// Learns, writes and reports.
    pub fn run(self) -> anyhow::Result<()> {
        let mcc = MccParams::default();
        let descriptor_params = DescriptorParams::default();
        let preparer = Preparer::new(&mcc, descriptor_params)?;
        let mut pairs: Vec<Pair> = Vec::new();
        let mut used = Vec::new();
        let mut add = |kind: &str, path: &std::path::Path, new: Vec<Pair>| {
            let genuine = new.iter().filter(|p| p.mated).count();
            used.push(Source {
                kind: kind.into(),
                path: path.display().to_string(),
                genuine,
                impostor: new.len() - genuine,
            });
            pairs.extend(new);
        };
        for root in &self.fvc {
            let dbs = tunggal_datasets::fvc::load_root(root)
                .with_context(|| format!("loading {}", root.display()))?;
            anyhow::ensure!(!dbs.is_empty(), "no databases under {}", root.display());
            add("fvc", root, sources::fvc_pairs(&dbs, &preparer));
        }
        for csv in &self.scores {
            add("scores", csv, sources::csv_pairs(csv)?);
        }
        if let Some(dir) = &self.data_dir {
            add("cases", dir, sources::case_pairs(dir)?);
        }
        let caps = FusionCaps::default();
        let tables = calibrate::learn(&pairs, caps.per_finger, self.z)?;
        let has_descriptor = tables.descriptor.is_some();
        let file = CalibrationFile {
            format: FORMAT.into(),
            version: 1,
            id: self.id.clone(),
            provenance: Provenance {
                command: command_line(),
                created: crate::clock::now_rfc3339(),
                sources: used.clone(),
                matcher: format!("{mcc:?}"),
                descriptor_params: has_descriptor.then(|| format!("{descriptor_params:?}")),
                z: self.z,
                method: "per database, per bin the best Wilson lower bound of the ratio \
                         over the bands of bins ending at it (running max), clamped to the \
                         per-finger cap; then per bin the smallest ratio of any database"
                    .into(),
            },
            finger: tables.finger.clone(),
            descriptor: tables.descriptor.clone(),
        };
        let mut body = serde_json::to_string_pretty(&file)?;
        body.push('\n');
        std::fs::write(&self.out, body)
            .with_context(|| format!("writing {}", self.out.display()))?;

        for s in &used {
            println!(
                "{:<7} {}: {} mated, {} non-mated pairs",
                s.kind, s.path, s.genuine, s.impostor
            );
        }
        let t = threshold(self.target_fpir, self.gallery_size);
        let (false_candidates, fpir) = calibrate::expected_fpir(
            &tables.finger,
            &pairs,
            10,
            caps.fingers,
            t,
            self.gallery_size,
        );
        println!(
            "threshold ln(N / FPIR) at N = {} and target FPIR {}: {t:.2}",
            self.gallery_size, self.target_fpir
        );
        println!(
            "expected at N = {}, ten fingers, no iris (per-finger ratios of the non-mated \
             scores, independent): {false_candidates:.3e} false candidates per search, FPIR {fpir:.3e}",
            self.gallery_size
        );
        let (positive_candidates, positive_fpir) = calibrate::expected_fpir_positive_part(
            &tables.finger,
            &pairs,
            10,
            caps.fingers,
            t,
            self.gallery_size,
        );
        println!(
            "the same with only the positive part of each finger's ratio (an upper bound \
             whatever the floor on failed fingers): {positive_candidates:.3e} false candidates \
             per search, FPIR {positive_fpir:.3e}"
        );
        if let Some(floor) = caps.failed_fingers_against {
            println!(
                "failed fingers floored at -{floor}: a non-mate's mean likelihood ratio grows \
                 by at most {:.3e} on these pairs (2^10 e^-{floor} = {:.3} in the worst case)",
                calibrate::failed_fingers_growth(&tables.finger, &pairs, 10, floor),
                1024.0 * (-f64::from(floor)).exp()
            );
        }
        let spread_finger = spread::per_database(&pairs, |p| Some(p.finger));
        let spread_descriptor = spread::per_database(&pairs, |p| p.descriptor);
        println!("second-stage scores per database (pairs within it):");
        print!("{}", spread::text(&spread_finger));
        if !spread_descriptor.is_empty() {
            println!("first-stage similarities per database (pairs within it):");
            print!("{}", spread::text(&spread_descriptor));
        }
        let in_sample = calibrate::check(&tables.finger, &pairs, |p| Some(p.finger));
        println!(
            "second-stage table on its own pairs: Cllr {:.3} bits",
            in_sample.cllr
        );
        print!("{}", bands_text(&in_sample.bands));
        let desc_check = tables
            .descriptor
            .as_ref()
            .map(|d| calibrate::check(d, &pairs, |p| p.descriptor));
        if let Some(c) = &desc_check {
            println!(
                "first-stage table on its own pairs: Cllr {:.3} bits",
                c.cllr
            );
        }
        if let Some(path) = &self.compare {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let (finger, descriptor) = match serde_json::from_str::<Calibration>(&text) {
                Ok(c) => (c.finger, Some(c.descriptor)),
                Err(_) => {
                    let f = CalibrationFile::parse(&text)?;
                    (f.finger, f.descriptor)
                }
            };
            let c = calibrate::check(&finger, &pairs, |p| Some(p.finger));
            println!(
                "{}: second-stage table on these pairs: worst over-claim {}, Cllr {:.3}",
                path.display(),
                c.worst_overclaim
                    .map_or_else(|| "n/a".into(), |w| format!("{w:.2}")),
                c.cllr
            );
            print!("{}", bands_text(&c.bands));
            if let Some(d) = descriptor {
                let c = calibrate::check(&d, &pairs, |p| p.descriptor);
                println!(
                    "{}: first-stage table on these pairs: worst over-claim {}, Cllr {:.3}",
                    path.display(),
                    c.worst_overclaim
                        .map_or_else(|| "n/a".into(), |w| format!("{w:.2}")),
                    c.cllr
                );
            }
        }
        let folds = if self.lodo {
            let folds = calibrate::lodo(&pairs, caps.per_finger, self.z)?;
            println!(
                "leave-one-database-out (bands with ≥ {MIN_BAND_IMPOSTORS} impostors; target: \
                 empirical ≥ table − 1.0)"
            );
            for f in &folds {
                let worst = |c: &calibrate::Check| {
                    c.worst_overclaim
                        .map_or_else(|| "n/a".into(), |w| format!("{w:.2}"))
                };
                println!(
                    "held out {}: second stage worst over-claim {}, Cllr {:.3}; first stage {}",
                    f.held_out,
                    worst(&f.finger),
                    f.finger.cllr,
                    f.descriptor.as_ref().map_or_else(
                        || "n/a".into(),
                        |d| format!("worst over-claim {}, Cllr {:.3}", worst(d), d.cllr)
                    )
                );
                print!("{}", bands_text(&f.finger.bands));
            }
            folds
        } else {
            Vec::new()
        };
        println!("calibration {} written to {}", self.id, self.out.display());
        if let Some(path) = &self.report {
            let body = serde_json::json!({
                "id": self.id,
                "sources": used,
                "threshold": t,
                "gallery_size": self.gallery_size,
                "expected_false_candidates": false_candidates,
                "expected_fpir": fpir,
                "expected_false_candidates_positive_part": positive_candidates,
                "expected_fpir_positive_part": positive_fpir,
                "failed_fingers_against": caps.failed_fingers_against,
                "failed_fingers_growth": caps
                    .failed_fingers_against
                    .map(|f| calibrate::failed_fingers_growth(&tables.finger, &pairs, 10, f)),
                "per_database_finger": spread_finger,
                "per_database_descriptor": spread_descriptor,
                "in_sample": in_sample,
                "in_sample_descriptor": desc_check,
                "lodo": folds,
            });
            std::fs::write(path, serde_json::to_vec_pretty(&body)?)?;
        }
        Ok(())
    }
}

/// The command line as given, program name shortened to `tunggal`.
fn command_line() -> String {
    std::iter::once("tunggal".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}
