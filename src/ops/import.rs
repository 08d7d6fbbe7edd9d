//! `tunggal import`: bulk-load a legacy gallery from a directory of enrolment bodies.
//!
//! The input is a directory of `POST /v1/enrolments` bodies as `tunggal gen requests` writes
//! them (`000001.json`, `000002.json`, …), taken in file-name order. Records are validated
//! like HTTP enrolments and enrolled without 1:N search, a chunk at a time, through
//! [`GalleryEngine::bulk_prepare`] and [`GalleryEngine::bulk_commit`] (the two halves of
//! [`GalleryEngine::bulk_enrol_detailed`]).
//!
//! Each chunk is read and prepared while the previous one is written. After each chunk is
//! durably enrolled, the position of the next unread file is written to
//! a [`Checkpoint`] in the data directory; a rerun (after a kill, say) resumes there. The
//! chunk in flight at a kill is read again on resume, and the registry skips every record
//! whose `request_id` it already holds, so no record is enrolled twice. Invalid records are
//! not fatal: each is appended to the rejects report (file name, reason code, detail) and
//! skipped.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tunggal_domain::date::Date;

use super::checkpoint::{Checkpoint, CheckpointError};
use crate::clock::now_secs;
use crate::engine::bulk::BulkPrepared;
use crate::engine::GalleryEngine;
use crate::enrolment::record::EnrolmentRecord;
use crate::enrolment::validate;
use crate::enrolment::wire::EnrolmentRequest;
use crate::enrolment::EngineError;

/// Checkpoint file of an import, in the data directory.
pub const CHECKPOINT_NAME: &str = "import.checkpoint";
/// Rejects report of an import, in the data directory (tab-separated, appended).
pub const REJECTS_NAME: &str = "import-rejects.tsv";

/// Why an import stopped.
#[derive(Debug, Error)]
pub enum ImportError {
    /// The input directory could not be listed.
    #[error("{path}: {source}")]
    Input {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The rejects report could not be written.
    #[error("{path}: {source}")]
    Rejects {
        /// The report.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The checkpoint could not be read or written.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The engine failed (storage, registry).
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    /// The thread writing chunks stopped abnormally.
    #[error("the import's writer thread panicked")]
    WriterPanicked,
}

/// Where an import stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportPosition {
    /// The input directory as given.
    pub input: String,
    /// Files read and settled (enrolled, skipped or rejected), in file-name order.
    pub next: usize,
    /// Name of the last settled file (guards against a changed input directory).
    pub last_file: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    /// Input files.
    pub total: usize,
    /// Files skipped because the checkpoint says they were settled by an earlier run.
    pub resumed_from: usize,
    /// Records enrolled by this run.
    pub imported: usize,
    /// Records whose `request_id` was already enrolled (skipped).
    pub already_present: usize,
    /// Records rejected (see the rejects report).
    pub rejected: usize,
    /// Wall-clock seconds of this run.
    pub seconds: f64,
}

impl ImportReport {
    /// Records settled by this run per second.
    pub fn persons_per_second(&self) -> f64 {
        let n = self.imported + self.already_present + self.rejected;
        if self.seconds > 0.0 {
            n as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// The enrolment bodies in `dir`, in file-name order.
pub fn input_files(dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let err = |source| ImportError::Input {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let path = entry.map_err(err)?.path();
        if path.extension().is_some_and(|e| e == "json") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// One input record, read and validated.
type Read = Result<EnrolmentRecord, (String, String)>;

fn read_one(path: &Path, today: Date) -> Read {
    let bytes = std::fs::read(path).map_err(|e| ("unreadable".to_owned(), e.to_string()))?;
    let req: EnrolmentRequest =
        serde_json::from_slice(&bytes).map_err(|e| ("malformed_json".to_owned(), e.to_string()))?;
    validate::enrolment(&req, today).map_err(|p| (p.reason.code(), p.detail))
}

/// Settings of an import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The input directory.
    pub input: PathBuf,
    /// The data directory (checkpoint and rejects report).
    pub data_dir: PathBuf,
    /// Records per chunk (one registry batch, one checkpoint).
    pub chunk: usize,
    /// Ignore an existing checkpoint and read the input from the start (still idempotent).
    pub restart: bool,
}

/// Imports `options.input` into `engine`, calling `progress(settled, total)` after each
/// chunk (see the module documentation).
pub fn import(
    engine: &GalleryEngine,
    options: &ImportOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    let files = input_files(&options.input)?;
    let input = options.input.display().to_string();
    let checkpoint = Checkpoint::new(options.data_dir.join(CHECKPOINT_NAME));
    let saved: Option<ImportPosition> = if options.restart {
        None
    } else {
        checkpoint.load()?
    };
    // Resume only where the saved position still names the same file of the same input.
    let start = saved
        .filter(|s| s.input == input && s.next <= files.len())
        .filter(|s| {
            let at = s
                .next
                .checked_sub(1)
                .and_then(|i| files.get(i))
                .map(|p| file_name(p));
            at == s.last_file
        })
        .map_or(0, |s| s.next);
    let rejects_path = options.data_dir.join(REJECTS_NAME);
    let mut rejects = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&rejects_path)
        .map_err(|source| ImportError::Rejects {
            path: rejects_path.clone(),
            source,
        })?;
    let mut report = ImportReport {
        total: files.len(),
        resumed_from: start,
        ..ImportReport::default()
    };
    let today = Date::from_day_number((now_secs() / 86_400) as i64);
    let mut seen: HashSet<(String, String, String)> = HashSet::new();
    let chunk = options.chunk.max(1);
    progress(start, files.len());
    let mut at = start;
    let mut settle = |c: Chunk| -> Result<Settled, ImportError> {
        let (stats, unusable) = engine.bulk_commit(&c.records, c.prepared)?;
        let mut lines = c.lines;
        for (i, code) in unusable {
            let name = c.names.get(i).map_or("", String::as_str);
            lines.push_str(&reject_line(name, code, "not enough usable biometrics"));
        }
        if !lines.is_empty() {
            rejects
                .write_all(lines.as_bytes())
                .and_then(|()| rejects.sync_data())
                .map_err(|source| ImportError::Rejects {
                    path: rejects_path.clone(),
                    source,
                })?;
        }
        checkpoint.store(&ImportPosition {
            input: input.clone(),
            next: c.end,
            last_file: c.last_file,
        })?;
        Ok(Settled {
            imported: stats.imported,
            already_present: c.already_present + stats.already_present,
            rejected: c.rejected + stats.unusable,
            end: c.end,
        })
    };
    // Each chunk is read and prepared while a writer thread settles the one before it
    // (registry, gallery, rejects report, checkpoint, in that order), so both cores stay
    // busy; chunks are still settled one after another, in input order.
    let mut pending: Option<Chunk> = None;
    for batch in files[start..].chunks(chunk) {
        at += batch.len();
        let previous = pending.take();
        let (next, settled) = std::thread::scope(|s| {
            let writer = s.spawn(|| previous.map(&mut settle).transpose());
            let next = read_chunk(engine, batch, today, &mut seen, at);
            (next, writer.join())
        });
        let settled = settled.map_err(|_| ImportError::WriterPanicked)??;
        if let Some(done) = settled {
            report.add(&done);
            progress(done.end, files.len());
        }
        pending = Some(next);
    }
    if let Some(done) = pending.map(&mut settle).transpose()? {
        report.add(&done);
        progress(done.end, files.len());
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// A chunk read and prepared, waiting to be settled.
struct Chunk {
    records: Vec<EnrolmentRecord>,
    /// File name per record.
    names: Vec<String>,
    prepared: BulkPrepared,
    /// Rejects report lines of the records that did not validate.
    lines: String,
    rejected: usize,
    /// Records repeated earlier in the input.
    already_present: usize,
    /// Position after the chunk, and its last file.
    end: usize,
    last_file: Option<String>,
}

/// What settling a chunk did.
struct Settled {
    imported: usize,
    already_present: usize,
    rejected: usize,
    end: usize,
}

impl ImportReport {
    fn add(&mut self, s: &Settled) {
        self.imported += s.imported;
        self.already_present += s.already_present;
        self.rejected += s.rejected;
    }
}

/// Reads and validates the files of `batch` (in parallel) and prepares the valid records
/// not seen earlier in the input; `end` is the position after the batch.
fn read_chunk(
    engine: &GalleryEngine,
    batch: &[PathBuf],
    today: Date,
    seen: &mut HashSet<(String, String, String)>,
    end: usize,
) -> Chunk {
    let read: Vec<Read> = batch.par_iter().map(|p| read_one(p, today)).collect();
    let mut records = Vec::with_capacity(batch.len());
    let mut names = Vec::with_capacity(batch.len());
    let mut lines = String::new();
    let (mut rejected, mut already_present) = (0, 0);
    for (path, r) in batch.iter().zip(read) {
        match r {
            Ok(rec) => {
                let id = (
                    rec.origin.district.clone(),
                    rec.origin.service_point.clone(),
                    rec.request_id.clone(),
                );
                // A request_id repeated in the input is the same enrolment again.
                if seen.insert(id) {
                    records.push(rec);
                    names.push(file_name(path));
                } else {
                    already_present += 1;
                }
            }
            Err((code, detail)) => {
                lines.push_str(&reject_line(&file_name(path), &code, &detail));
                rejected += 1;
            }
        }
    }
    let prepared = engine.bulk_prepare(&records);
    Chunk {
        records,
        names,
        prepared,
        lines,
        rejected,
        already_present,
        end,
        last_file: batch.last().map(|p| file_name(p)),
    }
}

fn reject_line(file: &str, code: &str, detail: &str) -> String {
    let detail: String = detail
        .chars()
        .map(|c| if c == '\t' || c == '\n' { ' ' } else { c })
        .collect();
    format!("{file}\t{code}\t{detail}\n")
}
