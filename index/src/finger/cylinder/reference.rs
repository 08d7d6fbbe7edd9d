//! The straightforward cylinder construction (every cell against every neighbour, the hull
//! test on the hull as built), kept to check that the fast construction gives the same bits.

use super::{to_points, CylinderTables, PreparedTemplate, MAX_ND, SPATIAL_STEPS_PER_PX2};
use crate::finger::geometry::{convex_hull, within_hull};
use crate::finger::params::MccParams;
use crate::template::FingerTemplate;

/// Builds every usable cylinder of a template, cell by cell.
pub(crate) fn prepare_reference(
    template: &FingerTemplate,
    params: &MccParams,
    tables: &CylinderTables,
) -> PreparedTemplate {
    let points = to_points(template);
    let hull = convex_hull(&points);
    let ns = params.ns;
    let nd = params.nd.min(MAX_ND);
    let wpl = params.words_per_layer();
    let stride = (nd + 1) * wpl;
    let delta_s = 2.0 * params.radius / ns as f32;
    let reach = 3.0 * params.sigma_s;
    let reach2 = reach * reach;
    let neighbourhood2 = (params.radius + reach) * (params.radius + reach);

    let half = (ns as f32 - 1.0) / 2.0;
    let disc: Vec<(usize, f32, f32)> = (0..ns * ns)
        .map(|c| {
            (
                c,
                delta_s * ((c / ns) as f32 - half),
                delta_s * ((c % ns) as f32 - half),
            )
        })
        .filter(|&(_, u, v)| u * u + v * v <= params.radius * params.radius)
        .collect();

    let mut by_direction: Vec<usize> = (0..points.len()).collect();
    by_direction.sort_by_key(|&i| (template.minutiae[i].angle, i));
    let mut out = PreparedTemplate {
        stride,
        minutiae: points.len(),
        ..Default::default()
    };
    let mut neighbours: Vec<(f32, f32, &[f32; MAX_ND])> = Vec::new();
    let mut cyl = vec![0u64; stride];
    for &index in &by_direction {
        let m = &points[index];
        let m_angle = template.minutiae[index].angle;
        neighbours.clear();
        for (t, n) in points.iter().enumerate() {
            let (dx, dy) = (n.x - m.x, n.y - m.y);
            if t != index && dx * dx + dy * dy <= neighbourhood2 {
                let turn = m_angle.wrapping_sub(template.minutiae[t].angle);
                neighbours.push((n.x, n.y, &tables.directional[usize::from(turn)]));
            }
        }
        if neighbours.len() < params.min_m {
            continue;
        }
        cyl.iter_mut().for_each(|w| *w = 0);
        let (sin, cos) = m.theta.sin_cos();
        let mut valid_cells = 0;
        for &(c, u, v) in &disc {
            let px = m.x + cos * u - sin * v;
            let py = m.y + sin * u + cos * v;
            if !within_hull(&hull, px, py, params.omega) {
                continue;
            }
            valid_cells += 1;
            let (word, bit) = (c / 64, c % 64);
            cyl[nd * wpl + word] |= 1 << bit;
            let mut sums = [0.0f32; MAX_ND];
            for &(nx, ny, gd) in &neighbours {
                let d2 = (nx - px) * (nx - px) + (ny - py) * (ny - py);
                if d2 > reach2 {
                    continue;
                }
                let step = (d2 * SPATIAL_STEPS_PER_PX2) as usize;
                let gs = tables.spatial.get(step).copied().unwrap_or(0.0);
                for k in 0..MAX_ND {
                    sums[k] += gs * gd[k];
                }
            }
            for (k, &s) in sums.iter().enumerate().take(nd) {
                if s > params.mu_psi {
                    cyl[k * wpl + word] |= 1 << bit;
                }
            }
        }
        if (valid_cells as f32) < params.min_vc * disc.len() as f32 {
            continue;
        }
        out.points.push(*m);
        out.source_index.push(index as u16);
        out.directions.push(m_angle);
        out.bits.extend_from_slice(&cyl);
    }
    out.layout = crate::finger::kernel::Layout::of(&out);
    out
}
