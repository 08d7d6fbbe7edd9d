//! Tunggal's iris code BDB: an iris code and its mask in a CBEFF sample, for platforms (and
//! the synthetic load, `tunggal loadgen --protocol mosip`) that hold codes rather than eye
//! images. It is not an SC 37 format nor part of MOSIP's specification; MOSIP itself sends
//! ISO/IEC 19794-6 eye images. The sample's BDB format type is
//! [`super::cbeff::format_type::TUNGGAL_IRIS_CODE`].
//!
//! Layout (big-endian): magic `TGIC`, version 1 (one byte), the length of the layout name (one
//! byte) and the name (ASCII, as `POST /v1/enrolments` names layouts: `daugman-2048`,
//! `open-iris`), the code length in bytes (four bytes), the code, then the mask of the same
//! length (1 = code bit valid). Nothing may follow. The layout and lengths are checked by the
//! same validation as the HTTP API's iris codes.

use thiserror::Error;

/// The first four bytes.
pub const MAGIC: &[u8; 4] = b"TGIC";
/// The version written and read.
pub const VERSION: u8 = 1;
/// Largest code (and mask) accepted, bytes.
pub const MAX_CODE_BYTES: usize = 64 * 1024;

/// An iris code with its layout name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrisCodeBdb {
    /// The layout's name.
    pub layout: String,
    /// Code bytes.
    pub code: Vec<u8>,
    /// Mask bytes, as long as the code.
    pub mask: Vec<u8>,
}

/// Why an iris code BDB does not read (or cannot be written).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IrisCodeError {
    /// Not `TGIC`.
    #[error("the iris code BDB does not start with TGIC")]
    BadMagic,
    /// Another version.
    #[error("iris code BDB version {0} (only 1 is read)")]
    Version(u8),
    /// Shorter than its fields say.
    #[error("the iris code BDB is truncated")]
    Truncated,
    /// Bytes after the mask.
    #[error("{0} bytes follow the iris code BDB's mask")]
    Trailing(usize),
    /// A layout name that is empty, too long or not ASCII.
    #[error("the iris code BDB's layout name is empty, longer than 255 bytes or not ASCII")]
    Layout,
    /// A code and mask of different lengths, empty, or over [`MAX_CODE_BYTES`].
    #[error("the iris code BDB's code and mask must be 1–{MAX_CODE_BYTES} bytes and as long as each other")]
    Length,
}

/// Writes a BDB.
pub fn encode(c: &IrisCodeBdb) -> Result<Vec<u8>, IrisCodeError> {
    let name = c.layout.as_bytes();
    if name.is_empty() || !c.layout.is_ascii() {
        return Err(IrisCodeError::Layout);
    }
    let name_len = u8::try_from(name.len()).map_err(|_| IrisCodeError::Layout)?;
    if c.code.is_empty() || c.code.len() != c.mask.len() || c.code.len() > MAX_CODE_BYTES {
        return Err(IrisCodeError::Length);
    }
    let len = u32::try_from(c.code.len()).map_err(|_| IrisCodeError::Length)?;
    let mut out = Vec::with_capacity(10 + name.len() + 2 * c.code.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(name_len);
    out.extend_from_slice(name);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&c.code);
    out.extend_from_slice(&c.mask);
    Ok(out)
}

/// Reads a BDB.
pub fn decode(bytes: &[u8]) -> Result<IrisCodeBdb, IrisCodeError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(IrisCodeError::BadMagic)?;
    let (&version, rest) = rest.split_first().ok_or(IrisCodeError::Truncated)?;
    if version != VERSION {
        return Err(IrisCodeError::Version(version));
    }
    let (&name_len, rest) = rest.split_first().ok_or(IrisCodeError::Truncated)?;
    let name_len = usize::from(name_len);
    if name_len == 0 {
        return Err(IrisCodeError::Layout);
    }
    let name = rest.get(..name_len).ok_or(IrisCodeError::Truncated)?;
    let layout = std::str::from_utf8(name)
        .ok()
        .filter(|n| n.is_ascii())
        .ok_or(IrisCodeError::Layout)?
        .to_owned();
    let rest = &rest[name_len..];
    let len_bytes: [u8; 4] = rest
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(IrisCodeError::Truncated)?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    if len == 0 || len > MAX_CODE_BYTES {
        return Err(IrisCodeError::Length);
    }
    let rest = &rest[4..];
    if rest.len() < 2 * len {
        return Err(IrisCodeError::Truncated);
    }
    if rest.len() > 2 * len {
        return Err(IrisCodeError::Trailing(rest.len() - 2 * len));
    }
    Ok(IrisCodeBdb {
        layout,
        code: rest[..len].to_vec(),
        mask: rest[len..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IrisCodeBdb {
        IrisCodeBdb {
            layout: "daugman-2048".into(),
            code: (0..=255u8).collect(),
            mask: vec![0xf0; 256],
        }
    }

    #[test]
    fn round_trips() {
        let bytes = encode(&sample()).unwrap();
        assert!(bytes.starts_with(b"TGIC\x01\x0cdaugman-2048\x00\x00\x01\x00"));
        assert_eq!(bytes.len(), 4 + 1 + 1 + 12 + 4 + 512);
        assert_eq!(decode(&bytes).unwrap(), sample());
    }

    #[test]
    fn every_cut_and_fault_is_refused() {
        let bytes = encode(&sample()).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(IrisCodeError::Trailing(1)));
        let mut magic = bytes.clone();
        magic[0] = b'X';
        assert_eq!(decode(&magic), Err(IrisCodeError::BadMagic));
        let mut version = bytes;
        version[4] = 2;
        assert_eq!(decode(&version), Err(IrisCodeError::Version(2)));
        let odd = IrisCodeBdb {
            mask: vec![0; 3],
            ..sample()
        };
        assert_eq!(encode(&odd), Err(IrisCodeError::Length));
        let unnamed = IrisCodeBdb {
            layout: String::new(),
            ..sample()
        };
        assert_eq!(encode(&unnamed), Err(IrisCodeError::Layout));
    }
}
