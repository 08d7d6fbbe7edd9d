//! The report's plot: per-finger first-stage retention against penetration, and every
//! probe's fused ratio (mated probes against their mate, chimeras their best candidate)
//! against the decision threshold.

use std::path::Path;

use plotters::prelude::*;

use super::fingers::PairRank;
use super::PersonsReport;

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("plot: {e}")
}

/// Share of `pairs` retained at each of `points` penetrations.
fn curve(pairs: &[&PairRank], points: &[f64]) -> Vec<(f64, f64)> {
    points
        .iter()
        .map(|&p| {
            let kept = pairs.iter().filter(|r| r.retained(p)).count();
            (p, kept as f64 / pairs.len().max(1) as f64)
        })
        .collect()
}

/// Writes the SVG.
pub fn svg(report: &PersonsReport, path: &Path) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1200, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (left, right) = root.split_horizontally(600);

    let floor = 1e-5;
    let points: Vec<f64> = (0..=50)
        .map(|i| floor * 10f64.powf(i as f64 / 10.0))
        .collect();
    let mut chart = ChartBuilder::on(&left)
        .caption("Per-finger first-stage retention", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d((floor..1.0f64).log_scale(), 0.0..1.0f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("penetration (rank / background fingers)")
        .y_desc("genuine pairs retained")
        .draw()
        .map_err(err)?;
    let f = &report.fingers;
    let mut groups: Vec<(String, Vec<&PairRank>)> = report
        .persons
        .iter()
        .map(|p| {
            let mine = f.pairs.iter().filter(|r| r.person == p.name).collect();
            (p.name.clone(), mine)
        })
        .collect();
    groups.push(("all".into(), f.pairs.iter().collect()));
    let last = groups.len() - 1;
    for (i, (name, pairs)) in groups.iter().enumerate() {
        let colour = if i == last {
            BLACK.to_rgba()
        } else {
            Palette99::pick(i).to_rgba()
        };
        chart
            .draw_series(LineSeries::new(
                curve(pairs, &points),
                colour.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!("{name} ({} pairs)", pairs.len()))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;

    // Right: fused ratio per probe.
    let fused: Vec<(f64, f32, RGBAColor)> = report
        .probes
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match &p.mate {
            Some(m) => {
                let c = if m.found { GREEN } else { RED };
                Some((i as f64, m.fused, c.to_rgba()))
            }
            None => p.best.as_ref().map(|b| (i as f64, b.fused, BLUE.mix(0.6))),
        })
        .collect();
    let threshold = report.probes.first().map_or(0.0, |p| p.threshold);
    let lo = fused.iter().map(|x| x.1).fold(-10.0f32, f32::min) - 2.0;
    let hi = fused.iter().map(|x| x.1).fold(threshold, f32::max) + 5.0;
    let n = report.probes.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&right)
        .caption(
            format!(
                "Fused ratio: mates (green found, red missed), chimeras' best (blue); {} mode",
                serde_json::to_value(report.mode)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
            ("sans-serif", 14),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(-1.0..n, lo..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("probe")
        .y_desc("fused log-likelihood ratio")
        .draw()
        .map_err(err)?;
    chart
        .draw_series(
            fused
                .iter()
                .map(|&(x, y, c)| Circle::new((x, y), 4, c.filled())),
        )
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(
            [(-1.0, threshold), (n, threshold)],
            BLACK.stroke_width(1),
        ))
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
