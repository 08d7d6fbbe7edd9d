//! The JetStream objects of the cluster, created by whichever process starts first (the same
//! configuration from every process, so a second creation is a no-op).
//!
//! - Stream [`ENROL_STREAM`] on subject [`ENROL_SUBJECT`]: the enrolment log. Its sequence
//!   is the one total order of enrolments and the applicant's person key. The duplicate
//!   window ([`DUPLICATE_WINDOW`]) makes a retry with the same `Nats-Msg-Id` (the request
//!   id) return the first publication's sequence.
//! - Stream [`PARTIAL_STREAM`] on subjects `partial.<sequence>`: each shard's
//!   partial result, kept (not a plain subject) so a front-end that starts collecting after
//!   a shard published, or a retry through another front-end, still finds it. The message
//!   id `<sequence>.<shard>` keeps one partial per shard when several replicas publish it.
//! - Key-value bucket [`VERDICT_BUCKET`]: the decided verdict under the request id.

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use futures::StreamExt as _;

use super::wire::Partial;
use super::{nats, ClusterError};

/// The enrolment log.
pub const ENROL_STREAM: &str = "ENROL";
/// Its subject.
pub const ENROL_SUBJECT: &str = "enrol";
/// The partial results.
pub const PARTIAL_STREAM: &str = "PARTIAL";
/// The verdicts by request id.
pub const VERDICT_BUCKET: &str = "VERDICT";
/// How long a retried request id is recognised by the log itself (after that, the
/// `VERDICT` bucket answers it).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How long partial results are kept.
pub const PARTIAL_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The subject of the partials for `sequence` (every shard's; the shard is in the body and
/// the message id, so the collecting consumer's filter has no wildcard).
pub fn partial_subject(sequence: u64) -> String {
    format!("partial.{sequence}")
}

/// The handles of the cluster's streams and bucket.
#[derive(Clone)]
pub struct Topology {
    /// The JetStream context.
    pub js: jetstream::Context,
    /// `PARTIAL`.
    pub partials: stream::Stream,
    /// `VERDICT`.
    pub verdicts: kv::Store,
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topology").finish_non_exhaustive()
    }
}

/// Connects to `url` (retrying until the server answers) and makes sure the streams and the
/// bucket exist with `replicas` copies each.
pub async fn connect(url: &str, replicas: usize) -> Result<Topology, ClusterError> {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(url)
        .await
        .map_err(nats)?;
    let js = jetstream::new(client);
    js.get_or_create_stream(stream::Config {
        name: ENROL_STREAM.to_owned(),
        subjects: vec![ENROL_SUBJECT.to_owned()],
        duplicate_window: DUPLICATE_WINDOW,
        num_replicas: replicas,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(nats)?;
    let partials = js
        .get_or_create_stream(stream::Config {
            name: PARTIAL_STREAM.to_owned(),
            subjects: vec!["partial.>".to_owned()],
            duplicate_window: Duration::from_secs(3600),
            max_age: PARTIAL_AGE,
            num_replicas: replicas,
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(nats)?;
    let verdicts = match js.get_key_value(VERDICT_BUCKET).await {
        Ok(kv) => kv,
        Err(_) => match js
            .create_key_value(kv::Config {
                bucket: VERDICT_BUCKET.to_owned(),
                history: 1,
                num_replicas: replicas,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
        {
            Ok(kv) => kv,
            // Another process created it meanwhile.
            Err(e) => js
                .get_key_value(VERDICT_BUCKET)
                .await
                .map_err(|_| nats(e))?,
        },
    };
    Ok(Topology {
        js,
        partials,
        verdicts,
    })
}

impl Topology {
    /// Publishes `partial` (once per sequence and shard, whichever replica comes first).
    pub async fn publish_partial(&self, partial: &Partial) -> Result<(), ClusterError> {
        let body =
            serde_json::to_vec(partial).map_err(|e| ClusterError::Malformed(e.to_string()))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("{}.{}", partial.sequence, partial.shard).as_str(),
        );
        self.js
            .publish_with_headers(partial_subject(partial.sequence), headers, body.into())
            .await
            .map_err(nats)?
            .await
            .map_err(nats)?;
        Ok(())
    }

    /// The `shards` partials for `sequence`, ordered by shard; waits for them up to `wait`.
    pub async fn collect(
        &self,
        sequence: u64,
        shards: u32,
        wait: Duration,
    ) -> Result<Vec<Partial>, ClusterError> {
        use jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
        let consumer = self
            .partials
            .create_consumer(pull::Config {
                filter_subject: partial_subject(sequence),
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::Explicit,
                inactive_threshold: Duration::from_secs(30),
                ..Default::default()
            })
            .await
            .map_err(nats)?;
        let name = consumer.cached_info().name.clone();
        let mut found: Vec<Option<Partial>> = vec![None; shards as usize];
        let got = |found: &[Option<Partial>]| found.iter().flatten().count();
        let deadline = tokio::time::Instant::now() + wait;
        let mut messages = consumer.messages().await.map_err(nats)?;
        while got(&found) < found.len() {
            let next = tokio::time::timeout_at(deadline, messages.next()).await;
            let msg = match next {
                Ok(Some(Ok(msg))) => msg,
                Ok(Some(Err(e))) => return Err(nats(e)),
                Ok(None) | Err(_) => break,
            };
            let partial: Partial = serde_json::from_slice(&msg.payload)
                .map_err(|e| ClusterError::Malformed(format!("partial: {e}")))?;
            if partial.sequence == sequence && partial.shards == shards {
                if let Some(slot) = found.get_mut(partial.shard as usize) {
                    *slot = Some(partial);
                }
            }
        }
        drop(messages);
        let stream = self.partials.clone();
        tokio::spawn(async move {
            let _ = stream.delete_consumer(&name).await;
        });
        let n = got(&found);
        if n < found.len() {
            return Err(ClusterError::PartialsMissing {
                sequence,
                got: n,
                want: found.len(),
            });
        }
        Ok(found.into_iter().flatten().collect())
    }
}
