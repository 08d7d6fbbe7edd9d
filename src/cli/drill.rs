//! `tunggal drill crash`: kill -9 the server at random moments and check what survived.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::loadgen::drill::{crash, CrashConfig};

/// Fault drills.
#[derive(Debug, Subcommand)]
pub enum DrillCommand {
    /// Start `tunggal serve`, drive enrolments, kill -9 it, restart and check, N times.
    Crash(CrashArgs),
    /// Three NATS nodes, shards × replicas and two `serve --cluster` front-ends under load;
    /// kill -9 a shard replica, a NATS node and a front-end, restart them and check.
    Cluster(super::drill_cluster::ClusterDrillArgs),
}

/// Options of `tunggal drill crash`.
#[derive(Debug, Args)]
pub struct CrashArgs {
    /// Kills in a row.
    #[arg(long, default_value_t = 20)]
    kills: u32,
    /// Data directory (default: a new one under the system temporary folder, removed afterwards).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The server binary (default: this one).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of enrolments that are a returning person.
    #[arg(long, default_value_t = 0.3)]
    duplicate_ratio: f64,
    /// Enrolments in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Shortest seconds from ready to kill.
    #[arg(long, default_value_t = 1.0)]
    min_uptime: f64,
    /// Longest seconds from ready to kill.
    #[arg(long, default_value_t = 6.0)]
    max_uptime: f64,
    /// Milliseconds a request must have been outstanding before a kill may land on it.
    #[arg(long, default_value_t = 20)]
    min_request_age_ms: u64,
    /// JSON report.
    #[arg(long)]
    report: Option<PathBuf>,
}

impl DrillCommand {
    /// Runs the drill; fails when a check failed.
    pub fn run(self) -> anyhow::Result<()> {
        let a = match self {
            Self::Crash(a) => a,
            Self::Cluster(a) => return a.run(),
        };
        let temp = std::env::temp_dir().join(format!("tunggal-drill-{}", std::process::id()));
        let data_dir = a.data_dir.clone().unwrap_or_else(|| temp.clone());
        let binary = match &a.binary {
            Some(b) => b.clone(),
            None => std::env::current_exe().context("locating this binary")?,
        };
        let cfg = CrashConfig {
            binary,
            data_dir,
            kills: a.kills,
            seed: a.seed,
            duplicate_ratio: a.duplicate_ratio,
            concurrency: a.concurrency,
            min_uptime: Duration::from_secs_f64(a.min_uptime),
            max_uptime: Duration::from_secs_f64(a.max_uptime),
            min_request_age: Duration::from_millis(a.min_request_age_ms),
            in_flight_timeout: Duration::from_secs(120),
            ready_timeout: Duration::from_secs(600),
            verbose: true,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let result = rt.block_on(crash(cfg));
        if a.data_dir.is_none() {
            let _ = std::fs::remove_dir_all(&temp);
        }
        let r = result?;
        println!(
            "{} kills: sent {}, acknowledged {}, lost {}, half-written {}, unacknowledged present {} / absent {}, \
             resent {} ({} mismatched), duplicates across a crash {} ({} missed), missed duplicates {}, false duplicates {}",
            r.kills, r.sent, r.acknowledged, r.lost, r.half_written, r.unacknowledged_present,
            r.unacknowledged_absent, r.resent, r.resend_mismatches, r.cross_crash_duplicates,
            r.cross_crash_missed, r.truth.missed_duplicates, r.truth.false_duplicates
        );
        println!(
            "kills that cut requests in flight: {} of {} (outstanding at each kill: {:?}, cut: {:?}; \
             at least 90 % required)",
            r.kills_with_work_in_flight,
            r.in_flight_at_kill.len(),
            r.outstanding_at_kill,
            r.in_flight_at_kill
        );
        if let Some(path) = &a.report {
            std::fs::write(path, serde_json::to_string_pretty(&r)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        anyhow::ensure!(r.passed, "crash drill FAILED");
        println!("crash drill passed: {} of {} kills", r.kills, a.kills);
        Ok(())
    }
}
