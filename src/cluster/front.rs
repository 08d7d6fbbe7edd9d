//! The front-end side of one enrolment in cluster mode.
//!
//! 1. A verdict already kept under the request id in `VERDICT` is the answer (a retry,
//!    through this front-end or another).
//! 2. Otherwise the enrolment is published to `ENROL` with `Nats-Msg-Id` = request id; a
//!    retry inside the duplicate window gets the first publication's sequence back.
//! 3. The shards' partials for that sequence are collected and fused ([`super::fuse`]).
//! 4. The verdict is created in `VERDICT` under the request id; if another front-end was
//!    first, its (identical) verdict is read back and answered.

use std::time::Duration;

use sha2::{Digest as _, Sha256};
use tunggal_index::gallery::Enrolment;
use tunggal_index::search::SearchConfig;

use super::topology::{self, Topology, ENROL_SUBJECT};
use super::wire::{EnrolMessage, StoredVerdict};
use super::{fuse, nats, ClusterError};

/// How long a front-end waits for the shards' partials by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

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
    /// Connects to the cluster of `shards` shards at `url`.
    pub async fn connect(url: &str, shards: u32, replicas: usize) -> Result<Self, ClusterError> {
        Ok(Self {
            topology: topology::connect(url, replicas).await?,
            shards,
            search: SearchConfig::default(),
            wait: DEFAULT_WAIT,
        })
    }

    /// Waits up to `wait` for the partials of one enrolment.
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The verdict kept for `request_id`, if any.
    pub async fn stored(&self, request_id: &str) -> Result<Option<StoredVerdict>, ClusterError> {
        let Some(bytes) = self
            .topology
            .verdicts
            .get(verdict_key(request_id))
            .await
            .map_err(nats)?
        else {
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
        if request_id.is_empty() || !request_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ClusterError::RequestId(request_id.to_owned()));
        }
        let body = serde_json::to_vec(&EnrolMessage::new(request_id, enrolment))
            .map_err(|e| ClusterError::Malformed(e.to_string()))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, request_id);
        let ack = self
            .topology
            .js
            .publish_with_headers(ENROL_SUBJECT, headers, body.into())
            .await
            .map_err(nats)?
            .await
            .map_err(nats)?;
        Ok(ack.sequence)
    }

    /// Deduplicates `enrolment` against every earlier one in the cluster; the answer is
    /// kept under `request_id` before it is returned.
    pub async fn enrol(
        &self,
        request_id: &str,
        enrolment: &Enrolment,
    ) -> Result<StoredVerdict, ClusterError> {
        if let Some(v) = self.stored(request_id).await? {
            return Ok(v);
        }
        let sequence = self.publish(request_id, enrolment).await?;
        let partials = self
            .topology
            .collect(sequence, self.shards, self.wait)
            .await?;
        let verdict = fuse(&partials, &self.search)?.stored(request_id, sequence);
        let bytes =
            serde_json::to_vec(&verdict).map_err(|e| ClusterError::Malformed(e.to_string()))?;
        let key = verdict_key(request_id);
        match self.topology.verdicts.create(&key, bytes.into()).await {
            Ok(_) => Ok(verdict),
            Err(e) => match self.stored(request_id).await? {
                Some(first) => Ok(first),
                None => Err(nats(e)),
            },
        }
    }
}
