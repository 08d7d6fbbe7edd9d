//! Validated domain types handed to the matching engine: no base64, no unchecked fields.

use tunggal_domain::date::Date;
use tunggal_domain::nik::{Nik, Sex};
use tunggal_index::iris::IrisTemplate;
use tunggal_index::template::{FingerPosition, FingerTemplate};

/// Which eye an iris comes from.
///
/// # Eye numbering
///
/// Every per-eye array of this crate (a candidate's `iris_distances`, a case candidate's,
/// the registry's stored candidates, [`crate::cases::Evidence::iris`]) is indexed by
/// [`Eye::index`]: **0 = right, 1 = left**, the order of the wire answer's `iris_scores`
/// and of the ISO finger positions (right hand first). The gallery of `tunggal-index`
/// numbers its iris slots the other way (0 = left, 1 = right, fixed by its on-disk record);
/// [`Eye::gallery_slot`] and [`Eye::from_gallery_slot`] are the only conversions, and no
/// code above the gallery handles a bare slot number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Eye {
    /// Left eye.
    Left,
    /// Right eye.
    Right,
}

impl Eye {
    /// Both eyes in per-eye array order: right, then left.
    pub const ALL: [Eye; 2] = [Eye::Right, Eye::Left];

    /// The eye's index in per-eye arrays: 0 right, 1 left.
    pub const fn index(self) -> usize {
        match self {
            Eye::Right => 0,
            Eye::Left => 1,
        }
    }

    /// The eye at per-eye array index `index` (0 right, 1 left).
    pub const fn from_index(index: usize) -> Option<Eye> {
        match index {
            0 => Some(Eye::Right),
            1 => Some(Eye::Left),
            _ => None,
        }
    }

    /// The gallery's iris slot of this eye (`tunggal-index`: 0 left, 1 right).
    pub const fn gallery_slot(self) -> usize {
        match self {
            Eye::Left => 0,
            Eye::Right => 1,
        }
    }

    /// The eye in gallery iris slot `slot` (0 left, 1 right).
    pub const fn from_gallery_slot(slot: usize) -> Option<Eye> {
        match slot {
            0 => Some(Eye::Left),
            1 => Some(Eye::Right),
            _ => None,
        }
    }

    /// `right` or `left`, as the wire names it.
    pub const fn name(self) -> &'static str {
        match self {
            Eye::Right => "right",
            Eye::Left => "left",
        }
    }
}

/// A decoded, checked fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct Finger {
    /// Finger position 1–10.
    pub position: FingerPosition,
    /// Capture quality 0–100 reported by the service point.
    pub quality: u8,
    /// The minutiae in the internal frame.
    pub template: FingerTemplate,
}

/// The quality the extractor measured on a fingerprint submitted as an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageQuality {
    /// Finger position 1–10.
    pub position: FingerPosition,
    /// Quality 0–100.
    pub quality: u8,
    /// The failure-to-enrol reason when the finger was left out of matching.
    pub unusable: Option<&'static str>,
}

/// A fingerprint submitted as an image, as received, for the analysts' cold store.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptImage {
    /// Finger position 1–10.
    pub position: FingerPosition,
    /// The format the request named.
    pub format: tunggal_index::image::ImageFormat,
    /// The bytes as received.
    pub bytes: Vec<u8>,
    /// The resolution the minutiae were extracted at.
    pub ppi: f32,
    /// Width and height of the 500 ppi frame the minutiae are in, pixels.
    pub frame: (u16, u16),
}

/// The quality the eye encoder measured on an iris submitted as an image.
#[derive(Debug, Clone, PartialEq)]
pub struct EyeImageQuality {
    /// Which eye.
    pub eye: Eye,
    /// Quality 0–100 (0 when the eye failed).
    pub quality: u8,
    /// The failure-to-enrol reason when the eye was left out of matching.
    pub unusable: Option<&'static str>,
    /// The measures behind the quality, when segmentation succeeded.
    pub measures: Option<tunggal_index::eye::EyeQuality>,
}

/// An iris submitted as an image, for the analysts' image store: the bytes as received and,
/// for formats kept re-encoded, the decoded image; with the segmentation drawn over it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptEyeImage {
    /// Which eye.
    pub eye: Eye,
    /// The format the request named.
    pub format: tunggal_index::image::ImageFormat,
    /// The bytes as received.
    pub bytes: Vec<u8>,
    /// The decoded image the code was made from, for formats that are kept re-encoded as PNG
    /// (BMP; ISO/IEC 19794-6 records, whose chosen image is turned to the base orientation).
    pub decoded: Option<tunggal_index::image::FingerImage>,
    /// Width and height of the image the segmentation is in, pixels.
    pub size: (u32, u32),
    /// Pupil, limbus and eyelids, in that image's pixels (absent when they were not found).
    pub segmentation: Option<tunggal_index::eye::EyeSegmentation>,
}

/// A decoded, checked iris.
#[derive(Debug, Clone, PartialEq)]
pub struct Iris {
    /// Which eye.
    pub eye: Eye,
    /// Code and mask with their layout.
    pub template: IrisTemplate,
}

/// The biometrics of a request: what a 1:N or 1:1 search compares.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Probe {
    /// Usable fingerprints, distinct positions, in ascending position order.
    pub fingers: Vec<Finger>,
    /// Irises, distinct eyes.
    pub irises: Vec<Iris>,
    /// Fingerprints submitted as images, usable or not: their measured quality, in ascending
    /// position order.
    pub image_quality: Vec<ImageQuality>,
    /// Fingerprints submitted as images, usable or not, as received (kept for analysts when
    /// the request is an enrolment), in ascending position order.
    pub images: Vec<KeptImage>,
    /// Irises submitted as images, usable or not: their measured quality, right eye first.
    pub eye_quality: Vec<EyeImageQuality>,
    /// Irises submitted as images, usable or not, as received, right eye first.
    pub eye_images: Vec<KeptEyeImage>,
}

/// Citizenship and, for foreign residents, their documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Citizenship {
    /// Indonesian citizen (Warga Negara Indonesia).
    Wni,
    /// Foreign permanent resident (Warga Negara Asing).
    Wna {
        /// Passport number.
        passport_number: String,
        /// Permanent stay permit (KITAP) number.
        kitap_number: String,
    },
}

/// Demographics, consistent with the NIK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The NIK.
    pub nik: Nik,
    /// Full name.
    pub name: String,
    /// Sex.
    pub sex: Sex,
    /// Date of birth.
    pub date_of_birth: Date,
    /// Citizenship.
    pub citizenship: Citizenship,
}

/// Where a record was submitted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// District code `PPRRDD`.
    pub district: String,
    /// Service point id.
    pub service_point: String,
}

/// A complete, validated enrolment record.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrolmentRecord {
    /// The client's idempotency key.
    pub request_id: String,
    /// Demographics.
    pub person: Person,
    /// Biometrics.
    pub probe: Probe,
    /// Submitting service point.
    pub origin: Origin,
    /// Opaque photo bytes.
    pub photo: Option<Vec<u8>>,
    /// Opaque signature bytes.
    pub signature: Option<Vec<u8>>,
    /// URL to notify when a case is resolved (stored only).
    pub callback_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::Eye;

    #[test]
    fn array_index_and_gallery_slot_are_opposite_and_round_trip() {
        assert_eq!(Eye::ALL.map(Eye::index), [0, 1]);
        assert_eq!(Eye::ALL.map(Eye::name), ["right", "left"]);
        for eye in Eye::ALL {
            assert_eq!(Eye::from_index(eye.index()), Some(eye));
            assert_eq!(Eye::from_gallery_slot(eye.gallery_slot()), Some(eye));
            assert_ne!(eye.index(), eye.gallery_slot());
        }
        assert_eq!(Eye::Left.gallery_slot(), 0);
        assert_eq!(Eye::from_index(2), None);
        assert_eq!(Eye::from_gallery_slot(2), None);
    }
}
