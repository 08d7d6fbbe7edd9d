//! Person-level first-stage retention of real mates among a synthetic background gallery,
//! against shortlist size, fusion rule and gallery size.
//!
//! `cargo run --release -p tunggal-datasets --example person_first_stage -- DATA GALLERY
//! [--fit-persons M] [--draws D] [--seed S]`
//!
//! * `DATA` is laid out like `fvc2002-iso` (one folder per database, fingers `101…` with
//!   impressions `1…`); each database gives one person (its first ten fingers at slots 0–9),
//!   as `tunggal eval persons` builds them.
//! * `GALLERY` is a gallery directory (`tunggal eval persons --dir D --keep` or `tunggal bench
//!   dedup --dir D --keep`); its live persons are the background and its stored calibration
//!   scores the first stage.
//!
//! 1. **Genuine ratios.** Every genuine pair of every database and slot (impression `j`
//!    against each earlier `i`) gives the first-stage ratio of the gallery's descriptor table.
//! 2. **Background.** Every impression of a database's person is a probe; its per-slot ratios
//!    against every background person give, per rule ([`rules::RULES`]), the non-mate score
//!    distribution of that database's probes (probes × background scores).
//! 3. **Mates.** `D` mates per database (seed `S`): slot `s` of a mate takes a ratio drawn
//!    uniformly from that database's genuine pairs of slot `s`, so all ten fingers are as
//!    hard as that database. The database's real capture pairs (all ten fingers of impression
//!    `j` against impression `i`) are scored as well.
//! 4. **Retention.** A mate scoring `m` is beaten by `N · S(m)` non-mates on average at `N`
//!    persons (`S`: the background's share above `m`, ties half); the number that beat it is
//!    Poisson, and it is shortlisted when fewer than `K` do. `S` is empirical up to the
//!    `1 − 1/1000` quantile and an exponential fitted to the top 0.1 % beyond (the fit on the
//!    first `M` persons is printed against the counts of the whole background). A union of
//!    two lists (sum and three strong fingers) keeps a mate either list keeps, the two taken
//!    as independent.

mod rules;

use std::collections::BTreeSet;
use std::path::PathBuf;

use rayon::prelude::*;
use rules::{kept, Null, Rule, Slots, RULES};
use tunggal_index::gallery::descriptor::similarity;
use tunggal_index::gallery::{
    Enrolment, Gallery, GalleryConfig, PersonRecord, PreparedPerson, FINGERS,
};
use tunggal_index::search::{Calibration, LlrTable};
use tunggal_index::template::FingerTemplate;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Shortlist sizes reported.
pub const SHORTLISTS: [usize; 5] = [32, 64, 128, 256, 512];
/// Gallery sizes the retention is extrapolated to.
const SIZES: [f64; 3] = [1e5, 1e6, 1e7];

fn splitmix(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Per-slot ratios of `p` against `g`, as the first stage's finger loop computes them.
fn slots(p: &PersonRecord, g: &PersonRecord, table: &LlrTable) -> Slots {
    let common = p.presence & g.presence;
    let mut out = [f32::NAN; FINGERS];
    for (s, o) in out.iter_mut().enumerate() {
        if common & (1 << s) != 0 {
            *o = table.llr(similarity(
                &p.fingers[s],
                p.ones[s],
                &g.fingers[s],
                g.ones[s],
            ));
        }
    }
    out
}

/// One database's person: its prepared captures (impression order).
struct Person {
    name: String,
    captures: Vec<PreparedPerson>,
}

struct Args {
    data: PathBuf,
    gallery: PathBuf,
    fit_persons: usize,
    draws: usize,
    seed: u64,
}

fn args() -> Result<Args> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: person_first_stage DATA GALLERY [--fit-persons M] [--draws D] [--seed S]";
    if raw.len() < 2 {
        return Err(usage.into());
    }
    let mut a = Args {
        data: PathBuf::from(&raw[0]),
        gallery: PathBuf::from(&raw[1]),
        fit_persons: 20_000,
        draws: 20_000,
        seed: 0x5eed,
    };
    let mut it = raw[2..].iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(usage)?;
        match flag.as_str() {
            "--fit-persons" => a.fit_persons = value.parse()?,
            "--draws" => a.draws = value.parse()?,
            "--seed" => a.seed = value.parse()?,
            _ => return Err(usage.into()),
        }
    }
    Ok(a)
}

/// One person per database: its first ten finger numbers at slots 0–9, per impression the
/// templates it has (as `tunggal eval persons` builds its persons).
fn real_persons(
    dbs: &[tunggal_datasets::fvc::FvcDatabase],
) -> Vec<(String, Vec<Vec<FingerTemplate>>)> {
    dbs.iter()
        .map(|db| {
            let fingers: Vec<u32> = db
                .samples
                .iter()
                .map(|s| s.finger)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .take(FINGERS)
                .collect();
            let impressions: BTreeSet<u32> = db.samples.iter().map(|s| s.impression).collect();
            let captures = impressions
                .iter()
                .map(|&imp| {
                    db.samples
                        .iter()
                        .filter(|s| s.impression == imp)
                        .filter_map(|s| {
                            let slot = fingers.iter().position(|&f| f == s.finger)?;
                            Some(FingerTemplate {
                                position: slot as u8 + 1,
                                ..s.template.clone()
                            })
                        })
                        .collect()
                })
                .collect();
            (db.name.clone(), captures)
        })
        .collect()
}

fn main() -> Result<()> {
    let a = args()?;
    let dbs = tunggal_datasets::fvc::load_root(&a.data)?;
    let gallery = Gallery::open(&a.gallery, GalleryConfig::default(), None)?;
    let cal = gallery.calibration().clone();
    println!(
        "gallery {} persons, calibration {:?}, descriptor v{}",
        gallery.len(),
        cal.id,
        cal.descriptor_version
    );
    let persons: Vec<Person> = real_persons(&dbs)
        .into_iter()
        .map(|(name, captures)| {
            let captures = captures
                .into_iter()
                .map(|fingers| {
                    gallery.prepare(&Enrolment {
                        fingers,
                        irises: Vec::new(),
                    })
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(Person { name, captures })
        })
        .collect::<Result<_>>()?;

    // Background records in slot order.
    let snap = gallery.snapshot();
    let mut background: Vec<&PersonRecord> = Vec::new();
    for seg in snap.segments() {
        let records: &[PersonRecord] = seg.records()?;
        for slot in seg.live_slots() {
            background.push(&records[slot as usize]);
        }
    }
    let n = background.len();
    let fit_n = a.fit_persons.min(n);
    println!("background {n} persons; tail fit checked on the first {fit_n}");

    for (d, person) in persons.iter().enumerate() {
        study(&a, &cal, person, &background, fit_n, d as u64)?;
    }
    Ok(())
}

/// Genuine ratios of one database per slot: impression `j` against each earlier `i`.
fn genuine(person: &Person, table: &LlrTable) -> (Vec<Vec<f32>>, Vec<(usize, Slots)>) {
    let mut per_slot = vec![Vec::new(); FINGERS];
    let mut pairs = Vec::new();
    for (j, pj) in person.captures.iter().enumerate() {
        for pi in person.captures.iter().take(j) {
            let v = slots(&pj.record, &pi.record, table);
            for (s, &x) in v.iter().enumerate() {
                if !x.is_nan() {
                    per_slot[s].push(x);
                }
            }
            pairs.push((j, v));
        }
    }
    (per_slot, pairs)
}

fn study(
    a: &Args,
    cal: &Calibration,
    person: &Person,
    background: &[&PersonRecord],
    fit_n: usize,
    salt: u64,
) -> Result<()> {
    let table = &cal.descriptor;
    let (per_slot, pairs) = genuine(person, table);
    // Non-mate scores per probe and rule: probe-major, background order.
    let per_probe: Vec<Vec<[f32; RULES.len()]>> = person
        .captures
        .par_iter()
        .map(|c| {
            background
                .iter()
                .map(|g| {
                    let v = slots(&c.record, g, table);
                    RULES.map(|r| r.score(&v, cal))
                })
                .collect()
        })
        .collect();
    let probes = per_probe.len();
    let nulls: Vec<Null> = (0..RULES.len())
        .map(|r| {
            let all: Vec<f32> = per_probe.iter().flatten().map(|s| s[r]).collect();
            let top = all.len() / 1000;
            Null::new(all, top)
        })
        .collect();
    let fits: Vec<Null> = (0..RULES.len())
        .map(|r| {
            let sub: Vec<f32> = per_probe
                .iter()
                .flat_map(|p| p[..fit_n].iter().map(|s| s[r]))
                .collect();
            let top = sub.len() / 1000;
            Null::new(sub, top)
        })
        .collect();
    println!(
        "\n== {}: {probes} probes × {} background = {} non-mate scores per rule; genuine pairs per slot {:?}",
        person.name,
        background.len(),
        nulls[0].len(),
        per_slot.iter().map(Vec::len).collect::<Vec<_>>()
    );
    for (r, rule) in RULES.iter().enumerate() {
        let (u, above, beta) = fits[r].tail();
        let checks: Vec<String> = [400usize, 100, 30, 10, 3]
            .iter()
            .map(|&c| {
                let x = nulls[r].at_count(c);
                let predicted = fits[r].survival(x) * nulls[r].len() as f64;
                let observed = nulls[r].empirical(x) * nulls[r].len() as f64;
                format!("{x:.2}: {predicted:.1}/{observed:.1}")
            })
            .collect();
        println!(
            "  tail fit {:9} on {} scores: above {u:.2} share {above:.2e}, scale {beta:.3}; predicted/observed counts in the whole background at score {}",
            rule.name(),
            fits[r].len(),
            checks.join(", ")
        );
    }

    // Mates drawn slot by slot from the database's genuine ratios.
    let mut seed = a.seed ^ salt.wrapping_mul(0x9e37_79b9);
    let draws: Vec<[f32; RULES.len()]> = (0..a.draws)
        .map(|_| {
            let mut v = [f32::NAN; FINGERS];
            for (s, o) in v.iter_mut().enumerate() {
                let g = &per_slot[s];
                if !g.is_empty() {
                    *o = g[(splitmix(&mut seed) % g.len() as u64) as usize];
                }
            }
            RULES.map(|r| r.score(&v, cal))
        })
        .collect();
    let share_per_finger = per_slot.iter().flatten().filter(|&&x| x > 0.0).count() as f64
        / per_slot.iter().map(Vec::len).sum::<usize>().max(1) as f64;
    println!(
        "  genuine finger ratios > 0: {:.1} %; drawn mates' sum: median {:.1}, 1st percentile {:.1}",
        100.0 * share_per_finger,
        quantile(draws.iter().map(|d| d[0]).collect(), 0.5),
        quantile(draws.iter().map(|d| d[0]).collect(), 0.01)
    );
    retention_table("drawn mates", &draws, &nulls);
    // The real capture pairs: measured ranks against their own probe, and retention.
    let real: Vec<[f32; RULES.len()]> = pairs
        .iter()
        .map(|(_, v)| RULES.map(|r| r.score(v, cal)))
        .collect();
    retention_table("real pairs", &real, &nulls);
    let worst: Vec<String> = RULES
        .iter()
        .enumerate()
        .map(|(r, rule)| {
            let ranks: Vec<usize> = pairs
                .iter()
                .zip(&real)
                .map(|((j, _), m)| 1 + per_probe[*j].iter().filter(|s| s[r] > m[r]).count())
                .collect();
            let worst = ranks.iter().max().copied().unwrap_or(0);
            let over64 = ranks.iter().filter(|&&x| x > 64).count();
            format!("{} worst {worst}, >64: {over64}", rule.name())
        })
        .collect();
    println!(
        "  real pairs, measured rank among {} (own probe): {}",
        background.len(),
        worst.join("; ")
    );
    Ok(())
}

fn quantile(mut v: Vec<f32>, q: f64) -> f32 {
    v.sort_by(f32::total_cmp);
    v.get(((v.len() as f64 - 1.0) * q) as usize)
        .copied()
        .unwrap_or(f32::NAN)
}

/// Prints retention in % for every rule, gallery size and shortlist size, then the union of
/// a sum list and a three-strong-fingers list at the same total length (¾ and ¼).
fn retention_table(what: &str, mates: &[[f32; RULES.len()]], nulls: &[Null]) {
    let strong = RULES
        .iter()
        .position(|r| *r == Rule::Strong(3))
        .unwrap_or(RULES.len() - 1);
    let p_kept = |r: usize, size: f64, k: usize| -> Vec<f64> {
        mates
            .iter()
            .map(|m| kept(size * nulls[r].survival(m[r]), k))
            .collect()
    };
    let mean = |v: &[f64]| 100.0 * v.iter().sum::<f64>() / v.len().max(1) as f64;
    for &size in &SIZES {
        let mut line = format!("  {what:11} N={size:.0e} K={SHORTLISTS:?}:");
        for (r, rule) in RULES.iter().enumerate() {
            let cells: Vec<String> = SHORTLISTS
                .iter()
                .map(|&k| format!("{:.2}", mean(&p_kept(r, size, k))))
                .collect();
            line += &format!(" | {} {}", rule.name(), cells.join(" "));
        }
        let union: Vec<String> = SHORTLISTS
            .iter()
            .map(|&k| {
                let a = p_kept(0, size, k - k / 4);
                let b = p_kept(strong, size, k / 4);
                let u: Vec<f64> = a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| 1.0 - (1.0 - x) * (1.0 - y))
                    .collect();
                format!("{:.2}", mean(&u))
            })
            .collect();
        line += &format!(" | sum ¾ ∪ 3 strong ¼ {}", union.join(" "));
        println!("{line}");
    }
}
