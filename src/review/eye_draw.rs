//! Eye images drawn with their segmentation: the submitted image (served by `eyes.rs`) under
//! an SVG of the pupil boundary, the limbus, the eyelid curves and the code positions the
//! mask leaves out, mapped back onto the image by the rubber sheet.

use std::f32::consts::TAU;
use std::fmt::Write as _;

use maud::{html, Markup, PreEscaped};

use crate::cases::{EyeImageInfo, EyeMask, EyeOutline};

/// An eye image of one person, with its route.
#[derive(Debug, Clone, PartialEq)]
pub struct EyeImage {
    /// The image route (`/review/cases/{id}/eyes/{reference}/{eye}`).
    pub href: String,
    /// Quality, size, segmentation and mask.
    pub info: EyeImageInfo,
}

/// The eye images of one eye of the applicant and the candidate (either may be absent: an
/// eye enrolled from a code has no image).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EyePair {
    /// The eye (0 right, 1 left).
    pub eye: usize,
    /// The applicant's image.
    pub applicant: Option<EyeImage>,
    /// The candidate's image.
    pub candidate: Option<EyeImage>,
}

/// Largest drawn width of an eye image, CSS pixels.
const MAX_WIDTH: u32 = 320;

/// Points of a polyline, `x,y` pairs to one decimal.
fn points(out: &mut String, pts: impl IntoIterator<Item = (f32, f32)>) {
    for (i, (x, y)) in pts.into_iter().enumerate() {
        let _ = write!(out, "{}{x:.1},{y:.1}", if i == 0 { "" } else { " " });
    }
}

/// The masked code positions as one path: each run of masked positions of a ring is a band
/// between its inner and outer radius.
fn mask_path(o: &EyeOutline, m: &EyeMask) -> String {
    let mut d = String::new();
    if m.rings == 0 || m.positions == 0 {
        return d;
    }
    let (inner, outer) = o.radial_range;
    let step = TAU / m.positions as f32;
    for ring in 0..m.rings {
        let r0 = inner + ring as f32 / m.rings as f32 * (outer - inner);
        let r1 = inner + (ring + 1) as f32 / m.rings as f32 * (outer - inner);
        let mut a = 0;
        while a < m.positions {
            if m.is_valid(ring, a) {
                a += 1;
                continue;
            }
            let start = a;
            while a < m.positions && !m.is_valid(ring, a) {
                a += 1;
            }
            // Position k is centred at angle k·step: the run spans its half-steps.
            let edges: Vec<f32> = (start..=a).map(|k| (k as f32 - 0.5) * step).collect();
            let inner_arc = edges.iter().map(|&phi| o.point(r0, phi));
            let outer_arc = edges.iter().rev().map(|&phi| o.point(r1, phi));
            for (i, (x, y)) in inner_arc.chain(outer_arc).enumerate() {
                let _ = write!(d, "{}{x:.1} {y:.1} ", if i == 0 { "M" } else { "L" });
            }
            d.push('Z');
        }
    }
    d
}

/// An eyelid curve across the iris, as a quadratic Bézier (a parabola is one exactly).
fn lid_path(o: &EyeOutline, lid: &crate::cases::eye_image::OutlineLid) -> String {
    let (x0, x1) = (o.iris.x - o.iris.r * 1.2, o.iris.x + o.iris.r * 1.2);
    let (y0, y1) = (lid.y_at(x0), lid.y_at(x1));
    let xm = (x0 + x1) / 2.0;
    let slope = 2.0 * lid.curvature * (x0 - lid.apex_x);
    let ym = y0 + slope * (xm - x0);
    format!("M{x0:.1} {y0:.1} Q{xm:.1} {ym:.1} {x1:.1} {y1:.1}")
}

/// The SVG of one eye image with its segmentation.
pub fn eye_svg(img: &EyeImage, label: &str) -> Markup {
    let (w, h) = (img.info.width.max(1), img.info.height.max(1));
    let shown_w = w.min(MAX_WIDTH);
    let shown_h = (h as f32 * shown_w as f32 / w as f32).round() as u32;
    let mut s = String::new();
    // The route is built from checked ids; escaped all the same.
    let href = html! { (img.href) }.into_string();
    let _ = write!(
        s,
        r#"<svg class="eye" viewBox="0 0 {w} {h}" width="{shown_w}" height="{shown_h}" role="img" aria-label="{label}"><image href="{href}" x="0" y="0" width="{w}" height="{h}"/>"#
    );
    if let Some(o) = &img.info.outline {
        if let Some(m) = &img.info.mask {
            let d = mask_path(o, m);
            if !d.is_empty() {
                let _ = write!(s, r#"<path class="eye-mask" d="{d}"/>"#);
            }
        }
        let _ = write!(
            s,
            r#"<circle class="limbus" cx="{:.1}" cy="{:.1}" r="{:.1}"/>"#,
            o.iris.x, o.iris.y, o.iris.r
        );
        if o.pupil_contour.is_empty() {
            let _ = write!(
                s,
                r#"<circle class="pupil" cx="{:.1}" cy="{:.1}" r="{:.1}"/>"#,
                o.pupil.x, o.pupil.y, o.pupil.r
            );
        } else {
            let n = o.pupil_contour.len().max(16);
            s.push_str(r#"<polygon class="pupil" points=""#);
            points(
                &mut s,
                (0..n).map(|k| {
                    let phi = TAU * k as f32 / n as f32;
                    let r = o.pupil_radius_at(phi);
                    (o.pupil.x + r * phi.cos(), o.pupil.y - r * phi.sin())
                }),
            );
            s.push_str(r#""/>"#);
        }
        for lid in [&o.upper_eyelid, &o.lower_eyelid].into_iter().flatten() {
            let _ = write!(s, r#"<path class="eyelid" d="{}"/>"#, lid_path(o, lid));
        }
    }
    s.push_str("</svg>");
    PreEscaped(s)
}

/// One side of an eye pair: the drawing and its caption, or a note when there is no image.
fn side(img: Option<&EyeImage>, who: &str) -> Markup {
    html! {
        div.eye-side {
            div.small { strong { (who) } }
            @match img {
                Some(img) => {
                    (eye_svg(img, &format!("{who} eye image with its segmentation")))
                    div.small.muted.quality title="iris image quality 0–100 measured at enrolment" {
                        "quality " strong { (img.info.quality) } " / 100"
                        @if let Some(why) = &img.info.unusable {
                            " · unusable: " strong { (why.replace('_', " ")) } " (left out of matching)"
                        }
                        @if img.info.outline.is_none() { " · no boundaries found" }
                    }
                }
                None => { p.small.muted { "Enrolled as an iris code: no image." } }
            }
        }
    }
}

/// The eye images of the applicant and the candidate side by side, with a legend.
pub fn eye_pair_figure(pair: &EyePair, eye: &str) -> Markup {
    html! {
        figure.eye-images data-eye=(eye.to_ascii_lowercase()) {
            figcaption {
                strong { (eye) " eye images" } " · "
                span.small.muted { "as submitted, with the segmentation the code was made from" }
            }
            div.eye-sides {
                (side(pair.applicant.as_ref(), "Applicant"))
                (side(pair.candidate.as_ref(), "Candidate"))
            }
            div.legend {
                span { i style="background:#22d3ee" {} "pupil boundary" }
                span { i style="background:#facc15" {} "limbus" }
                span { i style="background:#e879f9" {} "eyelids" }
                span { i style="background:rgba(239,68,68,.45)" {} "masked code positions" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::eye_image::{OutlineCircle, OutlineLid};

    fn outline() -> EyeOutline {
        EyeOutline {
            pupil: OutlineCircle {
                x: 160.0,
                y: 140.0,
                r: 30.0,
            },
            pupil_contour: Vec::new(),
            iris: OutlineCircle {
                x: 160.0,
                y: 140.0,
                r: 100.0,
            },
            upper_eyelid: Some(OutlineLid {
                apex_x: 160.0,
                apex_y: 70.0,
                curvature: 0.004,
            }),
            lower_eyelid: None,
            radial_range: (0.0, 1.0),
        }
    }

    #[test]
    fn masked_runs_are_bands_and_valid_positions_are_not_drawn() {
        let mut m = EyeMask {
            rings: 2,
            positions: 8,
            valid: vec![true; 16],
        };
        assert_eq!(mask_path(&outline(), &m), "");
        // Ring 1, positions 2–3: one band of two positions.
        m.valid[8 + 2] = false;
        m.valid[8 + 3] = false;
        let d = mask_path(&outline(), &m);
        assert_eq!(d.matches('M').count(), 1);
        assert_eq!(d.matches('L').count(), 5);
        // Two runs in ring 0.
        m.valid[0] = false;
        m.valid[5] = false;
        assert_eq!(mask_path(&outline(), &m).matches('M').count(), 3);
    }

    #[test]
    fn the_svg_draws_image_boundaries_and_lids() {
        let img = EyeImage {
            href: "/review/cases/C1/eyes/P0000000001/right".into(),
            info: EyeImageInfo {
                quality: 71,
                unusable: None,
                width: 320,
                height: 280,
                outline: Some(outline()),
                mask: None,
            },
        };
        let svg = eye_svg(&img, "x").into_string();
        assert!(svg.contains(r#"href="/review/cases/C1/eyes/P0000000001/right""#));
        assert!(svg.contains(r#"class="limbus" cx="160.0" cy="140.0" r="100.0""#));
        assert!(svg.contains(r#"class="pupil""#));
        assert_eq!(svg.matches(r#"class="eyelid""#).count(), 1);
        assert!(!svg.contains("eye-mask"));
    }

    #[test]
    fn an_eyelid_curve_passes_through_its_apex() {
        let o = outline();
        let lid = o.upper_eyelid.unwrap();
        let d = lid_path(&o, &lid);
        // The control point of a parabola's Bézier lies at twice the apex depth: the curve
        // at its midpoint is the mean of the end rows and the control row.
        let nums: Vec<f32> = d
            .split([' ', 'M', 'Q'])
            .filter(|t| !t.is_empty())
            .map(|t| t.parse().unwrap())
            .collect();
        let (y0, ym, y1) = (nums[1], nums[3], nums[5]);
        let mid = 0.25 * y0 + 0.5 * ym + 0.25 * y1;
        assert!((mid - lid.apex_y).abs() < 0.2, "{mid} vs {}", lid.apex_y);
    }
}
