//! `tunggal shard`: one replica of one partition of the gallery (cluster mode).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use tunggal_index::gallery::GalleryConfig;
use tunggal_index::search::SearchConfig;

use crate::cluster::reshard;
use crate::cluster::snapshot::restore_new_replica;
use crate::cluster::{parse_shard, Shard, ShardOptions};

/// Options of `tunggal shard`.
#[derive(Debug, Args)]
pub struct ShardArgs {
    /// NATS server URLs, comma-separated (the client also learns the cluster's others).
    #[arg(long)]
    nats: String,
    /// This shard and the shard count, `i/S` (0 <= i < S).
    #[arg(long)]
    shard: String,
    /// Replica number of this partition (names its durable consumer).
    #[arg(long, default_value_t = 0)]
    replica: u32,
    /// The partition's data directory.
    #[arg(long)]
    data_dir: PathBuf,
    /// Copies of each JetStream stream and bucket (3 on a three-node NATS cluster).
    #[arg(long, default_value_t = 1)]
    stream_replicas: usize,
    /// Publish a snapshot of the partition to the object store after every N applied
    /// enrolments (0: never).
    #[arg(long, default_value_t = 0, value_name = "N")]
    snapshot_every: u64,
    /// On a new data directory, replay the whole enrolment log instead of starting from
    /// the newest snapshot.
    #[arg(long)]
    full_replay: bool,
    /// Build this partition of a new shard count from the partitions of the running count
    /// `S` (their snapshots, then the log up to the switch announced with `tunggal reshard`),
    /// then consume the log after the switch. Only on a new data directory; a replica that
    /// has applied entries restarts as usual.
    #[arg(long, value_name = "S")]
    reshard_from: Option<u32>,
}

impl ShardArgs {
    /// Runs the replica until its connection ends.
    pub fn run(self) -> anyhow::Result<()> {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .with_writer(std::io::stderr)
            .try_init();
        let (shard, shards) = parse_shard(&self.shard)?;
        let options = ShardOptions {
            nats: self.nats,
            shard,
            shards,
            replica: self.replica,
            data_dir: self.data_dir,
            stream_replicas: self.stream_replicas,
            search: SearchConfig::default(),
            gallery: GalleryConfig::default(),
            snapshot_every: self.snapshot_every,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let start = if let Some(from) = self.reshard_from {
            match runtime
                .block_on(reshard::build(&options, from))
                .context("building the partition from the old shard count")?
            {
                Some(built) => {
                    let used: Vec<String> = built
                        .sources
                        .iter()
                        .map(|s| match &s.snapshot {
                            Some((prefix, at)) => format!("{prefix} at {at}"),
                            None => format!("shard {} of {from} from the log's start", s.shard),
                        })
                        .collect();
                    for s in &built.sources {
                        for (snapshot, reason) in &s.refused {
                            eprintln!("tunggal: snapshot {snapshot} refused: {reason}");
                        }
                    }
                    format!(
                        " (built from {from} shards up to the switch at {}: {} persons copied \
                         from {}, {} log entries replayed)",
                        built.at,
                        built.copied,
                        used.join(", "),
                        built.replayed
                    )
                }
                None => String::new(),
            }
        } else if self.full_replay {
            String::new()
        } else {
            let restored = runtime
                .block_on(restore_new_replica(&options))
                .context("starting from a snapshot")?;
            for (snapshot, reason) in &restored.refused {
                eprintln!("tunggal: snapshot {snapshot} refused: {reason}");
            }
            match (&restored.from, restored.looked) {
                (Some((snapshot, sequence)), _) => format!(
                    " (from snapshot {snapshot} at sequence {sequence}, {} refused)",
                    restored.refused.len()
                ),
                (None, true) => format!(
                    " (no usable snapshot, {} refused: replaying the whole log)",
                    restored.refused.len()
                ),
                (None, false) => String::new(),
            }
        };
        let replica = Shard::open(options).context("opening the partition")?;
        let persons = replica.gallery().len();
        runtime.block_on(replica.run(|applied| {
            println!(
                "tunggal: shard {shard}/{shards} replica {} ready: {persons} persons, \
                 applied through sequence {applied}{start}",
                self.replica
            );
        }))?;
        Ok(())
    }
}
