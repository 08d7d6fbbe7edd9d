//! A read-only check of an image store directory (for `fsck`): every record of every
//! segment, its header and CRC, and whether a reference names a whole valid record.
//!
//! Nothing is changed: a damaged record is reported with its segment and offset, never cut
//! or deleted. After a damaged record the walk goes on at the next offset where a valid
//! record starts (the header's length when the damage is inside the payload, else a scan
//! for the next record magic), so one bad byte hides no other record. Damage at the end of
//! the last segment with no valid record after it is a torn tail (an append that never
//! returned, so never referenced): reported apart, as the next open cuts it and keeps the
//! bytes beside the segment.
//!
//! Each segment is read whole, one at a time (at most [`SEGMENT_BYTES`] plus one batch).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

#[cfg(doc)]
use super::SEGMENT_BYTES;
use super::{
    parse_header, record_crc, segment_name, segment_number, valid_record_at, ImageRef,
    ImageStoreError, HEADER_LEN, RECORD_MAGIC,
};

/// A damaged record found by [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedImage {
    /// Segment number.
    pub segment: u32,
    /// Offset of the damaged bytes in the segment.
    pub offset: u64,
    /// Bytes up to the next valid record (or the end of the segment).
    pub bytes: u64,
    /// What is wrong.
    pub detail: String,
}

/// The torn tail of the last segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornImageTail {
    /// Segment number.
    pub segment: u32,
    /// Offset of the first damaged byte.
    pub offset: u64,
    /// Bytes to the end of the segment.
    pub bytes: u64,
}

/// What [`check`] found.
#[derive(Debug, Clone, Default)]
pub struct ImageStoreCheck {
    /// The directory.
    pub dir: PathBuf,
    /// Segments present, with their bytes.
    pub segments: Vec<(u32, u64)>,
    /// Valid records (CRC checked).
    pub records: u64,
    /// Payload bytes of the valid records.
    pub payload_bytes: u64,
    /// Damaged records, in segment and offset order.
    pub damaged: Vec<DamagedImage>,
    /// The torn tail of the last segment, if any.
    pub torn_tail: Option<TornImageTail>,
    /// Valid records by (segment, offset): their payload length.
    valid: BTreeMap<(u32, u64), u32>,
}

impl ImageStoreCheck {
    /// True when no record is damaged (a torn tail is not damage).
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty()
    }

    /// Whether `r` names a whole valid record; otherwise why not.
    pub fn resolve(&self, r: ImageRef) -> Result<(), String> {
        let name = segment_name(r.segment);
        if !self.segments.iter().any(|&(n, _)| n == r.segment) {
            return Err(format!("segment {name} is absent"));
        }
        match self.valid.get(&(r.segment, r.offset)) {
            Some(&length) if length == r.length => Ok(()),
            Some(&length) => Err(format!(
                "{name} offset {}: the record holds {length} bytes, the reference names {}",
                r.offset, r.length
            )),
            None => {
                let damaged = self.damaged.iter().find(|d| {
                    d.segment == r.segment
                        && (d.offset..d.offset.saturating_add(d.bytes)).contains(&r.offset)
                });
                let torn = self
                    .torn_tail
                    .as_ref()
                    .filter(|t| t.segment == r.segment && r.offset >= t.offset);
                Err(match (damaged, torn) {
                    (Some(d), _) => {
                        format!("{name} offset {}: damaged record ({})", r.offset, d.detail)
                    }
                    (None, Some(_)) => format!(
                        "{name} offset {}: inside the torn tail of the segment",
                        r.offset
                    ),
                    (None, None) => format!("{name}: no record starts at offset {}", r.offset),
                })
            }
        }
    }
}

/// Checks every segment of the image store in `dir` without changing anything. An absent
/// directory is an empty store.
pub fn check(dir: &Path) -> Result<ImageStoreCheck, ImageStoreError> {
    let mut out = ImageStoreCheck {
        dir: dir.to_owned(),
        ..ImageStoreCheck::default()
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(ImageStoreError::io(dir, e)),
    };
    let mut numbers = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ImageStoreError::io(dir, e))?;
        if let Some(n) = entry.file_name().to_str().and_then(segment_number) {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    let last = numbers.last().copied();
    for n in numbers {
        let path = dir.join(segment_name(n));
        let bytes = fs::read(&path).map_err(|e| ImageStoreError::io(&path, e))?;
        out.segments.push((n, bytes.len() as u64));
        walk(n, &bytes, Some(n) == last, &mut out);
    }
    Ok(out)
}

/// Walks the records of segment `n` held in `bytes`.
fn walk(n: u32, bytes: &[u8], is_last: bool, out: &mut ImageStoreCheck) {
    let mut at = 0usize;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let problem = match parse_header(rest) {
            Ok((length, crc)) => match rest.get(HEADER_LEN..HEADER_LEN + length) {
                Some(payload) if record_crc(rest, payload) == crc => {
                    out.valid.insert((n, at as u64), length as u32);
                    out.records += 1;
                    out.payload_bytes += length as u64;
                    at += HEADER_LEN + length;
                    continue;
                }
                Some(_) => {
                    // The header is sound: the damage is inside the record, and the next one
                    // starts after it when it is valid there.
                    let next = at + HEADER_LEN + length;
                    let followed = if next == bytes.len() {
                        // The end of the last segment is a torn tail, as the next open sees it.
                        !is_last
                    } else {
                        valid_record_at(&bytes[next..])
                    };
                    if followed {
                        out.damaged.push(DamagedImage {
                            segment: n,
                            offset: at as u64,
                            bytes: (HEADER_LEN + length) as u64,
                            detail: "CRC mismatch".to_owned(),
                        });
                        at = next;
                        continue;
                    }
                    "CRC mismatch".to_owned()
                }
                None => "the record runs past the end of the segment".to_owned(),
            },
            Err(why) => why,
        };
        let next = (at + 1..bytes.len())
            .find(|&i| bytes[i..].starts_with(RECORD_MAGIC) && valid_record_at(&bytes[i..]));
        let end = next.unwrap_or(bytes.len());
        if next.is_none() && is_last {
            out.torn_tail = Some(TornImageTail {
                segment: n,
                offset: at as u64,
                bytes: (end - at) as u64,
            });
        } else {
            out.damaged.push(DamagedImage {
                segment: n,
                offset: at as u64,
                bytes: (end - at) as u64,
                detail: problem,
            });
        }
        at = end;
    }
}
