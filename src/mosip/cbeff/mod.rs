//! CBEFF XML (ISO/IEC 19785-3, as MOSIP writes it): a root `BIR` holding one `BIR` per
//! sample, each with its `BDBInfo` (format owner and type, modality type and subtype) and its
//! `BDB` (base64, URL-safe as MOSIP encodes it, or standard).
//!
//! Fingers become the wire fingerprints of Tunggal's own API (ISO/IEC 19794-4 images are
//! decoded and their minutiae extracted; ISO/IEC 19794-2 minutiae records parsed), and irises
//! its wire irises (ISO/IEC 19794-6 eye images, segmented and encoded by the engine; or
//! Tunggal's own iris code BDB, [`super::iris_code`]), so the MOSIP path validates biometrics
//! exactly as `POST /v1/enrolments` does. An iris sample that cannot be read is kept as its
//! refusal, so that the request fails on it only when nothing else is usable. Face (19794-5)
//! samples are counted and left out of matching.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::Deserialize;
use thiserror::Error;

use super::iris_code;
use crate::enrolment::wire::{FingerImageIn, FingerprintIn};

mod iris;

pub use iris::{iris_eye, IrisSample};

/// Largest CBEFF document read.
pub const MAX_CBEFF_BYTES: usize = 64 * 1024 * 1024;

/// BDB format types of the ISO/IEC JTC 1 SC 37 patron (owner 257, "Mosip" in MOSIP's
/// documents).
pub mod format_type {
    /// ISO/IEC 19794-2 finger minutiae.
    pub const FINGER_MINUTIAE: u32 = 2;
    /// ISO/IEC 19794-4 finger image.
    pub const FINGER_IMAGE: u32 = 7;
    /// ISO/IEC 19794-5 face image.
    pub const FACE_IMAGE: u32 = 8;
    /// ISO/IEC 19794-6 iris image.
    pub const IRIS_IMAGE: u32 = 9;
    /// Tunggal's iris code BDB ([`super::super::iris_code`]): not an SC 37 format and not
    /// part of MOSIP's specification; written by `tunggal loadgen --protocol mosip`, whose
    /// synthetic population has iris codes and no eye images.
    pub const TUNGGAL_IRIS_CODE: u32 = 0x5447; // 21575, "TG"
}

/// Why a CBEFF document was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CbeffError {
    /// Not well-formed XML, or not a `BIR` tree.
    #[error("not a CBEFF BIR document: {0}")]
    Xml(String),
    /// A sample's BDB is not base64.
    #[error("BIR {index}: the BDB is not base64")]
    Base64 {
        /// The sample's index among the document's BIRs.
        index: usize,
    },
    /// A finger sample names no finger position.
    #[error("BIR {index}: finger subtype {subtype:?} names no finger position")]
    FingerPosition {
        /// The sample's index.
        index: usize,
        /// Its subtype.
        subtype: String,
    },
    /// Two finger samples have one position.
    #[error("BIR {index}: a second sample of finger position {position}")]
    RepeatedFinger {
        /// The sample's index.
        index: usize,
        /// The position.
        position: u8,
    },
    /// A finger sample in a format other than 19794-4 or 19794-2.
    #[error(
        "BIR {index}: finger format type {format_type} is neither 7 (19794-4) nor 2 (19794-2)"
    )]
    FingerFormat {
        /// The sample's index.
        index: usize,
        /// Its BDB format type.
        format_type: u32,
    },
    /// An iris sample names no eye.
    #[error("BIR {index}: iris subtype {subtype:?} names neither the left nor the right eye")]
    IrisEye {
        /// The sample's index.
        index: usize,
        /// Its subtype.
        subtype: String,
    },
    /// Two iris samples have one eye.
    #[error("BIR {index}: a second sample of the {eye} eye")]
    RepeatedIris {
        /// The sample's index.
        index: usize,
        /// `left` or `right`.
        eye: &'static str,
    },
    /// An iris sample in a format other than 19794-6 or Tunggal's iris code.
    #[error("BIR {index}: iris format type {format_type:?} is neither 9 (19794-6) nor 21575 (iris code)")]
    IrisFormat {
        /// The sample's index.
        index: usize,
        /// Its BDB format type.
        format_type: Option<u32>,
    },
    /// An iris code BDB that does not read.
    #[error("BIR {index}: {source}")]
    IrisCode {
        /// The sample's index.
        index: usize,
        /// Why.
        source: iris_code::IrisCodeError,
    },
    /// The document holds no sample with data.
    #[error("the CBEFF document holds no biometric sample with data")]
    NoData,
    /// The document exceeds [`MAX_CBEFF_BYTES`].
    #[error("the CBEFF document exceeds {MAX_CBEFF_BYTES} bytes")]
    TooLarge,
}

#[derive(Debug, Default, Deserialize)]
struct BirXml {
    #[serde(rename = "BDBInfo")]
    bdb_info: Option<BdbInfoXml>,
    #[serde(rename = "BDB")]
    bdb: Option<String>,
    #[serde(rename = "BIR", default)]
    birs: Vec<BirXml>,
}

#[derive(Debug, Default, Deserialize)]
struct BdbInfoXml {
    #[serde(rename = "Format")]
    format: Option<FormatXml>,
    #[serde(rename = "Type")]
    kind: Option<String>,
    #[serde(rename = "Subtype")]
    subtype: Option<String>,
    #[serde(rename = "Quality")]
    quality: Option<QualityXml>,
}

#[derive(Debug, Default, Deserialize)]
struct QualityXml {
    #[serde(rename = "Score")]
    score: Option<String>,
}

/// The format owner (`Organization`, "Mosip" or 257) is not checked: MOSIP writes its
/// own name where ISO/IEC 19785-3 puts the patron's number, and the type alone is read.
#[derive(Debug, Default, Deserialize)]
struct FormatXml {
    #[serde(rename = "Type")]
    kind: Option<String>,
}

/// A modality of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modality {
    /// Fingerprint.
    Finger,
    /// Iris.
    Iris,
    /// Face.
    Face,
    /// Anything else (exception photos, unknown types).
    Other,
}

/// The samples of a CBEFF document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    /// Finger samples in the wire form of Tunggal's API, ascending position.
    pub fingers: Vec<FingerprintIn>,
    /// Iris samples with data, in document order (at most one per eye read; a refused one
    /// carries its reason).
    pub irises: Vec<IrisSample>,
    /// Face samples with data (not used for matching).
    pub faces: usize,
    /// Samples without data (exceptions) or of other modalities, left out.
    pub skipped: usize,
}

/// MOSIP's finger subtype names by ISO position 1–10 (what [`finger_position`] reads back).
pub const FINGER_SUBTYPES: [&str; 10] = [
    "Right Thumb",
    "Right IndexFinger",
    "Right MiddleFinger",
    "Right RingFinger",
    "Right LittleFinger",
    "Left Thumb",
    "Left IndexFinger",
    "Left MiddleFinger",
    "Left RingFinger",
    "Left LittleFinger",
];

/// The ISO finger position (1–10) of a MOSIP finger subtype such as `Left IndexFinger`.
pub fn finger_position(subtype: &str) -> Option<u8> {
    let s: String = subtype
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    let (hand, finger) = if let Some(f) = s.strip_prefix("right") {
        (0, f)
    } else if let Some(f) = s.strip_prefix("left") {
        (5, f)
    } else {
        return None;
    };
    let digit = match finger {
        "thumb" => 1,
        "index" | "indexfinger" => 2,
        "middle" | "middlefinger" => 3,
        "ring" | "ringfinger" => 4,
        "little" | "littlefinger" => 5,
        _ => return None,
    };
    Some(hand + digit)
}

fn modality(kind: Option<&str>, format_type: Option<u32>) -> Modality {
    let named = kind.map(|k| k.trim().to_ascii_lowercase());
    match named.as_deref() {
        Some("finger") => return Modality::Finger,
        Some("iris") => return Modality::Iris,
        Some("face") => return Modality::Face,
        _ => {}
    }
    match format_type {
        Some(format_type::FINGER_IMAGE | format_type::FINGER_MINUTIAE) => Modality::Finger,
        Some(format_type::IRIS_IMAGE) => Modality::Iris,
        Some(format_type::FACE_IMAGE) => Modality::Face,
        _ => Modality::Other,
    }
}

/// Decodes a BDB: URL-safe base64 (MOSIP's encoding) or standard, padded or not, with
/// whitespace ignored.
pub fn decode_bdb(text: &str) -> Option<Vec<u8>> {
    let clean: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let unpadded = clean.trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(unpadded)
        .ok()
        .or_else(|| STANDARD.decode(&clean).ok())
}

/// Leaf BIRs (those with a BDB or a BDBInfo) in document order.
fn leaves<'a>(bir: &'a BirXml, out: &mut Vec<&'a BirXml>) {
    if bir.birs.is_empty() {
        if bir.bdb_info.is_some() || bir.bdb.is_some() {
            out.push(bir);
        }
        return;
    }
    for b in &bir.birs {
        leaves(b, out);
    }
}

/// The local name of the document's root element.
fn root_element(text: &str) -> Result<String, CbeffError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => {
                let name = e.local_name();
                return Ok(name.into_inner().to_owned());
            }
            Ok(Event::Eof) => return Err(CbeffError::Xml("no element".into())),
            Ok(Event::Text(t)) if !t.as_ref().trim().is_empty() => {
                return Err(CbeffError::Xml("text before the root element".into()))
            }
            Ok(_) => {}
            Err(e) => return Err(CbeffError::Xml(e.to_string())),
        }
    }
}

/// Reads a CBEFF document into its samples.
pub fn parse(xml: &[u8]) -> Result<Samples, CbeffError> {
    if xml.len() > MAX_CBEFF_BYTES {
        return Err(CbeffError::TooLarge);
    }
    let text = std::str::from_utf8(xml).map_err(|e| CbeffError::Xml(e.to_string()))?;
    let text = text.trim_start_matches('\u{feff}');
    let root = root_element(text)?;
    if root != "BIR" {
        return Err(CbeffError::Xml(format!(
            "the root element is {root:?}, not BIR"
        )));
    }
    let root: BirXml = quick_xml::de::from_str(text).map_err(|e| CbeffError::Xml(e.to_string()))?;
    let mut samples = Vec::new();
    leaves(&root, &mut samples);
    let mut out = Samples::default();
    for (index, bir) in samples.iter().enumerate() {
        let info = bir.bdb_info.as_ref();
        let format_type = info
            .and_then(|i| i.format.as_ref())
            .and_then(|f| f.kind.as_deref())
            .and_then(|t| t.trim().parse::<u32>().ok());
        let kind = modality(info.and_then(|i| i.kind.as_deref()), format_type);
        let data = match bir.bdb.as_deref().map(str::trim) {
            None | Some("") => {
                out.skipped += 1;
                continue;
            }
            Some(t) => decode_bdb(t).ok_or(CbeffError::Base64 { index })?,
        };
        if data.is_empty() {
            out.skipped += 1;
            continue;
        }
        match kind {
            Modality::Iris => {
                let subtype = info.and_then(|i| i.subtype.as_deref()).unwrap_or_default();
                let sample = iris::sample(index, subtype, format_type, &data, &out.irises);
                out.irises.push(sample);
            }
            Modality::Face => out.faces += 1,
            Modality::Other => out.skipped += 1,
            Modality::Finger => {
                let subtype = info
                    .and_then(|i| i.subtype.as_deref())
                    .unwrap_or_default()
                    .to_owned();
                let position = finger_position(&subtype)
                    .ok_or(CbeffError::FingerPosition { index, subtype })?;
                if out
                    .fingers
                    .iter()
                    .any(|f| f.position == i64::from(position))
                {
                    return Err(CbeffError::RepeatedFinger { index, position });
                }
                let minutiae = match format_type {
                    Some(format_type::FINGER_MINUTIAE) => true,
                    Some(format_type::FINGER_IMAGE) => false,
                    // No format type: the record's own magic decides.
                    None => data.starts_with(b"FMR\0"),
                    Some(other) => {
                        return Err(CbeffError::FingerFormat {
                            index,
                            format_type: other,
                        })
                    }
                };
                // The capture quality MOSIP reports (0–100); 0 when it gives none.
                let quality = info
                    .and_then(|i| i.quality.as_ref())
                    .and_then(|q| q.score.as_deref())
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .map_or(0, |q| q.clamp(0.0, 100.0).round() as i64);
                let encoded = STANDARD.encode(&data);
                out.fingers.push(if minutiae {
                    FingerprintIn {
                        position: i64::from(position),
                        format: Some("iso19794-2".into()),
                        quality: Some(quality),
                        template: Some(encoded),
                        image: None,
                    }
                } else {
                    FingerprintIn {
                        position: i64::from(position),
                        format: None,
                        quality: None,
                        template: None,
                        image: Some(FingerImageIn {
                            format: "iso19794-4".into(),
                            data: encoded,
                            ppi: None,
                        }),
                    }
                });
            }
        }
    }
    if out.fingers.is_empty() && out.irises.is_empty() && out.faces == 0 {
        return Err(CbeffError::NoData);
    }
    out.fingers.sort_by_key(|f| f.position);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn bir(kind: &str, subtype: &str, format: u32, bdb: &str) -> String {
        format!(
            "<BIR><Version><Major>1</Major><Minor>1</Minor></Version>\
             <BIRInfo><Integrity>false</Integrity></BIRInfo>\
             <BDBInfo><Format><Organization>Mosip</Organization><Type>{format}</Type></Format>\
             <CreationDate>2019-06-27T13:40:06.209Z</CreationDate><Type>{kind}</Type>\
             <Subtype>{subtype}</Subtype><Level>Raw</Level><Purpose>Enroll</Purpose>\
             <Quality><Algorithm><Organization>HMAC</Organization><Type>SHA-256</Type>\
             </Algorithm><Score>100</Score></Quality></BDBInfo><BDB>{bdb}</BDB></BIR>"
        )
    }

    pub(super) fn doc(birs: &[String]) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
             <BIR xmlns=\"http://standards.iso.org/iso-iec/19785/-3/ed-2/\">\
             <BIRInfo><Integrity>false</Integrity></BIRInfo>{}</BIR>",
            birs.concat()
        )
    }

    #[test]
    fn positions_follow_iso_numbering() {
        assert_eq!(finger_position("Right Thumb"), Some(1));
        assert_eq!(finger_position("Right IndexFinger"), Some(2));
        assert_eq!(finger_position("Right LittleFinger"), Some(5));
        assert_eq!(finger_position("Left Thumb"), Some(6));
        assert_eq!(finger_position("Left IndexFinger"), Some(7));
        assert_eq!(finger_position("Left RingFinger"), Some(9));
        assert_eq!(finger_position("Left LittleFinger"), Some(10));
        assert_eq!(finger_position("UNKNOWN"), None);
        assert_eq!(finger_position("Left"), None);
    }

    #[test]
    fn samples_are_sorted_by_modality() {
        // "FIR\0" and "FMR\0" in URL-safe base64 without padding, and arbitrary bytes.
        let image = URL_SAFE_NO_PAD.encode(b"FIR\0 020\0 image bytes");
        let minutiae = URL_SAFE_NO_PAD.encode(b"FMR\0 20\0 minutiae");
        let xml = doc(&[
            bir("Finger", "Left IndexFinger", 7, &image),
            bir("Finger", "Right Thumb", 2, &minutiae),
            bir("Iris", "Left", 9, &image),
            bir("Face", "", 8, &image),
            bir("Finger", "Right IndexFinger", 7, ""),
        ]);
        let s = parse(xml.as_bytes()).unwrap();
        assert_eq!(s.fingers.len(), 2);
        assert_eq!(s.fingers[0].position, 1);
        assert_eq!(s.fingers[0].format.as_deref(), Some("iso19794-2"));
        assert_eq!(s.fingers[1].position, 7);
        let img = s.fingers[1].image.as_ref().unwrap();
        assert_eq!(img.format, "iso19794-4");
        assert_eq!(
            STANDARD.decode(&img.data).unwrap(),
            b"FIR\0 020\0 image bytes"
        );
        assert_eq!((s.irises.len(), s.faces, s.skipped), (1, 1, 1));
        // "FIR…" is no iris record: the sample is kept as its refusal.
        assert_eq!(s.irises[0].eye, Some("left"));
        assert!(s.irises[0].iris.is_ok(), "format type 9 is read as 19794-6");
    }

    #[test]
    fn bad_documents_are_refused_with_their_reason() {
        assert!(matches!(parse(b"not xml"), Err(CbeffError::Xml(_))));
        assert!(matches!(parse(b"<BIR><BIR>"), Err(CbeffError::Xml(_))));
        assert_eq!(parse(doc(&[]).as_bytes()), Err(CbeffError::NoData));
        let empty = doc(&[bir("Finger", "Left Thumb", 7, "")]);
        assert_eq!(parse(empty.as_bytes()), Err(CbeffError::NoData));
        let bad = doc(&[bir("Finger", "Left Thumb", 7, "%%%")]);
        assert_eq!(parse(bad.as_bytes()), Err(CbeffError::Base64 { index: 0 }));
        let twice = doc(&[
            bir("Finger", "Left Thumb", 7, "AAAA"),
            bir("Finger", "Left Thumb", 7, "AAAA"),
        ]);
        assert_eq!(
            parse(twice.as_bytes()),
            Err(CbeffError::RepeatedFinger {
                index: 1,
                position: 6
            })
        );
        let nowhere = doc(&[bir("Finger", "Third Hand", 7, "AAAA")]);
        assert!(matches!(
            parse(nowhere.as_bytes()),
            Err(CbeffError::FingerPosition { index: 0, .. })
        ));
        let wsq = doc(&[bir("Finger", "Left Thumb", 99, "AAAA")]);
        assert!(matches!(
            parse(wsq.as_bytes()),
            Err(CbeffError::FingerFormat {
                format_type: 99,
                ..
            })
        ));
    }

    #[test]
    fn bdb_accepts_both_alphabets() {
        assert_eq!(decode_bdb("-_8").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode_bdb("+/8=").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode_bdb(" AQID\n").unwrap(), vec![1, 2, 3]);
    }
}
