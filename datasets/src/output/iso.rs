//! Internal templates as ISO/IEC 19794-2:2005 records.

use tunggal_index::template::iso::{encode, FingerView, IsoRecord, RawMinutia};
use tunggal_index::template::{FingerTemplate, MinutiaKind, TemplateError, INTERNAL_PX_PER_CM};

/// Resolution written to records, px/cm (500 ppi rounded, as in the FVC2002 templates).
pub const RECORD_PX_PER_CM: u16 = 197;

fn to_record_units(v: u16) -> u16 {
    let scaled = f32::from(v) * f32::from(RECORD_PX_PER_CM) / INTERNAL_PX_PER_CM;
    (scaled.round() as u16).min(0x3fff)
}

/// One-view record holding `template` (at most 255 minutiae are kept).
pub fn record(template: &FingerTemplate) -> IsoRecord {
    let minutiae = template
        .minutiae
        .iter()
        .take(255)
        .map(|m| RawMinutia {
            kind: match m.kind {
                MinutiaKind::Other => 0,
                MinutiaKind::Ending => 1,
                MinutiaKind::Bifurcation => 2,
            },
            x: to_record_units(m.x),
            y: to_record_units(m.y),
            angle: m.angle,
            quality: m.quality.min(100),
        })
        .collect();
    IsoRecord {
        equipment: 0,
        width: to_record_units(template.width),
        height: to_record_units(template.height),
        res_x: RECORD_PX_PER_CM,
        res_y: RECORD_PX_PER_CM,
        views: vec![FingerView {
            position: template.position.min(10),
            view_number: 0,
            impression_type: 0,
            quality: template.quality.min(100),
            minutiae,
            extended: Vec::new(),
        }],
    }
}

/// The encoded record of `template`; fails only for values the format cannot hold
/// (a minutia outside the image, for instance).
pub fn encode_template(template: &FingerTemplate) -> Result<Vec<u8>, TemplateError> {
    encode(&record(template))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tunggal_index::template::{iso::decode, Minutia};

    #[test]
    fn templates_survive_an_iso_round_trip() {
        let minutiae = (0..60)
            .map(|i| Minutia {
                x: 3 + i * 5,
                y: 399 - i * 6,
                angle: (i * 37 % 256) as u8,
                kind: if i % 3 == 0 {
                    MinutiaKind::Bifurcation
                } else {
                    MinutiaKind::Ending
                },
                quality: 40 + (i % 50) as u8,
            })
            .collect();
        let t = FingerTemplate {
            width: 300,
            height: 400,
            position: 7,
            quality: 66,
            minutiae,
        };
        let back = decode(&encode_template(&t).unwrap())
            .unwrap()
            .template(0)
            .unwrap();
        assert_eq!(back, t);
    }
}
