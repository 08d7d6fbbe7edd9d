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
use crate::cases::{FingerComparison, FingerPrintInfo};
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

/// A submitted fingerprint image drawn under its minutiae: where the browser loads it and
/// the 500 ppi frame (the template's pixels) it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintImage {
    /// The image route (`/review/cases/{id}/prints/{reference}/{position}`).
    pub href: String,
    /// Quality and frame.
    pub info: FingerPrintInfo,
}

/// The images behind a finger pair; a side without one (enrolled from a template) is drawn
/// as minutiae alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairImages {
    /// The applicant's image.
    pub applicant: Option<PrintImage>,
    /// The candidate's image.
    pub candidate: Option<PrintImage>,
}

/// One image in a panel: clipped to the panel (`left`), placed by an SVG matrix.
fn draw_print(out: &mut String, img: &PrintImage, clip: &str, left: f32, m: [f32; 6]) {
    let (w, h) = (img.info.width, img.info.height);
    let _ = write!(
        out,
        r#"<clipPath id="{clip}"><rect x="{left}" y="0" width="{PANEL_W}" height="{PANEL_H}" rx="6"/></clipPath><g clip-path="url(#{clip})"><image class="print" href="{}" x="0" y="0" width="{w}" height="{h}" preserveAspectRatio="none" transform="matrix({:.5} {:.5} {:.5} {:.5} {:.2} {:.2})"/></g>"#,
        escape(&img.href),
        m[0],
        m[1],
        m[2],
        m[3],
        m[4],
        m[5]
    );
}

/// `s` with the characters that are special in an XML attribute escaped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
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
pub fn finger_svg(cmp: &FingerComparison, geo: &FingerGeometry, images: &PairImages) -> Markup {
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
    // The images under everything else, each in its print's frame: the candidate's turned
    // and shifted like its minutiae when aligned.
    let clip = format!("print-clip-{}", cmp.applicant.position);
    if let Some(img) = &images.applicant {
        let m = Rigid::IDENTITY.svg_matrix(left.scale, (left.dx, left.dy));
        draw_print(&mut out, img, &format!("{clip}-a"), 0.0, m);
    }
    if let Some(img) = &images.candidate {
        let m = aligned
            .unwrap_or(Rigid::IDENTITY)
            .svg_matrix(right.scale, (right.dx, right.dy));
        draw_print(&mut out, img, &format!("{clip}-c"), PANEL_W + GAP, m);
    }
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
        let svg = finger_svg(&cmp, &geo, &PairImages::default()).into_string();
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
        let svg = finger_svg(&cmp, &geo, &PairImages::default()).into_string();
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
        let svg = finger_svg(&cmp, &geo, &PairImages::default()).into_string();
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

    fn images() -> PairImages {
        let img = |who: &str| PrintImage {
            href: format!("/review/cases/C1/prints/{who}/1"),
            info: FingerPrintInfo {
                quality: 70,
                unusable: None,
                width: 300,
                height: 400,
            },
        };
        PairImages {
            applicant: Some(img("P1")),
            candidate: Some(img("P2")),
        }
    }

    /// The numbers of the `matrix(…)` following `after` in `svg`.
    fn matrix_after(svg: &str, after: &str) -> [f32; 6] {
        let s = &svg[svg.find(after).unwrap()..];
        let s = &s[s.find("matrix(").unwrap() + 7..];
        let nums: Vec<f32> = s[..s.find(')').unwrap()]
            .split(' ')
            .map(|n| n.parse().unwrap())
            .collect();
        [nums[0], nums[1], nums[2], nums[3], nums[4], nums[5]]
    }

    #[test]
    fn images_lie_under_their_minutiae_the_candidate_aligned() {
        let a = [(100u16, 100u16), (200, 120), (150, 260), (120, 200)];
        let c: Vec<(u16, u16)> = a.iter().map(|&(x, y)| (400 - y, x + 20)).collect();
        let cmp = FingerComparison {
            applicant: template(&a),
            candidate: template(&c),
            pairs: (0..4).map(|i| (i, i)).collect(),
            score: 0.5,
        };
        let geo = FingerGeometry::of(&cmp);
        let svg = finger_svg(&cmp, &geo, &images()).into_string();
        assert_eq!(svg.matches("<image class=\"print\"").count(), 2);
        assert!(svg.contains(r#"href="/review/cases/C1/prints/P2/1""#));
        // The candidate image's matrix takes each candidate minutia to the centre of the
        // circle drawn for it, which is where its applicant partner is drawn plus one panel.
        let m = matrix_after(&svg, "prints/P2/1");
        let circles: Vec<(f32, f32)> = svg
            .split("<circle cx=\"")
            .skip(1)
            .map(|s| {
                let x: f32 = s[..s.find('"').unwrap()].parse().unwrap();
                let s = &s[s.find("cy=\"").unwrap() + 4..];
                (x, s[..s.find('"').unwrap()].parse().unwrap())
            })
            .collect();
        for (i, q) in c.iter().enumerate() {
            let (x, y) = (f32::from(q.0), f32::from(q.1));
            let (px, py) = (m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]);
            let drawn = circles[a.len() + i];
            assert!(
                (px - drawn.0).abs() < 0.2 && (py - drawn.1).abs() < 0.2,
                "{i}"
            );
        }
        // The applicant's image is only scaled and shifted.
        let ma = matrix_after(&svg, "prints/P1/1");
        assert!(ma[1].abs() < 1e-6 && ma[2].abs() < 1e-6 && (ma[0] - ma[3]).abs() < 1e-6);
    }

    #[test]
    fn images_of_a_pair_against_carry_no_correspondence() {
        let cmp = comparison(0.01);
        let geo = FingerGeometry::of(&cmp);
        let svg = finger_svg(&cmp, &geo, &images()).into_string();
        assert_eq!(svg.matches("<image class=\"print\"").count(), 2);
        assert_eq!(svg.matches("match-line").count(), 0);
        assert_eq!(svg.matches("data-pair").count(), 0);
        // Each print keeps its own frame: the candidate's image is not turned.
        let m = matrix_after(&svg, "prints/P2/1");
        assert!(m[1].abs() < 1e-6 && m[2].abs() < 1e-6);
    }

    #[test]
    fn identical_prints_are_recognised() {
        let mut cmp = comparison(0.99);
        cmp.candidate = cmp.applicant.clone();
        assert!(FingerGeometry::of(&cmp).identical);
    }
}
