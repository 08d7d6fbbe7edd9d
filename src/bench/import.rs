//! Filling a gallery with a scenario's synthetic persons, as a bulk import would: shared by
//! `tunggal bench dedup` and `tunggal eval persons`.

use std::time::Instant;

use rayon::prelude::*;
use tunggal_datasets::iris::IrisGenerator;
use tunggal_datasets::scenario::Scenario;
use tunggal_index::gallery::{Gallery, PreparedPerson};

use crate::dedup::enrolment_of;

/// Persons generated, prepared and inserted per chunk.
const CHUNK: u64 = 2048;

/// How fast an import went (generation not timed; preparation and insertion timed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImportRate {
    /// Persons per second of wall time.
    pub persons_per_s: f64,
    /// Persons per CPU-second of all the process's threads.
    pub persons_per_cpu_s: f64,
}

/// Inserts the scenario's gallery persons `0..persons` under their ids as keys (with their
/// irises unless `with_iris` is false). Each chunk is inserted as one batch (one log write
/// and one fsync) by a writer thread while the next chunk is prepared, as `tunggal import`
/// keeps both busy.
pub fn import_scenario(
    gallery: &Gallery,
    scenario: &Scenario<'_, IrisGenerator>,
    persons: u64,
    with_iris: bool,
) -> anyhow::Result<ImportRate> {
    let mut import_s = 0.0;
    let mut import_cpu_s = 0.0;
    let progress = indicatif::ProgressBar::new(persons);
    let insert = |start: u64, prepared: &[PreparedPerson]| -> anyhow::Result<()> {
        let batch: Vec<(u64, &PreparedPerson)> = (start..).zip(prepared).collect();
        gallery.insert_batch(&batch)?;
        Ok(())
    };
    let mut pending: Option<(u64, Vec<PreparedPerson>)> = None;
    for start in (0..persons).step_by(CHUNK as usize) {
        let end = (start + CHUNK).min(persons);
        let captures: Vec<_> = scenario.gallery_range_par(start..end).collect();
        let t = Instant::now();
        let cpu = cpu_time::ProcessTime::now();
        let previous = pending.take();
        let (prepared, written) = std::thread::scope(|s| {
            let writer = s.spawn(|| match &previous {
                Some((at, p)) => insert(*at, p),
                None => Ok(()),
            });
            let prepared: Result<Vec<PreparedPerson>, _> = captures
                .par_iter()
                .map(|c| gallery.prepare(&enrolment_of(c, with_iris)))
                .collect();
            (prepared, writer.join())
        });
        written.map_err(|_| anyhow::anyhow!("the gallery writer thread panicked"))??;
        if let Some((_, p)) = &previous {
            progress.inc(p.len() as u64);
        }
        pending = Some((start, prepared?));
        import_s += t.elapsed().as_secs_f64();
        import_cpu_s += cpu.elapsed().as_secs_f64();
    }
    if let Some((at, p)) = pending.take() {
        let t = Instant::now();
        let cpu = cpu_time::ProcessTime::now();
        insert(at, &p)?;
        import_s += t.elapsed().as_secs_f64();
        import_cpu_s += cpu.elapsed().as_secs_f64();
        progress.inc(p.len() as u64);
    }
    progress.finish_and_clear();
    Ok(ImportRate {
        persons_per_s: persons as f64 / f64::max(import_s, 1e-9),
        persons_per_cpu_s: persons as f64 / f64::max(import_cpu_s, 1e-9),
    })
}
