//! Similarity of two cylinders: normalised Hamming agreement over jointly valid cells.
//!
//! With `m = maskA & maskB`, `a = valueA & m` and `b = valueB & m` over all layers, the
//! similarity is `1 − √|a ⊕ b| / (√|a| + √|b|)` (Cappelli et al., bit-based MCC), and 0 when
//! fewer than the required cells are jointly valid.

/// Similarity of two cylinders laid out as `nd` value layers of `wpl` words and a mask.
///
/// `min_cells` is the fewest jointly valid cells for the pair to count.
#[inline(always)]
pub fn cylinder_similarity(a: &[u64], b: &[u64], nd: usize, wpl: usize, min_cells: u32) -> f32 {
    match (nd, wpl) {
        (6, 4) => fixed::<6, 4>(a, b, min_cells),
        (6, 1) => fixed::<6, 1>(a, b, min_cells),
        _ => generic(a, b, nd, wpl, min_cells),
    }
}

/// Largest bit count a cylinder can hold (16×16 cells × 8 layers).
const MAX_BITS: usize = 16 * 16 * 8;

/// Square roots of every possible bit count, so the hot loop does table loads instead of
/// square roots (exact: the same f32 values `sqrt` returns).
fn sqrt_table() -> &'static [f32; MAX_BITS + 1] {
    static TABLE: std::sync::OnceLock<Box<[f32; MAX_BITS + 1]>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Box::new([0.0f32; MAX_BITS + 1]);
        for (i, v) in t.iter_mut().enumerate() {
            *v = (i as f32).sqrt();
        }
        t
    })
}

#[inline(always)]
fn root(table: &[f32; MAX_BITS + 1], n: u32) -> f32 {
    table.get(n as usize).copied().unwrap_or_else(|| (n as f32).sqrt())
}

#[inline(always)]
fn finish(na: u32, nb: u32, nx: u32) -> f32 {
    let t = sqrt_table();
    let denom = root(t, na) + root(t, nb);
    if denom == 0.0 {
        0.0
    } else {
        1.0 - root(t, nx) / denom
    }
}

#[inline(always)]
pub fn fixed<const ND: usize, const WPL: usize>(a: &[u64], b: &[u64], min_cells: u32) -> f32 {
    let (Some(a), Some(b)) = (a.get(..(ND + 1) * WPL), b.get(..(ND + 1) * WPL)) else {
        return 0.0;
    };
    let mut mask = [0u64; WPL];
    let mut cells = 0;
    for w in 0..WPL {
        mask[w] = a[ND * WPL + w] & b[ND * WPL + w];
        cells += mask[w].count_ones();
    }
    if cells < min_cells {
        return 0.0;
    }
    let (mut na, mut nb, mut nx) = (0, 0, 0);
    for k in 0..ND {
        for w in 0..WPL {
            let x = a[k * WPL + w] & mask[w];
            let y = b[k * WPL + w] & mask[w];
            na += x.count_ones();
            nb += y.count_ones();
            nx += (x ^ y).count_ones();
        }
    }
    finish(na, nb, nx)
}

#[inline(always)]
fn generic(a: &[u64], b: &[u64], nd: usize, wpl: usize, min_cells: u32) -> f32 {
    let stride = (nd + 1) * wpl;
    if a.len() < stride || b.len() < stride {
        return 0.0;
    }
    let (va, ma) = a[..stride].split_at(nd * wpl);
    let (vb, mb) = b[..stride].split_at(nd * wpl);
    let cells: u32 = ma.iter().zip(mb).map(|(x, y)| (x & y).count_ones()).sum();
    if cells < min_cells {
        return 0.0;
    }
    let (mut na, mut nb, mut nx) = (0, 0, 0);
    for (i, (x, y)) in va.iter().zip(vb).enumerate() {
        let m = ma[i % wpl] & mb[i % wpl];
        let (x, y) = (x & m, y & m);
        na += x.count_ones();
        nb += y.count_ones();
        nx += (x ^ y).count_ones();
    }
    finish(na, nb, nx)
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
        // Complementary bits: |a^b| = |a| + |b|, so 1 - sqrt(|a|+|b|)/(sqrt|a|+sqrt|b|).
        for w in &mut b[..24] {
            *w = u64::MAX;
        }
        for (x, y) in b[..24].iter_mut().zip(&a[..24]) {
            *x = !*y;
        }
        let (na, nb) = (
            a[..24].iter().map(|w| w.count_ones()).sum::<u32>() as f32,
            1536.0 - a[..24].iter().map(|w| w.count_ones()).sum::<u32>() as f32,
        );
        let expected = 1.0 - (na + nb).sqrt() / (na.sqrt() + nb.sqrt());
        assert!((cylinder_similarity(&a, &b, 6, 4, 10) - expected).abs() < 1e-6);
        // The fixed and generic paths agree.
        let s1 = cylinder_similarity(&a, &b, 6, 4, 10);
        let s2 = generic(&a, &b, 6, 4, 10);
        assert_eq!(s1, s2);
        // Too few jointly valid cells.
        let mut c = a.clone();
        for w in &mut c[24..] {
            *w = 0;
        }
        assert_eq!(cylinder_similarity(&a, &c, 6, 4, 1), 0.0);
    }
}
