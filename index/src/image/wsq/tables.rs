//! WSQ marker segments: frame header (SOF), transform table (DTT), quantisation table (DQT),
//! Huffman tables (DHT), block header (SOB) and comments (COM).

use super::super::reader::Reader;
use super::super::ImageError;
use super::tree::SUBBANDS;

/// Start of image.
pub(crate) const SOI: u16 = 0xffa0;
/// End of image.
pub(crate) const EOI: u16 = 0xffa1;
/// Start of frame.
pub(crate) const SOF: u16 = 0xffa2;
/// Start of block.
pub(crate) const SOB: u16 = 0xffa3;
/// Define transform table.
pub(crate) const DTT: u16 = 0xffa4;
/// Define quantisation table.
pub(crate) const DQT: u16 = 0xffa5;
/// Define Huffman table(s).
pub(crate) const DHT: u16 = 0xffa6;
/// Comment.
pub(crate) const COM: u16 = 0xffa8;

/// Longest accepted synthesis filter, in taps.
const MAX_FILTER_TAPS: usize = 31;
/// Number of Huffman table slots.
pub(crate) const HUFFMAN_SLOTS: usize = 8;
/// Most values one Huffman table may list.
const MAX_HUFFMAN_VALUES: usize = 256;

/// The frame header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FrameHeader {
    pub width: u16,
    pub height: u16,
    /// Mean the encoder subtracted (M).
    pub shift: f32,
    /// Scale the encoder divided by (R).
    pub scale: f32,
}

/// The synthesis filters, centred (odd lengths).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filters {
    /// Synthesis low-pass, applied to the low-pass subband.
    pub low: Vec<f32>,
    /// Synthesis high-pass, applied to the high-pass subband.
    pub high: Vec<f32>,
}

/// The quantisation table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QuantTable {
    /// Bin centre C.
    pub centre: f32,
    /// Bin widths Q per subband (0: the subband is not coded).
    pub q: [f32; SUBBANDS],
    /// Zero-bin widths Z per subband.
    pub z: [f32; SUBBANDS],
}

/// One Huffman table as transmitted: code counts per length and the values in code order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HuffmanSpec {
    pub counts: [u8; 16],
    pub values: Vec<u8>,
}

/// `value / 10^exponent`.
fn scaled(value: u32, exponent: u8) -> f32 {
    (f64::from(value) / 10f64.powi(i32::from(exponent))) as f32
}

/// The body of a segment whose 16-bit length field (counting itself) comes next.
pub(crate) fn segment<'a>(
    r: &mut Reader<'a>,
    what: &'static str,
) -> Result<Reader<'a>, ImageError> {
    let len = r.u16(what)? as usize;
    if len < 2 {
        return Err(ImageError::corrupt(format!("{what} length {len} below 2")));
    }
    Ok(Reader::new(r.take(len - 2, what)?))
}

/// Reads the frame header body.
pub(crate) fn frame_header(r: &mut Reader<'_>) -> Result<FrameHeader, ImageError> {
    let mut s = segment(r, "WSQ frame header")?;
    let _black = s.u8("WSQ frame header")?;
    let _white = s.u8("WSQ frame header")?;
    let height = s.u16("WSQ frame height")?;
    let width = s.u16("WSQ frame width")?;
    let shift_exp = s.u8("WSQ frame shift")?;
    let shift = scaled(u32::from(s.u16("WSQ frame shift")?), shift_exp);
    let scale_exp = s.u8("WSQ frame scale")?;
    let scale = scaled(u32::from(s.u16("WSQ frame scale")?), scale_exp);
    Ok(FrameHeader {
        width,
        height,
        shift,
        scale,
    })
}

/// Reads a transform table and expands it to the synthesis filters.
///
/// The table carries the right halves of the analysis low-pass (`a`, first) and high-pass
/// (`b`) filters. The synthesis high-pass is `a` modulated by (−1)^k, the synthesis low-pass
/// is `b` modulated the same way, each mirrored about its centre.
pub(crate) fn transform_table(r: &mut Reader<'_>) -> Result<Filters, ImageError> {
    let mut s = segment(r, "WSQ transform table")?;
    let high_len = s.u8("WSQ transform table")? as usize;
    let low_len = s.u8("WSQ transform table")? as usize;
    for len in [high_len, low_len] {
        if len == 0 || len > MAX_FILTER_TAPS {
            return Err(ImageError::corrupt(format!("WSQ filter of {len} taps")));
        }
        if len % 2 == 0 {
            return Err(ImageError::UnsupportedFormat(format!(
                "WSQ even-length ({len}-tap) wavelet filters"
            )));
        }
    }
    let high = half_filter(&mut s, high_len)?;
    let low = half_filter(&mut s, low_len)?;
    Ok(Filters { low, high })
}

/// Reads `(len + 1) / 2` coefficients and builds the mirrored, sign-alternated filter.
fn half_filter(s: &mut Reader<'_>, len: usize) -> Result<Vec<f32>, ImageError> {
    let centre = (len - 1) / 2;
    let mut filter = vec![0f32; len];
    for k in 0..=centre {
        let negative = s.u8("WSQ filter coefficient")? != 0;
        let exponent = s.u8("WSQ filter coefficient")?;
        let magnitude = scaled(s.u32("WSQ filter coefficient")?, exponent);
        let mut c = if negative { -magnitude } else { magnitude };
        if k % 2 == 1 {
            c = -c;
        }
        filter[centre + k] = c;
        filter[centre - k] = c;
    }
    Ok(filter)
}

/// Reads a quantisation table.
pub(crate) fn quant_table(r: &mut Reader<'_>) -> Result<QuantTable, ImageError> {
    let mut s = segment(r, "WSQ quantisation table")?;
    let exp = s.u8("WSQ bin centre")?;
    let centre = scaled(u32::from(s.u16("WSQ bin centre")?), exp);
    let mut q = [0f32; SUBBANDS];
    let mut z = [0f32; SUBBANDS];
    for k in 0..SUBBANDS {
        let exp = s.u8("WSQ bin width")?;
        q[k] = scaled(u32::from(s.u16("WSQ bin width")?), exp);
        let exp = s.u8("WSQ zero bin width")?;
        z[k] = scaled(u32::from(s.u16("WSQ zero bin width")?), exp);
    }
    Ok(QuantTable { centre, q, z })
}

/// Reads a Huffman table segment (one or more tables) into `slots`.
pub(crate) fn huffman_tables(
    r: &mut Reader<'_>,
    slots: &mut [Option<HuffmanSpec>; HUFFMAN_SLOTS],
) -> Result<(), ImageError> {
    let mut s = segment(r, "WSQ Huffman table")?;
    loop {
        let id = s.u8("WSQ Huffman table id")? as usize;
        if id >= HUFFMAN_SLOTS {
            return Err(ImageError::corrupt(format!("WSQ Huffman table id {id}")));
        }
        let mut counts = [0u8; 16];
        counts.copy_from_slice(s.take(16, "WSQ Huffman code counts")?);
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        if total == 0 || total > MAX_HUFFMAN_VALUES {
            return Err(ImageError::corrupt(format!(
                "WSQ Huffman table {id} lists {total} codes"
            )));
        }
        let values = s.take(total, "WSQ Huffman values")?.to_vec();
        slots[id] = Some(HuffmanSpec { counts, values });
        if s.remaining() == 0 {
            return Ok(());
        }
    }
}

/// Reads a block header: the Huffman table the block's data uses.
pub(crate) fn block_header(r: &mut Reader<'_>) -> Result<usize, ImageError> {
    let mut s = segment(r, "WSQ block header")?;
    let id = s.u8("WSQ block header")? as usize;
    if id >= HUFFMAN_SLOTS {
        return Err(ImageError::corrupt(format!(
            "WSQ block uses Huffman table {id}"
        )));
    }
    Ok(id)
}

/// Reads a comment; returns the resolution a `NIST_COM` comment's `PPI` line gives, if any.
pub(crate) fn comment(r: &mut Reader<'_>) -> Result<Option<f32>, ImageError> {
    let mut s = segment(r, "WSQ comment")?;
    let text = s.take(s.remaining(), "WSQ comment")?;
    if !text.starts_with(b"NIST_COM") {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(text);
    Ok(text
        .lines()
        .filter_map(|line| line.strip_prefix("PPI "))
        .filter_map(|v| v.trim().parse::<f32>().ok())
        .find(|v| *v > 0.0))
}
