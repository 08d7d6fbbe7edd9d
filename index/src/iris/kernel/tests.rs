use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn naive(p: &[u64], g: &[u64], w: usize) -> BitCounts {
    let mut c = BitCounts::default();
    for (pr, gr) in p.chunks_exact(2 * w).zip(g.chunks_exact(2 * w)) {
        for j in 0..w {
            for b in 0..64 {
                let pm = (pr[w + j] >> b) & 1;
                let gm = (gr[w + j] >> b) & 1;
                if pm & gm == 1 {
                    c.valid += 1;
                    if (pr[j] >> b) & 1 != (gr[j] >> b) & 1 {
                        c.disagree += 1;
                    }
                }
            }
        }
    }
    c
}

#[test]
fn every_available_kernel_matches_the_bitwise_definition() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for &(w, rows) in &[(4usize, 8usize), (8, 32), (4, 1), (8, 3), (2, 5)] {
        for _ in 0..20 {
            let p: Vec<u64> = (0..2 * w * rows).map(|_| rng.gen()).collect();
            let g: Vec<u64> = (0..2 * w * rows).map(|_| rng.gen()).collect();
            let expected = naive(&p, &g, w);
            for k in Kernel::available() {
                assert_eq!(k.row_counts(&p, &g, w), expected, "{} w={w}", k.name());
            }
        }
    }
}

#[test]
fn rotation_counts_match_row_counts_for_every_kernel() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let (w, stride, rots, rows) = (4usize, 64usize, 17usize, 2usize);
    let probe: Vec<u64> = (0..stride * rots).map(|_| rng.gen()).collect();
    let gallery: Vec<u64> = (0..2 * w * rows).map(|_| rng.gen()).collect();
    let mut expected = vec![BitCounts::default(); rots];
    Kernel::portable().rotation_counts(&probe, stride, &gallery, w, &mut expected);
    for (i, e) in expected.iter().enumerate() {
        assert_eq!(
            *e,
            naive(&probe[i * stride..i * stride + gallery.len()], &gallery, w)
        );
    }
    for k in Kernel::available() {
        let mut got = vec![BitCounts::default(); rots];
        k.rotation_counts(&probe, stride, &gallery, w, &mut got);
        assert_eq!(got, expected, "{}", k.name());
    }
    // Windows past the end of the probe come back as zero instead of panicking.
    let mut over = vec![BitCounts::default(); rots + 1];
    Kernel::best().rotation_counts(&probe, stride, &gallery, w, &mut over);
    assert_eq!(over[rots], BitCounts::default());
}

#[test]
fn selected_rotations_add_the_same_counts_for_every_kernel() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (w, stride, rots) = (4usize, 64usize, 17usize);
    let probe: Vec<u64> = (0..stride * rots).map(|_| rng.gen()).collect();
    let gallery: Vec<u64> = (0..16).map(|_| rng.gen()).collect();
    let selected = [0u8, 3, 16, 9];
    let start = vec![
        BitCounts {
            disagree: 5,
            valid: 7
        };
        rots
    ];
    for k in Kernel::available() {
        let mut got = start.clone();
        k.add_selected_rotations(&probe[16..], stride, &gallery, w, &selected, &mut got);
        for r in 0..rots {
            let expected = if selected.contains(&(r as u8)) {
                start[r].plus(naive(&probe[r * stride + 16..r * stride + 32], &gallery, w))
            } else {
                start[r]
            };
            assert_eq!(got[r], expected, "{} rotation {r}", k.name());
        }
    }
}

/// Tables whose limit is a fraction of the valid count, so that some rotations pass and
/// some fail at every test.
fn fraction_table(bits: usize, fraction: f64) -> Vec<u32> {
    (0..=bits)
        .map(|m| (m as f64 * fraction).floor() as u32)
        .collect()
}

#[test]
fn cascade_rotations_agree_across_kernels_and_with_direct_counts() {
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let (w, rows, stride, rots) = (4usize, 8usize, 64usize, 17usize);
    let probe: Vec<u64> = (0..stride * rots).map(|_| rng.gen()).collect();
    // Records: random ones, and copies of probe rotations with a few flipped bits so that
    // some rotations pass every test.
    let records = 40;
    let mut gallery: Vec<u64> = (0..stride * records).map(|_| rng.gen()).collect();
    for i in (0..records).step_by(3) {
        let r = rng.gen_range(0..rots);
        for j in 0..stride {
            let noise: u64 = rng.gen::<u64>() & rng.gen::<u64>() & rng.gen::<u64>();
            gallery[i * stride + j] = probe[r * stride + j] ^ noise;
        }
    }
    let bits = rows * 64 * w;
    let gates: Vec<Vec<u32>> = [0.40, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52]
        .iter()
        .map(|&f| fraction_table(bits, f))
        .collect();
    let pass = fraction_table(bits, 0.38);
    let mut survivors_seen = false;
    for prefix in 1..=rows {
        for step in 1..=3 {
            let shape = GateShape {
                rotations: rots,
                probe_stride: stride,
                record_stride: stride,
                rows: prefix,
                total_rows: rows,
                words_per_row: w,
            };
            let tables = CascadeTables {
                gates: &gates,
                pass: &pass,
                step_rows: step,
            };
            let mut expected = vec![0u64; records];
            let work = Kernel::portable().cascade_rotations(
                &probe,
                &gallery,
                shape,
                tables,
                &mut expected,
            );
            // A rotation in the final mask passes the final table over all rows.
            for (i, &m) in expected.iter().enumerate() {
                for r in 0..rots {
                    let c = naive(
                        &probe[r * stride..(r + 1) * stride],
                        &gallery[i * stride..(i + 1) * stride],
                        w,
                    );
                    if m >> r & 1 == 1 {
                        assert!(c.disagree < pass[c.valid as usize]);
                    }
                    if prefix == rows {
                        assert_eq!(m >> r & 1 == 1, c.disagree < pass[c.valid as usize]);
                    }
                }
            }
            survivors_seen |= expected.iter().any(|&m| m != 0);
            for k in Kernel::available() {
                let mut got = vec![u64::MAX; records];
                let wk = k.cascade_rotations(&probe, &gallery, shape, tables, &mut got);
                assert_eq!(got, expected, "{} prefix {prefix} step {step}", k.name());
                assert_eq!(wk, work, "{} prefix {prefix} step {step}", k.name());
            }
        }
    }
    assert!(survivors_seen);
    // A gallery too short for the shape gives empty masks instead of reading past it.
    let shape = GateShape {
        rotations: rots,
        probe_stride: stride,
        record_stride: stride,
        rows: 2,
        total_rows: rows,
        words_per_row: w,
    };
    let tables = CascadeTables {
        gates: &gates,
        pass: &pass,
        step_rows: 1,
    };
    for k in Kernel::available() {
        let mut got = vec![u64::MAX; 3];
        k.cascade_rotations(&probe, &gallery[..2 * stride + 10], shape, tables, &mut got);
        assert_eq!(got, vec![0; 3]);
    }
}

#[test]
fn best_is_one_of_the_available_kernels() {
    assert!(Kernel::available().contains(&Kernel::best()));
    assert_eq!(Kernel::available()[0], Kernel::portable());
}
