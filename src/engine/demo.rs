//! `tunggal serve --demo`: a synthetic gallery and a burst of probes, so a fresh data
//! directory has enrolled persons and open cases on first run.
//!
//! The gallery is bulk-loaded ([`GalleryEngine::bulk_enrol`]); the probes go through the
//! same [`EnrolmentEngine::enrol`] path as HTTP enrolments: returning persons under another
//! identity (typical and poor captures), four-finger and one-eye captures of returning
//! persons, NIK re-issues, NIK conflicts, new persons and twins of enrolled persons (related
//! pattern classes: the hard non-mates).

use rayon::prelude::*;
use tunggal_datasets::date::Date;
use tunggal_datasets::population::{CaptureSpec, EyesCaptured, Population, QualityMode};

use super::synthetic::request_of;
use super::GalleryEngine;
use crate::clock::now_secs;
use crate::enrolment::record::EnrolmentRecord;
use crate::enrolment::validate;
use crate::enrolment::{EnrolmentEngine, Verdict};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct DemoPlan {
    /// Persons bulk-loaded into the gallery.
    pub persons: u64,
    /// Probes enrolled after the load.
    pub probes: u64,
    /// Population seed.
    pub seed: u64,
}

/// What the demo fill produced.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DemoReport {
    /// Persons loaded.
    pub loaded: usize,
    /// Probe verdicts: single (new persons and re-issues).
    pub single: usize,
    /// Of which re-issues.
    pub reissue: usize,
    /// Probe verdicts: duplicate (each with a case).
    pub duplicate: usize,
    /// Of which NIK conflicts.
    pub nik_conflict: usize,
    /// Probe verdicts: rejected.
    pub rejected: usize,
    /// Seconds spent loading the gallery.
    pub load_s: f64,
    /// Seconds spent on the probes.
    pub probes_s: f64,
}

fn today() -> Date {
    Date::from_day_number((now_secs() / 86_400) as i64)
}

/// The demo districts' service points: (district, service point).
pub const POINTS: [(&str, &str); 4] = [
    ("317101", "demo-1"),
    ("327301", "loket-bandung"),
    ("357801", "loket-surabaya"),
    ("517101", "loket-denpasar"),
];

fn record(
    pop: &Population,
    id: u64,
    number: u64,
    spec: &CaptureSpec,
    rid: String,
    point: usize,
) -> anyhow::Result<EnrolmentRecord> {
    let (district, sp) = POINTS[point % POINTS.len()];
    let capture = pop.capture(&pop.person(id), number, spec);
    let req = request_of(&capture, &rid, district, sp);
    validate::enrolment(&req, today()).map_err(|p| anyhow::anyhow!("{rid}: {}", p.detail))
}

/// The `i`-th probe of the burst over a gallery of `n` persons.
fn probe(pop: &Population, n: u64, i: u64) -> anyhow::Result<EnrolmentRecord> {
    let rid = format!("demo-probe-{i:05}");
    // Probe 0 (a returning person) comes from the first demo point, demo-1.
    let point = i as usize;
    let known = (i * 7919 + 13) % n.max(1);
    let alias = |k: u64| CaptureSpec {
        alias: Some(k),
        ..CaptureSpec::default()
    };
    match i % 8 {
        0 | 1 => record(pop, known, 10 + i, &alias(i), rid, point),
        2 => {
            let spec = CaptureSpec {
                quality: QualityMode::Poor,
                ..alias(i)
            };
            record(pop, known, 10 + i, &spec, rid, point)
        }
        3 => {
            let spec = CaptureSpec {
                usable_fingers: 4,
                eyes: EyesCaptured::One,
                ..alias(i)
            };
            record(pop, known, 10 + i, &spec, rid, point)
        }
        4 => record(pop, known, 10 + i, &CaptureSpec::default(), rid, point),
        5 => {
            // Someone new presents an enrolled person's NIK.
            let mut r = record(pop, n + 100_000 + i, 0, &CaptureSpec::default(), rid, point)?;
            let owner = record(pop, known, 0, &CaptureSpec::default(), "owner".into(), 0)?;
            r.person.nik = owner.person.nik;
            r.person.sex = owner.person.sex;
            r.person.date_of_birth = owner.person.date_of_birth;
            Ok(r)
        }
        6 => {
            // A twin of an enrolled person: related pattern classes, other minutiae.
            let sibling = pop.person(known);
            let twin = pop.twin(n + 200_000 + i, &sibling);
            let capture = pop.capture(&twin, 0, &CaptureSpec::default());
            let (district, sp) = POINTS[point % POINTS.len()];
            let req = request_of(&capture, &rid, district, sp);
            validate::enrolment(&req, today()).map_err(|p| anyhow::anyhow!("{rid}: {}", p.detail))
        }
        _ => record(pop, n + 300_000 + i, 0, &CaptureSpec::default(), rid, point),
    }
}

/// Loads `plan.persons` synthetic persons and enrols `plan.probes` probes; `progress` is
/// told each stage.
pub fn fill(
    engine: &GalleryEngine,
    plan: &DemoPlan,
    progress: &dyn Fn(&str),
) -> anyhow::Result<DemoReport> {
    let pop = Population::new(plan.seed);
    let mut report = DemoReport::default();
    let t = std::time::Instant::now();
    let chunk = 1024u64;
    for start in (0..plan.persons).step_by(chunk as usize) {
        let end = (start + chunk).min(plan.persons);
        let records: Vec<EnrolmentRecord> = (start..end)
            .into_par_iter()
            .map(|id| {
                let point = (id % POINTS.len() as u64) as usize;
                record(
                    &pop,
                    id,
                    0,
                    &CaptureSpec::default(),
                    format!("demo-{id:07}"),
                    point,
                )
            })
            .collect::<anyhow::Result<_>>()?;
        report.loaded += engine.bulk_enrol(&records)?.imported;
        progress(&format!("demo gallery: {end}/{} persons", plan.persons));
    }
    // The next open then checks none of the loaded persons again.
    engine.settle()?;
    report.load_s = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let probes: Vec<EnrolmentRecord> = (0..plan.probes)
        .into_par_iter()
        .map(|i| probe(&pop, plan.persons, i))
        .collect::<anyhow::Result<_>>()?;
    // Submitted concurrently from plain threads, as service points would: the deduplicator
    // orders them. (Enrolments block on each other, so they never run as rayon jobs.)
    let lanes = probes.len().clamp(1, 8);
    let chunk = probes.len().div_ceil(lanes).max(1);
    let verdicts: Vec<Verdict> = std::thread::scope(|scope| {
        let handles: Vec<_> = probes
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|r| engine.enrol(r))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(probes.len());
        for h in handles {
            match h.join() {
                Ok(part) => all.extend(part?),
                Err(_) => anyhow::bail!("a demo enrolment thread panicked"),
            }
        }
        Ok(all)
    })?;
    for v in &verdicts {
        match v {
            Verdict::Single { reissue, .. } => {
                report.single += 1;
                report.reissue += usize::from(*reissue);
            }
            Verdict::Duplicate { reason, .. } => {
                report.duplicate += 1;
                report.nik_conflict += usize::from(reason == "nik_conflict");
            }
            Verdict::Rejected { .. } => report.rejected += 1,
        }
    }
    report.probes_s = t.elapsed().as_secs_f64();
    Ok(report)
}
