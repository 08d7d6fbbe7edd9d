//! Starting a new replica from the newest good snapshot of its partition.

use std::path::{Path, PathBuf};

use async_nats::jetstream::object_store::ObjectStore;
use tokio::io::AsyncReadExt as _;
use tunggal_index::gallery::Gallery;

use super::manifest::{Manifest, SnapshotFault};
use super::publish::crc_of;
use super::{bucket, list, Listed, FILES_PREFIX, MANIFEST_OBJECT};
use crate::cluster::files::{io, read_sequence_marker, sync_dir, write_synced};
use crate::cluster::shard::{blocking, read_applied, write_applied, ShardOptions};
use crate::cluster::topology::{self, ENROL_STREAM};
use crate::cluster::{nats, ClusterError};
use crate::engine::GALLERY_DIR;

/// The directory a snapshot is fetched into before it becomes the partition.
pub const RESTORING_DIR: &str = "gallery.restoring";

/// Records the sequence of a snapshot being installed (see `install`).
pub const INSTALLING_NAME: &str = "restore-installing";

/// What starting a replica from snapshots did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// True when the data directory was new (nothing applied, no person held) and
    /// snapshots were looked for.
    pub looked: bool,
    /// The snapshot installed (its prefix and sequence); `None`: the log is replayed whole.
    pub from: Option<(String, u64)>,
    /// Snapshots refused, newest first, with the reason.
    pub refused: Vec<(String, SnapshotFault)>,
}

/// True when `data_dir` has applied nothing and holds no person (an absent gallery, or an
/// empty one left by a replica that never applied an entry).
fn is_new(options: &ShardOptions) -> Result<bool, ClusterError> {
    if read_applied(&options.data_dir)? != 0 {
        return Ok(false);
    }
    let dir = options.data_dir.join(GALLERY_DIR);
    if !dir.exists() {
        return Ok(true);
    }
    match Gallery::open(&dir, options.gallery.clone(), None) {
        Ok(g) => {
            let empty = g.is_empty();
            g.close()?;
            Ok(empty)
        }
        Err(_) => Ok(false),
    }
}

/// On a new data directory, installs the newest snapshot of the partition that passes
/// every check (see the module documentation of [`super`]); does nothing on a directory
/// that has applied entries. A refused snapshot is logged as an error and its fetched files
/// removed.
pub async fn restore_new_replica(options: &ShardOptions) -> Result<Restored, ClusterError> {
    let check = options.clone();
    let new = blocking(move || {
        finish_install(&check.data_dir)?;
        is_new(&check)
    })
    .await?;
    if !new {
        return Ok(Restored::default());
    }
    let topology = topology::connect(&options.nats, options.stream_replicas).await?;
    let store = bucket(&topology.js, options.stream_replicas).await?;
    let state = topology
        .js
        .get_stream(ENROL_STREAM)
        .await
        .map_err(nats)?
        .info()
        .await
        .map_err(nats)?
        .state
        .clone();
    let mut restored = Restored {
        looked: true,
        ..Restored::default()
    };
    let staging = options.data_dir.join(RESTORING_DIR);
    for snapshot in list(&store, options.shard, options.shards).await? {
        if !snapshot.complete {
            continue;
        }
        remove_staging(&staging)?;
        let log = (state.first_sequence, state.last_sequence);
        match fetch(&store, options, &snapshot, &staging, log).await {
            Ok(manifest) => {
                let data_dir = options.data_dir.clone();
                blocking(move || install(&data_dir, manifest.sequence)).await?;
                tracing::info!(
                    snapshot = %snapshot.prefix,
                    sequence = snapshot.sequence,
                    "partition restored from a snapshot"
                );
                restored.from = Some((snapshot.prefix, snapshot.sequence));
                return Ok(restored);
            }
            Err(Fetched::Refused(fault)) => {
                tracing::error!(
                    snapshot = %snapshot.prefix,
                    reason = %fault,
                    "snapshot refused; trying an older one"
                );
                remove_staging(&staging)?;
                restored.refused.push((snapshot.prefix, fault));
            }
            Err(Fetched::Failed(e)) => {
                remove_staging(&staging)?;
                return Err(e);
            }
        }
    }
    if !restored.refused.is_empty() {
        tracing::error!(
            refused = restored.refused.len(),
            "no snapshot passed its checks: replaying the whole enrolment log"
        );
    }
    Ok(restored)
}

/// Fetches `snapshot` of the partition `options` names into `staging` and checks it as a
/// restore does: its manifest, or why it is refused (its files then removed), or a local
/// failure. `log` is the enrolment log's first and last sequence.
pub(crate) async fn fetch_checked(
    store: &ObjectStore,
    options: &ShardOptions,
    snapshot: &Listed,
    staging: &Path,
    log: (u64, u64),
) -> Result<Result<Manifest, SnapshotFault>, ClusterError> {
    remove_staging(staging)?;
    match fetch(store, options, snapshot, staging, log).await {
        Ok(manifest) => Ok(Ok(manifest)),
        Err(Fetched::Refused(fault)) => {
            remove_staging(staging)?;
            Ok(Err(fault))
        }
        Err(Fetched::Failed(e)) => {
            remove_staging(staging)?;
            Err(e)
        }
    }
}

/// Removes the staging directory (only ever written by a restore).
pub(crate) fn remove_staging(staging: &Path) -> Result<(), ClusterError> {
    if staging.exists() {
        std::fs::remove_dir_all(staging).map_err(io(staging))?;
    }
    Ok(())
}

/// A snapshot that did not become the partition: refused (damaged, mislabelled, the log
/// cannot continue it) or a local failure that stops the restore.
enum Fetched {
    Refused(SnapshotFault),
    Failed(ClusterError),
}

impl From<SnapshotFault> for Fetched {
    fn from(f: SnapshotFault) -> Self {
        Self::Refused(f)
    }
}

/// Reads the object `name` whole into memory.
async fn read_object(store: &ObjectStore, name: &str) -> Result<Vec<u8>, SnapshotFault> {
    let fault = |detail: String| SnapshotFault::Fetch {
        file: name.to_owned(),
        detail,
    };
    let mut object = store.get(name).await.map_err(|e| fault(e.to_string()))?;
    let mut bytes = Vec::new();
    object
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| fault(e.to_string()))?;
    Ok(bytes)
}

/// Fetches `snapshot` into `staging`, checks it, and returns its manifest.
async fn fetch(
    store: &ObjectStore,
    options: &ShardOptions,
    snapshot: &Listed,
    staging: &Path,
    (first, last): (u64, u64),
) -> Result<Manifest, Fetched> {
    let bytes = read_object(store, &format!("{}{MANIFEST_OBJECT}", snapshot.prefix)).await?;
    let manifest = Manifest::decode(&bytes)?;
    let label = |shard, shards, sequence, replica| {
        format!("shard {shard}/{shards} sequence {sequence} replica {replica}")
    };
    let expected = label(
        options.shard,
        options.shards,
        snapshot.sequence,
        snapshot.replica,
    );
    let found = label(
        manifest.shard,
        manifest.shards,
        manifest.sequence,
        manifest.replica,
    );
    if expected != found {
        return Err(SnapshotFault::Mislabelled { expected, found }.into());
    }
    // The log must hold every entry after the snapshot.
    if manifest.sequence > last || first > manifest.sequence + 1 {
        return Err(SnapshotFault::Log {
            sequence: manifest.sequence,
            first,
            last,
        }
        .into());
    }
    std::fs::create_dir_all(staging)
        .map_err(io(staging))
        .map_err(Fetched::Failed)?;
    for file in &manifest.files {
        let path = staging.join(&file.name);
        if file.bytes > 0 {
            let name = format!("{}{FILES_PREFIX}{}", snapshot.prefix, file.name);
            fetch_file(store, &name, &path).await?;
        } else {
            std::fs::File::create(&path)
                .map_err(io(&path))
                .map_err(Fetched::Failed)?;
        }
        let check = path.clone();
        let (bytes, crc32) = blocking(move || crc_of(&check))
            .await
            .map_err(Fetched::Failed)?;
        if bytes != file.bytes {
            return Err(SnapshotFault::Size {
                file: file.name.clone(),
                expected: file.bytes,
                found: bytes,
            }
            .into());
        }
        if crc32 != file.crc32 {
            return Err(SnapshotFault::Crc {
                file: file.name.clone(),
                expected: file.crc32,
                found: crc32,
            }
            .into());
        }
    }
    let (dir, config, expected) = (
        staging.to_path_buf(),
        options.gallery.clone(),
        manifest.persons,
    );
    blocking(move || Ok(open_and_count(&dir, config)))
        .await
        .map_err(Fetched::Failed)?
        .and_then(|found| {
            if found == expected {
                Ok(())
            } else {
                Err(SnapshotFault::Persons { expected, found })
            }
        })?;
    Ok(manifest)
}

/// Copies the object `name` into the file `path` (synced).
async fn fetch_file(store: &ObjectStore, name: &str, path: &Path) -> Result<(), Fetched> {
    let fault = |detail: String| {
        Fetched::Refused(SnapshotFault::Fetch {
            file: name.to_owned(),
            detail,
        })
    };
    let mut object = store.get(name).await.map_err(|e| fault(e.to_string()))?;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| Fetched::Failed(io(path)(e)))?;
    tokio::io::copy(&mut object, &mut file)
        .await
        .map_err(|e| fault(e.to_string()))?;
    file.sync_all()
        .await
        .map_err(|e| Fetched::Failed(io(path)(e)))?;
    Ok(())
}

/// Opens the fetched gallery (its own recovery checks run) and counts its persons.
fn open_and_count(
    dir: &Path,
    config: tunggal_index::gallery::GalleryConfig,
) -> Result<u64, SnapshotFault> {
    let gallery =
        Gallery::open(dir, config, None).map_err(|e| SnapshotFault::Open(e.to_string()))?;
    let persons = gallery.len() as u64;
    gallery
        .close()
        .map_err(|e| SnapshotFault::Open(e.to_string()))?;
    Ok(persons)
}

/// Makes the checked staging directory the partition: the snapshot's sequence is first
/// recorded in [`INSTALLING_NAME`] (synced), an empty gallery left by an earlier start is
/// moved aside (kept), the staging directory renamed into place, `sequence` recorded as
/// applied, and the record removed. [`finish_install`] completes an install cut by a crash.
fn install(data_dir: &Path, sequence: u64) -> Result<(), ClusterError> {
    let marker = data_dir.join(INSTALLING_NAME);
    write_synced(&marker, &format!("{sequence}\n"))?;
    let gallery = data_dir.join(GALLERY_DIR);
    if gallery.exists() {
        let aside: PathBuf =
            data_dir.join(format!("{GALLERY_DIR}.empty-{}", crate::clock::now_secs()));
        std::fs::rename(&gallery, &aside).map_err(io(&aside))?;
    }
    let staging = data_dir.join(RESTORING_DIR);
    std::fs::rename(&staging, &gallery).map_err(io(&gallery))?;
    sync_dir(data_dir)?;
    finish_install(data_dir)
}

/// Completes an install that a crash interrupted: with the gallery renamed into place, the
/// recorded sequence becomes the applied one; without it (the crash came before the
/// rename), the record is dropped and the restore starts again.
fn finish_install(data_dir: &Path) -> Result<(), ClusterError> {
    let marker = data_dir.join(INSTALLING_NAME);
    let Some(sequence) = read_sequence_marker(&marker)? else {
        return Ok(());
    };
    if data_dir.join(GALLERY_DIR).exists() && !data_dir.join(RESTORING_DIR).exists() {
        write_applied(data_dir, sequence)?;
    }
    std::fs::remove_file(&marker).map_err(io(&marker))?;
    sync_dir(data_dir)
}
