//! `tunggal bench cluster`: the throughput and latency of enrolments through a running
//! cluster against a single node on the same stream, in one run, with every shard's time per
//! stage, CPU, memory and disk ([`super::stats`]).
//!
//! The same synthetic enrolments (persons, then probes of which some are returning
//! persons) go through the cluster's front-end ([`Front`]): the persons with `in_flight`
//! enrolments outstanding at once (the throughput), then the probes one at a time (the
//! latency). Then they go one at a time, in the cluster's log order, through a single-node
//! [`Deduplicator`] in a temporary directory (the shipped calibration, the default
//! durability). The report gives both latency distributions, their ratio, and whether every
//! verdict agreed (kind and candidate keys, the cluster's keys being its sequences).

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use hdrhistogram::Histogram;
use serde::Serialize;
use tunggal_datasets::population::{CaptureSpec, Population};
use tunggal_index::gallery::{Enrolment, Gallery, GalleryConfig};
use tunggal_index::search::{Deduplicator, SearchConfig, SearchVerdict};

use super::front::EnrolTimes;
use super::stats::{self, ShardStats, StageTime, WorkTimes};
use super::wire::StoredVerdict;
use super::Front;

/// What to run.
#[derive(Debug, Clone)]
pub struct ClusterBenchPlan {
    /// NATS URL of the running cluster.
    pub nats: String,
    /// Its shard count.
    pub shards: u32,
    /// Persons enrolled before the probes.
    pub persons: u64,
    /// Probes timed.
    pub probes: u64,
    /// Population seed.
    pub seed: u64,
    /// Enrolments outstanding at once while the persons are enrolled (at least 1).
    pub in_flight: usize,
    /// The replica of every shard whose figures are asked.
    pub replica: u32,
}

/// One side's latencies.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Enrolments timed.
    pub count: u64,
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile, milliseconds.
    pub p95_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Mean, milliseconds.
    pub mean_ms: f64,
}

/// The enrolment of the persons through the cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Enrolments outstanding at once.
    pub in_flight: usize,
    /// Enrolments.
    pub enrolments: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Enrolments answered per second.
    pub per_second: f64,
    /// Their latencies.
    pub latency: Latency,
}

/// Mean wall time of each step of a front-end's enrolment over the probes, milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FrontSteps {
    /// Looking for a kept verdict.
    pub stored_ms: f64,
    /// Publishing to the log.
    pub publish_ms: f64,
    /// Collecting the partials.
    pub collect_ms: f64,
    /// Fusing and keeping the verdict.
    pub keep_ms: f64,
}

/// One stage of a replica over one phase.
#[derive(Debug, Clone, Serialize)]
pub struct StageFigures {
    /// Entries that went through it.
    pub count: u64,
    /// Mean wall time, milliseconds.
    pub wall_ms: f64,
    /// Mean process CPU time, milliseconds (search and insert only).
    pub cpu_ms: f64,
}

fn stage(t: &StageTime) -> StageFigures {
    let per = |us: u64| us as f64 / 1000.0 / t.count.max(1) as f64;
    StageFigures {
        count: t.count,
        wall_ms: per(t.wall_us),
        cpu_ms: per(t.cpu_us),
    }
}

/// A replica's figures over one phase (the persons, or the probes).
#[derive(Debug, Clone, Serialize)]
pub struct PhaseFigures {
    /// Log entries applied in the phase.
    pub entries: u64,
    /// The process's CPU time per entry, milliseconds (everything: decoding, search,
    /// publishing, insert, records, NATS).
    pub cpu_per_entry_ms: f64,
    /// CPU per search of the partition (the search stage), milliseconds.
    pub cpu_per_search_ms: f64,
    /// CPU per insert into the partition (the owner's), milliseconds.
    pub cpu_per_insert_ms: f64,
    /// Each stage.
    pub idle: StageFigures,
    /// Reading `TOPOLOGY`.
    pub topology: StageFigures,
    /// The search.
    pub search: StageFigures,
    /// Publishing the partial.
    pub publish: StageFigures,
    /// The owner's collection of the partials.
    pub collect: StageFigures,
    /// The owner's insert.
    pub insert: StageFigures,
    /// Writing `applied-sequence`.
    pub record: StageFigures,
    /// The confirmed acknowledgement.
    pub ack: StageFigures,
}

fn phase(before: &ShardStats, after: &ShardStats) -> PhaseFigures {
    let w: WorkTimes = after.work.since(&before.work);
    let entries = after.applied.saturating_sub(before.applied);
    let cpu = after.process_cpu_us.saturating_sub(before.process_cpu_us);
    let s = stage(&w.search);
    let i = stage(&w.insert);
    PhaseFigures {
        entries,
        cpu_per_entry_ms: cpu as f64 / 1000.0 / entries.max(1) as f64,
        cpu_per_search_ms: s.cpu_ms,
        cpu_per_insert_ms: i.cpu_ms,
        idle: stage(&w.idle),
        topology: stage(&w.topology),
        search: s,
        publish: stage(&w.publish),
        collect: stage(&w.collect),
        insert: i,
        record: stage(&w.record),
        ack: stage(&w.ack),
    }
}

/// One shard (the plan's replica) over the run.
#[derive(Debug, Clone, Serialize)]
pub struct ShardFigures {
    /// Shard index.
    pub shard: u32,
    /// Persons in its partition at the end.
    pub partition_size: u64,
    /// Resident memory at the end, MB.
    pub rss_mb: f64,
    /// Peak resident memory, MB.
    pub peak_rss_mb: f64,
    /// Disk under its data directory at the end, MB (`du`).
    pub disk_mb: f64,
    /// Of which the write-ahead log, MB.
    pub wal_mb: f64,
    /// While the persons were enrolled.
    pub persons_phase: PhaseFigures,
    /// While the probes were enrolled.
    pub probes_phase: PhaseFigures,
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterBenchReport {
    /// Shards of the cluster.
    pub shards: u32,
    /// Persons enrolled before the probes (the gallery the probes searched).
    pub persons: u64,
    /// `/proc/loadavg`'s 1-, 5- and 15-minute load at the start.
    pub load_average_start: Vec<f64>,
    /// The same at the end.
    pub load_average_end: Vec<f64>,
    /// The persons enrolled through the cluster.
    pub throughput: Throughput,
    /// Single node, the probes only, one at a time.
    pub single_node: Latency,
    /// Single node: the bench process's CPU time per probe, milliseconds.
    pub single_node_cpu_per_probe_ms: f64,
    /// Cluster, the probes only, one at a time.
    pub cluster: Latency,
    /// Cluster p50 over single-node p50.
    pub p50_ratio: f64,
    /// Where a probe's time went on the front-end.
    pub front_steps: FrontSteps,
    /// Every shard's figures (absent when a shard did not answer its figures).
    pub shard_figures: Vec<ShardFigures>,
    /// Probes answered `duplicate` by the cluster.
    pub cluster_duplicates: u64,
    /// Enrolments (persons and probes) whose verdict differed between the two.
    pub disagreements: u64,
}

fn latency(h: &Histogram<u64>) -> Latency {
    let ms = |us: u64| us as f64 / 1000.0;
    Latency {
        count: h.len(),
        p50_ms: ms(h.value_at_quantile(0.5)),
        p95_ms: ms(h.value_at_quantile(0.95)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        mean_ms: h.mean() / 1000.0,
    }
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

fn load_average() -> Vec<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// The enrolments of the plan: the persons' first captures, then the probes (every
/// second one a returning person's second capture, the others new persons).
fn stream(plan: &ClusterBenchPlan) -> Vec<Enrolment> {
    let pop = Population::new(plan.seed);
    let spec = CaptureSpec::default();
    let capture = |id: u64, n: u64| {
        let person = pop.person(id);
        crate::dedup::enrolment_of(&pop.capture(&person, n, &spec), true)
    };
    let mut out: Vec<Enrolment> = (0..plan.persons).map(|id| capture(id, 0)).collect();
    for i in 0..plan.probes {
        out.push(if i % 2 == 0 && plan.persons > 0 {
            capture((i * 7919) % plan.persons, 1)
        } else {
            capture(plan.persons + i, 0)
        });
    }
    out
}

/// A verdict as compared between the two: its kind and candidate positions in the stream.
fn outcome_kind(v: &SearchVerdict) -> (String, Vec<u64>) {
    match v {
        SearchVerdict::Single => ("single".into(), Vec::new()),
        SearchVerdict::Duplicate(c) => ("duplicate".into(), c.iter().map(|c| c.key).collect()),
        SearchVerdict::Rejected(_) => ("rejected".into(), Vec::new()),
    }
}

/// Every shard's figures (the plan's replica) once it has applied `through`; `None` when a
/// shard does not answer.
async fn figures(front: &Front, plan: &ClusterBenchPlan, through: u64) -> Option<Vec<ShardStats>> {
    let client = &front.topology().client;
    let mut all = Vec::with_capacity(plan.shards as usize);
    for shard in 0..plan.shards {
        let deadline = Instant::now() + Duration::from_secs(30);
        let s = loop {
            match stats::ask(client, shard, plan.shards, plan.replica).await {
                // Its last entry applied and acknowledged (the answer to the front-end can
                // come before the owner's insert and acknowledgement).
                Ok(s) if s.applied >= through && s.work.ack.count >= s.work.record.count => {
                    break s
                }
                Ok(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(s) => break s,
                Err(e) => {
                    tracing::warn!(shard, error = %e, "no figures from the shard");
                    return None;
                }
            }
        };
        all.push(s);
    }
    Some(all)
}

/// The cluster's side: the verdicts in stream order, the persons' throughput, the probes'
/// latencies and front-end steps, and the shards' figures at the three points.
struct ClusterSide {
    out: Vec<StoredVerdict>,
    throughput: Throughput,
    probes: Histogram<u64>,
    steps: FrontSteps,
    figures: Vec<Option<Vec<ShardStats>>>,
}

async fn cluster_side(
    plan: &ClusterBenchPlan,
    enrolments: &[Enrolment],
) -> anyhow::Result<ClusterSide> {
    let front = Front::connect(&plan.nats, plan.shards, 1).await?;
    let run_id = format!("bench-{}-{}", std::process::id(), crate::clock::now_secs());
    let last = front.last_sequence().await?;
    let mut figs = vec![figures(&front, plan, last).await];
    let persons = plan.persons as usize;
    let mut load = histogram()?;
    let started = Instant::now();
    let timed: Vec<anyhow::Result<(StoredVerdict, Duration)>> =
        futures::stream::iter(enrolments.iter().take(persons).enumerate())
            .map(|(i, e)| {
                let (front, id) = (&front, format!("{run_id}-{i}"));
                async move {
                    let t = Instant::now();
                    let v = front.enrol(&id, e).await?;
                    Ok((v, t.elapsed()))
                }
            })
            .buffered(plan.in_flight.max(1))
            .collect()
            .await;
    let seconds = started.elapsed().as_secs_f64();
    let mut out = Vec::with_capacity(enrolments.len());
    for r in timed {
        let (v, took) = r?;
        load.record(micros(took))?;
        out.push(v);
    }
    let through = out.iter().map(|v| v.sequence).max().unwrap_or(last);
    figs.push(figures(&front, plan, through).await);
    let mut probes = histogram()?;
    let mut sum = EnrolTimes::default();
    for (i, e) in enrolments.iter().enumerate().skip(persons) {
        let t = Instant::now();
        let (v, times) = front.enrol_timed(&format!("{run_id}-{i}"), e).await?;
        probes.record(micros(t.elapsed()))?;
        sum.stored += times.stored;
        sum.publish += times.publish;
        sum.collect += times.collect;
        sum.keep += times.keep;
        out.push(v);
    }
    let n = plan.probes.max(1) as f64;
    let mean = |d: Duration| d.as_secs_f64() * 1000.0 / n;
    let steps = FrontSteps {
        stored_ms: mean(sum.stored),
        publish_ms: mean(sum.publish),
        collect_ms: mean(sum.collect),
        keep_ms: mean(sum.keep),
    };
    let through = out.iter().map(|v| v.sequence).max().unwrap_or(last);
    figs.push(figures(&front, plan, through).await);
    Ok(ClusterSide {
        throughput: Throughput {
            in_flight: plan.in_flight.max(1),
            enrolments: plan.persons,
            seconds,
            per_second: plan.persons as f64 / seconds.max(1e-9),
            latency: latency(&load),
        },
        out,
        probes,
        steps,
        figures: figs,
    })
}

fn shard_figures(figs: &[Option<Vec<ShardStats>>]) -> Vec<ShardFigures> {
    let [Some(start), Some(loaded), Some(end)] = figs else {
        return Vec::new();
    };
    let mb = |b: u64| b as f64 / 1e6;
    start
        .iter()
        .zip(loaded)
        .zip(end)
        .map(|((a, b), c)| ShardFigures {
            shard: c.shard,
            partition_size: c.partition_size,
            rss_mb: mb(c.rss_bytes),
            peak_rss_mb: mb(c.peak_rss_bytes),
            disk_mb: mb(c.disk_bytes),
            wal_mb: mb(c.wal_bytes),
            persons_phase: phase(a, b),
            probes_phase: phase(b, c),
        })
        .collect()
}

/// Runs the plan against the cluster at `plan.nats` (shards already running, `ENROL`
/// holding nothing else for this seed's comparison to be meaningful).
pub fn run(plan: &ClusterBenchPlan) -> anyhow::Result<ClusterBenchReport> {
    let load_average_start = load_average();
    let enrolments = stream(plan);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let side = runtime.block_on(cluster_side(plan, &enrolments))?;
    // The single node takes the enrolments in the cluster's log order, under the same keys
    // (positions from 1 in that order); the cluster's first sequence of the run is `base`.
    let base = side.out.iter().map(|v| v.sequence).min().unwrap_or(1);
    let mut order: Vec<usize> = (0..enrolments.len()).collect();
    order.sort_by_key(|&i| side.out.get(i).map_or(u64::MAX, |v| v.sequence));
    let dir = std::env::temp_dir().join(format!("tunggal-bench-cluster-{}", std::process::id()));
    let calibration = crate::engine::calibrate::shipped()?;
    let gallery = Gallery::open(&dir, GalleryConfig::default(), Some(calibration))?;
    let dedup = Deduplicator::new(gallery, SearchConfig::default());
    let mut single = histogram()?;
    let mut single_out = vec![(String::new(), Vec::new()); enrolments.len()];
    let mut probe_cpu = Duration::ZERO;
    for &i in &order {
        let (Some(e), Some(v)) = (enrolments.get(i), side.out.get(i)) else {
            continue;
        };
        let cpu = cpu_time::ProcessTime::try_now().ok();
        let started = Instant::now();
        let d = dedup.submit(v.sequence + 1 - base, e)?;
        if i as u64 >= plan.persons {
            single.record(micros(started.elapsed()))?;
            probe_cpu += cpu.and_then(|c| c.try_elapsed().ok()).unwrap_or_default();
        }
        if let Some(slot) = single_out.get_mut(i) {
            *slot = outcome_kind(&d.outcome.verdict);
        }
    }
    dedup.into_gallery().close()?;
    std::fs::remove_dir_all(&dir)?;
    let disagreements = single_out
        .iter()
        .zip(&side.out)
        .filter(|((kind, keys), v)| {
            let theirs: Vec<u64> = v.candidates.iter().map(|c| c.key + 1 - base).collect();
            *kind != v.verdict || *keys != theirs
        })
        .count() as u64;
    let cluster_duplicates = side
        .out
        .iter()
        .skip(plan.persons as usize)
        .filter(|v| v.verdict == "duplicate")
        .count() as u64;
    let single_node = latency(&single);
    let cluster = latency(&side.probes);
    Ok(ClusterBenchReport {
        shards: plan.shards,
        persons: plan.persons,
        load_average_start,
        load_average_end: load_average(),
        throughput: side.throughput,
        p50_ratio: cluster.p50_ms / single_node.p50_ms.max(1e-9),
        single_node,
        single_node_cpu_per_probe_ms: probe_cpu.as_secs_f64() * 1000.0 / plan.probes.max(1) as f64,
        cluster,
        front_steps: side.steps,
        shard_figures: shard_figures(&side.figures),
        cluster_duplicates,
        disagreements,
    })
}
