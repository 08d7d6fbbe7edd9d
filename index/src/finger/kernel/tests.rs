use super::{available, copy_band, fill_starts, take_band, window, Kernel};

#[test]
fn band_taken_unsorted_as_sorted() {
    let wide = available().contains(&Kernel::Avx512);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..300 {
        let (na, nb) = (1 + (next() % 40) as usize, 1 + (next() % 40) as usize);
        let len = (next() % 90) as usize;
        // Distinct pairs; similarities from a few values so that ties are common, and
        // some keys 0.
        let mut keys: Vec<u64> = Vec::new();
        while keys.len() < len {
            let (a, b) = ((next() % na as u64) as u32, (next() % nb as u64) as u32);
            let sim = [0.25f32, 0.5, 0.625, 0.75, 1.0][(next() % 5) as usize];
            let k = (u64::from(sim.to_bits()) << 32) | u64::from(!((a << 16) | b));
            let k = if next() % 13 == 0 { 0 } else { k };
            if k == 0 || !keys.contains(&k) {
                keys.push(k);
            }
        }
        let limit = 1 + (next() % 20) as usize;
        // Some cylinders already used by an earlier band.
        let used_a: Vec<bool> = (0..na).map(|_| next() % 7 == 0).collect();
        let used_b: Vec<bool> = (0..nb).map(|_| next() % 7 == 0).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable_by(|p, q| q.cmp(p));
        let (mut wa, mut wb, mut want) = (used_a.clone(), used_b.clone(), Vec::new());
        for &k in &sorted {
            if want.len() >= limit || k == 0 {
                break;
            }
            let (a, b, sim) = super::super::consolidate::unpack(k);
            if wa[a] || wb[b] {
                continue;
            }
            wa[a] = true;
            wb[b] = true;
            want.push((a as u16, b as u16, sim));
        }
        let mut band = keys.clone();
        band.resize(len + 8, 0xdead);
        let (mut ga, mut gb, mut got) = (used_a.clone(), used_b.clone(), Vec::new());
        let taken = take_band(
            &mut band,
            len,
            (na, nb),
            (&mut ga, &mut gb),
            &mut got,
            limit,
            wide,
        );
        assert_eq!(taken, wide);
        if taken {
            assert_eq!(got, want, "round {round}");
            assert_eq!((ga, gb), (wa, wb), "round {round}");
        }
    }
}

#[test]
fn vector_and_scalar_band_copies_agree() {
    // Keys as the similarity pass makes them: 0, or similarity bits over a pair tag.
    let mut keys = Vec::new();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in 0..203u32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let sim = (x >> 40) as f32 / (1u64 << 24) as f32;
        keys.push(if i % 9 == 0 {
            0
        } else {
            (u64::from(sim.to_bits()) << 32) | u64::from(!i)
        });
    }
    keys.push((u64::from(1.0f32.to_bits()) << 32) | 0xffff_ffff);
    let kernels: Vec<(bool, bool)> = available()
        .into_iter()
        .map(|k| (k != Kernel::Portable, k == Kernel::Avx512))
        .collect();
    let bounds = [
        (0, u64::MAX),
        (0, 1),
        (u64::from(0.5f32.to_bits()) << 32, u64::MAX),
        (
            u64::from(0.25f32.to_bits()) << 32,
            u64::from(0.5f32.to_bits()) << 32,
        ),
        (keys[5], keys[5] + 1),
        (u64::MAX, u64::MAX),
    ];
    for (lo, hi) in bounds {
        for len in [0, 3, 4, 7, keys.len()] {
            let keys = &keys[..len];
            let want: Vec<u64> = keys
                .iter()
                .copied()
                .filter(|&k| k >= lo && k < hi)
                .collect();
            for &(v, w) in &kernels {
                let mut band = vec![0; keys.len() + 8];
                let n = copy_band(keys, lo, hi, &mut band, v, w);
                assert_eq!(
                    band[..n],
                    want[..],
                    "lo {lo:#x} hi {hi:#x} len {len} vector {v} wide {w}"
                );
            }
        }
    }
}

#[test]
fn window_finds_circular_runs() {
    let dirs = [0u8, 10, 60, 128, 200, 250, 255];
    let mut starts = [0; 257];
    fill_starts(&dirs, &mut starts);
    let members = |d: u8, t: u8| -> Vec<u8> {
        window(&starts, d, t)
            .into_iter()
            .flat_map(|r| dirs[r].to_vec())
            .collect()
    };
    assert_eq!(members(5, 10), vec![255, 0, 10]);
    assert_eq!(members(128, 10), vec![128]);
    assert_eq!(members(250, 10), vec![250, 255, 0]);
    assert_eq!(members(100, 128).len(), dirs.len());
    // Every member is within the turn, and every direction within the turn is a member.
    for d in 0..=255u8 {
        let got = members(d, 64);
        let want: Vec<u8> = dirs
            .iter()
            .copied()
            .filter(|&x| (d.wrapping_sub(x) as i8).unsigned_abs() <= 64)
            .collect();
        let mut g = got.clone();
        g.sort_unstable();
        let mut w = want.clone();
        w.sort_unstable();
        assert_eq!(g, w, "direction {d}");
    }
}
