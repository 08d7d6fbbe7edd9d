//! Taking a snapshot: checkpoint, local copy with CRCs, upload, manifest last.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use async_nats::jetstream::object_store::ObjectStore;
use tunggal_index::gallery::{Gallery, GalleryError};
use tunggal_index::storage::LOCK_NAME;

use super::manifest::{FileEntry, Manifest};
use super::{snapshot_prefix, FILES_PREFIX, MANIFEST_OBJECT};
use crate::cluster::files::io;
use crate::cluster::{nats, ClusterError};

/// A snapshot copied out of the partition, ready to upload.
#[derive(Debug, Clone)]
pub struct Staged {
    /// The directory holding the copies.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

/// Where a snapshot belongs: shard, shard count, replica and the applied sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// Shard index.
    pub shard: u32,
    /// Shard count.
    pub shards: u32,
    /// Replica taking it.
    pub replica: u32,
    /// Last sequence applied to the partition.
    pub sequence: u64,
}

/// True for a file of the gallery directory that belongs in a snapshot: not the lock, not
/// a file being written, not a torn log tail kept aside for inspection.
fn kept(name: &str) -> bool {
    name != LOCK_NAME && !name.ends_with(".tmp") && !name.contains(".torn-")
}

/// Copies `from` to `to` (synced), returning its length and CRC-32.
pub(crate) fn copy_with_crc(from: &Path, to: &Path) -> Result<(u64, u32), ClusterError> {
    let mut src = std::fs::File::open(from).map_err(io(from))?;
    let mut dst = std::fs::File::create(to).map_err(io(to))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = src.read(&mut buf).map_err(io(from))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n]).map_err(io(to))?;
        bytes += n as u64;
    }
    dst.sync_all().map_err(io(to))?;
    Ok((bytes, hasher.finalize()))
}

/// Length and CRC-32 of the file at `path`.
pub(crate) fn crc_of(path: &Path) -> Result<(u64, u32), ClusterError> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            return Ok((bytes, hasher.finalize()));
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
}

/// Checkpoints `gallery` (every logged insert into its segments, a fresh log) and copies
/// its directory's files into `out` (replaced), computing each file's CRC. Blocking; the
/// caller applies nothing to the partition meanwhile, so the copy is one consistent state.
pub fn stage(gallery: &Gallery, out: &Path, origin: Origin) -> Result<Staged, ClusterError> {
    gallery
        .store()
        .checkpoint()
        .map_err(|e| ClusterError::Gallery(GalleryError::from(e)))?;
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(io(out))?;
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    let dir = gallery.store().dir();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        if !entry.file_type().map_err(io(dir))?.is_file() {
            continue;
        }
        if let Some(name) = entry.file_name().to_str().filter(|n| kept(n)) {
            names.push(name.to_owned());
        }
    }
    names.sort();
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        let (bytes, crc32) = copy_with_crc(&dir.join(&name), &out.join(&name))?;
        files.push(FileEntry { name, bytes, crc32 });
    }
    Ok(Staged {
        dir: out.to_path_buf(),
        manifest: Manifest {
            shard: origin.shard,
            shards: origin.shards,
            replica: origin.replica,
            sequence: origin.sequence,
            persons: gallery.len() as u64,
            files,
        },
    })
}

/// Uploads a staged snapshot: every non-empty file as an object, then the manifest (an
/// empty file is recreated from the manifest alone). Returns the snapshot's prefix.
pub async fn publish(store: &ObjectStore, staged: &Staged) -> Result<String, ClusterError> {
    let m = &staged.manifest;
    let prefix = snapshot_prefix(m.shard, m.shards, m.sequence, m.replica);
    for file in m.files.iter().filter(|f| f.bytes > 0) {
        let path = staged.dir.join(&file.name);
        let mut reader = tokio::fs::File::open(&path).await.map_err(io(&path))?;
        tracing::debug!(file = %file.name, bytes = file.bytes, "uploading");
        store
            .put(
                format!("{prefix}{FILES_PREFIX}{}", file.name).as_str(),
                &mut reader,
            )
            .await
            .map_err(nats)?;
    }
    let manifest = m.encode()?;
    tracing::debug!(%prefix, "uploading the manifest");
    store
        .put(
            format!("{prefix}{MANIFEST_OBJECT}").as_str(),
            &mut manifest.as_slice(),
        )
        .await
        .map_err(nats)?;
    Ok(prefix)
}

/// The periodic snapshots of one replica: after every `every`-th applied sequence, a
/// checkpoint and local copy (while nothing is applied), then the upload and the pruning
/// of old snapshots in the background. A snapshot due while the previous upload runs is
/// taken at the first sequence applied after that upload ends. A snapshot that fails is
/// logged and skipped; it never stops the replica.
pub struct Publisher {
    every: u64,
    out: PathBuf,
    origin: Origin,
    replicas: usize,
    store: Option<ObjectStore>,
    last: u64,
    /// A snapshot fell due while the previous one was uploading: take it at the next
    /// applied sequence after that upload finishes.
    pending: bool,
    upload: Option<tokio::task::JoinHandle<Result<String, ClusterError>>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("every", &self.every)
            .field("out", &self.out)
            .field("origin", &self.origin)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

/// The longest an upload may take before it is abandoned (an incomplete snapshot is never
/// used, and the next one deletes it): a minute plus one second per MiB.
fn upload_limit(manifest: &Manifest) -> std::time::Duration {
    let bytes: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    std::time::Duration::from_secs(60 + bytes / (1 << 20))
}

/// The directory a replica copies a snapshot into before uploading it.
pub const SNAPSHOT_OUT_DIR: &str = "snapshot-out";

impl Publisher {
    /// Snapshots every `every` sequences (0: never) of the partition in `data_dir`.
    pub fn new(every: u64, data_dir: &Path, origin: Origin, replicas: usize) -> Self {
        let out = data_dir.join(SNAPSHOT_OUT_DIR);
        if out.exists() {
            // A copy left by a replica that died while uploading it.
            if let Err(e) = std::fs::remove_dir_all(&out) {
                tracing::warn!(dir = %out.display(), error = %e, "removing an old snapshot copy");
            }
        }
        Self {
            every,
            out,
            origin,
            replicas,
            store: None,
            last: 0,
            pending: false,
            upload: None,
        }
    }

    /// Whether a snapshot is waiting for the previous upload to end: the caller should
    /// call [`Publisher::after_apply`] again when the log is idle.
    pub fn pending(&self) -> bool {
        self.pending
    }

    /// Called after `applied` was applied to `gallery`, or while the log is idle with a
    /// snapshot pending; takes a snapshot when one is due.
    pub async fn after_apply(
        &mut self,
        js: &async_nats::jetstream::Context,
        gallery: &std::sync::Arc<Gallery>,
        applied: u64,
    ) {
        if self.every == 0 || applied == 0 || applied == self.last {
            return;
        }
        if !self.pending && !applied.is_multiple_of(self.every) {
            return;
        }
        if let Some(upload) = self.upload.take() {
            if !upload.is_finished() {
                if !self.pending {
                    tracing::info!(
                        applied,
                        "snapshot deferred: the previous one is still uploading"
                    );
                }
                self.pending = true;
                self.upload = Some(upload);
                return;
            }
            match upload.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "publishing a snapshot"),
                Err(e) => tracing::warn!(error = %e, "the snapshot upload task"),
            }
        }
        self.last = applied;
        self.pending = false;
        let store = match &self.store {
            Some(store) => store.clone(),
            None => match super::bucket(js, self.replicas).await {
                Ok(store) => self.store.insert(store).clone(),
                Err(e) => {
                    tracing::warn!(error = %e, "opening the snapshot bucket");
                    return;
                }
            },
        };
        let origin = Origin {
            sequence: applied,
            ..self.origin
        };
        let (g, out) = (std::sync::Arc::clone(gallery), self.out.clone());
        let staged = match crate::cluster::shard::blocking(move || stage(&g, &out, origin)).await {
            Ok(staged) => staged,
            Err(e) => {
                tracing::warn!(applied, error = %e, "copying a snapshot");
                return;
            }
        };
        self.upload = Some(tokio::spawn(async move {
            let limit = upload_limit(&staged.manifest);
            let prefix = super::bounded(limit, "the upload", publish(&store, &staged)).await?;
            let m = &staged.manifest;
            std::fs::remove_dir_all(&staged.dir).map_err(io(&staged.dir))?;
            tracing::info!(snapshot = %prefix, persons = m.persons, "snapshot published");
            // A failed pruning leaves old snapshots for the next one to delete.
            match super::prune(&store, m.shard, m.shards).await {
                Ok(pruned) => tracing::debug!(pruned, "old snapshots pruned"),
                Err(e) => tracing::warn!(error = %e, "pruning old snapshots"),
            }
            Ok(prefix)
        }));
    }
}
