//! Extracts every image of an FVC-style image folder (`DB*_B/{finger}_{impression}.tif`),
//! writes ISO 19794-2:2005 templates laid out like the image folder, scores every pair
//! with the finger matcher, fits the finger-quality weights against each image's mean
//! genuine score and prints Spearman correlations, extraction time and failure-to-enrol.
//!
//! ```text
//! cargo run --release --example extract_fvc -- DATA OUT [native|sdk] [key=value…]
//! ```
//!
//! `sdk` rescales the minutiae to the 300×400 frame of the commercial-SDK templates; `native`
//! (the default) keeps the 500 ppi frame. `key=value` overrides an extractor parameter.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::needless_range_loop
)]

use std::path::PathBuf;

use rayon::prelude::*;
use tunggal::cli::extract::read_image;
use tunggal_index::extract::{self, quality, ExtractParams, Extractor, Raster, RecordFormat};
use tunggal_index::finger::{FingerMatcher, MccParams};
use tunggal_index::template::{FingerTemplate, Minutia};

fn ppi_of(db: &str) -> f32 {
    if db.starts_with("DB2") {
        569.0
    } else {
        500.0
    }
}

fn set(p: &mut ExtractParams, kv: &str) {
    p.set(kv).unwrap_or_else(|e| panic!("{kv}: {e}"));
}

/// Rescales a 500 ppi template to the `tw`×`th` frame (angles follow the anisotropic scale).
fn to_frame(t: &FingerTemplate, tw: u16, th: u16) -> FingerTemplate {
    let sx = f32::from(tw) / f32::from(t.width);
    let sy = f32::from(th) / f32::from(t.height);
    let minutiae = t
        .minutiae
        .iter()
        .map(|m| {
            let a = m.angle_rad();
            let (dx, dy) = (a.cos() * sx, a.sin() * sy);
            let b = dy.atan2(dx).rem_euclid(std::f32::consts::TAU);
            Minutia {
                x: ((f32::from(m.x) * sx).round() as u16).min(tw - 1),
                y: ((f32::from(m.y) * sy).round() as u16).min(th - 1),
                angle: ((b / std::f32::consts::TAU * 256.0).round() as u32 % 256) as u8,
                ..*m
            }
        })
        .collect();
    FingerTemplate {
        width: tw,
        height: th,
        minutiae,
        ..t.clone()
    }
}

fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0;
        for k in i..=j {
            r[idx[k]] = avg;
        }
        i = j + 1;
    }
    r
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// Least squares `X w ≈ y` by the normal equations (6 unknowns, Gaussian elimination).
fn least_squares(x: &[[f32; 6]], y: &[f64]) -> [f32; 6] {
    let mut a = [[0.0f64; 7]; 6];
    for (row, &t) in x.iter().zip(y) {
        for i in 0..6 {
            for j in 0..6 {
                a[i][j] += f64::from(row[i]) * f64::from(row[j]);
            }
            a[i][6] += f64::from(row[i]) * t;
        }
    }
    for (i, r) in a.iter_mut().enumerate() {
        r[i] += 1e-6;
    }
    for c in 0..6 {
        let p = (c..6)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap();
        a.swap(c, p);
        for r in 0..6 {
            if r != c {
                let f = a[r][c] / a[c][c];
                for k in c..7 {
                    a[r][k] -= f * a[c][k];
                }
            }
        }
    }
    std::array::from_fn(|i| (a[i][6] / a[i][i]) as f32)
}

struct Image {
    db: String,
    stem: String,
    extraction: extract::Extraction,
    ms: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data = PathBuf::from(&args[0]);
    let out = PathBuf::from(&args[1]);
    let frame = args.get(2).map_or("native", String::as_str).to_owned();
    let mut params = ExtractParams::default();
    for kv in args.iter().skip(3) {
        set(&mut params, kv);
    }
    let extractor = Extractor::new(params);
    let mut jobs = Vec::new();
    for db in ["DB1_B", "DB2_B", "DB3_B", "DB4_B"] {
        for finger in 101..=110u32 {
            for imp in 1..=8 {
                let path = data.join(db).join(format!("{finger}_{imp}.tif"));
                if path.exists() {
                    jobs.push((db.to_owned(), format!("{finger}_{imp}"), path));
                }
            }
        }
    }
    let images: Vec<Image> = jobs
        .par_iter()
        .map(|(db, stem, path)| {
            let img = read_image(path).unwrap();
            let started = std::time::Instant::now();
            let extraction = extractor
                .extract(&Raster {
                    width: img.width,
                    height: img.height,
                    ppi: ppi_of(db),
                    pixels: &img.pixels,
                })
                .unwrap();
            let ms = started.elapsed().as_secs_f64() * 1e3;
            Image {
                db: db.clone(),
                stem: stem.clone(),

                extraction,
                ms,
            }
        })
        .collect();
    for img in &images {
        let dir = out.join(&img.db);
        std::fs::create_dir_all(&dir).unwrap();
        let t = if frame == "sdk" {
            to_frame(&img.extraction.template, 300, 400)
        } else {
            img.extraction.template.clone()
        };
        let bytes = extract::encode(&t, RecordFormat::Iso2005).unwrap();
        std::fs::write(dir.join(format!("{}.iso", img.stem)), bytes).unwrap();
    }
    let n = images.len() as f64;
    let mean_ms = images.iter().map(|i| i.ms).sum::<f64>() / n;
    let fte = images
        .iter()
        .filter(|i| i.extraction.unusable.is_some())
        .count();
    for db in ["DB1_B", "DB2_B", "DB3_B", "DB4_B"] {
        let v: Vec<&Image> = images.iter().filter(|i| i.db == db).collect();
        let counts: Vec<usize> = v
            .iter()
            .map(|i| i.extraction.template.minutiae.len())
            .collect();
        let m = counts.iter().sum::<usize>() as f64 / counts.len().max(1) as f64;
        println!(
            "{db}: {} images, minutiae mean {m:.1} min {} max {}, failure to enrol {}",
            v.len(),
            counts.iter().min().unwrap_or(&0),
            counts.iter().max().unwrap_or(&0),
            v.iter().filter(|i| i.extraction.unusable.is_some()).count()
        );
    }
    println!(
        "{} images, mean extraction {mean_ms:.1} ms per image (wall, {} threads), failure to enrol {fte}",
        images.len(),
        rayon::current_num_threads()
    );

    // Genuine scores per image from the templates just written.
    let matcher = FingerMatcher::new(MccParams::default());
    let dbs = tunggal_datasets::fvc::load_root(&out).unwrap();
    let mut mean_genuine = vec![0.0f64; images.len()];
    let mut pair_q = Vec::new();
    let mut pair_s = Vec::new();
    for db in &dbs {
        let pairs = tunggal::eval::score_all_pairs(db, &matcher);
        let mut sums = vec![(0.0f64, 0usize); db.samples.len()];
        for p in &pairs {
            if db.samples[p.a].finger == db.samples[p.b].finger {
                sums[p.a].0 += p.score;
                sums[p.a].1 += 1;
                sums[p.b].0 += p.score;
                sums[p.b].1 += 1;
                let qa = find(&images, &db.name, &db.samples[p.a].stem)
                    .extraction
                    .quality;
                let qb = find(&images, &db.name, &db.samples[p.b].stem)
                    .extraction
                    .quality;
                pair_q.push(f64::from(qa.min(qb)));
                pair_s.push(p.score);
            }
        }
        for (s, (sum, k)) in db.samples.iter().zip(sums) {
            let i = images
                .iter()
                .position(|i| i.db == db.name && i.stem == s.stem)
                .unwrap();
            mean_genuine[i] = sum / k.max(1) as f64;
        }
    }
    let rows: Vec<[f32; 6]> = images
        .iter()
        .map(|i| quality::design_row(&i.extraction.features))
        .collect();
    let fitted = least_squares(&rows, &mean_genuine);
    let max_pred = rows
        .iter()
        .map(|r| r.iter().zip(&fitted).map(|(x, w)| x * w).sum::<f32>())
        .fold(f32::MIN, f32::max);
    let scaled: [f32; 6] = std::array::from_fn(|i| fitted[i] / max_pred.max(1e-6));
    println!("fitted quality weights (scaled so the best image is 100): {scaled:?}");
    let q: Vec<f64> = images
        .iter()
        .map(|i| f64::from(i.extraction.quality))
        .collect();
    println!(
        "Spearman, built-in quality vs image's mean genuine score: {:.3}",
        spearman(&q, &mean_genuine)
    );
    println!(
        "Spearman, min(quality a, quality b) vs genuine pair score: {:.3} over {} pairs",
        spearman(&pair_q, &pair_s),
        pair_s.len()
    );
    // Leave-one-database-out fit: weights from three databases, Spearman on the fourth.
    let mut held = Vec::new();
    for db in ["DB1_B", "DB2_B", "DB3_B", "DB4_B"] {
        let train: Vec<usize> = (0..images.len()).filter(|&i| images[i].db != db).collect();
        let test: Vec<usize> = (0..images.len()).filter(|&i| images[i].db == db).collect();
        let w = least_squares(
            &train.iter().map(|&i| rows[i]).collect::<Vec<_>>(),
            &train.iter().map(|&i| mean_genuine[i]).collect::<Vec<_>>(),
        );
        let pred: Vec<f64> = test
            .iter()
            .map(|&i| f64::from(rows[i].iter().zip(&w).map(|(x, w)| x * w).sum::<f32>()))
            .collect();
        let truth: Vec<f64> = test.iter().map(|&i| mean_genuine[i]).collect();
        let s = spearman(&pred, &truth);
        held.push(s);
        let builtin: Vec<f64> = test.iter().map(|&i| q[i]).collect();
        println!(
            "held-out {db}: Spearman of the fitted weights {s:.3}, of the built-in weights {:.3}",
            spearman(&builtin, &truth)
        );
    }
    println!(
        "held-out mean Spearman {:.3}",
        held.iter().sum::<f64>() / 4.0
    );
}

fn find<'a>(images: &'a [Image], db: &str, stem: &str) -> &'a Image {
    images
        .iter()
        .find(|i| i.db == db && i.stem == stem)
        .unwrap()
}
