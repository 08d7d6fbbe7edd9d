//! Enrolment requests built from synthetic population captures, for the demo, tests and the
//! import of generated populations.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use tunggal_datasets::iris_source::Eye;
use tunggal_datasets::nik::Sex;
use tunggal_datasets::output::iso::encode_template;
use tunggal_datasets::population::Capture;

use crate::enrolment::wire::{EnrolmentRequest, FingerprintIn, IrisIn};

/// The `POST /v1/enrolments` body of `capture`, submitted by `service_point` of `district`.
/// Fingers whose template cannot be encoded are left out.
pub fn request_of(
    capture: &Capture,
    request_id: &str,
    district: &str,
    service_point: &str,
) -> EnrolmentRequest {
    let d = &capture.demographics;
    EnrolmentRequest {
        request_id: request_id.to_owned(),
        nik: d.nik.to_string(),
        name: d.name.clone(),
        sex: match d.sex {
            Sex::Male => "male",
            Sex::Female => "female",
        }
        .to_owned(),
        date_of_birth: d.dob.to_string(),
        district: district.to_owned(),
        service_point: service_point.to_owned(),
        citizenship: "WNI".to_owned(),
        passport_number: None,
        kitap_number: None,
        fingerprints: capture
            .fingers
            .iter()
            .filter_map(|t| {
                Some(FingerprintIn {
                    position: i64::from(t.position),
                    format: Some("iso19794-2".to_owned()),
                    quality: Some(i64::from(t.quality.min(100))),
                    template: Some(B64.encode(encode_template(t).ok()?)),
                    image: None,
                })
            })
            .collect(),
        irises: capture
            .irises
            .iter()
            .map(|i| IrisIn {
                eye: match i.eye {
                    Eye::Left => "left",
                    Eye::Right => "right",
                }
                .to_owned(),
                layout: Some(i.layout.clone()),
                code: Some(B64.encode(&i.code)),
                mask: Some(B64.encode(&i.mask)),
                image: None,
            })
            .collect(),
        photo: None,
        signature: None,
        callback_url: None,
    }
}
