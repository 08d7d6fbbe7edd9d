//! `tunggal shard`: one replica of one partition of the gallery.
//!
//! The partition is a normal gallery directory (`DATA_DIR/gallery`). The replica consumes
//! the whole `ENROL` stream in order through its own durable consumer
//! (`shard-<i>-of-<S>-r<r>`, one message in flight). For the enrolment at sequence `s` it
//!
//! 1. searches its partition (stage 1 and stage 2 as single node) and publishes its partial
//!    result for `s`;
//! 2. if the person hashes to it ([`super::shard_of`] of the key `s`), collects every
//!    shard's partial for `s`, fuses them as the front-end does, and inserts the person when
//!    the fused verdict is `single`;
//! 3. records `s` as applied (`DATA_DIR/applied-sequence`, synced), then acknowledges.
//!
//! `applied-sequence` is the replica's own record of where it is, and the consumer follows
//! it: at start, and whenever the consumer fails (a lost acknowledgement, a consumer leader
//! lost with its NATS node, missed heartbeats), the consumer is created again to deliver
//! from `applied + 1`. A message delivered to the replica before it was killed, and never
//! acknowledged, is therefore not left waiting for its acknowledgement timeout. A replica
//! whose `applied-sequence` is below its consumer's acknowledged floor (its directory was
//! lost or replaced) or above the log's last sequence (the log was replaced) refuses to run.
//!
//! Re-applying a sequence is idempotent: one whose insert committed before a crash is
//! searched without its own record and not inserted again.
//!
//! Once it has caught up with the log as it was at start, the replica also answers
//! identifications and verifications ([`super::reads`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::AckKind;
use futures::StreamExt as _;
use tokio::sync::watch;
use tunggal_index::gallery::{Gallery, GalleryConfig};
use tunggal_index::search::SearchConfig;

use super::files::io;
use super::snapshot::publish::{Origin, Publisher};
use super::stats::{self, Stage, Started, Work};
use super::topology::{self, Switch, Topology, ENROL_STREAM};
use super::wire::LogEntry;
use super::{nats, reads, ClusterError};

/// The file holding the last applied stream sequence.
pub const APPLIED_NAME: &str = "applied-sequence";
/// How long the log waits for a delivered enrolment's acknowledgement before delivering it
/// again.
const ACK_WAIT: Duration = Duration::from_secs(30);
/// How often a replica still applying an enrolment tells the log it is working on it.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// How long an idle log is waited on before a pending snapshot is looked at again.
const SNAPSHOT_IDLE: Duration = Duration::from_secs(1);
/// How long a failed consumer is tried again before the replica gives up.
pub(super) const REBIND_WAIT: Duration = Duration::from_secs(300);

/// Settings of one shard replica.
#[derive(Debug, Clone)]
pub struct ShardOptions {
    /// NATS server URLs, comma-separated.
    pub nats: String,
    /// Shard index.
    pub shard: u32,
    /// Shard count.
    pub shards: u32,
    /// Replica number (names its durable consumer).
    pub replica: u32,
    /// Data directory (the partition's gallery and its applied sequence).
    pub data_dir: PathBuf,
    /// Copies of each stream and of the bucket (JetStream replication).
    pub stream_replicas: usize,
    /// Search policy (as single node).
    pub search: SearchConfig,
    /// Gallery configuration.
    pub gallery: GalleryConfig,
    /// Publish a snapshot of the partition after every this many applied sequences
    /// (0: never; see [`super::snapshot`]).
    pub snapshot_every: u64,
}

/// A running shard replica.
#[derive(Debug)]
pub struct Shard {
    pub(super) options: ShardOptions,
    pub(super) gallery: Arc<Gallery>,
    pub(super) applied: u64,
    pub(super) progress: watch::Sender<u64>,
    /// The switch to a new shard count that stops this set, once read from `TOPOLOGY`.
    switch: Option<Switch>,
    /// Time per stage of the entries applied (answered by [`stats::serve`]).
    pub(super) work: Work,
}

/// The last applied sequence recorded in `dir` (0 when none was).
pub fn read_applied(dir: &Path) -> Result<u64, ClusterError> {
    let path = dir.join(APPLIED_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().map_err(|_| {
            ClusterError::Malformed(format!("{}: {:?} is not a sequence", path.display(), text))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Records `sequence` as applied: written beside, synced, renamed over.
pub(crate) fn write_applied(dir: &Path, sequence: u64) -> Result<(), ClusterError> {
    let path = dir.join(APPLIED_NAME);
    let tmp = dir.join(format!("{APPLIED_NAME}.tmp"));
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        writeln!(f, "{sequence}").map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(())
}

/// Runs `job` on the blocking pool (its CPU work enters rayon from there).
pub(crate) async fn blocking<R: Send + 'static>(
    job: impl FnOnce() -> Result<R, ClusterError> + Send + 'static,
) -> Result<R, ClusterError> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| ClusterError::Task(e.to_string()))?
}

/// The durable consumer's configuration, delivering from `start`.
fn consumer_config(name: &str, start: u64) -> pull::Config {
    pull::Config {
        durable_name: Some(name.to_owned()),
        deliver_policy: if start <= 1 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: start,
            }
        },
        ack_policy: AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_ack_pending: 1,
        ..Default::default()
    }
}

impl Shard {
    /// Opens (or creates, with the shipped calibration) the partition in `options.data_dir`.
    pub fn open(options: ShardOptions) -> Result<Self, ClusterError> {
        let dir = options.data_dir.join(crate::engine::GALLERY_DIR);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let calibration = if dir.join(tunggal_index::gallery::CALIBRATION_NAME).exists() {
            None
        } else {
            Some(
                crate::engine::calibrate::shipped()
                    .map_err(|e| ClusterError::Malformed(e.to_string()))?,
            )
        };
        let gallery = Gallery::open(&dir, options.gallery.clone(), calibration)?;
        let applied = read_applied(&options.data_dir)?;
        Ok(Self {
            options,
            gallery: Arc::new(gallery),
            applied,
            progress: watch::channel(applied).0,
            switch: None,
            work: Work::default(),
        })
    }

    /// The partition.
    pub fn gallery(&self) -> &Gallery {
        &self.gallery
    }

    /// The last applied sequence.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The durable consumer's name.
    pub fn consumer_name(&self) -> String {
        let o = &self.options;
        format!("shard-{}-of-{}-r{}", o.shard, o.shards, o.replica)
    }

    /// Checks the partition against the log and (re)creates the durable consumer to deliver
    /// from `applied + 1`; the log's last sequence.
    async fn bind(&self, topology: &Topology) -> Result<(PullConsumer, u64), ClusterError> {
        let name = self.consumer_name();
        let mut stream = topology.js.get_stream(ENROL_STREAM).await.map_err(nats)?;
        let last = stream.info().await.map_err(nats)?.state.last_sequence;
        if self.applied > last {
            return Err(ClusterError::Ahead {
                applied: self.applied,
                last,
            });
        }
        match stream.consumer_info(&name).await {
            Ok(info) => {
                let acked = info.ack_floor.stream_sequence;
                if acked > self.applied {
                    return Err(ClusterError::Behind {
                        applied: self.applied,
                        consumer: name,
                        acked,
                    });
                }
                stream.delete_consumer(&name).await.map_err(nats)?;
            }
            // The error of an absent consumer carries JetStream's code 10014.
            Err(e) if e.to_string().contains("10014") => {}
            Err(e) => return Err(nats(e)),
        }
        let consumer = stream
            .create_consumer(consumer_config(&name, self.applied + 1))
            .await
            .map_err(nats)?;
        Ok((consumer, last))
    }

    /// [`Shard::bind`], tried again while the failure is a NATS one (an election, a server
    /// lost); a refusal (the partition behind or ahead of the log) is returned at once.
    async fn bind_retrying(
        &self,
        topology: &Topology,
    ) -> Result<(pull::Stream, u64), ClusterError> {
        let deadline = tokio::time::Instant::now() + REBIND_WAIT;
        loop {
            let attempt = async {
                let (consumer, last) = self.bind(topology).await?;
                let messages = consumer.messages().await.map_err(nats)?;
                Ok::<_, ClusterError>((messages, last))
            }
            .await;
            match attempt {
                Ok(bound) => return Ok(bound),
                Err(e @ ClusterError::Nats(_)) if tokio::time::Instant::now() < deadline => {
                    tracing::warn!(error = %e, "binding the consumer of the enrolment log");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Consumes the log until a failure it cannot recover from; `ready` is called once the
    /// consumer is bound, with the applied sequence.
    pub async fn run(mut self, ready: impl FnOnce(u64)) -> Result<(), ClusterError> {
        let topology = topology::connect(&self.options.nats, self.options.stream_replicas).await?;
        let (mut messages, caught_up_at) = self.bind_retrying(&topology).await?;
        let figures = tokio::spawn(stats::serve(
            topology.client.clone(),
            Arc::clone(&self.gallery),
            self.options.clone(),
            self.progress.subscribe(),
            self.work.clone(),
        ));
        ready(self.applied);
        let o = &self.options;
        let mut snapshots = Publisher::new(
            o.snapshot_every,
            &o.data_dir,
            Origin {
                shard: o.shard,
                shards: o.shards,
                replica: o.replica,
                sequence: 0,
            },
            o.stream_replicas,
        );
        let mut reads = None;
        loop {
            if reads.is_none() && self.applied >= caught_up_at {
                reads = Some(tokio::spawn(reads::serve(
                    topology.client.clone(),
                    Arc::clone(&self.gallery),
                    self.options.clone(),
                    self.progress.subscribe(),
                )));
                tracing::info!(applied = self.applied, "caught up: answering reads");
            }
            // With a snapshot pending, an idle log still lets it be taken.
            let idle = snapshots.pending().then_some(SNAPSHOT_IDLE);
            match self.step(&topology, &mut messages, idle).await {
                Ok(()) => {
                    snapshots
                        .after_apply(&topology.js, &self.gallery, self.applied)
                        .await;
                }
                Err(ClusterError::SwitchedOver { at, to }) => {
                    // The new set decides from `at + 1`; this one keeps answering reads of
                    // the log up to `at` until it is stopped.
                    println!(
                        "tunggal: shard {}/{} replica {} stopped after sequence {at}: the set \
                         of {to} shards decides every later entry",
                        self.options.shard, self.options.shards, self.options.replica
                    );
                    let reads = reads.unwrap_or_else(|| {
                        tokio::spawn(reads::serve(
                            topology.client.clone(),
                            Arc::clone(&self.gallery),
                            self.options.clone(),
                            self.progress.subscribe(),
                        ))
                    });
                    let done = reads.await.map_err(|e| ClusterError::Task(e.to_string()))?;
                    figures.abort();
                    return done;
                }
                Err(ClusterError::Nats(e)) => {
                    // Whatever was delivered and not acknowledged comes again from the
                    // new consumer, which starts after the last applied sequence.
                    tracing::warn!(error = %e, applied = self.applied, "consumer lost");
                    messages = self.bind_retrying(&topology).await?.0;
                }
                Err(e) => {
                    if let Some(task) = reads {
                        task.abort();
                    }
                    figures.abort();
                    return Err(e);
                }
            }
        }
    }

    /// Takes the next message from the log, applies it unless it was applied, and
    /// acknowledges it; with `idle_after`, returns without one when none comes in that
    /// time. A NATS error means the consumer must be bound again.
    async fn step(
        &mut self,
        topology: &Topology,
        messages: &mut pull::Stream,
        idle_after: Option<Duration>,
    ) -> Result<(), ClusterError> {
        let idle = Started::now();
        let next = match idle_after {
            // Waiting for the next message holds no message: giving up the wait loses none.
            Some(limit) => match tokio::time::timeout(limit, messages.next()).await {
                Ok(next) => next,
                Err(_) => {
                    self.work.done(Stage::Idle, idle);
                    return Ok(());
                }
            },
            None => messages.next().await,
        };
        let msg = match next {
            Some(Ok(msg)) => msg,
            Some(Err(e)) => return Err(nats(e)),
            None => return Err(ClusterError::Nats("the consumer's messages ended".into())),
        };
        self.work.done(Stage::Idle, idle);
        let sequence = msg.info().map_err(nats)?.stream_sequence;
        if sequence > self.applied + 1 {
            return Err(ClusterError::Gap {
                applied: self.applied,
                delivered: sequence,
            });
        }
        if sequence > self.applied {
            let started = Started::now();
            self.check_switch(topology, sequence).await?;
            self.work.done(Stage::Topology, started);
            let entry = LogEntry::decode(&msg.payload);
            let work = self.apply(topology, sequence, entry);
            tokio::pin!(work);
            let mut tick = tokio::time::interval(PROGRESS_EVERY);
            tick.tick().await;
            loop {
                tokio::select! {
                    done = &mut work => { done?; break; }
                    _ = tick.tick() => {
                        if let Err(e) = msg.ack_with(AckKind::Progress).await {
                            tracing::warn!(sequence, error = %e, "telling the log of progress");
                        }
                    }
                }
            }
        }
        let started = Started::now();
        msg.double_ack().await.map_err(nats)?;
        self.work.done(Stage::Ack, started);
        Ok(())
    }

    /// Stops this set before an entry past its announced switch ([`ClusterError::SwitchedOver`]).
    /// `TOPOLOGY` is read before every entry until a switch from this set's count is known:
    /// the announcement is written before the log reaches its sequence, so it is seen
    /// before the first entry the new set decides.
    async fn check_switch(
        &mut self,
        topology: &Topology,
        sequence: u64,
    ) -> Result<(), ClusterError> {
        let shards = self.options.shards;
        if self.switch.is_none() {
            self.switch = topology.switch().await?.filter(|s| s.from == shards);
        }
        match self.switch {
            Some(s) if sequence > s.at => Err(ClusterError::SwitchedOver { at: s.at, to: s.to }),
            _ => Ok(()),
        }
    }
}
