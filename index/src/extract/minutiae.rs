//! Minutiae on the skeleton: crossing-number detection, direction from the ridge walk
//! snapped to the orientation field, and removal of false minutiae (border, spurs, short
//! ridges, bridges, breaks, clusters).

use std::f32::consts::{PI, TAU};

use super::field::Field;
use super::skeleton::{Skeleton, WalkEnd};
use super::ExtractParams;
use crate::template::MinutiaKind;

/// A detected minutia in working-frame pixel space (y down, angle clockwise on the image).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found {
    pub x: usize,
    pub y: usize,
    /// Direction in radians, pixel space: the vector `(cos a, sin a)`.
    pub angle: f32,
    pub kind: MinutiaKind,
    /// Quality 0–1.
    pub quality: f32,
    removed: bool,
}

/// Angle of the vector `(dx, dy)`, in `[0, 2π)`.
fn angle_of(dx: f32, dy: f32) -> f32 {
    let a = dy.atan2(dx);
    if a < 0.0 {
        a + TAU
    } else {
        a
    }
}

/// Smallest absolute difference of two angles, in `[0, π]`.
fn angle_diff(a: f32, b: f32) -> f32 {
    let d = (a - b).rem_euclid(TAU);
    d.min(TAU - d)
}

/// The orientation field at `(x, y)` turned to the half-turn nearest `traced`.
fn snap(field: &Field, x: usize, y: usize, traced: f32) -> f32 {
    let (c, s) = field.orientation_at(x as f32 + 0.5, y as f32 + 0.5);
    let o = angle_of(c, s) * 0.5;
    let alt = (o + PI) % TAU;
    if angle_diff(o, traced) <= angle_diff(alt, traced) {
        o
    } else {
        alt
    }
}

/// Detects minutiae on the skeleton and removes false ones.
pub(crate) fn detect(sk: &mut Skeleton, field: &Field, p: &ExtractParams) -> Vec<Found> {
    let (w, h) = (sk.width, sk.height);
    let margin = p.edge_margin;
    let mut found = Vec::new();
    // Short structures found while walking: pairs of indices into `found` to remove later.
    for y in margin.max(1)..h.saturating_sub(margin.max(1)) {
        for x in margin.max(1)..w.saturating_sub(margin.max(1)) {
            if sk.pixels[y * w + x] == 0 {
                continue;
            }
            let kind = match sk.crossing_number(x, y) {
                1 => MinutiaKind::Ending,
                3 => MinutiaKind::Bifurcation,
                _ => continue,
            };
            let b = field.block_of(x, y);
            if !field.inner[b] {
                continue;
            }
            found.push(Found {
                x,
                y,
                angle: 0.0,
                kind,
                quality: field.coherence[b],
                removed: false,
            });
        }
    }
    // Index of minutiae by pixel, to find what a walk reached.
    let lookup = |found: &[Found], x: usize, y: usize| -> Option<usize> {
        found
            .iter()
            .position(|m| m.x.abs_diff(x) <= 1 && m.y.abs_diff(y) <= 1)
    };
    let mut removals: Vec<usize> = Vec::new();
    for i in 0..found.len() {
        let (x, y) = (found[i].x, found[i].y);
        let (starts, n) = sk.starts(x, y);
        match found[i].kind {
            MinutiaKind::Ending => {
                sk.new_walks();
                sk.mark(x, y);
                if n == 0 {
                    removals.push(i);
                    continue;
                }
                let (sx, sy) = starts[0];
                let walk = sk.walk(sx, sy, p.trace_steps);
                // ISO: an ending points along its ridge, into the ridge.
                let traced = angle_of(walk.x as f32 - x as f32, walk.y as f32 - y as f32);
                found[i].angle = snap(field, x, y, traced);
                match walk.end {
                    WalkEnd::Length => {}
                    WalkEnd::Ending if walk.steps <= p.short_ridge => {
                        removals.push(i);
                        if let Some(j) = lookup(&found, walk.x, walk.y) {
                            removals.push(j);
                        }
                    }
                    WalkEnd::Junction if walk.steps <= p.spur => {
                        removals.push(i);
                        if let Some(j) = lookup(&found, walk.x, walk.y) {
                            removals.push(j);
                        }
                    }
                    _ => {}
                }
            }
            MinutiaKind::Bifurcation => {
                // Walk each branch; the stem is the branch pointing away from the other two.
                let mut dirs = [0.0f32; 3];
                let mut branches = 0;
                sk.new_walks();
                sk.mark(x, y);
                for &(sx, sy) in &starts[..n] {
                    sk.mark(sx, sy);
                }
                for &(sx, sy) in &starts[..n] {
                    if branches == 3 {
                        break;
                    }
                    let walk = sk.walk(sx, sy, p.trace_steps);
                    if walk.steps <= 1 && walk.end != WalkEnd::Length {
                        continue;
                    }
                    if walk.end == WalkEnd::Junction && walk.steps <= p.bridge {
                        removals.push(i);
                        if let Some(j) = lookup(&found, walk.x, walk.y) {
                            if j != i {
                                removals.push(j);
                            }
                        }
                    }
                    dirs[branches] = angle_of(walk.x as f32 - x as f32, walk.y as f32 - y as f32);
                    branches += 1;
                }
                if branches < 3 {
                    removals.push(i);
                    continue;
                }
                let pairs = [(0, 1, 2), (0, 2, 1), (1, 2, 0)];
                let Some(&(a, b, stem)) = pairs.iter().min_by(|l, r| {
                    angle_diff(dirs[l.0], dirs[l.1]).total_cmp(&angle_diff(dirs[r.0], dirs[r.1]))
                }) else {
                    continue;
                };
                let (ca, sa) = (dirs[a].cos() + dirs[b].cos(), dirs[a].sin() + dirs[b].sin());
                let bisector = angle_of(ca, sa);
                let away = (dirs[stem] + PI) % TAU;
                let traced = angle_of(bisector.cos() + away.cos(), bisector.sin() + away.sin());
                found[i].angle = snap(field, x, y, traced);
            }
            MinutiaKind::Other => {}
        }
    }
    for &i in &removals {
        found[i].removed = true;
    }
    remove_breaks(&mut found, p);
    remove_clusters(&mut found, p);
    found.retain(|m| !m.removed);
    found
}

/// Two facing endings close together are a broken ridge.
fn remove_breaks(found: &mut [Found], p: &ExtractParams) {
    let max2 = (p.break_distance * p.break_distance) as f32;
    for i in 0..found.len() {
        if found[i].removed || found[i].kind != MinutiaKind::Ending {
            continue;
        }
        for j in i + 1..found.len() {
            if found[j].removed || found[j].kind != MinutiaKind::Ending {
                continue;
            }
            let dx = found[j].x as f32 - found[i].x as f32;
            let dy = found[j].y as f32 - found[i].y as f32;
            let d2 = dx * dx + dy * dy;
            if d2 > max2 {
                continue;
            }
            // Endings point into their ridges: across a break they point away from each other.
            let facing = angle_diff(found[i].angle, found[j].angle) > PI * 0.6;
            let line = angle_of(-dx, -dy);
            let aligned = angle_diff(found[i].angle, line) < PI * 0.35;
            if facing && aligned {
                found[i].removed = true;
                found[j].removed = true;
            }
        }
    }
}

/// Minutiae closer than `cluster_distance` to another are noise: remove them all.
fn remove_clusters(found: &mut [Found], p: &ExtractParams) {
    let max2 = (p.cluster_distance * p.cluster_distance) as f32;
    let mut crowded = vec![false; found.len()];
    for i in 0..found.len() {
        if found[i].removed {
            continue;
        }
        for j in i + 1..found.len() {
            if found[j].removed {
                continue;
            }
            let dx = found[j].x as f32 - found[i].x as f32;
            let dy = found[j].y as f32 - found[i].y as f32;
            if dx * dx + dy * dy <= max2 {
                crowded[i] = true;
                crowded[j] = true;
            }
        }
    }
    for (m, c) in found.iter_mut().zip(crowded) {
        if c {
            m.removed = true;
        }
    }
}
