//! How real and synthetic fingers differ as the first stage sees them: the impostor score
//! tails of a variant (`--tails`) and the cylinders' mean cell occupancy (`--layers`).

use tunggal_index::gallery::MIN_CYLINDERS;

use super::{Finger, Scorer, STRIDE};

/// Quantiles of a variant's impostor scores: real probes against real fingers of the same
/// database (another finger) and of other databases, real probes against synthetic fingers,
/// and 2,000 synthetic probes against the other synthetic persons.
pub(super) fn tails(fingers: &[Finger], n_real: usize, scorer: &Scorer) {
    let (mut same, mut cross, mut real_syn, mut syn) = (vec![], vec![], vec![], vec![]);
    for p in 0..n_real {
        if fingers[p].len < MIN_CYLINDERS {
            continue;
        }
        let scores = scorer(p);
        let (db, f, _) = fingers[p].real.unwrap_or_default();
        for (i, &x) in scores.iter().enumerate() {
            if fingers[i].len < MIN_CYLINDERS {
                continue;
            }
            match fingers[i].real {
                Some((d, _, _)) if d != db => cross.push(x),
                Some((_, g, _)) if g != f => same.push(x),
                Some(_) => {}
                None => real_syn.push(x),
            }
        }
    }
    for p in n_real..(n_real + 2000).min(fingers.len()) {
        let scores = scorer(p);
        for (i, &x) in scores.iter().enumerate().skip(n_real) {
            if fingers[i].owner.0 != fingers[p].owner.0 {
                syn.push(x);
            }
        }
    }
    for (name, v) in [
        ("real, same database", &mut same),
        ("real, other databases", &mut cross),
        ("real probe, synthetic", &mut real_syn),
        ("synthetic, synthetic", &mut syn),
    ] {
        if v.is_empty() {
            continue;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let q = |f: f64| v[((v.len() as f64 - 1.0) * f) as usize];
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
        println!(
            "  {name:22} n {:9} mean {mean:6.2} p50 {:6.2} p90 {:6.2} p99 {:6.2} p99.9 {:6.2}",
            v.len(),
            q(0.5),
            q(0.9),
            q(0.99),
            q(0.999)
        );
    }
}

/// Mean set cells per cylinder of each direction layer, as 8 × 8 maps (per thousand
/// cylinders), for the real and the synthetic fingers.
pub(super) fn layers(fingers: &[Finger], n_real: usize) {
    for (name, range) in [("real", 0..n_real), ("synthetic", n_real..fingers.len())] {
        let mut cell = [[0f64; 64]; STRIDE - 1];
        let mut cylinders = 0f64;
        for f in &fingers[range] {
            for cyl in f.bits.chunks_exact(STRIDE) {
                cylinders += 1.0;
                for (k, layer) in cell.iter_mut().enumerate() {
                    for (c, n) in layer.iter_mut().enumerate() {
                        *n += (cyl[k] >> c & 1) as f64;
                    }
                }
            }
        }
        for (k, layer) in cell.iter().enumerate() {
            let total: f64 = layer.iter().sum::<f64>() / cylinders.max(1.0);
            println!("{name} layer {k} ({total:.1} set cells per cylinder)");
            for row in layer.chunks_exact(8) {
                let row: Vec<String> = row
                    .iter()
                    .map(|n| format!("{:4.0}", 1000.0 * n / cylinders.max(1.0)))
                    .collect();
                println!("    {}", row.join(""));
            }
        }
    }
}
