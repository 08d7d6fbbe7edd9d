//! Fingerprint and iris images: decoding to 8-bit grey and resampling to the 500 ppi working
//! frame.
//!
//! [`decode`] accepts PNG, JPEG, TIFF, BMP, JPEG 2000 (JP2 files and raw codestreams), WSQ,
//! ISO/IEC 19794-4 finger image records and ISO/IEC 19794-6 iris image records (2005 and 2011
//! editions of both), sniffing the format from the first bytes unless the caller names it.
//! Every decoder returns a [`FingerImage`]: 8-bit grey, row-major, 0 = black.
//!
//! * PNG and TIFF go through the `png` and `tiff` crates; colour and 16-bit images are
//!   converted to 8-bit grey (ITU-R BT.601 luma, high byte).
//! * JPEG (baseline, progressive, lossless) goes through `jpeg-decoder`, a pure-Rust decoder,
//!   after [`jpeg_limits`] has capped the scans its marker segments state; colour is
//!   converted to grey and 16-bit samples keep their high byte.
//! * BMP goes through the `image` crate built with its BMP codec alone; palettised and colour
//!   images are converted to grey the same way.
//! * JPEG 2000 goes through `hayro-jpeg2000`, a pure-Rust decoder (no C code to build or to
//!   trust with hostile input), after [`jp2_limits`] has capped the structure its headers
//!   state.
//! * WSQ is decoded by [`wsq`], written from the FBI WSQ specification 3.1.
//! * ISO/IEC 19794-4 records are read by [`iso`], which hands each view's payload to the
//!   decoder its compression field names.
//! * ISO/IEC 19794-6 records are read by [`iris_record`], which returns every iris image with
//!   its typed header fields (eye, image kind, orientation, roll angle).
//!
//! # Limits
//!
//! Every decoder checks the size a header claims before allocating pixels: at most
//! [`MAX_SIDE`] pixels a side and [`MAX_PIXELS`] pixels in all; inputs over
//! [`MAX_INPUT_BYTES`] are refused unread. Corrupt input gets an [`ImageError`] with a
//! machine-readable [`reason`](ImageError::reason); nothing panics and decoding time is
//! bounded by the (capped) image size and, for JPEG and JPEG 2000, by the structure the
//! headers state ([`jpeg_limits`], [`jp2_limits`]).

mod bmp;
pub mod error;
pub mod iris_record;
pub mod iso;
mod jp2;
pub mod jp2_limits;
mod jpeg;
pub mod jpeg_limits;
mod png;
pub use self::png::{encode as encode_png, PngEncodeError};
mod reader;
pub mod resample;
mod tiff;
pub mod wsq;

pub use error::ImageError;
pub use iris_record::{decode_iris_record, encode_iris_record_2011, IrisImageRecord};
pub use iso::{decode_iso_record, IsoFingerView};
pub use resample::{to_500ppi, MAX_PPI, MIN_PPI};

/// Largest accepted width or height, in pixels.
pub const MAX_SIDE: u32 = 2_000;

/// Largest accepted number of pixels (width × height).
pub const MAX_PIXELS: u64 = MAX_SIDE as u64 * MAX_SIDE as u64;

/// Largest accepted encoded input, in bytes (an uncompressed 2,000 × 2,000 record fits).
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// A decoded fingerprint image: 8-bit grey, row-major, 0 = black.
#[derive(Debug, Clone, PartialEq)]
pub struct FingerImage {
    width: u32,
    height: u32,
    ppi: Option<f32>,
    pixels: Vec<u8>,
}

impl FingerImage {
    /// An image from its pixels; the size is checked against the pixel count and the limits.
    pub fn new(
        width: u32,
        height: u32,
        ppi: Option<f32>,
        pixels: Vec<u8>,
    ) -> Result<Self, ImageError> {
        let count = check_size(u64::from(width), u64::from(height))?;
        if pixels.len() != count {
            return Err(ImageError::corrupt(format!(
                "{width}x{height} image needs {count} pixels, {} given",
                pixels.len()
            )));
        }
        Ok(Self {
            width,
            height,
            ppi,
            pixels,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Resolution in pixels per inch, when the encoded data stated one.
    pub fn ppi(&self) -> Option<f32> {
        self.ppi
    }

    /// The same image with its resolution set (for a resolution given by a flag or field).
    pub fn with_ppi(mut self, ppi: Option<f32>) -> Self {
        self.ppi = ppi;
        self
    }

    /// Pixels, row-major, `width × height` bytes, 0 = black.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The pixel at column `x`, row `y`, if inside the image.
    pub fn pixel(&self, x: u32, y: u32) -> Option<u8> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let index = y as usize * self.width as usize + x as usize;
        self.pixels.get(index).copied()
    }

    /// The pixel buffer, consuming the image.
    pub fn into_pixels(self) -> Vec<u8> {
        self.pixels
    }
}

/// An encoded image format [`decode`] understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// PNG.
    Png,
    /// JPEG (JFIF/EXIF; baseline, progressive or lossless).
    Jpeg,
    /// TIFF (baseline, uncompressed, LZW or Deflate).
    Tiff,
    /// JPEG 2000: a JP2 file or a raw codestream.
    Jpeg2000,
    /// FBI Wavelet Scalar Quantization.
    Wsq,
    /// ISO/IEC 19794-4 finger image record (2005 or 2011); [`decode`] returns the first view.
    Iso19794_4,
    /// Windows bitmap (palettised, 16, 24 or 32 bits a pixel).
    Bmp,
    /// ISO/IEC 19794-6 iris image record (2005 or 2011); [`decode`] returns the first image.
    Iso19794_6,
}

impl ImageFormat {
    /// The format's name as used in requests and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpeg",
            Self::Tiff => "tiff",
            Self::Jpeg2000 => "jp2",
            Self::Wsq => "wsq",
            Self::Iso19794_4 => "iso19794-4",
            Self::Bmp => "bmp",
            Self::Iso19794_6 => "iso19794-6",
        }
    }

    /// The format named `name` (case-insensitive; `jpg`, `tif`, `j2k`, `jpeg2000`, `iso` and
    /// `iir`
    /// are accepted too).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "png" => Some(Self::Png),
            "jpeg" | "jpg" => Some(Self::Jpeg),
            "tiff" | "tif" => Some(Self::Tiff),
            "jp2" | "j2k" | "j2c" | "jpeg2000" | "jpeg-2000" => Some(Self::Jpeg2000),
            "wsq" => Some(Self::Wsq),
            "iso19794-4" | "iso" | "fir" => Some(Self::Iso19794_4),
            "bmp" => Some(Self::Bmp),
            "iso19794-6" | "iir" => Some(Self::Iso19794_6),
            _ => None,
        }
    }
}

/// The format the first bytes of `bytes` announce, if any.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
    const JP2_MAGIC: &[u8] = b"\x00\x00\x00\x0cjP  \r\n\x87\n";
    const J2K_MAGIC: &[u8] = b"\xff\x4f\xff\x51";
    if bytes.starts_with(PNG_MAGIC) {
        Some(ImageFormat::Png)
    } else if bytes.starts_with(b"\xff\xd8\xff") {
        Some(ImageFormat::Jpeg)
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Some(ImageFormat::Tiff)
    } else if bytes.starts_with(JP2_MAGIC) || bytes.starts_with(J2K_MAGIC) {
        Some(ImageFormat::Jpeg2000)
    } else if bytes.starts_with(b"FIR\0") {
        Some(ImageFormat::Iso19794_4)
    } else if bytes.starts_with(b"IIR\0") {
        Some(ImageFormat::Iso19794_6)
    } else if bytes.starts_with(b"BM") {
        Some(ImageFormat::Bmp)
    } else if bytes.len() >= 4
        && bytes[0] == 0xff
        && bytes[1] == 0xa0
        && bytes[2] == 0xff
        && (0xa2..=0xa8).contains(&bytes[3])
    {
        Some(ImageFormat::Wsq)
    } else {
        None
    }
}

/// Decodes `bytes` to an 8-bit grey image. With `hint`, that decoder is used; without it the
/// format is sniffed from the first bytes. An ISO/IEC 19794-4 record yields its first view
/// (use [`decode_iso_record`] for all of them), an ISO/IEC 19794-6 record its first image
/// (use [`decode_iris_record`] for all of them and their header fields).
pub fn decode(bytes: &[u8], hint: Option<ImageFormat>) -> Result<FingerImage, ImageError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(ImageError::InputTooLarge {
            bytes: bytes.len(),
            max: MAX_INPUT_BYTES,
        });
    }
    let format = match hint.or_else(|| sniff(bytes)) {
        Some(format) => format,
        None if bytes.is_empty() => {
            return Err(ImageError::Truncated {
                what: "format signature",
                offset: 0,
                needed: 4,
                available: 0,
            })
        }
        None => {
            return Err(ImageError::UnsupportedFormat(format!(
                "unrecognised signature {:02x?}",
                &bytes[..bytes.len().min(8)]
            )))
        }
    };
    match format {
        ImageFormat::Png => png::decode(bytes),
        ImageFormat::Jpeg => jpeg::decode(bytes),
        ImageFormat::Tiff => tiff::decode(bytes),
        ImageFormat::Jpeg2000 => jp2::decode(bytes),
        ImageFormat::Wsq => wsq::decode(bytes),
        ImageFormat::Iso19794_4 => {
            let views = decode_iso_record(bytes)?;
            views
                .into_iter()
                .next()
                .map(|view| view.image)
                .ok_or_else(|| ImageError::corrupt("ISO 19794-4 record holds no finger view"))
        }
        ImageFormat::Bmp => bmp::decode(bytes),
        ImageFormat::Iso19794_6 => decode_iris_record(bytes)?
            .representations
            .into_iter()
            .next()
            .map(|rep| rep.image)
            .ok_or_else(|| ImageError::corrupt("ISO 19794-6 record holds no image")),
    }
}

/// Checks a claimed size against the limits; returns the pixel count.
pub(crate) fn check_size(width: u64, height: u64) -> Result<usize, ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::Empty { width, height });
    }
    let pixels = width.saturating_mul(height);
    if width > u64::from(MAX_SIDE) || height > u64::from(MAX_SIDE) || pixels > MAX_PIXELS {
        return Err(ImageError::TooLarge {
            width,
            height,
            max_side: MAX_SIDE,
            max_pixels: MAX_PIXELS,
        });
    }
    usize::try_from(pixels).map_err(|_| ImageError::TooLarge {
        width,
        height,
        max_side: MAX_SIDE,
        max_pixels: MAX_PIXELS,
    })
}

/// ITU-R BT.601 luma of an 8-bit RGB pixel, rounded.
pub(crate) fn luma(r: u8, g: u8, b: u8) -> u8 {
    let y = 299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b);
    ((y + 500) / 1000).min(255) as u8
}

/// Converts interleaved samples with `channels` per pixel (1 grey, 2 grey+alpha, 3 RGB,
/// 4 RGBA) to grey.
pub(crate) fn to_grey(samples: &[u8], channels: usize) -> Result<Vec<u8>, ImageError> {
    match channels {
        1 => Ok(samples.to_vec()),
        2 => Ok(samples.chunks_exact(2).map(|p| p[0]).collect()),
        3 | 4 => Ok(samples
            .chunks_exact(channels)
            .map(|p| luma(p[0], p[1], p[2]))
            .collect()),
        n => Err(ImageError::UnsupportedPixels(format!(
            "{n} channels per pixel"
        ))),
    }
}
