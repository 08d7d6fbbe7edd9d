//! Scenarios with ground truth: a gallery of enrolled people and a stream of probes mixing new
//! people with returning ones, including hard cases.
//!
//! Gallery person ids are `0..gallery_size`, each enrolled with capture 0. Probe `j` is drawn
//! from its own stream: with probability `duplicate_ratio` a returning gallery person (capture
//! number `1 + j`), otherwise a new person with id `gallery_size + j`. Hard cases are drawn
//! independently per probe with the rates of [`HardCaseRates`].

use std::ops::Range;

use rand::Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::iris_source::IrisSource;
use crate::population::{Capture, CaptureSpec, EyesCaptured, Population, QualityMode};
use crate::seed::{stream, Domain};

/// Probability of each hard case in a probe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HardCaseRates {
    /// Poor-quality capture (default 0.05).
    pub poor_quality: f64,
    /// Hard capture ([`QualityMode::Hard`], as hard to match as the hardest real FVC2002
    /// database) when the capture is not poor (default 0: opt in, e.g. the dedup bench).
    pub hard_capture: f64,
    /// Only four usable fingers (default 0.03).
    pub four_fingers: f64,
    /// One eye missing (default 0.03).
    pub one_eye: f64,
    /// A new person who is the twin of a gallery person (default 0.01; new probes only).
    pub twin: f64,
    /// A returning person under another name, NIK and district (default 0.05; returning
    /// probes only).
    pub alias: f64,
}

impl Default for HardCaseRates {
    fn default() -> Self {
        Self {
            poor_quality: 0.05,
            hard_capture: 0.0,
            four_fingers: 0.03,
            one_eye: 0.03,
            twin: 0.01,
            alias: 0.05,
        }
    }
}

impl HardCaseRates {
    /// No hard cases.
    pub fn none() -> Self {
        Self {
            poor_quality: 0.0,
            hard_capture: 0.0,
            four_fingers: 0.0,
            one_eye: 0.0,
            twin: 0.0,
            alias: 0.0,
        }
    }
}

/// A scenario: gallery size, probe count, duplicate ratio and hard-case rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScenarioPlan {
    /// People enrolled in the gallery.
    pub gallery_size: u64,
    /// Probes in the stream.
    pub probes: u64,
    /// Share of probes that are returning gallery people.
    pub duplicate_ratio: f64,
    /// Hard-case rates.
    pub hard: HardCaseRates,
}

/// Ground truth of one probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeTruth {
    /// Probe number in the stream.
    pub probe: u64,
    /// Capture id of the probe.
    pub capture_id: String,
    /// The person captured.
    pub person_id: u64,
    /// The gallery person the probe must match: `Some(person_id)` for returning people,
    /// `None` for new people (twins included).
    pub mate: Option<u64>,
    /// For twins, the gallery person who is the twin sibling (a non-mate that looks related).
    pub twin_of: Option<u64>,
    /// Poor-quality capture.
    pub poor_quality: bool,
    /// Hard capture ([`HardCaseRates::hard_capture`]).
    pub hard_capture: bool,
    /// Only four usable fingers.
    pub four_fingers: bool,
    /// One eye missing.
    pub one_eye: bool,
    /// Presented under an alias (another name, NIK and district).
    pub alias: bool,
}

/// A scenario bound to a population generator.
#[derive(Debug, Clone, Copy)]
pub struct Scenario<'a, I: IrisSource> {
    /// The population generator.
    pub population: &'a Population<I>,
    /// The plan.
    pub plan: ScenarioPlan,
}

impl<'a, I: IrisSource> Scenario<'a, I> {
    /// A scenario.
    pub fn new(population: &'a Population<I>, plan: ScenarioPlan) -> Self {
        Self { population, plan }
    }

    /// The enrolment capture of gallery person `id`.
    pub fn gallery_capture(&self, id: u64) -> Capture {
        let person = self.population.person(id);
        self.population.capture(&person, 0, &CaptureSpec::default())
    }

    /// Gallery captures in order, generated lazily.
    pub fn gallery(&self) -> impl Iterator<Item = Capture> + '_ {
        (0..self.plan.gallery_size).map(move |id| self.gallery_capture(id))
    }

    /// Gallery captures generated in parallel (indexed, so `collect` keeps the order).
    pub fn gallery_par(&self) -> impl IndexedParallelIterator<Item = Capture> + '_ {
        self.gallery_range_par(0..self.plan.gallery_size)
    }

    /// Gallery captures of the person ids in `ids`, generated in parallel, in order.
    pub fn gallery_range_par(
        &self,
        ids: Range<u64>,
    ) -> impl IndexedParallelIterator<Item = Capture> + '_ {
        let start = ids.start;
        let len = usize::try_from(ids.end.saturating_sub(ids.start)).unwrap_or(usize::MAX);
        (0..len)
            .into_par_iter()
            .map(move |i| self.gallery_capture(start + i as u64))
    }

    /// Probe `j` and its ground truth.
    pub fn probe(&self, j: u64) -> (Capture, ProbeTruth) {
        let plan = &self.plan;
        let mut rng = stream(self.population.seed, Domain::Probe, &[j]);
        let returning = plan.gallery_size > 0 && rng.gen_bool(plan.duplicate_ratio.clamp(0.0, 1.0));
        let mut draw = |p: f64| rng.gen_bool(p.clamp(0.0, 1.0));
        let poor_quality = draw(plan.hard.poor_quality);
        let four_fingers = draw(plan.hard.four_fingers);
        let one_eye = draw(plan.hard.one_eye);
        let alias = returning && draw(plan.hard.alias);
        let twin = !returning && plan.gallery_size > 0 && draw(plan.hard.twin);
        // Drawn only when enabled, so plans without hard captures keep their probe streams.
        let hard_capture =
            !poor_quality && plan.hard.hard_capture > 0.0 && draw(plan.hard.hard_capture);
        let spec = CaptureSpec {
            quality: if poor_quality {
                QualityMode::Poor
            } else if hard_capture {
                QualityMode::Hard
            } else {
                QualityMode::Typical
            },
            usable_fingers: if four_fingers { 4 } else { 10 },
            eyes: if one_eye {
                EyesCaptured::One
            } else {
                EyesCaptured::Both
            },
            alias: alias.then_some(j),
        };
        let (person, number, mate, twin_of) = if returning {
            let id = rng.gen_range(0..plan.gallery_size);
            (self.population.person(id), 1 + j, Some(id), None)
        } else if twin {
            let sibling = self.population.person(rng.gen_range(0..plan.gallery_size));
            let t = self.population.twin(plan.gallery_size + j, &sibling);
            (t, 0, None, Some(sibling.id))
        } else {
            (self.population.person(plan.gallery_size + j), 0, None, None)
        };
        let mut capture = self.population.capture(&person, number, &spec);
        // Probe ids must not reveal the person.
        capture.capture_id = format!("probe-{j}");
        let truth = ProbeTruth {
            probe: j,
            capture_id: capture.capture_id.clone(),
            person_id: person.id,
            mate,
            twin_of,
            poor_quality,
            hard_capture,
            four_fingers,
            one_eye,
            alias,
        };
        (capture, truth)
    }

    /// Probes in order, generated lazily.
    pub fn probes(&self) -> impl Iterator<Item = (Capture, ProbeTruth)> + '_ {
        (0..self.plan.probes).map(move |j| self.probe(j))
    }

    /// Probes generated in parallel (indexed, so `collect` keeps the order).
    pub fn probes_par(&self) -> impl IndexedParallelIterator<Item = (Capture, ProbeTruth)> + '_ {
        self.probes_range_par(0..self.plan.probes)
    }

    /// Probes numbered `numbers`, generated in parallel, in order.
    pub fn probes_range_par(
        &self,
        numbers: Range<u64>,
    ) -> impl IndexedParallelIterator<Item = (Capture, ProbeTruth)> + '_ {
        let start = numbers.start;
        let len = usize::try_from(numbers.end.saturating_sub(numbers.start)).unwrap_or(usize::MAX);
        (0..len)
            .into_par_iter()
            .map(move |i| self.probe(start + i as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(hard: HardCaseRates) -> ScenarioPlan {
        ScenarioPlan {
            gallery_size: 200,
            probes: 400,
            duplicate_ratio: 0.3,
            hard,
        }
    }

    #[test]
    fn probes_mix_new_and_returning_people_with_consistent_truth() {
        let pop = Population::new(9);
        let s = Scenario::new(&pop, plan(HardCaseRates::default()));
        let probes: Vec<_> = s.probes_par().collect();
        let returning = probes.iter().filter(|(_, t)| t.mate.is_some()).count();
        assert!(
            (80..=160).contains(&returning),
            "{returning} returning of 400"
        );
        for (c, t) in &probes {
            assert_eq!(c.person_id, t.person_id);
            match t.mate {
                Some(m) => {
                    assert_eq!(m, t.person_id);
                    assert!(m < 200);
                    let enrolled = s.gallery_capture(m);
                    if t.alias {
                        assert_ne!(c.demographics.nik, enrolled.demographics.nik);
                    } else {
                        assert_eq!(c.demographics.nik, enrolled.demographics.nik);
                    }
                    assert_ne!(c.fingers, enrolled.fingers);
                }
                None => assert!(t.person_id >= 200),
            }
            assert_eq!(c.fingers.len(), if t.four_fingers { 4 } else { 10 });
            assert_eq!(c.irises.len(), if t.one_eye { 1 } else { 2 });
        }
        let sequential: Vec<_> = s.probes().map(|(_, t)| t).collect();
        assert_eq!(
            sequential,
            probes.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn hard_cases_appear_at_their_rates() {
        let pop = Population::new(10);
        let hard = HardCaseRates {
            poor_quality: 0.5,
            hard_capture: 0.5,
            four_fingers: 0.5,
            one_eye: 0.5,
            twin: 0.5,
            alias: 0.5,
        };
        let s = Scenario::new(&pop, plan(hard));
        let truths: Vec<ProbeTruth> = (0..400).map(|j| s.probe(j).1).collect();
        let count = |f: fn(&ProbeTruth) -> bool| truths.iter().filter(|t| f(t)).count();
        assert!(count(|t| t.poor_quality) > 150);
        // Half of the other half.
        assert!((60..=140).contains(&count(|t| t.hard_capture)));
        assert!(count(|t| t.hard_capture && t.poor_quality) == 0);
        assert!(count(|t| t.four_fingers) > 150);
        assert!(count(|t| t.twin_of.is_some()) > 80);
        assert!(count(|t| t.alias) > 30);
        assert_eq!(count(|t| t.alias && t.mate.is_none()), 0);
        assert_eq!(count(|t| t.twin_of.is_some() && t.mate.is_some()), 0);
        let none = Scenario::new(&pop, plan(HardCaseRates::none()));
        assert!((0..100).all(|j| {
            let t = none.probe(j).1;
            !(t.poor_quality
                || t.hard_capture
                || t.four_fingers
                || t.one_eye
                || t.alias
                || t.twin_of.is_some())
        }));
    }

    #[test]
    fn the_gallery_is_one_capture_per_person_in_order() {
        let pop = Population::new(11);
        let s = Scenario::new(&pop, plan(HardCaseRates::none()));
        let par: Vec<Capture> = s.gallery_par().collect();
        let seq: Vec<Capture> = s.gallery().collect();
        assert_eq!(par.len(), 200);
        for (i, (a, b)) in par.iter().zip(&seq).enumerate() {
            assert_eq!(a.person_id, i as u64);
            assert_eq!(a.capture_id, format!("{i}-0"));
            assert_eq!(a.fingers, b.fingers);
        }
    }
}
