//! The JetStream objects of the cluster, created by whichever process starts first (the same
//! configuration from every process, so a second creation is a no-op).
//!
//! - Stream [`ENROL_STREAM`] on subject [`ENROL_SUBJECT`]: the enrolment log. Its sequence
//!   is the one total order of enrolments and the applicant's person key. The duplicate
//!   window ([`DUPLICATE_WINDOW`]) makes a retry with the same `Nats-Msg-Id` (the request
//!   id) return the first publication's sequence.
//! - Stream [`PARTIAL_STREAM`] on subjects `partial.<shards>.<sequence>.<shard>`: each
//!   shard's partial result, kept (not a plain subject) so a front-end that starts
//!   collecting after a shard published, or a retry through another front-end, still finds
//!   it. The message id `<shards>.<sequence>.<shard>` keeps one partial per shard when
//!   several replicas publish it. The shard count in both keeps the partials of two shard
//!   sets apart while a resharding is built beside the running set.
//! - Key-value bucket [`VERDICT_BUCKET`]: the decided verdict under the request id, and a
//!   deleted person's marker ([`deleted_key`]).
//! - Key-value bucket [`TOPOLOGY_BUCKET`]: the announced switch to a new shard count
//!   ([`Switch`], key [`SWITCH_KEY`]).
//!
//! A collection of partials creates no consumer (a consumer is a change of the cluster's
//! metadata, which needs the JetStream meta leader): it subscribes to `partial.<s>.*` and
//! reads the partials stored before it subscribed by subject from the stream.

use std::future::Future;
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
/// The shard sets and the sequence where one takes over from the other.
pub const TOPOLOGY_BUCKET: &str = "TOPOLOGY";
/// The key of the announced switch in [`TOPOLOGY_BUCKET`].
pub const SWITCH_KEY: &str = "switch";
/// How long a retried request id is recognised by the log itself (after that, the
/// `VERDICT` bucket answers it).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How long partial results are kept.
pub const PARTIAL_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a process keeps trying to create or find the streams and the bucket (a
/// JetStream cluster elects its meta leader a few seconds after its nodes start).
pub const SETUP_WAIT: Duration = Duration::from_secs(90);
/// Timeout of one request to a NATS server or to the JetStream API.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a collection that still misses partials reads the stream again (a partial
/// published while the connection was moving to another server reaches no subscriber).
const REREAD_EVERY: Duration = Duration::from_secs(2);

/// The subject of shard `shard` (of `shards`)'s partial for `sequence`.
pub fn partial_subject(shards: u32, sequence: u64, shard: u32) -> String {
    format!("partial.{shards}.{sequence}.{shard}")
}

/// The key under which the `VERDICT` bucket marks the person `key` as deleted.
pub fn deleted_key(key: u64) -> String {
    format!("deleted-{key}")
}

/// A switch from one shard count to another: the `from` set decides every log entry up to
/// and including `at`, the `to` set every later one (`docs/scale-out.md`, *Resharding*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    /// The running set's shard count.
    pub from: u32,
    /// The new set's shard count.
    pub to: u32,
    /// The last sequence the `from` set decides.
    pub at: u64,
}

impl Switch {
    /// The shard count of the set that decides the entry at `sequence`.
    pub fn shards_at(&self, sequence: u64) -> u32 {
        if sequence > self.at {
            self.to
        } else {
            self.from
        }
    }
}

/// The shard count deciding `sequence` under `switch`, `default` when none is announced.
pub fn shards_at(switch: Option<Switch>, sequence: u64, default: u32) -> u32 {
    switch.map_or(default, |s| s.shards_at(sequence))
}

/// The handles of the cluster's streams and bucket.
#[derive(Clone)]
pub struct Topology {
    /// The connection.
    pub client: async_nats::Client,
    /// The JetStream context.
    pub js: jetstream::Context,
    /// `ENROL`.
    pub enrol: stream::Stream,
    /// `PARTIAL`.
    pub partials: stream::Stream,
    /// `VERDICT`.
    pub verdicts: kv::Store,
    /// `TOPOLOGY`.
    pub sets: kv::Store,
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topology").finish_non_exhaustive()
    }
}

/// Runs `call` until it succeeds or `wait` has passed (then its last error), pausing a
/// little longer after each failure: for calls that fail while the JetStream cluster
/// elects a leader or the connection moves to another server.
pub async fn retrying<T, F, Fut>(what: &str, wait: Duration, mut call: F) -> Result<T, ClusterError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClusterError>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    let mut pause = Duration::from_millis(100);
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if tokio::time::Instant::now() + pause >= deadline => return Err(e),
            Err(e) => {
                tracing::debug!(what, error = %e, "trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// The servers of `urls`, a comma-separated list (a client knowing several servers of a
/// NATS cluster reconnects to another when one fails; it also learns the others from the
/// server it is connected to).
pub fn server_list(urls: &str) -> Vec<String> {
    urls.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Connects to `urls` (comma-separated; retrying until a server answers, reconnecting
/// without limit) and makes sure the streams and the bucket exist with `replicas` copies
/// each.
pub async fn connect(urls: &str, replicas: usize) -> Result<Topology, ClusterError> {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .request_timeout(Some(REQUEST_TIMEOUT))
        .connect(server_list(urls))
        .await
        .map_err(nats)?;
    let mut js = jetstream::new(client.clone());
    js.set_timeout(REQUEST_TIMEOUT);
    let enrol = retrying("creating the enrolment log", SETUP_WAIT, || async {
        js.get_or_create_stream(stream::Config {
            name: ENROL_STREAM.to_owned(),
            subjects: vec![ENROL_SUBJECT.to_owned()],
            duplicate_window: DUPLICATE_WINDOW,
            num_replicas: replicas,
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(nats)
    })
    .await?;
    let partials = retrying(
        "creating the partial results' stream",
        SETUP_WAIT,
        || async {
            js.get_or_create_stream(stream::Config {
                name: PARTIAL_STREAM.to_owned(),
                subjects: vec!["partial.>".to_owned()],
                duplicate_window: Duration::from_secs(3600),
                max_age: PARTIAL_AGE,
                num_replicas: replicas,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(nats)
        },
    )
    .await?;
    let verdicts = retrying("creating the verdict bucket", SETUP_WAIT, || {
        bucket(&js, VERDICT_BUCKET, replicas)
    })
    .await?;
    let sets = retrying("creating the topology bucket", SETUP_WAIT, || {
        bucket(&js, TOPOLOGY_BUCKET, replicas)
    })
    .await?;
    Ok(Topology {
        client,
        js,
        enrol,
        partials,
        verdicts,
        sets,
    })
}

/// The key-value bucket `name`, created when missing.
async fn bucket(
    js: &jetstream::Context,
    name: &str,
    replicas: usize,
) -> Result<kv::Store, ClusterError> {
    if let Ok(kv) = js.get_key_value(name).await {
        return Ok(kv);
    }
    match js
        .create_key_value(kv::Config {
            bucket: name.to_owned(),
            history: 1,
            num_replicas: replicas,
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
    {
        Ok(kv) => Ok(kv),
        // Another process created it meanwhile.
        Err(e) => js.get_key_value(name).await.map_err(|_| nats(e)),
    }
}

/// The partial of one stored message.
fn decode_partial(payload: &[u8]) -> Result<Partial, ClusterError> {
    serde_json::from_slice(payload).map_err(|e| ClusterError::Malformed(format!("partial: {e}")))
}

impl Topology {
    /// Publishes `partial` (once per sequence and shard, whichever replica comes first).
    pub async fn publish_partial(&self, partial: &Partial) -> Result<(), ClusterError> {
        let body =
            serde_json::to_vec(partial).map_err(|e| ClusterError::Malformed(e.to_string()))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("{}.{}.{}", partial.shards, partial.sequence, partial.shard).as_str(),
        );
        self.js
            .publish_with_headers(
                partial_subject(partial.shards, partial.sequence, partial.shard),
                headers,
                body.into(),
            )
            .await
            .map_err(nats)?
            .await
            .map_err(nats)?;
        Ok(())
    }

    /// Shard `shard` (of `shards`)'s partial for `sequence` if the stream holds it.
    async fn stored_partial(
        &self,
        shards: u32,
        sequence: u64,
        shard: u32,
    ) -> Result<Option<Partial>, ClusterError> {
        use async_nats::jetstream::stream::LastRawMessageErrorKind;
        match self
            .partials
            .get_last_raw_message_by_subject(&partial_subject(shards, sequence, shard))
            .await
        {
            Ok(m) => decode_partial(&m.payload).map(Some),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(nats(e)),
        }
    }

    /// The `shards` partials for `sequence`, ordered by shard; waits for them up to `wait`.
    pub async fn collect(
        &self,
        sequence: u64,
        shards: u32,
        wait: Duration,
    ) -> Result<Vec<Partial>, ClusterError> {
        let deadline = tokio::time::Instant::now() + wait;
        // Subscribed before the stream is read: a partial is either stored already or
        // delivered to this subscription.
        let mut live = self
            .client
            .subscribe(format!("partial.{shards}.{sequence}.*"))
            .await
            .map_err(nats)?;
        let mut found: Vec<Option<Partial>> = vec![None; shards as usize];
        let got = |found: &[Option<Partial>]| found.iter().flatten().count();
        let keep = |found: &mut Vec<Option<Partial>>, p: Partial| {
            if p.sequence == sequence && p.shards == shards {
                if let Some(slot) = found.get_mut(p.shard as usize) {
                    *slot = Some(p);
                }
            }
        };
        let mut last_error = None;
        while got(&found) < found.len() {
            for shard in 0..shards {
                if found.get(shard as usize).is_some_and(Option::is_none) {
                    match self.stored_partial(shards, sequence, shard).await {
                        Ok(Some(p)) => keep(&mut found, p),
                        Ok(None) => {}
                        Err(e) => last_error = Some(e),
                    }
                }
            }
            let reread = (tokio::time::Instant::now() + REREAD_EVERY).min(deadline);
            while got(&found) < found.len() {
                match tokio::time::timeout_at(reread, live.next()).await {
                    Ok(Some(msg)) => match decode_partial(&msg.payload) {
                        Ok(p) => keep(&mut found, p),
                        Err(e) => tracing::warn!(sequence, error = %e, "a partial result"),
                    },
                    Ok(None) | Err(_) => break,
                }
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
        }
        let n = got(&found);
        if n < found.len() {
            if let Some(e) = last_error {
                tracing::warn!(sequence, error = %e, "reading the partial results");
            }
            return Err(ClusterError::PartialsMissing {
                sequence,
                got: n,
                want: found.len(),
            });
        }
        Ok(found.into_iter().flatten().collect())
    }
}

impl Topology {
    /// The announced switch, if any.
    pub async fn switch(&self) -> Result<Option<Switch>, ClusterError> {
        let Some(bytes) = self.sets.get(SWITCH_KEY).await.map_err(nats)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ClusterError::Malformed(format!("topology switch: {e}")))
    }

    /// The log's last sequence.
    pub async fn last_sequence(&self) -> Result<u64, ClusterError> {
        let mut enrol = self.enrol.clone();
        Ok(enrol.info().await.map_err(nats)?.state.last_sequence)
    }

    /// Announces `switch`. Refused when `switch.at` is not past the log's end, when the
    /// counts are equal or zero, and when another switch is announced, unless that one is
    /// complete (the log is past its `at`) and `switch` starts from its new set. After
    /// writing, the log's end is read again: had it reached `at` meanwhile, the switch
    /// cannot be trusted and the error says so.
    pub async fn announce(&self, switch: Switch) -> Result<(), ClusterError> {
        let refuse = |detail: String| ClusterError::SwitchRefused { switch, detail };
        if switch.from == 0 || switch.to == 0 || switch.from == switch.to {
            return Err(refuse(
                "the shard counts must differ and be positive".into(),
            ));
        }
        let last = self.last_sequence().await?;
        if switch.at <= last {
            return Err(refuse(format!("the log is at sequence {last} already")));
        }
        let body =
            serde_json::to_vec(&switch).map_err(|e| ClusterError::Malformed(e.to_string()))?;
        match self.switch().await? {
            None => {
                self.sets
                    .create(SWITCH_KEY, body.into())
                    .await
                    .map_err(|e| refuse(format!("another switch was announced meanwhile: {e}")))?;
            }
            Some(old) if old.to == switch.from && last > old.at => {
                self.sets.put(SWITCH_KEY, body.into()).await.map_err(nats)?;
            }
            Some(old) => {
                return Err(refuse(format!(
                    "a switch from {} to {} shards at {} is announced",
                    old.from, old.to, old.at
                )))
            }
        }
        let now = self.last_sequence().await?;
        if now >= switch.at {
            return Err(refuse(format!(
                "the log reached sequence {now} while the switch was written: choose a later \
                 sequence"
            )));
        }
        Ok(())
    }
}
