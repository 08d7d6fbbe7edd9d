//! Eyelid edges: parabolas through the iris with the strongest vertical grey-level step
//! (bright lid outside, darker iris inside).

use super::distance::{hypot_gt, hypot_lt};
use super::plane::Plane;
use super::segment::{Circle, Eyelid};
use super::EyeParams;

/// Apex columns searched are `iris.x + APEX_STEP · k · r_iris` for `|k| ≤`
/// [`EyeParams::eyelid_apex_shifts`]: a curved lid with its apex off the iris centre is also a
/// tilted lid (a head turned in the image plane), `y = a + c (x − x₀)² + t (x − x₀)` being
/// the parabola of apex `x₀ − t / 2c`.
const APEX_STEP: f32 = 0.2;

/// The strongest lid edge crossing the iris, or `None` when no candidate steps by at least
/// `min_eyelid_contrast`.
#[inline(never)] // a stage of its own in profiles
pub(crate) fn find_eyelid(
    p: &Plane,
    pupil: Circle,
    iris: Circle,
    upper: bool,
    params: &EyeParams,
) -> Option<Eyelid> {
    let ri = iris.r;
    let (y_from, y_to) = if upper {
        (iris.y - ri, pupil.y)
    } else {
        (pupil.y + pupil.r * 0.5, iris.y + ri)
    };
    let gap = (ri * 0.04).max(2.0);
    let sign = if upper { 1.0 } else { -1.0 };
    let mut best: Option<(f32, Eyelid)> = None;
    let shifts = params.eyelid_apex_shifts as isize;
    // The columns sampled, the same for every candidate.
    let mut columns = Vec::new();
    let mut x = iris.x - 0.9 * ri;
    while x <= iris.x + 0.9 * ri {
        columns.push(x);
        x += 2.0;
    }
    let clear = pupil.r + 2.0 * gap;
    let mut y0 = y_from;
    while y0 <= y_to {
        for c in [0.0f32, 0.15, 0.3, 0.5] {
            // A straight lid has no apex to move.
            let shifts = if c == 0.0 { 0 } else { shifts };
            for shift in -shifts..=shifts {
                let lid = Eyelid {
                    apex_x: iris.x + APEX_STEP * shift as f32 * ri,
                    apex_y: y0,
                    curvature: sign * c / ri,
                };
                let mut sum = 0.0f32;
                let mut n = 0usize;
                for &x in &columns {
                    let y = lid.y_at(x);
                    let inside = hypot_lt(x - iris.x, y - iris.y, ri)
                        && hypot_gt(x - pupil.x, y - pupil.y, clear);
                    if inside {
                        if let (Some(a), Some(b)) = (p.sample(x, y - gap), p.sample(x, y + gap)) {
                            sum += sign * (a - b);
                            n += 1;
                        }
                    }
                }
                if n >= 6 {
                    let v = sum / n as f32;
                    if best.is_none_or(|(b, _)| v > b) {
                        best = Some((v, lid));
                    }
                }
            }
        }
        y0 += 1.0;
    }
    best.filter(|(v, _)| *v >= params.min_eyelid_contrast)
        .map(|(_, l)| l)
}

/// Moves an upper lid found at the skin's edge down to the lower edge of the lashes hanging
/// from it: the parabola of the same curvature, at most `depth` pixels lower, where the grey
/// level steps up most from above (dark lashes) to below (iris), when that step reaches
/// `min_step`; otherwise the lid as found.
pub(crate) fn lash_edge(
    p: &Plane,
    pupil: Circle,
    iris: Circle,
    lid: Eyelid,
    depth: f32,
    min_step: f32,
) -> Eyelid {
    let ri = iris.r;
    let gap = (ri * 0.04).max(2.0);
    let mut best: Option<(f32, Eyelid)> = None;
    let mut dy = gap;
    while dy <= depth {
        let cand = Eyelid {
            apex_y: lid.apex_y + dy,
            ..lid
        };
        let (mut sum, mut n) = (0.0f32, 0usize);
        let mut x = iris.x - 0.9 * ri;
        while x <= iris.x + 0.9 * ri {
            let y = cand.y_at(x);
            let inside = (x - iris.x).hypot(y - iris.y) < ri
                && (x - pupil.x).hypot(y - pupil.y) > pupil.r + 2.0 * gap;
            if inside {
                if let (Some(a), Some(b)) = (p.sample(x, y - gap), p.sample(x, y + gap)) {
                    sum += b - a;
                    n += 1;
                }
            }
            x += 2.0;
        }
        if n >= 6 {
            let v = sum / n as f32;
            if best.is_none_or(|(b, _)| v > b) {
                best = Some((v, cand));
            }
        }
        dy += 1.0;
    }
    match best {
        Some((v, cand)) if v >= min_step => cand,
        _ => lid,
    }
}
