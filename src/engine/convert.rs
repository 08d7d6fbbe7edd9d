//! Conversions between the service's validated records, the gallery's enrolments, the
//! registry's stored forms and the case contract.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use tunggal_domain::nik::Sex;
use tunggal_index::gallery::{Enrolment, IrisCode, GALLERY_IRIS_LAYOUT};
use tunggal_index::iris::IrisTemplate;
use tunggal_index::search::GalleryMatch;

use super::registry::{reference_id, PersonMeta, StoredBiometrics, StoredCandidate, StoredIris};
use crate::cases::{IdenticalCapture, PersonSummary, Sameness};
use crate::clock::now_rfc3339;
use crate::enrolment::record::{Citizenship, EnrolmentRecord, Eye, Probe};

/// The gallery enrolment of a probe. Irises of another layout than the gallery's are left
/// out (the gallery compares 2048-bit codes only).
pub fn enrolment(probe: &Probe) -> Enrolment {
    let fingers = probe
        .fingers
        .iter()
        .map(|f| {
            let mut t = f.template.clone();
            t.position = f.position.code();
            t
        })
        .collect();
    let irises = probe
        .irises
        .iter()
        .filter_map(|i| IrisCode::from_template(i.eye.gallery_slot(), &i.template).ok())
        .collect();
    Enrolment { fingers, irises }
}

/// The stored form of a probe's biometrics (gallery-layout irises only).
pub fn stored_biometrics(probe: &Probe) -> StoredBiometrics {
    let e = enrolment(probe);
    let irises = probe
        .irises
        .iter()
        .filter(|i| i.template.layout() == GALLERY_IRIS_LAYOUT)
        .map(|i| StoredIris {
            eye: i.eye,
            code: B64.encode(i.template.code_bytes()),
            mask: B64.encode(i.template.mask_bytes()),
        })
        .collect();
    StoredBiometrics {
        fingers: e.fingers,
        irises,
    }
}

/// The template of a stored iris.
pub fn stored_iris_template(iris: &StoredIris) -> Option<IrisTemplate> {
    let code = B64.decode(&iris.code).ok()?;
    let mask = B64.decode(&iris.mask).ok()?;
    IrisTemplate::from_bytes(GALLERY_IRIS_LAYOUT, &code, &mask).ok()
}

/// The gallery enrolment of stored biometrics.
pub fn stored_enrolment(b: &StoredBiometrics) -> Enrolment {
    Enrolment {
        fingers: b.fingers.clone(),
        irises: b
            .irises
            .iter()
            .filter_map(|i| {
                stored_iris_template(i)
                    .and_then(|t| IrisCode::from_template(i.eye.gallery_slot(), &t).ok())
            })
            .collect(),
    }
}

/// A search candidate as kept in the registry.
pub fn stored_candidate(c: &GalleryMatch) -> StoredCandidate {
    let mut finger_scores = [None; 10];
    for (slot, f) in c.fingers.iter().enumerate() {
        if let (Some(f), Some(out)) = (f, finger_scores.get_mut(slot)) {
            *out = Some(f.score);
        }
    }
    let mut identical = IdenticalCapture::default();
    for (slot, f) in c.fingers.iter().enumerate() {
        if let (Some(f), Some(out)) = (f, identical.fingers.get_mut(slot)) {
            *out = f.same.map(Sameness::of);
        }
    }
    let mut iris_distances = [None; 2];
    for (slot, s) in c.eyes.iter().enumerate() {
        if let (Some(s), Some(eye)) = (s, Eye::from_gallery_slot(slot)) {
            iris_distances[eye.index()] = s.hd_norm;
            identical.eyes[eye.index()] = s.same.map(Sameness::of);
        }
    }
    StoredCandidate {
        key: c.key,
        score: f64::from(c.fused),
        finger_scores,
        iris_distances,
        identical,
    }
}

/// Demographics and attachments of a record about to be matched under `key`.
pub fn person_meta(key: u64, record: &EnrolmentRecord) -> PersonMeta {
    let p = &record.person;
    let (citizenship, passport_number, kitap_number) = match &p.citizenship {
        Citizenship::Wni => ("WNI", None, None),
        Citizenship::Wna {
            passport_number,
            kitap_number,
        } => (
            "WNA",
            Some(passport_number.clone()),
            Some(kitap_number.clone()),
        ),
    };
    PersonMeta {
        summary: PersonSummary {
            reference_id: reference_id(key),
            request_id: record.request_id.clone(),
            nik: p.nik.to_string(),
            name: p.name.clone(),
            sex: match p.sex {
                Sex::Male => "M",
                Sex::Female => "F",
            }
            .to_owned(),
            date_of_birth: p.date_of_birth.to_string(),
            district: record.origin.district.clone(),
            service_point: record.origin.service_point.clone(),
            enrolled_at: now_rfc3339(),
            citizenship: citizenship.to_owned(),
            passport_number,
            kitap_number,
            has_photo: record.photo.is_some(),
            has_signature: record.signature.is_some(),
        },
        photo: record.photo.as_ref().map(|b| B64.encode(b)),
        signature: record.signature.as_ref().map(|b| B64.encode(b)),
        callback_url: record.callback_url.clone(),
        fingers: Vec::new(),
        eyes: Vec::new(),
    }
}
