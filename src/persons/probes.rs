//! What `eval persons` submits: each real person's enrolment, its later impressions as new
//! applicants, and chimeras, with synthetic irises attached as the mode asks.

use serde::Serialize;
use tunggal_datasets::population::{CaptureSpec, EyesCaptured, Population};
use tunggal_index::gallery::{Enrolment, IrisCode};

use super::load::RealPerson;
use super::Mode;
use crate::dedup::enrolment_of;

/// First synthetic person id whose irises a real person borrows (far from any background
/// or calibration id).
const IRIS_ID_BASE: u64 = 1 << 41;
/// Offset of the iris owners of chimeras (nobody enrolled has their irises).
const CHIMERA_IRIS_OFFSET: u64 = 1 << 20;

/// What a probe is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProbeKind {
    /// A later impression of real person `person` (its mate).
    Mated {
        /// Index of the person.
        person: usize,
    },
    /// A chimera: the finger at position `p` from person `sources[p]` (`None` where that
    /// person has no such finger or impression); non-mated.
    Chimera {
        /// Person index per position.
        sources: Vec<Option<usize>>,
        /// The most positions taken from any one person.
        max_shared_fingers: usize,
    },
}

/// One probe.
#[derive(Debug, Clone)]
pub struct Probe {
    /// `DB1_B/3` for impression 3 of person `DB1_B`; `chimera-0/3` for chimera 0 of
    /// impression 3.
    pub label: String,
    /// Impression number the fingers come from.
    pub impression: u32,
    /// What it is.
    pub kind: ProbeKind,
    /// What is submitted.
    pub enrolment: Enrolment,
}

/// Synthetic irises for real persons.
#[derive(Debug)]
pub struct Irises {
    population: Population,
    mode: Mode,
}

impl Irises {
    /// Irises drawn from a population of `seed`.
    pub fn new(seed: u64, mode: Mode) -> Self {
        Self {
            population: Population::new(seed),
            mode,
        }
    }

    fn codes(&self, owner: u64, number: u64, eyes: EyesCaptured) -> Vec<IrisCode> {
        let person = self.population.person(owner);
        let spec = CaptureSpec {
            usable_fingers: 0,
            eyes,
            ..CaptureSpec::default()
        };
        enrolment_of(&self.population.capture(&person, number, &spec), true).irises
    }

    /// The irises of real person `person`'s enrolment: both eyes, unless fingers only.
    pub fn enrolment(&self, person: usize) -> Vec<IrisCode> {
        match self.mode {
            Mode::Fingers => Vec::new(),
            Mode::Irises | Mode::OneEye => {
                self.codes(IRIS_ID_BASE + person as u64, 0, EyesCaptured::Both)
            }
        }
    }

    /// The irises of a later capture (`number` ≥ 1) of the iris owner `owner`: a new capture
    /// of the same eyes at genuine noise, both or one at random.
    fn probe(&self, owner: u64, number: u64) -> Vec<IrisCode> {
        match self.mode {
            Mode::Fingers => Vec::new(),
            Mode::Irises => self.codes(owner, number, EyesCaptured::Both),
            Mode::OneEye => self.codes(owner, number, EyesCaptured::One),
        }
    }
}

/// The enrolment of every person (its first impression).
pub fn enrolments(persons: &[RealPerson], irises: &Irises) -> Vec<Enrolment> {
    persons
        .iter()
        .enumerate()
        .map(|(k, p)| Enrolment {
            fingers: p.capture(0),
            irises: irises.enrolment(k),
        })
        .collect()
}

/// Every later impression of every person (mated), then the chimeras: for each person `k`
/// and each of its later impression numbers `j`, position `p` taken from impression `j` of
/// person `(k + p) mod P`. No chimeras with fewer than two persons (a chimera would be its
/// own person).
pub fn probes(persons: &[RealPerson], irises: &Irises) -> Vec<Probe> {
    let mut out = Vec::new();
    for (k, p) in persons.iter().enumerate() {
        for (i, &imp) in p.impressions.iter().enumerate().skip(1) {
            out.push(Probe {
                label: format!("{}/{imp}", p.name),
                impression: imp,
                kind: ProbeKind::Mated { person: k },
                enrolment: Enrolment {
                    fingers: p.capture(i),
                    irises: irises.probe(IRIS_ID_BASE + k as u64, u64::from(imp)),
                },
            });
        }
    }
    let n = persons.len();
    if n < 2 {
        return out;
    }
    let mut chimera = 0u64;
    for (k, p) in persons.iter().enumerate() {
        for &imp in p.impressions.iter().skip(1) {
            let positions = persons.iter().map(|q| q.fingers.len()).max().unwrap_or(0);
            let mut fingers = Vec::new();
            let mut sources = Vec::with_capacity(positions);
            for pos in 0..positions {
                let source = (k + pos) % n;
                match persons[source].template(imp, pos) {
                    Some(t) => {
                        fingers.push(t.clone());
                        sources.push(Some(source));
                    }
                    None => sources.push(None),
                }
            }
            let max_shared_fingers = (0..n)
                .map(|s| sources.iter().filter(|&&x| x == Some(s)).count())
                .max()
                .unwrap_or(0);
            out.push(Probe {
                label: format!("chimera-{k}/{imp}"),
                impression: imp,
                kind: ProbeKind::Chimera {
                    sources,
                    max_shared_fingers,
                },
                enrolment: Enrolment {
                    fingers,
                    irises: irises.probe(IRIS_ID_BASE + CHIMERA_IRIS_OFFSET + chimera, 1),
                },
            });
            chimera += 1;
        }
    }
    out
}
