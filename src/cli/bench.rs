//! `tunggal bench`: throughput reports.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use tunggal_index::finger::{FingerMatcher, MccParams};

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
        }
    }
}
