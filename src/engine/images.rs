//! Fingerprint images kept for analysts (eye images beside them: `engine/eye_images.rs`), in the image store `DATA_DIR/images/`
//! (`tunggal_index::image_store`: append-only segments, a CRC per record), never in the
//! gallery's hot records nor in the state store's rows. A person's registry row names each
//! image's place ([`FingerCapture`]), with the quality the extractor measured.
//!
//! An enrolment writes its images before its registry intent, and the store syncs them
//! before returning, so an acknowledged enrolment never names a lost image; images of an
//! enrolment that never commits stay unreferenced. A deleted person's images are no longer
//! read; their bytes stay in the segments until a compaction (`image_compaction.rs`)
//! copies the images still named and removes the old segments.
//!
//! Compressed input (WSQ, JPEG 2000, PNG, and ISO/IEC 19794-4 records holding a compressed
//! view) is kept as received; uncompressed input (TIFF, ISO/IEC 19794-4 raw or bit-packed
//! views) is decoded and kept losslessly as PNG.

use std::borrow::Cow;

use rayon::prelude::*;
use tunggal_index::image::{self, ImageFormat};
use tunggal_index::image_store::ImageStoreError;

use super::eye_images::{eye_capture, stored_eye_form};
use super::registry::{key_of, EyeCapture, FingerCapture};
use super::GalleryEngine;
use crate::cases::{FingerImageError, FingerPrintInfo};
use crate::enrolment::record::{KeptImage, Probe};
use crate::enrolment::wire::FingerQualityOut;

/// Name of the image store's directory inside the data directory.
pub const IMAGES_DIR: &str = "images";

/// Why an enrolment's images could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    /// The image store failed.
    #[error(transparent)]
    Store(#[from] ImageStoreError),
    /// An uncompressed image could not be re-encoded as PNG.
    #[error("the {what} could not be kept: {detail}")]
    Encode {
        /// Which image.
        what: String,
        /// Why.
        detail: String,
    },
}

impl KeepError {
    /// Whether the failure is a full disk.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_storage_full())
    }
}

/// The format and bytes kept for `k` (see the module documentation).
pub fn stored_form(k: &KeptImage) -> Result<(ImageFormat, Cow<'_, [u8]>), String> {
    let compressed = match k.format {
        ImageFormat::Png | ImageFormat::Wsq | ImageFormat::Jpeg2000 | ImageFormat::Jpeg => true,
        ImageFormat::Tiff | ImageFormat::Bmp | ImageFormat::Iso19794_6 => false,
        ImageFormat::Iso19794_4 => image::decode_iso_record(&k.bytes)
            .map_err(|e| e.to_string())?
            .first()
            .is_some_and(|v| v.compressed),
    };
    if compressed {
        return Ok((k.format, Cow::Borrowed(&k.bytes)));
    }
    let decoded = image::decode(&k.bytes, Some(k.format)).map_err(|e| e.to_string())?;
    let png = image::encode_png(&decoded).map_err(|e| e.to_string())?;
    Ok((ImageFormat::Png, Cow::Owned(png)))
}

/// The quality of a person's image fingers as the enrolment answer lists it.
pub fn fingerprint_quality(captures: &[FingerCapture]) -> Vec<FingerQualityOut> {
    captures
        .iter()
        .map(|c| FingerQualityOut {
            position: c.position,
            quality: c.quality,
            unusable: c.unusable.clone(),
        })
        .collect()
}

/// What a registry row records of one probe's kept images.
pub type KeptCaptures = (Vec<FingerCapture>, Vec<EyeCapture>);

/// The stored forms of one probe's finger and eye images (re-encoding on rayon).
type Forms<'a> = (
    Vec<(ImageFormat, Cow<'a, [u8]>)>,
    Vec<(ImageFormat, Cow<'a, [u8]>)>,
);

fn stored_forms(probe: &Probe) -> Result<Forms<'_>, KeepError> {
    let (forms, eye_forms) = rayon::join(
        || {
            probe
                .images
                .par_iter()
                .map(|k| {
                    stored_form(k).map_err(|detail| KeepError::Encode {
                        what: format!("fingerprint image at position {}", k.position.code()),
                        detail,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        },
        || {
            probe
                .eye_images
                .par_iter()
                .map(|k| {
                    stored_eye_form(k).map_err(|detail| KeepError::Encode {
                        what: format!("{} eye image", k.eye.name()),
                        detail,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        },
    );
    Ok((forms?, eye_forms?))
}

/// What the registry records of `probe`'s images, given their stored forms and the places
/// the store gave them (fingers first, then eyes).
fn captures(
    probe: &Probe,
    (forms, eye_forms): &Forms<'_>,
    mut refs: Vec<tunggal_index::image_store::ImageRef>,
) -> KeptCaptures {
    let eye_refs = refs.split_off(forms.len().min(refs.len()));
    let fingers = probe
        .images
        .iter()
        .zip(forms.iter().zip(refs))
        .map(|(k, ((format, _), image))| {
            let measured = probe
                .image_quality
                .iter()
                .find(|q| q.position == k.position);
            FingerCapture {
                position: k.position.code(),
                quality: measured.map_or(0, |q| q.quality),
                unusable: measured.and_then(|q| q.unusable).map(str::to_owned),
                format: format.name().to_owned(),
                ppi: k.ppi,
                width: k.frame.0,
                height: k.frame.1,
                image,
            }
        })
        .collect();
    let eyes = probe
        .eye_images
        .iter()
        .zip(eye_forms.iter().zip(eye_refs))
        .map(|(k, ((format, _), image))| {
            let measured = probe.eye_quality.iter().find(|q| q.eye == k.eye);
            eye_capture(k, measured, *format, image)
        })
        .collect();
    (fingers, eyes)
}

impl GalleryEngine {
    /// Keeps the finger and eye images of `probe` durably, in one synced append; returns
    /// what the registry row records of them. CPU work (re-encoding) runs on rayon; the
    /// caller only waits.
    pub(super) fn keep_images(&self, probe: &Probe) -> Result<KeptCaptures, KeepError> {
        let mut kept = self.keep_images_of(&[probe])?;
        Ok(kept.pop().unwrap_or_default())
    }

    /// [`GalleryEngine::keep_images`] for several probes with one synced append (a bulk
    /// load's chunk); one entry per probe, in order.
    pub(super) fn keep_images_of(&self, probes: &[&Probe]) -> Result<Vec<KeptCaptures>, KeepError> {
        if probes
            .iter()
            .all(|p| p.images.is_empty() && p.eye_images.is_empty())
        {
            return Ok(vec![KeptCaptures::default(); probes.len()]);
        }
        let forms = probes
            .par_iter()
            .map(|p| stored_forms(p))
            .collect::<Result<Vec<_>, _>>()?;
        let payloads: Vec<&[u8]> = forms
            .iter()
            .flat_map(|(f, e)| f.iter().chain(e))
            .map(|(_, b)| b.as_ref())
            .collect();
        let mut refs = self.images.append(&payloads)?.into_iter();
        Ok(probes
            .iter()
            .zip(&forms)
            .map(|(probe, f)| {
                let mine = refs.by_ref().take(f.0.len() + f.1.len()).collect();
                captures(probe, f, mine)
            })
            .collect())
    }

    /// The image finger at `position` of a person not deleted.
    fn capture(&self, reference: &str, position: u8) -> Option<FingerCapture> {
        let e = self.registry().get(key_of(reference)?)?;
        if e.deleted || e.deleting {
            return None;
        }
        e.meta.fingers.into_iter().find(|f| f.position == position)
    }

    /// What the case page shows of a person's image finger.
    pub fn finger_print_info(&self, reference: &str, position: u8) -> Option<FingerPrintInfo> {
        self.capture(reference, position).map(|c| FingerPrintInfo {
            quality: c.quality,
            unusable: c.unusable,
            width: c.width,
            height: c.height,
        })
    }

    /// A person's image finger as a PNG in the 500 ppi frame of its minutiae; `Ok(None)`
    /// when there is none. A damaged record is an error (logged), never other bytes.
    pub fn finger_print_png(
        &self,
        reference: &str,
        position: u8,
    ) -> Result<Option<Vec<u8>>, FingerImageError> {
        let Some(mut c) = self.capture(reference, position) else {
            return Ok(None);
        };
        let bytes = match self.images.read(c.image) {
            // A compaction moved the image after the row was read: read the row again.
            Err(e) if e.is_missing_segment() => match self.capture(reference, position) {
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
                position,
                error = %e,
                "damaged fingerprint image in the image store"
            );
            FingerImageError(e.to_string())
        })?;
        let decoded = image::decode(&bytes, ImageFormat::from_name(&c.format))
            .map_err(|e| FingerImageError(e.to_string()))?;
        let frame = if (c.ppi - 500.0).abs() < 0.5 {
            decoded
        } else {
            image::to_500ppi(&decoded, c.ppi).map_err(|e| FingerImageError(e.to_string()))?
        };
        image::encode_png(&frame)
            .map(Some)
            .map_err(|e| FingerImageError(e.to_string()))
    }

    /// Bytes held by the image store's segments.
    pub fn image_store_bytes(&self) -> Result<u64, ImageStoreError> {
        self.images.bytes_on_disk()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tunggal_index::template::FingerPosition;

    fn grey(w: u32, h: u32) -> image::FingerImage {
        let pixels = (0..w * h).map(|i| (i * 7 % 251) as u8).collect();
        image::FingerImage::new(w, h, Some(500.0), pixels).unwrap()
    }

    fn kept(format: ImageFormat, bytes: Vec<u8>) -> KeptImage {
        KeptImage {
            position: FingerPosition::new(2).unwrap(),
            format,
            bytes,
            ppi: 500.0,
            frame: (40, 30),
        }
    }

    #[test]
    fn compressed_input_is_kept_as_received_and_pngs_pass_through() {
        let png = image::encode_png(&grey(40, 30)).unwrap();
        let k = kept(ImageFormat::Png, png.clone());
        let (format, bytes) = stored_form(&k).unwrap();
        assert_eq!(format, ImageFormat::Png);
        assert!(matches!(bytes, Cow::Borrowed(_)));
        assert_eq!(bytes.as_ref(), png.as_slice());
        // WSQ is kept without being decoded: any bytes labelled WSQ pass through unchanged.
        let wsq = b"\xff\xa0\xff\xa8 WSQ bytes kept as received".to_vec();
        let k = kept(ImageFormat::Wsq, wsq.clone());
        let (format, bytes) = stored_form(&k).unwrap();
        assert_eq!((format, bytes.as_ref()), (ImageFormat::Wsq, wsq.as_slice()));
    }

    /// An ISO/IEC 19794-4:2005 record of one view (the layout `index/tests/image_formats.rs`
    /// builds).
    fn iso_2005(data: &[u8], w: u16, h: u16, compression: u8) -> Vec<u8> {
        let total = 36 + 14 + data.len();
        let mut r = b"FIR\x00010\x00".to_vec();
        r.extend_from_slice(&(total as u64).to_be_bytes()[2..]);
        r.extend_from_slice(&[0; 4]);
        r.extend_from_slice(&[0; 2]);
        r.extend_from_slice(&31u16.to_be_bytes());
        r.push(1);
        r.push(1);
        for _ in 0..4 {
            r.extend_from_slice(&500u16.to_be_bytes());
        }
        r.push(8);
        r.push(compression);
        r.extend_from_slice(&[0; 2]);
        r.extend_from_slice(&((14 + data.len()) as u32).to_be_bytes());
        r.extend_from_slice(&[2, 1, 1, 80, 0]);
        r.extend_from_slice(&w.to_be_bytes());
        r.extend_from_slice(&h.to_be_bytes());
        r.push(0);
        r.extend_from_slice(data);
        r
    }

    #[test]
    fn uncompressed_iso_records_are_kept_losslessly_as_png_and_compressed_ones_as_received() {
        let img = grey(40, 30);
        let raw = iso_2005(img.pixels(), 40, 30, 0);
        assert!(!image::decode_iso_record(&raw).unwrap()[0].compressed);
        let k = kept(ImageFormat::Iso19794_4, raw.clone());
        let (format, bytes) = stored_form(&k).unwrap();
        assert_eq!(format, ImageFormat::Png);
        assert!(bytes.len() < raw.len());
        let back = image::decode(&bytes, Some(ImageFormat::Png)).unwrap();
        assert_eq!(back.pixels(), img.pixels());
        let png = image::encode_png(&img).unwrap();
        let wrapped = iso_2005(&png, 40, 30, 5);
        assert!(image::decode_iso_record(&wrapped).unwrap()[0].compressed);
        let k = kept(ImageFormat::Iso19794_4, wrapped.clone());
        let (format, bytes) = stored_form(&k).unwrap();
        assert_eq!(
            (format, bytes.as_ref()),
            (ImageFormat::Iso19794_4, wrapped.as_slice())
        );
    }
}
