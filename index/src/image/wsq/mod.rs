//! WSQ (Wavelet Scalar Quantization) decoding, after the FBI WSQ Gray-scale Fingerprint Image
//! Compression Specification, version 3.1.
//!
//! A WSQ file is a sequence of marker segments: SOI, tables (transform DTT, quantisation DQT,
//! Huffman DHT, comments COM), the frame header SOF, then one or more blocks (tables, SOB,
//! entropy-coded data), then EOI. Decoding runs in four stages, one module each:
//!
//! 1. [`tables`]: the marker segments;
//! 2. [`huffman`]: entropy decoding of the quantised coefficients of all coded subbands,
//!    in the order of the quantisation tree;
//! 3. dequantisation (here): `c = Q·(q − C) + Z/2` for `q > 0`, `Q·(q + C) − Z/2` for `q < 0`;
//! 4. [`transform`]: the inverse of the 64-subband wavelet decomposition laid out by
//!    [`tree`], then `pixel = round(c·R + M)` clamped to 0–255.
//!
//! Limits: the frame size is checked against the crate's image limits before any buffer is
//! allocated; coefficient data that would overrun the image, or that ends before every coded
//! coefficient is filled, is refused before the pixel plane exists and before the inverse
//! transform runs; every loop is bounded by the input length or the (capped) pixel count.

mod huffman;
mod tables;
mod transform;
mod tree;

use super::reader::Reader;
use super::{check_size, resample::plausible_ppi, FingerImage, ImageError};
use tables::{Filters, FrameHeader, HuffmanSpec, QuantTable, HUFFMAN_SLOTS};
use tree::CODED_SUBBANDS;

/// Tables defined so far.
#[derive(Debug, Default)]
struct Tables {
    filters: Option<Filters>,
    quant: Option<QuantTable>,
    huffman: [Option<HuffmanSpec>; HUFFMAN_SLOTS],
    ppi: Option<f32>,
}

impl Tables {
    /// Reads the table or comment segment that `marker` introduces.
    fn read(&mut self, marker: u16, r: &mut Reader<'_>) -> Result<(), ImageError> {
        match marker {
            tables::DTT => self.filters = Some(tables::transform_table(r)?),
            tables::DQT => self.quant = Some(tables::quant_table(r)?),
            tables::DHT => tables::huffman_tables(r, &mut self.huffman)?,
            tables::COM => {
                if let Some(ppi) = tables::comment(r)? {
                    self.ppi = self.ppi.or(Some(ppi));
                }
            }
            other => {
                return Err(ImageError::corrupt(format!(
                    "WSQ unexpected marker {other:04x} at offset {}",
                    r.pos().saturating_sub(2)
                )))
            }
        }
        Ok(())
    }
}

/// Decodes a WSQ file to an 8-bit grey image. The resolution comes from the `PPI` field of
/// a `NIST_COM` comment, when present and plausible.
pub fn decode(bytes: &[u8]) -> Result<FingerImage, ImageError> {
    let mut r = Reader::new(bytes);
    let soi = r.u16("WSQ start of image")?;
    if soi != tables::SOI {
        return Err(ImageError::UnsupportedFormat(format!(
            "not WSQ: starts with {soi:04x}"
        )));
    }
    let mut t = Tables::default();
    let frame = loop {
        match r.u16("WSQ marker")? {
            tables::SOF => break tables::frame_header(&mut r)?,
            marker => t.read(marker, &mut r)?,
        }
    };
    let (width, height) = (usize::from(frame.width), usize::from(frame.height));
    let pixel_count = check_size(width as u64, height as u64)?;
    let tree = tree::wavelet_tree(width, height);
    let subbands = tree::quantisation_tree(&tree);

    let mut coefficients: Vec<i32> = Vec::new();
    let mut filled = 0usize;
    loop {
        let marker = r.u16("WSQ marker")?;
        match marker {
            tables::EOI => break,
            tables::SOB => {
                let id = tables::block_header(&mut r)?;
                let quant = t.quant.as_ref().ok_or_else(|| {
                    ImageError::corrupt("WSQ block before the quantisation table")
                })?;
                if coefficients.is_empty() {
                    coefficients = vec![0; coded_count(quant, &subbands)];
                }
                let spec = t.huffman[id].as_ref().ok_or_else(|| {
                    ImageError::corrupt(format!("WSQ block uses undefined Huffman table {id}"))
                })?;
                let decoder = huffman::Decoder::new(spec)?;
                let mut bits = huffman::BitReader::new(bytes, r.pos());
                huffman::decode_block(&mut bits, &decoder, &mut coefficients, &mut filled)?;
                r = Reader::new(bytes);
                r.skip(bits.pos(), "WSQ marker")?;
            }
            marker => t.read(marker, &mut r)?,
        }
    }
    let quant = t
        .quant
        .as_ref()
        .ok_or_else(|| ImageError::corrupt("WSQ file without a quantisation table"))?;
    let filters = t
        .filters
        .as_ref()
        .ok_or_else(|| ImageError::corrupt("WSQ file without a transform table"))?;
    // An encoder codes every quantised coefficient of every coded subband (zeros as runs),
    // so data that stops short is damaged: refused here, before the plane is allocated and
    // the inverse transform runs over it (the bulk of the work for a large frame).
    let coded = coded_count(quant, &subbands);
    if coded == 0 {
        return Err(ImageError::corrupt(
            "WSQ quantisation table codes no subband",
        ));
    }
    if filled != coded {
        return Err(ImageError::corrupt(format!(
            "WSQ coefficient data ends after {filled} of the frame's {coded} coefficients"
        )));
    }

    let mut plane = vec![0f32; pixel_count];
    dequantise(&mut plane, width, &coefficients, quant, &subbands);
    let mut scratch = vec![0f32; pixel_count];
    transform::reconstruct(&mut plane, &mut scratch, width, &tree, filters);
    let pixels = to_pixels(&plane, &frame);
    FingerImage::new(
        frame.width.into(),
        frame.height.into(),
        t.ppi.and_then(plausible_ppi),
        pixels,
    )
}

/// Coefficients of the coded subbands (those with a non-zero quantiser step).
fn coded_count(quant: &QuantTable, subbands: &[tree::Region; tree::SUBBANDS]) -> usize {
    (0..CODED_SUBBANDS)
        .filter(|&k| quant.q[k] != 0.0)
        .map(|k| subbands[k].lenx * subbands[k].leny)
        .sum()
}

/// Places the dequantised coefficients of every coded subband into the plane.
fn dequantise(
    plane: &mut [f32],
    width: usize,
    coefficients: &[i32],
    quant: &QuantTable,
    subbands: &[tree::Region; tree::SUBBANDS],
) {
    let mut next = coefficients.iter();
    for (k, band) in subbands.iter().enumerate().take(CODED_SUBBANDS) {
        let (q, z) = (quant.q[k], quant.z[k]);
        if q == 0.0 {
            continue;
        }
        for y in band.y..band.y + band.leny {
            let row = &mut plane[y * width + band.x..y * width + band.x + band.lenx];
            for (cell, &c) in row.iter_mut().zip(next.by_ref()) {
                *cell = match c {
                    0 => 0.0,
                    c if c > 0 => q * (c as f32 - quant.centre) + z / 2.0,
                    c => q * (c as f32 + quant.centre) - z / 2.0,
                };
            }
        }
    }
}

/// Undoes the encoder's normalisation and rounds to 8 bits.
fn to_pixels(plane: &[f32], frame: &FrameHeader) -> Vec<u8> {
    plane
        .iter()
        .map(|&v| (v * frame.scale + frame.shift + 0.5).clamp(0.0, 255.0) as u8)
        .collect()
}
