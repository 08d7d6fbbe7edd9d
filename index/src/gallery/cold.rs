//! The cold part of a person, kept in the blob store and read only for the shortlist: every
//! finger's raw minutiae (for analysts and re-preparation) and its prepared cylinders.
//!
//! Layout (little-endian):
//!
//! ```text
//! magic "TGC1" | presence u16 (bit i: finger slot i follows)
//! per finger, in slot order:
//!   width u16 | height u16 | position u8 | quality u8 | n u16 | n × minutia (x u16, y u16,
//!   angle u8, kind u8, quality u8)
//!   stride u8 | cylinders u16 | per cylinder: source minutia u16, stride × u64 bits
//! ```
//!
//! Cylinder geometry (position and direction) is not stored: it is the source minutia's,
//! recomputed exactly on decode. A cylinder costs 2 + 8·stride bytes (58 with the default
//! 8×8×6 cylinders).

use crate::finger::cylinder::to_points;
use crate::finger::PreparedTemplate;
use crate::template::{FingerTemplate, Minutia, MinutiaKind};

use super::person_record::FINGERS;

const MAGIC: &[u8; 4] = b"TGC1";

/// One finger as the cold record holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColdFinger {
    /// The minutiae as enrolled.
    pub template: FingerTemplate,
    /// The prepared cylinders.
    pub prepared: PreparedTemplate,
}

/// Every finger of a person, by slot.
pub type ColdFingers = [Option<ColdFinger>; FINGERS];

fn kind_code(k: MinutiaKind) -> u8 {
    match k {
        MinutiaKind::Other => 0,
        MinutiaKind::Ending => 1,
        MinutiaKind::Bifurcation => 2,
    }
}

fn kind_of(code: u8) -> Option<MinutiaKind> {
    match code {
        0 => Some(MinutiaKind::Other),
        1 => Some(MinutiaKind::Ending),
        2 => Some(MinutiaKind::Bifurcation),
        _ => None,
    }
}

/// Serialises the fingers (appending to `out`). Fails if a template has more than 65 535
/// minutiae or cylinders, or a cylinder stride above 255 words.
pub fn encode(fingers: &ColdFingers, out: &mut Vec<u8>) -> Option<()> {
    out.extend_from_slice(MAGIC);
    let presence: u16 = (0..FINGERS)
        .filter(|&i| fingers[i].is_some())
        .fold(0, |p, i| p | 1 << i);
    out.extend_from_slice(&presence.to_le_bytes());
    for f in fingers.iter().flatten() {
        let t = &f.template;
        out.extend_from_slice(&t.width.to_le_bytes());
        out.extend_from_slice(&t.height.to_le_bytes());
        out.extend_from_slice(&[t.position, t.quality]);
        out.extend_from_slice(&u16::try_from(t.minutiae.len()).ok()?.to_le_bytes());
        for m in &t.minutiae {
            out.extend_from_slice(&m.x.to_le_bytes());
            out.extend_from_slice(&m.y.to_le_bytes());
            out.extend_from_slice(&[m.angle, kind_code(m.kind), m.quality]);
        }
        let p = &f.prepared;
        out.push(u8::try_from(p.stride).ok()?);
        out.extend_from_slice(&u16::try_from(p.len()).ok()?.to_le_bytes());
        for i in 0..p.len() {
            out.extend_from_slice(&p.source_index[i].to_le_bytes());
            for w in p.cylinder(i) {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
    }
    Some(())
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// Decodes a cold record; `None` if it is malformed.
pub fn decode(bytes: &[u8]) -> Option<ColdFingers> {
    let mut r = Reader { bytes };
    if r.take(4)? != MAGIC {
        return None;
    }
    let presence = r.u16()?;
    let mut out: ColdFingers = Default::default();
    for (slot, finger) in out.iter_mut().enumerate() {
        if presence & (1 << slot) == 0 {
            continue;
        }
        let (width, height) = (r.u16()?, r.u16()?);
        let (position, quality) = (r.u8()?, r.u8()?);
        let n = usize::from(r.u16()?);
        let mut minutiae = Vec::with_capacity(n);
        for _ in 0..n {
            minutiae.push(Minutia {
                x: r.u16()?,
                y: r.u16()?,
                angle: r.u8()?,
                kind: kind_of(r.u8()?)?,
                quality: r.u8()?,
            });
        }
        let template = FingerTemplate {
            width,
            height,
            position,
            quality,
            minutiae,
        };
        let stride = usize::from(r.u8()?);
        let cylinders = usize::from(r.u16()?);
        let points = to_points(&template);
        let mut prepared = PreparedTemplate {
            stride,
            minutiae: n,
            ..Default::default()
        };
        prepared.bits.reserve(cylinders * stride);
        for _ in 0..cylinders {
            let source = r.u16()?;
            let s = usize::from(source);
            prepared.points.push(*points.get(s)?);
            prepared.directions.push(template.minutiae.get(s)?.angle);
            prepared.source_index.push(source);
            for _ in 0..stride {
                prepared.bits.push(r.u64()?);
            }
        }
        prepared.layout = crate::finger::kernel::Layout::of(&prepared);
        *finger = Some(ColdFinger { template, prepared });
    }
    r.bytes.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finger::FingerMatcher;

    #[test]
    fn round_trips_and_rejects_damage() {
        let m = FingerMatcher::default();
        let template = FingerTemplate {
            width: 300,
            height: 400,
            position: 3,
            quality: 70,
            minutiae: (0..30u16)
                .map(|i| Minutia {
                    x: 50 + (i * 37) % 200,
                    y: 60 + (i * 53) % 280,
                    angle: (i * 41) as u8,
                    kind: if i % 2 == 0 {
                        MinutiaKind::Ending
                    } else {
                        MinutiaKind::Bifurcation
                    },
                    quality: 50,
                })
                .collect(),
        };
        let prepared = m.prepare(&template);
        assert!(!prepared.is_empty());
        let mut fingers: ColdFingers = Default::default();
        fingers[2] = Some(ColdFinger { template, prepared });
        let mut bytes = Vec::new();
        encode(&fingers, &mut bytes).unwrap();
        let back = decode(&bytes).unwrap();
        assert_eq!(back, fingers);
        assert!(decode(&bytes[..bytes.len() - 1]).is_none());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_none());
        assert!(decode(b"XXXX").is_none());
        assert!(decode(&[]).is_none());
    }
}
