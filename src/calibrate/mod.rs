//! Finger calibration learned from real labelled pairs (`tunggal calibrate`).
//!
//! Tables are learned with [`LlrTable::learn_bounded`]: a bin's ratio is a confidence bound
//! of what its sample supports, so a bin without impostors claims about `ln(M / z²)` at most
//! for `M` impostor samples. Leave-one-database-out folds check a table on the pairs of a
//! database it never saw.

pub mod sources;
pub mod spread;

use serde::Serialize;
use tunggal_index::search::bounded::{cllr, reliability, tail_of_sum, worst_overclaim, Band};
use tunggal_index::search::LlrTable;

pub use sources::Pair;

/// Score range and bins of the second-stage table (as the synthetic table).
pub const FINGER_BINS: (f32, f32, usize) = (0.0, 1.0, 100);
/// Score range and bins of the first-stage table (as the synthetic table).
pub const DESCRIPTOR_BINS: (f32, f32, usize) = (-4.0, 36.0, 80);
/// Bands with at least this many impostor samples are checked for over-claiming.
pub const MIN_BAND_IMPOSTORS: usize = 20;

/// Mated and non-mated samples of one score kind.
pub fn split(pairs: &[Pair], pick: impl Fn(&Pair) -> Option<f32>) -> (Vec<f32>, Vec<f32>) {
    let (mut g, mut i) = (Vec::new(), Vec::new());
    for p in pairs {
        if let Some(s) = pick(p) {
            if p.mated { &mut g } else { &mut i }.push(s);
        }
    }
    (g, i)
}

fn finger(p: &Pair) -> Option<f32> {
    Some(p.finger)
}

fn descriptor(p: &Pair) -> Option<f32> {
    p.descriptor
}

/// Learned tables.
#[derive(Debug, Clone)]
pub struct Tables {
    /// Second stage.
    pub finger: LlrTable,
    /// First stage, when the pairs carry descriptor similarities.
    pub descriptor: Option<LlrTable>,
}

/// Mated and non-mated samples per database: a mated pair counts for its database, a
/// non-mated pair for the database of each side.
pub fn groups(pairs: &[Pair], pick: impl Fn(&Pair) -> Option<f32>) -> Vec<(Vec<f32>, Vec<f32>)> {
    let mut by_db: std::collections::BTreeMap<&str, (Vec<f32>, Vec<f32>)> = Default::default();
    for p in pairs {
        let Some(s) = pick(p) else { continue };
        if p.mated {
            by_db.entry(&p.db.0).or_default().0.push(s);
        } else {
            by_db.entry(&p.db.0).or_default().1.push(s);
            if p.db.1 != p.db.0 {
                by_db.entry(&p.db.1).or_default().1.push(s);
            }
        }
    }
    by_db.into_values().collect()
}

/// Learns both tables from `pairs` (ratios within `±cap`, bounds at `z`): per database a
/// bounded table, and bin by bin the smallest ratio of any database.
pub fn learn(pairs: &[Pair], cap: f32, z: f64) -> anyhow::Result<Tables> {
    let (g, i) = split(pairs, finger);
    anyhow::ensure!(
        !g.is_empty() && !i.is_empty(),
        "need mated and non-mated pairs ({} and {})",
        g.len(),
        i.len()
    );
    let finger = LlrTable::learn_bounded_groups(&groups(pairs, finger), FINGER_BINS, cap, z)?;
    let descriptor =
        LlrTable::learn_bounded_groups(&groups(pairs, descriptor), DESCRIPTOR_BINS, cap, z).ok();
    Ok(Tables { finger, descriptor })
}

/// A table checked against labelled samples.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Mated samples.
    pub genuine: usize,
    /// Non-mated samples.
    pub impostor: usize,
    /// Per-band empirical against table ratio.
    pub bands: Vec<Band>,
    /// Largest `table − empirical` over bands with at least [`MIN_BAND_IMPOSTORS`] impostors.
    pub worst_overclaim: Option<f64>,
    /// Log-likelihood-ratio cost, bits.
    pub cllr: f64,
}

/// Checks `table` against the `pick` scores of `pairs`.
pub fn check(table: &LlrTable, pairs: &[Pair], pick: impl Fn(&Pair) -> Option<f32>) -> Check {
    let (g, i) = split(pairs, pick);
    let bands = reliability(table, &g, &i);
    Check {
        genuine: g.len(),
        impostor: i.len(),
        worst_overclaim: worst_overclaim(&bands, MIN_BAND_IMPOSTORS),
        cllr: cllr(table, &g, &i),
        bands,
    }
}

/// One leave-one-database-out fold.
#[derive(Debug, Clone, Serialize)]
pub struct Fold {
    /// The held-out database.
    pub held_out: String,
    /// The second-stage table learned without it, checked on its pairs.
    pub finger: Check,
    /// The same for the first-stage table.
    pub descriptor: Option<Check>,
}

/// For each database holding mated pairs: tables learned from the pairs that touch no
/// sample of it, checked on the pairs within it.
pub fn lodo(pairs: &[Pair], cap: f32, z: f64) -> anyhow::Result<Vec<Fold>> {
    let mut names: Vec<&str> = pairs
        .iter()
        .filter(|p| p.mated)
        .map(|p| p.db.0.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    anyhow::ensure!(
        names.len() >= 2,
        "leave-one-database-out needs two databases"
    );
    names
        .iter()
        .map(|&held| {
            let touches = |p: &Pair| p.db.0 == held || p.db.1 == held;
            let train: Vec<Pair> = pairs.iter().filter(|p| !touches(p)).cloned().collect();
            let test: Vec<Pair> = pairs
                .iter()
                .filter(|p| p.db.0 == held && p.db.1 == held)
                .cloned()
                .collect();
            let tables = learn(&train, cap, z)?;
            Ok(Fold {
                held_out: held.to_owned(),
                finger: check(&tables.finger, &test, finger),
                descriptor: tables
                    .descriptor
                    .as_ref()
                    .map(|t| check(t, &test, descriptor)),
            })
        })
        .collect()
}

/// Expected false candidates per search and FPIR for a fingers-only probe against `n`
/// non-mates, each finger's ratio drawn from the tables applied to the non-mated scores.
pub fn expected_fpir(
    table: &LlrTable,
    pairs: &[Pair],
    fingers: usize,
    fingers_cap: f32,
    threshold: f32,
    n: usize,
) -> (f64, f64) {
    let (_, impostor) = split(pairs, finger);
    let llrs: Vec<f32> = impostor.iter().map(|&s| table.llr(s)).collect();
    candidates_and_fpir(&llrs, fingers, fingers_cap, threshold, n)
}

/// False candidates per search and FPIR against `n` non-mates, each finger's ratio drawn
/// from `llrs`.
fn candidates_and_fpir(
    llrs: &[f32],
    fingers: usize,
    fingers_cap: f32,
    threshold: f32,
    n: usize,
) -> (f64, f64) {
    let p = tail_of_sum(llrs, fingers, fingers_cap, threshold);
    let fpir = 1.0 - (1.0 - p).powf(n as f64);
    (p * n as f64, fpir)
}

/// [`expected_fpir`] with each finger's ratio replaced by its positive part: an upper bound
/// on the false candidates whatever the floor on the fingers that speak against a match
/// ([`tunggal_index::search::FusionCaps::failed_fingers_against`]), since a fused sum
/// reaches the threshold only if its positive part does.
pub fn expected_fpir_positive_part(
    table: &LlrTable,
    pairs: &[Pair],
    fingers: usize,
    fingers_cap: f32,
    threshold: f32,
    n: usize,
) -> (f64, f64) {
    let (_, impostor) = split(pairs, finger);
    let llrs: Vec<f32> = impostor.iter().map(|&s| table.llr(s).max(0.0)).collect();
    candidates_and_fpir(&llrs, fingers, fingers_cap, threshold, n)
}

/// How much flooring the negative part of a non-mate's finger sum at `−floor` can add to the
/// mean likelihood ratio of a non-mate (1 for a calibrated table): at most
/// `e^−floor · E[e^P]` for the positive part `P` of `fingers` independent fingers, with
/// `E[e^max(r, 0)]` taken over the non-mated scores of `pairs`.
pub fn failed_fingers_growth(table: &LlrTable, pairs: &[Pair], fingers: usize, floor: f32) -> f64 {
    let (_, impostor) = split(pairs, finger);
    if impostor.is_empty() {
        return 0.0;
    }
    let one = impostor
        .iter()
        .map(|&s| f64::from(table.llr(s).max(0.0)).exp())
        .sum::<f64>()
        / impostor.len() as f64;
    (-f64::from(floor.abs())).exp() * one.powi(fingers as i32)
}

/// The reliability table as text.
pub fn bands_text(bands: &[Band]) -> String {
    let mut s = format!(
        "{:>13} {:>8} {:>9} {:>10} {:>7} {:>7}\n",
        "score band", "genuine", "impostor", "empirical", "table", "gap"
    );
    for b in bands {
        let gap = f64::from(b.table) - b.empirical;
        let flag = if b.impostor >= MIN_BAND_IMPOSTORS && gap > 1.0 {
            "  over-claims"
        } else {
            ""
        };
        s.push_str(&format!(
            "{:>6.3}–{:<6.3} {:>8} {:>9} {:>10.2} {:>7.2} {:>7.2}{flag}\n",
            b.lo, b.hi, b.genuine, b.impostor, b.empirical, b.table, gap
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs() -> Vec<Pair> {
        // Three databases; mated scores higher in A than in C, non-mates alike.
        let mut x = 0x1234_5678_9abc_def1u64;
        let mut u = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f32 / (1u64 << 53) as f32
        };
        let mut out = Vec::new();
        for (db, shift) in [("A", 0.2f32), ("B", 0.15), ("C", 0.1)] {
            for _ in 0..300 {
                out.push(Pair {
                    db: (db.into(), db.into()),
                    mated: true,
                    finger: shift + 0.6 * u(),
                    descriptor: Some(5.0 + 20.0 * u()),
                });
            }
            for _ in 0..3000 {
                out.push(Pair {
                    db: (db.into(), db.into()),
                    mated: false,
                    finger: 0.12 * u() * u(),
                    descriptor: Some(-2.0 + 8.0 * u()),
                });
            }
        }
        out
    }

    #[test]
    fn tables_are_monotone_bounded_and_lodo_holds_out() {
        let p = pairs();
        let t = learn(&p, 8.0, 1.645).unwrap();
        assert!(t.finger.llr.windows(2).all(|w| w[0] <= w[1]));
        let d = t.descriptor.unwrap();
        assert!(d.llr.windows(2).all(|w| w[0] <= w[1]));
        assert!(t.finger.llr(0.9) > 5.0 && t.finger.llr(0.01) < -1.0);
        let folds = lodo(&p, 8.0, 1.645).unwrap();
        assert_eq!(folds.len(), 3);
        for f in &folds {
            assert_eq!(f.finger.genuine, 300);
            assert_eq!(f.finger.impostor, 3000);
            assert!(f.finger.worst_overclaim.unwrap() < 1.0, "{}", f.held_out);
        }
        assert!(learn(&p[..10], 8.0, 1.645).is_err(), "only mated pairs");
    }

    #[test]
    fn failed_fingers_growth_is_small_for_a_table_that_separates() {
        let p = pairs();
        let t = learn(&p, 8.0, 1.645).unwrap();
        let g = failed_fingers_growth(&t.finger, &p, 10, 8.0);
        // Non-mates rarely have positive ratios: E[e^P] is close to 1, the growth close to e^−8.
        assert!(g > 0.0 && g < 10.0 * (-8.0f64).exp(), "{g}");
        assert!(failed_fingers_growth(&t.finger, &p, 10, 4.0) > g);
        // A table that gives every non-mate +2 grows E[e^P] to e^20.
        let flat = LlrTable {
            lo: 0.0,
            hi: 1.0,
            llr: vec![2.0; 10],
        };
        let big = failed_fingers_growth(&flat, &p, 10, 8.0);
        assert!((big - 12.0f64.exp()).abs() < 1e-6 * big, "{big}");
    }

    #[test]
    fn expected_fpir_grows_with_the_gallery() {
        let p = pairs();
        let t = learn(&p, 8.0, 1.645).unwrap();
        // At the mean ten-finger sum of a non-mate, some non-mates reach the threshold.
        let (_, impostor) = split(&p, finger);
        let mean = impostor.iter().map(|&s| t.finger.llr(s)).sum::<f32>() / impostor.len() as f32;
        let at = 10.0 * mean;
        let (c1, f1) = expected_fpir(&t.finger, &p, 10, 40.0, at, 1000);
        assert!(c1 > 0.0 && c1 <= 1000.0 + 1e-6 && f1 > 0.0, "{c1} {f1}");
        let (c2, f2) = expected_fpir(&t.finger, &p, 10, 40.0, at, 1_000_000);
        assert!((c2 / c1 - 1000.0).abs() < 1e-6 && f2 >= f1 && f2 <= 1.0);
        // Higher thresholds: fewer; above the fingers' cap: none.
        // The positive parts alone bound the sums from above.
        let (c4, _) = expected_fpir_positive_part(&t.finger, &p, 10, 40.0, at, 1000);
        assert!(c4 >= c1, "{c4} {c1}");
        let (c5, _) = expected_fpir_positive_part(&t.finger, &p, 10, 40.0, 41.0, 1000);
        assert_eq!(c5, 0.0);
        let (c3, _) = expected_fpir(&t.finger, &p, 10, 40.0, 0.0, 1000);
        assert!(c3 <= c1, "{c3} {c1}");
        assert_eq!(
            expected_fpir(&t.finger, &p, 10, 40.0, 41.0, 1000),
            (0.0, 0.0)
        );
    }
}
