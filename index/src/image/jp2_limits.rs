//! Work caps for JPEG 2000, checked on the codestream's headers before the decoder runs.
//!
//! The decoder's work grows with the image size, and also with structure a small hostile
//! header can inflate: tiles, tile-parts, decomposition levels, quality layers and
//! code-blocks. [`check`] walks the main header (SIZ, COD, COC) and every tile-part header up
//! to its SOD, jumping over the tile data by each tile-part's length, and refuses a
//! codestream whose structure exceeds the caps below with `image_too_large`. Headers it
//! cannot walk are refused as corrupt.

use super::reader::Reader;
use super::{check_size, ImageError};

/// Most tiles an image may have.
pub const MAX_TILES: u64 = 4_096;
/// Most tile-parts a codestream may have.
pub const MAX_TILE_PARTS: u64 = 16_384;
/// Most wavelet decomposition levels.
pub const MAX_LEVELS: u8 = 12;
/// Most packets (tiles × components × resolutions × layers).
pub const MAX_PACKETS: u64 = 1 << 20;
/// Most code-blocks (estimated over the components at full resolution).
pub const MAX_CODE_BLOCKS: u64 = 1 << 20;
/// Most components.
pub const MAX_COMPONENTS: u16 = 4;

const SOC: u16 = 0xff4f;
const SIZ: u16 = 0xff51;
const COD: u16 = 0xff52;
const COC: u16 = 0xff53;
const SOT: u16 = 0xff90;
const SOD: u16 = 0xff93;
const EOC: u16 = 0xffd9;

/// The image structure the headers state.
#[derive(Debug, Default)]
struct Structure {
    width: u64,
    height: u64,
    tiles: u64,
    components: Vec<(u8, u8)>,
    levels: u8,
    layers: u16,
    block_width_exp: u8,
    block_height_exp: u8,
}

/// Checks the codestream inside `bytes` (a JP2 file or a raw codestream) against the caps.
pub(crate) fn check(bytes: &[u8]) -> Result<(), ImageError> {
    let stream = codestream(bytes)?;
    let mut r = Reader::new(stream);
    if r.u16("JPEG 2000 start of codestream")? != SOC {
        return Err(ImageError::corrupt("JPEG 2000 codestream without SOC"));
    }
    let mut s = Structure::default();
    let mut seen_siz = false;
    let mut tile_parts = 0u64;
    loop {
        let at = r.pos();
        let marker = r.u16("JPEG 2000 marker")?;
        match marker {
            EOC => break,
            SOT => {
                tile_parts += 1;
                if tile_parts > MAX_TILE_PARTS {
                    return Err(too_much(
                        "a JPEG 2000 codestream of more than 16,384 tile-parts",
                    ));
                }
                if !seen_siz {
                    return Err(ImageError::corrupt("JPEG 2000 tile before SIZ"));
                }
                let mut body = segment(&mut r)?;
                body.skip(2, "JPEG 2000 tile index")?;
                let length = body.u32("JPEG 2000 tile-part length")? as usize;
                tile_part_header(&mut r, &mut s)?;
                if length == 0 {
                    break;
                }
                let next = at
                    .checked_add(length)
                    .filter(|&n| n > r.pos())
                    .ok_or_else(|| ImageError::corrupt("JPEG 2000 tile-part length"))?;
                if next >= stream.len() {
                    break;
                }
                r = Reader::new(stream);
                r.skip(next, "JPEG 2000 tile-part")?;
            }
            m if m >> 8 != 0xff => {
                return Err(ImageError::corrupt(format!(
                    "JPEG 2000 marker {m:04x} at offset {at}"
                )))
            }
            m => {
                let body = segment(&mut r)?;
                main_marker(m, body, &mut s)?;
                seen_siz |= m == SIZ;
            }
        }
    }
    if !seen_siz {
        return Err(ImageError::corrupt("JPEG 2000 codestream without SIZ"));
    }
    limits(&s)
}

/// The codestream of a JP2 file (its `jp2c` box), or `bytes` when it is a raw codestream.
fn codestream(bytes: &[u8]) -> Result<&[u8], ImageError> {
    if bytes.starts_with(&[0xff, 0x4f]) {
        return Ok(bytes);
    }
    let mut r = Reader::new(bytes);
    while r.remaining() > 0 {
        let start = r.pos();
        let length = u64::from(r.u32("JP2 box length")?);
        let kind = r.take(4, "JP2 box type")?;
        let (header, length) = match length {
            0 => (8, (bytes.len() - start) as u64),
            1 => (
                16,
                (u64::from(r.u32("JP2 box length")?) << 32) | u64::from(r.u32("JP2 box length")?),
            ),
            n => (8, n),
        };
        let end = usize::try_from(length)
            .ok()
            .filter(|&l| l >= header)
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| ImageError::corrupt(format!("JP2 box of {length} bytes at {start}")))?;
        if kind == b"jp2c" {
            return Ok(&bytes[start + header..end]);
        }
        r.skip(end - r.pos(), "JP2 box")?;
    }
    Err(ImageError::corrupt("JP2 file without a codestream box"))
}

/// The body of the marker segment whose length field comes next.
fn segment<'a>(r: &mut Reader<'a>) -> Result<Reader<'a>, ImageError> {
    let len = usize::from(r.u16("JPEG 2000 marker length")?);
    if len < 2 {
        return Err(ImageError::corrupt(format!(
            "JPEG 2000 marker length {len}"
        )));
    }
    Ok(Reader::new(r.take(len - 2, "JPEG 2000 marker segment")?))
}

/// Reads the markers of a tile-part header up to its SOD, applying COD and COC.
fn tile_part_header(r: &mut Reader<'_>, s: &mut Structure) -> Result<(), ImageError> {
    loop {
        match r.u16("JPEG 2000 tile-part marker")? {
            SOD => return Ok(()),
            m if m >> 8 != 0xff => {
                return Err(ImageError::corrupt(format!(
                    "JPEG 2000 marker {m:04x} in a tile-part header"
                )))
            }
            m => {
                let body = segment(r)?;
                if m == COD || m == COC {
                    main_marker(m, body, s)?;
                }
            }
        }
    }
}

fn main_marker(marker: u16, mut b: Reader<'_>, s: &mut Structure) -> Result<(), ImageError> {
    match marker {
        SIZ => {
            b.skip(2, "JPEG 2000 SIZ capabilities")?;
            let xsiz = u64::from(b.u32("JPEG 2000 SIZ")?);
            let ysiz = u64::from(b.u32("JPEG 2000 SIZ")?);
            let xo = u64::from(b.u32("JPEG 2000 SIZ")?);
            let yo = u64::from(b.u32("JPEG 2000 SIZ")?);
            let xt = u64::from(b.u32("JPEG 2000 SIZ")?);
            let yt = u64::from(b.u32("JPEG 2000 SIZ")?);
            let xto = u64::from(b.u32("JPEG 2000 SIZ")?);
            let yto = u64::from(b.u32("JPEG 2000 SIZ")?);
            let count = b.u16("JPEG 2000 SIZ component count")?;
            if count == 0 || count > MAX_COMPONENTS {
                return Err(ImageError::UnsupportedPixels(format!(
                    "JPEG 2000 image with {count} components"
                )));
            }
            s.width = xsiz.saturating_sub(xo);
            s.height = ysiz.saturating_sub(yo);
            check_size(s.width, s.height)?;
            if xt == 0 || yt == 0 || xto > xo || yto > yo || xt + xto <= xo || yt + yto <= yo {
                return Err(ImageError::corrupt(format!(
                    "JPEG 2000 tiling {xt}x{yt} at {xto},{yto} for an image at {xo},{yo}"
                )));
            }
            s.tiles = (xsiz - xto)
                .div_ceil(xt)
                .saturating_mul((ysiz - yto).div_ceil(yt));
            if s.tiles > MAX_TILES {
                return Err(too_much("a JPEG 2000 image of more than 4,096 tiles"));
            }
            s.components.clear();
            for _ in 0..count {
                b.skip(1, "JPEG 2000 component depth")?;
                let dx = b.u8("JPEG 2000 component subsampling")?;
                let dy = b.u8("JPEG 2000 component subsampling")?;
                if dx == 0 || dy == 0 {
                    return Err(ImageError::corrupt("JPEG 2000 component subsampling of 0"));
                }
                s.components.push((dx, dy));
            }
        }
        COD => {
            b.skip(2, "JPEG 2000 COD style and progression")?;
            s.layers = s.layers.max(b.u16("JPEG 2000 COD layers")?);
            b.skip(1, "JPEG 2000 COD transform")?;
            coding_style(&mut b, s)?;
        }
        COC => {
            // The component index takes two bytes in images of 257 or more components.
            let index_bytes = if s.components.len() >= 257 { 2 } else { 1 };
            b.skip(index_bytes + 1, "JPEG 2000 COC component and style")?;
            coding_style(&mut b, s)?;
        }
        _ => {}
    }
    Ok(())
}

/// Reads the levels and code-block size of a COD or COC; keeps the most demanding values.
fn coding_style(b: &mut Reader<'_>, s: &mut Structure) -> Result<(), ImageError> {
    let levels = b.u8("JPEG 2000 decomposition levels")?;
    let xcb = (b.u8("JPEG 2000 code-block width")? & 0x0f) + 2;
    let ycb = (b.u8("JPEG 2000 code-block height")? & 0x0f) + 2;
    if levels > MAX_LEVELS {
        return Err(too_much(
            "a JPEG 2000 image of more than 12 decomposition levels",
        ));
    }
    if xcb > 10 || ycb > 10 || xcb + ycb > 12 {
        return Err(ImageError::corrupt(format!(
            "JPEG 2000 code-block of 2^{xcb} x 2^{ycb}"
        )));
    }
    s.levels = s.levels.max(levels);
    let (bw, bh) = if s.block_width_exp == 0 {
        (xcb, ycb)
    } else {
        (s.block_width_exp.min(xcb), s.block_height_exp.min(ycb))
    };
    s.block_width_exp = bw;
    s.block_height_exp = bh;
    Ok(())
}

fn limits(s: &Structure) -> Result<(), ImageError> {
    let components = s.components.len() as u64;
    let packets = s
        .tiles
        .saturating_mul(components)
        .saturating_mul(u64::from(s.levels) + 1)
        .saturating_mul(u64::from(s.layers.max(1)));
    if packets > MAX_PACKETS {
        return Err(too_much("a JPEG 2000 image of more than 2^20 packets"));
    }
    if s.block_width_exp > 0 {
        let (bw, bh) = (1u64 << s.block_width_exp, 1u64 << s.block_height_exp);
        let blocks = s.components.iter().fold(0u64, |acc, &(dx, dy)| {
            let w = s.width.div_ceil(u64::from(dx));
            let h = s.height.div_ceil(u64::from(dy));
            acc.saturating_add(w.div_ceil(bw).saturating_mul(h.div_ceil(bh)))
        });
        // Tile and subband edges split code-blocks further: at most one more per edge.
        let blocks = blocks.saturating_add(
            s.tiles
                .saturating_mul(components)
                .saturating_mul(3 * u64::from(s.levels) + 1),
        );
        if blocks > MAX_CODE_BLOCKS {
            return Err(too_much("a JPEG 2000 image of more than 2^20 code-blocks"));
        }
    }
    Ok(())
}

fn too_much(what: &'static str) -> ImageError {
    ImageError::BudgetExceeded(what)
}
