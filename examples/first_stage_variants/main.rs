//! Per-finger first-stage retention of descriptor variants, measured in one run on one
//! background: every FVC2002 genuine pair (impression `j` against each earlier `i`) ranked
//! among synthetic background fingers plus the real impostor fingers.
//!
//! `cargo run --release --example first_stage_variants -- DATA PERSONS [--fusion] [--tails]
//! [--layers] [--hard] [--background all|real|synthetic] VARIANT…`
//!
//! PERSONS synthetic persons (capture 0 of population seed 1; hard captures with `--hard`)
//! give the background fingers. With `--fusion`, each variant is also scored per person (see
//! `fusion::fuse`); `--background real` or `synthetic` ranks the genuine pairs among the real
//! impostor fingers or the synthetic fingers only; `--tails` prints each variant's impostor
//! score quantiles by kind of pair and `--layers` the cylinders' mean occupancy, real against
//! synthetic (`realism`).
//!
//! Variants:
//! - `v2`: the gallery's descriptor (`DescriptorBuilder`, default parameters) and similarity;
//! - `matcher`: the second-stage 1:1 matcher itself (`FingerMatcher::compare`), the bound that
//!   no cheaper first stage built on the same minutiae is expected to beat;
//! - `bloom:H:B:M:N[:D]`: H hashes of B cylinder bits (at least M set) into an N-bit bag, the
//!   same similarity as `v2`; D picks a neighbourhood vote applied to the cells first (see
//!   `dilate`); `bloomcos:…` the same bag scored by cosine `c / √(|a|·|b|)`;
//! - `lss:H:B:M:P:Q`: per-minutia vote counting after Cappelli, Ferrara and Maltoni (2011):
//!   for each probe cylinder, the number of hash functions on which it collides with each
//!   gallery cylinder; the finger's score is the sum over probe cylinders of
//!   `(best collisions / H)^P`, divided by `gallery cylinders^Q`;
//! - `inter:H:B:M:Q`: the number of distinct `(hash function, word)` items two fingers share,
//!   divided by `(items · items)^Q`;
//! - `stop:H:B:M:N:F[:R]` and `tnorm:C[:M]`: see `cohort` (the frequent items left out of the
//!   bag; each gallery finger's similarity normalised against a cohort);
//! - `sketch:H:B:M:K:F`: the gallery finger keeps its K smallest items as F-bit
//!   fingerprints, the probe a bitmap of all its items' fingerprints; the score counts the
//!   gallery's fingerprints in the probe's bitmap against chance.

mod cohort;
mod fusion;
mod realism;

/// Which background fingers a genuine pair is ranked among.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Background {
    /// Synthetic and real impostor fingers.
    All,
    /// The real impostor fingers only.
    Real,
    /// The synthetic fingers only.
    Synthetic,
}

/// Command-line options before the variants.
struct Options {
    fusion: bool,
    tails: bool,
    layers: bool,
    hard: bool,
    background: Background,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<(Self, Vec<String>)> {
        let mut o = Self {
            fusion: false,
            tails: false,
            layers: false,
            hard: false,
            background: Background::All,
        };
        let mut rest = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--fusion" => o.fusion = true,
                "--tails" => o.tails = true,
                "--layers" => o.layers = true,
                "--hard" => o.hard = true,
                "--background" => {
                    o.background = match it.next().map(String::as_str) {
                        Some("all") => Background::All,
                        Some("real") => Background::Real,
                        Some("synthetic") => Background::Synthetic,
                        other => anyhow::bail!("--background all|real|synthetic, not {other:?}"),
                    }
                }
                _ => rest.push(a.clone()),
            }
        }
        Ok((o, rest))
    }
}

use std::collections::HashMap;
use std::path::PathBuf;

use rayon::prelude::*;
use tunggal_datasets::population::{CaptureSpec, EyesCaptured, Population, QualityMode};
use tunggal_index::finger::{FingerMatcher, PreparedTemplate};
use tunggal_index::gallery::descriptor::{ones, similarity};
use tunggal_index::gallery::{DescriptorBuilder, DescriptorParams, MIN_CYLINDERS};

/// One described finger: its cylinder bits (7 words each) and its origin.
struct Finger {
    bits: Vec<u64>,
    len: usize,
    /// `(database, finger)` of a real impression; `None` for synthetic.
    real: Option<(usize, u32, u32)>,
    /// Synthetic person and finger slot (0–9).
    owner: (u64, usize),
    v2: ([u64; 16], u16),
    prepared: PreparedTemplate,
}

const STRIDE: usize = 7;

/// Sampled bits of each hash function: (layer word, bit).
struct Hashes {
    groups: Vec<Vec<(usize, u32)>>,
    min_ones: u32,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Hashes {
    fn new(hashes: usize, bits: usize, min_ones: u32, seed: u64) -> Self {
        let ns = 8usize;
        let half = (ns as f32 - 1.0) / 2.0;
        let limit = 4.0 / 8.0 * ns as f32;
        let mut pool = Vec::new();
        for c in 0..ns * ns {
            let (i, j) = ((c / ns) as f32 - half, (c % ns) as f32 - half);
            if i * i + j * j > limit * limit {
                continue;
            }
            for k in 0..6 {
                pool.push((k, c as u32));
            }
        }
        let mut state = seed;
        let groups = (0..hashes)
            .map(|_| {
                let mut p = pool.clone();
                (0..bits)
                    .map(|s| {
                        let r = s + (splitmix(&mut state) % (p.len() - s) as u64) as usize;
                        p.swap(s, r);
                        p[s]
                    })
                    .collect()
            })
            .collect();
        Self { groups, min_ones }
    }

    /// Word of hash `l` for cylinder `cyl`, `None` when too few bits are set.
    fn word(&self, cyl: &[u64], l: usize) -> Option<u32> {
        let mut v = 0u32;
        for &(k, b) in &self.groups[l] {
            v = v << 1 | (cyl[k] >> b & 1) as u32;
        }
        (v.count_ones() >= self.min_ones).then_some(v)
    }
}

/// The cylinder's value layers with each cell replaced by a vote over its neighbourhood:
/// mode 1: any of the 3×3 cells; mode 2: at least 2 of the 3×3 cells; mode 3: the cell or
/// the same cell of the next direction layer.
fn dilate(cyl: &[u64], mode: u32) -> [u64; STRIDE] {
    let mut out = [0u64; STRIDE];
    out[6] = cyl[6];
    for k in 0..6 {
        if mode == 3 {
            out[k] = cyl[k] | cyl[(k + 1) % 6];
            continue;
        }
        for c in 0..64usize {
            let (i, j) = ((c / 8) as i32, (c % 8) as i32);
            let mut n = 0;
            for di in -1..=1 {
                for dj in -1..=1 {
                    let (a, b) = (i + di, j + dj);
                    if (0..8).contains(&a) && (0..8).contains(&b) {
                        n += (cyl[k] >> (a * 8 + b) & 1) as u32;
                    }
                }
            }
            let need = if mode == 1 { 1 } else { 2 };
            if n >= need {
                out[k] |= 1 << c;
            }
        }
    }
    out
}

fn bloom(f: &Finger, h: &Hashes, nbits: usize, mode: u32) -> (Vec<u64>, u32) {
    let mut out = vec![0u64; nbits / 64];
    for raw in f.bits.chunks_exact(STRIDE) {
        let d = dilate(raw, mode);
        let cyl: &[u64] = if mode == 0 { raw } else { &d };
        for l in 0..h.groups.len() {
            if let Some(v) = h.word(cyl, l) {
                let mut s = u64::from(v) ^ (l as u64) << 40 ^ 0x5eed;
                let pos = (splitmix(&mut s) % nbits as u64) as usize;
                out[pos / 64] |= 1 << (pos % 64);
            }
        }
    }
    let n = out.iter().map(|w| w.count_ones()).sum();
    (out, n)
}

fn bloom_sim(a: &(Vec<u64>, u32), b: &(Vec<u64>, u32), nbits: usize, cosine: bool) -> f32 {
    if a.1 == 0 || b.1 == 0 {
        return 0.0;
    }
    let c: u32 =
        a.0.iter()
            .zip(&b.0)
            .map(|(x, y)| (x & y).count_ones())
            .sum();
    if cosine {
        return c as f32 / (a.1 as f32 * b.1 as f32).sqrt();
    }
    let e = a.1 as f32 * b.1 as f32 / nbits as f32;
    (c as f32 - e) / (e + 1.0).sqrt()
}

/// The distinct hashed items `(hash function, word)` of a finger, sorted.
fn items(f: &Finger, h: &Hashes) -> Vec<u64> {
    let mut out = Vec::new();
    for cyl in f.bits.chunks_exact(STRIDE) {
        for l in 0..h.groups.len() {
            if let Some(v) = h.word(cyl, l) {
                let mut s = u64::from(v) ^ (l as u64) << 40 ^ 0x5eed;
                out.push(splitmix(&mut s));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Exact item intersection, divided by `(|a|·|b|)^q`.
fn inter_scorer<'a>(fingers: &'a [Finger], spec: &[f64]) -> Scorer<'a> {
    let h = Hashes::new(spec[0] as usize, spec[1] as usize, spec[2] as u32, 0x7475);
    let q = spec[3];
    let sets: Vec<Vec<u64>> = fingers.par_iter().map(|f| items(f, &h)).collect();
    Box::new(move |p| {
        let a = &sets[p];
        sets.iter()
            .map(|b| {
                let (mut i, mut j, mut c) = (0, 0, 0u32);
                while i < a.len() && j < b.len() {
                    match a[i].cmp(&b[j]) {
                        std::cmp::Ordering::Less => i += 1,
                        std::cmp::Ordering::Greater => j += 1,
                        std::cmp::Ordering::Equal => {
                            c += 1;
                            i += 1;
                            j += 1;
                        }
                    }
                }
                (c as f64 / ((a.len() * b.len()).max(1) as f64).powf(q)) as f32
            })
            .collect()
    })
}

/// Gallery side: the `k` smallest items, each kept as an `f`-bit fingerprint; probe side:
/// a bitmap of all its items' fingerprints. Score: gallery fingerprints found in the probe's
/// bitmap against the expected chance hits, `(c − e) / √(e + 1)`.
fn sketch_scorer<'a>(fingers: &'a [Finger], spec: &[f64]) -> Scorer<'a> {
    let h = Hashes::new(spec[0] as usize, spec[1] as usize, spec[2] as u32, 0x7475);
    let (k, fbits) = (spec[3] as usize, spec[4] as u32);
    let fp = move |x: u64| {
        let mut s = x ^ 0xf1f1;
        (splitmix(&mut s) >> (64 - fbits)) as usize
    };
    let sets: Vec<Vec<u64>> = fingers.par_iter().map(|f| items(f, &h)).collect();
    let kept: Vec<Vec<usize>> = sets
        .iter()
        .map(|s| s.iter().take(k).map(|&x| fp(x)).collect())
        .collect();
    Box::new(move |p| {
        let mut bitmap = vec![0u64; (1usize << fbits) / 64];
        for &x in &sets[p] {
            let b = fp(x);
            bitmap[b / 64] |= 1 << (b % 64);
        }
        let density =
            bitmap.iter().map(|w| w.count_ones()).sum::<u32>() as f32 / (1u64 << fbits) as f32;
        kept.iter()
            .map(|g| {
                let c = g
                    .iter()
                    .filter(|&&b| bitmap[b / 64] >> (b % 64) & 1 == 1)
                    .count() as f32;
                let e = density * g.len() as f32;
                (c - e) / (e + 1.0).sqrt()
            })
            .collect()
    })
}

/// Scores of `probe` against every finger for one variant.
type Scorer<'a> = Box<dyn Fn(usize) -> Vec<f32> + Sync + 'a>;

fn lss_scorer<'a>(fingers: &'a [Finger], spec: &[f64]) -> Scorer<'a> {
    let (hn, bits, min, p, q) = (
        spec[0] as usize,
        spec[1] as usize,
        spec[2] as u32,
        spec[3],
        spec[4],
    );
    let h = Hashes::new(hn, bits, min, 0x7475_6e67);
    // Global cylinder ids and their finger.
    let mut owner = Vec::new();
    let mut table: HashMap<u64, Vec<u32>> = HashMap::new();
    let mut words: Vec<Vec<Option<u32>>> = Vec::new();
    for (fi, f) in fingers.iter().enumerate() {
        let mut fw = Vec::new();
        for cyl in f.bits.chunks_exact(STRIDE) {
            let g = owner.len() as u32;
            owner.push(fi as u32);
            for l in 0..hn {
                let w = h.word(cyl, l);
                fw.push(w);
                if let Some(v) = w {
                    table
                        .entry((l as u64) << 32 | u64::from(v))
                        .or_default()
                        .push(g);
                }
            }
        }
        words.push(fw);
    }
    let weight: Vec<f32> = (0..=hn)
        .map(|c| (c as f64 / hn as f64).powf(p) as f32)
        .collect();
    let norm: Vec<f32> = fingers
        .iter()
        .map(|f| (f.len.max(1) as f64).powf(-q) as f32)
        .collect();
    let total = owner.len();
    let postings: usize = table.values().map(Vec::len).sum();
    println!(
        "  index: {postings} postings over {} fingers ({:.0} per finger, {:.1} KB as 32-bit ids)",
        fingers.len(),
        postings as f64 / fingers.len().max(1) as f64,
        postings as f64 * 4.0 / fingers.len().max(1) as f64 / 1024.0
    );
    Box::new(move |probe| {
        let mut cnt = vec![0u8; total];
        let mut best = vec![0u8; fingers.len()];
        let mut score = vec![0f32; fingers.len()];
        let mut touched = Vec::new();
        let mut tf = Vec::new();
        for ws in words[probe].chunks_exact(hn) {
            for (l, w) in ws.iter().enumerate() {
                let Some(v) = w else { continue };
                if let Some(list) = table.get(&((l as u64) << 32 | u64::from(*v))) {
                    for &g in list {
                        let c = &mut cnt[g as usize];
                        if *c == 0 {
                            touched.push(g);
                        }
                        *c += 1;
                    }
                }
            }
            for &g in &touched {
                let f = owner[g as usize] as usize;
                if best[f] == 0 {
                    tf.push(f);
                }
                best[f] = best[f].max(cnt[g as usize]);
                cnt[g as usize] = 0;
            }
            touched.clear();
            for &f in &tf {
                score[f] += weight[usize::from(best[f])];
                best[f] = 0;
            }
            tf.clear();
        }
        for (s, n) in score.iter_mut().zip(&norm) {
            *s *= n;
        }
        score
    })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() >= 4,
        "usage: first_stage_variants DATA PERSONS [--fusion] [--tails] [--layers] [--hard] \
         [--background all|real|synthetic] VARIANT…"
    );
    let data = PathBuf::from(&args[1]);
    let persons: u64 = args[2].parse()?;
    let (opts, variants) = Options::parse(&args[3..])?;
    let fusion = opts.fusion;
    let matcher = FingerMatcher::default();
    let v2 = DescriptorBuilder::new(DescriptorParams::default(), matcher.params())
        .ok_or_else(|| anyhow::anyhow!("descriptor"))?;
    let describe = |t: &PreparedTemplate, real, owner| {
        let d = v2.describe(t);
        Finger {
            bits: t.bits.clone(),
            len: t.len(),
            real,
            owner,
            v2: (d, ones(&d)),
            prepared: t.clone(),
        }
    };
    let dbs = tunggal_datasets::fvc::load_root(&data)?;
    let mut real_t = Vec::new();
    for (d, db) in dbs.iter().enumerate() {
        for s in &db.samples {
            real_t.push(((d, s.finger, s.impression), &s.template));
        }
    }
    let mut fingers: Vec<Finger> = real_t
        .par_iter()
        .map(|&(r, t)| describe(&matcher.prepare(t), Some(r), (0, 0)))
        .collect();
    let n_real = fingers.len();
    let pop = Population::new(1);
    let spec = CaptureSpec {
        quality: if opts.hard {
            QualityMode::Hard
        } else {
            QualityMode::Typical
        },
        eyes: EyesCaptured::None,
        ..CaptureSpec::default()
    };
    let synthetic: Vec<Finger> = (0..persons)
        .into_par_iter()
        .flat_map_iter(|id| {
            let person = pop.person(1_000_000 + id);
            let cap = pop.capture(&person, 0, &spec);
            cap.fingers
                .iter()
                .map(|t| (matcher.prepare(t), usize::from(t.position.max(1)) - 1))
                .filter(|(p, _)| p.len() >= MIN_CYLINDERS)
                .map(|(p, slot)| describe(&p, None, (id, slot)))
                .collect::<Vec<_>>()
        })
        .collect();
    fingers.extend(synthetic);
    let n_syn = fingers.len() - n_real;
    let mean_ones = |range: std::ops::Range<usize>| {
        let n = range.len().max(1);
        fingers[range]
            .iter()
            .map(|f| f64::from(f.v2.1))
            .sum::<f64>()
            / n as f64
    };
    let mean_len = |range: std::ops::Range<usize>| {
        let n = range.len().max(1);
        fingers[range].iter().map(|f| f.len as f64).sum::<f64>() / n as f64
    };
    println!(
        "synthetic fingers {n_syn}, real {n_real}; v2 mean set bits real {:.0} synthetic {:.0}; mean cylinders real {:.1} synthetic {:.1}",
        mean_ones(0..n_real),
        mean_ones(n_real..fingers.len()),
        mean_len(0..n_real),
        mean_len(n_real..fingers.len())
    );
    if opts.layers {
        realism::layers(&fingers, n_real);
    }
    for v in &variants {
        let parts: Vec<&str> = v.split(':').collect();
        let nums: Vec<f64> = parts[1..].iter().filter_map(|s| s.parse().ok()).collect();
        let scorer: Scorer = match parts[0] {
            "v2" => Box::new(|p| {
                let a = &fingers[p].v2;
                fingers
                    .iter()
                    .map(|b| similarity(&a.0, a.1, &b.v2.0, b.v2.1))
                    .collect()
            }),
            "bloom" | "bloomcos" => {
                let cosine = parts[0] == "bloomcos";
                let h = Hashes::new(nums[0] as usize, nums[1] as usize, nums[2] as u32, 0x7475);
                let nbits = nums[3] as usize;
                let mode = nums.get(4).map_or(0, |&m| m as u32);
                let bags: Vec<_> = fingers
                    .par_iter()
                    .map(|f| bloom(f, &h, nbits, mode))
                    .collect();
                Box::new(move |p| {
                    bags.iter()
                        .map(|b| bloom_sim(&bags[p], b, nbits, cosine))
                        .collect()
                })
            }
            "stop" => cohort::stop_scorer(&fingers, n_real, &nums),
            "tnorm" => cohort::tnorm_scorer(&fingers, n_real, &nums),
            "matcher" => Box::new(|p| {
                let a = &fingers[p].prepared;
                fingers
                    .iter()
                    .map(|b| matcher.compare(a, &b.prepared))
                    .collect()
            }),
            "lss" => lss_scorer(&fingers, &nums),
            "inter" => inter_scorer(&fingers, &nums),
            "sketch" => sketch_scorer(&fingers, &nums),
            _ => anyhow::bail!("unknown variant {v}"),
        };
        if opts.tails {
            realism::tails(&fingers, n_real, &scorer);
        }
        report(v, &fingers, n_real, &scorer, opts.background);
        if fusion {
            fusion::fuse(v, &fingers, n_real, persons, &scorer);
        }
    }
    Ok(())
}

/// Ranks every genuine pair and prints retention at 0.1, 1 and 5 % overall and per database.
fn report(name: &str, fingers: &[Finger], n_real: usize, scorer: &Scorer, background: Background) {
    let t = std::time::Instant::now();
    let ranks: Vec<(usize, Option<f64>)> = (0..n_real)
        .into_par_iter()
        .flat_map_iter(|p| {
            let (db, finger, imp) = fingers[p].real.unwrap_or_default();
            let mates: Vec<usize> = (0..n_real)
                .filter(|&m| {
                    fingers[m]
                        .real
                        .is_some_and(|(d, f, i)| d == db && f == finger && i < imp)
                })
                .collect();
            if mates.is_empty() {
                return Vec::new();
            }
            let describable = |i: usize| fingers[i].len >= MIN_CYLINDERS;
            let scores = scorer(p);
            let background_set: Vec<usize> = (0..fingers.len())
                .filter(|&i| {
                    describable(i)
                        && fingers[i]
                            .real
                            .is_none_or(|(d, f, _)| !(d == db && f == finger))
                })
                .collect();
            mates
                .into_iter()
                .map(|m| {
                    if !describable(p) || !describable(m) {
                        return (db, None);
                    }
                    let s = scores[m];
                    let bg: Vec<usize> = background_set
                        .iter()
                        .copied()
                        .filter(|&b| match background {
                            Background::Real => b < n_real,
                            Background::Synthetic => b >= n_real,
                            Background::All => true,
                        })
                        .collect();
                    let above = bg.iter().filter(|&&b| scores[b] > s).count();
                    (db, Some((above + 1) as f64 / bg.len() as f64))
                })
                .collect()
        })
        .collect();
    let share = |db: Option<usize>, pen: f64| {
        let sel: Vec<_> = ranks
            .iter()
            .filter(|r| db.is_none_or(|d| d == r.0))
            .collect();
        let kept = sel.iter().filter(|r| r.1.is_some_and(|x| x <= pen)).count();
        100.0 * kept as f64 / sel.len().max(1) as f64
    };
    println!(
        "{name:28} pairs {} | 0.1% {:5.1} 1% {:5.1} 5% {:5.1} | 1% by DB {:5.1} {:5.1} {:5.1} {:5.1} | {:.1}s",
        ranks.len(),
        share(None, 0.001),
        share(None, 0.01),
        share(None, 0.05),
        share(Some(0), 0.01),
        share(Some(1), 0.01),
        share(Some(2), 0.01),
        share(Some(3), 0.01),
        t.elapsed().as_secs_f64()
    );
}
