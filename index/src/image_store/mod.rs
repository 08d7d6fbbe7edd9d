//! The cold store of fingerprint images: append-only segment files `img-<n>.dat` in one
//! directory, each record a 16-byte header and the image bytes.
//!
//! A record is `magic "TGIR"`, format version (u16, 1), reserved (u16, 0), payload length
//! (u32), CRC-32 of the first 12 header bytes and the payload (u32), all little-endian, then
//! the payload. A record is found by its [`ImageRef`] (segment, offset, length), which the
//! caller keeps (the service keeps it in the person's registry row); the store keeps no index
//! of its own and nothing of the images in memory.
//!
//! # Durability and damage
//!
//! [`ImageStore::append`] writes a batch of records and syncs the file before it returns, so
//! a caller that stores the references after it (and acknowledges after that) never names a
//! record that a crash can lose. A new segment's directory entry is synced when it is
//! created.
//!
//! Opening checks the last segment record by record. A damaged record there is a **torn
//! tail** only when no valid record follows it; the tail is then copied to
//! `img-<n>.dat.torn-<offset>` beside the segment and cut, so no byte is deleted. A damaged
//! record followed by a valid one is refused ([`ImageStoreError::Corrupt`]). Earlier
//! segments are not read at open: a damaged record fails its own read with
//! [`ImageStoreError::Corrupt`], naming the segment and offset; nothing is repaired.
//!
//! Records of deleted persons (and of replaced images, and of enrolments that never
//! committed) stay in their segments until a compaction (`compact.rs`:
//! [`ImageStore::seal`], [`ImageStore::rewrite`], [`ImageStore::remove_segments`]) copies
//! the records the caller still names into new segments; the caller switches its
//! references in one transaction of its own, and only then are the old segments removed.
//!
//! [`check`] reads every segment without changing anything (for `fsck`): each record's
//! header and CRC, and whether a reference names a whole valid record.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

mod check;
mod compact;
#[cfg(test)]
mod compact_tests;
#[cfg(test)]
mod tests;

pub use check::{check, DamagedImage, ImageStoreCheck, TornImageTail};
pub use compact::{Rewritten, COMPACT_SUFFIX};

/// Magic bytes opening every record.
pub const RECORD_MAGIC: &[u8; 4] = b"TGIR";
/// Record format version.
pub const RECORD_VERSION: u16 = 1;
/// Bytes of a record header.
pub const HEADER_LEN: usize = 16;
/// Largest payload a record may hold (the largest accepted encoded image).
pub const MAX_PAYLOAD: usize = crate::image::MAX_INPUT_BYTES;
/// A segment is closed once it holds this many bytes; the next batch opens a new one.
pub const SEGMENT_BYTES: u64 = 256 * 1024 * 1024;

/// Where a stored image lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    /// Segment number (`img-<segment>.dat`).
    pub segment: u32,
    /// Offset of the record header in the segment.
    pub offset: u64,
    /// Payload bytes.
    pub length: u32,
}

/// Why the image store failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageStoreError {
    /// An I/O call failed.
    #[error("image store I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A record is damaged (or a reference names no record).
    #[error("image store segment {path} is damaged at offset {offset}: {detail}")]
    Corrupt {
        /// The segment.
        path: PathBuf,
        /// The record's offset.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// An image is larger than a record may hold.
    #[error("an image of {bytes} bytes exceeds the store's limit of {max} bytes")]
    TooLarge {
        /// The image's size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The store's lock was poisoned by a panic in another thread.
    #[error("the image store's lock is poisoned")]
    Poisoned,
}

impl ImageStoreError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// Whether the failure is a full disk.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull)
    }

    /// Whether the failure is a segment file that does not exist (removed by a compaction
    /// after the reference was read: read the reference again).
    pub fn is_missing_segment(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// A torn tail cut at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment it was cut from.
    pub segment: PathBuf,
    /// Offset of the first damaged record (the segment's new length).
    pub offset: u64,
    /// Bytes cut.
    pub bytes: u64,
    /// Where the cut bytes were kept.
    pub kept_in: PathBuf,
}

/// What opening found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageStoreOpen {
    /// Segments present.
    pub segments: usize,
    /// The torn tail cut from the last segment, if any.
    pub torn_tail: Option<TornTail>,
}

struct Active {
    segment: u32,
    file: File,
    len: u64,
    /// An append failed part-way: the next batch starts a new segment, so no record is
    /// ever written after unreferenced bytes of uncertain state.
    roll: bool,
    /// The highest segment number a compaction has taken for its output (0 when none): a
    /// new active segment is numbered above it.
    reserved: u32,
}

impl Active {
    /// The number of the next segment to create: above the active one and every number a
    /// compaction took.
    fn next_number(&self) -> u32 {
        self.segment.max(self.reserved).saturating_add(1)
    }
}

/// The image store of one directory (see the module documentation).
pub struct ImageStore {
    dir: PathBuf,
    active: Mutex<Active>,
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The file name of segment `n`.
pub fn segment_name(n: u32) -> String {
    format!("img-{n:06}.dat")
}

fn segment_number(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("img-")?.strip_suffix(".dat")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The CRC of a record: the first 12 header bytes, then the payload.
fn record_crc(head: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(head.get(..12).unwrap_or(head));
    h.update(payload);
    h.finalize()
}

/// A whole record for `payload`.
fn encode_record(payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(RECORD_MAGIC);
    out.extend_from_slice(&RECORD_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    let crc = record_crc(&out[start..], payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        a.copy_from_slice(s);
    }
    u16::from_le_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

/// Checks a record header; returns the payload length and the stored CRC.
fn parse_header(head: &[u8]) -> Result<(usize, u32), String> {
    if head.len() < HEADER_LEN {
        return Err("the record header is truncated".to_owned());
    }
    if &head[..4] != RECORD_MAGIC {
        return Err("bad record magic".to_owned());
    }
    let version = u16_at(head, 4);
    if version != RECORD_VERSION {
        return Err(format!("unsupported record version {version}"));
    }
    let length = u32_at(head, 8) as usize;
    if length > MAX_PAYLOAD {
        return Err(format!("record length {length} exceeds {MAX_PAYLOAD}"));
    }
    Ok((length, u32_at(head, 12)))
}

/// Whether a whole valid record starts at the beginning of `bytes`.
fn valid_record_at(bytes: &[u8]) -> bool {
    let Ok((length, crc)) = parse_header(bytes) else {
        return false;
    };
    bytes
        .get(HEADER_LEN..HEADER_LEN + length)
        .is_some_and(|payload| record_crc(bytes, payload) == crc)
}

/// Walks the records of `path`: the offset where the valid records end, and the file length.
fn valid_end(path: &Path) -> Result<(u64, u64), ImageStoreError> {
    let file = File::open(path).map_err(|e| ImageStoreError::io(path, e))?;
    let total = file
        .metadata()
        .map_err(|e| ImageStoreError::io(path, e))?
        .len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut at = 0u64;
    let mut head = [0u8; HEADER_LEN];
    let mut payload = Vec::new();
    while at < total {
        if total - at < HEADER_LEN as u64 {
            break;
        }
        reader
            .read_exact(&mut head)
            .map_err(|e| ImageStoreError::io(path, e))?;
        let Ok((length, crc)) = parse_header(&head) else {
            break;
        };
        if total - at - (HEADER_LEN as u64) < length as u64 {
            break;
        }
        payload.resize(length, 0);
        reader
            .read_exact(&mut payload)
            .map_err(|e| ImageStoreError::io(path, e))?;
        if record_crc(&head, &payload) != crc {
            break;
        }
        at += (HEADER_LEN + length) as u64;
    }
    Ok((at, total))
}

/// Cuts the damaged tail of the last segment from `end`, after checking it holds no valid
/// record and keeping a copy of it.
fn cut_tail(path: &Path, end: u64, total: u64) -> Result<TornTail, ImageStoreError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| ImageStoreError::io(path, e))?;
    let mut tail = vec![0u8; (total - end) as usize];
    file.read_exact_at(&mut tail, end)
        .map_err(|e| ImageStoreError::io(path, e))?;
    if let Some(later) = (1..tail.len())
        .find(|&i| tail[i..].starts_with(RECORD_MAGIC) && valid_record_at(&tail[i..]))
    {
        return Err(ImageStoreError::Corrupt {
            path: path.to_owned(),
            offset: end,
            detail: format!(
                "a damaged record is followed by a valid one at offset {}: not a torn tail",
                end + later as u64
            ),
        });
    }
    let mut kept = path.as_os_str().to_os_string();
    kept.push(format!(".torn-{end}"));
    let kept = PathBuf::from(kept);
    let mut copy = File::create(&kept).map_err(|e| ImageStoreError::io(&kept, e))?;
    copy.write_all(&tail)
        .and_then(|()| copy.sync_all())
        .map_err(|e| ImageStoreError::io(&kept, e))?;
    file.set_len(end)
        .and_then(|()| file.sync_all())
        .map_err(|e| ImageStoreError::io(path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    Ok(TornTail {
        segment: path.to_owned(),
        offset: end,
        bytes: total - end,
        kept_in: kept,
    })
}

fn sync_dir(dir: &Path) -> Result<(), ImageStoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ImageStoreError::io(dir, e))
}

fn open_segment(dir: &Path, n: u32, create: bool) -> Result<File, ImageStoreError> {
    let path = dir.join(segment_name(n));
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(create)
        .open(&path)
        .map_err(|e| ImageStoreError::io(&path, e))?;
    if create {
        sync_dir(dir)?;
    }
    Ok(file)
}

impl ImageStore {
    /// Opens (creating if needed) the store in `dir`, checking its last segment (see the
    /// module documentation).
    pub fn open(dir: &Path) -> Result<(Self, ImageStoreOpen), ImageStoreError> {
        fs::create_dir_all(dir).map_err(|e| ImageStoreError::io(dir, e))?;
        let numbers = compact::segment_numbers(dir)?;
        let mut report = ImageStoreOpen {
            segments: numbers.len(),
            torn_tail: None,
        };
        let (segment, len) = match numbers.last() {
            Some(&n) => {
                let path = dir.join(segment_name(n));
                let (end, total) = valid_end(&path)?;
                if end < total {
                    report.torn_tail = Some(cut_tail(&path, end, total)?);
                }
                (n, end)
            }
            None => {
                report.segments = 1;
                (1, 0)
            }
        };
        let file = open_segment(dir, segment, len == 0)?;
        Ok((
            Self {
                dir: dir.to_owned(),
                active: Mutex::new(Active {
                    segment,
                    file,
                    len,
                    roll: false,
                    reserved: 0,
                }),
            },
            report,
        ))
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one record per payload and syncs them; returns their references, in order.
    /// Nothing is referenced unless this returns `Ok`.
    pub fn append(&self, payloads: &[&[u8]]) -> Result<Vec<ImageRef>, ImageStoreError> {
        if let Some(big) = payloads.iter().find(|p| p.len() > MAX_PAYLOAD) {
            return Err(ImageStoreError::TooLarge {
                bytes: big.len(),
                max: MAX_PAYLOAD,
            });
        }
        if payloads.is_empty() {
            return Ok(Vec::new());
        }
        let mut buf =
            Vec::with_capacity(payloads.iter().map(|p| p.len() + HEADER_LEN).sum::<usize>());
        let mut offsets = Vec::with_capacity(payloads.len());
        for p in payloads {
            offsets.push(buf.len() as u64);
            encode_record(p, &mut buf);
        }
        let mut active = self.active.lock().map_err(|_| ImageStoreError::Poisoned)?;
        if active.roll || (active.len > 0 && active.len + buf.len() as u64 > SEGMENT_BYTES) {
            let (next, reserved) = (active.next_number(), active.reserved);
            let file = open_segment(&self.dir, next, true)?;
            *active = Active {
                segment: next,
                file,
                len: 0,
                roll: false,
                reserved,
            };
        }
        let path = self.dir.join(segment_name(active.segment));
        let written = active
            .file
            .write_all(&buf)
            .and_then(|()| active.file.sync_data());
        if let Err(e) = written {
            active.roll = true;
            return Err(ImageStoreError::io(&path, e));
        }
        let base = active.len;
        active.len += buf.len() as u64;
        Ok(offsets
            .into_iter()
            .zip(payloads)
            .map(|(o, p)| ImageRef {
                segment: active.segment,
                offset: base + o,
                length: p.len() as u32,
            })
            .collect())
    }

    /// The payload of the record at `r`, its header and CRC checked.
    pub fn read(&self, r: ImageRef) -> Result<Vec<u8>, ImageStoreError> {
        let path = self.dir.join(segment_name(r.segment));
        let corrupt = |detail: String| ImageStoreError::Corrupt {
            path: path.clone(),
            offset: r.offset,
            detail,
        };
        if r.length as usize > MAX_PAYLOAD {
            return Err(corrupt(format!("a reference of {} bytes", r.length)));
        }
        let file = File::open(&path).map_err(|e| ImageStoreError::io(&path, e))?;
        let mut rec = vec![0u8; HEADER_LEN + r.length as usize];
        file.read_exact_at(&mut rec, r.offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                corrupt("the record runs past the end of the segment".to_owned())
            } else {
                ImageStoreError::io(&path, e)
            }
        })?;
        let (length, crc) = parse_header(&rec).map_err(corrupt)?;
        if length != r.length as usize {
            return Err(corrupt(format!(
                "the record holds {length} bytes, the reference names {}",
                r.length
            )));
        }
        let payload = rec.split_off(HEADER_LEN);
        if record_crc(&rec, &payload) != crc {
            return Err(corrupt("CRC mismatch".to_owned()));
        }
        Ok(payload)
    }

    /// Bytes held by every segment file.
    pub fn bytes_on_disk(&self) -> Result<u64, ImageStoreError> {
        let mut total = 0;
        for entry in fs::read_dir(&self.dir).map_err(|e| ImageStoreError::io(&self.dir, e))? {
            let entry = entry.map_err(|e| ImageStoreError::io(&self.dir, e))?;
            if entry
                .file_name()
                .to_str()
                .and_then(segment_number)
                .is_some()
            {
                total += entry
                    .metadata()
                    .map_err(|e| ImageStoreError::io(&entry.path(), e))?
                    .len();
            }
        }
        Ok(total)
    }
}
