//! Compaction of the image store: the records a caller still names are copied into new
//! segments, the caller switches its references, and the old segments are removed.
//!
//! The store keeps no index of its own, so the caller (the service's registry) says which
//! records are live, and the switch of references is the caller's own atomic step (one
//! transaction of its database). The three steps, each crash-safe:
//!
//! 1. [`ImageStore::seal`] starts a new active segment; every segment below it is sealed
//!    (nothing is appended to it again) and is an input of the compaction.
//! 2. [`ImageStore::rewrite`] reads every live record of the inputs (header, length and CRC
//!    checked: a damaged record fails the compaction and nothing changes), writes them back
//!    to back into `img-<n>.dat.compact`, syncs it, renames it to `img-<n>.dat` and syncs the
//!    directory. Output numbers are taken above the active segment and reserved, so the
//!    active segment never rolls onto them. A crash before the rename leaves a temporary
//!    file no reference can name (removed by the next seal); after it, whole segments
//!    nobody names yet.
//! 3. The caller switches its references to the new places in one transaction: its commit
//!    is the commit point. Then [`ImageStore::remove_segments`] removes the inputs.
//!
//! A crash anywhere leaves every named record readable: before the caller's commit its
//! references name the inputs, which are still there; after it they name the outputs,
//! which were durable before it. The leftovers (outputs nobody names, inputs nobody names)
//! hold no live record and are dropped by the next compaction, which takes every segment
//! below the new active one as input.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{
    encode_record, open_segment, segment_name, segment_number, sync_dir, Active, ImageRef,
    ImageStore, ImageStoreError, SEGMENT_BYTES,
};

/// Suffix of a compaction's output while it is written (`img-<n>.dat.compact`).
pub const COMPACT_SUFFIX: &str = ".compact";

/// What [`ImageStore::rewrite`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewritten {
    /// New place of every live record, by its old (segment, offset).
    moved: BTreeMap<(u32, u64), ImageRef>,
    /// The output segments, renamed into place and synced.
    pub outputs: Vec<u32>,
    /// Records copied.
    pub records: u64,
    /// Bytes of the input segments.
    pub bytes_in: u64,
    /// Bytes of the output segments.
    pub bytes_out: u64,
}

impl Rewritten {
    /// The new place of the record at `old`, when it was copied.
    pub fn new_ref(&self, old: ImageRef) -> Option<ImageRef> {
        self.moved
            .get(&(old.segment, old.offset))
            .copied()
            .filter(|r| r.length == old.length)
    }
}

/// The segment numbers present in `dir`, ascending.
pub(super) fn segment_numbers(dir: &Path) -> Result<Vec<u32>, ImageStoreError> {
    let mut numbers = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| ImageStoreError::io(dir, e))? {
        let entry = entry.map_err(|e| ImageStoreError::io(dir, e))?;
        if let Some(n) = entry.file_name().to_str().and_then(segment_number) {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

fn remove_if_exists(path: &Path) -> Result<bool, ImageStoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(ImageStoreError::io(path, e)),
    }
}

fn tmp_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{}{COMPACT_SUFFIX}", segment_name(n)))
}

/// One output segment being written.
struct Output {
    number: u32,
    tmp: PathBuf,
    writer: BufWriter<File>,
    len: u64,
}

impl ImageStore {
    /// Starts a new active segment and returns the sealed segments below it (the inputs of
    /// a compaction). Temporary files of an earlier compaction that never finished are
    /// removed first (no reference can name them).
    pub fn seal(&self) -> Result<Vec<u32>, ImageStoreError> {
        let mut active = self.active.lock().map_err(|_| ImageStoreError::Poisoned)?;
        let mut removed = false;
        for entry in fs::read_dir(&self.dir).map_err(|e| ImageStoreError::io(&self.dir, e))? {
            let entry = entry.map_err(|e| ImageStoreError::io(&self.dir, e))?;
            let name = entry.file_name();
            let is_tmp = name
                .to_str()
                .and_then(|n| n.strip_suffix(COMPACT_SUFFIX))
                .and_then(segment_number)
                .is_some();
            if is_tmp {
                removed |= remove_if_exists(&entry.path())?;
            }
        }
        if removed {
            sync_dir(&self.dir)?;
        }
        let (next, reserved) = (active.next_number(), active.reserved);
        let file = open_segment(&self.dir, next, true)?;
        *active = Active {
            segment: next,
            file,
            len: 0,
            roll: false,
            reserved,
        };
        drop(active);
        Ok(segment_numbers(&self.dir)?
            .into_iter()
            .filter(|&n| n < next)
            .collect())
    }

    /// Starts a new active segment above every reserved number.
    fn roll_above_reserved(&self) -> Result<(), ImageStoreError> {
        let mut active = self.active.lock().map_err(|_| ImageStoreError::Poisoned)?;
        if active.segment > active.reserved {
            return Ok(());
        }
        let (next, reserved) = (active.next_number(), active.reserved);
        let file = open_segment(&self.dir, next, true)?;
        *active = Active {
            segment: next,
            file,
            len: 0,
            roll: false,
            reserved,
        };
        Ok(())
    }

    /// Takes the number of a new output segment (above the active one, never rolled onto).
    pub(super) fn reserve_number(&self) -> Result<u32, ImageStoreError> {
        let mut active = self.active.lock().map_err(|_| ImageStoreError::Poisoned)?;
        let n = active.next_number();
        active.reserved = n;
        Ok(n)
    }

    /// Copies every record of `live` that lies in one of the sealed segments `inputs` into
    /// new segments (see the module documentation); references into other segments are
    /// left out. A damaged or missing live record fails the compaction: its outputs are
    /// removed and nothing else changes.
    pub fn rewrite(&self, inputs: &[u32], live: &[ImageRef]) -> Result<Rewritten, ImageStoreError> {
        let mut wanted: Vec<ImageRef> = live
            .iter()
            .filter(|r| inputs.contains(&r.segment))
            .copied()
            .collect();
        wanted.sort_by_key(|r| (r.segment, r.offset, r.length));
        wanted.dedup();
        let mut out = Rewritten::default();
        for &n in inputs {
            let path = self.dir.join(segment_name(n));
            out.bytes_in += match fs::metadata(&path) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(ImageStoreError::io(&path, e)),
            };
        }
        let mut current: Option<Output> = None;
        let copied = self.copy_records(&wanted, &mut current, &mut out);
        let finished = copied.and_then(|()| match current.take() {
            Some(o) => self.finish(o, &mut out),
            None => Ok(()),
        });
        // The active segment moves above the outputs, so they are never the last segment
        // (whose damaged end an open takes for a torn tail).
        let rolled = finished.and_then(|()| match out.outputs.last() {
            Some(_) => self.roll_above_reserved(),
            None => Ok(()),
        });
        if let Err(e) = rolled {
            if let Some(o) = current {
                let _ = remove_if_exists(&o.tmp);
            }
            // Nothing names the outputs yet.
            let _ = self.remove_files(&out.outputs);
            return Err(e);
        }
        Ok(out)
    }

    fn copy_records(
        &self,
        wanted: &[ImageRef],
        current: &mut Option<Output>,
        out: &mut Rewritten,
    ) -> Result<(), ImageStoreError> {
        let mut record = Vec::new();
        for &r in wanted {
            let payload = self.read(r)?;
            record.clear();
            encode_record(&payload, &mut record);
            let full = current
                .as_ref()
                .is_some_and(|o| o.len > 0 && o.len + record.len() as u64 > SEGMENT_BYTES);
            if full {
                if let Some(o) = current.take() {
                    self.finish(o, out)?;
                }
            }
            if current.is_none() {
                *current = Some(self.start_output()?);
            }
            let Some(o) = current.as_mut() else {
                continue;
            };
            o.writer
                .write_all(&record)
                .map_err(|e| ImageStoreError::io(&o.tmp, e))?;
            out.moved.insert(
                (r.segment, r.offset),
                ImageRef {
                    segment: o.number,
                    offset: o.len,
                    length: r.length,
                },
            );
            o.len += record.len() as u64;
            out.records += 1;
        }
        Ok(())
    }

    fn start_output(&self) -> Result<Output, ImageStoreError> {
        let number = self.reserve_number()?;
        let tmp = tmp_path(&self.dir, number);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| ImageStoreError::io(&tmp, e))?;
        Ok(Output {
            number,
            tmp,
            writer: BufWriter::with_capacity(1 << 20, file),
            len: 0,
        })
    }

    /// Syncs an output, renames it into place and syncs the directory.
    fn finish(&self, o: Output, out: &mut Rewritten) -> Result<(), ImageStoreError> {
        let Output {
            number,
            tmp,
            writer,
            len,
        } = o;
        let file = writer
            .into_inner()
            .map_err(|e| ImageStoreError::io(&tmp, e.into_error()))?;
        if let Err(e) = file.sync_all() {
            let _ = remove_if_exists(&tmp);
            return Err(ImageStoreError::io(&tmp, e));
        }
        drop(file);
        let path = self.dir.join(segment_name(number));
        if let Err(e) = fs::rename(&tmp, &path) {
            let _ = remove_if_exists(&tmp);
            return Err(ImageStoreError::io(&path, e));
        }
        out.outputs.push(number);
        out.bytes_out += len;
        sync_dir(&self.dir)
    }

    /// Removes sealed segments nobody names any more (after the caller's switch of
    /// references is durable) and syncs the directory; returns the bytes freed. The active
    /// segment is never removed.
    pub fn remove_segments(&self, segments: &[u32]) -> Result<u64, ImageStoreError> {
        let active = self.active.lock().map_err(|_| ImageStoreError::Poisoned)?;
        if let Some(&n) = segments.iter().find(|&&n| n == active.segment) {
            return Err(ImageStoreError::Corrupt {
                path: self.dir.join(segment_name(n)),
                offset: 0,
                detail: "the active segment cannot be removed by a compaction".to_owned(),
            });
        }
        drop(active);
        self.remove_files(segments)
    }

    fn remove_files(&self, segments: &[u32]) -> Result<u64, ImageStoreError> {
        let mut freed = 0;
        for &n in segments {
            let path = self.dir.join(segment_name(n));
            let bytes = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if remove_if_exists(&path)? {
                freed += bytes;
            }
        }
        sync_dir(&self.dir)?;
        Ok(freed)
    }
}
