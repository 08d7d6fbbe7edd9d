//! Reading a journal from its end: opening it for appending without reading it whole, and
//! its lines backward.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{decode_line, keep_tail, Journal, JournalError};

/// Bytes read per step backward.
const BLOCK: u64 = 64 * 1024;

/// The lines of a file from its end to its start.
#[derive(Debug)]
pub struct Backward {
    file: File,
    /// Offset of `buf[0]`.
    pos: u64,
    /// The bytes `[pos, end)` not yet returned.
    buf: Vec<u8>,
}

impl Backward {
    /// The lines of `file` before offset `end`.
    pub fn new(file: File, end: u64) -> Self {
        Self {
            file,
            pos: end,
            buf: Vec::new(),
        }
    }

    /// The line before the ones returned so far, with its offset: its bytes including the
    /// newline that ends it (the file's last line may lack one); `None` at the start.
    pub fn prev_line(&mut self) -> std::io::Result<Option<(u64, Vec<u8>)>> {
        loop {
            if self.buf.is_empty() && self.pos == 0 {
                return Ok(None);
            }
            // The line's own last byte may be its newline: look before it.
            let last = self.buf.len().saturating_sub(1);
            if let Some(i) = self.buf[..last].iter().rposition(|&b| b == b'\n') {
                let line = self.buf.split_off(i + 1);
                return Ok(Some((self.pos + i as u64 + 1, line)));
            }
            if self.pos == 0 {
                return Ok(Some((0, std::mem::take(&mut self.buf))));
            }
            let n = BLOCK.min(self.pos);
            let mut block = vec![0u8; usize::try_from(n).unwrap_or(0)];
            self.file.seek(SeekFrom::Start(self.pos - n))?;
            self.file.read_exact(&mut block)?;
            block.extend_from_slice(&self.buf);
            self.buf = block;
            self.pos -= n;
        }
    }
}

/// The record of one line as read by [`Backward`], when it is whole and valid.
pub fn decode<T: DeserializeOwned>(line: &[u8]) -> Option<T> {
    let text = std::str::from_utf8(line.strip_suffix(b"\n")?).ok()?;
    decode_line(text)
}

/// The lines of the journal file at `path` backward; an absent file has none.
pub fn backward(path: &Path) -> Result<Option<Backward>, JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let len = file.metadata().map_err(io)?.len();
    Ok(Some(Backward::new(file, len)))
}

impl<T: Serialize + DeserializeOwned> Journal<T> {
    /// Opens (creating if needed) the journal at `path` for appending, reading only its
    /// end: a torn or damaged last line (and any damaged lines right before it) is kept
    /// beside the journal (`.torn-<offset>`) and cut, as [`Journal::open`] does. Lines
    /// before the last valid one are not read (`tunggal fsck` checks every line).
    pub fn open_at_end(path: impl AsRef<Path>) -> Result<Self, JournalError> {
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
        let len = file.metadata().map_err(io)?.len();
        let mut lines = Backward::new(file.try_clone().map_err(io)?, len);
        let mut good_end = 0;
        while let Some((at, line)) = lines.prev_line().map_err(io)? {
            if decode::<T>(&line).is_some() {
                good_end = at + line.len() as u64;
                break;
            }
        }
        if good_end < len {
            tracing::warn!(
                journal = %path.display(),
                offset = good_end,
                "journal ends in a torn or damaged line; it is kept beside the journal \
                 (`.torn-<offset>`) and cut"
            );
            keep_tail(&path, &mut file, good_end).map_err(io)?;
            file.set_len(good_end).map_err(io)?;
            file.seek(SeekFrom::End(0)).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok(Self {
            path,
            file: Mutex::new(file),
            _records: PhantomData,
        })
    }

    /// The journal file's length in bytes.
    pub fn file_len(&self) -> Result<u64, JournalError> {
        let file = self.file.lock().map_err(|_| JournalError::Poisoned)?;
        file.metadata()
            .map(|m| m.len())
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn lines_come_backward_across_blocks_and_a_torn_end_is_cut_without_a_whole_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        {
            let j = Journal::<String>::open_at_end(&path).unwrap();
            for i in 0..3000 {
                j.append_unsynced(&[format!("{i}:{}", "x".repeat(i % 90))])
                    .unwrap();
            }
        }
        let mut back = backward(&path).unwrap().unwrap();
        let mut n = 3000;
        while let Some((_, line)) = back.prev_line().unwrap() {
            n -= 1;
            let s: String = decode(&line).unwrap();
            assert!(s.starts_with(&format!("{n}:")), "{s}");
        }
        assert_eq!(n, 0);
        let whole = std::fs::metadata(&path).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"0000abcd\t\"torn").unwrap();
        drop(f);
        let j = Journal::<String>::open_at_end(&path).unwrap();
        assert_eq!(j.file_len().unwrap(), whole);
        let aside = dir.path().join(format!("j.jsonl.torn-{whole}"));
        assert_eq!(std::fs::read(aside).unwrap(), b"0000abcd\t\"torn");
        j.append(&"next".to_owned()).unwrap();
        let all = Journal::<String>::read(&path).unwrap();
        assert_eq!(all.len(), 3001);
        assert_eq!(all.last().map(String::as_str), Some("next"));
    }
}
