//! The front-end side of one enrolment, identification or verification in cluster mode.
//!
//! An enrolment:
//! 1. A verdict already kept under the request id in `VERDICT` is the answer (a retry,
//!    through this front-end or another).
//! 2. Otherwise the enrolment is published to `ENROL` with `Nats-Msg-Id` = request id; a
//!    retry inside the duplicate window gets the first publication's sequence back.
//! 3. The shards' partials for that sequence are collected and fused ([`super::fuse`]).
//! 4. The verdict is created in `VERDICT` under the request id; if another front-end was
//!    first, its (identical) verdict is read back and answered.
//!
//! Every step is idempotent, so a step that fails on a NATS error (a node lost, a leader
//! being elected) is tried again until the front-end's wait has passed.
//!
//! Identifications and verifications are requests to one replica of each shard
//! ([`super::reads`]).

use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use tunggal_index::gallery::Enrolment;
use tunggal_index::search::{fusion, GalleryMatch, SearchConfig};

use super::reads::reads_subject;
use super::topology::{self, retrying, Topology, ENROL_SUBJECT};
use super::wire::{EnrolMessage, LogEntry, Partial, ReadReply, ReadRequest, StoredVerdict};
use super::{fuse, nats, shard_of, ClusterError, Fused};

/// How long a front-end waits for the shards' partials by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// How long a front-end tries to reach a replica of a shard for a read.
pub const READ_WAIT: Duration = Duration::from_secs(30);

/// The wall time of each step of one enrolment on a front-end ([`Front::enrol_timed`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnrolTimes {
    /// Looking for a verdict kept under the request id.
    pub stored: Duration,
    /// Publishing to `ENROL` until the log confirmed the sequence.
    pub publish: Duration,
    /// Reading the deciding shard count and collecting every shard's partial.
    pub collect: Duration,
    /// Fusing and keeping the verdict in `VERDICT`.
    pub keep: Duration,
}

/// A front-end's handle on the cluster.
#[derive(Debug, Clone)]
pub struct Front {
    topology: Topology,
    shards: u32,
    search: SearchConfig,
    wait: Duration,
}

/// The key of a request id in the `VERDICT` bucket: `r` and the SHA-256 of the id in hex
/// (bucket keys allow few characters).
pub fn verdict_key(request_id: &str) -> String {
    let digest = Sha256::digest(request_id.as_bytes());
    let mut key = String::with_capacity(65);
    key.push('r');
    for b in digest {
        key.push_str(&format!("{b:02x}"));
    }
    key
}

impl Front {
    /// Connects to the cluster of `shards` shards at `urls` (comma-separated).
    pub async fn connect(urls: &str, shards: u32, replicas: usize) -> Result<Self, ClusterError> {
        Ok(Self {
            topology: topology::connect(urls, replicas).await?,
            shards,
            search: SearchConfig::default(),
            wait: DEFAULT_WAIT,
        })
    }

    /// Waits up to `wait` for the partials of one enrolment, and tries each step that long.
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The shard count given at start (the count of the set that decides until a switch
    /// to another count is announced in `TOPOLOGY`).
    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// The connection's streams and buckets.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The shard count of the set that decides the log entry at `sequence`: the announced
    /// switch's (read from `TOPOLOGY`), else the count given at start.
    pub async fn shards_at(&self, sequence: u64) -> Result<u32, ClusterError> {
        let switch = retrying("reading the topology", self.wait, || self.topology.switch()).await?;
        Ok(topology::shards_at(switch, sequence, self.shards))
    }

    /// Every partial of the entry at `sequence`, from the set that decides it.
    pub(super) async fn partials(&self, sequence: u64) -> Result<Vec<Partial>, ClusterError> {
        let shards = self.shards_at(sequence).await?;
        self.topology.collect(sequence, shards, self.wait).await
    }

    /// Publishes a log entry (`body`) under the message id `request_id`; its sequence.
    pub(super) async fn publish_entry(
        &self,
        request_id: &str,
        body: Vec<u8>,
    ) -> Result<u64, ClusterError> {
        if request_id.is_empty() || !request_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ClusterError::RequestId(request_id.to_owned()));
        }
        retrying("publishing to the log", self.wait, || async {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, request_id);
            let ack = self
                .topology
                .js
                .publish_with_headers(ENROL_SUBJECT, headers, body.clone().into())
                .await
                .map_err(nats)?
                .await
                .map_err(nats)?;
            Ok(ack.sequence)
        })
        .await
    }

    /// The search policy.
    pub fn search_config(&self) -> &SearchConfig {
        &self.search
    }

    /// The verdict kept for `request_id`, if any.
    pub async fn stored(&self, request_id: &str) -> Result<Option<StoredVerdict>, ClusterError> {
        let key = verdict_key(request_id);
        let bytes = retrying("reading a verdict", self.wait, || async {
            self.topology.verdicts.get(&key).await.map_err(nats)
        })
        .await?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ClusterError::Malformed(format!("stored verdict: {e}")))
    }

    /// Publishes `enrolment` to the log under `request_id`; its sequence. Within the
    /// duplicate window, publishing the same request id again returns the first sequence
    /// and adds nothing to the log.
    pub async fn publish(
        &self,
        request_id: &str,
        enrolment: &Enrolment,
    ) -> Result<u64, ClusterError> {
        let body = serde_json::to_vec(&EnrolMessage::new(request_id, enrolment))
            .map_err(|e| ClusterError::Malformed(e.to_string()))?;
        self.publish_entry(request_id, body).await
    }

    /// Deduplicates `enrolment` against every earlier one in the cluster; the answer is
    /// kept under `request_id` before it is returned.
    pub async fn enrol(
        &self,
        request_id: &str,
        enrolment: &Enrolment,
    ) -> Result<StoredVerdict, ClusterError> {
        Ok(self.enrol_timed(request_id, enrolment).await?.0)
    }

    /// [`Front::enrol`], with the wall time of each of its steps.
    pub async fn enrol_timed(
        &self,
        request_id: &str,
        enrolment: &Enrolment,
    ) -> Result<(StoredVerdict, EnrolTimes), ClusterError> {
        let mut times = EnrolTimes::default();
        let started = Instant::now();
        if let Some(v) = self.stored(request_id).await? {
            return Ok((v, times));
        }
        times.stored = started.elapsed();
        let started = Instant::now();
        let sequence = self.publish(request_id, enrolment).await?;
        times.publish = started.elapsed();
        let started = Instant::now();
        let partials = self.partials(sequence).await?;
        times.collect = started.elapsed();
        let started = Instant::now();
        let verdict = fuse(&partials, &self.search)?.stored(request_id, sequence);
        let bytes =
            serde_json::to_vec(&verdict).map_err(|e| ClusterError::Malformed(e.to_string()))?;
        let key = verdict_key(request_id);
        let created = retrying("keeping a verdict", self.wait, || async {
            match self
                .topology
                .verdicts
                .create(&key, bytes.clone().into())
                .await
            {
                Ok(_) => Ok(true),
                // Kept already: by another front-end, or by this one when the answer to an
                // earlier attempt was lost.
                Err(e) if e.kind() == async_nats::jetstream::kv::CreateErrorKind::AlreadyExists => {
                    Ok(false)
                }
                Err(e) => Err(nats(e)),
            }
        })
        .await?;
        times.keep = started.elapsed();
        if created {
            return Ok((verdict, times));
        }
        let verdict = self
            .stored(request_id)
            .await?
            .ok_or_else(|| ClusterError::Nats(format!("the verdict of {request_id} vanished")))?;
        Ok((verdict, times))
    }

    /// The last sequence of the enrolment log.
    pub async fn last_sequence(&self) -> Result<u64, ClusterError> {
        retrying("reading the log's last sequence", self.wait, || async {
            let mut enrol = self.topology.enrol.clone();
            Ok(enrol.info().await.map_err(nats)?.state.last_sequence)
        })
        .await
    }

    /// The entry at `sequence` of the log.
    pub async fn entry(&self, sequence: u64) -> Result<LogEntry, ClusterError> {
        let m = retrying("reading the log", self.wait, || async {
            self.topology
                .enrol
                .get_raw_message(sequence)
                .await
                .map_err(nats)
        })
        .await?;
        LogEntry::decode(&m.payload)
            .map_err(|e| ClusterError::Malformed(format!("log entry {sequence}: {e}")))
    }

    /// The enrolment at `sequence` of the log.
    pub async fn log_entry(&self, sequence: u64) -> Result<EnrolMessage, ClusterError> {
        match self.entry(sequence).await? {
            LogEntry::Enrol(m) => Ok(m),
            LogEntry::Control(_) => Err(ClusterError::Malformed(format!(
                "log entry {sequence} is not an enrolment"
            ))),
        }
    }

    /// Sends `request` to one replica of `shard` of `shards`, trying again while no replica
    /// answers or the one that did had not applied enough of the log.
    async fn ask(
        &self,
        shard: u32,
        shards: u32,
        request: &ReadRequest,
    ) -> Result<ReadReply, ClusterError> {
        let body =
            serde_json::to_vec(request).map_err(|e| ClusterError::Malformed(e.to_string()))?;
        let subject = reads_subject(shard, shards);
        let unavailable = |detail: String| ClusterError::ShardUnavailable { shard, detail };
        retrying("asking a shard", READ_WAIT, || async {
            let msg = self
                .topology
                .client
                .request(subject.clone(), body.clone().into())
                .await
                .map_err(|e| unavailable(e.to_string()))?;
            match serde_json::from_slice(&msg.payload) {
                Ok(ReadReply::Behind { applied }) => Err(unavailable(format!(
                    "the replica that answered is at sequence {applied}, the read needs {}",
                    request.min_sequence
                ))),
                Ok(reply) => Ok(reply),
                Err(e) => Err(ClusterError::Malformed(format!("read reply: {e}"))),
            }
        })
        .await
    }

    /// 1:N search of `probe` over every partition, with every enrolment published before
    /// the call included; fused as an enrolment is (nothing is enrolled).
    /// Asked of the set that decides the log's last entry.
    pub async fn identify(&self, probe: &Enrolment) -> Result<Fused, ClusterError> {
        let last = self.last_sequence().await?;
        let shards = self.shards_at(last).await?;
        let request = ReadRequest {
            min_sequence: last,
            key: None,
            probe: EnrolMessage::new("identify", probe),
        };
        let replies =
            futures::future::join_all((0..shards).map(|shard| self.ask(shard, shards, &request)))
                .await;
        let mut partials: Vec<Partial> = Vec::with_capacity(replies.len());
        for (shard, reply) in (0..shards).zip(replies) {
            match reply? {
                ReadReply::Identify(p) if p.shard == shard && p.shards == shards => {
                    partials.push(p);
                }
                other => {
                    return Err(ClusterError::ShardUnavailable {
                        shard,
                        detail: format!("unexpected answer to an identification: {other:?}"),
                    })
                }
            }
        }
        fuse(&partials, &self.search)
    }

    /// 1:1 comparison of `probe` with the person `key` (held by the shard that owns it);
    /// `None` when no such person is in the gallery. Asked of the set that decides the
    /// log's last entry, once it has applied every entry published before the call (a
    /// deletion included).
    pub async fn verify(
        &self,
        key: u64,
        probe: &Enrolment,
    ) -> Result<Option<GalleryMatch>, ClusterError> {
        let last = self.last_sequence().await?;
        let shards = self.shards_at(last).await?;
        let shard = shard_of(key, shards);
        let request = ReadRequest {
            min_sequence: last.max(key),
            key: Some(key),
            probe: EnrolMessage::new("verify", probe),
        };
        match self.ask(shard, shards, &request).await? {
            ReadReply::Verify(m) => m.map(|m| m.to_match()).transpose(),
            ReadReply::Failed(detail) => Err(ClusterError::ShardUnavailable { shard, detail }),
            other => Err(ClusterError::ShardUnavailable {
                shard,
                detail: format!("unexpected answer to a verification: {other:?}"),
            }),
        }
    }

    /// The fused score at or above which a verification matches (the single-node rule: the
    /// threshold of a gallery of one).
    pub fn verify_threshold(&self) -> f32 {
        fusion::threshold(self.search.target_fpir, 1)
    }
}
