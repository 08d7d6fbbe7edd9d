//! JSON-lines manifests: one line per capture, with templates and iris codes in base64.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;

use super::iso::encode_template;
use super::OutputError;
use crate::iris_source::Eye;
use crate::nik::Sex;
use crate::population::Capture;

/// Format name of finger templates in manifests.
pub const FINGER_FORMAT: &str = "iso19794-2";

/// A finger entry.
#[derive(Debug, Clone, Serialize)]
pub struct FingerEntry {
    /// ISO finger position 1–10.
    pub position: u8,
    /// Always [`FINGER_FORMAT`].
    pub format: &'static str,
    /// Base64 of the ISO 19794-2 record.
    pub template: String,
}

/// An iris entry.
#[derive(Debug, Clone, Serialize)]
pub struct IrisEntry {
    /// Which eye.
    pub eye: Eye,
    /// Code layout name.
    pub layout: String,
    /// Base64 of the packed code bits.
    pub code: String,
    /// Base64 of the packed mask bits.
    pub mask: String,
}

/// The registry district of a line.
#[derive(Debug, Clone, Serialize)]
pub struct DistrictEntry {
    /// Six-digit area code `PPRRDD`.
    pub code: String,
    /// Province name.
    pub province: &'static str,
    /// Regency or city name.
    pub regency: &'static str,
    /// District name.
    pub name: &'static str,
}

/// One manifest line.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestLine {
    /// Ground-truth person id; absent in probe manifests, whose truth is kept apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_id: Option<u64>,
    /// Capture id.
    pub capture_id: String,
    /// NIK as presented.
    pub nik: String,
    /// Name as presented.
    pub name: String,
    /// Sex.
    pub sex: Sex,
    /// Date of birth, `YYYY-MM-DD`.
    pub dob: String,
    /// Registered district.
    pub district: DistrictEntry,
    /// Finger templates (JSON key `finger`).
    #[serde(rename = "finger")]
    pub fingers: Vec<FingerEntry>,
    /// Iris codes (JSON key `iris`).
    #[serde(rename = "iris")]
    pub irises: Vec<IrisEntry>,
}

impl ManifestLine {
    /// The line of `capture`; `with_person` keeps the ground-truth person id.
    pub fn of(capture: &Capture, with_person: bool) -> Result<Self, OutputError> {
        let d = &capture.demographics;
        let fingers = capture
            .fingers
            .iter()
            .map(|t| {
                Ok(FingerEntry {
                    position: t.position,
                    format: FINGER_FORMAT,
                    template: STANDARD.encode(encode_template(t)?),
                })
            })
            .collect::<Result<_, OutputError>>()?;
        Ok(Self {
            person_id: with_person.then_some(capture.person_id),
            capture_id: capture.capture_id.clone(),
            nik: d.nik.to_string(),
            name: d.name.clone(),
            sex: d.sex,
            dob: d.dob.to_string(),
            district: DistrictEntry {
                code: d.district.code(),
                province: d.district.province_name(),
                regency: d.district.regency_name,
                name: d.district.name,
            },
            fingers,
            irises: capture
                .irises
                .iter()
                .map(|i| IrisEntry {
                    eye: i.eye,
                    layout: i.layout.clone(),
                    code: STANDARD.encode(&i.code),
                    mask: STANDARD.encode(&i.mask),
                })
                .collect(),
        })
    }

    /// The line as JSON followed by a newline.
    pub fn to_json_line(&self) -> Result<String, serde_json::Error> {
        let mut s = serde_json::to_string(self)?;
        s.push('\n');
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::population::{CaptureSpec, Population};
    use tunggal_index::template::iso::decode;

    #[test]
    fn lines_carry_decodable_templates_and_registry_fields() {
        let pop = Population::new(3);
        let person = pop.person(4);
        let capture = pop.capture(&person, 0, &CaptureSpec::default());
        let line = ManifestLine::of(&capture, true)
            .unwrap()
            .to_json_line()
            .unwrap();
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["person_id"], 4);
        assert_eq!(v["nik"], person.demographics.nik.to_string());
        assert_eq!(v["finger"].as_array().unwrap().len(), 10);
        let f = &v["finger"][3];
        assert_eq!(f["position"], 4);
        assert_eq!(f["format"], "iso19794-2");
        let bytes = STANDARD.decode(f["template"].as_str().unwrap()).unwrap();
        let back = decode(&bytes).unwrap().template(0).unwrap();
        assert_eq!(back, capture.fingers[3]);
        assert_eq!(v["iris"][0]["eye"], "left");
        let hidden = ManifestLine::of(&capture, false)
            .unwrap()
            .to_json_line()
            .unwrap();
        assert!(!hidden.contains("person_id"));
    }
}
