//! Latency and error accounting of a load run, and its latency-over-time plot.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;
use serde::Serialize;

/// Kinds of operation a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// `POST /v1/enrolments`.
    Enrol,
    /// `POST /v1/identify`.
    Identify,
    /// `POST /v1/verify`.
    Verify,
    /// `GET /v1/enrolments/{request_id}`.
    Status,
}

/// Latency percentiles of one kind of operation, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Answers counted.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

/// Picks one statistic of a per-second row `(second, p50, p99, max)`.
type Pick = fn(&(f64, f64, f64, f64)) -> f64;

/// One answered request, for the plot.
#[derive(Debug, Clone, Copy)]
struct Sample {
    scheduled_s: f64,
    latency_ms: f64,
}

/// Latencies (microseconds in HDR histograms), errors by reason and the timeline.
#[derive(Debug)]
pub struct Stats {
    all: Histogram<u64>,
    by_op: BTreeMap<OpKind, Histogram<u64>>,
    samples: Vec<Sample>,
    /// Failures by reason code (problem `reason`, `http_NNN`, or a client error code).
    pub errors: BTreeMap<String, u64>,
    /// Answers with a 2xx status.
    pub ok: u64,
}

/// Largest latency recorded (1 hour), in microseconds.
const MAX_US: u64 = 3_600_000_000;

fn histogram() -> Result<Histogram<u64>, hdrhistogram::CreationError> {
    // 1 µs to 1 hour at 3 significant digits.
    Histogram::new_with_bounds(1, MAX_US, 3)
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    let ms = |us: u64| us as f64 / 1000.0;
    if h.is_empty() {
        return Percentiles::default();
    }
    Percentiles {
        count: h.len(),
        mean_ms: h.mean() / 1000.0,
        p50_ms: ms(h.value_at_quantile(0.5)),
        p90_ms: ms(h.value_at_quantile(0.9)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
    }
}

impl Stats {
    /// Empty statistics.
    pub fn new() -> Result<Self, hdrhistogram::CreationError> {
        let mut by_op = BTreeMap::new();
        for op in [
            OpKind::Enrol,
            OpKind::Identify,
            OpKind::Verify,
            OpKind::Status,
        ] {
            by_op.insert(op, histogram()?);
        }
        Ok(Self {
            all: histogram()?,
            by_op,
            samples: Vec::new(),
            errors: BTreeMap::new(),
            ok: 0,
        })
    }

    /// Records one answer (`error` is its reason when it failed) of an operation scheduled
    /// `scheduled_s` seconds into the run that took `latency_us` from its scheduled time.
    pub fn record(&mut self, op: OpKind, scheduled_s: f64, latency_us: u64, error: Option<String>) {
        let v = latency_us.clamp(1, MAX_US);
        let _ = self.all.record(v);
        if let Some(h) = self.by_op.get_mut(&op) {
            let _ = h.record(v);
        }
        self.samples.push(Sample {
            scheduled_s,
            latency_ms: v as f64 / 1000.0,
        });
        match error {
            Some(reason) => *self.errors.entry(reason).or_default() += 1,
            None => self.ok += 1,
        }
    }

    /// Percentiles over every operation.
    pub fn overall(&self) -> Percentiles {
        percentiles(&self.all)
    }

    /// Percentiles per operation kind.
    pub fn per_op(&self) -> BTreeMap<OpKind, Percentiles> {
        self.by_op
            .iter()
            .filter(|(_, h)| !h.is_empty())
            .map(|(k, h)| (*k, percentiles(h)))
            .collect()
    }

    /// Total failures.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Median, 99th percentile and maximum latency per second of scheduled time.
    fn per_second(&self) -> Vec<(f64, f64, f64, f64)> {
        let mut buckets: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
        for s in &self.samples {
            buckets
                .entry(s.scheduled_s.max(0.0) as u64)
                .or_default()
                .push(s.latency_ms);
        }
        buckets
            .into_iter()
            .map(|(sec, mut v)| {
                v.sort_by(f64::total_cmp);
                let at = |q: f64| {
                    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
                    v.get(i).copied().unwrap_or(0.0)
                };
                (sec as f64, at(0.5), at(0.99), at(1.0))
            })
            .collect()
    }

    /// Writes latency over time (per-second median, p99 and max, log scale) as SVG.
    pub fn plot_svg(&self, path: &Path, title: &str) -> anyhow::Result<()> {
        let series = self.per_second();
        let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("plot {}: {e}", path.display());
        let root = SVGBackend::new(path, (1000, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let t_max = series.last().map_or(1.0, |s| s.0 + 1.0);
        let y_max = series.iter().map(|s| s.3).fold(10.0, f64::max) * 1.5;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..t_max, (0.1..y_max).log_scale())
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("scheduled send time (s)")
            .y_desc("latency from scheduled send (ms)")
            .draw()
            .map_err(|e| err(&e))?;
        let lines: [(&str, RGBColor, Pick); 3] = [
            ("p50", BLUE, |s| s.1),
            ("p99", RED, |s| s.2),
            ("max", BLACK, |s| s.3),
        ];
        for (name, colour, pick) in lines {
            let pts: Vec<(f64, f64)> = series.iter().map(|s| (s.0, pick(s).max(0.1))).collect();
            chart
                .draw_series(LineSeries::new(pts, colour.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_errors() {
        let mut s = Stats::new().unwrap();
        for i in 1..=1000u64 {
            s.record(OpKind::Enrol, i as f64 / 100.0, i * 1000, None);
        }
        s.record(OpKind::Status, 5.0, 2000, Some("queue_full".into()));
        let p = s.per_op()[&OpKind::Enrol].clone();
        assert_eq!(p.count, 1000);
        assert!((p.p50_ms - 500.0).abs() < 2.0, "{}", p.p50_ms);
        assert!((p.p99_ms - 990.0).abs() < 2.0, "{}", p.p99_ms);
        assert!((p.max_ms - 1000.0).abs() < 2.0);
        assert_eq!(s.error_count(), 1);
        assert_eq!(s.ok, 1000);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lat.svg");
        s.plot_svg(&path, "t").unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("<svg"));
    }
}
