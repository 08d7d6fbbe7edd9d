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
//! A restarted replica maps its segments and its consumer redelivers from the first
//! unacknowledged message. Re-applying a sequence is idempotent: an applied one is only
//! acknowledged, and one whose insert committed before the crash is searched without its
//! own record and not inserted again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use futures::StreamExt as _;
use tunggal_index::gallery::{Gallery, GalleryConfig, GalleryError, PreparedPerson};
use tunggal_index::search::{check, scorer, second_stage, stage1, SearchConfig, Stage1Probe};

use super::topology::{self, Topology, ENROL_STREAM};
use super::wire::{EnrolMessage, Partial, WireMatch};
use super::{fuse, nats, shard_of, ClusterError};

/// The file holding the last applied stream sequence.
pub const APPLIED_NAME: &str = "applied-sequence";
/// How long the owning shard waits for the other shards' partials before it asks again.
const COLLECT_WAIT: Duration = Duration::from_secs(30);

/// Settings of one shard replica.
#[derive(Debug, Clone)]
pub struct ShardOptions {
    /// NATS server URL.
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
}

/// A running shard replica.
#[derive(Debug)]
pub struct Shard {
    options: ShardOptions,
    gallery: Arc<Gallery>,
    applied: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ClusterError + '_ {
    move |source| ClusterError::Io {
        path: path.to_path_buf(),
        source,
    }
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
fn write_applied(dir: &Path, sequence: u64) -> Result<(), ClusterError> {
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

async fn blocking<R: Send + 'static>(
    job: impl FnOnce() -> Result<R, ClusterError> + Send + 'static,
) -> Result<R, ClusterError> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| ClusterError::Task(e.to_string()))?
}

/// Searches the partition for the enrolment at `sequence`: the partial result, and the
/// prepared person when it could be searched.
pub fn search_partition(
    gallery: &Gallery,
    config: &SearchConfig,
    sequence: u64,
    shard: u32,
    shards: u32,
    message: Result<EnrolMessage, String>,
) -> Result<(Partial, Option<PreparedPerson>), ClusterError> {
    let snap = gallery.snapshot();
    // A replica that inserted this person before a crash searches as if it had not.
    let own = snap.get(sequence).map_err(GalleryError::from)?.is_some();
    let mut partial = Partial {
        sequence,
        shard,
        shards,
        partition_size: (snap.len() - usize::from(own)) as u64,
        rejected: None,
        shortlist: Vec::new(),
        candidates: Vec::new(),
    };
    let enrolment = match message.and_then(|m| m.enrolment().map_err(|e| e.to_string())) {
        Ok(e) => e,
        Err(detail) => {
            tracing::warn!(sequence, %detail, "malformed enrolment on the log");
            partial.rejected = Some("malformed_enrolment".to_owned());
            return Ok((partial, None));
        }
    };
    let prepared = match gallery.prepare(&enrolment) {
        Ok(p) => p,
        Err(GalleryError::InvalidEnrolment(detail)) => {
            tracing::warn!(sequence, %detail, "enrolment on the log cannot be prepared");
            partial.rejected = Some("invalid_enrolment".to_owned());
            return Ok((partial, None));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(r) = check(&prepared, config) {
        partial.rejected = Some(crate::engine::rejection_reason(&r).to_owned());
        return Ok((partial, None));
    }
    let query = Stage1Probe::new(
        &prepared.record,
        gallery.preparer().iris(),
        config.iris_gate,
    )?;
    let k = config.shortlist + usize::from(own);
    let mut hits = stage1::scan(&snap, &[query], &scorer(gallery), k)?
        .pop()
        .unwrap_or_default();
    hits.retain(|h| h.key != sequence);
    hits.truncate(config.shortlist);
    let candidates = second_stage(gallery, &snap, &prepared, &hits)?;
    partial.shortlist = hits.iter().map(|h| h.key).collect();
    partial.candidates = candidates.iter().map(WireMatch::from).collect();
    Ok((partial, Some(prepared)))
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

    /// Consumes the log until the connection fails; `ready` is called once the consumer is
    /// bound, with the applied sequence.
    pub async fn run(mut self, ready: impl FnOnce(u64)) -> Result<(), ClusterError> {
        let topology = topology::connect(&self.options.nats, self.options.stream_replicas).await?;
        let stream = topology.js.get_stream(ENROL_STREAM).await.map_err(nats)?;
        let name = self.consumer_name();
        let mut consumer = stream
            .get_or_create_consumer(
                &name,
                pull::Config {
                    durable_name: Some(name.clone()),
                    deliver_policy: DeliverPolicy::All,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(300),
                    max_ack_pending: 1,
                    ..Default::default()
                },
            )
            .await
            .map_err(nats)?;
        let acked = consumer
            .info()
            .await
            .map_err(nats)?
            .ack_floor
            .stream_sequence;
        if acked > self.applied {
            return Err(ClusterError::Behind {
                applied: self.applied,
                consumer: name,
                acked,
            });
        }
        ready(self.applied);
        let mut messages = consumer.messages().await.map_err(nats)?;
        while let Some(msg) = messages.next().await {
            // A missed heartbeat while an enrolment was being applied, or a reconnection:
            // the stream goes on, and whatever was not acknowledged is delivered again.
            let msg = match msg {
                Ok(msg) => msg,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the enrolment log");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let sequence = msg.info().map_err(nats)?.stream_sequence;
            if sequence > self.applied {
                let body =
                    serde_json::from_slice::<EnrolMessage>(&msg.payload).map_err(|e| e.to_string());
                self.apply(&topology, sequence, body).await?;
            }
            if let Err(e) = msg.double_ack().await {
                // Delivered again later and acknowledged then without work (applied).
                tracing::warn!(sequence, error = %e, "acknowledging");
            }
        }
        Ok(())
    }

    /// Applies the enrolment at `sequence` (see the module documentation).
    async fn apply(
        &mut self,
        topology: &Topology,
        sequence: u64,
        body: Result<EnrolMessage, String>,
    ) -> Result<(), ClusterError> {
        let o = self.options.clone();
        let gallery = Arc::clone(&self.gallery);
        let (partial, prepared) = blocking(move || {
            search_partition(&gallery, &o.search, sequence, o.shard, o.shards, body)
        })
        .await?;
        // Published once per sequence and shard (its message id), so trying again after a
        // failure (a NATS node lost, a leader election) cannot publish it twice.
        while let Err(e) = topology.publish_partial(&partial).await {
            tracing::warn!(sequence, error = %e, "publishing the partial result");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let o = &self.options;
        if let Some(prepared) = prepared.filter(|_| shard_of(sequence, o.shards) == o.shard) {
            let partials = loop {
                match topology.collect(sequence, o.shards, COLLECT_WAIT).await {
                    Ok(p) => break p,
                    Err(ClusterError::PartialsMissing { got, want, .. }) => {
                        tracing::warn!(sequence, got, want, "waiting for the other shards");
                    }
                    Err(e) => {
                        tracing::warn!(sequence, error = %e, "collecting the partials");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            };
            if fuse(&partials, &o.search)?.is_single() {
                let gallery = Arc::clone(&self.gallery);
                blocking(move || {
                    if gallery.get(sequence)?.is_none() {
                        gallery.insert(sequence, &prepared)?;
                    }
                    Ok(())
                })
                .await?;
            }
        }
        let dir = self.options.data_dir.clone();
        blocking(move || write_applied(&dir, sequence)).await?;
        self.applied = sequence;
        Ok(())
    }
}
