//! Validated domain types handed to the matching engine: no base64, no unchecked fields.

use tunggal_domain::date::Date;
use tunggal_domain::nik::{Nik, Sex};
use tunggal_index::iris::IrisTemplate;
use tunggal_index::template::{FingerPosition, FingerTemplate};

/// Which eye an iris comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Eye {
    /// Left eye.
    Left,
    /// Right eye.
    Right,
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
    /// Fingerprints, distinct positions, in ascending position order.
    pub fingers: Vec<Finger>,
    /// Irises, distinct eyes.
    pub irises: Vec<Iris>,
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
