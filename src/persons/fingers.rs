//! Per-finger first-stage retention: for every genuine pair of real impressions, the rank of
//! the mate's descriptor similarity among a background of synthetic gallery fingers and the
//! real impostor fingers.
//!
//! A pair is impression `j` (the probe) against an earlier impression `i < j` of the same
//! finger (the mate), so FVC2002 gives its 1,120 genuine pairs once each. The probe's
//! background is every synthetic finger taken from the gallery's background persons plus every
//! real impression of every other real finger (of any person and database). The rank is one
//! more than the number of background fingers whose similarity to the probe is strictly above
//! the mate's; its penetration is the rank over the background size. The ranking uses the
//! descriptor similarity normalised by the gallery-side finger's offset against the gallery's
//! cohort (`tunggal_index::gallery::cohort`), as the first stage scores it: the first stage's
//! finger ratio is a non-decreasing function of it (a table of bins), so it orders the same
//! way up to ties within a bin. A pair where either
//! side has too few cylinders to be described (the engine leaves such a finger out) is never
//! retained.

use rayon::prelude::*;
use serde::Serialize;
use tunggal_index::gallery::cohort::normalised;
use tunggal_index::gallery::descriptor::{ones, similarity};
use tunggal_index::gallery::{Gallery, PersonRecord, DESCRIPTOR_WORDS, FINGERS, MIN_CYLINDERS};

use super::load::RealPerson;

/// Penetrations the retention is reported at.
pub const PENETRATIONS: [f64; 3] = [0.001, 0.01, 0.05];

/// A finger's descriptor, its set bits and its offset as a gallery finger.
type Descriptor = ([u64; DESCRIPTOR_WORDS], u16, i8);

/// One genuine pair's rank.
#[derive(Debug, Clone, Serialize)]
pub struct PairRank {
    /// Real person.
    pub person: String,
    /// Finger number.
    pub finger: u32,
    /// Probe impression.
    pub probe: u32,
    /// Mate impression.
    pub mate: u32,
    /// Descriptor similarity of the pair (`None` when a side could not be described).
    pub similarity: Option<f32>,
    /// Rank of the mate among the probe's background (1 = best); `None` when not describable.
    pub rank: Option<u64>,
    /// Background fingers the probe was ranked against.
    pub background: u64,
    /// Rank of the mate among the real impostor fingers alone (`None` when not describable).
    pub real_rank: Option<u64>,
    /// Real impostor fingers the probe was ranked against.
    pub real_background: u64,
}

impl PairRank {
    /// Whether the mate is within penetration `p` of the background.
    pub fn retained(&self, p: f64) -> bool {
        self.rank
            .is_some_and(|r| r as f64 <= p * self.background as f64)
    }
}

/// Retention of a set of pairs.
#[derive(Debug, Clone, Serialize)]
pub struct Retention {
    /// Who (a person, or `all`).
    pub name: String,
    /// Genuine pairs.
    pub pairs: usize,
    /// `(penetration, share of pairs retained)` at [`PENETRATIONS`].
    pub retention: Vec<(f64, f64)>,
    /// Median penetration of the mate.
    pub median_penetration: f64,
}

/// The per-finger figures.
#[derive(Debug, Clone, Serialize)]
pub struct FingerReport {
    /// Synthetic fingers in every probe's background.
    pub synthetic_fingers: usize,
    /// Real impostor fingers in a probe's background (the most; fewer for probes whose own
    /// finger has more impressions).
    pub real_impostor_fingers: usize,
    /// Genuine pairs.
    pub genuine_pairs: usize,
    /// Pairs a side of which could not be described.
    pub undescribed_pairs: usize,
    /// Over all pairs.
    pub all: Retention,
    /// Over all pairs, ranked among the real impostor fingers alone (no synthetic finger):
    /// the synthetic background is easier than real fingers of one sensor
    /// (`datasets/REALISM.md`, "First stage"), so this is the harder figure. With a few
    /// hundred real fingers, 0.1 % penetration is below one rank and always 0.
    pub real_only: Retention,
    /// Per person.
    pub per_person: Vec<Retention>,
    /// Every pair.
    pub pairs: Vec<PairRank>,
}

/// Retention of `pairs`, named `name`.
pub fn retention(name: &str, pairs: &[&PairRank]) -> Retention {
    let share = |p: f64| {
        let kept = pairs.iter().filter(|r| r.retained(p)).count();
        kept as f64 / pairs.len().max(1) as f64
    };
    let mut pens: Vec<f64> = pairs
        .iter()
        .map(|r| match r.rank {
            Some(rank) => rank as f64 / r.background.max(1) as f64,
            None => f64::INFINITY,
        })
        .collect();
    pens.sort_by(f64::total_cmp);
    Retention {
        name: name.into(),
        pairs: pairs.len(),
        retention: PENETRATIONS.iter().map(|&p| (p, share(p))).collect(),
        median_penetration: pens.get(pens.len() / 2).copied().unwrap_or(f64::NAN),
    }
}

/// Up to `limit` finger descriptors of live background persons (keys below `background`).
pub fn background_fingers(
    gallery: &Gallery,
    background: u64,
    limit: usize,
) -> anyhow::Result<Vec<Descriptor>> {
    let snap = gallery.snapshot();
    let mut out = Vec::with_capacity(limit.min(1 << 24));
    'segments: for seg in snap.segments() {
        let records: &[PersonRecord] = seg
            .records()
            .map_err(|e| anyhow::anyhow!("gallery records: {e}"))?;
        for (i, r) in records.iter().enumerate() {
            if !seg.is_live(i as u32) || r.key >= background {
                continue;
            }
            for slot in 0..FINGERS {
                if out.len() >= limit {
                    break 'segments;
                }
                if r.has_finger(slot) {
                    out.push((r.fingers[slot], r.ones[slot], r.offsets[slot]));
                }
            }
        }
    }
    Ok(out)
}

/// A real impression: its person, position, impression number and descriptor.
struct RealFinger {
    person: usize,
    position: usize,
    impression: u32,
    descriptor: Option<Descriptor>,
}

/// Ranks every genuine pair of `persons` against `synthetic` and the real impostors.
pub fn rank_pairs(
    gallery: &Gallery,
    persons: &[RealPerson],
    synthetic: &[Descriptor],
) -> FingerReport {
    let preparer = gallery.preparer();
    let mut real = Vec::new();
    for (k, p) in persons.iter().enumerate() {
        for (i, &imp) in p.impressions.iter().enumerate() {
            for (pos, t) in p.captures[i].iter().enumerate() {
                if let Some(t) = t {
                    real.push((k, pos, imp, t));
                }
            }
        }
    }
    let real: Vec<RealFinger> = real
        .par_iter()
        .map(|&(person, position, impression, t)| {
            let prepared = preparer.matcher().prepare(t);
            let descriptor = (prepared.len() >= MIN_CYLINDERS).then(|| {
                let d = preparer.descriptors().describe(&prepared);
                let n = ones(&d);
                (d, n, preparer.cohort().offset(&d, n))
            });
            RealFinger {
                person,
                position,
                impression,
                descriptor,
            }
        })
        .collect();
    let same = |a: &RealFinger, b: &RealFinger| a.person == b.person && a.position == b.position;
    // `a` the probe, `b` the gallery finger.
    let sim = |a: &Descriptor, b: &Descriptor| normalised(similarity(&a.0, a.1, &b.0, b.1), b.2);
    let pairs: Vec<PairRank> = real
        .par_iter()
        .flat_map_iter(|probe| {
            let mates: Vec<&RealFinger> = real
                .iter()
                .filter(|m| same(m, probe) && m.impression < probe.impression)
                .collect();
            let impostors: Vec<&Descriptor> = real
                .iter()
                .filter(|m| !same(m, probe))
                .filter_map(|m| m.descriptor.as_ref())
                .collect();
            let background = (synthetic.len() + impostors.len()) as u64;
            let scores: Vec<Option<f32>> = mates
                .iter()
                .map(|m| Some(sim(probe.descriptor.as_ref()?, m.descriptor.as_ref()?)))
                .collect();
            let mut above = vec![0u64; mates.len()];
            let mut above_real = vec![0u64; mates.len()];
            if let Some(d) = &probe.descriptor {
                for (i, b) in impostors
                    .iter()
                    .copied()
                    .chain(synthetic.iter())
                    .enumerate()
                {
                    let s = sim(d, b);
                    let real = i < impostors.len();
                    for ((n, r), m) in above.iter_mut().zip(&mut above_real).zip(&scores) {
                        if m.is_some_and(|m| s > m) {
                            *n += 1;
                            *r += u64::from(real);
                        }
                    }
                }
            }
            let p = &persons[probe.person];
            mates
                .into_iter()
                .zip(scores)
                .zip(above.into_iter().zip(above_real))
                .map(|((m, similarity), (above, above_real))| PairRank {
                    person: p.name.clone(),
                    finger: p.fingers[probe.position],
                    probe: probe.impression,
                    mate: m.impression,
                    similarity,
                    rank: similarity.map(|_| above + 1),
                    background,
                    real_rank: similarity.map(|_| above_real + 1),
                    real_background: impostors.len() as u64,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let all: Vec<&PairRank> = pairs.iter().collect();
    let real_only: Vec<PairRank> = pairs
        .iter()
        .map(|r| PairRank {
            rank: r.real_rank,
            background: r.real_background,
            ..r.clone()
        })
        .collect();
    let per_person = persons
        .iter()
        .map(|p| {
            let mine: Vec<&PairRank> = pairs.iter().filter(|r| r.person == p.name).collect();
            retention(&p.name, &mine)
        })
        .collect();
    let real_impostor_fingers = pairs
        .iter()
        .map(|r| r.background as usize - synthetic.len())
        .max()
        .unwrap_or(0);
    FingerReport {
        synthetic_fingers: synthetic.len(),
        real_impostor_fingers,
        genuine_pairs: pairs.len(),
        undescribed_pairs: pairs.iter().filter(|r| r.rank.is_none()).count(),
        all: retention("all", &all),
        real_only: retention("real only", &real_only.iter().collect::<Vec<_>>()),
        per_person,
        pairs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(rank: Option<u64>) -> PairRank {
        PairRank {
            person: "A".into(),
            finger: 1,
            probe: 2,
            mate: 1,
            similarity: rank.map(|_| 1.0),
            rank,
            background: 1000,
            real_rank: rank,
            real_background: 1000,
        }
    }

    #[test]
    fn retention_counts_ranks_within_each_penetration() {
        let pairs = [
            pair(Some(1)),
            pair(Some(10)),
            pair(Some(11)),
            pair(Some(60)),
            pair(None),
        ];
        let refs: Vec<&PairRank> = pairs.iter().collect();
        let r = retention("A", &refs);
        // 0.1 % of 1,000 is rank 1; 1 % is rank 10; 5 % is rank 50.
        assert_eq!(r.retention, vec![(0.001, 0.2), (0.01, 0.4), (0.05, 0.6)]);
        assert_eq!(r.median_penetration, 0.011);
    }
}
