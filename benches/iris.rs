//! Iris matcher benchmarks: 1:1 comparison over the full rotation window, and the 1:N scan of
//! 100 000 gallery records on one core, for every kernel this CPU supports, full and cascaded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tunggal_datasets::iris::IrisGenerator;
use tunggal_index::iris::{
    record_of, IrisLayout, IrisMatcher, IrisRecords, IrisTemplate, Kernel, ScanStrategy,
    DEPLOYMENT_THRESHOLD,
};

/// Distinct synthetic captures, repeated to fill the gallery.
const DISTINCT: usize = 2000;
const GALLERY: usize = 100_000;

fn gallery(layout: IrisLayout, records: usize) -> (Vec<u64>, IrisTemplate) {
    let g = IrisGenerator::new(2025, layout);
    let mut rng = g.rng(0);
    let distinct: Vec<Vec<u64>> = (0..DISTINCT.min(records))
        .map(|_| {
            let m = g.master(&mut rng);
            record_of(&g.capture(&m, 0.7, &mut rng))
        })
        .collect();
    let words = (0..records)
        .flat_map(|i| distinct[i % distinct.len()].iter().copied())
        .collect();
    let probe = g.capture(&g.master(&mut rng), 0.7, &mut rng);
    (words, probe)
}

fn one_to_one(c: &mut Criterion) {
    let mut group = c.benchmark_group("iris_1to1");
    for layout in [IrisLayout::DAUGMAN_2048, IrisLayout::OPEN_IRIS] {
        let (words, probe_t) = gallery(layout, 16);
        let records = IrisRecords::new(layout, &words).unwrap();
        let record = records.get(3).unwrap();
        for kernel in Kernel::available() {
            let m = IrisMatcher::for_layout(layout).with_kernel(kernel);
            let probe = m.prepare(&probe_t).unwrap();
            let id = format!(
                "{}bit/{}rot/{}",
                layout.total_bits(),
                m.config().rotations(),
                kernel.name()
            );
            group.bench_function(id, |b| {
                b.iter(|| m.compare(&probe, black_box(record)).unwrap())
            });
        }
    }
    group.finish();
}

fn scan(c: &mut Criterion) {
    for (layout, size) in [
        (IrisLayout::DAUGMAN_2048, GALLERY),
        (IrisLayout::OPEN_IRIS, GALLERY / 10),
    ] {
        let (words, probe_t) = gallery(layout, size);
        let records = IrisRecords::new(layout, &words).unwrap();
        let mut group = c.benchmark_group(format!("iris_scan_{}bit", layout.total_bits()));
        group.throughput(Throughput::Elements(size as u64));
        group.sample_size(10);
        for kernel in Kernel::available() {
            let m = IrisMatcher::for_layout(layout).with_kernel(kernel);
            let query = m.query(&probe_t, DEPLOYMENT_THRESHOLD).unwrap();
            for strategy in [
                ScanStrategy::FullReference,
                ScanStrategy::CascadeReference,
                ScanStrategy::Full,
                ScanStrategy::Cascade,
                ScanStrategy::Coarse,
            ] {
                let mut hits = Vec::new();
                let stats = m.scan(&query, records, 0, strategy, &mut hits).unwrap();
                eprintln!(
                    "{} {:?} {}: compared {:.2}% of (rotation, row) pairs, {} hits",
                    layout.total_bits(),
                    strategy,
                    kernel.name(),
                    100.0 * stats.row_comparisons as f64
                        / (stats.records as f64
                            * m.config().rotations() as f64
                            * layout.rows() as f64),
                    hits.len()
                );
                group.bench_with_input(
                    BenchmarkId::new(format!("{strategy:?}"), kernel.name()),
                    &strategy,
                    |b, &s| {
                        b.iter(|| {
                            hits.clear();
                            m.scan(&query, records, 0, s, &mut hits).unwrap()
                        })
                    },
                );
            }
        }
        group.finish();
    }
}

criterion_group!(benches, one_to_one, scan);
criterion_main!(benches);
