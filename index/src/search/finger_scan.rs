//! The first stage's finger loop: one probe against a run of gallery records, giving per
//! record the sum, over the finger slots both sides have, of the calibrated descriptor ratio.
//!
//! It is the hottest loop of a search (ten 1 024-bit AND + popcounts per person and probe), so
//! its body is compiled twice: once with AVX2 and hardware `popcnt`, chosen at run time when
//! the CPU has them, and once for the baseline target as the portable fallback. Both give
//! bit-identical sums: the ratios are added in slot order and only integer popcounts differ
//! in how they are computed.

use crate::gallery::descriptor::similarity;
use crate::gallery::record::{PersonRecord, FINGERS};
use crate::search::fusion::LlrTable;

/// Writes into `out[i]` the finger evidence of `probe` against `gallery[i]`, for every `i`
/// below the shorter of the two lengths.
pub fn finger_evidence(
    probe: &PersonRecord,
    gallery: &[PersonRecord],
    table: &LlrTable,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("popcnt")
        {
            // SAFETY: the CPU supports AVX2 and POPCNT, checked just above.
            unsafe { evidence_avx2(probe, gallery, table, out) };
            return;
        }
    }
    evidence_portable(probe, gallery, table, out);
}

/// The portable body (also the reference the dispatched one is tested against).
pub fn evidence_portable(
    probe: &PersonRecord,
    gallery: &[PersonRecord],
    table: &LlrTable,
    out: &mut [f32],
) {
    body(probe, gallery, table, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
fn evidence_avx2(
    probe: &PersonRecord,
    gallery: &[PersonRecord],
    table: &LlrTable,
    out: &mut [f32],
) {
    body(probe, gallery, table, out);
}

#[inline(always)]
fn body(probe: &PersonRecord, gallery: &[PersonRecord], table: &LlrTable, out: &mut [f32]) {
    for (g, o) in gallery.iter().zip(out.iter_mut()) {
        *o = person(probe, g, table);
    }
}

/// The finger evidence of one pair (slot order, as the scan sums it).
#[inline(always)]
pub fn person(probe: &PersonRecord, g: &PersonRecord, table: &LlrTable) -> f32 {
    let common = probe.presence & g.presence;
    let mut sum = 0.0f32;
    for slot in 0..FINGERS {
        if common & (1 << slot) != 0 {
            sum += table.llr(similarity(
                &probe.fingers[slot],
                probe.ones[slot],
                &g.fingers[slot],
                g.ones[slot],
            ));
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gallery::descriptor::DESCRIPTOR_WORDS;

    fn splitmix(s: &mut u64) -> u64 {
        *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn record(seed: u64) -> PersonRecord {
        let mut s = seed;
        let mut r = PersonRecord::new(seed);
        r.presence = (splitmix(&mut s) as u32) & 0x3ff;
        for slot in 0..FINGERS {
            for w in 0..DESCRIPTOR_WORDS {
                // Sparse words, like real descriptors (about a quarter of the bits set).
                r.fingers[slot][w] = splitmix(&mut s) & splitmix(&mut s);
            }
            r.ones[slot] = r.fingers[slot].iter().map(|w| w.count_ones() as u16).sum();
        }
        r
    }

    fn table() -> LlrTable {
        LlrTable {
            lo: -4.0,
            hi: 12.0,
            llr: (0..64).map(|i| i as f32 * 0.37 - 5.0).collect(),
        }
    }

    #[test]
    fn dispatched_and_portable_agree_bit_for_bit() {
        let probe = record(7);
        let gallery: Vec<_> = (0..300).map(|i| record(1000 + i)).collect();
        let t = table();
        let mut fast = vec![f32::NAN; gallery.len()];
        let mut slow = vec![f32::NAN; gallery.len()];
        finger_evidence(&probe, &gallery, &t, &mut fast);
        evidence_portable(&probe, &gallery, &t, &mut slow);
        for (i, g) in gallery.iter().enumerate() {
            assert_eq!(fast[i].to_bits(), slow[i].to_bits(), "record {i}");
            assert_eq!(fast[i].to_bits(), person(&probe, g, &t).to_bits());
        }
        // Not a constant: the probe against itself scores above every other record.
        let mut own = [0.0];
        finger_evidence(&probe, std::slice::from_ref(&probe), &t, &mut own);
        assert!(fast.iter().all(|&f| f < own[0]));
    }

    #[test]
    fn absent_fingers_contribute_nothing() {
        let probe = record(3);
        let mut g = record(3);
        g.presence = 0;
        let mut out = [1.0];
        finger_evidence(&probe, std::slice::from_ref(&g), &table(), &mut out);
        assert_eq!(out[0], 0.0);
    }
}
