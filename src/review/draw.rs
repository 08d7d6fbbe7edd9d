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
const PAPER: [u8; 3] = [248, 250, 252];
const MASKED: [u8; 3] = [180, 188, 200];
const DIFFER: [u8; 3] = [220, 38, 38];
const GAP: [u8; 3] = [255, 255, 255];

/// Pixels per bit, each way.
pub const CELL: usize = 4;
/// Angular samples per band: the unrolled code is cut into bands of this many columns,
/// stacked, so a 256-sample code is two bands of 128 (0–180° and 180–360°).
pub const BAND: usize = 128;
/// Blank pixel rows between bands.
const BAND_GAP: usize = 6;

/// The size in pixels of an unrolled code of `angular` × `radial` bits.
pub fn strip_size(angular: usize, radial: usize) -> (usize, usize) {
    let bands = angular.div_ceil(BAND).max(1);
    let width = angular.min(BAND) * CELL;
    let height = bands * radial * CELL + (bands - 1) * BAND_GAP;
    (width, height)
}

/// An unrolled code drawn legibly: every bit a `CELL`×`CELL` square, the angular samples
/// cut into stacked bands of `BAND`, radial rows top (pupil side) to bottom; `pixel` gives
/// the colour of bit `i` (row-major).
fn image(cmp: &IrisComparison, pixel: impl Fn(usize) -> [u8; 3]) -> Option<String> {
    let (angular, radial) = (cmp.angular, cmp.radial);
    if angular.checked_mul(radial)? == 0 {
        return None;
    }
    let (width, height) = strip_size(angular, radial);
    let band_height = radial * CELL + BAND_GAP;
    let mut rgb = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        let (band, inner) = (y / band_height, y % band_height);
        for x in 0..width {
            let col = band * BAND + x / CELL;
            let colour = if inner >= radial * CELL || col >= angular {
                GAP
            } else {
                pixel((inner / CELL) * angular + col)
            };
            rgb.extend_from_slice(&colour);
        }
    }
    png_data_url(width, height, &rgb)
}

fn bit(v: &[u8], i: usize) -> bool {
    v.get(i).is_some_and(|&b| b != 0)
}

/// The three images of an iris pair: both codes with their masks (set bits dark, clear bits
/// light, masked bits grey), the candidate's at the best rotation, and the difference map
/// (the XOR of the two codes: red where jointly valid bits disagree, grey where either side
/// is masked).
pub fn iris_images(cmp: &IrisComparison) -> Option<[String; 3]> {
    let code = |code: &[u8], mask: &[u8]| {
        image(cmp, |i| match (bit(mask, i), bit(code, i)) {
            (false, _) => MASKED,
            (true, true) => INK,
            (true, false) => PAPER,
        })
    };
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
        code(&cmp.candidate_code, &cmp.candidate_mask)?,
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

/// An iris pair as a figure: both codes with their masks and the difference map, unrolled
/// at a legible size, with the distance and the share of disagreeing bits.
pub fn iris_figure(cmp: &IrisComparison, eye: &str) -> Markup {
    let Some([ac, cc, diff]) = iris_images(cmp) else {
        return html! { p.muted { "The " (eye) " eye could not be drawn." } };
    };
    let bits = IrisBits::of(cmp);
    let (w, h) = strip_size(cmp.angular, cmp.radial);
    let bands = cmp.angular.div_ceil(BAND);
    html! {
        figure.iris {
            figcaption {
                strong { (eye) " eye" } " · normalised Hamming distance "
                strong.hd { (shown_distance(cmp.distance)) }
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
                br;
                span.small.muted {
                    "Unrolled codes: " (cmp.radial) " radial rows (pupil side at the top) × " (cmp.angular) " angular samples, in "
                    (bands) " bands of " (BAND.min(cmp.angular)) " · one bit = " (CELL) "×" (CELL) " px · dark 1, light 0, grey masked"
                }
            }
            div.iris-row { span.lbl { "Applicant" } img src=(ac) width=(w) height=(h) alt="applicant iris code and mask"; }
            div.iris-row { span.lbl { "Candidate (aligned)" } img src=(cc) width=(w) height=(h) alt="candidate iris code and mask, aligned"; }
            div.iris-row {
                span.lbl {
                    "Difference"
                    @if let Some(raw) = bits.raw() {
                        br; strong.disagree { (format!("{:.1}", raw * 100.0)) " %" } " disagree"
                        br; span.small.muted { (bits.differing) " of " (bits.compared) " valid bits" }
                    }
                }
                img.diff src=(diff) width=(w) height=(h) alt="difference map: red where valid bits disagree, grey where masked";
            }
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
        // The disagreeing bits are counted and shown as a share of the jointly valid ones.
        let bits = IrisBits::of(&cmp);
        let share = format!("{:.1}", bits.raw().unwrap() * 100.0);
        assert!(html.contains(&format!("{share} %")), "{html}");
        assert!(html.contains(&format!(
            "{} of {} valid bits",
            bits.differing, bits.compared
        )));
    }

    #[test]
    fn codes_are_cut_into_bands_of_square_bits() {
        // The gallery's 2048-bit code: 8 rows of 256 samples, two bands of 128.
        assert_eq!(strip_size(256, 8), (512, 2 * 32 + 6));
        assert_eq!(strip_size(64, 4), (256, 16));
        let n = 256 * 8;
        let cmp = IrisComparison {
            layout: "daugman-2048".into(),
            angular: 256,
            radial: 8,
            applicant_code: vec![1; n],
            applicant_mask: vec![1; n],
            candidate_code: vec![0; n],
            candidate_mask: vec![1; n],
            rotation: 0,
            distance: 0.5,
        };
        let html = iris_figure(&cmp, "Right").into_string();
        assert!(html.contains("width=\"512\" height=\"70\""), "{html}");
        assert!(html.contains("100.0 %"));
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
