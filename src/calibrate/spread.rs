//! How each database's scores are spread: where its own non-mated pairs lie and how many of
//! its mated pairs clear them. A table learned on some databases over-claims on a database
//! whose non-mates score higher, whatever the bound; this shows such a database before the
//! leave-one-database-out check does.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Pair;

/// The spread of one database's scores of one kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spread {
    /// The database.
    pub database: String,
    /// Mated pairs within it.
    pub genuine: usize,
    /// Non-mated pairs with both sides in it.
    pub impostor: usize,
    /// Non-mated scores at the 50th, 99th and 99.9th percentiles.
    pub impostor_p50: f32,
    /// See [`Spread::impostor_p50`].
    pub impostor_p99: f32,
    /// See [`Spread::impostor_p50`].
    pub impostor_p999: f32,
    /// Mated scores at the 10th and 50th percentiles.
    pub genuine_p10: f32,
    /// See [`Spread::genuine_p10`].
    pub genuine_p50: f32,
    /// Share of mated scores above the database's own 99th non-mated percentile.
    pub genuine_above_impostor_p99: f64,
}

/// The value at quantile `q` of sorted `v` (the lower of the two around it); 0 when empty.
fn quantile(v: &[f32], q: f64) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * q) as usize]
}

/// Per database with mated and non-mated pairs of its own, the spread of the `pick` scores;
/// pairs across two databases are left out.
pub fn per_database(pairs: &[Pair], pick: impl Fn(&Pair) -> Option<f32>) -> Vec<Spread> {
    let mut by_db: BTreeMap<&str, (Vec<f32>, Vec<f32>)> = BTreeMap::new();
    for p in pairs.iter().filter(|p| p.db.0 == p.db.1) {
        let Some(s) = pick(p) else { continue };
        let e = by_db.entry(&p.db.0).or_default();
        if p.mated { &mut e.0 } else { &mut e.1 }.push(s);
    }
    by_db
        .into_iter()
        .filter(|(_, (g, i))| !g.is_empty() && !i.is_empty())
        .map(|(db, (mut g, mut i))| {
            g.sort_by(f32::total_cmp);
            i.sort_by(f32::total_cmp);
            let p99 = quantile(&i, 0.99);
            Spread {
                database: db.to_owned(),
                genuine: g.len(),
                impostor: i.len(),
                impostor_p50: quantile(&i, 0.5),
                impostor_p99: p99,
                impostor_p999: quantile(&i, 0.999),
                genuine_p10: quantile(&g, 0.1),
                genuine_p50: quantile(&g, 0.5),
                genuine_above_impostor_p99: g.iter().filter(|&&s| s > p99).count() as f64
                    / g.len() as f64,
            }
        })
        .collect()
}

/// The spreads as a text table.
pub fn text(spreads: &[Spread]) -> String {
    let mut s = String::from(
        "   database  genuine  impostor   imp p50   imp p99 imp p99.9   gen p10   gen p50  gen > imp p99\n",
    );
    for d in spreads {
        s.push_str(&format!(
            "{:>11} {:>8} {:>9} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>13.1} %\n",
            d.database,
            d.genuine,
            d.impostor,
            d.impostor_p50,
            d.impostor_p99,
            d.impostor_p999,
            d.genuine_p10,
            d.genuine_p50,
            100.0 * d.genuine_above_impostor_p99
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(db: &str, other: &str, mated: bool, score: f32) -> Pair {
        Pair {
            db: (db.into(), other.into()),
            mated,
            finger: score,
            descriptor: Some(score * 10.0),
        }
    }

    #[test]
    fn a_database_whose_non_mates_score_higher_shows_it() {
        let mut pairs = Vec::new();
        for k in 0..1000 {
            let u = k as f32 / 1000.0;
            pairs.push(pair("A", "A", false, 0.1 * u));
            pairs.push(pair("B", "B", false, 0.3 * u));
            // Across databases: left out, or B's spread would change.
            pairs.push(pair("A", "B", false, 0.9));
        }
        for k in 0..10 {
            let u = k as f32 / 10.0;
            pairs.push(pair("A", "A", true, 0.2 + 0.5 * u));
            pairs.push(pair("B", "B", true, 0.2 + 0.5 * u));
        }
        let s = per_database(&pairs, |p| Some(p.finger));
        assert_eq!(s.len(), 2);
        let (a, b) = (&s[0], &s[1]);
        assert_eq!(
            (a.database.as_str(), a.genuine, a.impostor),
            ("A", 10, 1000)
        );
        assert!((a.impostor_p99 - 0.099).abs() < 1e-3, "{}", a.impostor_p99);
        assert!((b.impostor_p99 - 0.297).abs() < 1e-3, "{}", b.impostor_p99);
        assert_eq!(a.genuine_above_impostor_p99, 1.0);
        // B's non-mates reach 0.297: the mates at 0.20 and 0.25 do not clear them.
        assert!((b.genuine_above_impostor_p99 - 0.8).abs() < 1e-9);
        let d = per_database(&pairs, |p| p.descriptor);
        assert!((d[1].impostor_p99 - 2.97).abs() < 1e-2);
        assert!(text(&s).contains("80.0 %"));
    }
}
