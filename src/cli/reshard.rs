//! `tunggal reshard`: announces the switch of the cluster to a new shard count.

use anyhow::Context as _;
use clap::Args;

use crate::cluster::topology::{self, Switch};

/// Options of `tunggal reshard`.
#[derive(Debug, Args)]
pub struct ReshardArgs {
    /// NATS server URLs, comma-separated.
    #[arg(long)]
    nats: String,
    /// The running shard count.
    #[arg(long)]
    from: u32,
    /// The new shard count.
    #[arg(long)]
    to: u32,
    /// The last sequence the running set decides (must be past the log's end).
    #[arg(long, value_name = "Q", conflicts_with = "ahead")]
    at: Option<u64>,
    /// Switch this many entries after the log's end (instead of `--at`).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    ahead: u64,
    /// Copies of each JetStream stream and bucket (3 on a three-node NATS cluster).
    #[arg(long, default_value_t = 1)]
    stream_replicas: usize,
}

impl ReshardArgs {
    /// Writes the switch to `TOPOLOGY` and prints it.
    pub fn run(self) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let switch = runtime.block_on(async {
            let t = topology::connect(&self.nats, self.stream_replicas).await?;
            let at = match self.at {
                Some(at) => at,
                None => t.last_sequence().await? + self.ahead.max(1),
            };
            let switch = Switch {
                from: self.from,
                to: self.to,
                at,
            };
            t.announce(switch).await?;
            anyhow::Ok(switch)
        })?;
        println!(
            "tunggal: switch announced: the {} shards decide every entry up to sequence {}, \
             the {} shards every later one; start `tunggal shard --shard j/{} --reshard-from {}` \
             for every j",
            switch.from, switch.at, switch.to, switch.to, switch.from
        );
        Ok(())
    }
}
