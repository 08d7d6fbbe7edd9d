//! Evidence drawings: fingerprint minutiae pairs as inline SVG, iris codes as PNG images.

use std::collections::HashSet;
use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use maud::{html, Markup, PreEscaped};

use crate::cases::{FingerComparison, IrisComparison};
use tunggal_index::template::FingerTemplate;

/// Width and height of one finger panel in SVG units.
const PANEL_W: f32 = 250.0;
const PANEL_H: f32 = 300.0;
const GAP: f32 = 20.0;
const PAD: f32 = 12.0;

/// Maps template pixels into a panel, keeping the aspect ratio.
struct Frame {
    scale: f32,
    dx: f32,
    dy: f32,
}

impl Frame {
    fn new(t: &FingerTemplate, left: f32) -> Self {
        let max_x = t.minutiae.iter().map(|m| m.x).max().unwrap_or(0);
        let max_y = t.minutiae.iter().map(|m| m.y).max().unwrap_or(0);
        let w = f32::from(t.width.max(max_x.saturating_add(10)).max(1));
        let h = f32::from(t.height.max(max_y.saturating_add(10)).max(1));
        let scale = ((PANEL_W - 2.0 * PAD) / w).min((PANEL_H - 2.0 * PAD) / h);
        Self {
            scale,
            dx: left + PAD + (PANEL_W - 2.0 * PAD - w * scale) / 2.0,
            dy: PAD + (PANEL_H - 2.0 * PAD - h * scale) / 2.0,
        }
    }

    fn at(&self, x: u16, y: u16) -> (f32, f32) {
        (
            self.dx + f32::from(x) * self.scale,
            self.dy + f32::from(y) * self.scale,
        )
    }
}

fn minutiae(out: &mut String, t: &FingerTemplate, frame: &Frame, matched: &HashSet<usize>) {
    for (i, m) in t.minutiae.iter().enumerate() {
        let (x, y) = frame.at(m.x, m.y);
        // Angles run counter-clockwise with y pointing down on screen.
        let a = m.angle_rad();
        let (tx, ty) = (x + 11.0 * a.cos(), y - 11.0 * a.sin());
        let class = if matched.contains(&i) {
            "minutia matched"
        } else {
            "minutia unmatched"
        };
        let _ = write!(
            out,
            r#"<g class="{class}"><circle cx="{x:.1}" cy="{y:.1}" r="3.6"/><line x1="{x:.1}" y1="{y:.1}" x2="{tx:.1}" y2="{ty:.1}"/></g>"#
        );
    }
}

/// Both minutiae sets side by side, matched pairs joined by lines, unmatched ones faded.
pub fn finger_svg(cmp: &FingerComparison) -> Markup {
    let left = Frame::new(&cmp.applicant, 0.0);
    let right = Frame::new(&cmp.candidate, PANEL_W + GAP);
    let ours: HashSet<usize> = cmp.pairs.iter().map(|p| p.0).collect();
    let theirs: HashSet<usize> = cmp.pairs.iter().map(|p| p.1).collect();
    let width = 2.0 * PANEL_W + GAP;
    let mut out = format!(
        r#"<svg class="minutiae" viewBox="0 0 {width} {PANEL_H}" role="img" aria-label="minutiae of both fingers, {} matched pairs">"#,
        cmp.pairs.len()
    );
    let _ = write!(
        out,
        r#"<rect class="panel" x="0" y="0" width="{PANEL_W}" height="{PANEL_H}" rx="6"/><rect class="panel" x="{}" y="0" width="{PANEL_W}" height="{PANEL_H}" rx="6"/>"#,
        PANEL_W + GAP
    );
    for &(a, c) in &cmp.pairs {
        let (Some(ma), Some(mc)) = (cmp.applicant.minutiae.get(a), cmp.candidate.minutiae.get(c))
        else {
            continue;
        };
        let (x1, y1) = left.at(ma.x, ma.y);
        let (x2, y2) = right.at(mc.x, mc.y);
        let _ = write!(
            out,
            r#"<line class="match-line" x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}"/>"#
        );
    }
    minutiae(&mut out, &cmp.applicant, &left, &ours);
    minutiae(&mut out, &cmp.candidate, &right, &theirs);
    out.push_str("</svg>");
    PreEscaped(out)
}

/// An RGB image as a `data:` URL holding a PNG, or `None` if encoding failed.
fn png_data_url(width: usize, height: usize, rgb: &[u8]) -> Option<String> {
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(
            &mut bytes,
            u32::try_from(width).ok()?,
            u32::try_from(height).ok()?,
        );
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().ok()?;
        writer.write_image_data(rgb).ok()?;
    }
    Some(format!("data:image/png;base64,{}", STANDARD.encode(bytes)))
}

const INK: [u8; 3] = [30, 41, 59];
const PAPER: [u8; 3] = [241, 245, 249];
const MASKED: [u8; 3] = [251, 191, 36];
const DIFFER: [u8; 3] = [220, 38, 38];

fn image(cmp: &IrisComparison, pixel: impl Fn(usize) -> [u8; 3]) -> Option<String> {
    let n = cmp.angular.checked_mul(cmp.radial)?;
    if n == 0 {
        return None;
    }
    let rgb: Vec<u8> = (0..n).flat_map(pixel).collect();
    png_data_url(cmp.angular, cmp.radial, &rgb)
}

fn bit(v: &[u8], i: usize) -> bool {
    v.get(i).is_some_and(|&b| b != 0)
}

/// The five images of an iris pair: both codes (masked bits amber), both masks, and the
/// difference map (red where valid bits differ, amber where either side is masked).
pub fn iris_images(cmp: &IrisComparison) -> Option<[String; 5]> {
    let code = |code: &[u8], mask: &[u8]| {
        image(cmp, |i| match (bit(mask, i), bit(code, i)) {
            (false, _) => MASKED,
            (true, true) => INK,
            (true, false) => PAPER,
        })
    };
    let mask = |mask: &[u8]| image(cmp, |i| if bit(mask, i) { PAPER } else { INK });
    let diff = image(cmp, |i| {
        if !bit(&cmp.applicant_mask, i) || !bit(&cmp.candidate_mask, i) {
            MASKED
        } else if bit(&cmp.applicant_code, i) != bit(&cmp.candidate_code, i) {
            DIFFER
        } else {
            PAPER
        }
    });
    Some([
        code(&cmp.applicant_code, &cmp.applicant_mask)?,
        mask(&cmp.applicant_mask)?,
        code(&cmp.candidate_code, &cmp.candidate_mask)?,
        mask(&cmp.candidate_mask)?,
        diff?,
    ])
}

/// An iris pair as a figure: codes, masks and the difference map with the distance.
pub fn iris_figure(cmp: &IrisComparison, eye: &str) -> Markup {
    let Some([ac, am, cc, cm, diff]) = iris_images(cmp) else {
        return html! { p.muted { "The " (eye) " eye could not be drawn." } };
    };
    html! {
        figure.iris {
            figcaption {
                strong { (eye) " eye" } " · Hamming distance "
                strong.hd { (format!("{:.3}", cmp.distance)) }
                " at rotation " (cmp.rotation) " · " (cmp.layout)
            }
            div.iris-row { span.lbl { "Applicant code" } img src=(ac) alt="applicant iris code"; }
            div.iris-row { span.lbl { "Applicant mask" } img src=(am) alt="applicant iris mask"; }
            div.iris-row { span.lbl { "Candidate code" } img src=(cc) alt="candidate iris code, aligned"; }
            div.iris-row { span.lbl { "Candidate mask" } img src=(cm) alt="candidate iris mask, aligned"; }
            div.iris-row { span.lbl { "Difference" } img.diff src=(diff) alt="difference map"; }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tunggal_index::template::{Minutia, MinutiaKind};

    fn template(points: &[(u16, u16)]) -> FingerTemplate {
        FingerTemplate {
            width: 300,
            height: 400,
            position: 1,
            quality: 80,
            minutiae: points
                .iter()
                .map(|&(x, y)| Minutia {
                    x,
                    y,
                    angle: 64,
                    kind: MinutiaKind::Ending,
                    quality: 60,
                })
                .collect(),
        }
    }

    #[test]
    fn finger_svg_joins_matched_pairs_and_fades_the_rest() {
        let cmp = FingerComparison {
            applicant: template(&[(10, 10), (100, 100), (200, 50)]),
            candidate: template(&[(12, 11), (101, 98)]),
            pairs: vec![(0, 0), (1, 1)],
            score: 0.4,
        };
        let svg = finger_svg(&cmp).into_string();
        assert_eq!(svg.matches("class=\"match-line\"").count(), 2);
        assert_eq!(svg.matches("minutia matched").count(), 4);
        assert_eq!(svg.matches("minutia unmatched").count(), 1);
    }

    #[test]
    fn iris_images_are_pngs() {
        let n = 16 * 4;
        let cmp = IrisComparison {
            layout: "test".into(),
            angular: 16,
            radial: 4,
            applicant_code: (0..n).map(|i| (i % 2) as u8).collect(),
            applicant_mask: vec![1; n],
            candidate_code: (0..n).map(|i| (i % 3 == 0) as u8).collect(),
            candidate_mask: (0..n).map(|i| u8::from(i > 3)).collect(),
            rotation: 2,
            distance: 0.31,
        };
        let imgs = iris_images(&cmp).unwrap();
        for img in &imgs {
            assert!(img.starts_with("data:image/png;base64,iVBORw0KGgo"));
        }
        let html = iris_figure(&cmp, "Right").into_string();
        assert!(html.contains("0.310"));
    }
}
