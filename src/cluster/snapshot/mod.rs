//! Snapshots of a partition in the JetStream object store [`SNAPSHOT_BUCKET`], and new
//! replicas started from them.
//!
//! - [`publish`]: a replica with `--snapshot-every N` checkpoints its gallery after every
//!   `N`-th applied sequence, copies the gallery directory's files into `D/snapshot-out`
//!   (the only pause of the log's application), and uploads them in the background with a
//!   [`Manifest`] (magic, version, the partition, the sequence, every file's length and
//!   CRC-32) written last. Only the newest [`KEEP`] snapshots of a partition are kept.
//! - [`restore`]: a replica started on a new data directory fetches the newest snapshot of
//!   its partition into `D/gallery.restoring`, checks every length and CRC, opens it and
//!   counts its persons, and only then renames it to `D/gallery` and records the snapshot's
//!   sequence as applied; the log is replayed from the next sequence. A snapshot that fails
//!   any check is refused (logged as an error, its files removed) and the next older one is
//!   tried; with none left the replica replays the whole log. A partial partition is never
//!   served.
//!
//! Objects of one snapshot share the prefix `shard-<i>-of-<S>/<sequence, 20 digits>-r<r>/`:
//! one object per gallery file under [`FILES_PREFIX`] and its name, and [`MANIFEST_OBJECT`].

pub mod manifest;
pub mod publish;
pub mod restore;

use async_nats::jetstream::object_store::{self, ObjectStore};
use async_nats::jetstream::{self, stream};
use futures::StreamExt as _;

pub use manifest::{FileEntry, Manifest, SnapshotFault};
pub use publish::{publish, stage, Staged};
pub use restore::{restore_new_replica, Restored};

use super::topology::{retrying, SETUP_WAIT};
use super::{nats, ClusterError};

/// The object store bucket of partition snapshots.
pub const SNAPSHOT_BUCKET: &str = "SNAPSHOTS";
/// The manifest's object name within a snapshot.
pub const MANIFEST_OBJECT: &str = "snapshot-manifest";
/// The prefix of the gallery files' objects within a snapshot (the gallery has a file
/// named `MANIFEST` of its own, so files and the snapshot's manifest must not share names).
pub const FILES_PREFIX: &str = "files/";
/// Snapshots kept per partition (older ones are deleted after a new one is complete).
pub const KEEP: usize = 2;

/// The bucket, created when missing (`replicas` copies).
pub async fn bucket(js: &jetstream::Context, replicas: usize) -> Result<ObjectStore, ClusterError> {
    retrying("creating the snapshot bucket", SETUP_WAIT, || async {
        if let Ok(store) = js.get_object_store(SNAPSHOT_BUCKET).await {
            return Ok(store);
        }
        match js
            .create_object_store(object_store::Config {
                bucket: SNAPSHOT_BUCKET.to_owned(),
                num_replicas: replicas,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
        {
            Ok(store) => Ok(store),
            // Another process created it meanwhile.
            Err(e) => js
                .get_object_store(SNAPSHOT_BUCKET)
                .await
                .map_err(|_| nats(e)),
        }
    })
    .await
}

/// The prefix of every snapshot of shard `shard` of `shards`.
pub fn partition_prefix(shard: u32, shards: u32) -> String {
    format!("shard-{shard}-of-{shards}/")
}

/// The prefix of the objects of one snapshot.
pub fn snapshot_prefix(shard: u32, shards: u32, sequence: u64, replica: u32) -> String {
    format!(
        "{}{sequence:020}-r{replica}/",
        partition_prefix(shard, shards)
    )
}

/// One snapshot as the bucket lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its object prefix.
    pub prefix: String,
    /// The sequence in its name.
    pub sequence: u64,
    /// The replica in its name.
    pub replica: u32,
    /// Its objects' full names.
    pub objects: Vec<String>,
    /// True when its manifest is stored (a snapshot without one is incomplete).
    pub complete: bool,
}

/// Parses `<sequence>-r<replica>`.
fn parse_label(label: &str) -> Option<(u64, u32)> {
    let (sequence, replica) = label.split_once("-r")?;
    Some((sequence.parse().ok()?, replica.parse().ok()?))
}

/// The snapshots of shard `shard` of `shards`, newest first (by sequence, then replica).
pub async fn list(
    store: &ObjectStore,
    shard: u32,
    shards: u32,
) -> Result<Vec<Listed>, ClusterError> {
    bounded(
        LIST_WAIT,
        "listing the snapshots",
        list_unbounded(store, shard, shards),
    )
    .await
}

/// Runs `work`, failing with a NATS error when it takes longer than `limit`: object store
/// calls can wait for ever on a stream whose leader is being elected again.
pub(crate) async fn bounded<T>(
    limit: std::time::Duration,
    what: &str,
    work: impl std::future::Future<Output = Result<T, ClusterError>>,
) -> Result<T, ClusterError> {
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| ClusterError::Nats(format!("{what} took more than {} s", limit.as_secs())))?
}

/// The longest a listing of the bucket may take.
pub const LIST_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

async fn list_unbounded(
    store: &ObjectStore,
    shard: u32,
    shards: u32,
) -> Result<Vec<Listed>, ClusterError> {
    let prefix = partition_prefix(shard, shards);
    let mut objects = store.list().await.map_err(nats)?;
    let mut found: Vec<Listed> = Vec::new();
    while let Some(info) = objects.next().await {
        let info = info.map_err(nats)?;
        let Some(rest) = info.name.strip_prefix(&prefix) else {
            continue;
        };
        let Some((label, file)) = rest.split_once('/') else {
            continue;
        };
        let Some((sequence, replica)) = parse_label(label) else {
            continue;
        };
        let snapshot_prefix = format!("{prefix}{label}/");
        let index = match found.iter().position(|l| l.prefix == snapshot_prefix) {
            Some(i) => i,
            None => {
                found.push(Listed {
                    prefix: snapshot_prefix,
                    sequence,
                    replica,
                    objects: Vec::new(),
                    complete: false,
                });
                found.len() - 1
            }
        };
        let entry = &mut found[index];
        entry.complete |= file == MANIFEST_OBJECT;
        entry.objects.push(info.name);
    }
    found.sort_by(|a, b| b.sequence.cmp(&a.sequence).then(a.replica.cmp(&b.replica)));
    Ok(found)
}

/// Deletes every complete snapshot of the partition but the newest [`KEEP`], and every
/// incomplete one older than the newest complete one (an upload that died). The manifest
/// goes first, so a half-deleted snapshot is never taken for a complete one.
pub async fn prune(store: &ObjectStore, shard: u32, shards: u32) -> Result<usize, ClusterError> {
    let listed = list(store, shard, shards).await?;
    let newest = listed.iter().find(|l| l.complete).map(|l| l.sequence);
    let mut complete_seen = 0;
    let mut deleted = 0;
    for snapshot in &listed {
        let doomed = if snapshot.complete {
            complete_seen += 1;
            complete_seen > KEEP
        } else {
            newest.is_some_and(|n| snapshot.sequence < n)
        };
        if !doomed {
            continue;
        }
        let mut objects = snapshot.objects.clone();
        objects.sort_by_key(|name| !name.ends_with(&format!("/{MANIFEST_OBJECT}")));
        for name in objects {
            store.delete(&name).await.map_err(nats)?;
        }
        deleted += 1;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        let p = snapshot_prefix(1, 3, 42, 2);
        assert_eq!(p, "shard-1-of-3/00000000000000000042-r2/");
        let label = p
            .strip_prefix(&partition_prefix(1, 3))
            .and_then(|r| r.strip_suffix('/'))
            .unwrap();
        assert_eq!(parse_label(label), Some((42, 2)));
        assert_eq!(parse_label("x-r1"), None);
        // The prefix of shard 1 of 3 is not a prefix of shard 1 of 30's.
        assert!(!partition_prefix(1, 30).starts_with(&partition_prefix(1, 3)));
    }
}
