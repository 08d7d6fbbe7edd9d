//! Synthetic people and their captures.
//!
//! A person is fully determined by `(seed, person id)`: registry data, the pattern classes of
//! the ten fingers (correlated across the hands), ten master minutiae sets and two iris masters.
//! A capture is determined by `(seed, person id, capture number)` and a [`CaptureSpec`], so any
//! person or capture can be generated alone, in any order and in parallel.

use rand::seq::index::sample;
use rand::Rng;

use crate::demographics::Demographics;
use crate::fingerprint::pattern::{sample_hand_classes, sample_twin_classes};
use crate::fingerprint::{
    capture, gauss, CaptureQuality, FingerMaster, ImpressionParams, MasterParams, PatternClass,
};
use crate::iris::IrisGenerator;
use crate::iris_source::{Eye, IrisCapture, IrisSource};
use crate::seed::{stream, Domain};
use tunggal_index::iris::IrisLayout;
use tunggal_index::template::FingerTemplate;

/// Spread of a finger's quality around the capture's quality.
pub const FINGER_QUALITY_SD: f32 = 0.12;

/// One synthetic person.
#[derive(Debug, Clone)]
pub struct Person<M> {
    /// Person id (ground truth).
    pub id: u64,
    /// Registry data.
    pub demographics: Demographics,
    /// Masters of fingers at ISO positions 1–10 (index = position − 1).
    pub fingers: Vec<FingerMaster>,
    /// Iris masters, left then right.
    pub irises: [M; 2],
    /// The twin sibling's person id, for twins.
    pub twin_of: Option<u64>,
}

impl<M> Person<M> {
    /// Pattern classes of the ten fingers.
    pub fn classes(&self) -> Vec<PatternClass> {
        self.fingers.iter().map(|f| f.class).collect()
    }
}

/// How good a capture is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QualityMode {
    /// A routine capture ([`CaptureQuality::typical`]).
    #[default]
    Typical,
    /// A poor capture ([`CaptureQuality::poor`]).
    Poor,
    /// A hard capture: routine quality ([`CaptureQuality::typical`]) taken with the hard
    /// impression parameters ([`Population::hard_impression`]), as hard to match as the
    /// hardest real FVC2002 database.
    Hard,
}

/// What a capture holds and under which identity it is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureSpec {
    /// Capture quality.
    pub quality: QualityMode,
    /// Number of usable fingers (10 normally; fewer for injured or worn hands).
    pub usable_fingers: u8,
    /// Eyes captured.
    pub eyes: EyesCaptured,
    /// Present the registry data of an alias (another name, NIK and district) instead of the
    /// person's own; the number picks which alias.
    pub alias: Option<u64>,
}

impl Default for CaptureSpec {
    fn default() -> Self {
        Self {
            quality: QualityMode::Typical,
            usable_fingers: 10,
            eyes: EyesCaptured::Both,
            alias: None,
        }
    }
}

/// Which eyes a capture holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EyesCaptured {
    /// Both eyes.
    #[default]
    Both,
    /// One eye, chosen at random per capture.
    One,
    /// No iris capture.
    None,
}

/// One capture of a person: what an enrolment station sends.
#[derive(Debug, Clone)]
pub struct Capture {
    /// The captured person (ground truth; not part of what a station sends).
    pub person_id: u64,
    /// Capture id, `{person}-{capture number}`.
    pub capture_id: String,
    /// Registry data as presented (an alias's for alias captures).
    pub demographics: Demographics,
    /// Finger templates of the usable fingers, by position.
    pub fingers: Vec<FingerTemplate>,
    /// Iris captures.
    pub irises: Vec<IrisCapture>,
    /// The capture's overall quality.
    pub quality: CaptureQuality,
}

/// The population generator.
#[derive(Debug, Clone)]
pub struct Population<I: IrisSource = IrisGenerator> {
    /// Seed of everything generated.
    pub seed: u64,
    /// Master parameters.
    pub master: MasterParams,
    /// Impression parameters of typical and poor captures.
    pub impression: ImpressionParams,
    /// Impression parameters of hard captures ([`QualityMode::Hard`]).
    pub hard_impression: ImpressionParams,
    /// Iris code source.
    pub iris: I,
}

impl Population<IrisGenerator> {
    /// A generator with default parameters and 2048-bit synthetic iris codes.
    pub fn new(seed: u64) -> Self {
        Self::with_iris(seed, IrisGenerator::new(seed, IrisLayout::DAUGMAN_2048))
    }
}

impl<I: IrisSource> Population<I> {
    /// A generator with default parameters and the given iris source.
    pub fn with_iris(seed: u64, iris: I) -> Self {
        Self {
            seed,
            master: MasterParams::default(),
            impression: ImpressionParams::default(),
            hard_impression: ImpressionParams::hard(),
            iris,
        }
    }

    fn build(
        &self,
        id: u64,
        demographics: Demographics,
        classes: [PatternClass; 10],
        twin_of: Option<u64>,
    ) -> Person<I::Master> {
        let fingers = classes
            .iter()
            .enumerate()
            .map(|(slot, &class)| {
                let mut rng = stream(self.seed, Domain::FingerMaster, &[id, slot as u64]);
                FingerMaster::generate(slot as u8 + 1, class, &self.master, &mut rng)
            })
            .collect();
        let irises = Eye::BOTH.map(|eye| {
            let mut rng = stream(self.seed, Domain::IrisMaster, &[id, eye as u64]);
            self.iris.master(&mut rng)
        });
        Person {
            id,
            demographics,
            fingers,
            irises,
            twin_of,
        }
    }

    /// Person `id`.
    pub fn person(&self, id: u64) -> Person<I::Master> {
        let classes = sample_hand_classes(&mut stream(self.seed, Domain::FingerClasses, &[id]));
        self.build(id, Demographics::for_person(self.seed, id), classes, None)
    }

    /// Person `id` as the twin of `sibling`: same date of birth and district, related pattern
    /// classes, independent minutiae and irises.
    pub fn twin(&self, id: u64, sibling: &Person<I::Master>) -> Person<I::Master> {
        let sibling_classes: [PatternClass; 10] = std::array::from_fn(|i| {
            sibling
                .fingers
                .get(i)
                .map_or(PatternClass::Arch, |f| f.class)
        });
        let classes = sample_twin_classes(
            &sibling_classes,
            &mut stream(self.seed, Domain::FingerClasses, &[id]),
        );
        let demographics = Demographics::twin_of(self.seed, id, &sibling.demographics);
        self.build(id, demographics, classes, Some(sibling.id))
    }

    /// Capture number `number` of `person` as described by `spec`.
    pub fn capture(&self, person: &Person<I::Master>, number: u64, spec: &CaptureSpec) -> Capture {
        let mut rng = stream(self.seed, Domain::Capture, &[person.id, number]);
        let quality = match spec.quality {
            QualityMode::Typical | QualityMode::Hard => CaptureQuality::typical(&mut rng),
            QualityMode::Poor => CaptureQuality::poor(&mut rng),
        };
        let impression = match spec.quality {
            QualityMode::Hard => &self.hard_impression,
            QualityMode::Typical | QualityMode::Poor => &self.impression,
        };
        let usable = usize::from(spec.usable_fingers).min(person.fingers.len());
        let mut slots: Vec<usize> = sample(&mut rng, person.fingers.len(), usable).into_vec();
        slots.sort_unstable();
        let fingers = slots
            .iter()
            .map(|&slot| {
                let mut frng = stream(
                    self.seed,
                    Domain::Capture,
                    &[person.id, number, 1 + slot as u64],
                );
                let q = CaptureQuality::new(gauss(&mut frng, quality.get(), FINGER_QUALITY_SD));
                capture(&person.fingers[slot], q, impression, &mut frng)
            })
            .collect();
        let eyes: Vec<Eye> = match spec.eyes {
            EyesCaptured::Both => Eye::BOTH.to_vec(),
            EyesCaptured::One => vec![if rng.gen_bool(0.5) {
                Eye::Left
            } else {
                Eye::Right
            }],
            EyesCaptured::None => Vec::new(),
        };
        let irises = eyes
            .into_iter()
            .map(|eye| {
                let mut irng = stream(
                    self.seed,
                    Domain::Capture,
                    &[person.id, number, 20 + eye as u64],
                );
                self.iris
                    .capture(eye, &person.irises[eye as usize], quality.get(), &mut irng)
            })
            .collect();
        let demographics = match spec.alias {
            Some(variant) => {
                Demographics::alias(self.seed, person.id, person.demographics.sex, variant)
            }
            None => person.demographics.clone(),
        };
        Capture {
            person_id: person.id,
            capture_id: format!("{}-{number}", person.id),
            demographics,
            fingers,
            irises,
            quality,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_and_captures_are_deterministic() {
        let pop = Population::new(42);
        let a = pop.person(17);
        let b = pop.person(17);
        assert_eq!(a.demographics, b.demographics);
        assert_eq!(a.fingers, b.fingers);
        assert_eq!(a.irises, b.irises);
        let spec = CaptureSpec::default();
        let c1 = pop.capture(&a, 0, &spec);
        let c2 = pop.capture(&b, 0, &spec);
        assert_eq!(c1.fingers, c2.fingers);
        assert_eq!(c1.irises, c2.irises);
        let c3 = pop.capture(&a, 1, &spec);
        assert_ne!(c1.fingers, c3.fingers);
        assert_ne!(pop.person(18).fingers, a.fingers);
    }

    #[test]
    fn specs_control_fingers_eyes_and_identity() {
        let pop = Population::new(5);
        let p = pop.person(3);
        let full = pop.capture(&p, 0, &CaptureSpec::default());
        assert_eq!(full.fingers.len(), 10);
        let positions: Vec<u8> = full.fingers.iter().map(|f| f.position).collect();
        assert_eq!(positions, (1..=10).collect::<Vec<u8>>());
        assert_eq!(full.irises.len(), 2);
        assert_eq!(full.demographics, p.demographics);

        let spec = CaptureSpec {
            usable_fingers: 4,
            eyes: EyesCaptured::One,
            alias: Some(0),
            ..CaptureSpec::default()
        };
        let hard = pop.capture(&p, 1, &spec);
        assert_eq!(hard.fingers.len(), 4);
        assert_eq!(hard.irises.len(), 1);
        assert_ne!(hard.demographics.nik, p.demographics.nik);
        assert_eq!(hard.person_id, p.id);
    }

    #[test]
    fn poor_captures_have_lower_quality() {
        let pop = Population::new(6);
        let p = pop.person(1);
        let poor = CaptureSpec {
            quality: QualityMode::Poor,
            ..CaptureSpec::default()
        };
        for n in 0..20 {
            assert!(
                pop.capture(&p, n, &poor).quality
                    < pop.capture(&p, 100 + n, &CaptureSpec::default()).quality
            );
        }
    }

    #[test]
    fn hard_captures_use_the_hard_impression_parameters() {
        let pop = Population::new(7);
        let hard = CaptureSpec {
            quality: QualityMode::Hard,
            eyes: EyesCaptured::None,
            ..CaptureSpec::default()
        };
        let typical = CaptureSpec {
            eyes: EyesCaptured::None,
            ..CaptureSpec::default()
        };
        let count = |spec: &CaptureSpec| -> usize {
            (0..10)
                .map(|id| {
                    let c = pop.capture(&pop.person(id), 1, spec);
                    c.fingers.iter().map(|f| f.minutiae.len()).sum::<usize>()
                })
                .sum()
        };
        // Same quality draw, but a dozen or more spurious minutiae per hard finger.
        assert!(count(&hard) > count(&typical) + 500);
        let p = pop.person(3);
        assert_eq!(
            pop.capture(&p, 2, &hard).quality,
            pop.capture(&p, 2, &typical).quality
        );
    }

    #[test]
    fn twins_share_birth_and_related_classes_but_not_minutiae() {
        let pop = Population::new(8);
        let mut same_class = 0;
        for id in 0..50 {
            let p = pop.person(id);
            let t = pop.twin(1000 + id, &p);
            assert_eq!(t.twin_of, Some(id));
            assert_eq!(t.demographics.dob, p.demographics.dob);
            assert_ne!(t.fingers[0].minutiae, p.fingers[0].minutiae);
            assert_ne!(t.irises, p.irises);
            same_class += p
                .classes()
                .iter()
                .zip(t.classes())
                .filter(|(a, b)| **a == *b)
                .count();
        }
        assert!(same_class > 300, "{same_class} of 500 classes shared");
    }
}
