//! Iris BIRs: the eye their subtype names and, in the wire form of Tunggal's API, the iris
//! their BDB carries (an ISO/IEC 19794-6 record, or Tunggal's iris code BDB), or why it
//! cannot be read. A refusal is kept with the sample rather than refusing the document.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::super::iris_code;
use super::{format_type, CbeffError};
use crate::enrolment::wire::{IrisImageIn, IrisIn};

/// An iris sample: its index among the document's BIRs and, in the wire form of Tunggal's
/// API, the iris it carries, or why it cannot be read.
#[derive(Debug, Clone, PartialEq)]
pub struct IrisSample {
    /// The sample's index among the document's BIRs.
    pub index: usize,
    /// The eye its subtype names, when it names one.
    pub eye: Option<&'static str>,
    /// The iris, or why it was refused.
    pub iris: Result<IrisIn, CbeffError>,
}

/// The eye (`right` or `left`) of a MOSIP iris subtype (`Left`, `Right`, also `Left Eye`,
/// `Right Iris`).
pub fn iris_eye(subtype: &str) -> Option<&'static str> {
    let s: String = subtype
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    match s.as_str() {
        "left" | "lefteye" | "leftiris" => Some("left"),
        "right" | "righteye" | "rightiris" => Some("right"),
        _ => None,
    }
}

/// The wire iris of an iris sample's BDB.
pub(super) fn sample(
    index: usize,
    subtype: &str,
    format_type: Option<u32>,
    data: &[u8],
    taken: &[IrisSample],
) -> IrisSample {
    let eye = iris_eye(subtype);
    let iris = match eye {
        None => Err(CbeffError::IrisEye {
            index,
            subtype: subtype.to_owned(),
        }),
        Some(eye) if taken.iter().any(|s| s.eye == Some(eye)) => {
            Err(CbeffError::RepeatedIris { index, eye })
        }
        Some(eye) => read_iris(index, eye, format_type, data),
    };
    IrisSample { index, eye, iris }
}

/// An iris BDB of `eye` in its format: a 19794-6 record, or Tunggal's iris code.
fn read_iris(
    index: usize,
    eye: &str,
    format_type: Option<u32>,
    data: &[u8],
) -> Result<IrisIn, CbeffError> {
    let image = || IrisIn {
        eye: eye.to_owned(),
        layout: None,
        code: None,
        mask: None,
        image: Some(IrisImageIn {
            format: "iso19794-6".into(),
            data: STANDARD.encode(data),
        }),
    };
    let code = || -> Result<IrisIn, CbeffError> {
        let code =
            iris_code::decode(data).map_err(|source| CbeffError::IrisCode { index, source })?;
        Ok(IrisIn {
            eye: eye.to_owned(),
            layout: Some(code.layout),
            code: Some(STANDARD.encode(&code.code)),
            mask: Some(STANDARD.encode(&code.mask)),
            image: None,
        })
    };
    match format_type {
        Some(format_type::IRIS_IMAGE) => Ok(image()),
        Some(format_type::TUNGGAL_IRIS_CODE) => code(),
        // No format type: the record's own magic decides.
        None if data.starts_with(iris_code::MAGIC) => code(),
        None if data.starts_with(b"IIR\0") => Ok(image()),
        other => Err(CbeffError::IrisFormat {
            index,
            format_type: other,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::super::tests::{bir, doc};
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn iris_samples_become_wire_irises_or_their_refusals() {
        let record = URL_SAFE_NO_PAD.encode(b"IIR\x00020\x00 eye");
        let code = iris_code::IrisCodeBdb {
            layout: "daugman-2048".into(),
            code: vec![0xa5; 256],
            mask: vec![0xff; 256],
        };
        let code_bdb = URL_SAFE_NO_PAD.encode(iris_code::encode(&code).unwrap());
        let xml = doc(&[
            bir("Iris", "Right", 9, &record),
            bir("Iris", "Left", format_type::TUNGGAL_IRIS_CODE, &code_bdb),
        ]);
        let s = parse(xml.as_bytes()).unwrap();
        assert_eq!(s.irises.len(), 2);
        let right = s.irises[0].iris.as_ref().unwrap();
        assert_eq!(right.eye, "right");
        let image = right.image.as_ref().unwrap();
        assert_eq!(image.format, "iso19794-6");
        assert_eq!(STANDARD.decode(&image.data).unwrap(), b"IIR\x00020\x00 eye");
        let left = s.irises[1].iris.as_ref().unwrap();
        assert_eq!(left.layout.as_deref(), Some("daugman-2048"));
        assert_eq!(
            STANDARD.decode(left.code.as_ref().unwrap()).unwrap(),
            code.code
        );
        // Refusals stay with their samples; the document is still read.
        let xml = doc(&[
            bir("Iris", "Left Eye", 77, &record),
            bir("Iris", "Left", 9, &record),
            bir("Iris", "Middle", 9, &record),
            bir("Iris", "Right", format_type::TUNGGAL_IRIS_CODE, &record),
        ]);
        let s = parse(xml.as_bytes()).unwrap();
        assert_eq!(s.irises.len(), 4);
        assert_eq!(
            s.irises[0].iris,
            Err(CbeffError::IrisFormat {
                index: 0,
                format_type: Some(77)
            })
        );
        assert_eq!(
            s.irises[1].iris,
            Err(CbeffError::RepeatedIris {
                index: 1,
                eye: "left"
            })
        );
        assert!(matches!(
            s.irises[2].iris,
            Err(CbeffError::IrisEye { index: 2, .. })
        ));
        assert!(matches!(
            s.irises[3].iris,
            Err(CbeffError::IrisCode { index: 3, .. })
        ));
        assert_eq!(iris_eye("Left"), Some("left"));
        assert_eq!(iris_eye("RIGHT IRIS"), Some("right"));
        assert_eq!(iris_eye("Unknown"), None);
    }
}
