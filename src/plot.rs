//! Plots written as SVG.

use std::path::Path;

use plotters::prelude::*;

use crate::eval::DatabaseReport;
use tunggal_index::eval::OperatingPoint;

/// Writes a DET plot (FNMR against FMR, both on log axes) of the all-impostor protocol.
pub fn det_svg(path: &Path, reports: &[DatabaseReport]) -> anyhow::Result<()> {
    let curves: Vec<DetCurve<'_>> = reports
        .iter()
        .map(|r| DetCurve {
            name: &r.name,
            eer: r.all_impostor.eer,
            points: &r.det,
        })
        .collect();
    det_curves_svg(path, "DET (all-impostor protocol)", &curves)
}

/// One curve of a DET plot.
#[derive(Debug, Clone, Copy)]
pub struct DetCurve<'a> {
    /// Legend name.
    pub name: &'a str,
    /// Equal error rate shown in the legend (a fraction).
    pub eer: f64,
    /// Operating points.
    pub points: &'a [OperatingPoint],
}

/// Writes a DET plot (FNMR against FMR, both on log axes, floor 10⁻⁴) of some curves.
pub fn det_curves_svg(path: &Path, title: &str, curves: &[DetCurve<'_>]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (800, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let floor = 1e-4;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((floor..1.0f64).log_scale(), (floor..1.0f64).log_scale())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("FMR")
        .y_desc("FNMR")
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (i, c) in curves.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        let pts: Vec<(f64, f64)> = c
            .points
            .iter()
            .map(|p| (p.fmr.max(floor), p.fnmr.max(floor)))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, colour.stroke_width(2)))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(format!("{} (EER {:.2}%)", c.name, c.eer * 100.0))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
