//! Iris 1:N scan throughput on a synthetic gallery: templates per CPU-second of one core, for
//! every scan strategy, measured in interleaved rounds so that load on a shared machine falls
//! on all of them alike.

use std::fmt;
use std::time::Instant;

use tunggal_datasets::iris::IrisGenerator;
use tunggal_index::iris::{
    record_of, IrisHit, IrisLayout, IrisMatcher, IrisRecords, MatchConfig, ScanStats, ScanStrategy,
};

/// What to measure.
#[derive(Debug, Clone)]
pub struct IrisPlan {
    /// Gallery records (2048-bit layout).
    pub records: usize,
    /// Distinct synthetic eyes, repeated to fill the gallery.
    pub distinct: usize,
    /// Seconds to measure (all strategies together).
    pub seconds: f64,
    /// Decision threshold on the normalised distance.
    pub threshold: f64,
    /// Cascade prefix rows (default: the matcher default).
    pub prefix_rows: Option<usize>,
    /// Cascade margin in standard deviations (default: the matcher default).
    pub z: Option<f64>,
    /// Generator seed.
    pub seed: u64,
    /// Strategies measured (all four when empty).
    pub only: Vec<ScanStrategy>,
}

/// One strategy's figures.
#[derive(Debug, Clone)]
pub struct StrategyFigures {
    /// Strategy.
    pub strategy: ScanStrategy,
    /// Gallery templates per second of the measuring thread's CPU time.
    pub per_cpu_second: f64,
    /// Gallery templates per second of wall time on that thread.
    pub per_wall_second: f64,
    /// Share of the wall time the thread ran.
    pub cpu_share: f64,
    /// Hits of one scan.
    pub hits: usize,
    /// Work of one scan.
    pub stats: ScanStats,
}

/// What `tunggal bench iris` measured.
#[derive(Debug, Clone)]
pub struct IrisReport {
    /// The plan.
    pub plan: IrisPlan,
    /// Rotations per comparison.
    pub rotations: usize,
    /// Cascade prefix rows used.
    pub prefix_rows: usize,
    /// Kernel name.
    pub kernel: &'static str,
    /// Scans per strategy.
    pub rounds: usize,
    /// One entry per strategy.
    pub figures: Vec<StrategyFigures>,
}

impl fmt::Display for IrisReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "iris 1:N scan: {} records (2048-bit, {} distinct), {} rotations, threshold {}, \
             kernel {}, cascade prefix {} rows, {} interleaved rounds",
            self.plan.records,
            self.plan.distinct,
            self.rotations,
            self.plan.threshold,
            self.kernel,
            self.prefix_rows,
            self.rounds
        )?;
        let base = self
            .figures
            .first()
            .map(|x| x.per_cpu_second)
            .unwrap_or(1.0);
        writeln!(
            f,
            "{:<18} {:>14} {:>14} {:>6} {:>9} {:>11} {:>9} {:>5}",
            "strategy",
            "tmpl/CPU-s",
            "tmpl/s wall",
            "cpu%",
            "vs first",
            "row pairs%",
            "survive%",
            "hits"
        )?;
        for x in &self.figures {
            let s = &x.stats;
            let full = s.records as f64 * self.rotations as f64 * 8.0;
            writeln!(
                f,
                "{:<18} {:>14.0} {:>14.0} {:>5.0}% {:>8.2}x {:>10.2}% {:>8.3}% {:>5}",
                format!("{:?}", x.strategy),
                x.per_cpu_second,
                x.per_wall_second,
                100.0 * x.cpu_share,
                x.per_cpu_second / base,
                100.0 * s.row_comparisons as f64 / full,
                100.0 * s.gate_survivors as f64 / s.records.max(1) as f64,
                x.hits
            )?;
        }
        Ok(())
    }
}

/// Builds the gallery and measures every strategy.
pub fn iris_throughput(plan: &IrisPlan) -> anyhow::Result<IrisReport> {
    let layout = IrisLayout::DAUGMAN_2048;
    anyhow::ensure!(plan.records > 0 && plan.distinct > 0, "empty gallery");
    let g = IrisGenerator::new(plan.seed, layout);
    let mut rng = g.rng(0);
    let distinct: Vec<Vec<u64>> = (0..plan.distinct.min(plan.records))
        .map(|_| record_of(&g.capture(&g.master(&mut rng), 0.7, &mut rng)))
        .collect();
    let words: Vec<u64> = (0..plan.records)
        .flat_map(|i| distinct[i % distinct.len()].iter().copied())
        .collect();
    let records = IrisRecords::new(layout, &words)?;
    let mut config = MatchConfig::for_layout(layout);
    if let Some(p) = plan.prefix_rows {
        config.cascade.prefix_rows = p;
    }
    if let Some(z) = plan.z {
        config.cascade.z = z;
    }
    let matcher = IrisMatcher::new(layout, config)?;
    let probe = g.capture(&g.master(&mut rng), 0.7, &mut rng);
    let query = matcher.query(&probe, plan.threshold)?;
    let strategies = if plan.only.is_empty() {
        vec![
            ScanStrategy::FullReference,
            ScanStrategy::CascadeReference,
            ScanStrategy::Full,
            ScanStrategy::Cascade,
        ]
    } else {
        plan.only.clone()
    };
    let k = strategies.len();
    let mut cpu = vec![0.0f64; k];
    let mut wall = vec![0.0f64; k];
    let mut hits = vec![0usize; k];
    let mut stats = vec![ScanStats::default(); k];
    let mut out: Vec<IrisHit> = Vec::new();
    let started = Instant::now();
    let mut rounds = 0;
    while rounds < 2 || started.elapsed().as_secs_f64() < plan.seconds {
        for (i, &s) in strategies.iter().enumerate() {
            out.clear();
            let w0 = Instant::now();
            let c0 = cpu_time::ThreadTime::now();
            let st = matcher.scan(&query, records, 0, s, &mut out)?;
            cpu[i] += c0.elapsed().as_secs_f64();
            wall[i] += w0.elapsed().as_secs_f64();
            hits[i] = out.len();
            stats[i] = st;
        }
        rounds += 1;
    }
    let n = (plan.records * rounds) as f64;
    let figures = strategies
        .iter()
        .enumerate()
        .map(|(i, &strategy)| StrategyFigures {
            strategy,
            per_cpu_second: n / cpu[i].max(1e-9),
            per_wall_second: n / wall[i].max(1e-9),
            cpu_share: cpu[i] / wall[i].max(1e-9),
            hits: hits[i],
            stats: stats[i],
        })
        .collect();
    Ok(IrisReport {
        plan: plan.clone(),
        rotations: config.rotations(),
        prefix_rows: config.cascade.prefix_rows,
        kernel: matcher.kernel().name(),
        rounds,
        figures,
    })
}
