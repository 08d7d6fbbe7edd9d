//! Identifications and verifications in cluster mode: request/reply over core NATS, never
//! through the log.
//!
//! Every replica of shard `i` of `S` that has caught up with the log subscribes to
//! [`reads_subject`] in the queue group `shard-<i>-of-<S>`, so one replica of each shard
//! answers each request. A front-end sends an identification to every shard and fuses the
//! partials as it fuses an enrolment's ([`super::fuse`]); a verification goes to the shard
//! owning the person. A request names the log sequence its answer must include
//! ([`ReadRequest::min_sequence`]): the replica waits until it has applied it, up to
//! [`APPLIED_WAIT`], and answers [`ReadReply::Behind`] otherwise.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::watch;
use tunggal_index::gallery::Gallery;

use super::search::{identify_partition, verify_partition};
use super::shard::{blocking, ShardOptions};
use super::wire::{ReadReply, ReadRequest, WireMatch};
use super::{nats, ClusterError};

/// How long a replica waits to have applied a read's `min_sequence`.
pub const APPLIED_WAIT: Duration = Duration::from_secs(10);

/// The subject of the reads of shard `shard` of `shards`.
pub fn reads_subject(shard: u32, shards: u32) -> String {
    format!("reads.{shards}.{shard}")
}

/// The queue group of the replicas of shard `shard` of `shards`.
pub fn reads_group(shard: u32, shards: u32) -> String {
    format!("shard-{shard}-of-{shards}")
}

/// Answers the reads of the replica's shard until the connection ends.
pub async fn serve(
    client: async_nats::Client,
    gallery: Arc<Gallery>,
    options: ShardOptions,
    applied: watch::Receiver<u64>,
) -> Result<(), ClusterError> {
    let mut requests = client
        .queue_subscribe(
            reads_subject(options.shard, options.shards),
            reads_group(options.shard, options.shards),
        )
        .await
        .map_err(nats)?;
    while let Some(msg) = requests.next().await {
        let Some(reply_to) = msg.reply.clone() else {
            continue;
        };
        let client = client.clone();
        let gallery = Arc::clone(&gallery);
        let options = options.clone();
        let applied = applied.clone();
        tokio::spawn(async move {
            let reply = answer(&msg.payload, gallery, &options, applied).await;
            let body = serde_json::to_vec(&reply).unwrap_or_default();
            if let Err(e) = client.publish(reply_to, body.into()).await {
                tracing::warn!(error = %e, "answering a read");
            }
        });
    }
    Ok(())
}

/// The answer to one read.
async fn answer(
    payload: &[u8],
    gallery: Arc<Gallery>,
    options: &ShardOptions,
    mut applied: watch::Receiver<u64>,
) -> ReadReply {
    let request: ReadRequest = match serde_json::from_slice(payload) {
        Ok(r) => r,
        Err(e) => return ReadReply::Failed(format!("malformed read request: {e}")),
    };
    let min = request.min_sequence;
    let reached = matches!(
        tokio::time::timeout(APPLIED_WAIT, applied.wait_for(|a| *a >= min)).await,
        Ok(Ok(_))
    );
    if !reached {
        return ReadReply::Behind {
            applied: *applied.borrow(),
        };
    }
    let (search, shard, shards) = (options.search, options.shard, options.shards);
    let done = match request.key {
        None => {
            blocking(move || {
                identify_partition(&gallery, &search, shard, shards, Ok(request.probe))
                    .map(ReadReply::Identify)
            })
            .await
        }
        Some(key) => {
            blocking(move || {
                verify_partition(&gallery, &search, key, &request.probe)
                    .map(|m| ReadReply::Verify(m.as_ref().map(WireMatch::from)))
            })
            .await
        }
    };
    done.unwrap_or_else(|e| ReadReply::Failed(e.to_string()))
}
