//! Fingerprint matcher: gallery-side preparation (cylinder construction) and 1:1 comparison,
//! on the real FVC2002 templates with at least 30 minutiae (typical probes), or on synthetic
//! FVC-style templates when the shared data set is absent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tunggal_datasets::fvc::{load_root, shared_fvc_root};
use tunggal_datasets::synthetic_fvc::SyntheticFvc;
use tunggal_index::finger::cylinder::{prepare_with, CylinderTables};
use tunggal_index::finger::kernel::{self, Kernel};
use tunggal_index::finger::FingerMatcher;
use tunggal_index::gallery::{DescriptorBuilder, DescriptorParams};
use tunggal_index::template::FingerTemplate;

fn templates() -> Vec<FingerTemplate> {
    let databases = match shared_fvc_root() {
        Some(root) => load_root(&root).unwrap(),
        None => {
            eprintln!("real FVC templates absent: benchmarking synthetic ones");
            (1..=2)
                .map(|db| SyntheticFvc::new(7).database(db))
                .collect()
        }
    };
    databases
        .into_iter()
        .flat_map(|db| db.samples)
        .map(|s| s.template)
        .filter(|t| t.minutiae.len() >= 30)
        .collect()
}

fn kernel_name(kernel: Kernel) -> &'static str {
    match kernel {
        Kernel::Avx512 => "avx512",
        Kernel::Avx2 => "avx2",
        Kernel::Portable => "portable",
    }
}

fn bench(c: &mut Criterion) {
    let templates = templates();
    let matcher = FingerMatcher::default();
    let mut group = c.benchmark_group("finger");
    group.throughput(Throughput::Elements(templates.len() as u64));
    group.bench_function("prepare", |b| {
        b.iter(|| {
            for t in &templates {
                black_box(matcher.prepare(black_box(t)));
            }
        })
    });
    for kernel in kernel::available() {
        let tables = CylinderTables::new(matcher.params()).with_kernel(kernel);
        group.bench_function(format!("prepare_{}", kernel_name(kernel)), |b| {
            b.iter(|| {
                for t in &templates {
                    black_box(prepare_with(black_box(t), matcher.params(), &tables));
                }
            })
        });
    }
    let prepared: Vec<_> = templates.iter().map(|t| matcher.prepare(t)).collect();
    let describer = DescriptorBuilder::new(DescriptorParams::default(), matcher.params()).unwrap();
    let version1 = DescriptorBuilder::new(DescriptorParams::version1(), matcher.params()).unwrap();
    for (name, d) in [
        ("describe", describer.clone()),
        ("describe_portable", describer.portable()),
        ("describe_v1", version1.clone()),
        ("describe_v1_portable", version1.portable()),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                for p in &prepared {
                    black_box(d.describe(black_box(p)));
                }
            })
        });
    }
    let (probes, gallery) = prepared.split_at(8);
    group.throughput(Throughput::Elements((probes.len() * gallery.len()) as u64));
    for kernel in kernel::available() {
        let m = matcher.clone().with_kernel(kernel);
        group.bench_function(format!("compare_{}", kernel_name(kernel)), |b| {
            b.iter(|| {
                let mut acc = 0.0f32;
                for p in probes {
                    for g in gallery {
                        acc += m.compare(p, g);
                    }
                }
                black_box(acc)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
