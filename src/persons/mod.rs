//! `tunggal eval persons`: real persons (the fingers of FVC-style databases) searched 1:N
//! through the deduplicator, inside a synthetic background gallery whose calibration is
//! learned as the service learns a new gallery's.
//!
//! 1. Persons are built from the databases ([`load`]); each enrols its first impression
//!    through [`Deduplicator::submit`] (one the engine calls a duplicate is inserted anyway,
//!    as an analyst clearing its case would).
//! 2. Every later impression is a new applicant, and chimeras are non-mated applicants
//!    ([`probes`]). Probes go one at a time through the same deduplicator and search policy
//!    as the service's engine ([`EngineOptions::default`]); one found single is enrolled by
//!    the deduplicator and deleted at once, so no probe is compared with another.
//! 3. The report gives per probe the verdict, candidates, and against the mate its
//!    first-stage rank and fused second-stage score ([`search`]); FNIR, FPIR over chimeras
//!    and first-stage retention; and per finger the retention of every genuine pair against
//!    at least 100,000 background fingers ([`fingers`]).

pub mod fingers;
pub mod load;
mod plot;
pub mod probes;
pub mod search;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tunggal_datasets::population::Population;
use tunggal_datasets::scenario::{HardCaseRates, Scenario, ScenarioPlan};
use tunggal_index::gallery::{DescriptorParams, Gallery, GalleryConfig};
use tunggal_index::search::{Deduplicator, SearchVerdict};

use crate::dedup::CALIBRATION_SEED;
use crate::engine::calibrate::SHIPPED_PERSONS;
use crate::engine::EngineOptions;
use fingers::FingerReport;
use search::{Names, ProbeOut};

/// Which biometrics the real persons carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Fingers only.
    Fingers,
    /// Fingers and two synthetic irises; a mated probe has new captures of its mate's eyes.
    Irises,
    /// Enrolled with two synthetic irises; every probe has one eye (chosen at random).
    OneEye,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct PersonsPlan {
    /// Root of the FVC-style databases.
    pub data: PathBuf,
    /// Synthetic background persons.
    pub background: u64,
    /// Biometrics of the real persons.
    pub mode: Mode,
    /// Seed of the background population and of the real persons' irises.
    pub seed: u64,
    /// Gallery directory: built there, or reused when it holds this plan's background.
    pub dir: PathBuf,
    /// Most synthetic fingers in the per-finger background.
    pub finger_background: usize,
    /// First-stage descriptor parameters (the gallery default unless a tuning run overrides
    /// them; the background is built and the calibration learned with them).
    pub descriptor: DescriptorParams,
}

/// What a reusable background gallery was built with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Background {
    background: u64,
    seed: u64,
    /// The descriptor parameters (`Debug` form).
    descriptor: String,
}

const BACKGROUND: &str = "persons-background.json";

/// Where the calibration came from.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationSource {
    /// How it was learned.
    pub how: String,
    /// Synthetic persons (two captures each).
    pub persons: u64,
    /// Their population seed.
    pub seed: u64,
}

/// Aggregate figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Mated probes searched (not rejected).
    pub mated: usize,
    /// Mated probes whose verdict lists the mate.
    pub found: usize,
    /// Mated probes not found.
    pub missed: usize,
    /// `missed / mated`.
    pub fnir: f64,
    /// Mated probes whose mate was on the shortlist.
    pub shortlisted: usize,
    /// `shortlisted / mated`: the first stage's retention.
    pub first_stage_retention: f64,
    /// Mated probes whose mate's fused second-stage ratio reaches the threshold (what the
    /// verdict would be if the first stage kept every mate).
    pub mate_above_threshold: usize,
    /// Chimeras searched.
    pub chimeras: usize,
    /// Chimeras answered `duplicate`.
    pub chimera_duplicates: usize,
    /// `chimera_duplicates / chimeras`.
    pub fpir: f64,
    /// Probes rejected (too few usable fingers).
    pub rejected: usize,
    /// Mated probes whose verdict is `duplicate` of someone other than the mate only.
    pub wrong_duplicates: usize,
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct PersonsReport {
    /// Data root.
    pub data: String,
    /// Mode.
    pub mode: Mode,
    /// Synthetic background persons.
    pub background: u64,
    /// Gallery persons during the probes (background plus real persons).
    pub gallery_size: usize,
    /// Shortlist length of the search policy.
    pub shortlist: usize,
    /// First-stage descriptor parameters (`Debug` form).
    pub descriptor: String,
    /// Calibration provenance.
    pub calibration: CalibrationSource,
    /// Real persons: name, finger numbers, impressions, enrolment verdict.
    pub persons: Vec<PersonOut>,
    /// Groups of fingers not made into persons.
    pub skipped: Vec<load::Skipped>,
    /// Aggregates.
    pub summary: Summary,
    /// Per-finger first-stage retention.
    pub fingers: FingerReport,
    /// Every probe.
    pub probes: Vec<ProbeOut>,
    /// Seconds for the probes (searches and the report's extra scoring).
    pub probes_s: f64,
}

/// One real person.
#[derive(Debug, Clone, Serialize)]
pub struct PersonOut {
    /// Name.
    pub name: String,
    /// Finger numbers at positions 1…
    pub fingers: Vec<u32>,
    /// Impression numbers (the first enrolled).
    pub impressions: Vec<u32>,
    /// SearchVerdict of its enrolment (`single`, or `duplicate` and inserted anyway).
    pub enrolment: String,
    /// Mated probes found / searched.
    pub found: usize,
    /// Mated probes searched.
    pub probes: usize,
}

/// Opens the gallery in `plan.dir`, building the background first when the directory does
/// not hold this plan's, with the calibration a new service gallery learns.
fn open_gallery(plan: &PersonsPlan, config: &GalleryConfig) -> anyhow::Result<Gallery> {
    let calibration = EngineOptions::default().calibration.calibration(config)?;
    let d = plan.descriptor;
    let want = Background {
        background: plan.background,
        seed: plan.seed,
        descriptor: format!("{d:?}"),
    };
    let marker = plan.dir.join(BACKGROUND);
    let built = std::fs::read(&marker)
        .ok()
        .and_then(|b| serde_json::from_slice::<Background>(&b).ok());
    std::fs::create_dir_all(&plan.dir).with_context(|| plan.dir.display().to_string())?;
    let gallery = Gallery::open(&plan.dir, config.clone(), Some(calibration))?;
    if built.as_ref() == Some(&want) {
        eprintln!("reusing the background gallery in {}", plan.dir.display());
        return Ok(gallery);
    }
    anyhow::ensure!(
        gallery.is_empty(),
        "{} holds another gallery; give an empty directory",
        plan.dir.display()
    );
    let pop = Population::new(plan.seed);
    let scenario = Scenario::new(
        &pop,
        ScenarioPlan {
            gallery_size: plan.background,
            probes: 0,
            duplicate_ratio: 0.0,
            hard: HardCaseRates::none(),
        },
    );
    let rate = crate::bench::import::import_scenario(&gallery, &scenario, plan.background, true)?;
    eprintln!(
        "background of {} persons imported at {:.0} persons/s",
        plan.background, rate.persons_per_s
    );
    std::fs::write(&marker, serde_json::to_vec_pretty(&want)?)?;
    Ok(gallery)
}

fn verdict_name(v: &SearchVerdict) -> &'static str {
    match v {
        SearchVerdict::Single => "single",
        SearchVerdict::Duplicate(_) => "duplicate",
        SearchVerdict::Rejected(_) => "rejected",
    }
}

/// Runs the evaluation.
pub fn run(plan: &PersonsPlan) -> anyhow::Result<PersonsReport> {
    let databases = tunggal_datasets::fvc::load_root(&plan.data)
        .with_context(|| format!("loading {}", plan.data.display()))?;
    let options = EngineOptions::default();
    let (persons, skipped) = load::persons_of(&databases, options.search.min_fingers);
    anyhow::ensure!(
        !persons.is_empty(),
        "no person could be built from {}",
        plan.data.display()
    );
    let config = GalleryConfig {
        descriptor: plan.descriptor,
        ..GalleryConfig::default()
    };
    let gallery = open_gallery(plan, &config)?;
    // Real persons and probes of an earlier, interrupted run.
    let leftovers: Vec<u64> = gallery
        .snapshot()
        .keys()
        .filter(|&k| k >= plan.background)
        .collect();
    for k in leftovers {
        gallery.delete(k)?;
    }
    let engine = Deduplicator::new(gallery, options.search);
    let irises = probes::Irises::new(plan.seed, plan.mode);
    let names: Vec<String> = persons.iter().map(|p| p.name.clone()).collect();
    let labels = Names {
        background: plan.background,
        persons: &names,
    };

    let mut people = Vec::new();
    for (k, enrolment) in probes::enrolments(&persons, &irises).iter().enumerate() {
        let key = plan.background + k as u64;
        let d = engine.submit(key, enrolment)?;
        if !d.enrolled {
            anyhow::ensure!(
                !matches!(d.outcome.verdict, SearchVerdict::Rejected(_)),
                "the enrolment of {} was rejected",
                persons[k].name
            );
            // A duplicate opens a case; clearing it enrols the person.
            engine
                .gallery()
                .insert(key, &engine.gallery().prepare(enrolment)?)?;
        }
        people.push(PersonOut {
            name: persons[k].name.clone(),
            fingers: persons[k].fingers.clone(),
            impressions: persons[k].impressions.clone(),
            enrolment: verdict_name(&d.outcome.verdict).to_owned(),
            found: 0,
            probes: 0,
        });
    }
    let gallery_size = engine.gallery().len();

    let started = Instant::now();
    let all = probes::probes(&persons, &irises);
    let progress = indicatif::ProgressBar::new(all.len() as u64);
    let probe_base = plan.background + persons.len() as u64;
    let mut outs = Vec::with_capacity(all.len());
    for (j, probe) in all.iter().enumerate() {
        let mate = match probe.kind {
            probes::ProbeKind::Mated { person } => Some(plan.background + person as u64),
            probes::ProbeKind::Chimera { .. } => None,
        };
        outs.push(search::run_probe(
            &engine,
            probe,
            probe_base + j as u64,
            mate,
            &labels,
        )?);
        progress.inc(1);
    }
    progress.finish_and_clear();
    let probes_s = started.elapsed().as_secs_f64();

    let summary = summarise(&outs, &all, &mut people);
    let gallery = engine.into_gallery();
    let synthetic = fingers::background_fingers(&gallery, plan.background, plan.finger_background)?;
    if synthetic.len() < 100_000 {
        eprintln!(
            "per-finger background: {} synthetic fingers (fewer than 100,000: use a larger --background)",
            synthetic.len()
        );
    }
    let finger_report = fingers::rank_pairs(&gallery, &persons, &synthetic);
    let shortlist = options.search.shortlist;
    for k in 0..persons.len() {
        gallery.delete(plan.background + k as u64)?;
    }
    gallery.close()?;
    Ok(PersonsReport {
        data: plan.data.display().to_string(),
        mode: plan.mode,
        background: plan.background,
        gallery_size,
        shortlist,
        descriptor: format!("{:?}", plan.descriptor),
        calibration: CalibrationSource {
            how:
                "the calibration a new service gallery gets (engine/new-gallery-calibration.json, \
                  learned from synthetic mated and non-mated pairs by dedup::learn_synthetic)"
                    .into(),
            persons: SHIPPED_PERSONS,
            seed: CALIBRATION_SEED,
        },
        persons: people,
        skipped,
        summary,
        fingers: finger_report,
        probes: outs,
        probes_s,
    })
}

fn summarise(outs: &[ProbeOut], all: &[probes::Probe], people: &mut [PersonOut]) -> Summary {
    let mut s = Summary::default();
    for (o, p) in outs.iter().zip(all) {
        if o.verdict.starts_with("rejected") {
            s.rejected += 1;
            continue;
        }
        match (&p.kind, &o.mate) {
            (probes::ProbeKind::Mated { person }, Some(m)) => {
                s.mated += 1;
                people[*person].probes += 1;
                if m.found {
                    s.found += 1;
                    people[*person].found += 1;
                } else if o.verdict == "duplicate" {
                    s.wrong_duplicates += 1;
                }
                if m.shortlist_rank.is_some() {
                    s.shortlisted += 1;
                }
                if m.fused >= o.threshold {
                    s.mate_above_threshold += 1;
                }
            }
            (probes::ProbeKind::Chimera { .. }, _) => {
                s.chimeras += 1;
                if o.verdict == "duplicate" {
                    s.chimera_duplicates += 1;
                }
            }
            _ => {}
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    s.missed = s.mated - s.found;
    s.fnir = ratio(s.missed, s.mated);
    s.first_stage_retention = ratio(s.shortlisted, s.mated);
    s.fpir = ratio(s.chimera_duplicates, s.chimeras);
    s
}

/// Writes the report's plot (SVG).
pub fn plot(report: &PersonsReport, path: &std::path::Path) -> anyhow::Result<()> {
    plot::svg(report, path)
}
