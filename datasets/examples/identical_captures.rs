//! How close two *different* captures of one finger or eye come, against the same capture
//! compared with itself: the figures behind the near-identical thresholds of
//! `tunggal_index::search::same_capture`.
//!
//! `cargo run --release -p tunggal-datasets --example identical_captures -- FVC_ROOT PERSONS`
//!
//! - FVC_ROOT (for example `../shared/datasets/fvc2002-iso`): every two impressions of the
//!   same finger of every database (the FVC genuine pairs), scored with the gallery's finger
//!   matcher; and every template against itself.
//! - PERSONS synthetic persons (population seed 1): captures 0, 1 and 2 of each, every two
//!   captures of the same finger and of the same eye (typical quality), and capture 0 against
//!   itself. Iris figures are the raw fractional Hamming distance over the jointly valid bits
//!   at the best rotation (what the near-identical rule reads) and the normalised distance
//!   the gallery decides on.

use std::path::PathBuf;

use rayon::prelude::*;
use tunggal_datasets::fvc::load_root;
use tunggal_datasets::population::{CaptureSpec, Population};
use tunggal_index::finger::MccParams;
use tunggal_index::gallery::{DescriptorParams, Preparer, GALLERY_IRIS_LAYOUT};
use tunggal_index::iris::IrisTemplate;
use tunggal_index::template::FingerTemplate;

type Error = Box<dyn std::error::Error>;

fn usage() -> Error {
    "usage: identical_captures FVC_ROOT PERSONS".into()
}

/// Minimum, maximum and count of a set of figures.
#[derive(Debug, Clone, Copy)]
struct Range {
    min: f64,
    max: f64,
    n: usize,
}

impl Range {
    fn of(values: &[f64]) -> Range {
        Range {
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            n: values.len(),
        }
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "min {:.4}  max {:.4}  ({} pairs)",
            self.min, self.max, self.n
        )
    }
}

/// The per-person figures: finger genuine and self scores, iris genuine and self distances
/// (raw, normalised).
type Sets = (Vec<f64>, Vec<f64>, Distances, Distances);

/// Iris distances of pairs: (raw, normalised).
type Distances = Vec<(f64, f64)>;

/// The `n` highest of `values`, rounded to four places.
fn highest(values: &[f64], n: usize) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(|a, b| b.total_cmp(a));
    v.truncate(n);
    v.iter().map(|x| (x * 1e4).round() / 1e4).collect()
}

/// The `n` lowest of `values`, rounded to four places.
fn lowest(values: &[f64], n: usize) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v.truncate(n);
    v.iter().map(|x| (x * 1e4).round() / 1e4).collect()
}

/// Share of `values` at or beyond `threshold` (above when `high`, else below).
fn share(values: &[f64], threshold: f64, high: bool) -> usize {
    values
        .iter()
        .filter(|&&v| if high { v >= threshold } else { v <= threshold })
        .count()
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(args.next().ok_or_else(usage)?);
    let persons: u64 = args.next().ok_or_else(usage)?.parse()?;
    let preparer = Preparer::new(&MccParams::default(), DescriptorParams::default())?;
    let matcher = preparer.matcher();
    let iris = preparer.iris();

    // Real fingers: FVC2002 genuine pairs and self-comparisons.
    let databases = load_root(&root)?;
    let mut fvc_genuine = Vec::new();
    let mut fvc_self = Vec::new();
    for db in &databases {
        let prepared: Vec<_> = db
            .samples
            .par_iter()
            .map(|s| matcher.prepare(&s.template))
            .collect();
        let mut genuine = Vec::new();
        for (a, sa) in db.samples.iter().enumerate() {
            fvc_self.push(f64::from(matcher.compare(&prepared[a], &prepared[a])));
            for (b, sb) in db.samples.iter().enumerate().skip(a + 1) {
                if sa.finger == sb.finger {
                    genuine.push(f64::from(matcher.compare(&prepared[a], &prepared[b])));
                }
            }
        }
        println!(
            "FVC2002 {} genuine finger pairs: {}",
            db.name,
            Range::of(&genuine)
        );
        fvc_genuine.extend(genuine);
    }
    println!(
        "FVC2002 all genuine finger pairs: {}",
        Range::of(&fvc_genuine)
    );
    println!("  highest five: {:?}", highest(&fvc_genuine, 5));
    println!("FVC2002 template against itself:  {}", Range::of(&fvc_self));

    // Synthetic persons: three captures each.
    let population = Population::new(1);
    let spec = CaptureSpec::default();
    let per_person: Vec<Sets> = (0..persons)
        .into_par_iter()
        .map(|id| {
            let person = population.person(id);
            let captures: Vec<_> = (0..3)
                .map(|n| population.capture(&person, n, &spec))
                .collect();
            let finger = |c: &tunggal_datasets::population::Capture, pos: u8| {
                c.fingers
                    .iter()
                    .find(|t| t.position == pos)
                    .map(|t: &FingerTemplate| matcher.prepare(t))
            };
            let eye = |c: &tunggal_datasets::population::Capture, e| {
                c.irises.iter().find(|i| i.eye == e).and_then(|i| {
                    IrisTemplate::from_bytes(GALLERY_IRIS_LAYOUT, &i.code, &i.mask).ok()
                })
            };
            let (mut fg, mut fs) = (Vec::new(), Vec::new());
            let (mut ig, mut is): (Distances, Distances) = (Vec::new(), Vec::new());
            for pos in 1..=10u8 {
                let p: Vec<_> = captures.iter().map(|c| finger(c, pos)).collect();
                if let Some(Some(a)) = p.first() {
                    fs.push(f64::from(matcher.compare(a, a)));
                }
                for (a, x) in p.iter().enumerate() {
                    for y in &p[a + 1..] {
                        if let (Some(x), Some(y)) = (x, y) {
                            fg.push(f64::from(matcher.compare(x, y)));
                        }
                    }
                }
            }
            for e in tunggal_datasets::iris_source::Eye::BOTH {
                let t: Vec<_> = captures.iter().map(|c| eye(c, e)).collect();
                let hd = |x: &IrisTemplate, y: &IrisTemplate| {
                    iris.compare_templates(x, y)
                        .ok()
                        .and_then(|c| c.score())
                        .map(|s| (s.hd, s.hd_norm))
                };
                if let Some(Some(a)) = t.first() {
                    is.extend(hd(a, a));
                }
                for (a, x) in t.iter().enumerate() {
                    for y in &t[a + 1..] {
                        if let (Some(x), Some(y)) = (x, y) {
                            ig.extend(hd(x, y));
                        }
                    }
                }
            }
            (fg, fs, ig, is)
        })
        .collect();
    let gather = |pick: fn(&Sets) -> &Vec<f64>| {
        per_person
            .iter()
            .flat_map(|p| pick(p).iter().copied())
            .collect::<Vec<f64>>()
    };
    let pairs = |pick: fn(&Sets) -> &Distances, raw: bool| {
        per_person
            .iter()
            .flat_map(|p| pick(p).iter().map(|&(h, n)| if raw { h } else { n }))
            .collect::<Vec<f64>>()
    };
    let (syn_fg, syn_fs) = (gather(|p| &p.0), gather(|p| &p.1));
    let (syn_ig, syn_is) = (pairs(|p| &p.2, true), pairs(|p| &p.3, true));
    println!("synthetic genuine finger pairs:   {}", Range::of(&syn_fg));
    println!("  highest five: {:?}", highest(&syn_fg, 5));
    println!("synthetic finger against itself:  {}", Range::of(&syn_fs));
    println!(
        "synthetic genuine iris pairs, raw:        {}",
        Range::of(&syn_ig)
    );
    println!("  lowest five: {:?}", lowest(&syn_ig, 5));
    println!(
        "synthetic iris against itself, raw:       {}",
        Range::of(&syn_is)
    );
    println!(
        "synthetic genuine iris pairs, normalised: {}",
        Range::of(&pairs(|p| &p.2, false))
    );
    println!(
        "synthetic iris against itself, normalised: {}",
        Range::of(&pairs(|p| &p.3, false))
    );

    let finger_threshold = tunggal_index::search::same_capture::FINGER_NEAR_IDENTICAL;
    let iris_threshold = tunggal_index::search::same_capture::IRIS_NEAR_IDENTICAL;
    println!(
        "finger threshold {finger_threshold}: genuine pairs at or above {} of {} (FVC) and {} of {} \
         (synthetic); self-comparisons at or above {} of {} (FVC) and {} of {} (synthetic)",
        share(&fvc_genuine, f64::from(finger_threshold), true),
        fvc_genuine.len(),
        share(&syn_fg, f64::from(finger_threshold), true),
        syn_fg.len(),
        share(&fvc_self, f64::from(finger_threshold), true),
        fvc_self.len(),
        share(&syn_fs, f64::from(finger_threshold), true),
        syn_fs.len(),
    );
    println!(
        "iris threshold {iris_threshold} (raw): genuine pairs at or below {} of {}; self-comparisons at \
         or below {} of {}",
        share(&syn_ig, f64::from(iris_threshold), false),
        syn_ig.len(),
        share(&syn_is, f64::from(iris_threshold), false),
        syn_is.len(),
    );
    Ok(())
}
