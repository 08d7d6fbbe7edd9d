//! Eye images to iris codes: segmentation, rubber-sheet normalisation, phase encoding,
//! quality and the failure-to-enrol rule.
//!
//! [`EyeEncoder::encode`] takes an 8-bit grey near-infrared eye image (the decoded
//! [`FingerImage`] raster of [`crate::image`]) and an [`IrisLayout`], and returns an
//! [`EyeEncoding`]: the [`IrisTemplate`] the iris matcher and gallery take, the
//! [`EyeQuality`] and the [`EyeSegmentation`] (circles and eyelid curves, to draw).
//!
//! # Pipeline
//!
//! 1. [`segment`](self::segment): reflections, pupil, limbus, eyelids (see that module).
//! 2. [`polar`](self::polar): the annulus between the pupil and limbus circles resampled on
//!    a `radial_samples × angular` grid, with a mask for samples outside the image, under an
//!    eyelid, on a reflection or darker than the eyelash threshold.
//! 3. [`filter`](self::filter): separable Gabor filters, one per layout filter, at each
//!    (ring, angular position), quantised to 2 phase bits, the mask carried through.
//! 4. [`quality`](self::quality): the measures, the 0–100 score and the failure rule.
//!
//! # Conventions
//!
//! Angular position `a` of `n` is the angle `2π a / n` from the image's +x axis (towards
//! the right of the image), counter-clockwise as the image is viewed (towards its top), on
//! both the pupil and the limbus circle. Ring 0 is next to the pupil. Bit 0 of a position is
//! the sign of the real (even) response, bit 1 that of the imaginary (odd) one. Rotating
//! the eye image counter-clockwise by `2π k / n` therefore rotates the code by `k`
//! positions, exactly what [`IrisTemplate::rotated`] does and the matcher's rotation search
//! undoes. The bit order is that of [`crate::iris::layout`].
//!
//! Work is linear in the image size after a fixed reduction: the short side is reduced by a
//! whole factor to about [`EyeParams::working_side`] pixels for the searches, and the
//! normalisation samples the full-resolution image. Filter kernels are computed once per
//! encoder; no per-pixel allocation.

mod blob;
mod distance;
mod error;
mod eyelid;
mod filter;
mod params;
mod plane;
mod polar;
mod pupil;
pub mod quality;
mod rings;
mod search;
pub mod segment;

pub use error::EyeError;
pub use params::EyeParams;
pub use quality::EyeQuality;
pub use segment::{Circle, EyeSegmentation, Eyelid};

use crate::image::FingerImage;
use crate::iris::{IrisLayout, IrisTemplate, MatchConfig};
use filter::FilterBank;

/// Smallest accepted side of an eye image, in pixels.
pub const MIN_SIDE: u32 = 96;
/// Largest accepted side of an eye image, in pixels.
pub const MAX_SIDE: u32 = 2_000;

/// An encoded eye image.
#[derive(Debug, Clone, PartialEq)]
pub struct EyeEncoding {
    /// Code and mask, in the layout asked for.
    pub template: IrisTemplate,
    /// Quality measures and score.
    pub quality: EyeQuality,
    /// Boundaries found, in image pixels.
    pub segmentation: EyeSegmentation,
}

/// The normalised iris of one image, for inspection: `rows × cols` grey samples (row 0 next
/// to the pupil, column `j` at the angle `2π j / cols` counter-clockwise from the +x axis)
/// and whether each is usable.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalisedIris {
    /// Rows (radial samples).
    pub rows: usize,
    /// Columns (angular samples).
    pub cols: usize,
    /// Grey levels, row-major.
    pub values: Vec<f32>,
    /// Usable samples, row-major.
    pub valid: Vec<bool>,
}

/// Encodes eye images into iris templates; holds the settings and the filter banks of the
/// named layouts.
#[derive(Debug, Clone)]
pub struct EyeEncoder {
    params: EyeParams,
    banks: Vec<FilterBank>,
}

impl EyeEncoder {
    /// An encoder with these settings (checked).
    pub fn new(params: EyeParams) -> Result<Self, EyeError> {
        params.validate()?;
        let banks = IrisLayout::NAMED
            .iter()
            .map(|(_, layout)| bank_for(*layout, &params))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { params, banks })
    }

    /// The settings.
    pub fn params(&self) -> &EyeParams {
        &self.params
    }

    /// Segments an eye image without encoding it.
    pub fn segment(&self, image: &FingerImage) -> Result<EyeSegmentation, EyeError> {
        check_image(image)?;
        segment::segment(
            image.pixels(),
            image.width() as usize,
            image.height() as usize,
            &self.params,
            0,
        )
        .map(|s| s.segmentation)
    }

    /// Segments an eye image and resamples its iris on the polar grid `layout` is encoded
    /// from, with the mask (what [`EyeEncoder::encode`] filters), for inspection: the pupil
    /// candidate `encode` would take, else the best one.
    pub fn normalise(
        &self,
        image: &FingerImage,
        layout: IrisLayout,
    ) -> Result<(EyeSegmentation, NormalisedIris), EyeError> {
        check_image(image)?;
        let bank = bank_for(layout, &self.params)?;
        let (segmentation, polar) = match self.first_enrolling(image, &bank) {
            Ok((e, polar)) => (e.segmentation, polar),
            Err(_) => {
                let seg = segment::segment(
                    image.pixels(),
                    image.width() as usize,
                    image.height() as usize,
                    &self.params,
                    0,
                )?;
                let (polar, _) = polar::unwrap(&seg, bank.rows(), bank.cols(), &self.params);
                (seg.segmentation, polar)
            }
        };
        Ok((
            segmentation,
            NormalisedIris {
                rows: polar.rows,
                cols: polar.cols,
                values: polar.values,
                valid: polar.valid,
            },
        ))
    }

    /// Encodes an eye image into a template of `layout`, or fails to enrol with a reason.
    ///
    /// When the best pupil candidate fails to enrol in a way a wrong pupil explains, the next
    /// ones (the blobs at the raised thresholds of [`EyeParams::pupil_blob_ladder`], then up
    /// to [`EyeParams::pupil_retries`] seeds) are tried; a failure reports the best
    /// candidate's reason.
    pub fn encode(&self, image: &FingerImage, layout: IrisLayout) -> Result<EyeEncoding, EyeError> {
        check_image(image)?;
        let owned;
        let bank = match self.banks.iter().find(|b| b.layout() == layout) {
            Some(b) => b,
            None => {
                owned = bank_for(layout, &self.params)?;
                &owned
            }
        };
        self.first_enrolling(image, bank)
            .map(|(encoding, _)| encoding)
    }

    /// The first pupil candidate that enrols; the next candidate is tried only after a
    /// failure that may come from a wrong pupil ([`EyeError::may_be_a_wrong_pupil`]: an
    /// occluded or blurred iris stays a failure). A failure reports the best candidate's
    /// reason.
    fn first_enrolling(
        &self,
        image: &FingerImage,
        bank: &FilterBank,
    ) -> Result<(EyeEncoding, polar::Polar), EyeError> {
        let mut first: Option<EyeError> = None;
        for choice in 0..self.params.pupil_candidates() {
            match self.attempt(image, bank, choice) {
                Ok(done) => return Ok(done),
                Err(e) => {
                    let again = e.may_be_a_wrong_pupil();
                    first.get_or_insert(e);
                    if !again {
                        break;
                    }
                }
            }
        }
        Err(first.unwrap_or(EyeError::PupilNotFound {
            contrast: 0.0,
            required: self.params.min_pupil_contrast,
        }))
    }

    /// Segments with pupil candidate `choice`, normalises, measures and encodes.
    fn attempt(
        &self,
        image: &FingerImage,
        bank: &FilterBank,
        choice: usize,
    ) -> Result<(EyeEncoding, polar::Polar), EyeError> {
        let layout = bank.layout();
        let seg = segment::segment(
            image.pixels(),
            image.width() as usize,
            image.height() as usize,
            &self.params,
            choice,
        )?;
        let (polar, occlusion) = polar::unwrap(&seg, bank.rows(), bank.cols(), &self.params);
        let quality = quality::measure(&seg, occlusion, polar.values.len(), &self.params);
        quality::check(&quality, &self.params)?;
        let template = bank.encode(&polar, &self.params);
        let required = MatchConfig::for_layout(layout).min_template_bits;
        let valid = template.valid_bits();
        if valid < required {
            return Err(EyeError::Occluded {
                usable: valid as f32 / layout.total_bits() as f32 * 100.0,
                required: required as f32 / layout.total_bits() as f32 * 100.0,
            });
        }
        Ok((
            EyeEncoding {
                template,
                quality,
                segmentation: seg.segmentation,
            },
            polar,
        ))
    }
}

fn bank_for(layout: IrisLayout, params: &EyeParams) -> Result<FilterBank, EyeError> {
    let angular = layout.angular();
    let cols = angular * params.angular_samples.div_ceil(angular).max(1);
    FilterBank::new(layout, params.radial_samples, cols, params)
}

fn check_image(image: &FingerImage) -> Result<(), EyeError> {
    let (w, h) = (image.width(), image.height());
    if w.min(h) < MIN_SIDE || w.max(h) > MAX_SIDE {
        return Err(EyeError::ImageSize {
            width: w,
            height: h,
            min: MIN_SIDE,
            max: MAX_SIDE,
        });
    }
    Ok(())
}
