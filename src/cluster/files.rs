//! Small file helpers shared by a replica's data-directory code: typed I/O errors naming the
//! path, synced writes, and the one-line sequence markers that make an install resumable.

use std::path::Path;

use super::ClusterError;

/// Maps an I/O error on `path` to [`ClusterError::Io`].
pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ClusterError + '_ {
    move |source| ClusterError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `text` to `path` and syncs the file.
pub(crate) fn write_synced(path: &Path, text: &str) -> Result<(), ClusterError> {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path).map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Syncs the directory `dir`, so renames and removals within it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), ClusterError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// The sequence a marker file records, or `None` when there is no marker; a marker that
/// does not hold a sequence is refused.
pub(crate) fn read_sequence_marker(marker: &Path) -> Result<Option<u64>, ClusterError> {
    let text = match std::fs::read_to_string(marker) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(marker)(e)),
    };
    text.trim().parse().map(Some).map_err(|_| {
        ClusterError::Malformed(format!("{}: {text:?} is not a sequence", marker.display()))
    })
}
