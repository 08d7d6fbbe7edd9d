//! Henry pattern classes, their frequencies per finger position and their correlation between
//! a person's fingers.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// Pattern class of a fingerprint (as seen on the print, y down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternClass {
    /// Plain arch: no core, no delta.
    Arch,
    /// Tented arch: a core directly above a delta.
    TentedArch,
    /// Loop opening to the left of the print (delta on the right).
    LeftLoop,
    /// Loop opening to the right of the print (delta on the left).
    RightLoop,
    /// Whorl: two cores and two deltas.
    Whorl,
}

impl PatternClass {
    /// All classes.
    pub const ALL: [Self; 5] = [
        Self::Arch,
        Self::TentedArch,
        Self::LeftLoop,
        Self::RightLoop,
        Self::Whorl,
    ];

    /// The class of the same pattern seen on the other hand (loops swap sides).
    pub fn mirrored(self) -> Self {
        match self {
            Self::LeftLoop => Self::RightLoop,
            Self::RightLoop => Self::LeftLoop,
            other => other,
        }
    }
}

/// Relative frequency of (arch, tented arch, ulnar loop, radial loop, whorl) by finger
/// (thumb, index, middle, ring, little), rounded from published ten-print surveys: ulnar
/// loops dominate, index fingers carry most arches and radial loops, thumbs and ring fingers
/// most whorls.
const FINGER_FREQUENCIES: [[f64; 5]; 5] = [
    [0.03, 0.01, 0.55, 0.01, 0.40],
    [0.10, 0.07, 0.35, 0.18, 0.30],
    [0.07, 0.02, 0.70, 0.02, 0.19],
    [0.02, 0.01, 0.50, 0.01, 0.46],
    [0.01, 0.01, 0.83, 0.005, 0.145],
];

/// Probability that a left-hand finger repeats the (mirrored) class of the same finger of the
/// right hand instead of being drawn on its own.
pub const MIRROR_COPY: f64 = 0.55;

/// Probability that a twin's finger repeats the class of the sibling's same finger.
pub const TWIN_COPY: f64 = 0.7;

/// Spread of the person-level tendencies towards whorls and arches (log-weight scale).
const TENDENCY_SD: f64 = 0.9;

/// Class frequencies for an ISO finger position 1–10 (1–5 right thumb to little, 6–10 left),
/// in the order of [`PatternClass::ALL`]. Unknown positions use the middle-finger row.
pub fn class_frequencies(position: u8) -> [f64; 5] {
    let finger = usize::from(position.saturating_sub(1) % 5);
    let [arch, tented, ulnar, radial, whorl] = FINGER_FREQUENCIES[finger];
    let right_hand = (1..=5).contains(&position);
    // Ulnar loops open towards the little finger: to the right on right-hand prints.
    let (left, right) = if right_hand {
        (radial, ulnar)
    } else {
        (ulnar, radial)
    };
    [arch, tented, left, right, whorl]
}

fn draw(weights: &[f64; 5], rng: &mut impl Rng) -> PatternClass {
    let total: f64 = weights.iter().sum();
    let mut pick = rng.gen_range(0.0..total);
    for (class, &w) in PatternClass::ALL.iter().zip(weights) {
        if pick < w {
            return *class;
        }
        pick -= w;
    }
    PatternClass::Whorl
}

/// A person's tendencies: every finger's class is drawn from the position frequencies tilted
/// by these, which correlates the ten fingers.
#[derive(Debug, Clone, Copy)]
struct Tendency {
    whorl: f64,
    arch: f64,
}

impl Tendency {
    fn sample(rng: &mut impl Rng) -> Self {
        let whorl: f64 = StandardNormal.sample(rng);
        let arch: f64 = StandardNormal.sample(rng);
        Self {
            whorl: (whorl * TENDENCY_SD).exp(),
            arch: (arch * TENDENCY_SD).exp(),
        }
    }

    fn draw(&self, position: u8, rng: &mut impl Rng) -> PatternClass {
        let mut w = class_frequencies(position);
        w[0] *= self.arch;
        w[1] *= self.arch;
        w[4] *= self.whorl;
        draw(&w, rng)
    }
}

/// Draws the classes of a person's ten fingers (slot 0–9 = positions 1–10).
pub fn sample_hand_classes(rng: &mut impl Rng) -> [PatternClass; 10] {
    let tendency = Tendency::sample(rng);
    let mut out = [PatternClass::Arch; 10];
    for (slot, class) in out.iter_mut().take(5).enumerate() {
        *class = tendency.draw(slot as u8 + 1, rng);
    }
    for slot in 5..10 {
        out[slot] = if rng.gen_bool(MIRROR_COPY) {
            out[slot - 5].mirrored()
        } else {
            tendency.draw(slot as u8 + 1, rng)
        };
    }
    out
}

/// Draws a twin's classes: each finger repeats the sibling's with probability [`TWIN_COPY`],
/// otherwise it is drawn from the position frequencies.
pub fn sample_twin_classes(sibling: &[PatternClass; 10], rng: &mut impl Rng) -> [PatternClass; 10] {
    let tendency = Tendency::sample(rng);
    let mut out = *sibling;
    for (slot, class) in out.iter_mut().enumerate() {
        if !rng.gen_bool(TWIN_COPY) {
            *class = tendency.draw(slot as u8 + 1, rng);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn index(c: PatternClass) -> usize {
        PatternClass::ALL.iter().position(|&x| x == c).unwrap()
    }

    #[test]
    fn overall_frequencies_follow_the_table_and_hands_mirror() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut counts = [[0usize; 5]; 10];
        let n = 20_000;
        for _ in 0..n {
            for (slot, c) in sample_hand_classes(&mut rng).iter().enumerate() {
                counts[slot][index(*c)] += 1;
            }
        }
        // Right hand ulnar loops are right loops; left hand ulnar loops are left loops.
        assert!(
            counts[2][3] > n * 6 / 10,
            "right middle right loops {:?}",
            counts[2]
        );
        assert!(
            counts[7][2] > n * 6 / 10,
            "left middle left loops {:?}",
            counts[7]
        );
        // Index fingers carry more arches than little fingers; ring fingers more whorls.
        assert!(counts[1][0] > 4 * counts[4][0]);
        assert!(counts[3][4] > 2 * counts[4][4]);
        let loops: usize = counts.iter().map(|c| c[2] + c[3]).sum();
        let share = loops as f64 / (10 * n) as f64;
        assert!((0.5..0.75).contains(&share), "loop share {share}");
    }

    #[test]
    fn a_persons_fingers_are_correlated() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let n = 20_000;
        let (mut both, mut right_only, mut left_whorl) = (0usize, 0usize, 0usize);
        for _ in 0..n {
            let c = sample_hand_classes(&mut rng);
            let r = c[0] == PatternClass::Whorl;
            let l = c[5] == PatternClass::Whorl;
            both += usize::from(r && l);
            right_only += usize::from(r);
            left_whorl += usize::from(l);
        }
        let p_l = left_whorl as f64 / n as f64;
        let p_l_given_r = both as f64 / right_only as f64;
        assert!(p_l_given_r > p_l + 0.2, "P(L)={p_l} P(L|R)={p_l_given_r}");
    }

    #[test]
    fn twins_share_most_classes() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut same = 0;
        let mut unrelated_same = 0;
        for _ in 0..2000 {
            let a = sample_hand_classes(&mut rng);
            let t = sample_twin_classes(&a, &mut rng);
            let u = sample_hand_classes(&mut rng);
            same += a.iter().zip(&t).filter(|(x, y)| x == y).count();
            unrelated_same += a.iter().zip(&u).filter(|(x, y)| x == y).count();
        }
        assert!(same > unrelated_same + 4000, "{same} vs {unrelated_same}");
    }
}
