//! Fingerprint 1:1 throughput on real templates.

use std::fmt;
use std::time::Instant;

use rayon::prelude::*;
use tunggal_datasets::fvc::FvcDatabase;
use tunggal_index::finger::{FingerMatcher, PreparedTemplate, Scratch};

/// What `tunggal bench match` measured.
#[derive(Debug, Clone)]
pub struct MatchReport {
    /// Templates prepared.
    pub templates: usize,
    /// Mean minutiae of the probes used.
    pub mean_minutiae: f64,
    /// Mean prepared size in bytes.
    pub mean_prepared_bytes: f64,
    /// Preparations per second, one core.
    pub prepare_per_s: f64,
    /// Comparisons per second of wall time on one thread.
    pub single_core_per_s: f64,
    /// Comparisons per second of that thread's CPU time (robust to a busy machine).
    pub per_cpu_second: f64,
    /// Share of the wall time the measuring thread actually ran.
    pub cpu_share: f64,
    /// Comparisons per second, all cores (rayon).
    pub machine_per_s: f64,
    /// Threads used for the machine figure.
    pub threads: usize,
}

impl fmt::Display for MatchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "templates            {}", self.templates)?;
        writeln!(f, "mean minutiae        {:.1}", self.mean_minutiae)?;
        writeln!(
            f,
            "prepared bytes       {:.0} per template",
            self.mean_prepared_bytes
        )?;
        writeln!(
            f,
            "preparation          {:.0} templates/s (one core)",
            self.prepare_per_s
        )?;
        writeln!(
            f,
            "comparisons          {:.0} per CPU-second of one core ({:.0} /s wall, thread ran {:.0}% of the time)",
            self.per_cpu_second,
            self.single_core_per_s,
            self.cpu_share * 100.0
        )?;
        write!(
            f,
            "comparisons          {:.0} /s machine ({} threads)",
            self.machine_per_s, self.threads
        )
    }
}

fn sweep(
    probes: &[PreparedTemplate],
    gallery: &[PreparedTemplate],
    matcher: &FingerMatcher,
    scratch: &mut Scratch,
) -> (usize, f32) {
    let mut n = 0;
    let mut acc = 0.0;
    for p in probes {
        for g in gallery {
            acc += matcher.compare_with(p, g, scratch);
            n += 1;
        }
    }
    (n, acc)
}

/// Measures preparation and comparison speed on templates with at least `min_minutiae`.
pub fn match_throughput(
    databases: &[FvcDatabase],
    matcher: &FingerMatcher,
    seconds: f64,
    min_minutiae: usize,
) -> anyhow::Result<MatchReport> {
    let templates: Vec<_> = databases
        .iter()
        .flat_map(|db| db.samples.iter())
        .filter(|s| s.template.minutiae.len() >= min_minutiae)
        .map(|s| &s.template)
        .collect();
    anyhow::ensure!(
        templates.len() >= 2,
        "fewer than two templates with {min_minutiae}+ minutiae"
    );
    let started = Instant::now();
    let prepared: Vec<PreparedTemplate> = templates.iter().map(|t| matcher.prepare(t)).collect();
    let prepare_per_s = prepared.len() as f64 / started.elapsed().as_secs_f64();
    let mean_minutiae =
        templates.iter().map(|t| t.minutiae.len()).sum::<usize>() as f64 / templates.len() as f64;
    let mean_prepared_bytes =
        prepared.iter().map(|p| p.size_bytes()).sum::<usize>() as f64 / prepared.len() as f64;
    let (probes, gallery) = prepared.split_at(prepared.len().min(16));
    let mut scratch = Scratch::default();
    let started = Instant::now();
    let cpu_started = cpu_time::ThreadTime::now();
    let mut count = 0usize;
    let mut checksum = 0.0f32;
    while started.elapsed().as_secs_f64() < seconds {
        let (n, acc) = sweep(probes, gallery, matcher, &mut scratch);
        count += n;
        checksum += acc;
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_started.elapsed().as_secs_f64();
    let single_core_per_s = count as f64 / wall;
    let per_cpu_second = count as f64 / cpu.max(1e-9);
    let cpu_share = cpu / wall;
    let threads = rayon::current_num_threads();
    let started = Instant::now();
    let mut machine_count = 0usize;
    while started.elapsed().as_secs_f64() < seconds {
        machine_count += probes
            .par_iter()
            .map_init(Scratch::default, |s, p| {
                sweep(std::slice::from_ref(p), gallery, matcher, s).0
            })
            .sum::<usize>();
    }
    let machine_per_s = machine_count as f64 / started.elapsed().as_secs_f64();
    std::hint::black_box(checksum);
    Ok(MatchReport {
        templates: templates.len(),
        mean_minutiae,
        mean_prepared_bytes,
        prepare_per_s,
        single_core_per_s,
        per_cpu_second,
        cpu_share,
        machine_per_s,
        threads,
    })
}
