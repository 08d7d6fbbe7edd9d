//! Payloads of write-ahead log entries. Every operation names the slot it writes, so
//! replaying an entry is positional and yields exactly the state the live store had.

use super::blob::BlobRef;
use super::format::{get_u32, get_u64};
use super::segment::SlotAddr;

const TAG_INSERT: u8 = 1;
const TAG_DELETE: u8 = 2;
const TAG_REPLACE: u8 = 3;

/// A record written into a slot, with its blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InsertOp<'a> {
    pub at: SlotAddr,
    pub key: u64,
    pub blob: BlobRef,
    pub record: &'a [u8],
    pub blob_bytes: &'a [u8],
}

/// One logged mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogOp<'a> {
    /// A new key.
    Insert(InsertOp<'a>),
    /// Soft-deletes the live slot of `key`.
    Delete { at: SlotAddr, key: u64 },
    /// Soft-deletes `old` and inserts the new version, atomically.
    Replace { old: SlotAddr, new: InsertOp<'a> },
}

const INSERT_FIXED: usize = 4 + 4 + 8 + 8 + 4 + 4;

impl InsertOp<'_> {
    fn encode_into(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.at.segment.to_le_bytes());
        buf.extend_from_slice(&self.at.slot.to_le_bytes());
        buf.extend_from_slice(&self.key.to_le_bytes());
        buf.extend_from_slice(&self.blob.offset.to_le_bytes());
        buf.extend_from_slice(&self.blob.len.to_le_bytes());
        buf.extend_from_slice(&(self.record.len() as u32).to_le_bytes());
        buf.extend_from_slice(self.record);
        buf.extend_from_slice(self.blob_bytes);
    }

    fn decode(b: &[u8]) -> Option<InsertOp<'_>> {
        let at = SlotAddr {
            segment: get_u32(b, 0)?,
            slot: get_u32(b, 4)?,
        };
        let key = get_u64(b, 8)?;
        let blob = BlobRef {
            offset: get_u64(b, 16)?,
            len: get_u32(b, 24)?,
        };
        let record_len = get_u32(b, 28)? as usize;
        let record_end = INSERT_FIXED.checked_add(record_len)?;
        let record = b.get(INSERT_FIXED..record_end)?;
        let blob_bytes = b.get(record_end..)?;
        (blob_bytes.len() == blob.len as usize).then_some(InsertOp {
            at,
            key,
            blob,
            record,
            blob_bytes,
        })
    }
}

impl LogOp<'_> {
    /// Appends the encoded payload to `buf`.
    pub(crate) fn encode_into(&self, buf: &mut Vec<u8>) {
        match self {
            LogOp::Insert(ins) => {
                buf.push(TAG_INSERT);
                ins.encode_into(buf);
            }
            LogOp::Delete { at, key } => {
                buf.push(TAG_DELETE);
                buf.extend_from_slice(&at.segment.to_le_bytes());
                buf.extend_from_slice(&at.slot.to_le_bytes());
                buf.extend_from_slice(&key.to_le_bytes());
            }
            LogOp::Replace { old, new } => {
                buf.push(TAG_REPLACE);
                buf.extend_from_slice(&old.segment.to_le_bytes());
                buf.extend_from_slice(&old.slot.to_le_bytes());
                new.encode_into(buf);
            }
        }
    }

    /// Parses a payload; `None` if it is malformed.
    pub(crate) fn decode(b: &[u8]) -> Option<LogOp<'_>> {
        let (&tag, rest) = b.split_first()?;
        match tag {
            TAG_INSERT => InsertOp::decode(rest).map(LogOp::Insert),
            TAG_DELETE => (rest.len() == 16).then_some(LogOp::Delete {
                at: SlotAddr {
                    segment: get_u32(rest, 0)?,
                    slot: get_u32(rest, 4)?,
                },
                key: get_u64(rest, 8)?,
            }),
            TAG_REPLACE => Some(LogOp::Replace {
                old: SlotAddr {
                    segment: get_u32(rest, 0)?,
                    slot: get_u32(rest, 4)?,
                },
                new: InsertOp::decode(rest.get(8..)?)?,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip_and_reject_truncation() {
        let rec = [7u8; 16];
        let ins = InsertOp {
            at: SlotAddr {
                segment: 3,
                slot: 9,
            },
            key: 42,
            blob: BlobRef {
                offset: 100,
                len: 3,
            },
            record: &rec,
            blob_bytes: b"abc",
        };
        let ops = [
            LogOp::Insert(ins),
            LogOp::Delete {
                at: ins.at,
                key: 42,
            },
            LogOp::Replace {
                old: SlotAddr {
                    segment: 1,
                    slot: 2,
                },
                new: ins,
            },
        ];
        for op in ops {
            let mut buf = Vec::new();
            op.encode_into(&mut buf);
            assert_eq!(LogOp::decode(&buf), Some(op));
            for cut in 0..buf.len() {
                assert_eq!(LogOp::decode(&buf[..cut]), None, "cut at {cut}");
            }
        }
    }
}
