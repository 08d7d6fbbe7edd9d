//! Iris 1:N scan throughput on a synthetic gallery: templates per CPU-second of one core, for
//! every scan strategy, measured in interleaved rounds so that load on a shared machine falls
//! on all of them alike.

use std::fmt;
use std::time::Instant;

use rand::Rng;
use tunggal_datasets::iris::IrisGenerator;
use tunggal_index::iris::{
    record_of, CoarseConfig, IrisHit, IrisLayout, IrisMatcher, IrisQuery, IrisRecords,
    IrisTemplate, MatchConfig, ScanStats, ScanStrategy,
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
    /// Strategies measured (all when empty).
    pub only: Vec<ScanStrategy>,
    /// Coarse-level settings (default: [`CoarseConfig::for_layout`]).
    pub coarse: Option<CoarseConfig>,
    /// Genuine pairs whose gate passes are counted per strategy (none when 0).
    pub mated_pairs: usize,
    /// Impostor comparisons whose gate passes are counted per strategy (about; none when 0).
    pub non_mated: usize,
}

/// Parses coarse-level settings written `rows,step,z,misalignment,reach[,gate_rows,gate_z]`
/// (without the last two, the level has a single test).
pub fn parse_coarse(text: &str) -> anyhow::Result<CoarseConfig> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let (head, gate) = match parts.as_slice() {
        [a, b, c, d, e] => ([*a, *b, *c, *d, *e], None),
        [a, b, c, d, e, f, g] => ([*a, *b, *c, *d, *e], Some((*f, *g))),
        _ => anyhow::bail!(
            "coarse settings are rows,step,z,misalignment,reach[,gate_rows,gate_z]: {text}"
        ),
    };
    let [rows, step, z, misalignment, reach] = head;
    let (gate_rows, gate_z) = match gate {
        Some((r, z)) => (r.parse()?, z.parse()?),
        None => (0, 0.0),
    };
    let config = CoarseConfig {
        rows: rows.parse()?,
        step: step.parse()?,
        z: z.parse()?,
        misalignment: misalignment.parse()?,
        reach: reach.parse()?,
        gate_rows,
        gate_z,
    };
    config.validate(IrisLayout::DAUGMAN_2048)?;
    Ok(config)
}

/// Gate passes of one strategy over genuine and impostor comparisons.
#[derive(Debug, Clone)]
pub struct GateCounts {
    /// Strategy.
    pub strategy: ScanStrategy,
    /// Genuine pairs at or below the threshold.
    pub mated_passed: usize,
    /// Impostor comparisons at or below the threshold.
    pub non_mated_passed: usize,
    /// Impostor records left after the first gate of the scan (for the coarse level: those
    /// compared in full).
    pub non_mated_survivors: u64,
}

/// Genuine and impostor gate passes per strategy.
#[derive(Debug, Clone)]
pub struct GateAgreement {
    /// Genuine pairs compared.
    pub mated_pairs: usize,
    /// Impostor comparisons made.
    pub non_mated: usize,
    /// Largest full `hd_norm` of a genuine pair.
    pub worst_mated_hd_norm: f64,
    /// Coarse-level settings.
    pub coarse: CoarseConfig,
    /// One entry per strategy.
    pub counts: Vec<GateCounts>,
}

impl fmt::Display for GateAgreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "gate agreement: {} genuine pairs (both captures at quality uniform in [0, 1];              worst full hd_norm {:.4}), {} impostor comparisons",
            self.mated_pairs, self.worst_mated_hd_norm, self.non_mated
        )?;
        writeln!(
            f,
            "{:<18} {:>14} {:>16} {:>22}",
            "strategy", "genuine pass", "impostor pass", "impostor survive first"
        )?;
        for c in &self.counts {
            writeln!(
                f,
                "{:<18} {:>14} {:>16} {:>14} ({:.3}%)",
                format!("{:?}", c.strategy),
                c.mated_passed,
                c.non_mated_passed,
                c.non_mated_survivors,
                100.0 * c.non_mated_survivors as f64 / self.non_mated.max(1) as f64
            )?;
        }
        Ok(())
    }
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
    /// Gate passes over genuine and impostor comparisons, when asked for.
    pub agreement: Option<GateAgreement>,
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
        if let Some(a) = &self.agreement {
            write!(f, "{a}")?;
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
    let coarse = plan
        .coarse
        .unwrap_or_else(|| CoarseConfig::for_layout(layout));
    let query_of = |t: &IrisTemplate| -> anyhow::Result<IrisQuery> {
        Ok(matcher.query(t, plan.threshold)?.with_coarse(coarse)?)
    };
    let probe = g.capture(&g.master(&mut rng), 0.7, &mut rng);
    let query = query_of(&probe)?;
    let strategies = if plan.only.is_empty() {
        vec![
            ScanStrategy::FullReference,
            ScanStrategy::CascadeReference,
            ScanStrategy::Full,
            ScanStrategy::Cascade,
            ScanStrategy::Coarse,
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
    let agreement = if plan.mated_pairs + plan.non_mated > 0 {
        Some(gate_agreement(
            plan,
            &g,
            &matcher,
            &query_of,
            &words,
            distinct.len(),
        )?)
    } else {
        None
    };
    Ok(IrisReport {
        agreement,
        plan: plan.clone(),
        rotations: config.rotations(),
        prefix_rows: config.cascade.prefix_rows,
        kernel: matcher.kernel().name(),
        rounds,
        figures,
    })
}

/// Counts, for [`ScanStrategy::Full`], [`ScanStrategy::Cascade`] and [`ScanStrategy::Coarse`],
/// the genuine pairs and impostor comparisons at or below the threshold. Genuine pairs are
/// two captures of a new eye at qualities uniform in `[0, 1]`; impostor comparisons are new
/// eyes against the first `distinct` gallery records (all distinct eyes).
fn gate_agreement(
    plan: &IrisPlan,
    g: &IrisGenerator,
    matcher: &IrisMatcher,
    query_of: &dyn Fn(&IrisTemplate) -> anyhow::Result<IrisQuery>,
    words: &[u64],
    distinct: usize,
) -> anyhow::Result<GateAgreement> {
    let layout = matcher.layout();
    let strategies = [
        ScanStrategy::Full,
        ScanStrategy::Cascade,
        ScanStrategy::Coarse,
    ];
    let mut counts: Vec<GateCounts> = strategies
        .iter()
        .map(|&strategy| GateCounts {
            strategy,
            mated_passed: 0,
            non_mated_passed: 0,
            non_mated_survivors: 0,
        })
        .collect();
    let mut out = Vec::new();
    let mut worst = 0.0f64;
    let mut rng = g.rng(1);
    for _ in 0..plan.mated_pairs {
        let eye = g.master(&mut rng);
        let (qa, qb) = (rng.gen_range(0.0..=1.0), rng.gen_range(0.0..=1.0));
        let a = g.capture(&eye, qa, &mut rng);
        let b = g.capture(&eye, qb, &mut rng);
        let query = query_of(&a)?;
        let record = record_of(&b);
        if let Some(s) = matcher.compare(query.probe(), &record)?.score() {
            worst = worst.max(s.hd_norm);
        }
        let records = IrisRecords::new(layout, &record)?;
        for c in counts.iter_mut() {
            out.clear();
            matcher.scan(&query, records, 0, c.strategy, &mut out)?;
            c.mated_passed += out.len();
        }
    }
    let gallery = IrisRecords::new(layout, words)?.slice(0, distinct);
    let probes = plan.non_mated.div_ceil(gallery.len().max(1));
    let mut rng = g.rng(2);
    for _ in 0..probes {
        let t = g.capture(&g.master(&mut rng), rng.gen_range(0.0..=1.0), &mut rng);
        let query = query_of(&t)?;
        for c in counts.iter_mut() {
            out.clear();
            let stats = matcher.scan(&query, gallery, 0, c.strategy, &mut out)?;
            c.non_mated_passed += out.len();
            c.non_mated_survivors += stats.gate_survivors;
        }
    }
    Ok(GateAgreement {
        mated_pairs: plan.mated_pairs,
        non_mated: probes * gallery.len(),
        worst_mated_hd_norm: worst,
        coarse: *query_of(&g.capture(&g.master(&mut rng), 1.0, &mut rng))?.coarse(),
        counts,
    })
}
