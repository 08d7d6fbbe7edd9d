//! Staged search benchmarks on a small synthetic gallery: the first-stage scan (whole gallery,
//! one probe and a batch of four, with the best and with the AVX2 kernels, and one probe scored
//! person by person), its finger loop (every body the CPU supports), and the
//! second stage over a 64-person shortlist.
//!
//! `cargo bench --bench search`. Per-person figures: divide a scan's time by the gallery size
//! (and by the batch size for the batched scan).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rayon::prelude::*;
use tunggal::dedup::{enrolment_of, learn, sample_scores};
use tunggal_datasets::population::{CaptureSpec, Population};
use tunggal_index::gallery::{Gallery, GalleryConfig, PersonRecord, PreparedPerson, Preparer};
use tunggal_index::iris::Kernel;
use tunggal_index::search::finger_scan::{finger_evidence, FingerKernel};
use tunggal_index::search::{
    scorer, second_stage, stage1, FusionCaps, Scorer, SearchConfig, Stage1Probe, DEFAULT_IRIS_GATE,
};
use tunggal_index::storage::Durability;

/// Gallery size; `SEARCH_BENCH_PERSONS` overrides it (a small gallery keeps instruction
/// counting under callgrind short).
fn persons() -> u64 {
    std::env::var("SEARCH_BENCH_PERSONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000)
}
const SEED: u64 = 11;

struct Fixture {
    _dir: tempfile::TempDir,
    gallery: Gallery,
    probes: Vec<PreparedPerson>,
}

fn fixture() -> Fixture {
    let mut config = GalleryConfig::default();
    config.store.durability = Durability::NoSync;
    let pop = Population::new(SEED);
    let preparer = Preparer::new(&config.mcc, config.descriptor).unwrap();
    let samples = sample_scores(&pop, &preparer, 100, 4).unwrap();
    let calibration = learn(&samples, FusionCaps::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gallery = Gallery::open(dir.path(), config, Some(calibration)).unwrap();
    let persons = persons();
    let prepared: Vec<PreparedPerson> = (0..persons)
        .into_par_iter()
        .map(|id| {
            let capture = pop.capture(&pop.person(id), 0, &CaptureSpec::default());
            gallery.prepare(&enrolment_of(&capture, true)).unwrap()
        })
        .collect();
    for (id, p) in prepared.iter().enumerate() {
        gallery.insert(id as u64, p).unwrap();
    }
    // Probes: second captures of gallery persons spread over the gallery.
    let probes = (0..4u64)
        .map(|i| {
            let id = i * (persons / 4) + 7;
            let capture = pop.capture(&pop.person(id), 1, &CaptureSpec::default());
            gallery.prepare(&enrolment_of(&capture, true)).unwrap()
        })
        .collect();
    Fixture {
        _dir: dir,
        gallery,
        probes,
    }
}

fn stages(c: &mut Criterion) {
    let f = fixture();
    let g = &f.gallery;
    let config = SearchConfig::default();
    let persons = persons();
    let records: Vec<PersonRecord> = (0..persons)
        .map(|k| *g.get(k).unwrap().unwrap().record)
        .collect();
    let snap = g.snapshot();
    let queries: Vec<Stage1Probe<'_>> = f
        .probes
        .iter()
        .map(|p| Stage1Probe::new(&p.record, g.preparer().iris(), DEFAULT_IRIS_GATE).unwrap())
        .collect();
    let sc = scorer(g);

    // The scan with the AVX2 bodies, for a same-run ratio against the best ones.
    let avx2_iris = Kernel::avx2().map(|k| g.preparer().iris().with_kernel(k));
    let mut scorers = vec![("best", sc)];
    if let Some(iris) = &avx2_iris {
        scorers.push((
            "avx2",
            Scorer {
                fingers: FingerKernel::Avx2,
                iris,
                ..sc
            },
        ));
    }
    let mut group = c.benchmark_group("stage1_scan");
    group.sample_size(20);
    for (name, sc) in &scorers {
        for batch in [1usize, 4] {
            group.throughput(Throughput::Elements(persons * batch as u64));
            let id = BenchmarkId::new(format!("probes_{name}"), batch);
            group.bench_with_input(id, &batch, |b, &batch| {
                b.iter(|| stage1::scan(&snap, &queries[..batch], sc, config.shortlist).unwrap())
            });
        }
    }
    // The same scores, person by person (coarse screen of one record per call): the
    // per-call cost the run-wide scan saves.
    group.throughput(Throughput::Elements(persons));
    group.bench_function("person_by_person", |b| {
        b.iter(|| {
            let mut best = f32::MIN;
            for r in &records {
                best = best.max(sc.score(&queries[0], r).unwrap().score);
            }
            best
        })
    });
    group.finish();

    let table = &g.calibration().descriptor;
    let probe = &f.probes[0].record;
    let mut out = vec![0.0f32; records.len()];
    let mut group = c.benchmark_group("stage1_fingers");
    group.throughput(Throughput::Elements(persons));
    group.bench_function("dispatched", |b| {
        b.iter(|| finger_evidence(probe, &records, table, &mut out))
    });
    for kernel in FingerKernel::available() {
        let name = format!("{kernel:?}").to_lowercase();
        group.bench_function(name, |b| {
            b.iter(|| kernel.evidence(probe, &records, table, &mut out))
        });
    }
    group.finish();

    let hits = stage1::scan(&snap, &queries[..1], &sc, config.shortlist)
        .unwrap()
        .remove(0);
    let mut group = c.benchmark_group("stage2_shortlist");
    group.sample_size(20);
    group.throughput(Throughput::Elements(hits.len() as u64));
    group.bench_function("fingers", |b| {
        b.iter(|| second_stage(g, &snap, &f.probes[0], &hits).unwrap())
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
