//! Eye images kept for analysts, beside the fingerprint images in the image store
//! (`engine/images.rs` writes both in one synced append before the registry intent). A
//! person's registry row names each eye image's place ([`EyeCapture`]) with the quality the
//! eye encoder measured and the boundaries it found, which the case page draws.
//!
//! PNG, JPEG and JPEG 2000 input is kept as received; BMP and ISO/IEC 19794-6 records are kept
//! as a lossless PNG of the image the code was made from (the record's image of that eye,
//! turned to the base orientation), so the boundaries are in the kept image's pixels.

use std::borrow::Cow;

use tunggal_index::eye::EyeParams;
use tunggal_index::image::{self, ImageFormat};

use super::registry::{key_of, EyeCapture};
use super::GalleryEngine;
use crate::cases::{EyeImageError, EyeImageInfo, EyeOutline};
use crate::enrolment::answer::iris_quality_out;
use crate::enrolment::record::{Eye, EyeImageQuality, KeptEyeImage};
use crate::enrolment::wire::IrisQualityOut;

/// The format and bytes kept for `k` (see the module documentation).
pub fn stored_eye_form(k: &KeptEyeImage) -> Result<(ImageFormat, Cow<'_, [u8]>), String> {
    match &k.decoded {
        Some(decoded) => image::encode_png(decoded)
            .map(|png| (ImageFormat::Png, Cow::Owned(png)))
            .map_err(|e| e.to_string()),
        None => Ok((k.format, Cow::Borrowed(&k.bytes))),
    }
}

/// What the registry row records of a kept eye image.
pub fn eye_capture(
    k: &KeptEyeImage,
    measured: Option<&EyeImageQuality>,
    format: ImageFormat,
    image: tunggal_index::image_store::ImageRef,
) -> EyeCapture {
    let quality = measured.map(|m| iris_quality_out(std::slice::from_ref(m)));
    let out = quality.as_ref().and_then(|q| q.first());
    EyeCapture {
        eye: k.eye.name().to_owned(),
        quality: out.map_or(0, |q| q.quality),
        unusable: out.and_then(|q| q.unusable.clone()),
        measures: out.and_then(|q| q.measures),
        format: format.name().to_owned(),
        width: k.size.0,
        height: k.size.1,
        outline: k
            .segmentation
            .as_ref()
            .map(|s| EyeOutline::of(s, EyeParams::default().radial_range)),
        image,
    }
}

/// The quality of a person's image eyes as the enrolment answer lists it.
pub fn iris_quality(captures: &[EyeCapture]) -> Vec<IrisQualityOut> {
    captures
        .iter()
        .map(|c| IrisQualityOut {
            eye: c.eye.clone(),
            quality: c.quality,
            unusable: c.unusable.clone(),
            measures: c.measures,
        })
        .collect()
}

impl GalleryEngine {
    /// The image eye (by [`Eye::index`]) of a person not deleted.
    fn eye_capture(&self, reference: &str, eye: usize) -> Option<EyeCapture> {
        let name = Eye::from_index(eye)?.name();
        let e = self.registry().get(key_of(reference)?)?;
        if e.deleted || e.deleting {
            return None;
        }
        e.meta.eyes.into_iter().find(|c| c.eye == name)
    }

    /// What the case page shows of a person's image eye (without the code's mask).
    pub fn eye_image_info(&self, reference: &str, eye: usize) -> Option<EyeImageInfo> {
        self.eye_capture(reference, eye).map(|c| EyeImageInfo {
            quality: c.quality,
            unusable: c.unusable,
            width: c.width,
            height: c.height,
            outline: c.outline,
            mask: None,
        })
    }

    /// A person's image eye as a PNG in the pixels of its segmentation; `Ok(None)` when
    /// there is none. A damaged record is an error (logged), never other bytes.
    pub fn eye_image_png(
        &self,
        reference: &str,
        eye: usize,
    ) -> Result<Option<Vec<u8>>, EyeImageError> {
        let Some(mut c) = self.eye_capture(reference, eye) else {
            return Ok(None);
        };
        let bytes = match self.images.read(c.image) {
            // A compaction moved the image after the row was read: read the row again.
            Err(e) if e.is_missing_segment() => match self.eye_capture(reference, eye) {
                Some(again) => {
                    c = again;
                    self.images.read(c.image)
                }
                None => return Ok(None),
            },
            read => read,
        };
        let bytes = bytes.map_err(|e| {
            tracing::error!(
                reference_id = %reference,
                eye = %c.eye,
                error = %e,
                "damaged eye image in the image store"
            );
            EyeImageError(e.to_string())
        })?;
        let format = ImageFormat::from_name(&c.format);
        if format == Some(ImageFormat::Png) {
            return Ok(Some(bytes));
        }
        let decoded = image::decode(&bytes, format).map_err(|e| EyeImageError(e.to_string()))?;
        image::encode_png(&decoded)
            .map(Some)
            .map_err(|e| EyeImageError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(w: u32, h: u32) -> image::FingerImage {
        let pixels = (0..w * h).map(|i| (i * 7 % 251) as u8).collect();
        image::FingerImage::new(w, h, None, pixels).unwrap()
    }

    #[test]
    fn received_images_are_kept_as_received_and_decoded_ones_as_png() {
        let png = image::encode_png(&grey(40, 30)).unwrap();
        let mut k = KeptEyeImage {
            eye: Eye::Left,
            format: ImageFormat::Jpeg,
            bytes: b"jpeg bytes".to_vec(),
            decoded: None,
            size: (40, 30),
            segmentation: None,
        };
        let (format, bytes) = stored_eye_form(&k).unwrap();
        assert_eq!(
            (format, bytes.as_ref()),
            (ImageFormat::Jpeg, &b"jpeg bytes"[..])
        );
        k.decoded = Some(grey(40, 30));
        k.format = ImageFormat::Bmp;
        let (format, bytes) = stored_eye_form(&k).unwrap();
        assert_eq!((format, bytes.as_ref()), (ImageFormat::Png, png.as_slice()));
    }
}
