//! Encodings of an extracted template: ISO/IEC 19794-2:2005 and ANSI INCITS 378-2004 through
//! the writers in [`crate::template`], and ISO/IEC 19794-2:2011 (format version `030`).

use crate::template::{
    ansi, iso, FingerTemplate, FingerView, MinutiaKind, RawMinutia, TemplateError,
};

/// Resolution of the internal frame in px/cm, as records state it (500 ppi).
const PX_PER_CM: u16 = 197;

/// A standard record format for extracted templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    /// ISO/IEC 19794-2:2005.
    Iso2005,
    /// ISO/IEC 19794-2:2011.
    Iso2011,
    /// ANSI INCITS 378-2004.
    Ansi378,
}

fn kind_bits(kind: MinutiaKind) -> u8 {
    match kind {
        MinutiaKind::Other => 0,
        MinutiaKind::Ending => 1,
        MinutiaKind::Bifurcation => 2,
    }
}

/// Internal angle (1/256 turn) to ANSI 2° units, rounding to nearest.
fn ansi_angle(a: u8) -> u8 {
    // a · 45 / 64 units, in 0–179 (256 wraps to 0).
    (((u32::from(a) * 45 + 32) / 64) % 180) as u8
}

fn view(t: &FingerTemplate, ansi_units: bool) -> FingerView {
    FingerView {
        position: t.position,
        view_number: 0,
        impression_type: 0,
        quality: t.quality,
        minutiae: t
            .minutiae
            .iter()
            .map(|m| RawMinutia {
                kind: kind_bits(m.kind),
                x: m.x,
                y: m.y,
                angle: if ansi_units {
                    ansi_angle(m.angle)
                } else {
                    m.angle
                },
                quality: m.quality,
            })
            .collect(),
        extended: Vec::new(),
    }
}

/// Encodes `template` (internal frame, 500 ppi) in `format`.
pub fn encode(template: &FingerTemplate, format: RecordFormat) -> Result<Vec<u8>, TemplateError> {
    match format {
        RecordFormat::Iso2005 => iso::encode(&iso::IsoRecord {
            equipment: 0,
            width: template.width,
            height: template.height,
            res_x: PX_PER_CM,
            res_y: PX_PER_CM,
            views: vec![view(template, false)],
        }),
        RecordFormat::Ansi378 => ansi::encode(&ansi::AnsiRecord {
            product_owner: 0,
            product_type: 0,
            equipment: 0,
            width: template.width,
            height: template.height,
            res_x: PX_PER_CM,
            res_y: PX_PER_CM,
            views: vec![view(template, true)],
        }),
        RecordFormat::Iso2011 => encode_2011(template),
    }
}

fn unencodable(what: &'static str, value: usize, max: usize) -> TemplateError {
    TemplateError::Unencodable {
        view: 0,
        what,
        value,
        max,
    }
}

/// ISO/IEC 19794-2:2011: a 15-byte general header (`FMR\0`, `030\0`, record length,
/// representation count, certification flag 0) and one representation: its length, an
/// unreported capture date (nine 0xFF bytes), unknown device (technology, vendor, type),
/// one quality block (the finger quality, vendor and algorithm 0), then finger position,
/// representation number, resolution, impression type, image size, minutia size 6 with
/// ridge-skeleton-end endings, the minutiae and an empty extended data area.
fn encode_2011(t: &FingerTemplate) -> Result<Vec<u8>, TemplateError> {
    const COORD_MAX: u16 = 0x3fff;
    if t.minutiae.len() > 255 {
        return Err(unencodable("minutia count", t.minutiae.len(), 255));
    }
    for (what, v) in [("image width", t.width), ("image height", t.height)] {
        if v > COORD_MAX {
            return Err(unencodable(what, usize::from(v), usize::from(COORD_MAX)));
        }
    }
    let mut rep = Vec::with_capacity(40 + 6 * t.minutiae.len());
    rep.extend_from_slice(&[0; 4]);
    rep.extend_from_slice(&[0xff; 9]);
    rep.push(0); // capture device technology: unknown
    rep.extend_from_slice(&0u16.to_be_bytes()); // vendor
    rep.extend_from_slice(&0u16.to_be_bytes()); // device type
    rep.push(1); // one quality block
    rep.push(t.quality.min(100));
    rep.extend_from_slice(&0u16.to_be_bytes());
    rep.extend_from_slice(&0u16.to_be_bytes());
    rep.push(t.position);
    rep.push(0); // representation number
    rep.extend_from_slice(&PX_PER_CM.to_be_bytes());
    rep.extend_from_slice(&PX_PER_CM.to_be_bytes());
    rep.push(0); // live-scan plain
    rep.extend_from_slice(&t.width.to_be_bytes());
    rep.extend_from_slice(&t.height.to_be_bytes());
    rep.push((6 << 4) | 1);
    rep.push(t.minutiae.len() as u8);
    for m in &t.minutiae {
        if m.x > COORD_MAX || m.y > COORD_MAX {
            return Err(unencodable(
                "minutia coordinate",
                usize::from(m.x.max(m.y)),
                usize::from(COORD_MAX),
            ));
        }
        rep.extend_from_slice(&((u16::from(kind_bits(m.kind)) << 14) | m.x).to_be_bytes());
        rep.extend_from_slice(&m.y.to_be_bytes());
        rep.push(m.angle);
        rep.push(m.quality.min(100));
    }
    rep.extend_from_slice(&0u16.to_be_bytes());
    let rep_len = u32::try_from(rep.len())
        .map_err(|_| unencodable("representation length", rep.len(), u32::MAX as usize))?;
    rep[..4].copy_from_slice(&rep_len.to_be_bytes());
    let mut out = Vec::with_capacity(15 + rep.len());
    out.extend_from_slice(b"FMR\x00030\x00");
    let total = 15 + rep.len();
    let total32 =
        u32::try_from(total).map_err(|_| unencodable("record length", total, u32::MAX as usize))?;
    out.extend_from_slice(&total32.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.push(0);
    out.extend_from_slice(&rep);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{self, Minutia};

    fn sample() -> FingerTemplate {
        FingerTemplate {
            width: 300,
            height: 400,
            position: 2,
            quality: 70,
            minutiae: vec![
                Minutia {
                    x: 10,
                    y: 20,
                    angle: 0,
                    kind: MinutiaKind::Ending,
                    quality: 50,
                },
                Minutia {
                    x: 150,
                    y: 399,
                    angle: 200,
                    kind: MinutiaKind::Bifurcation,
                    quality: 90,
                },
            ],
        }
    }

    #[test]
    fn iso_2005_and_ansi_round_trip_through_the_decoders() {
        let t = sample();
        for format in [RecordFormat::Iso2005, RecordFormat::Ansi378] {
            let bytes = encode(&t, format).unwrap();
            let back = template::decode(&bytes).unwrap().template(0).unwrap();
            assert_eq!(back.minutiae.len(), 2);
            for (a, b) in back.minutiae.iter().zip(&t.minutiae) {
                assert_eq!((a.x, a.y, a.kind), (b.x, b.y, b.kind));
                let d = a
                    .angle
                    .wrapping_sub(b.angle)
                    .min(b.angle.wrapping_sub(a.angle));
                assert!(d <= 1, "{format:?}: angle {} vs {}", a.angle, b.angle);
            }
        }
    }

    #[test]
    fn iso_2011_layout() {
        let bytes = encode(&sample(), RecordFormat::Iso2011).unwrap();
        assert_eq!(&bytes[..8], b"FMR\x00030\x00");
        let total = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        assert_eq!(total, bytes.len());
        let rep = u32::from_be_bytes([bytes[15], bytes[16], bytes[17], bytes[18]]) as usize;
        assert_eq!(rep + 15, bytes.len());
        // 19-byte representation header, one 5-byte quality block, then the finger data.
        let fd = 15 + 19 + 5;
        assert_eq!(bytes[fd], 2);
        assert_eq!(u16::from_be_bytes([bytes[fd + 7], bytes[fd + 8]]), 300);
        assert_eq!(bytes[fd + 11], 6 << 4 | 1);
        assert_eq!(bytes[fd + 12], 2);
        let m = fd + 13;
        assert_eq!(u16::from_be_bytes([bytes[m], bytes[m + 1]]), (1 << 14) | 10);
        assert_eq!(bytes.len(), m + 12 + 2);
    }
}
