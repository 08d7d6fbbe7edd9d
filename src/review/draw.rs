//! Iris evidence drawings: codes, masks and the difference map as PNG images.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use maud::{html, Markup};

use crate::cases::IrisComparison;

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

/// What the bits of an iris pair say at the drawn rotation: jointly valid bits, how many
/// of them differ, and their fraction (the raw Hamming distance).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IrisBits {
    /// Bits valid in both masks.
    pub compared: usize,
    /// Of those, bits that differ.
    pub differing: usize,
}

impl IrisBits {
    /// Counts the bits of `cmp`.
    pub fn of(cmp: &IrisComparison) -> Self {
        let n = cmp.angular.saturating_mul(cmp.radial);
        let mut out = Self {
            compared: 0,
            differing: 0,
        };
        for i in 0..n {
            if bit(&cmp.applicant_mask, i) && bit(&cmp.candidate_mask, i) {
                out.compared += 1;
                if bit(&cmp.applicant_code, i) != bit(&cmp.candidate_code, i) {
                    out.differing += 1;
                }
            }
        }
        out
    }

    /// The raw Hamming distance, `None` when no bit is jointly valid.
    pub fn raw(&self) -> Option<f32> {
        (self.compared > 0).then(|| self.differing as f32 / self.compared as f32)
    }

    /// The codes agree on every jointly valid bit (the same capture submitted again).
    pub fn identical(&self) -> bool {
        self.compared > 0 && self.differing == 0
    }
}

/// A normalised iris distance as shown: never below 0. Normalisation scales the raw
/// distance's gap to 0.5 by the square root of compared bits over the typical count, so a
/// comparison over more bits than typical can fall below 0; that only says "even closer
/// than a raw 0 over the typical bits" and is shown as 0.000.
pub fn shown_distance(d: f32) -> String {
    format!("{:.3}", d.max(0.0))
}

/// An iris pair as a figure: codes, masks and the difference map with the distance.
pub fn iris_figure(cmp: &IrisComparison, eye: &str) -> Markup {
    let Some([ac, am, cc, cm, diff]) = iris_images(cmp) else {
        return html! { p.muted { "The " (eye) " eye could not be drawn." } };
    };
    let bits = IrisBits::of(cmp);
    html! {
        figure.iris {
            figcaption {
                strong { (eye) " eye" } " · normalised Hamming distance "
                strong.hd { (shown_distance(cmp.distance)) }
                @if let Some(raw) = bits.raw() {
                    " · raw " (format!("{raw:.3}")) " (" (bits.differing) " of " (bits.compared) " valid bits differ)"
                }
                " at rotation " (cmp.rotation) " · " (cmp.layout)
                @if cmp.distance < 0.0 {
                    br;
                    span.small.muted.clamped {
                        "The normalised distance computes to " (format!("{:.3}", cmp.distance))
                        ": normalisation stretches the raw distance's gap to 0.5 when more bits than typical are compared, so it can pass 0. Shown as 0.000."
                    }
                }
                @if bits.identical() {
                    br;
                    strong.identical-eye { "Identical code: every valid bit agrees (the same capture submitted again?)" }
                }
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

    #[test]
    fn a_resubmitted_code_is_flagged_and_no_negative_distance_is_shown() {
        let n = 16 * 4;
        let code: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
        let cmp = IrisComparison {
            layout: "test".into(),
            angular: 16,
            radial: 4,
            applicant_code: code.clone(),
            applicant_mask: vec![1; n],
            candidate_code: code,
            candidate_mask: vec![1; n],
            rotation: 0,
            distance: -0.169,
        };
        let bits = IrisBits::of(&cmp);
        assert_eq!((bits.compared, bits.differing), (64, 0));
        assert!(bits.identical());
        let html = iris_figure(&cmp, "Left").into_string();
        assert!(
            html.contains("<strong class=\"hd\">0.000</strong>"),
            "{html}"
        );
        assert!(html.contains("computes to -0.169"));
        assert!(html.contains("identical-eye"));
        assert_eq!(shown_distance(0.31), "0.310");
    }
}
