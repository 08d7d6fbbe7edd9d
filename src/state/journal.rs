//! An append-only file of JSON records, one a line, each guarded by a CRC-32.
//!
//! Line format: `CRC32-hex-8 TAB json NEWLINE`, the CRC taken over the JSON bytes. Every
//! append is one `write` followed by `fdatasync`, so a record is on disk before the caller
//! answers anyone. On open, a torn or corrupt *last* line (a crash mid-write) is dropped and
//! the file truncated to the last good line; a corrupt line followed by good ones is refused
//! as damage that needs an operator.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;

pub mod tail;

/// Why a journal could not be read or appended to.
#[derive(Debug, Error)]
pub enum JournalError {
    /// File system failure.
    #[error("journal {path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A damaged line that is not the last one.
    #[error("journal {path}: line {line} is corrupt and is followed by valid records")]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
    },
    /// A record could not be serialised.
    #[error("journal record could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    /// The lock was poisoned by a panic in another thread.
    #[error("journal lock poisoned")]
    Poisoned,
}

/// An open journal of records of type `T`.
#[derive(Debug)]
pub struct Journal<T> {
    path: PathBuf,
    file: Mutex<File>,
    _records: PhantomData<fn() -> T>,
}

fn encode_line(json: &[u8]) -> Vec<u8> {
    let mut line = format!("{:08x}\t", crc32fast::hash(json)).into_bytes();
    line.extend_from_slice(json);
    line.push(b'\n');
    line
}

fn decode_line<T: DeserializeOwned>(line: &str) -> Option<T> {
    let (crc, json) = line.split_once('\t')?;
    let crc = u32::from_str_radix(crc, 16).ok()?;
    (crc32fast::hash(json.as_bytes()) == crc)
        .then(|| serde_json::from_str(json).ok())
        .flatten()
}

impl JournalError {
    /// Whether the failure is a full disk (or an exhausted quota).
    pub fn is_storage_full(&self) -> bool {
        matches!(self, Self::Io { source, .. } if matches!(
            source.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        ))
    }
}

/// Copies the bytes of `file` from `from` to its end into `<path>.torn-<from>`.
fn keep_tail(path: &Path, file: &mut File, from: u64) -> std::io::Result<()> {
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(from))?;
    file.read_to_end(&mut tail)?;
    let mut aside = path.as_os_str().to_os_string();
    aside.push(format!(".torn-{from}"));
    let mut out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(PathBuf::from(aside))?;
    out.write_all(&tail)?;
    out.sync_all()
}

/// What [`check`] found in a journal file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalCheck {
    /// Whether the file exists.
    pub exists: bool,
    /// Valid records before the first damaged line.
    pub records: usize,
    /// First line that fails its CRC or does not parse (1-based).
    pub first_bad_line: Option<usize>,
    /// Whether only damaged lines follow it (a torn last write), as opposed to valid ones.
    pub bad_is_tail: bool,
}

impl JournalCheck {
    /// True unless a damaged line is followed by valid ones.
    pub fn is_clean(&self) -> bool {
        self.first_bad_line.is_none() || self.bad_is_tail
    }
}

/// Checks every line of the journal at `path` (any record type) without changing it.
pub fn check(path: &Path) -> Result<JournalCheck, JournalError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(JournalCheck::default()),
        Err(source) => {
            return Err(JournalError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut c = JournalCheck {
        exists: true,
        bad_is_tail: true,
        ..JournalCheck::default()
    };
    if bytes.is_empty() {
        return Ok(c);
    }
    let complete = bytes.last() == Some(&b'\n');
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let n = if complete {
        lines.len() - 1
    } else {
        lines.len()
    };
    for (i, line) in lines.iter().take(n).enumerate() {
        let whole = i + 1 < n || complete;
        let ok = whole
            && std::str::from_utf8(line)
                .ok()
                .and_then(decode_line::<serde_json::Value>)
                .is_some();
        match (ok, c.first_bad_line) {
            (true, None) => c.records += 1,
            (true, Some(_)) => c.bad_is_tail = false,
            (false, None) => c.first_bad_line = Some(i + 1),
            (false, Some(_)) => {}
        }
    }
    Ok(c)
}

#[cfg(test)]
mod check_tests {
    use super::*;

    #[test]
    fn check_tells_intact_torn_and_damaged_journals_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let line = |v: &str| String::from_utf8(encode_line(v.as_bytes())).unwrap();
        let write = |text: &str| std::fs::write(&path, text).unwrap();
        write("");
        let c = check(&path).unwrap();
        assert!(c.exists && c.first_bad_line.is_none() && c.records == 0);
        write(&format!("{}{}", line("1"), line("2")));
        assert_eq!(check(&path).unwrap().records, 2);
        write(&format!("{}{}", line("1"), &line("2")[..4]));
        let c = check(&path).unwrap();
        assert_eq!(
            (c.records, c.first_bad_line, c.bad_is_tail),
            (1, Some(2), true)
        );
        assert!(c.is_clean());
        write(&format!("{}x\n{}", line("1"), line("3")));
        let c = check(&path).unwrap();
        assert_eq!((c.first_bad_line, c.bad_is_tail), (Some(2), false));
        assert!(!c.is_clean());
    }
}

impl<T: Serialize + DeserializeOwned> Journal<T> {
    /// Opens (creating if needed) the journal at `path` and returns it with its records.
    pub fn open(path: impl AsRef<Path>) -> Result<(Self, Vec<T>), JournalError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io)?;
        let mut records = Vec::new();
        let mut good_end = 0u64;
        let mut bad_line: Option<usize> = None;
        let mut offset = 0u64;
        let mut reader = BufReader::new(&mut file);
        let mut buf = Vec::new();
        let mut line_no = 0;
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            line_no += 1;
            offset += n as u64;
            let complete = buf.last() == Some(&b'\n');
            let text = std::str::from_utf8(&buf)
                .unwrap_or_default()
                .trim_end_matches('\n');
            match decode_line(text).filter(|_| complete) {
                Some(record) => {
                    if let Some(line) = bad_line {
                        return Err(JournalError::Corrupt { path, line });
                    }
                    records.push(record);
                    good_end = offset;
                }
                None => bad_line = bad_line.or(Some(line_no)),
            }
        }
        drop(reader);
        if bad_line.is_some() {
            // A torn last write (never acknowledged): kept beside the journal, then cut.
            tracing::warn!(
                journal = %path.display(),
                line = bad_line.unwrap_or(0),
                offset = good_end,
                "journal ends in a torn or damaged line; it is kept beside the journal \
                 (`.torn-<offset>`) and cut"
            );
            keep_tail(&path, &mut file, good_end).map_err(io)?;
            file.set_len(good_end).map_err(io)?;
            file.seek(SeekFrom::End(0)).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok((
            Self {
                path,
                file: Mutex::new(file),
                _records: PhantomData,
            },
            records,
        ))
    }

    /// Appends one record durably (written and `fdatasync`ed before returning). Blocking:
    /// call from a blocking thread, not an async worker.
    pub fn append(&self, record: &T) -> Result<(), JournalError> {
        let line = encode_line(&serde_json::to_vec(record)?);
        let mut file = self.file.lock().map_err(|_| JournalError::Poisoned)?;
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        // A failed write (a full disk) can leave part of the line behind; later appends would
        // then follow a damaged line, which `open` refuses. Cut the file back to where it was.
        let before = file.metadata().map_err(io)?.len();
        let written = file.write_all(&line).and_then(|()| file.sync_data());
        if let Err(source) = written {
            if let Err(e) = file.set_len(before) {
                tracing::error!(error = %e, "could not cut a failed journal append back");
            }
            return Err(io(source));
        }
        crate::state::syncs::record(crate::state::syncs::Store::Journal);
        Ok(())
    }

    /// Appends several records *without* a sync (a crash of the machine may lose them, or
    /// tear the last one, which `open` drops): for records whose durability lies elsewhere
    /// (the audit events staged in the state store). Blocking.
    pub fn append_unsynced(&self, records: &[T]) -> Result<(), JournalError> {
        let mut buf = Vec::new();
        for record in records {
            buf.extend_from_slice(&encode_line(&serde_json::to_vec(record)?));
        }
        let mut file = self.file.lock().map_err(|_| JournalError::Poisoned)?;
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        // As in `append`: a failed write is cut back, so no later line follows a torn one.
        let before = file.metadata().map_err(io)?.len();
        if let Err(source) = file.write_all(&buf) {
            if let Err(e) = file.set_len(before) {
                tracing::error!(error = %e, "could not cut a failed journal append back");
            }
            return Err(io(source));
        }
        Ok(())
    }

    /// Makes every record appended so far durable (one `fdatasync`). Blocking.
    pub fn sync(&self) -> Result<(), JournalError> {
        let file = self.file.lock().map_err(|_| JournalError::Poisoned)?;
        file.sync_data().map_err(|source| JournalError::Io {
            path: self.path.clone(),
            source,
        })?;
        crate::state::syncs::record(crate::state::syncs::Store::Journal);
        Ok(())
    }

    /// Appends several records durably with one `fdatasync` (a crash may keep a prefix of
    /// them; a torn last line is dropped on open). Blocking.
    pub fn append_all(&self, records: &[T]) -> Result<(), JournalError> {
        let mut buf = Vec::new();
        for record in records {
            buf.extend_from_slice(&encode_line(&serde_json::to_vec(record)?));
        }
        let mut file = self.file.lock().map_err(|_| JournalError::Poisoned)?;
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        file.write_all(&buf).map_err(io)?;
        file.sync_data().map_err(io)?;
        crate::state::syncs::record(crate::state::syncs::Store::Journal);
        Ok(())
    }

    /// Reads the valid records of the journal at `path` without opening it for writing
    /// (damaged lines are skipped); an absent file has no records.
    pub fn read(path: impl AsRef<Path>) -> Result<Vec<T>, JournalError> {
        let path = path.as_ref();
        let text = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(JournalError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Ok(String::from_utf8_lossy(&text)
            .lines()
            .filter_map(decode_line)
            .collect())
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        {
            let (j, recs) = Journal::<Vec<u32>>::open(&path).unwrap();
            assert!(recs.is_empty());
            j.append(&vec![1]).unwrap();
            j.append(&vec![2, 3]).unwrap();
        }
        // A crash mid-write leaves a partial last line.
        let intact = std::fs::metadata(&path).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"0000abcd\t[4,").unwrap();
        drop(f);
        let (j, recs) = Journal::<Vec<u32>>::open(&path).unwrap();
        assert_eq!(recs, vec![vec![1], vec![2, 3]]);
        // The cut bytes are kept aside, named by their offset, not dropped silently.
        let aside = dir.path().join(format!("j.jsonl.torn-{intact}"));
        assert_eq!(std::fs::read(&aside).unwrap(), b"0000abcd\t[4,");
        j.append(&vec![5]).unwrap();
        drop(j);
        let (_, recs) = Journal::<Vec<u32>>::open(&path).unwrap();
        assert_eq!(recs, vec![vec![1], vec![2, 3], vec![5]]);
    }

    #[test]
    fn corruption_in_the_middle_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        {
            let (j, _) = Journal::<u32>::open(&path).unwrap();
            j.append(&1).unwrap();
            j.append(&2).unwrap();
        }
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replacen("\t1", "\t7", 1);
        std::fs::write(&path, text).unwrap();
        assert!(matches!(
            Journal::<u32>::open(&path),
            Err(JournalError::Corrupt { line: 1, .. })
        ));
    }
}
