//! ISO/IEC 19794-6 iris image records: the 2005 edition (`IIR\0` `010\0`) and the 2011
//! edition (`IIR\0` `020\0`), read by [`decode_iris_record`] and written (2011) by
//! [`encode_iris_record_2011`].
//!
//! A record holds one or more iris images (representations). Each is returned as an
//! [`IrisRepresentation`]: its header fields, typed, and its image decoded to 8-bit grey.
//! Payloads that are uncompressed (grey or RGB), PNG or JPEG 2000 are decoded; JPEG and
//! JPEG-LS payloads are refused with `image_unsupported_format`.
//!
//! # Layouts (big-endian)
//!
//! **2005** — record header of 45 bytes: format identifier 4 (`IIR\0`), version 4 (`010\0`),
//! record length 4, capture device identifier 2 (ignored), number of eyes (biometric
//! subtypes) 1, record header length 2 (must be 45), image property bits 2 (bits 0–1
//! horizontal orientation, 2–3 vertical orientation, read; 4–6 scan type, 7 iris occlusion,
//! 8 occlusion filling, 9 boundary extraction, ignored), iris diameter 2, image format 2,
//! width 2, height 2, intensity depth 1, image transformation 1 (ignored), device unique
//! identifier 16 (ignored). The header's format, size and depth apply to every image. Then per
//! eye a subtype header (eye position 1, image count 2) and per image an image header (image
//! number 2, quality 1, rotation angle 2, rotation uncertainty 2, image length 4) followed by
//! the image data.
//!
//! **2011** — general header of 16 bytes: format identifier 4, version 4 (`020\0`), record
//! length 4, number of representations 2, certification flag 1 (must be 0: the edition
//! defines no iris certification blocks), number of eyes represented 1. Then per
//! representation: representation length 4, capture date and time 9, capture device
//! technology 1, vendor 2 and type 2 (all ignored), quality block count 1 and 5-byte quality
//! blocks (score 1 read; algorithm vendor 2 and algorithm 2 ignored), representation number
//! 2, eye label 1, image type 1, image format 1, image property bits 1 (bits 0–1 horizontal
//! orientation, 2–3 vertical orientation, 6–7 compression history; 4–5 reserved), width 2,
//! height 2, bit depth 1, range 2, roll angle of the eye 2, roll angle uncertainty 2, iris
//! centre smallest and largest x 2 + 2, smallest and largest y 2 + 2, iris diameter smallest
//! and largest 2 + 2, image length 4, image data.
//!
//! # Codes
//!
//! * Eye label / position: 0 unknown, 1 right, 2 left.
//! * Image type (2011): 1 uncropped (K1), 2 VGA 640×480 (K2), 3 cropped (K3), 7 cropped and
//!   masked (K7). The value 0x10, IREX's unsegmented polar image (K16), is accepted as well
//!   since IREX-era records carry it; the 2011 edition itself defines 1, 2, 3 and 7.
//! * Image format: 2005 — 2 grey raw, 4 RGB raw, 6 / 8 JPEG, 10 / 12 JPEG-LS, 14 / 16
//!   JPEG 2000; 2011 — 2 / 4 raw, 6 / 8 JPEG, 10 / 12 JPEG 2000, 14 / 16 PNG (grey / RGB).
//! * Orientation: 0 undefined, 1 base, 2 flipped.
//! * Compression history (2011): 0 undefined, 1 lossless or none, 2 lossy.
//! * Roll angle: `65536 · angle / 360` (angle in degrees), uncertainty `65536 · u / 180`;
//!   0xFFFF means undefined.
//!
//! # Limits
//!
//! A record holds at most [`MAX_REPRESENTATIONS`] images and [`MAX_RECORD_PIXELS`] pixels in
//! all, on top of the per-image limits of [`super`]; sizes are checked before decoding.

mod parse;
mod write;

pub use parse::decode_iris_record;
pub use write::encode_iris_record_2011;

use super::FingerImage;

/// Most images (representations) one record may hold.
pub const MAX_REPRESENTATIONS: usize = 16;

/// Most pixels all images of one record may hold together.
pub const MAX_RECORD_PIXELS: u64 = 2 * super::MAX_PIXELS;

/// Edition of ISO/IEC 19794-6 a record follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IrisRecordVersion {
    /// ISO/IEC 19794-6:2005 (version `010`).
    V2005,
    /// ISO/IEC 19794-6:2011 (version `020`).
    V2011,
}

/// Which eye an image shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EyeLabel {
    /// Not stated (code 0).
    Unknown,
    /// Right eye (code 1).
    Right,
    /// Left eye (code 2).
    Left,
}

impl EyeLabel {
    /// The label of a record's code.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Unknown),
            1 => Some(Self::Right),
            2 => Some(Self::Left),
            _ => None,
        }
    }

    /// The record's code for this label.
    pub fn code(self) -> u8 {
        match self {
            Self::Unknown => 0,
            Self::Right => 1,
            Self::Left => 2,
        }
    }
}

/// What part of the eye an image shows and how it was prepared (2011 image type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IrisImageKind {
    /// K1, code 1: uncropped.
    Uncropped,
    /// K2, code 2: VGA, 640 × 480 uncropped.
    Vga,
    /// K3, code 3: cropped around the iris.
    Cropped,
    /// K7, code 7: cropped, with eyelids, eyelashes and sclera masked.
    CroppedMasked,
    /// K16, code 0x10: unsegmented polar (IREX), columns around the eye, rows outwards.
    Polar,
}

impl IrisImageKind {
    /// The kind of a 2011 image type code.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Uncropped),
            2 => Some(Self::Vga),
            3 => Some(Self::Cropped),
            7 => Some(Self::CroppedMasked),
            0x10 => Some(Self::Polar),
            _ => None,
        }
    }

    /// The 2011 image type code of this kind.
    pub fn code(self) -> u8 {
        match self {
            Self::Uncropped => 1,
            Self::Vga => 2,
            Self::Cropped => 3,
            Self::CroppedMasked => 7,
            Self::Polar => 0x10,
        }
    }
}

/// How an image's data is encoded (the record's image format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IrisPayloadFormat {
    /// Uncompressed, one 8-bit grey sample a pixel, row-major.
    MonoRaw,
    /// Uncompressed, three 8-bit samples (R, G, B) a pixel.
    RgbRaw,
    /// JPEG (ISO/IEC 10918), grey.
    MonoJpeg,
    /// JPEG (ISO/IEC 10918), colour.
    RgbJpeg,
    /// JPEG-LS (2005 edition only), grey.
    MonoJpegLs,
    /// JPEG-LS (2005 edition only), colour.
    RgbJpegLs,
    /// JPEG 2000, grey.
    MonoJpeg2000,
    /// JPEG 2000, colour.
    RgbJpeg2000,
    /// PNG (2011 edition only), grey.
    MonoPng,
    /// PNG (2011 edition only), colour.
    RgbPng,
}

impl IrisPayloadFormat {
    /// The format of a 2005 image format code.
    pub fn from_2005(code: u16) -> Option<Self> {
        Some(match code {
            2 => Self::MonoRaw,
            4 => Self::RgbRaw,
            6 => Self::MonoJpeg,
            8 => Self::RgbJpeg,
            10 => Self::MonoJpegLs,
            12 => Self::RgbJpegLs,
            14 => Self::MonoJpeg2000,
            16 => Self::RgbJpeg2000,
            _ => return None,
        })
    }

    /// The format of a 2011 image format code.
    pub fn from_2011(code: u8) -> Option<Self> {
        Some(match code {
            2 => Self::MonoRaw,
            4 => Self::RgbRaw,
            6 => Self::MonoJpeg,
            8 => Self::RgbJpeg,
            10 => Self::MonoJpeg2000,
            12 => Self::RgbJpeg2000,
            14 => Self::MonoPng,
            16 => Self::RgbPng,
            _ => return None,
        })
    }

    /// The 2011 image format code, if the 2011 edition has this format (it has no JPEG-LS).
    pub fn code_2011(self) -> Option<u8> {
        Some(match self {
            Self::MonoRaw => 2,
            Self::RgbRaw => 4,
            Self::MonoJpeg => 6,
            Self::RgbJpeg => 8,
            Self::MonoJpeg2000 => 10,
            Self::RgbJpeg2000 => 12,
            Self::MonoPng => 14,
            Self::RgbPng => 16,
            Self::MonoJpegLs | Self::RgbJpegLs => return None,
        })
    }
}

/// Orientation of the image along one axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Orientation {
    /// Not stated (code 0).
    Undefined,
    /// As captured (code 1).
    Base,
    /// Flipped (code 2).
    Flipped,
}

impl Orientation {
    /// The orientation of a 2-bit code (3 is reserved).
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Undefined),
            1 => Some(Self::Base),
            2 => Some(Self::Flipped),
            _ => None,
        }
    }

    /// The 2-bit code of this orientation.
    pub fn code(self) -> u8 {
        match self {
            Self::Undefined => 0,
            Self::Base => 1,
            Self::Flipped => 2,
        }
    }
}

/// Compression the image went through before this record (2011 image property bits 6–7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompressionHistory {
    /// Not stated (code 0; always so for 2005 records, which lack the field).
    Undefined,
    /// Never compressed, or only losslessly (code 1).
    Lossless,
    /// Compressed lossily at some point (code 2).
    Lossy,
}

impl CompressionHistory {
    /// The history of a 2-bit code (3 is reserved).
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Undefined),
            1 => Some(Self::Lossless),
            2 => Some(Self::Lossy),
            _ => None,
        }
    }

    /// The 2-bit code of this history.
    pub fn code(self) -> u8 {
        match self {
            Self::Undefined => 0,
            Self::Lossless => 1,
            Self::Lossy => 2,
        }
    }
}

/// A smallest–largest pair of pixel values from the 2011 representation header (iris
/// centre or diameter bounds); absent when the record leaves both at 0 (undefined).
pub type PixelRange = Option<(u16, u16)>;

/// The header fields of one iris image, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IrisRepresentationHeader {
    /// Representation number (2011) or image number (2005).
    pub number: u16,
    /// Which eye.
    pub eye: EyeLabel,
    /// Image type; `None` in 2005 records, which have no such field.
    pub kind: Option<IrisImageKind>,
    /// How the image data is encoded.
    pub format: IrisPayloadFormat,
    /// Compression history (2011; `Undefined` for 2005).
    pub compression: CompressionHistory,
    /// Width the header states, in pixels.
    pub width: u16,
    /// Height the header states, in pixels.
    pub height: u16,
    /// Bits per pixel the header states (2005: intensity depth).
    pub bit_depth: u8,
    /// Horizontal orientation.
    pub horizontal: Orientation,
    /// Vertical orientation.
    pub vertical: Orientation,
    /// Roll angle of the eye in units of 360/65536 degree; `None` when undefined (0xFFFF).
    pub roll_angle: Option<u16>,
    /// Roll angle uncertainty in units of 180/65536 degree; `None` when undefined (0xFFFF).
    pub roll_uncertainty: Option<u16>,
    /// Quality score as recorded (2011: the first quality block's, 0–100 or 255 for a
    /// failed assessment, `None` without blocks; 2005: 0–100, 254 or 255).
    pub quality: Option<u8>,
    /// Camera-to-eye range code (2011: 0 unassigned, 1 failed, else centimetres; 2005: 0).
    pub range: u16,
    /// Iris centre x, smallest and largest estimate (2011).
    pub iris_centre_x: PixelRange,
    /// Iris centre y, smallest and largest estimate (2011).
    pub iris_centre_y: PixelRange,
    /// Iris diameter, smallest and largest estimate (2011; 2005: the record header's single
    /// diameter as both bounds).
    pub iris_diameter: PixelRange,
}

impl IrisRepresentationHeader {
    /// A header for a 2011 record with undefined optional fields.
    pub fn new(eye: EyeLabel, kind: IrisImageKind, format: IrisPayloadFormat) -> Self {
        Self {
            number: 1,
            eye,
            kind: Some(kind),
            format,
            compression: CompressionHistory::Undefined,
            width: 0,
            height: 0,
            bit_depth: 8,
            horizontal: Orientation::Undefined,
            vertical: Orientation::Undefined,
            roll_angle: None,
            roll_uncertainty: None,
            quality: None,
            range: 0,
            iris_centre_x: None,
            iris_centre_y: None,
            iris_diameter: None,
        }
    }

    /// Roll angle of the eye in degrees, when defined.
    pub fn roll_angle_degrees(&self) -> Option<f32> {
        self.roll_angle.map(|a| f32::from(a) * 360.0 / 65_536.0)
    }

    /// Roll angle uncertainty in degrees, when defined.
    pub fn roll_uncertainty_degrees(&self) -> Option<f32> {
        self.roll_uncertainty
            .map(|u| f32::from(u) * 180.0 / 65_536.0)
    }
}

/// One iris image of a record: its header and its image, decoded to 8-bit grey.
#[derive(Debug, Clone, PartialEq)]
pub struct IrisRepresentation {
    /// The header fields.
    pub header: IrisRepresentationHeader,
    /// The decoded image (its size equals the header's).
    pub image: FingerImage,
}

/// A decoded ISO/IEC 19794-6 record.
#[derive(Debug, Clone, PartialEq)]
pub struct IrisImageRecord {
    /// Edition of the record.
    pub version: IrisRecordVersion,
    /// Number of eyes represented (0 unknown, 1 or 2).
    pub eyes: u8,
    /// The images, in record order.
    pub representations: Vec<IrisRepresentation>,
}
