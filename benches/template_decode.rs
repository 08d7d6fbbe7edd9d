//! Decoding of finger minutiae records: ISO 19794-2 decode alone, and decode plus
//! conversion to the internal `FingerTemplate`, over the real FVC2002 templates (or a
//! synthetic record when the shared data set is absent).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tunggal_index::template::ansi::{self, AnsiRecord};
use tunggal_index::template::iso::{self, IsoRecord};
use tunggal_index::template::{self, FingerView, RawMinutia};

/// Every FVC2002 template, or one synthetic 40-minutia record if the data is absent.
fn corpus() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/fvc2002-iso");
    let mut files = Vec::new();
    for db in 1..=4 {
        for finger in 101..=110 {
            for impression in 1..=8 {
                let path = root.join(format!("DB{db}_B/{finger}_{impression}.iso"));
                if let Ok(bytes) = std::fs::read(path) {
                    files.push(bytes);
                }
            }
        }
    }
    if files.is_empty() {
        eprintln!(
            "{} is absent: benchmarking a synthetic record instead",
            root.display()
        );
        files.push(iso::encode(&synthetic()).unwrap());
    } else {
        eprintln!(
            "benchmarking {} FVC2002 templates from {}",
            files.len(),
            root.display()
        );
    }
    files
}

fn synthetic() -> IsoRecord {
    let minutiae = (0..40u16)
        .map(|i| RawMinutia {
            kind: (i % 2 + 1) as u8,
            x: (i * 37) % 300,
            y: (i * 53) % 400,
            angle: (i * 29 % 256) as u8,
            quality: 60,
        })
        .collect();
    IsoRecord {
        width: 300,
        height: 400,
        res_x: 197,
        res_y: 197,
        views: vec![FingerView {
            minutiae,
            ..FingerView::default()
        }],
        ..IsoRecord::default()
    }
}

fn bench_decode(c: &mut Criterion) {
    let files = corpus();
    let ansi_files: Vec<Vec<u8>> = files
        .iter()
        .map(|bytes| {
            let r = iso::decode(bytes).unwrap();
            let views = r
                .views
                .into_iter()
                .map(|mut v| {
                    for m in &mut v.minutiae {
                        m.angle = (u16::from(m.angle) * 180 / 256) as u8;
                    }
                    v
                })
                .collect();
            let record = AnsiRecord {
                width: r.width,
                height: r.height,
                res_x: r.res_x,
                res_y: r.res_y,
                views,
                ..AnsiRecord::default()
            };
            ansi::encode(&record).unwrap()
        })
        .collect();

    let mut group = c.benchmark_group("template_decode");
    group.throughput(Throughput::Elements(files.len() as u64));
    group.bench_function("iso_decode", |b| {
        b.iter(|| {
            for bytes in &files {
                black_box(iso::decode(black_box(bytes)).unwrap());
            }
        })
    });
    group.bench_function("iso_decode_to_template", |b| {
        b.iter(|| {
            for bytes in &files {
                let record = iso::decode(black_box(bytes)).unwrap();
                black_box(record.template(0).unwrap());
            }
        })
    });
    group.bench_function("detect_decode_to_template", |b| {
        b.iter(|| {
            for bytes in &files {
                let record = template::decode(black_box(bytes)).unwrap();
                black_box(record.template(0).unwrap());
            }
        })
    });
    group.bench_function("ansi_detect_decode_to_template", |b| {
        b.iter(|| {
            for bytes in &ansi_files {
                let record = template::decode(black_box(bytes)).unwrap();
                black_box(record.template(0).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
