//! `tunggal bench dedup`: a synthetic gallery, a probe stream through the deduplicator, and
//! speed, footprint and accuracy figures.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use rayon::prelude::*;
use serde::Serialize;
use tunggal_datasets::iris::IrisGenerator;
use tunggal_datasets::population::Population;
use tunggal_datasets::scenario::{HardCaseRates, Scenario, ScenarioPlan};
use tunggal_index::gallery::{DescriptorParams, Gallery, GalleryConfig};
use tunggal_index::search::{Decision, Deduplicator, FusionCaps, SearchConfig, SearchVerdict};
use tunggal_index::storage::Durability;

use crate::dedup::{describe, enrolment_of, learn_production, sample_scores};

/// Parameters of the run.
#[derive(Debug, Clone)]
pub struct DedupPlan {
    /// People enrolled before the probes.
    pub persons: u64,
    /// Probes submitted.
    pub probes: u64,
    /// Share of returning people among probes.
    pub duplicate_ratio: f64,
    /// Share of probes taken as hard captures (`QualityMode::Hard`: genuine scores like the
    /// hardest real FVC2002 database), among those that are not poor captures.
    pub hard_share: f64,
    /// Population seed.
    pub seed: u64,
    /// People used to learn the calibration.
    pub calibration_persons: u64,
    /// Leave irises out (fingerprints only).
    pub no_iris: bool,
    /// Shortlist length.
    pub shortlist: usize,
    /// First-stage descriptor parameters.
    pub descriptor: DescriptorParams,
    /// Iris gate on the normalised Hamming distance.
    pub iris_gate: f64,
    /// Data directory: created and built, or reused when it holds a gallery this plan built
    /// before (same persons, seed, irises, descriptor and calibration persons).
    pub dir: PathBuf,
    /// Probes submitted at once from separate threads (the deduplicator batches waiting
    /// probes into one pass); 1 measures isolated searches.
    pub concurrency: usize,
    /// Open-loop arrivals: probe `j` is submitted at `j / rate` seconds after the start,
    /// whatever is still in flight (up to [`OPEN_LOOP_THREADS`] at once), and its latency
    /// counts from that moment; `concurrency` is then unused.
    pub rate: Option<f64>,
}

/// Submitting threads of an open-loop run: the most probes it keeps in flight.
pub const OPEN_LOOP_THREADS: usize = 64;

/// An arrival later than this behind its schedule counts as late (every thread was busy).
const LATE: std::time::Duration = std::time::Duration::from_millis(50);

/// What a completed build leaves in the data directory so a later run can reuse it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
struct BuiltGallery {
    persons: u64,
    seed: u64,
    irises: bool,
    calibration_persons: u64,
    /// The descriptor parameters (`Debug` form).
    descriptor: String,
    import_persons_per_s: f64,
    #[serde(default)]
    import_persons_per_cpu_s: f64,
    calibration_s: f64,
}

const BUILT: &str = "bench-gallery.json";

impl BuiltGallery {
    fn of(plan: &DedupPlan) -> Self {
        let d = plan.descriptor;
        Self {
            persons: plan.persons,
            seed: plan.seed,
            irises: !plan.no_iris,
            calibration_persons: plan.calibration_persons,
            descriptor: format!("{d:?}"),
            import_persons_per_s: 0.0,
            import_persons_per_cpu_s: 0.0,
            calibration_s: 0.0,
        }
    }

    /// The build recorded in `dir`, if it matches `plan`.
    fn find(plan: &DedupPlan) -> Option<Self> {
        let text = std::fs::read_to_string(plan.dir.join(BUILT)).ok()?;
        let built: Self = serde_json::from_str(&text).ok()?;
        let want = Self {
            import_persons_per_s: built.import_persons_per_s,
            import_persons_per_cpu_s: built.import_persons_per_cpu_s,
            calibration_s: built.calibration_s,
            ..Self::of(plan)
        };
        (built == want).then_some(built)
    }
}

/// What was measured.
#[derive(Debug, Clone, Serialize)]
pub struct DedupReport {
    pub persons: u64,
    pub probes: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub enrolments_per_s: f64,
    pub resident_bytes_per_person: f64,
    pub disk_bytes_per_person: f64,
    pub penetration: f64,
    pub hit_rate: f64,
    pub fnir: f64,
    pub fpir: f64,
    pub missed_duplicates: u64,
    pub false_duplicates: u64,
    pub rejected: u64,
    pub mated_probes: u64,
    pub non_mated_probes: u64,
    /// Share of hard captures asked for, and the mated probes that were hard captures, with
    /// their first-stage hit rate and FNIR.
    pub hard_share: f64,
    pub hard_mated_probes: u64,
    pub hard_hit_rate: f64,
    pub hard_fnir: f64,
    pub cold_start_s: f64,
    pub import_persons_per_s: f64,
    /// Import rate per CPU-second of all the process's threads (per core).
    pub import_persons_per_cpu_s: f64,
    /// The gallery was built by an earlier run (import rates and calibration time are that
    /// run's).
    pub reused_gallery: bool,
    /// Probes in flight at once (closed loop), or the open-loop thread count.
    pub concurrency: usize,
    /// Open-loop arrival rate (probes per second), when the run had one.
    pub arrival_rate: Option<f64>,
    /// Open-loop probes submitted more than 50 ms behind their schedule.
    pub late_arrivals: u64,
    /// Resident set of the process after the probes (includes the generator's memory and
    /// the probes themselves), per gallery person.
    pub process_rss_bytes_per_person: f64,
    pub calibration_s: f64,
    pub shortlist: usize,
    pub irises: bool,
    /// Share of mated searches whose mate is among the first `k` of the first-stage ranking,
    /// for `k` = 8, 16, 32, … up to the shortlist: `(k, share)`.
    pub hit_rate_at: Vec<(usize, f64)>,
    /// Mated searches whose mate the first stage did not rank within the shortlist.
    pub stage1_misses: u64,
}

fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Learns the calibration (default fusion caps) from `plan.calibration_persons` persons of
/// `pop`; returns it with the score samples behind it.
fn calibrate(
    plan: &DedupPlan,
    pop: &Population<IrisGenerator>,
    config: &GalleryConfig,
) -> anyhow::Result<(
    tunggal_index::search::Calibration,
    crate::dedup::ScoreSamples,
)> {
    let preparer = tunggal_index::gallery::Preparer::new(&config.mcc, config.descriptor)?;
    let samples = sample_scores(pop, &preparer, plan.calibration_persons, 8)?;
    Ok((
        learn_production(&samples, FusionCaps::default(), config)?,
        samples,
    ))
}

fn build(
    plan: &DedupPlan,
    pop: &Population<IrisGenerator>,
    scenario: &Scenario<'_, IrisGenerator>,
    config: &GalleryConfig,
) -> anyhow::Result<BuiltGallery> {
    let with_iris = !plan.no_iris;
    let t = Instant::now();
    let (calibration, samples) = calibrate(plan, pop, config)?;
    let calibration_s = t.elapsed().as_secs_f64();
    eprintln!("descriptor mates     {}", describe(&samples.descriptor.0));
    eprintln!("descriptor non-mates {}", describe(&samples.descriptor.1));
    eprintln!("matcher mates        {}", describe(&samples.finger.0));
    eprintln!("matcher non-mates    {}", describe(&samples.finger.1));
    eprintln!("iris hd_norm mates     {}", describe(&samples.iris.0));
    eprintln!("iris hd_norm non-mates {}", describe(&samples.iris.1));

    std::fs::create_dir_all(&plan.dir).with_context(|| plan.dir.display().to_string())?;
    let gallery = Gallery::open(&plan.dir, config.clone(), Some(calibration))?;
    anyhow::ensure!(
        gallery.is_empty(),
        "{} already holds a gallery",
        plan.dir.display()
    );
    let rate = super::import::import_scenario(&gallery, scenario, plan.persons, with_iris)?;
    gallery.close()?;
    let built = BuiltGallery {
        import_persons_per_s: rate.persons_per_s,
        import_persons_per_cpu_s: rate.persons_per_cpu_s,
        calibration_s,
        ..BuiltGallery::of(plan)
    };
    std::fs::write(plan.dir.join(BUILT), serde_json::to_vec_pretty(&built)?)?;
    Ok(built)
}

/// Resident set size of this process (Linux), or 0 where unknown.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Runs the benchmark.
pub fn run(plan: &DedupPlan) -> anyhow::Result<DedupReport> {
    // The index's stage timings go to the Prometheus recorder, as in `serve`.
    crate::telemetry::global();
    let pop = Population::new(plan.seed);
    let mut config = GalleryConfig {
        descriptor: plan.descriptor,
        ..GalleryConfig::default()
    };
    config.store.durability = Durability::SyncPerBatch;
    let scenario = Scenario::new(
        &pop,
        ScenarioPlan {
            gallery_size: plan.persons,
            probes: plan.probes,
            duplicate_ratio: plan.duplicate_ratio,
            hard: HardCaseRates {
                hard_capture: plan.hard_share,
                ..HardCaseRates::default()
            },
        },
    );
    let with_iris = !plan.no_iris;
    let (built, reused_gallery) = match BuiltGallery::find(plan) {
        Some(b) => {
            eprintln!("reusing the gallery in {}", plan.dir.display());
            (b, true)
        }
        None => (build(plan, &pop, &scenario, &config)?, false),
    };

    let t = Instant::now();
    let mut gallery = Gallery::open(&plan.dir, config.clone(), None)?;
    let cold_start_s = t.elapsed().as_secs_f64();
    if gallery.calibration().caps != FusionCaps::default() {
        // A gallery built with other fusion caps: learn its calibration again.
        eprintln!("fusion caps changed since the build: learning the calibration again");
        gallery.close()?;
        let (calibration, _) = calibrate(plan, &pop, &config)?;
        gallery = Gallery::open(&plan.dir, config, Some(calibration))?;
    }
    let footprint = gallery.footprint()?;
    let search = SearchConfig {
        shortlist: plan.shortlist,
        iris_gate: plan.iris_gate,
        ..SearchConfig::default()
    };
    let ks: Vec<usize> = std::iter::successors(Some(8usize), |k| Some(k * 2))
        .take_while(|&k| k < plan.shortlist)
        .chain([plan.shortlist])
        .collect();
    let mut hits_at = vec![0u64; ks.len()];
    // Probes of an earlier run on a reused gallery are not part of it.
    let leftovers: Vec<u64> = gallery
        .snapshot()
        .keys()
        .filter(|&k| k >= plan.persons)
        .collect();
    for k in leftovers {
        gallery.delete(k)?;
    }
    let engine = Deduplicator::new(gallery, search);

    let probes: Vec<_> = scenario.probes_par().collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let late = std::sync::atomic::AtomicU64::new(0);
    let threads = match plan.rate {
        Some(_) => OPEN_LOOP_THREADS,
        None => plan.concurrency.max(1),
    };
    let wall = Instant::now();
    let results: Vec<(usize, f64, Decision)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((capture, _)) = probes.get(j) else {
                            return Ok::<_, anyhow::Error>(out);
                        };
                        // Latency counts from the scheduled arrival in an open loop.
                        let t = match plan.rate {
                            Some(rate) => {
                                let due = wall + Duration::from_secs_f64(j as f64 / rate);
                                let now = Instant::now();
                                if now > due + LATE {
                                    late.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                }
                                std::thread::sleep(due.saturating_duration_since(now));
                                due
                            }
                            None => Instant::now(),
                        };
                        let d = engine
                            .submit(plan.persons + j as u64, &enrolment_of(capture, with_iris))?;
                        out.push((j, t.elapsed().as_secs_f64() * 1e3, d));
                    }
                })
            })
            .collect();
        let mut all = Vec::with_capacity(probes.len());
        for w in workers {
            match w.join() {
                Ok(r) => all.extend(r?),
                Err(_) => anyhow::bail!("a probe thread panicked"),
            }
        }
        Ok(all)
    })?;
    let wall_s = wall.elapsed().as_secs_f64();
    let rss = rss_bytes();

    let mut latencies = Vec::with_capacity(results.len());
    let (mut mated, mut non_mated, mut missed, mut false_dup, mut rejected, mut hits) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut hard_mated, mut hard_hits, mut hard_missed) = (0u64, 0u64, 0u64);
    let mut penetration_sum = 0.0;
    let mut searched = 0u64;
    let mut enrolled = Vec::new();
    let mut missed_probes = Vec::new();
    for (j, ms, d) in &results {
        latencies.push(*ms);
        if d.enrolled {
            enrolled.push(d.key);
        }
        let truth = &probes[*j].1;
        if let SearchVerdict::Rejected(_) = d.outcome.verdict {
            rejected += 1;
            continue;
        }
        searched += 1;
        penetration_sum += d.outcome.shortlist.len() as f64 / d.outcome.gallery_size.max(1) as f64;
        match truth.mate {
            Some(m) => {
                mated += 1;
                hard_mated += u64::from(truth.hard_capture);
                if let Some(rank) = d.outcome.shortlist.iter().position(|&k| k == m) {
                    hits += 1;
                    hard_hits += u64::from(truth.hard_capture);
                    for (h, &k) in hits_at.iter_mut().zip(&ks) {
                        if rank < k {
                            *h += 1;
                        }
                    }
                }
                let found = match &d.outcome.verdict {
                    SearchVerdict::Duplicate(c) => c.iter().any(|c| c.key == m),
                    _ => false,
                };
                if !found {
                    missed += 1;
                    hard_missed += u64::from(truth.hard_capture);
                    missed_probes.push(*j);
                }
            }
            None => {
                non_mated += 1;
                if d.outcome.verdict.is_duplicate() {
                    false_dup += 1;
                }
            }
        }
    }
    // Leave the gallery as built, so the directory can be reused.
    let gallery = engine.into_gallery();
    for &j in &missed_probes {
        let (capture, truth) = &probes[j];
        let decision = results.iter().find(|r| r.0 == j).map(|r| &r.2);
        eprintln!(
            "{}",
            explain_miss(
                &gallery,
                capture,
                truth,
                decision,
                with_iris,
                plan.iris_gate
            )
        );
    }
    for k in enrolled {
        gallery.delete(k)?;
    }
    gallery.close()?;
    latencies.sort_by(f64::total_cmp);
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Ok(DedupReport {
        persons: plan.persons,
        probes: plan.probes,
        p50_ms: quantile(&latencies, 0.5),
        p95_ms: quantile(&latencies, 0.95),
        p99_ms: quantile(&latencies, 0.99),
        enrolments_per_s: plan.probes as f64 / wall_s.max(1e-9),
        resident_bytes_per_person: footprint.hot_bytes_per_person as f64,
        disk_bytes_per_person: footprint.disk_bytes_per_person,
        penetration: if searched == 0 {
            0.0
        } else {
            penetration_sum / searched as f64
        },
        hit_rate: ratio(hits, mated),
        fnir: ratio(missed, mated),
        fpir: ratio(false_dup, non_mated),
        missed_duplicates: missed,
        false_duplicates: false_dup,
        rejected,
        mated_probes: mated,
        non_mated_probes: non_mated,
        hard_share: plan.hard_share,
        hard_mated_probes: hard_mated,
        hard_hit_rate: ratio(hard_hits, hard_mated),
        hard_fnir: ratio(hard_missed, hard_mated),
        cold_start_s,
        import_persons_per_s: built.import_persons_per_s,
        import_persons_per_cpu_s: built.import_persons_per_cpu_s,
        reused_gallery,
        concurrency: threads,
        arrival_rate: plan.rate,
        late_arrivals: late.into_inner(),
        process_rss_bytes_per_person: rss as f64 / plan.persons.max(1) as f64,
        calibration_s: built.calibration_s,
        shortlist: plan.shortlist,
        irises: with_iris,
        hit_rate_at: ks
            .iter()
            .zip(&hits_at)
            .map(|(&k, &h)| (k, ratio(h, mated)))
            .collect(),
        stage1_misses: mated - hits,
    })
}

/// A line on a missed duplicate: the probe's hard-case flags, the search outcome, and the
/// mate's first-stage evidence as the scan computes it (coarse iris screen) and with full
/// iris comparisons.
fn explain_miss(
    gallery: &Gallery,
    capture: &tunggal_datasets::population::Capture,
    truth: &tunggal_datasets::scenario::ProbeTruth,
    decision: Option<&Decision>,
    with_iris: bool,
    iris_gate: f64,
) -> String {
    use tunggal_index::search::{scorer, Stage1Probe};
    let mut line = format!(
        "missed duplicate: probe {} mate {:?} poor_quality {} hard_capture {} four_fingers {} one_eye {} alias {}",
        truth.probe,
        truth.mate,
        truth.poor_quality,
        truth.hard_capture,
        truth.four_fingers,
        truth.one_eye,
        truth.alias
    );
    if let Some(d) = decision {
        let o = &d.outcome;
        let rank = truth
            .mate
            .and_then(|m| o.shortlist.iter().position(|&k| k == m));
        line += &format!(
            "; verdict {}, mate rank {rank:?}, threshold {:.2}, best {:?}",
            if o.verdict.is_duplicate() {
                "duplicate"
            } else {
                "single"
            },
            o.threshold,
            o.best.as_ref().map(|b| (b.key, b.fused, b.stage1))
        );
    }
    let Some(mate) = truth.mate else {
        return line;
    };
    let explained = (|| -> anyhow::Result<String> {
        let person = gallery.prepare(&enrolment_of(capture, with_iris))?;
        let stored = gallery.get(mate)?.context("mate not in the gallery")?;
        let query = Stage1Probe::new(&person.record, gallery.preparer().iris(), iris_gate)?;
        let sc = scorer(gallery);
        let screened = sc.score(&query, &stored.record)?;
        let full = sc.score_full(&query, &stored.record)?;
        Ok(format!(
            "; mate stage 1 screened {:.2} eyes {:?}, full irises {:.2} eyes {:?}",
            screened.score, screened.eyes, full.score, full.eyes
        ))
    })();
    line + &explained.unwrap_or_else(|e| format!("; not explained: {e}"))
}
