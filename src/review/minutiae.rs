//! A finger pair as inline SVG: applicant left, candidate right.
//!
//! When the matcher's score is evidence *for* a match (at least [`FINGER_AGREE`]), the
//! candidate is drawn aligned to the applicant by the rigid transform of its matched pairs
//! ([`Rigid`]), the pairs are numbered alike in both panels, joined by lines and highlighted
//! together on hover. A score below that is evidence *against*: the pairs the matcher tried
//! are no correspondence, so no line, number or highlight is drawn and each print keeps its
//! own frame.

use std::collections::HashMap;
use std::fmt::Write as _;

use maud::{Markup, PreEscaped};

use super::align::{overlap_mm2, Rigid};
use super::evidence::FINGER_AGREE;
use crate::cases::FingerComparison;
use tunggal_index::template::FingerTemplate;

/// Width and height of one finger panel in SVG units.
const PANEL_W: f32 = 250.0;
const PANEL_H: f32 = 300.0;
const GAP: f32 = 20.0;
const PAD: f32 = 12.0;

/// What the drawing of a finger pair establishes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FingerGeometry {
    /// The score is evidence for a match: correspondences are drawn.
    pub for_match: bool,
    /// Candidate → applicant transform of the matched pairs (at least two pairs).
    pub transform: Option<Rigid>,
    /// Area where both prints' minutiae hulls overlap under that transform, mm².
    pub overlap_mm2: Option<f32>,
    /// Both prints hold exactly the same minutiae.
    pub identical: bool,
}

impl FingerGeometry {
    /// The geometry of `cmp`.
    pub fn of(cmp: &FingerComparison) -> Self {
        let transform = Rigid::candidate_onto_applicant(&cmp.applicant, &cmp.candidate, &cmp.pairs);
        let overlap = transform.map(|t| {
            let a: Vec<(f32, f32)> = points(&cmp.applicant).collect();
            let c: Vec<(f32, f32)> = points(&cmp.candidate).map(|p| t.apply(p)).collect();
            overlap_mm2(&a, &c)
        });
        Self {
            for_match: cmp.score >= FINGER_AGREE,
            transform,
            overlap_mm2: overlap,
            identical: !cmp.applicant.minutiae.is_empty()
                && cmp.applicant.minutiae == cmp.candidate.minutiae,
        }
    }

    /// Pairs drawn as correspondences (none for evidence against a match).
    pub fn drawn_pairs(&self, cmp: &FingerComparison) -> usize {
        if self.for_match {
            cmp.pairs.len()
        } else {
            0
        }
    }
}

fn points(t: &FingerTemplate) -> impl Iterator<Item = (f32, f32)> + '_ {
    t.minutiae.iter().map(|m| (f32::from(m.x), f32::from(m.y)))
}

/// Maps template pixels into a panel, keeping the aspect ratio.
struct Frame {
    scale: f32,
    dx: f32,
    dy: f32,
}

impl Frame {
    /// A frame showing the box `(x0, y0)–(x1, y1)` in the panel starting at `left`.
    fn new((x0, y0, x1, y1): (f32, f32, f32, f32), left: f32) -> Self {
        let (w, h) = ((x1 - x0).max(1.0), (y1 - y0).max(1.0));
        let scale = ((PANEL_W - 2.0 * PAD) / w).min((PANEL_H - 2.0 * PAD) / h);
        Self {
            scale,
            dx: left + PAD + (PANEL_W - 2.0 * PAD - w * scale) / 2.0 - x0 * scale,
            dy: PAD + (PANEL_H - 2.0 * PAD - h * scale) / 2.0 - y0 * scale,
        }
    }

    fn at(&self, (x, y): (f32, f32)) -> (f32, f32) {
        (self.dx + x * self.scale, self.dy + y * self.scale)
    }
}

/// The box of a template's image with its minutiae (which may lie outside the stated size).
fn extent(t: &FingerTemplate) -> (f32, f32, f32, f32) {
    points(t).fold(
        (0.0, 0.0, f32::from(t.width), f32::from(t.height)),
        |(x0, y0, x1, y1), (x, y)| (x0.min(x), y0.min(y), x1.max(x + 10.0), y1.max(y + 10.0)),
    )
}

fn union(
    (a0, b0, a1, b1): (f32, f32, f32, f32),
    pts: impl Iterator<Item = (f32, f32)>,
) -> (f32, f32, f32, f32) {
    pts.fold((a0, b0, a1, b1), |(x0, y0, x1, y1), (x, y)| {
        (
            x0.min(x - 10.0),
            y0.min(y - 10.0),
            x1.max(x + 10.0),
            y1.max(y + 10.0),
        )
    })
}

/// One print's minutiae in a panel: `number` maps a minutia to its pair number (1-based).
fn draw_minutiae(
    out: &mut String,
    t: &FingerTemplate,
    place: impl Fn((f32, f32)) -> (f32, f32),
    number: &HashMap<usize, usize>,
    for_match: bool,
) {
    for (i, m) in t.minutiae.iter().enumerate() {
        let p = (f32::from(m.x), f32::from(m.y));
        // Angles run counter-clockwise with y pointing down on screen; the tick is placed
        // through the same mapping as the point, so an alignment turns it too.
        let a = m.angle_rad();
        let (x, y) = place(p);
        let (tx, ty) = place((p.0 + 14.0 * a.cos(), p.1 - 14.0 * a.sin()));
        let (ux, uy) = ((tx - x), (ty - y));
        let len = ux.hypot(uy).max(f32::EPSILON);
        let (tx, ty) = (x + 11.0 * ux / len, y + 11.0 * uy / len);
        let pair = number.get(&i).filter(|_| for_match);
        let class = match (pair, for_match) {
            (Some(_), _) => "minutia matched",
            (None, true) => "minutia unmatched",
            (None, false) => "minutia plain",
        };
        match pair {
            Some(k) => {
                let _ = write!(
                    out,
                    r#"<g class="{class}" data-pair="{k}"><circle cx="{x:.1}" cy="{y:.1}" r="3.6"/><line x1="{x:.1}" y1="{y:.1}" x2="{tx:.1}" y2="{ty:.1}"/><text class="pair-no" x="{:.1}" y="{:.1}">{k}</text></g>"#,
                    x + 4.0,
                    y - 4.0
                );
            }
            None => {
                let _ = write!(
                    out,
                    r#"<g class="{class}"><circle cx="{x:.1}" cy="{y:.1}" r="3.6"/><line x1="{x:.1}" y1="{y:.1}" x2="{tx:.1}" y2="{ty:.1}"/></g>"#
                );
            }
        }
    }
}

/// Both minutiae sets side by side. Evidence for a match: the candidate aligned to the
/// applicant, matched pairs numbered in both panels and joined by lines, unmatched minutiae
/// faded. Evidence against: both prints as captured, no correspondences.
pub fn finger_svg(cmp: &FingerComparison, geo: &FingerGeometry) -> Markup {
    let aligned = geo.transform.filter(|_| geo.for_match);
    let left = match aligned {
        Some(t) => Frame::new(
            union(
                extent(&cmp.applicant),
                points(&cmp.candidate).map(|p| t.apply(p)),
            ),
            0.0,
        ),
        None => Frame::new(extent(&cmp.applicant), 0.0),
    };
    let right = match aligned {
        Some(_) => Frame {
            dx: left.dx + PANEL_W + GAP,
            ..left
        },
        None => Frame::new(extent(&cmp.candidate), PANEL_W + GAP),
    };
    let to_right = |p: (f32, f32)| right.at(aligned.map_or(p, |t| t.apply(p)));
    let drawn = geo.drawn_pairs(cmp);
    let ours: HashMap<usize, usize> = cmp
        .pairs
        .iter()
        .enumerate()
        .map(|(k, p)| (p.0, k + 1))
        .collect();
    let theirs: HashMap<usize, usize> = cmp
        .pairs
        .iter()
        .enumerate()
        .map(|(k, p)| (p.1, k + 1))
        .collect();
    let width = 2.0 * PANEL_W + GAP;
    let label = if geo.for_match {
        format!("minutiae of both fingers, {drawn} matched pairs")
    } else {
        "minutiae of both fingers, no correspondence: the score is evidence against a match"
            .to_owned()
    };
    let mut out = format!(
        r#"<svg class="minutiae{}" viewBox="0 0 {width} {PANEL_H}" role="img" aria-label="{label}">"#,
        if geo.for_match { "" } else { " against" }
    );
    let _ = write!(
        out,
        r#"<rect class="panel" x="0" y="0" width="{PANEL_W}" height="{PANEL_H}" rx="6"/><rect class="panel" x="{}" y="0" width="{PANEL_W}" height="{PANEL_H}" rx="6"/>"#,
        PANEL_W + GAP
    );
    if geo.for_match {
        for (k, &(a, c)) in cmp.pairs.iter().enumerate() {
            let (Some(ma), Some(mc)) =
                (cmp.applicant.minutiae.get(a), cmp.candidate.minutiae.get(c))
            else {
                continue;
            };
            let (x1, y1) = left.at((f32::from(ma.x), f32::from(ma.y)));
            let (x2, y2) = to_right((f32::from(mc.x), f32::from(mc.y)));
            let _ = write!(
                out,
                r#"<line class="match-line" data-pair="{}" x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}"/>"#,
                k + 1
            );
        }
    }
    draw_minutiae(
        &mut out,
        &cmp.applicant,
        |p| left.at(p),
        &ours,
        geo.for_match,
    );
    draw_minutiae(&mut out, &cmp.candidate, to_right, &theirs, geo.for_match);
    out.push_str("</svg>");
    PreEscaped(out)
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

    fn comparison(score: f32) -> FingerComparison {
        FingerComparison {
            applicant: template(&[(10, 10), (100, 100), (200, 50)]),
            candidate: template(&[(12, 11), (101, 98), (210, 52)]),
            pairs: vec![(0, 0), (1, 1), (2, 2)],
            score,
        }
    }

    #[test]
    fn a_match_numbers_and_joins_its_pairs() {
        let cmp = comparison(0.4);
        let geo = FingerGeometry::of(&cmp);
        assert!(geo.for_match && !geo.identical);
        assert!(geo.overlap_mm2.is_some_and(|a| a > 0.0));
        let svg = finger_svg(&cmp, &geo).into_string();
        assert_eq!(svg.matches("class=\"match-line\"").count(), 3);
        assert_eq!(svg.matches("minutia matched").count(), 6);
        assert_eq!(svg.matches("data-pair=\"2\"").count(), 3);
        assert_eq!(svg.matches("class=\"pair-no\"").count(), 6);
    }

    #[test]
    fn evidence_against_draws_no_correspondence() {
        let cmp = comparison(0.01);
        let geo = FingerGeometry::of(&cmp);
        assert!(!geo.for_match);
        assert_eq!(geo.drawn_pairs(&cmp), 0);
        let svg = finger_svg(&cmp, &geo).into_string();
        assert_eq!(svg.matches("match-line").count(), 0);
        assert_eq!(svg.matches("data-pair").count(), 0);
        assert_eq!(svg.matches("minutia matched").count(), 0);
        assert_eq!(svg.matches("minutia plain").count(), 6);
    }

    #[test]
    fn an_aligned_candidate_lands_on_its_partners() {
        // The candidate is the applicant turned by 90° and shifted: aligned, each pair's
        // two minutiae sit at the same place in their panels.
        let a = [(100u16, 100u16), (200, 120), (150, 260), (120, 200)];
        let c: Vec<(u16, u16)> = a.iter().map(|&(x, y)| (400 - y, x + 20)).collect();
        let cmp = FingerComparison {
            applicant: template(&a),
            candidate: template(&c),
            pairs: (0..4).map(|i| (i, i)).collect(),
            score: 0.5,
        };
        let geo = FingerGeometry::of(&cmp);
        let t = geo.transform.unwrap();
        for (p, q) in a.iter().zip(&c) {
            let (x, y) = t.apply((f32::from(q.0), f32::from(q.1)));
            assert!((x - f32::from(p.0)).abs() < 0.5 && (y - f32::from(p.1)).abs() < 0.5);
        }
        let svg = finger_svg(&cmp, &geo).into_string();
        let lines: Vec<&str> = svg.split("class=\"match-line\"").skip(1).collect();
        assert_eq!(lines.len(), 4);
        for l in lines {
            // Every match line is horizontal and one panel plus gap long.
            let num = |key: &str| -> f32 {
                let s = &l[l.find(key).unwrap() + key.len()..];
                s[..s.find('"').unwrap()].parse().unwrap()
            };
            assert!((num("y1=\"") - num("y2=\"")).abs() < 0.3, "{l}");
            assert!(
                (num("x2=\"") - num("x1=\"") - (PANEL_W + GAP)).abs() < 0.3,
                "{l}"
            );
        }
    }

    #[test]
    fn identical_prints_are_recognised() {
        let mut cmp = comparison(0.99);
        cmp.candidate = cmp.applicant.clone();
        assert!(FingerGeometry::of(&cmp).identical);
    }
}
