//! The manifest of a partition snapshot: which files it holds, their sizes and CRCs, the
//! partition it belongs to and the stream sequence it was taken at.
//!
//! Encoding (all integers little-endian):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `TUNGSNP\0` |
//! | 8 | 4 | version (1) |
//! | 12 | 4 | body length `n` |
//! | 16 | n | body: JSON [`Manifest`] |
//! | 16 + n | 4 | CRC-32 of bytes `0 .. 16 + n` |

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::super::ClusterError;

/// First bytes of an encoded manifest.
pub const MAGIC: &[u8; 8] = b"TUNGSNP\0";
/// The manifest version this build writes and reads.
pub const VERSION: u32 = 1;
/// Bytes before the body.
const HEADER: usize = 16;

/// One file of the partition's gallery directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// File name in the gallery directory (a plain name, no directory part).
    pub name: String,
    /// Length in bytes.
    pub bytes: u64,
    /// CRC-32 (IEEE) of its bytes.
    pub crc32: u32,
}

/// What a snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Shard index.
    pub shard: u32,
    /// Shard count.
    pub shards: u32,
    /// The replica that took it.
    pub replica: u32,
    /// Last stream sequence applied to the partition when it was taken: a replica restored
    /// from it continues at `sequence + 1`.
    pub sequence: u64,
    /// Persons in the partition.
    pub persons: u64,
    /// The gallery directory's files, by name.
    pub files: Vec<FileEntry>,
}

/// Why a snapshot was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SnapshotFault {
    /// The manifest is shorter than its header and CRC.
    #[error("manifest of {0} bytes is truncated")]
    Truncated(usize),
    /// The manifest does not start with the magic.
    #[error("manifest magic is not TUNGSNP")]
    Magic,
    /// The manifest is of another version.
    #[error("manifest version {0}, this build reads version {VERSION}")]
    Version(u32),
    /// The manifest's bytes do not match its CRC.
    #[error("manifest CRC {found:08x} but {stored:08x} stored")]
    ManifestCrc {
        /// CRC stored in the manifest.
        stored: u32,
        /// CRC of its bytes.
        found: u32,
    },
    /// The manifest's body does not decode.
    #[error("manifest body: {0}")]
    Body(String),
    /// The manifest describes another partition or sequence than its name says.
    #[error("manifest is of {found}, its name says {expected}")]
    Mislabelled {
        /// What the object name says.
        expected: String,
        /// What the manifest says.
        found: String,
    },
    /// A file name that is not a plain name in the gallery directory.
    #[error("file name {0:?} is not a plain file name")]
    FileName(String),
    /// A file could not be fetched.
    #[error("{file}: {detail}")]
    Fetch {
        /// The file.
        file: String,
        /// What failed.
        detail: String,
    },
    /// A file has another length than the manifest says.
    #[error("{file}: {found} bytes but the manifest says {expected}")]
    Size {
        /// The file.
        file: String,
        /// Length in the manifest.
        expected: u64,
        /// Length fetched.
        found: u64,
    },
    /// A file's bytes do not match the manifest's CRC.
    #[error("{file}: CRC {found:08x} but the manifest says {expected:08x}")]
    Crc {
        /// The file.
        file: String,
        /// CRC in the manifest.
        expected: u32,
        /// CRC of the bytes fetched.
        found: u32,
    },
    /// The restored gallery does not open.
    #[error("the restored partition does not open: {0}")]
    Open(String),
    /// The restored gallery holds another number of persons than the manifest says.
    #[error("the restored partition holds {found} persons but the manifest says {expected}")]
    Persons {
        /// Persons in the manifest.
        expected: u64,
        /// Persons in the restored gallery.
        found: u64,
    },
    /// The enrolment log cannot continue the snapshot (it ends before the snapshot's
    /// sequence, or no longer holds the entry after it).
    #[error("taken at sequence {sequence} but the enrolment log holds {first}..={last}")]
    Log {
        /// The snapshot's sequence.
        sequence: u64,
        /// First sequence the log holds.
        first: u64,
        /// Last sequence the log holds.
        last: u64,
    },
}

impl Manifest {
    /// The encoded manifest.
    pub fn encode(&self) -> Result<Vec<u8>, ClusterError> {
        let body = serde_json::to_vec(self).map_err(|e| ClusterError::Malformed(e.to_string()))?;
        let len = u32::try_from(body.len())
            .map_err(|_| ClusterError::Malformed("manifest over 4 GiB".into()))?;
        let mut out = Vec::with_capacity(HEADER + body.len() + 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&body);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Decodes and checks an encoded manifest (magic, version, length, CRC, plain file
    /// names).
    pub fn decode(bytes: &[u8]) -> Result<Self, SnapshotFault> {
        let word = |at: usize| -> Option<u32> {
            let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
            Some(u32::from_le_bytes(b))
        };
        if bytes.len() < HEADER + 4 {
            return Err(SnapshotFault::Truncated(bytes.len()));
        }
        if &bytes[..8] != MAGIC {
            return Err(SnapshotFault::Magic);
        }
        let version = word(8).ok_or(SnapshotFault::Truncated(bytes.len()))?;
        if version != VERSION {
            return Err(SnapshotFault::Version(version));
        }
        let len = word(12).ok_or(SnapshotFault::Truncated(bytes.len()))? as usize;
        let end = HEADER
            .checked_add(len)
            .filter(|&end| end + 4 == bytes.len())
            .ok_or(SnapshotFault::Truncated(bytes.len()))?;
        let stored = word(end).ok_or(SnapshotFault::Truncated(bytes.len()))?;
        let found = crc32fast::hash(&bytes[..end]);
        if stored != found {
            return Err(SnapshotFault::ManifestCrc { stored, found });
        }
        let manifest: Self = serde_json::from_slice(&bytes[HEADER..end])
            .map_err(|e| SnapshotFault::Body(e.to_string()))?;
        if let Some(bad) = manifest.files.iter().find(|f| !plain_name(&f.name)) {
            return Err(SnapshotFault::FileName(bad.name.clone()));
        }
        Ok(manifest)
    }
}

/// True for a name that stays inside the directory it is joined to.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            shard: 1,
            shards: 2,
            replica: 0,
            sequence: 40,
            persons: 19,
            files: vec![FileEntry {
                name: "seg-00000000.dat".into(),
                bytes: 4096,
                crc32: 0xdead_beef,
            }],
        }
    }

    #[test]
    fn a_manifest_reads_back() {
        let bytes = manifest().encode().unwrap();
        assert_eq!(&bytes[..8], MAGIC);
        assert_eq!(Manifest::decode(&bytes).unwrap(), manifest());
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let bytes = manifest().encode().unwrap();
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            assert!(
                Manifest::decode(&bad).is_err(),
                "byte {at} flipped was accepted"
            );
        }
        for len in 0..bytes.len() {
            assert!(Manifest::decode(&bytes[..len]).is_err(), "cut at {len}");
        }
    }

    #[test]
    fn version_and_names_are_checked() {
        let mut bytes = manifest().encode().unwrap();
        bytes[8] = 2;
        let end = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..end]);
        bytes[end..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(Manifest::decode(&bytes), Err(SnapshotFault::Version(2)));
        let mut m = manifest();
        m.files[0].name = "../state.sqlite3".into();
        assert_eq!(
            Manifest::decode(&m.encode().unwrap()),
            Err(SnapshotFault::FileName("../state.sqlite3".into()))
        );
        assert!(!plain_name(".hidden") && !plain_name("a/b") && plain_name("MANIFEST"));
    }
}
