//! `tunggal bench`: throughput reports.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use tunggal_index::finger::{FingerMatcher, MccParams};
use tunggal_index::iris::ScanStrategy;

/// Benchmark subcommands.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Fingerprint 1:1 comparisons per second per core on FVC-style templates.
    Match {
        /// Root folder of FVC-style databases.
        #[arg(long, default_value = "../shared/datasets/fvc2002-iso")]
        data: PathBuf,
        /// Seconds to measure.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Only probes with at least this many minutiae (typical probes, not the smallest).
        #[arg(long, default_value_t = 30)]
        min_minutiae: usize,
        /// Override a matcher parameter, e.g. `--set ns=8` (repeatable).
        #[arg(long = "set")]
        overrides: Vec<String>,
    },
    /// Minutiae extraction per image on one thread (per CPU-second) and on the whole machine,
    /// on the images of an FVC-style image root when present, else on synthetic images.
    Extract {
        /// Root folder of FVC-style image databases.
        #[arg(long, default_value = "../shared/datasets/fvc2002-images")]
        data: PathBuf,
        /// Seconds to measure (each of the two figures).
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Image resolution when the image carries none: `N` or `DATABASE=N` (repeatable;
        /// default `DB2_B=569`, the FVC2002 DB2 scanner, and 500 otherwise).
        #[arg(long = "ppi")]
        ppi: Vec<String>,
        /// Override an extractor parameter, e.g. `--set gabor_extent=2.0` (repeatable).
        #[arg(long = "set")]
        overrides: Vec<String>,
    },
    /// Iris 1:N scan throughput (2048-bit codes, ±8 rotations): gallery templates per
    /// CPU-second of one core for the full and the cascaded scan, with the reference
    /// (rotation by rotation) implementations, measured in interleaved rounds.
    Iris {
        /// Gallery records.
        #[arg(long, default_value_t = 100_000)]
        records: usize,
        /// Distinct synthetic eyes repeated to fill the gallery.
        #[arg(long, default_value_t = 2000)]
        distinct: usize,
        /// Seconds to measure (all strategies together).
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Decision threshold on the normalised Hamming distance.
        #[arg(long, default_value_t = tunggal_index::iris::DEPLOYMENT_THRESHOLD)]
        threshold: f64,
        /// Cascade prefix rows (default: the matcher default).
        #[arg(long)]
        prefix_rows: Option<usize>,
        /// Cascade margin in standard deviations (default: the matcher default).
        #[arg(long)]
        z: Option<f64>,
        /// Generator seed.
        #[arg(long, default_value_t = 2025)]
        seed: u64,
        /// Measure only these strategies (full, cascade, coarse, full-reference,
        /// cascade-reference; repeatable; all when absent).
        #[arg(long = "only")]
        only: Vec<String>,
        /// Coarse level: rows, rotation step, z, misalignment allowance and reach (default:
        /// the matcher default), e.g. `4,2,1.0,0.05,0.32`.
        #[arg(long)]
        coarse: Option<String>,
        /// Also count gate passes of this many genuine (mated) pairs per strategy.
        #[arg(long, default_value_t = 0)]
        mated_pairs: usize,
        /// Also count gate passes of about this many impostor comparisons per strategy.
        #[arg(long, default_value_t = 0)]
        non_mated: usize,
    },
    /// Throughput and latency of enrolments through a running cluster (`tunggal shard`
    /// processes on a fresh NATS JetStream) against a single node on the same synthetic
    /// stream, in one run, with every shard's time per stage, CPU, memory and disk.
    Cluster {
        /// NATS server URL.
        #[arg(long)]
        nats: String,
        /// Shard count of the running cluster.
        #[arg(long)]
        shards: u32,
        /// Persons enrolled before the probes.
        #[arg(long, default_value_t = 200)]
        persons: u64,
        /// Probes timed (half of them returning persons).
        #[arg(long, default_value_t = 40)]
        probes: u64,
        /// Population seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Enrolments outstanding at once while the persons are enrolled (the probes go one
        /// at a time).
        #[arg(long, default_value_t = 1)]
        in_flight: usize,
        /// The replica of every shard whose figures are asked.
        #[arg(long, default_value_t = 0)]
        replica: u32,
    },
    /// Deduplication on a synthetic gallery: latency, footprint, first-stage penetration and
    /// hit rate, FNIR/FPIR at the decision threshold.
    Dedup {
        /// People enrolled before the probes.
        #[arg(long, default_value_t = 10_000)]
        persons: u64,
        /// Probes submitted.
        #[arg(long, default_value_t = 200)]
        probes: u64,
        /// Share of returning people among the probes.
        #[arg(long, default_value_t = 0.3)]
        duplicate_ratio: f64,
        /// Share of probes taken as hard captures (small contact, strong distortion, many
        /// spurious minutiae: genuine scores like the hardest real FVC2002 database), among
        /// those that are not poor captures; 0 for routine captures only.
        #[arg(long, default_value_t = 0.2)]
        hard_share: f64,
        /// Population seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// People used to learn the score calibration.
        #[arg(long, default_value_t = 300)]
        calibration_persons: u64,
        /// Fingerprints only (no irises).
        #[arg(long)]
        no_iris: bool,
        /// First-stage shortlist length (default: the service's).
        #[arg(long, default_value_t = tunggal_index::search::SearchConfig::default().shortlist)]
        shortlist: usize,
        /// Descriptor hash functions per cylinder (default: the gallery default).
        #[arg(long)]
        descriptor_hashes: Option<usize>,
        /// Descriptor bits sampled per hash function (default: the gallery default).
        #[arg(long)]
        descriptor_bits: Option<usize>,
        /// Fewest set sampled bits for a descriptor word to be inserted (default: the
        /// gallery default).
        #[arg(long)]
        descriptor_min_ones: Option<u32>,
        /// Start from the version 1 descriptor parameters instead of the default, for
        /// comparisons.
        #[arg(long)]
        descriptor_v1: bool,
        /// Iris gate on the normalised Hamming distance.
        #[arg(long, default_value_t = tunggal_index::search::DEFAULT_IRIS_GATE)]
        iris_gate: f64,
        /// Data directory for the gallery: built there, or reused when an earlier run with the
        /// same persons, seed, irises, descriptor and calibration persons built it (with
        /// --keep). Removed afterwards unless --keep.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Probes in flight at once, from separate threads; the deduplicator searches the
        /// probes waiting together in one pass. 1 measures isolated searches.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Open-loop arrivals at this many probes per second instead (latency counts from
        /// each probe's scheduled arrival; up to 64 in flight).
        #[arg(long)]
        rate: Option<f64>,
        /// Keep the data directory.
        #[arg(long)]
        keep: bool,
        /// Also write the report as JSON.
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

impl BenchCommand {
    /// Runs the benchmark.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            BenchCommand::Match {
                data,
                seconds,
                min_minutiae,
                overrides,
            } => {
                let mut params = MccParams::default();
                for o in &overrides {
                    params.set(o)?;
                }
                let matcher = FingerMatcher::new(params);
                let databases = tunggal_datasets::fvc::load_root(&data)
                    .with_context(|| format!("loading {}", data.display()))?;
                let report =
                    crate::bench::match_throughput(&databases, &matcher, seconds, min_minutiae)?;
                println!("{report}");
                Ok(())
            }
            BenchCommand::Extract {
                data,
                seconds,
                ppi,
                overrides,
            } => {
                let mut params = tunggal_index::extract::ExtractParams::default();
                for o in &overrides {
                    params.set(o.trim_start_matches("extract."))?;
                }
                let extractor = tunggal_index::extract::Extractor::new(params);
                let ppi = if ppi.is_empty() {
                    vec!["DB2_B=569".to_owned()]
                } else {
                    ppi
                };
                let plan = crate::eval::images::PpiPlan::parse(&ppi)?;
                let real = if data.is_dir() {
                    crate::bench::extraction::load_images(&data, &plan)
                        .with_context(|| format!("loading {}", data.display()))?
                } else {
                    Vec::new()
                };
                let (images, source) = if real.is_empty() {
                    eprintln!(
                        "no images under {}: measuring synthetic 288×384 images",
                        data.display()
                    );
                    (
                        crate::bench::extraction::synthetic_images(16),
                        "synthetic 288×384, 500 ppi".to_owned(),
                    )
                } else {
                    (real, data.display().to_string())
                };
                let report = crate::bench::extraction::extract_throughput(
                    &images, &extractor, seconds, &source,
                )?;
                println!("{report}");
                Ok(())
            }
            BenchCommand::Iris {
                records,
                distinct,
                seconds,
                threshold,
                prefix_rows,
                z,
                seed,
                only,
                coarse,
                mated_pairs,
                non_mated,
            } => {
                let coarse = coarse
                    .as_deref()
                    .map(crate::bench::iris::parse_coarse)
                    .transpose()?;
                let only = only
                    .iter()
                    .map(|name| match name.as_str() {
                        "full" => Ok(ScanStrategy::Full),
                        "cascade" => Ok(ScanStrategy::Cascade),
                        "coarse" => Ok(ScanStrategy::Coarse),
                        "full-reference" => Ok(ScanStrategy::FullReference),
                        "cascade-reference" => Ok(ScanStrategy::CascadeReference),
                        other => Err(anyhow::anyhow!("unknown scan strategy {other}")),
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let plan = crate::bench::iris::IrisPlan {
                    records,
                    distinct,
                    seconds,
                    threshold,
                    prefix_rows,
                    z,
                    seed,
                    only,
                    coarse,
                    mated_pairs,
                    non_mated,
                };
                println!("{}", crate::bench::iris::iris_throughput(&plan)?);
                Ok(())
            }
            BenchCommand::Cluster {
                nats,
                shards,
                persons,
                probes,
                seed,
                in_flight,
                replica,
            } => {
                let plan = crate::cluster::bench::ClusterBenchPlan {
                    nats,
                    shards,
                    persons,
                    probes,
                    seed,
                    in_flight,
                    replica,
                };
                let r = crate::cluster::bench::run(&plan)?;
                println!("{}", serde_json::to_string_pretty(&r)?);
                Ok(())
            }
            BenchCommand::Dedup {
                persons,
                probes,
                duplicate_ratio,
                hard_share,
                seed,
                calibration_persons,
                no_iris,
                shortlist,
                descriptor_hashes,
                descriptor_bits,
                descriptor_min_ones,
                descriptor_v1,
                iris_gate,
                dir,
                concurrency,
                rate,
                keep,
                report,
            } => {
                anyhow::ensure!(
                    rate.is_none_or(|r| r.is_finite() && r > 0.0),
                    "--rate must be a positive number of probes per second"
                );
                anyhow::ensure!(
                    (0.0..=1.0).contains(&hard_share),
                    "--hard-share must lie between 0 and 1"
                );
                let mut descriptor = if descriptor_v1 {
                    tunggal_index::gallery::DescriptorParams::version1()
                } else {
                    tunggal_index::gallery::DescriptorParams::default()
                };
                if let Some(h) = descriptor_hashes {
                    descriptor.hashes = h;
                }
                if let Some(b) = descriptor_bits {
                    descriptor.bits_per_hash = b;
                }
                if let Some(m) = descriptor_min_ones {
                    descriptor.min_ones = m;
                }
                let dir = dir.unwrap_or_else(|| {
                    std::env::temp_dir().join(format!("tunggal-dedup-{}", std::process::id()))
                });
                let plan = crate::bench::dedup::DedupPlan {
                    persons,
                    probes,
                    duplicate_ratio,
                    hard_share,
                    seed,
                    calibration_persons,
                    no_iris,
                    shortlist,
                    descriptor,
                    iris_gate,
                    dir: dir.clone(),
                    concurrency,
                    rate,
                };
                let result = crate::bench::dedup::run(&plan);
                if !keep {
                    let _ = std::fs::remove_dir_all(&dir);
                }
                let r = result?;
                let json = serde_json::to_string_pretty(&r)?;
                println!("{json}");
                if let Some(path) = report {
                    std::fs::write(&path, &json).with_context(|| path.display().to_string())?;
                }
                Ok(())
            }
        }
    }
}
