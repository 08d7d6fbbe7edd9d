//! `tunggal bench cluster`: the latency of one enrolment through a running cluster against a
//! single node on the same stream, in one run.
//!
//! The same synthetic enrolments (persons, then probes of which some are returning
//! persons) go one at a time through a single-node [`Deduplicator`] in a temporary directory
//! (the shipped calibration, the default durability) and through the cluster's front-end
//! ([`Front`]). The report gives both latency distributions, their ratio, and whether
//! every verdict agreed (kind and candidate keys, the cluster's keys being its sequences).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use tunggal_datasets::population::{CaptureSpec, Population};
use tunggal_index::gallery::{Enrolment, Gallery, GalleryConfig};
use tunggal_index::search::{Deduplicator, SearchConfig, SearchVerdict};

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
    /// Mean, milliseconds.
    pub mean_ms: f64,
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterBenchReport {
    /// Shards of the cluster.
    pub shards: u32,
    /// Persons enrolled before the probes (the gallery the probes searched).
    pub persons: u64,
    /// Single node, the probes only.
    pub single_node: Latency,
    /// Cluster, the probes only.
    pub cluster: Latency,
    /// Cluster p50 over single-node p50.
    pub p50_ratio: f64,
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
        mean_ms: h.mean() / 1000.0,
    }
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
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

/// Runs the plan against the cluster at `plan.nats` (shards already running, `ENROL`
/// holding nothing else for this seed's comparison to be meaningful).
pub fn run(plan: &ClusterBenchPlan) -> anyhow::Result<ClusterBenchReport> {
    let enrolments = stream(plan);
    let dir = std::env::temp_dir().join(format!("tunggal-bench-cluster-{}", std::process::id()));
    let calibration = crate::engine::calibrate::shipped()?;
    let gallery = Gallery::open(&dir, GalleryConfig::default(), Some(calibration))?;
    let dedup = Deduplicator::new(gallery, SearchConfig::default());
    let mut single = histogram()?;
    let mut single_out = Vec::with_capacity(enrolments.len());
    for (i, e) in enrolments.iter().enumerate() {
        let started = Instant::now();
        // Keys are positions from 1, as the cluster's are stream sequences.
        let d = dedup.submit(i as u64 + 1, e)?;
        if i as u64 >= plan.persons {
            single.record(micros(started.elapsed()))?;
        }
        single_out.push(outcome_kind(&d.outcome.verdict));
    }
    dedup.into_gallery().close()?;
    std::fs::remove_dir_all(&dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let run_id = format!("bench-{}-{}", std::process::id(), crate::clock::now_secs());
    let (cluster, cluster_out) = runtime.block_on(async {
        let front = Front::connect(&plan.nats, plan.shards, 1).await?;
        let mut h = histogram()?;
        let mut out = Vec::with_capacity(enrolments.len());
        for (i, e) in enrolments.iter().enumerate() {
            let started = Instant::now();
            let v = front.enrol(&format!("{run_id}-{i}"), e).await?;
            if i as u64 >= plan.persons {
                h.record(micros(started.elapsed()))?;
            }
            out.push(v);
        }
        anyhow::Ok((h, out))
    })?;
    // The cluster's keys are sequences; the first enrolment of this run is at `base`.
    let base = cluster_out.first().map_or(1, |v| v.sequence);
    let disagreements = single_out
        .iter()
        .zip(&cluster_out)
        .filter(|((kind, keys), v)| {
            let theirs: Vec<u64> = v.candidates.iter().map(|c| c.key + 1 - base).collect();
            *kind != v.verdict || *keys != theirs
        })
        .count() as u64;
    let cluster_duplicates = cluster_out
        .iter()
        .skip(plan.persons as usize)
        .filter(|v| v.verdict == "duplicate")
        .count() as u64;
    let single_node = latency(&single);
    let cluster = latency(&cluster);
    Ok(ClusterBenchReport {
        shards: plan.shards,
        persons: plan.persons,
        p50_ratio: cluster.p50_ms / single_node.p50_ms.max(1e-9),
        single_node,
        cluster,
        cluster_duplicates,
        disagreements,
    })
}
