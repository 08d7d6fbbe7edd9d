//! Ready-to-send `POST /v1/enrolments` bodies from the synthetic population, with ground truth.
//!
//! A [`RequestPlanner`] decides, in submission order, who each request enrols: a new person
//! (expected `single`) or a new capture of a person enrolled earlier in the same stream under
//! an alias, that is another name, NIK and district (expected `duplicate`). Planning is cheap
//! and sequential; [`BodyBuilder`] turns a plan into a body and is safe to call in parallel.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tunggal_datasets::nik::Sex;
use tunggal_datasets::output::iso::encode_template;
use tunggal_datasets::output::manifest::FINGER_FORMAT;
use tunggal_datasets::output::OutputError;
use tunggal_datasets::population::{Capture, CaptureSpec, Population};

use crate::enrolment::wire::{EnrolmentRequest, FingerprintIn, IdentifyRequest, IrisIn};

/// What the engine should answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    /// A person not enrolled before.
    Single,
    /// A new capture of a person enrolled earlier.
    Duplicate,
}

/// One planned request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Position in submission order, from 0.
    pub index: u64,
    /// The request's `request_id`.
    pub request_id: String,
    /// Ground-truth person id in the population.
    pub person_id: u64,
    /// Capture number of the person (0 for the first enrolment).
    pub capture: u64,
    /// Alias variant presented (duplicates come under another name, NIK and district).
    pub alias: Option<u64>,
    /// The expected verdict.
    pub expected: Expected,
    /// For duplicates: the `request_id` that first enrolled the person.
    pub duplicate_of: Option<String>,
}

/// One line of `truth.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthLine {
    /// The request's `request_id`.
    pub request_id: String,
    /// Ground-truth person id.
    pub person_id: u64,
    /// `single` or `duplicate`.
    pub expected: Expected,
    /// For duplicates: the earlier `request_id` of the same person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
}

impl From<&Planned> for TruthLine {
    fn from(p: &Planned) -> Self {
        Self {
            request_id: p.request_id.clone(),
            person_id: p.person_id,
            expected: p.expected,
            duplicate_of: p.duplicate_of.clone(),
        }
    }
}

/// Decides who each request enrols, in submission order.
#[derive(Debug)]
pub struct RequestPlanner {
    prefix: String,
    duplicate_ratio: f64,
    rng: StdRng,
    next_index: u64,
    next_person: u64,
    /// `(request_id, person_id)` of every first enrolment so far.
    singles: Vec<(String, u64)>,
}

impl RequestPlanner {
    /// A planner whose new people are population ids `first_person`, `first_person + 1`, …
    /// and whose request ids are `{prefix}{index + 1:06}`.
    pub fn new(seed: u64, duplicate_ratio: f64, first_person: u64, prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            duplicate_ratio: duplicate_ratio.clamp(0.0, 1.0),
            rng: StdRng::seed_from_u64(seed ^ 0x6c6f_6164_6765_6e00),
            next_index: 0,
            next_person: first_person,
            singles: Vec::new(),
        }
    }

    /// The next population id a new person would take.
    pub fn next_person(&self) -> u64 {
        self.next_person
    }

    /// Requests that first enrolled someone, as `(request_id, person_id)`.
    pub fn singles(&self) -> &[(String, u64)] {
        &self.singles
    }

    fn take_index(&mut self) -> (u64, String) {
        let index = self.next_index;
        self.next_index += 1;
        (index, format!("{}{:06}", self.prefix, index + 1))
    }

    /// A request that enrols a person not seen before.
    pub fn new_person(&mut self) -> Planned {
        let (index, request_id) = self.take_index();
        let person_id = self.next_person;
        self.next_person += 1;
        self.singles.push((request_id.clone(), person_id));
        Planned {
            index,
            request_id,
            person_id,
            capture: 0,
            alias: None,
            expected: Expected::Single,
            duplicate_of: None,
        }
    }

    /// A request that enrols `person_id` again under an alias; `first` is the request that
    /// enrolled the person.
    pub fn again(&mut self, first: &str, person_id: u64) -> Planned {
        let (index, request_id) = self.take_index();
        Planned {
            index,
            request_id,
            person_id,
            capture: 1 + index,
            alias: Some(index),
            expected: Expected::Duplicate,
            duplicate_of: Some(first.to_owned()),
        }
    }

    /// An earlier first enrolment chosen at random, if any.
    pub fn random_single(&mut self) -> Option<(String, u64)> {
        if self.singles.is_empty() {
            return None;
        }
        let i = self.rng.gen_range(0..self.singles.len());
        self.singles.get(i).cloned()
    }

    /// A uniform draw in `[0, 1)` from the planner's stream (for callers' own decisions).
    pub fn draw(&mut self) -> f64 {
        self.rng.gen::<f64>()
    }
}

impl Iterator for RequestPlanner {
    type Item = Planned;

    fn next(&mut self) -> Option<Planned> {
        let returning = !self.singles.is_empty() && self.rng.gen_bool(self.duplicate_ratio);
        if returning {
            if let Some((first, person)) = self.random_single() {
                return Some(self.again(&first, person));
            }
        }
        Some(self.new_person())
    }
}

/// Where a request is submitted from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// District `PPRRDD` of the service point.
    pub district: String,
    /// Service point id.
    pub service_point: String,
}

/// Builds bodies from plans.
#[derive(Debug, Clone)]
pub struct BodyBuilder {
    population: Population,
}

/// Service point id used when a body is built without an explicit origin.
pub const DEFAULT_SERVICE_POINT: &str = "sp-01";

impl BodyBuilder {
    /// A builder over `Population::new(seed)`.
    pub fn new(seed: u64) -> Self {
        Self {
            population: Population::new(seed),
        }
    }

    /// The capture a plan describes.
    pub fn capture(&self, p: &Planned) -> Capture {
        let person = self.population.person(p.person_id);
        let spec = CaptureSpec {
            alias: p.alias,
            ..CaptureSpec::default()
        };
        self.population.capture(&person, p.capture, &spec)
    }

    /// The enrolment body of a plan. Without `origin`, it is submitted from the presented
    /// identity's own district at [`DEFAULT_SERVICE_POINT`].
    pub fn enrolment(
        &self,
        p: &Planned,
        origin: Option<&Origin>,
    ) -> Result<EnrolmentRequest, OutputError> {
        let c = self.capture(p);
        let d = &c.demographics;
        let (fingerprints, irises) = biometrics(&c)?;
        Ok(EnrolmentRequest {
            request_id: p.request_id.clone(),
            nik: d.nik.to_string(),
            name: d.name.clone(),
            sex: match d.sex {
                Sex::Male => "male",
                Sex::Female => "female",
            }
            .to_owned(),
            date_of_birth: d.dob.to_string(),
            district: origin.map_or_else(|| d.district.code(), |o| o.district.clone()),
            service_point: origin.map_or_else(
                || DEFAULT_SERVICE_POINT.to_owned(),
                |o| o.service_point.clone(),
            ),
            citizenship: "WNI".to_owned(),
            passport_number: None,
            kitap_number: None,
            fingerprints,
            irises,
            photo: None,
            signature: None,
            callback_url: None,
        })
    }

    /// An identification body: a fresh capture (number `capture`) of `person_id`.
    pub fn identify(
        &self,
        request_id: &str,
        person_id: u64,
        capture: u64,
    ) -> Result<IdentifyRequest, OutputError> {
        let person = self.population.person(person_id);
        let c = self
            .population
            .capture(&person, capture, &CaptureSpec::default());
        let (fingerprints, irises) = biometrics(&c)?;
        Ok(IdentifyRequest {
            request_id: request_id.to_owned(),
            fingerprints,
            irises,
            max_candidates: None,
        })
    }

    /// The NIK a person is registered under (their own, not an alias).
    pub fn nik(&self, person_id: u64) -> String {
        self.population
            .person(person_id)
            .demographics
            .nik
            .to_string()
    }
}

/// The wire fingerprints and irises of a capture.
pub fn biometrics(c: &Capture) -> Result<(Vec<FingerprintIn>, Vec<IrisIn>), OutputError> {
    let fingerprints = c
        .fingers
        .iter()
        .map(|t| {
            Ok(FingerprintIn {
                position: i64::from(t.position),
                format: Some(FINGER_FORMAT.to_owned()),
                quality: Some(i64::from(t.quality)),
                template: Some(STANDARD.encode(encode_template(t)?)),
                image: None,
            })
        })
        .collect::<Result<Vec<_>, OutputError>>()?;
    let irises = c
        .irises
        .iter()
        .map(|i| IrisIn {
            eye: match i.eye {
                tunggal_datasets::iris_source::Eye::Left => "left",
                tunggal_datasets::iris_source::Eye::Right => "right",
            }
            .to_owned(),
            layout: Some(i.layout.clone()),
            code: Some(STANDARD.encode(&i.code)),
            mask: Some(STANDARD.encode(&i.mask)),
            image: None,
        })
        .collect();
    Ok((fingerprints, irises))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrolment::validate;
    use tunggal_datasets::date::Date;

    #[test]
    fn plans_are_deterministic_and_duplicates_point_back() {
        let a: Vec<_> = RequestPlanner::new(3, 0.4, 0, "r-").take(200).collect();
        let b: Vec<_> = RequestPlanner::new(3, 0.4, 0, "r-").take(200).collect();
        assert_eq!(a, b);
        let dups = a
            .iter()
            .filter(|p| p.expected == Expected::Duplicate)
            .count();
        assert!((50..=110).contains(&dups), "{dups} duplicates of 200");
        for p in &a {
            if let Some(first) = &p.duplicate_of {
                let f = a.iter().find(|q| &q.request_id == first).unwrap();
                assert!(f.index < p.index);
                assert_eq!(f.person_id, p.person_id);
                assert_eq!(f.expected, Expected::Single);
            }
        }
        assert_eq!(a[0].request_id, "r-000001");
    }

    #[test]
    fn bodies_pass_validation_and_duplicates_change_identity() {
        let today = Date::new(2026, 1, 1).unwrap();
        let builder = BodyBuilder::new(5);
        let plans: Vec<_> = RequestPlanner::new(5, 0.5, 0, "v-").take(12).collect();
        for p in &plans {
            let body = builder.enrolment(p, None).unwrap();
            let record = validate::enrolment(&body, today)
                .unwrap_or_else(|e| panic!("{} invalid: {e:?}", p.request_id));
            assert_eq!(record.probe.fingers.len(), 10);
            assert_eq!(record.probe.irises.len(), 2);
            if let Some(first) = &p.duplicate_of {
                let f = plans.iter().find(|q| &q.request_id == first).unwrap();
                let fb = builder.enrolment(f, None).unwrap();
                assert_ne!(fb.nik, body.nik);
                assert_ne!(fb.name, body.name);
                assert_ne!(fb.fingerprints, body.fingerprints);
            }
        }
        let origin = Origin {
            district: "317101".into(),
            service_point: "sp-7".into(),
        };
        let body = builder.enrolment(&plans[0], Some(&origin)).unwrap();
        assert_eq!(body.district, "317101");
        assert!(validate::enrolment(&body, today).is_ok());
        let id = builder.identify("i-1", plans[0].person_id, 99).unwrap();
        assert!(validate::identify(&id).is_ok());
    }
}
