//! `tunggal drill cluster`: the sharded cluster under kill -9 of a shard replica, a NATS node
//! and a front-end, checked against a single node (`src/cluster/drill/`).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use crate::cluster::drill::load::LoadPlan;
use crate::cluster::drill::procs::find_nats_server;
use crate::cluster::drill::{run, DrillPlan};

/// Options of `tunggal drill cluster`.
#[derive(Debug, Args)]
pub struct ClusterDrillArgs {
    /// Shards.
    #[arg(long, default_value_t = 3)]
    shards: u32,
    /// Replicas per shard (at least 2).
    #[arg(long, default_value_t = 2)]
    replicas: u32,
    /// Rounds of load, two requests each (one per front-end).
    #[arg(long, default_value_t = 60)]
    rounds: u64,
    /// Every this many rounds, a simultaneous pair (two captures of one new person at once).
    #[arg(long, default_value_t = 4)]
    pair_every: u64,
    /// Every this many requests, the answered request is sent again through the other
    /// front-end.
    #[arg(long, default_value_t = 5)]
    retry_every: u64,
    /// Share of the other requests that are a returning person.
    #[arg(long, default_value_t = 0.3)]
    duplicate_ratio: f64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Working directory (default: a new one under the system temporary folder, removed
    /// afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The `nats-server` binary (default: the Debian package's).
    #[arg(long)]
    nats_server: Option<PathBuf>,
    /// The `tunggal` binary for shards and front-ends (default: this one).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// JSON report.
    #[arg(long)]
    report: Option<PathBuf>,
}

impl ClusterDrillArgs {
    /// Runs the drill; fails when a check failed.
    pub fn run(self) -> anyhow::Result<()> {
        let temp =
            std::env::temp_dir().join(format!("tunggal-drill-cluster-{}", std::process::id()));
        let dir = self.dir.clone().unwrap_or_else(|| temp.clone());
        let binary = match &self.binary {
            Some(b) => b.clone(),
            None => std::env::current_exe().context("locating this binary")?,
        };
        let nats_server = self
            .nats_server
            .clone()
            .or_else(find_nats_server)
            .context("nats-server is not installed (apt-get install nats-server)")?;
        let plan = DrillPlan {
            binary,
            nats_server,
            dir: dir.clone(),
            shards: self.shards,
            replicas: self.replicas,
            load: LoadPlan {
                rounds: self.rounds,
                pair_every: self.pair_every,
                retry_every: self.retry_every,
                seed: self.seed,
                duplicate_ratio: self.duplicate_ratio,
            },
        };
        let result = run(&plan);
        if self.dir.is_none() {
            let _ = std::fs::remove_dir_all(&temp);
        }
        let r = result?;
        println!(
            "cluster drill: sent {}, answered {}, unanswered {}, pairs {}, retries {} ({} mismatched), \
             failovers {}, log entries {}, acknowledged lost {}, missed duplicates {}, \
             false duplicates {}, same as single node {}, restarted replica caught up {} and serves {}",
            r.sent,
            r.checks.acknowledged,
            r.unanswered,
            r.simultaneous_pairs,
            r.retries,
            r.retry_mismatches,
            r.failovers,
            r.checks.log_entries,
            r.checks.acknowledged_lost,
            r.checks.missed_duplicates,
            r.checks.false_duplicates,
            r.checks.same_as_single_node,
            r.restarted_replica_caught_up,
            r.restarted_replica_serves
        );
        if let Some(path) = &self.report {
            std::fs::write(path, serde_json::to_string_pretty(&r)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        anyhow::ensure!(r.passed, "cluster drill FAILED");
        println!("cluster drill passed");
        Ok(())
    }
}
