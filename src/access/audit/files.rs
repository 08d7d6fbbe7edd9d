//! The files of the audit log: the current `audit.jsonl` and the files rotated out of it,
//! `audit.jsonl.000001`, `audit.jsonl.000002`, … (oldest first). Rotated files are closed,
//! synced and never changed or deleted by the service.

use std::path::{Path, PathBuf};

use super::{AuditEvent, AUDIT_FILE};
use crate::state::journal::tail::{self, Backward};
use crate::state::journal::{Journal, JournalError};

/// Digits of a rotated file's number.
const DIGITS: usize = 6;

/// The rotated files of the audit log in `data_dir`, oldest first, with their numbers.
pub fn rotated(data_dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let io = |source| JournalError::Io {
        path: data_dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(data_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let name = entry.map_err(io)?.file_name();
        let Some(number) = name
            .to_str()
            .and_then(|n| n.strip_prefix(AUDIT_FILE))
            .and_then(|n| n.strip_prefix('.'))
            .filter(|n| n.len() >= DIGITS && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        files.push((number, data_dir.join(&name)));
    }
    files.sort();
    Ok(files)
}

/// The name of rotated file number `number`.
pub fn rotated_name(number: u64) -> String {
    format!("{AUDIT_FILE}.{number:0DIGITS$}")
}

/// Every file of the audit log in `data_dir`, oldest first (the current file last).
pub fn all(data_dir: &Path) -> Result<Vec<PathBuf>, JournalError> {
    let mut files: Vec<PathBuf> = rotated(data_dir)?.into_iter().map(|(_, p)| p).collect();
    files.push(data_dir.join(AUDIT_FILE));
    Ok(files)
}

/// Every event of every file, in order.
pub fn read_all(data_dir: &Path) -> Result<Vec<AuditEvent>, JournalError> {
    let mut events = Vec::new();
    for path in all(data_dir)? {
        events.extend(Journal::<AuditEvent>::read(&path)?);
    }
    Ok(events)
}

/// The sequence numbers at or above `from` of the events at the end of the log in
/// `data_dir`: its lines are read backward, through the rotated files if need be, until an
/// event with a sequence number below `from` (lines are appended in sequence order, except
/// that staged events appended again at an open all precede those staged after it).
pub fn seqs_from(data_dir: &Path, from: u64) -> Result<Vec<u64>, JournalError> {
    let mut found = Vec::new();
    for path in all(data_dir)?.iter().rev() {
        let Some(mut lines) = tail::backward(path)? else {
            continue;
        };
        if scan(&mut lines, from, &mut found).map_err(|source| JournalError::Io {
            path: path.clone(),
            source,
        })? {
            break;
        }
    }
    Ok(found)
}

/// Adds the sequence numbers at or above `from` to `found`, backward; true once a lower
/// one was seen.
fn scan(lines: &mut Backward, from: u64, found: &mut Vec<u64>) -> std::io::Result<bool> {
    while let Some((_, line)) = lines.prev_line()? {
        match tail::decode::<AuditEvent>(&line).and_then(|e| e.seq) {
            Some(seq) if seq < from => return Ok(true),
            Some(seq) => found.push(seq),
            None => {}
        }
    }
    Ok(false)
}
