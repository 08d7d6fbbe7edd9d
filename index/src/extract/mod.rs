//! Minutiae extraction from fingerprint images.
//!
//! The pipeline works in a 500 ppi frame (other resolutions are resampled bilinearly):
//!
//! 1. block fields ([`field`]): gradient structure tensor per 8-pixel block, orientation
//!    smoothed as doubled-angle vectors, coherence, contrast-based foreground segmentation
//!    (holes filled, largest region kept) and the ridge period from the grey-level
//!    signature across the ridges;
//! 2. contextual enhancement ([`enhance`]): a precomputed bank of even Gabor filters,
//!    chosen per pixel by the interpolated orientation and the block's period;
//! 3. binarisation by the filter's sign and Zhang–Suen thinning ([`skeleton`]);
//! 4. crossing-number minutiae with their direction from a short ridge walk snapped to the
//!    orientation field, then removal of false minutiae near the border, on spurs, short
//!    ridges, bridges, breaks and clusters ([`minutiae`]);
//! 5. per-minutia quality (local coherence) and per-finger quality with a failure-to-enrol
//!    rule ([`quality`]).
//!
//! The output is a [`FingerTemplate`] in the crate's convention (500 ppi units, y down,
//! angles counter-clockwise in 1/256 turns, see [`crate::template`]); [`encode()`] writes ISO/IEC
//! 19794-2 (2005, 2011) and ANSI INCITS 378 records.

mod encode;
mod enhance;
mod field;
mod minutiae;
pub mod quality;
mod resample;
mod set;
mod simd;
mod skeleton;

use std::f32::consts::TAU;

pub use encode::{encode, RecordFormat};
pub use quality::{QualityFeatures, Unusable};
pub use set::ExtractParamError;

use crate::template::{FingerTemplate, Minutia, INTERNAL_PPI};

/// An 8-bit grey image: row-major, dark ridges on a light background.
#[derive(Debug, Clone, Copy)]
pub struct Raster<'a> {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Resolution in pixels per inch.
    pub ppi: f32,
    /// `width · height` grey levels.
    pub pixels: &'a [u8],
}

/// Why an image could not be processed at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExtractError {
    /// The pixel buffer does not match the stated size.
    #[error("image of {width}×{height} needs {expected} pixels, got {actual}")]
    PixelCount {
        /// Stated width.
        width: usize,
        /// Stated height.
        height: usize,
        /// `width · height`.
        expected: usize,
        /// Bytes supplied.
        actual: usize,
    },
    /// The image is too small or too large (in the 500 ppi frame).
    #[error("image of {width}×{height} at 500 ppi is outside {min}…{max} pixels per side")]
    Size {
        /// Width at 500 ppi.
        width: usize,
        /// Height at 500 ppi.
        height: usize,
        /// Smallest side.
        min: usize,
        /// Largest side.
        max: usize,
    },
    /// The resolution is outside the supported range.
    #[error("resolution {ppi} ppi is outside {min}…{max} ppi")]
    Resolution {
        /// Stated resolution.
        ppi: f32,
        /// Lowest supported.
        min: f32,
        /// Highest supported.
        max: f32,
    },
}

impl ExtractError {
    /// A machine-readable reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::PixelCount { .. } => "image_size_mismatch",
            Self::Size { .. } => "image_dimensions_out_of_range",
            Self::Resolution { .. } => "image_resolution_out_of_range",
        }
    }
}

/// Lowest supported input resolution.
pub const MIN_PPI: f32 = 250.0;
/// Highest supported input resolution.
pub const MAX_PPI: f32 = 2000.0;
/// Smallest side in the 500 ppi frame.
pub const MIN_SIDE: usize = 64;
/// Largest side in the 500 ppi frame (bounds time and memory).
pub const MAX_SIDE: usize = 2048;

/// Tunable parameters of the extractor (pixels at 500 ppi).
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractParams {
    /// Block size of the fields.
    pub block: usize,
    /// Orientation smoothing radius in blocks.
    pub orientation_smooth: usize,
    /// Foreground: contrast above this share of the 95th percentile block contrast…
    pub contrast_fraction: f32,
    /// …and above this absolute grey-level standard deviation.
    pub min_contrast: f32,
    /// Foreground: coherence needed unless the contrast is twice the threshold.
    pub min_coherence: f32,
    /// Minutiae closer than this many blocks to the background are dropped.
    pub border_blocks: usize,
    /// Minutiae closer than this to the image edge are dropped.
    pub edge_margin: usize,
    /// Shortest and longest plausible ridge period.
    pub min_period: f32,
    /// Longest plausible ridge period.
    pub max_period: f32,
    /// Period used when none can be measured.
    pub default_period: f32,
    /// Gabor envelope across the ridges, as a share of the period.
    pub gabor_across: f32,
    /// Gabor envelope along the ridges, as a share of the period.
    pub gabor_along: f32,
    /// Kernel radius in envelope standard deviations.
    pub gabor_extent: f32,
    /// Largest kernel radius.
    pub gabor_max_radius: usize,
    /// Steps walked along a ridge to find a minutia's direction.
    pub trace_steps: usize,
    /// An ending whose ridge meets another ending within this many steps is a short ridge.
    pub short_ridge: usize,
    /// An ending whose ridge meets a junction within this many steps is a spur.
    pub spur: usize,
    /// A bifurcation whose branch meets a junction within this many steps is a bridge.
    pub bridge: usize,
    /// Facing endings closer than this are a broken ridge.
    pub break_distance: usize,
    /// Minutiae closer than this to another are a cluster.
    pub cluster_distance: usize,
    /// Most minutiae kept (the best by quality).
    pub max_minutiae: usize,
}

impl Default for ExtractParams {
    fn default() -> Self {
        Self {
            block: 8,
            orientation_smooth: 2,
            contrast_fraction: 0.3,
            min_contrast: 6.0,
            min_coherence: 0.15,
            border_blocks: 1,
            edge_margin: 12,
            min_period: 4.0,
            max_period: 16.0,
            default_period: 9.0,
            gabor_across: 0.45,
            gabor_along: 0.55,
            gabor_extent: 2.2,
            gabor_max_radius: 14,
            trace_steps: 14,
            short_ridge: 16,
            spur: 12,
            bridge: 10,
            break_distance: 14,
            cluster_distance: 6,
            max_minutiae: 100,
        }
    }
}

/// The result of extracting one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Extraction {
    /// The template (quality filled in), in the 500 ppi internal frame.
    pub template: FingerTemplate,
    /// Finger quality 0–100.
    pub quality: u8,
    /// The features the quality was computed from.
    pub features: QualityFeatures,
    /// Set when the finger fails the enrolment rule.
    pub unusable: Option<Unusable>,
}

/// A minutiae extractor with its precomputed filter bank; cheap to share across threads.
#[derive(Debug)]
pub struct Extractor {
    params: ExtractParams,
    bank: enhance::GaborBank,
    weights: [f32; 6],
}

impl Default for Extractor {
    fn default() -> Self {
        Self::new(ExtractParams::default())
    }
}

impl Extractor {
    /// An extractor with `params`.
    pub fn new(params: ExtractParams) -> Self {
        let bank = enhance::GaborBank::new(&params);
        Self {
            params,
            bank,
            weights: quality::WEIGHTS,
        }
    }

    /// The parameters.
    pub fn params(&self) -> &ExtractParams {
        &self.params
    }

    /// Replaces the quality weights (for fitting them).
    pub fn with_quality_weights(mut self, weights: [f32; 6]) -> Self {
        self.weights = weights;
        self
    }

    /// Extracts the minutiae and quality of one image.
    pub fn extract(&self, raster: &Raster<'_>) -> Result<Extraction, ExtractError> {
        let p = &self.params;
        let expected = raster.width.saturating_mul(raster.height);
        if raster.pixels.len() != expected {
            return Err(ExtractError::PixelCount {
                width: raster.width,
                height: raster.height,
                expected,
                actual: raster.pixels.len(),
            });
        }
        if !(MIN_PPI..=MAX_PPI).contains(&raster.ppi) {
            return Err(ExtractError::Resolution {
                ppi: raster.ppi,
                min: MIN_PPI,
                max: MAX_PPI,
            });
        }
        let scale = INTERNAL_PPI / raster.ppi;
        let (ow, oh) = (
            (raster.width as f32 * scale).round() as usize,
            (raster.height as f32 * scale).round() as usize,
        );
        if !(MIN_SIDE..=MAX_SIDE).contains(&ow) || !(MIN_SIDE..=MAX_SIDE).contains(&oh) {
            return Err(ExtractError::Size {
                width: ow,
                height: oh,
                min: MIN_SIDE,
                max: MAX_SIDE,
            });
        }
        let (img, w, h) = resample::to_working(raster.pixels, raster.width, raster.height, scale);
        let field = field::compute(&img, w, h, p);
        // Zero-mean, unit-variance, ridges bright.
        let n = img.len() as f32;
        let mean = img.iter().sum::<f32>() / n;
        let var = img.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let inv = 1.0 / var.sqrt().max(1e-3);
        let norm: Vec<f32> = img.iter().map(|v| (mean - v) * inv).collect();
        let response = enhance::filter(&self.bank, &norm, w, h, &field);
        let mut sk = skeleton::Skeleton::from_response(&response, w, h);
        let mut found = minutiae::detect(&mut sk, &field, p);
        found.sort_by(|a, b| b.quality.total_cmp(&a.quality));
        found.truncate(p.max_minutiae);
        let features = quality::features(&field, &found);
        let quality = quality::score(&features, &self.weights);
        let unusable = quality::usability(&features, quality);
        let minutiae = found
            .iter()
            .map(|m| Minutia {
                x: m.x as u16,
                y: m.y as u16,
                angle: iso_angle(m.angle),
                kind: m.kind,
                quality: (m.quality * 100.0).round().clamp(1.0, 100.0) as u8,
            })
            .collect();
        Ok(Extraction {
            template: FingerTemplate {
                width: w as u16,
                height: h as u16,
                position: 0,
                quality,
                minutiae,
            },
            quality,
            features,
            unusable,
        })
    }
}

/// A pixel-space angle (clockwise on the image, y down) as the ISO counter-clockwise
/// 1/256-turn unit.
fn iso_angle(pixel: f32) -> u8 {
    let turns = (-pixel / TAU).rem_euclid(1.0);
    ((turns * 256.0).round() as u32 % 256) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raster(width: usize, height: usize, ppi: f32, pixels: &[u8]) -> Raster<'_> {
        Raster {
            width,
            height,
            ppi,
            pixels,
        }
    }

    #[test]
    fn bad_input_gets_a_reason() {
        let x = Extractor::default();
        let px = vec![200u8; 100 * 100];
        let e = x.extract(&raster(100, 101, 500.0, &px)).unwrap_err();
        assert_eq!(e.reason(), "image_size_mismatch");
        let e = x.extract(&raster(100, 100, 90.0, &px)).unwrap_err();
        assert_eq!(e.reason(), "image_resolution_out_of_range");
        let e = x.extract(&raster(100, 100, f32::NAN, &px)).unwrap_err();
        assert_eq!(e.reason(), "image_resolution_out_of_range");
        let small = vec![200u8; 40 * 40];
        let e = x.extract(&raster(40, 40, 500.0, &small)).unwrap_err();
        assert_eq!(e.reason(), "image_dimensions_out_of_range");
        let wide = vec![200u8; 3000 * 64];
        let e = x.extract(&raster(3000, 64, 500.0, &wide)).unwrap_err();
        assert_eq!(e.reason(), "image_dimensions_out_of_range");
    }

    #[test]
    fn a_blank_image_fails_enrolment_without_minutiae() {
        let px = vec![230u8; 300 * 400];
        let out = Extractor::default()
            .extract(&raster(300, 400, 500.0, &px))
            .unwrap();
        assert!(out.template.minutiae.is_empty());
        assert!(out.unusable.is_some());
    }

    #[test]
    fn iso_angle_turns_clockwise_pixel_angles_counter_clockwise() {
        // Pointing down the image (+y, a quarter turn clockwise) is 270° counter-clockwise.
        assert_eq!(iso_angle(std::f32::consts::FRAC_PI_2), 192);
        assert_eq!(iso_angle(0.0), 0);
        assert_eq!(iso_angle(std::f32::consts::PI), 128);
    }
}
