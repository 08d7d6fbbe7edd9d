//! Extended data of a finger view: ridge counts, cores and deltas, and vendor blocks.
//!
//! A view's extended data is a 2-byte area length followed by blocks, each a 2-byte type
//! code, a 2-byte block length that counts the 4-byte block header itself, and a body.
//! Type 0x0001 holds ridge counts, 0x0002 cores and deltas; every other type is kept as raw
//! bytes so encoding reproduces it. The two record formats share this layout except inside
//! the core/delta block (see [`CoreDeltaBlock`]).

use super::{Format, TemplateError};
use crate::template::error::ExtendedDataFault;

/// Type code of the ridge-count block.
pub const RIDGE_COUNT_TYPE: u16 = 0x0001;
/// Type code of the core/delta block.
pub const CORE_DELTA_TYPE: u16 = 0x0002;
const BLOCK_HEADER_LEN: usize = 4;
const MAX_POINTS_ANSI: usize = 15;
const COORD_MASK: u16 = 0x3fff;

/// One block of extended data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtendedBlock {
    /// Ridge counts between minutia pairs (type 0x0001).
    RidgeCounts(RidgeCountBlock),
    /// Core and delta points (type 0x0002).
    CoreDelta(CoreDeltaBlock),
    /// Any other block, kept verbatim. A vendor block must not use type 0x0001 or 0x0002,
    /// which decode as the blocks above.
    Vendor {
        /// The 2-byte type code.
        type_code: u16,
        /// The body, without the 4-byte block header.
        data: Vec<u8>,
    },
}

/// Ridge counts between minutia pairs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RidgeCountBlock {
    /// Extraction method: 0 unspecified, 1 four-neighbour (quadrants), 2 eight-neighbour
    /// (octants); other values are kept as stored.
    pub method: u8,
    /// The (minutia, minutia, ridge count) triples. Indexes are kept as stored.
    pub counts: Vec<RidgeCount>,
}

/// Number of ridges crossed between two minutiae of the same view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RidgeCount {
    /// Index of the first minutia.
    pub from: u8,
    /// Index of the second minutia.
    pub to: u8,
    /// Ridges crossed.
    pub count: u8,
}

/// Core and delta points, in the record's pixels and angle units.
///
/// ISO/IEC 19794-2:2005 stores a count byte, then per point a 2-bit information type in the
/// top bits of x (`01`: angles follow). ANSI INCITS 378-2004 stores one information byte per
/// list (bits 7–6 information type, bits 3–0 count, at most 15 points) so either all points
/// of a list carry angles or none does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CoreDeltaBlock {
    /// The cores.
    pub cores: Vec<Core>,
    /// The deltas.
    pub deltas: Vec<Delta>,
}

/// A core point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Core {
    /// x in pixels (14 bits).
    pub x: u16,
    /// y in pixels (14 bits).
    pub y: u16,
    /// Direction in the record's angle units, if recorded.
    pub angle: Option<u8>,
}

/// A delta point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delta {
    /// x in pixels (14 bits).
    pub x: u16,
    /// y in pixels (14 bits).
    pub y: u16,
    /// The three ridge directions in the record's angle units, if recorded.
    pub angles: Option<[u8; 3]>,
}

impl ExtendedBlock {
    /// The block's type code.
    pub fn type_code(&self) -> u16 {
        match self {
            Self::RidgeCounts(_) => RIDGE_COUNT_TYPE,
            Self::CoreDelta(_) => CORE_DELTA_TYPE,
            Self::Vendor { type_code, .. } => *type_code,
        }
    }
}

/// Decodes the blocks of one extended data area (`area` excludes the area length field;
/// `base` is its absolute offset).
pub(crate) fn decode_area(
    area: &[u8],
    base: usize,
    view: usize,
    format: Format,
) -> Result<Vec<ExtendedBlock>, TemplateError> {
    let mut blocks = Vec::new();
    let mut pos = 0usize;
    while pos < area.len() {
        let rest = &area[pos..];
        let offset = base + pos;
        let fail = |fault| TemplateError::ExtendedData {
            view,
            offset,
            fault,
        };
        let (Some(&[t0, t1, l0, l1]), remaining) = (rest.first_chunk::<4>(), rest.len()) else {
            return Err(fail(ExtendedDataFault::HeaderTruncated {
                remaining: rest.len(),
            }));
        };
        let type_code = u16::from_be_bytes([t0, t1]);
        let length = usize::from(u16::from_be_bytes([l0, l1]));
        if length < BLOCK_HEADER_LEN {
            return Err(fail(ExtendedDataFault::BlockTooShort { length }));
        }
        let Some(body) = rest.get(BLOCK_HEADER_LEN..length) else {
            return Err(fail(ExtendedDataFault::BlockPastEnd { length, remaining }));
        };
        let block = match type_code {
            RIDGE_COUNT_TYPE => {
                ExtendedBlock::RidgeCounts(decode_ridge_counts(body).map_err(fail)?)
            }
            CORE_DELTA_TYPE => {
                ExtendedBlock::CoreDelta(decode_core_delta(body, format).map_err(fail)?)
            }
            _ => ExtendedBlock::Vendor {
                type_code,
                data: body.to_vec(),
            },
        };
        blocks.push(block);
        pos += length;
    }
    Ok(blocks)
}

fn decode_ridge_counts(body: &[u8]) -> Result<RidgeCountBlock, ExtendedDataFault> {
    let Some((&method, triples)) = body.split_first() else {
        return Err(ExtendedDataFault::RidgeCountEmpty);
    };
    if triples.len() % 3 != 0 {
        return Err(ExtendedDataFault::RidgeCountMisaligned {
            data_len: triples.len(),
        });
    }
    let counts = triples
        .chunks_exact(3)
        .map(|t| RidgeCount {
            from: t[0],
            to: t[1],
            count: t[2],
        })
        .collect();
    Ok(RidgeCountBlock { method, counts })
}

/// A cursor over a core/delta body whose reads fail with `CoreDeltaTruncated`.
struct Body<'a>(&'a [u8]);

impl Body<'_> {
    fn u8(&mut self) -> Result<u8, ExtendedDataFault> {
        let (&b, rest) = self
            .0
            .split_first()
            .ok_or(ExtendedDataFault::CoreDeltaTruncated)?;
        self.0 = rest;
        Ok(b)
    }
    fn u16(&mut self) -> Result<u16, ExtendedDataFault> {
        Ok(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn angles(&mut self) -> Result<[u8; 3], ExtendedDataFault> {
        Ok([self.u8()?, self.u8()?, self.u8()?])
    }
}

/// Splits a coordinate word into its 2-bit information type and 14-bit value.
fn split_coord(word: u16) -> (u16, u16) {
    (word >> 14, word & COORD_MASK)
}

/// Reads a y word, whose top two bits are reserved.
fn read_y(body: &mut Body<'_>) -> Result<u16, ExtendedDataFault> {
    let word = body.u16()?;
    match split_coord(word) {
        (0, y) => Ok(y),
        _ => Err(ExtendedDataFault::CoreDeltaInfoType { value: word }),
    }
}

/// Whether an information type announces angles (`01`) or not (`00`).
fn has_angles(info: u16, raw: u16) -> Result<bool, ExtendedDataFault> {
    match info {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(ExtendedDataFault::CoreDeltaInfoType { value: raw }),
    }
}

fn decode_core_delta(body: &[u8], format: Format) -> Result<CoreDeltaBlock, ExtendedDataFault> {
    let mut b = Body(body);
    let mut block = CoreDeltaBlock::default();
    match format {
        Format::Iso => {
            let n = b.u8()?;
            for _ in 0..n {
                let word = b.u16()?;
                let (info, x) = split_coord(word);
                let angled = has_angles(info, word)?;
                let y = read_y(&mut b)?;
                let angle = if angled { Some(b.u8()?) } else { None };
                block.cores.push(Core { x, y, angle });
            }
            let n = b.u8()?;
            for _ in 0..n {
                let word = b.u16()?;
                let (info, x) = split_coord(word);
                let angled = has_angles(info, word)?;
                let y = read_y(&mut b)?;
                let angles = if angled { Some(b.angles()?) } else { None };
                block.deltas.push(Delta { x, y, angles });
            }
        }
        Format::Ansi => {
            let (n, angled) = ansi_list_info(b.u8()?)?;
            for _ in 0..n {
                let x = read_y(&mut b)?;
                let y = read_y(&mut b)?;
                let angle = if angled { Some(b.u8()?) } else { None };
                block.cores.push(Core { x, y, angle });
            }
            let (n, angled) = ansi_list_info(b.u8()?)?;
            for _ in 0..n {
                let x = read_y(&mut b)?;
                let y = read_y(&mut b)?;
                let angles = if angled { Some(b.angles()?) } else { None };
                block.deltas.push(Delta { x, y, angles });
            }
        }
    }
    if !b.0.is_empty() {
        return Err(ExtendedDataFault::CoreDeltaTrailing { extra: b.0.len() });
    }
    Ok(block)
}

/// Splits an ANSI core or delta information byte into its count and angle flag.
fn ansi_list_info(info: u8) -> Result<(u8, bool), ExtendedDataFault> {
    if info & 0x30 != 0 {
        return Err(ExtendedDataFault::CoreDeltaInfoType {
            value: u16::from(info),
        });
    }
    let angled = has_angles(u16::from(info >> 6), u16::from(info))?;
    Ok((info & 0x0f, angled))
}

fn unencodable(view: usize, what: &'static str, value: usize, max: usize) -> TemplateError {
    TemplateError::Unencodable {
        view,
        what,
        value,
        max,
    }
}

fn check(view: usize, what: &'static str, value: usize, max: usize) -> Result<(), TemplateError> {
    if value > max {
        return Err(unencodable(view, what, value, max));
    }
    Ok(())
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Writes a 14-bit coordinate with a 2-bit information type on top.
fn put_coord(
    out: &mut Vec<u8>,
    view: usize,
    what: &'static str,
    info: u16,
    v: u16,
) -> Result<(), TemplateError> {
    check(view, what, usize::from(v), usize::from(COORD_MASK))?;
    put_u16(out, (info << 14) | v);
    Ok(())
}

/// Appends the extended data area (with its 2-byte length) of one view.
pub(crate) fn encode_area(
    blocks: &[ExtendedBlock],
    view: usize,
    format: Format,
    out: &mut Vec<u8>,
) -> Result<(), TemplateError> {
    let area_start = out.len();
    put_u16(out, 0);
    for block in blocks {
        let start = out.len();
        put_u16(out, block.type_code());
        put_u16(out, 0);
        match block {
            ExtendedBlock::RidgeCounts(rc) => {
                out.push(rc.method);
                for c in &rc.counts {
                    out.extend_from_slice(&[c.from, c.to, c.count]);
                }
            }
            ExtendedBlock::CoreDelta(cd) => encode_core_delta(cd, view, format, out)?,
            ExtendedBlock::Vendor { data, .. } => out.extend_from_slice(data),
        }
        let len = out.len() - start;
        let len16 = u16::try_from(len)
            .map_err(|_| unencodable(view, "extended block length", len, 0xffff))?;
        out[start + 2..start + 4].copy_from_slice(&len16.to_be_bytes());
    }
    let len = out.len() - area_start - 2;
    let len16 =
        u16::try_from(len).map_err(|_| unencodable(view, "extended data length", len, 0xffff))?;
    out[area_start..area_start + 2].copy_from_slice(&len16.to_be_bytes());
    Ok(())
}

fn encode_core_delta(
    cd: &CoreDeltaBlock,
    view: usize,
    format: Format,
    out: &mut Vec<u8>,
) -> Result<(), TemplateError> {
    match format {
        Format::Iso => {
            check(view, "core count", cd.cores.len(), usize::from(u8::MAX))?;
            out.push(cd.cores.len() as u8);
            for c in &cd.cores {
                put_coord(out, view, "core x", u16::from(c.angle.is_some()), c.x)?;
                put_coord(out, view, "core y", 0, c.y)?;
                out.extend(c.angle);
            }
            check(view, "delta count", cd.deltas.len(), usize::from(u8::MAX))?;
            out.push(cd.deltas.len() as u8);
            for d in &cd.deltas {
                put_coord(out, view, "delta x", u16::from(d.angles.is_some()), d.x)?;
                put_coord(out, view, "delta y", 0, d.y)?;
                out.extend(d.angles.iter().flatten());
            }
        }
        Format::Ansi => {
            check(view, "core count", cd.cores.len(), MAX_POINTS_ANSI)?;
            let angled = ansi_uniform(
                view,
                "cores with an angle",
                cd.cores.iter().map(|c| c.angle.is_some()),
            )?;
            out.push((u8::from(angled) << 6) | cd.cores.len() as u8);
            for c in &cd.cores {
                put_coord(out, view, "core x", 0, c.x)?;
                put_coord(out, view, "core y", 0, c.y)?;
                out.extend(c.angle);
            }
            check(view, "delta count", cd.deltas.len(), MAX_POINTS_ANSI)?;
            let angled = ansi_uniform(
                view,
                "deltas with angles",
                cd.deltas.iter().map(|d| d.angles.is_some()),
            )?;
            out.push((u8::from(angled) << 6) | cd.deltas.len() as u8);
            for d in &cd.deltas {
                put_coord(out, view, "delta x", 0, d.x)?;
                put_coord(out, view, "delta y", 0, d.y)?;
                out.extend(d.angles.iter().flatten());
            }
        }
    }
    Ok(())
}

/// ANSI lists carry angles for all points or for none; returns which, or an error for a mix
/// (reported as the number of points with angles, where at most 0 can be encoded).
fn ansi_uniform(
    view: usize,
    what: &'static str,
    flags: impl Iterator<Item = bool>,
) -> Result<bool, TemplateError> {
    let (with, total) = flags.fold((0usize, 0usize), |(w, t), f| (w + usize::from(f), t + 1));
    if with == total {
        return Ok(total > 0);
    }
    if with == 0 {
        return Ok(false);
    }
    Err(unencodable(view, what, with, 0))
}
