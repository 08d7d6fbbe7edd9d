//! A small resumable-progress file: one JSON value, CRC-checked, replaced atomically
//! (written to a temporary file, fsynced, renamed over the old one, directory fsynced).
//!
//! The file holds `{"crc": <crc32 of body>, "body": <value>}`. A file whose CRC does not
//! match is reported as [`CheckpointError::Corrupt`] rather than silently ignored.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a checkpoint could not be read or written.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// Reading, writing or renaming failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a checkpoint or its CRC does not match.
    #[error("{path}: corrupt checkpoint ({detail}); remove it to start over")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    crc: u32,
    body: String,
}

/// A checkpoint file.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    path: PathBuf,
}

impl Checkpoint {
    /// The checkpoint at `path` (nothing is read yet).
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> CheckpointError {
        CheckpointError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn corrupt(&self, detail: impl std::fmt::Display) -> CheckpointError {
        CheckpointError::Corrupt {
            path: self.path.clone(),
            detail: detail.to_string(),
        }
    }

    /// The stored value, or `None` when there is no checkpoint yet.
    pub fn load<T: DeserializeOwned>(&self) -> Result<Option<T>, CheckpointError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        let env: Envelope = serde_json::from_slice(&bytes).map_err(|e| self.corrupt(e))?;
        if crc32fast::hash(env.body.as_bytes()) != env.crc {
            return Err(self.corrupt("CRC mismatch"));
        }
        serde_json::from_str(&env.body)
            .map(Some)
            .map_err(|e| self.corrupt(e))
    }

    /// Replaces the stored value durably.
    pub fn store<T: Serialize>(&self, value: &T) -> Result<(), CheckpointError> {
        let body = serde_json::to_string(value).map_err(|e| self.corrupt(e))?;
        let env = Envelope {
            crc: crc32fast::hash(body.as_bytes()),
            body,
        };
        let text = serde_json::to_vec(&env).map_err(|e| self.corrupt(e))?;
        let tmp = self.path.with_extension("tmp");
        let mut f = File::create(&tmp).map_err(|e| self.io(e))?;
        f.write_all(&text).map_err(|e| self.io(e))?;
        f.sync_all().map_err(|e| self.io(e))?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    /// Removes the checkpoint (absent is fine).
    pub fn clear(&self) -> Result<(), CheckpointError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_and_corruption_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let cp = Checkpoint::new(dir.path().join("x.checkpoint"));
        assert_eq!(cp.load::<u64>().unwrap(), None);
        cp.store(&41u64).unwrap();
        cp.store(&42u64).unwrap();
        assert_eq!(cp.load::<u64>().unwrap(), Some(42));
        let text = std::fs::read_to_string(cp.path()).unwrap();
        std::fs::write(cp.path(), text.replace("42", "43")).unwrap();
        assert!(matches!(
            cp.load::<u64>(),
            Err(CheckpointError::Corrupt { .. })
        ));
        cp.clear().unwrap();
        assert_eq!(cp.load::<u64>().unwrap(), None);
    }
}
