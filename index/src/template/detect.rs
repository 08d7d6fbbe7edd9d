//! Telling ISO/IEC 19794-2:2005 from ANSI INCITS 378-2004 records.
//!
//! Both start with `FMR\0 20\0`. ISO follows with a 4-byte record length and a 24-byte header;
//! ANSI with a 2-byte length (or `0000` and a 4-byte length for records over 65,535 bytes),
//! a 4-byte CBEFF product identifier and a 26-byte header (30 with the long length).
//! [`detect`] reads the record under each candidate layout and keeps the one whose declared
//! length is met exactly by walking its finger views. When the structure settles nothing
//! (for a damaged record, say) the length fields alone decide: a first 2-byte word of 26 or
//! more can only be an ANSI length, 1–25 the high half of a large ISO length (or, when the
//! bytes present cannot hold such a record, an ANSI length below its header), and after
//! a zero word, a second word of 24 or more is a plausible ISO length where an ANSI long
//! length would need to exceed 1.5 MB.

use super::reader::{peek_u16, peek_u32};
use super::view::MINUTIA_LEN;
use super::TemplateError;

/// Format identifier shared by both formats.
pub const FORMAT_ID: &[u8; 4] = b"FMR\0";
/// Version shared by ISO/IEC 19794-2:2005 and ANSI INCITS 378-2004.
pub const VERSION_20: &[u8; 4] = b" 20\0";
/// Fixed header length of an ISO/IEC 19794-2:2005 record.
pub const ISO_HEADER_LEN: usize = 24;
/// Fixed header length of an ANSI INCITS 378-2004 record with the 2-byte length.
pub const ANSI_HEADER_LEN: usize = 26;
/// Fixed header length of an ANSI INCITS 378-2004 record with the 6-byte length.
pub const ANSI_LONG_HEADER_LEN: usize = 30;
const LENGTH_OFFSET: usize = 8;

/// A finger minutiae record format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// ISO/IEC 19794-2:2005.
    Iso,
    /// ANSI INCITS 378-2004.
    Ansi,
}

/// Checks the format identifier and version.
pub(crate) fn check_magic(data: &[u8]) -> Result<(), TemplateError> {
    let id_len = data.len().min(4);
    if data[..id_len] != FORMAT_ID[..id_len] {
        return Err(TemplateError::BadMagic {
            found: data[..id_len].to_vec(),
        });
    }
    let version = data.get(4..8.min(data.len())).unwrap_or_default();
    if version != &VERSION_20[..version.len()] {
        return Err(TemplateError::UnsupportedVersion {
            found: version.to_vec(),
        });
    }
    if data.len() < LENGTH_OFFSET {
        return Err(TemplateError::Truncated {
            offset: data.len(),
            needed: LENGTH_OFFSET - data.len(),
            available: 0,
        });
    }
    Ok(())
}

/// Whether the views described from `header_len` on end exactly at `declared`, with the
/// view count at `count_offset`. Reads only; never allocates.
fn views_fill(data: &[u8], declared: usize, header_len: usize, count_offset: usize) -> bool {
    if declared < header_len || declared > data.len() {
        return false;
    }
    let Some(&count) = data.get(count_offset) else {
        return false;
    };
    let mut pos = header_len;
    for _ in 0..count {
        let Some(&minutiae) = data.get(pos + 3) else {
            return false;
        };
        pos += 4 + usize::from(minutiae) * MINUTIA_LEN;
        let Some(ext_len) = peek_u16(data, pos) else {
            return false;
        };
        pos += 2 + usize::from(ext_len);
        if pos > declared {
            return false;
        }
    }
    pos == declared
}

fn iso_consistent(data: &[u8]) -> bool {
    peek_u32(data, LENGTH_OFFSET)
        .is_some_and(|len| views_fill(data, len as usize, ISO_HEADER_LEN, ISO_HEADER_LEN - 2))
}

fn ansi_consistent(data: &[u8]) -> bool {
    match peek_u16(data, LENGTH_OFFSET) {
        Some(0) => peek_u32(data, LENGTH_OFFSET + 2).is_some_and(|len| {
            views_fill(
                data,
                len as usize,
                ANSI_LONG_HEADER_LEN,
                ANSI_LONG_HEADER_LEN - 2,
            )
        }),
        Some(len) => views_fill(data, usize::from(len), ANSI_HEADER_LEN, ANSI_HEADER_LEN - 2),
        None => false,
    }
}

/// Decides the format of a record from its length fields and structure.
///
/// Fails only when the record does not start with `FMR\0 20\0` or is too short to hold a
/// length field; the chosen decoder reports any other fault.
pub fn detect(data: &[u8]) -> Result<Format, TemplateError> {
    check_magic(data)?;
    let first = peek_u16(data, LENGTH_OFFSET).ok_or(TemplateError::Truncated {
        offset: LENGTH_OFFSET,
        needed: 2,
        available: data.len() - LENGTH_OFFSET,
    })?;
    match (iso_consistent(data), ansi_consistent(data)) {
        (true, false) => return Ok(Format::Iso),
        (false, true) => return Ok(Format::Ansi),
        _ => {}
    }
    Ok(match first {
        26.. => Format::Ansi,
        // The high half of an ISO length: a record of 64 KiB or more. When the bytes present
        // cannot hold that, the word is far likelier a (too small) ANSI length, and the ANSI
        // decoder reports the value as written.
        1..=25 => match peek_u32(data, LENGTH_OFFSET) {
            Some(len) if len as usize > data.len() => Format::Ansi,
            _ => Format::Iso,
        },
        0 => match peek_u16(data, LENGTH_OFFSET + 2) {
            Some(second) if usize::from(second) >= ISO_HEADER_LEN => Format::Iso,
            Some(_) => Format::Ansi,
            None => Format::Iso,
        },
    })
}
