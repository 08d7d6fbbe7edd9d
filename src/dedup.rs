//! Glue between the synthetic population and the deduplication engine: captures as
//! enrolments, and the score calibration learned from synthetic mates and non-mates.

use rayon::prelude::*;
use tunggal_datasets::iris_source::{Eye, IrisSource};
use tunggal_datasets::population::{Capture, CaptureSpec, Population, QualityMode};
use tunggal_index::gallery::cohort::COHORT_FINGERS;
use tunggal_index::gallery::{
    DescriptorCohort, Enrolment, IrisCode, PreparedPerson, Preparer, EYES, FINGERS,
};
use tunggal_index::iris::{decode_record, IrisProbe};
use tunggal_index::search::finger_scan::slot_similarity;
use tunggal_index::search::{Calibration, FusionCaps, LlrTable};

/// First person id used for calibration, far from any scenario's ids.
pub const CALIBRATION_ID_BASE: u64 = 1 << 40;

/// First person id of the cohort of a calibration's finger offsets, beyond any calibration
/// person.
pub const COHORT_ID_BASE: u64 = (1 << 40) + (1 << 32);

/// A capture as an enrolment station sends it (irises of another length are dropped).
pub fn enrolment_of(capture: &Capture, with_irises: bool) -> Enrolment {
    let irises = if with_irises {
        capture
            .irises
            .iter()
            .filter_map(|c| {
                let eye = match c.eye {
                    Eye::Left => 0,
                    Eye::Right => 1,
                };
                IrisCode::from_bytes(eye, &c.code, &c.mask)
            })
            .collect()
    } else {
        Vec::new()
    };
    Enrolment {
        fingers: capture.fingers.clone(),
        irises,
    }
}

/// Raw scores of mates and non-mates, per score kind.
#[derive(Debug, Clone, Default)]
pub struct ScoreSamples {
    /// Descriptor similarity: mates, non-mates.
    pub descriptor: (Vec<f32>, Vec<f32>),
    /// Matcher score: mates, non-mates.
    pub finger: (Vec<f32>, Vec<f32>),
    /// Iris best normalised Hamming distance over the rotation window: mates, non-mates.
    pub iris: (Vec<f32>, Vec<f32>),
    /// The cohort of the gallery fingers' offsets the descriptor similarities are normalised
    /// by.
    pub cohort: DescriptorCohort,
}

/// The cohort of a calibration's finger offsets: one finger of each of [`COHORT_FINGERS`]
/// synthetic people (slot `j mod 10` of person `j`), none of them among the people the
/// tables are learned from.
pub fn cohort<I: IrisSource>(
    pop: &Population<I>,
    preparer: &Preparer,
) -> anyhow::Result<DescriptorCohort> {
    let spec = CaptureSpec {
        eyes: tunggal_datasets::population::EyesCaptured::None,
        ..CaptureSpec::default()
    };
    let fingers: Vec<Option<_>> = (0..COHORT_FINGERS as u64)
        .into_par_iter()
        .map(|j| {
            let person = pop.person(COHORT_ID_BASE + j);
            let capture = pop.capture(&person, 1000, &spec);
            let p = preparer.prepare(&enrolment_of(&capture, false))?;
            let slot = (j % FINGERS as u64) as usize;
            Ok(p.record.has_finger(slot).then(|| p.record.fingers[slot]))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(DescriptorCohort::new(fingers.into_iter().flatten()))
}

fn prepare_pair<I: IrisSource>(
    pop: &Population<I>,
    preparer: &Preparer,
    id: u64,
) -> anyhow::Result<(PreparedPerson, PreparedPerson)> {
    let person = pop.person(id);
    // Every fifth second capture is poor, a little above the scenarios' rate, so the tables
    // cover the low-quality mates.
    let poor = CaptureSpec {
        quality: QualityMode::Poor,
        ..CaptureSpec::default()
    };
    let second = if id.is_multiple_of(5) {
        poor
    } else {
        CaptureSpec::default()
    };
    let a = pop.capture(&person, 1000, &CaptureSpec::default());
    let b = pop.capture(&person, 1001, &second);
    Ok((
        preparer.prepare(&enrolment_of(&a, true))?,
        preparer.prepare(&enrolment_of(&b, true))?,
    ))
}

/// The probe form of each present eye of a prepared person.
fn iris_probes(preparer: &Preparer, p: &PreparedPerson) -> anyhow::Result<Vec<Option<IrisProbe>>> {
    let matcher = preparer.iris();
    (0..EYES)
        .map(|e| {
            if !p.record.has_eye(e) {
                return Ok(None);
            }
            let t = decode_record(matcher.layout(), &p.record.irises[e])?;
            Ok(Some(matcher.prepare(&t)?))
        })
        .collect()
}

/// Scores `persons` calibration people (ids from [`CALIBRATION_ID_BASE`]) with two captures
/// each: mates are the two captures of a person; descriptor and iris non-mates are every
/// pair of different people, matcher non-mates each person against the next
/// `matcher_impostors` people. Iris scores are the matcher's best `hd_norm` over its rotation
/// window.
pub fn sample_scores<I: IrisSource>(
    pop: &Population<I>,
    preparer: &Preparer,
    persons: u64,
    matcher_impostors: u64,
) -> anyhow::Result<ScoreSamples> {
    let cohort = cohort(pop, preparer)?;
    let preparer = &preparer.clone().with_cohort(cohort.clone());
    let people: Vec<(PreparedPerson, PreparedPerson)> = (0..persons)
        .into_par_iter()
        .map(|i| prepare_pair(pop, preparer, CALIBRATION_ID_BASE + i))
        .collect::<anyhow::Result<_>>()?;
    let matcher = preparer.matcher();
    let iris = preparer.iris();
    let n = people.len();
    let per_person: Vec<ScoreSamples> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut s = ScoreSamples::default();
            let (a, _) = &people[i];
            let probes = iris_probes(preparer, a)?;
            for (j, (_, b)) in people.iter().enumerate() {
                let mate = i == j;
                let near = (j + n - i) % n <= matcher_impostors as usize;
                for f in 0..FINGERS {
                    let (Some(pa), Some(pb)) = (&a.fingers[f], &b.fingers[f]) else {
                        continue;
                    };
                    let d = slot_similarity(&a.record, &b.record, f);
                    if mate {
                        s.descriptor.0.push(d);
                        s.finger.0.push(matcher.compare(&pa.prepared, &pb.prepared));
                    } else {
                        s.descriptor.1.push(d);
                        if near {
                            s.finger.1.push(matcher.compare(&pa.prepared, &pb.prepared));
                        }
                    }
                }
                for (e, probe) in probes.iter().enumerate() {
                    let Some(probe) = probe else { continue };
                    if !b.record.has_eye(e) {
                        continue;
                    }
                    if let Some(score) = iris.compare(probe, &b.record.irises[e])?.score() {
                        let hd = score.hd_norm as f32;
                        if mate { &mut s.iris.0 } else { &mut s.iris.1 }.push(hd);
                    }
                }
            }
            Ok(s)
        })
        .collect::<anyhow::Result<_>>()?;
    let mut all = ScoreSamples {
        cohort,
        ..ScoreSamples::default()
    };
    for s in per_person {
        all.descriptor.0.extend(s.descriptor.0);
        all.descriptor.1.extend(s.descriptor.1);
        all.finger.0.extend(s.finger.0);
        all.finger.1.extend(s.finger.1);
        all.iris.0.extend(s.iris.0);
        all.iris.1.extend(s.iris.1);
    }
    Ok(all)
}

/// `1 − hd_norm`, the iris similarity the calibration table is indexed by.
fn similarity_of(hd_norm: &[f32]) -> Vec<f32> {
    hd_norm.iter().map(|h| 1.0 - h).collect()
}

/// Learns the calibration tables from score samples.
pub fn learn(samples: &ScoreSamples, caps: FusionCaps) -> anyhow::Result<Calibration> {
    let d = &samples.descriptor;
    let f = &samples.finger;
    let i = &samples.iris;
    Ok(Calibration {
        descriptor: LlrTable::learn(&d.0, &d.1, -4.0, 36.0, 80, caps.per_finger)?,
        finger: LlrTable::learn(&f.0, &f.1, 0.0, 1.0, 100, caps.per_finger)?,
        iris: with_impostor_tail(
            LlrTable::learn(
                &similarity_of(&i.0),
                &similarity_of(&i.1),
                0.4,
                1.0,
                120,
                caps.per_eye,
            )?,
            &similarity_of(&i.1),
            caps.per_eye,
        ),
        caps,
        id: "synthetic".into(),
        // The gallery records its own version when it stores the calibration.
        descriptor_version: tunggal_index::gallery::descriptor::DESCRIPTOR_VERSION,
        matcher_version: tunggal_index::finger::MATCHER_VERSION,
        cohort: samples.cohort.clone(),
    })
}

/// The calibration a new gallery with `config` uses: the synthetic tables of `samples`, with
/// the shipped second-stage finger table learned from real pairs
/// (`index/calibration/finger-v2.json`) when it was learned with the gallery's matcher
/// parameters.
pub fn learn_production(
    samples: &ScoreSamples,
    caps: FusionCaps,
    config: &tunggal_index::gallery::GalleryConfig,
) -> anyhow::Result<Calibration> {
    let mut calibration = learn(samples, caps)?;
    let shipped = tunggal_index::search::shipped::CalibrationFile::shipped()?;
    shipped.apply(&mut calibration, &config.mcc);
    Ok(calibration)
}

/// Standard deviations above the impostor mean beyond which an iris similarity takes the
/// per-eye cap.
pub const IRIS_TAIL_SIGMAS: f32 = 6.0;

/// Gives the cap to every bin of an iris table that lies wholly more than
/// [`IRIS_TAIL_SIGMAS`] impostor standard deviations above the impostor mean.
///
/// A learned table cannot show the strength of a close iris match: a few hundred genuine and a
/// few hundred thousand impostor samples bound its ratios near `ln(impostors)`, about 9,
/// whereas an impostor pair of eyes lands six deviations out far less often than once in a
/// billion (Daugman's impostor distribution is binomial, with a thinner tail than this
/// normal bound), a ratio well above any cap. Without the tail, two eyes that match closely
/// stay below the decision threshold of a gallery of a million people.
fn with_impostor_tail(mut table: LlrTable, impostors: &[f32], cap: f32) -> LlrTable {
    let n = impostors.len();
    let bins = table.llr.len();
    if n < 2 || bins == 0 {
        return table;
    }
    let mean = impostors.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
    let var = impostors
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / (n - 1) as f64;
    let edge = mean + f64::from(IRIS_TAIL_SIGMAS) * var.sqrt();
    let width = f64::from(table.hi - table.lo) / bins as f64;
    for (b, llr) in table.llr.iter_mut().enumerate() {
        if f64::from(table.lo) + b as f64 * width >= edge {
            *llr = llr.max(cap);
        }
    }
    table
}

/// Extremes and percentiles, for reports.
pub fn describe(scores: &[f32]) -> String {
    if scores.is_empty() {
        return "n=0".into();
    }
    let mut v = scores.to_vec();
    v.sort_by(f32::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p) as usize];
    format!(
        "n={} min={:.3} p1={:.3} p10={:.3} p50={:.3} p90={:.3} p99={:.3} max={:.3}",
        v.len(),
        v[0],
        q(0.01),
        q(0.10),
        q(0.5),
        q(0.9),
        q(0.99),
        v[v.len() - 1]
    )
}

/// Population seed of the persons a new gallery's calibration is learned from.
pub const CALIBRATION_SEED: u64 = 0x7475_6e67;

/// Learns a new gallery's calibration from `persons` synthetic people (two captures each),
/// with the shipped real second-stage finger table when it applies: how the shipped
/// calibration of new galleries (`engine/new-gallery-calibration.json`) was made.
pub fn learn_synthetic(
    config: &tunggal_index::gallery::GalleryConfig,
    persons: u64,
) -> anyhow::Result<Calibration> {
    let preparer = Preparer::new(&config.mcc, config.descriptor)?;
    let pop = Population::new(CALIBRATION_SEED);
    let samples = sample_scores(&pop, &preparer, persons.max(50), 8)?;
    learn_production(&samples, FusionCaps::default(), config)
}

/// A new gallery calibration learned from `persons` synthetic people (for tests and
/// benchmarks that want a smaller or another one than the shipped calibration).
pub fn synthetic_calibration(persons: u64) -> crate::engine::calibrate::NewGalleryCalibration {
    crate::engine::calibrate::NewGalleryCalibration::Learn(std::sync::Arc::new(move |config| {
        learn_synthetic(config, persons)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iris_tail_takes_the_cap_only_far_beyond_the_impostors() {
        // Impostor similarities 0.50–0.60 (mean 0.55, sd about 0.029); a few genuines.
        let impostors: Vec<f32> = (0..10_000)
            .map(|i| 0.50 + (i % 101) as f32 * 0.001)
            .collect();
        let genuines: Vec<f32> = (0..50).map(|i| 0.66 + (i % 30) as f32 * 0.01).collect();
        let cap = 12.0;
        let learned = LlrTable::learn(&genuines, &impostors, 0.4, 1.0, 120, cap).unwrap();
        let top = learned.llr.iter().copied().fold(f32::MIN, f32::max);
        assert!(
            top < cap,
            "the learned table alone stays below the cap: {top}"
        );
        let tailed = with_impostor_tail(learned.clone(), &impostors, cap);
        // mean + 6 sd is about 0.724: far above it the cap, within the impostors unchanged.
        assert_eq!(tailed.llr(0.80), cap);
        assert_eq!(tailed.llr(0.95), cap);
        for s in [0.45f32, 0.55, 0.60, 0.70] {
            assert_eq!(tailed.llr(s), learned.llr(s), "similarity {s}");
        }
        assert!(tailed.llr.windows(2).all(|w| w[0] <= w[1]), "monotone");
        // Too few impostors to estimate a spread: the table is left alone.
        let same = with_impostor_tail(learned.clone(), &impostors[..1], cap);
        assert_eq!(same, learned);
    }
}
