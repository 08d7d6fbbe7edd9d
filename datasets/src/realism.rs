//! Statistics that compare synthetic minutiae templates with real ones: minutiae count, share
//! of ridge endings, nearest-neighbour distance, local direction coherence and same-sense
//! share of neighbours, each with a two-sample Kolmogorov–Smirnov distance.

use tunggal_index::template::{FingerTemplate, MinutiaKind};

/// Neighbourhood radius for the direction statistics, pixels.
pub const NEIGHBOUR_RADIUS: f32 = 30.0;

/// Samples of every statistic over a set of templates.
#[derive(Debug, Clone, Default)]
pub struct TemplateStats {
    /// Minutiae per template.
    pub counts: Vec<f64>,
    /// Share of ridge endings among endings and bifurcations, per template.
    pub ending_share: Vec<f64>,
    /// Distance from each minutia to its nearest neighbour, pixels.
    pub nearest: Vec<f64>,
    /// Per minutia with neighbours within [`NEIGHBOUR_RADIUS`]: mean |cos| of the direction
    /// difference to them (1: parallel or anti-parallel ridges).
    pub coherence: Vec<f64>,
    /// Per minutia with neighbours: share of neighbours pointing the same way (cos > 0).
    pub same_sense: Vec<f64>,
}

impl TemplateStats {
    /// Computes the statistics of `templates`.
    pub fn of<'a>(templates: impl IntoIterator<Item = &'a FingerTemplate>) -> Self {
        let mut s = Self::default();
        for t in templates {
            s.add(t);
        }
        s
    }

    fn add(&mut self, t: &FingerTemplate) {
        let m = &t.minutiae;
        self.counts.push(m.len() as f64);
        let endings = m.iter().filter(|x| x.kind == MinutiaKind::Ending).count();
        let typed = endings
            + m.iter()
                .filter(|x| x.kind == MinutiaKind::Bifurcation)
                .count();
        if typed > 0 {
            self.ending_share.push(endings as f64 / typed as f64);
        }
        let r2 = NEIGHBOUR_RADIUS * NEIGHBOUR_RADIUS;
        for (i, a) in m.iter().enumerate() {
            let mut nearest = f32::INFINITY;
            let (mut n, mut abs_cos, mut same) = (0u32, 0.0f32, 0u32);
            for (j, b) in m.iter().enumerate() {
                if i == j {
                    continue;
                }
                let dx = f32::from(a.x) - f32::from(b.x);
                let dy = f32::from(a.y) - f32::from(b.y);
                let d2 = dx * dx + dy * dy;
                nearest = nearest.min(d2);
                if d2 < r2 {
                    let c = (a.angle_rad() - b.angle_rad()).cos();
                    n += 1;
                    abs_cos += c.abs();
                    same += u32::from(c > 0.0);
                }
            }
            if nearest.is_finite() {
                self.nearest.push(f64::from(nearest.sqrt()));
            }
            if n > 0 {
                self.coherence.push(f64::from(abs_cos / n as f32));
                self.same_sense.push(f64::from(same) / f64::from(n));
            }
        }
    }

    /// The statistics by name, in a fixed order.
    pub fn named(&self) -> [(&'static str, &[f64]); 5] {
        [
            ("minutiae count", &self.counts),
            ("ending share", &self.ending_share),
            ("nearest-neighbour distance (px)", &self.nearest),
            ("direction coherence within 30 px", &self.coherence),
            ("same-sense share within 30 px", &self.same_sense),
        ]
    }
}

/// Mean of a sample (0 for an empty one).
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// The `q` quantile (0–1) of a sample by nearest rank (0 for an empty one).
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    v[i]
}

/// The percentiles of a score sample reported side by side with the real ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScorePercentiles {
    /// Sample size.
    pub n: usize,
    /// 1st, 10th, 50th, 90th and 99th percentile, by nearest rank.
    pub p: [f64; 5],
}

impl ScorePercentiles {
    /// The levels of [`ScorePercentiles::p`].
    pub const LEVELS: [f64; 5] = [0.01, 0.1, 0.5, 0.9, 0.99];

    /// Percentiles of `xs`.
    pub fn of(xs: &[f64]) -> Self {
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if v.is_empty() {
                0.0
            } else {
                v[((v.len() - 1) as f64 * q).round() as usize]
            }
        };
        Self {
            n: v.len(),
            p: Self::LEVELS.map(at),
        }
    }
}

impl std::fmt::Display for ScorePercentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, e] = self.p;
        write!(
            f,
            "n={} p1/p10/p50/p90/p99 = {a:.3}/{b:.3}/{c:.3}/{d:.3}/{e:.3}",
            self.n
        )
    }
}

/// Two-sample Kolmogorov–Smirnov distance: the largest gap between the empirical CDFs
/// (1 when either sample is empty).
pub fn ks_distance(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

/// One statistic compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Statistic name.
    pub name: &'static str,
    /// Real mean, 10th and 90th percentile.
    pub real: [f64; 3],
    /// Synthetic mean, 10th and 90th percentile.
    pub synthetic: [f64; 3],
    /// Kolmogorov–Smirnov distance between the two samples.
    pub ks: f64,
}

fn summary(xs: &[f64]) -> [f64; 3] {
    [mean(xs), quantile(xs, 0.1), quantile(xs, 0.9)]
}

/// Compares every statistic of `synthetic` with `real`.
pub fn compare(real: &TemplateStats, synthetic: &TemplateStats) -> Vec<Comparison> {
    real.named()
        .iter()
        .zip(synthetic.named().iter())
        .map(|((name, r), (_, s))| Comparison {
            name,
            real: summary(r),
            synthetic: summary(s),
            ks: ks_distance(r, s),
        })
        .collect()
}

/// The comparison as a Markdown table.
pub fn markdown_table(rows: &[Comparison]) -> String {
    let mut out = String::from(
        "| statistic | real mean [p10, p90] | synthetic mean [p10, p90] | KS distance |\n|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {:.3} [{:.3}, {:.3}] | {:.3} [{:.3}, {:.3}] | {:.3} |\n",
            r.name,
            r.real[0],
            r.real[1],
            r.real[2],
            r.synthetic[0],
            r.synthetic[1],
            r.synthetic[2],
            r.ks
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tunggal_index::template::Minutia;

    #[test]
    fn ks_distance_is_zero_for_equal_and_one_for_disjoint_samples() {
        let a = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(ks_distance(&a, &a), 0.0);
        assert_eq!(ks_distance(&a, &[10.0, 11.0]), 1.0);
        assert!((ks_distance(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0, 5.0, 6.0]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn stats_measure_spacing_kinds_and_directions() {
        let m = |x, y, angle, kind| Minutia {
            x,
            y,
            angle,
            kind,
            quality: 0,
        };
        let t = FingerTemplate {
            minutiae: vec![
                m(10, 10, 0, MinutiaKind::Ending),
                m(20, 10, 128, MinutiaKind::Ending),
                m(100, 100, 64, MinutiaKind::Bifurcation),
            ],
            ..FingerTemplate::default()
        };
        let s = TemplateStats::of([&t]);
        assert_eq!(s.counts, vec![3.0]);
        assert!((s.ending_share[0] - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(s.nearest[..2], [10.0, 10.0]);
        // The two close minutiae are anti-parallel: fully coherent, never same sense.
        assert_eq!(s.coherence.len(), 2);
        assert!(s.coherence.iter().all(|&c| c > 0.999));
        assert!(s.same_sense.iter().all(|&c| c == 0.0));
    }
}
