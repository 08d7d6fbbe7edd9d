//! Typed errors of the gallery storage layer.

use std::path::PathBuf;

use thiserror::Error;

/// Which kind of file a corruption was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `MANIFEST`: the checkpoint description.
    Manifest,
    /// `seg-*.dat`: a fixed-stride segment.
    Segment,
    /// `seg-*-*.del`: a persisted soft-delete bitmap.
    Bitmap,
    /// `blobs.dat`: the append-only blob store.
    Blob,
    /// `wal-*.log`: a write-ahead log file.
    Wal,
    /// `KEYINDEX`: the key → slot table of the last checkpoint.
    KeyIndex,
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            FileKind::Manifest => "manifest",
            FileKind::Segment => "segment",
            FileKind::Bitmap => "delete bitmap",
            FileKind::Blob => "blob store",
            FileKind::Wal => "write-ahead log",
            FileKind::KeyIndex => "key index",
        };
        f.write_str(name)
    }
}

/// Everything that can go wrong in the storage layer. Bad input and corrupt files are
/// reported through these variants; nothing in this layer panics on them.
#[derive(Debug, Error)]
pub enum StorageError {
    /// An operating-system I/O call failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File or directory the call was made on.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Another handle (in this or another process) holds the directory lock.
    #[error("data directory {0} is locked by another store")]
    Locked(PathBuf),
    /// A file header has the wrong magic bytes.
    #[error("{kind} file {path}: bad magic")]
    BadMagic {
        /// Kind of file.
        kind: FileKind,
        /// The file.
        path: PathBuf,
    },
    /// A file was written by an unknown format version.
    #[error("{kind} file {path}: unsupported format version {found}")]
    UnsupportedVersion {
        /// Kind of file.
        kind: FileKind,
        /// The file.
        path: PathBuf,
        /// Version found in the header.
        found: u32,
    },
    /// A checksum did not match: the file is damaged.
    #[error("{kind} file {path}: checksum mismatch in {what}")]
    ChecksumMismatch {
        /// Kind of file.
        kind: FileKind,
        /// The file.
        path: PathBuf,
        /// Which part failed (header, body, slot n, ...).
        what: String,
    },
    /// A file is shorter than its header or the manifest says it must be.
    #[error("{kind} file {path} is truncated: need {needed} bytes, found {found}")]
    Truncated {
        /// Kind of file.
        kind: FileKind,
        /// The file.
        path: PathBuf,
        /// Bytes required.
        needed: u64,
        /// Bytes present.
        found: u64,
    },
    /// A file's fields contradict each other or the manifest.
    #[error("{kind} file {path} is inconsistent: {detail}")]
    Inconsistent {
        /// Kind of file.
        kind: FileKind,
        /// The file.
        path: PathBuf,
        /// What disagrees.
        detail: String,
    },
    /// A live record failed its checksum: the segment is damaged where the log no longer
    /// holds the record.
    #[error("segment {segment} slot {slot}: record checksum mismatch")]
    CorruptRecord {
        /// Segment id.
        segment: u32,
        /// Slot within the segment.
        slot: u32,
    },
    /// A blob entry failed its length or checksum check on read.
    #[error("blob at offset {offset} (length {len}) is corrupt")]
    CorruptBlob {
        /// Offset of the entry in `blobs.dat`.
        offset: u64,
        /// Payload length from the record.
        len: u32,
    },
    /// The data directory holds log or segment files but no manifest.
    #[error("data directory {0} has data files but no MANIFEST")]
    MissingManifest(PathBuf),
    /// The store was opened with a configuration that disagrees with the one on disk.
    #[error("configuration mismatch: {0}")]
    ConfigMismatch(String),
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A record's length differs from the store's stride.
    #[error("record is {found} bytes but the stride is {stride}")]
    RecordSize {
        /// Stride of the store.
        stride: u32,
        /// Length given.
        found: usize,
    },
    /// A blob is larger than a blob entry can describe.
    #[error("blob of {0} bytes exceeds the 4 GiB entry limit")]
    BlobTooLarge(usize),
    /// Insert of a key that is already live.
    #[error("key {0} is already present")]
    DuplicateKey(u64),
    /// Delete or replace of a key that is not live.
    #[error("key {0} is not present")]
    KeyNotFound(u64),
    /// A typed view was asked for a type whose size or alignment does not fit the stride.
    #[error("type of size {size} and alignment {align} does not fit stride {stride}")]
    TypeMismatch {
        /// `size_of::<T>()`.
        size: usize,
        /// `align_of::<T>()`.
        align: usize,
        /// Stride of the segment.
        stride: u32,
    },
    /// A previous log write or fsync failed; the store refuses further writes until it is
    /// reopened (and so recovered from what reached the disk).
    #[error("write-ahead log failed earlier; reopen the store")]
    WalPoisoned,
    /// A log frame is damaged where a torn tail cannot explain it: its entry is vouched
    /// for by a commit slot or the checkpoint, later log files or valid entries follow it,
    /// or the log ends before its committed entries. Nothing was cut.
    #[error(
        "write-ahead log {path} is damaged at byte {offset} (entry {lsn}): {detail}; nothing was cut"
    )]
    WalCorrupt {
        /// The log file.
        path: PathBuf,
        /// Offset of the damaged frame (or of the end of the log).
        offset: u64,
        /// LSN expected there.
        lsn: u64,
        /// Why it is corruption and not a torn tail.
        detail: String,
    },
    /// The caller of [`Store::open_approved`](super::Store::open_approved) refused what
    /// recovery found; nothing was changed.
    #[error("recovery refused: {0}")]
    RecoveryRefused(String),
    /// A valid log frame describes an operation that does not fit the segments it is
    /// replayed into.
    #[error("log entry {lsn} does not apply: {detail}")]
    ReplayMismatch {
        /// Sequence number of the entry.
        lsn: u64,
        /// What does not fit.
        detail: String,
    },
}

impl StorageError {
    /// Wraps an `io::Error` with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the error reports damaged or inconsistent on-disk data (as opposed to
    /// I/O failure, bad input or a lock conflict).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            StorageError::BadMagic { .. }
                | StorageError::UnsupportedVersion { .. }
                | StorageError::ChecksumMismatch { .. }
                | StorageError::Truncated { .. }
                | StorageError::Inconsistent { .. }
                | StorageError::CorruptRecord { .. }
                | StorageError::CorruptBlob { .. }
                | StorageError::MissingManifest(_)
                | StorageError::ReplayMismatch { .. }
                | StorageError::WalCorrupt { .. }
                | StorageError::RecoveryRefused(_)
        )
    }
}

/// Result alias for the storage layer.
pub type Result<T> = std::result::Result<T, StorageError>;
