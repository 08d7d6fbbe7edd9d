//! Shared harness of the review page tests.
//!
//! `ReviewEngine` is a TEST DOUBLE: it draws synthetic, deterministic evidence (minutiae
//! with known matched pairs, iris codes with a known fraction of flipped bits) and records
//! every `case_closed` call, so the tests can check what the service point would be told.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;
use tunggal::access::keys::KeySpec;
use tunggal::cases::{
    CaseCandidate, CaseKind, CaseOutcome, CaseOutcomeError, CaseOutcomeSink, CaseStore, Evidence,
    FingerComparison, IrisComparison, NewCase, PersonSummary, Sameness,
};
use tunggal::enrolment::record::{EnrolmentRecord, Origin, Probe};
use tunggal::enrolment::{Candidate, EngineError, EnrolmentEngine, Verdict, Verification};
use tunggal::service::{Service, ServiceConfig, ServiceError};
use tunggal_index::template::{FingerTemplate, Minutia, MinutiaKind};

pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef0123456789";

/// Test double engine: synthetic evidence, recorded outcomes.
#[derive(Default)]
pub struct ReviewEngine {
    pub closed: Mutex<Vec<(String, String, CaseOutcome)>>,
    /// The decision threshold the engine reports (none by default).
    pub threshold: Mutex<Option<f64>>,
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }
}

fn seed(a: &str, c: &str, k: u64) -> Lcg {
    let mut h = k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for b in a.bytes().chain(c.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
    }
    Lcg(h)
}

impl Evidence for ReviewEngine {
    fn finger(&self, a: &str, c: &str, position: u8) -> Option<FingerComparison> {
        let mut r = seed(a, c, u64::from(position));
        let m = |x: u32, y: u32, angle: u32| Minutia {
            x: x as u16,
            y: y as u16,
            angle: angle as u8,
            kind: MinutiaKind::Ending,
            quality: 60,
        };
        let applicant: Vec<Minutia> = (0..32)
            .map(|_| m(30 + r.next() % 340, 30 + r.next() % 440, r.next() % 256))
            .collect();
        let mut candidate = Vec::new();
        let mut pairs = Vec::new();
        for (i, p) in applicant.iter().enumerate() {
            if i % 4 != 3 {
                pairs.push((i, candidate.len()));
                candidate.push(m(
                    u32::from(p.x) + 8 + r.next() % 5,
                    u32::from(p.y) + 4 + r.next() % 5,
                    u32::from(p.angle),
                ));
            }
        }
        for _ in 0..6 {
            candidate.push(m(30 + r.next() % 340, 30 + r.next() % 440, r.next() % 256));
        }
        let t = |minutiae| FingerTemplate {
            width: 400,
            height: 500,
            position,
            quality: 70,
            minutiae,
        };
        // The same scores as the case's grid: the first candidate (P5…) scores by position,
        // the second (P7…) weakly everywhere.
        let score = if c.starts_with("P7") {
            0.03
        } else {
            BEST_FINGERS[usize::from(position) - 1].unwrap_or(0.0)
        };
        Some(FingerComparison {
            applicant: t(applicant),
            candidate: t(candidate),
            pairs,
            score,
        })
    }

    fn iris(&self, a: &str, c: &str, eye: usize) -> Option<IrisComparison> {
        let mut r = seed(a, c, 100 + eye as u64);
        let (angular, radial) = (256, 8);
        let n = angular * radial;
        let code: Vec<u8> = (0..n).map(|_| (r.next() & 1) as u8).collect();
        let mask: Vec<u8> = (0..n).map(|i| u8::from(i % angular > 20)).collect();
        let cand: Vec<u8> = code
            .iter()
            .map(|&b| if r.next().is_multiple_of(5) { 1 - b } else { b })
            .collect();
        let valid = mask.iter().filter(|&&m| m == 1).count();
        let differ = (0..n)
            .filter(|&i| mask[i] == 1 && code[i] != cand[i])
            .count();
        Some(IrisComparison {
            layout: "daugman-2048".into(),
            angular,
            radial,
            applicant_code: code,
            applicant_mask: mask.clone(),
            candidate_code: cand,
            candidate_mask: mask,
            rotation: 3,
            distance: differ as f32 / valid as f32,
        })
    }

    fn photo(&self, _reference_id: &str) -> Option<Vec<u8>> {
        None
    }

    fn signature(&self, _reference_id: &str) -> Option<Vec<u8>> {
        None
    }
}

impl CaseOutcomeSink for ReviewEngine {
    fn case_closed(
        &self,
        case_id: &str,
        applicant: &PersonSummary,
        outcome: &CaseOutcome,
    ) -> Result<(), CaseOutcomeError> {
        self.closed.lock().unwrap().push((
            case_id.to_owned(),
            applicant.request_id.clone(),
            outcome.clone(),
        ));
        Ok(())
    }
}

impl EnrolmentEngine for ReviewEngine {
    fn name(&self) -> &str {
        "review-test-double"
    }

    fn decision_threshold(&self) -> Option<f64> {
        *self.threshold.lock().unwrap()
    }

    fn enrol(&self, _record: &EnrolmentRecord) -> Result<Verdict, EngineError> {
        Err(EngineError::Unavailable("test double".into()))
    }

    fn identify(&self, _probe: &Probe, _max: usize) -> Result<Vec<Candidate>, EngineError> {
        Ok(Vec::new())
    }

    fn verify(&self, _reference_id: &str, _probe: &Probe) -> Result<Verification, EngineError> {
        Ok(Verification {
            matched: false,
            score: Some(0.0),
            threshold: 18.42,
            finger_scores: [None; 10],
            iris_distances: [None; 2],
        })
    }

    fn delete(&self, _reference_id: &str) -> Result<bool, EngineError> {
        Ok(false)
    }

    fn status(&self, _o: &Origin, _r: &str) -> Result<Option<Verdict>, EngineError> {
        Ok(None)
    }
}

pub fn person(n: u32, name: &str, district: &str, sp: &str) -> PersonSummary {
    PersonSummary {
        reference_id: format!("P{n:06}"),
        request_id: format!("req-{n:06}"),
        nik: format!(
            "{district}{:02}{:02}90{:04}",
            1 + n % 28,
            1 + n % 12,
            n % 10_000
        ),
        name: name.into(),
        sex: if n.is_multiple_of(2) {
            "F".into()
        } else {
            "M".into()
        },
        date_of_birth: format!("1990-{:02}-{:02}", 1 + n % 12, 1 + n % 28),
        district: district.into(),
        service_point: sp.into(),
        enrolled_at: "2026-11-25T03:00:00Z".into(),
        citizenship: "WNI".into(),
        passport_number: None,
        kitap_number: None,
        has_photo: false,
        has_signature: false,
    }
}

/// Finger scores of every case's first candidate: positions 5 and 10 are evidence against.
pub const BEST_FINGERS: [Option<f32>; 10] = [
    Some(0.31),
    Some(0.22),
    Some(0.12),
    Some(0.06),
    Some(0.02),
    Some(0.27),
    Some(0.18),
    None,
    Some(0.09),
    Some(0.004),
];

/// Opens `n` cases: every third in district 320101 (service point sp-bdg), scores rising.
pub fn seed_cases(store: &CaseStore, n: u32) -> Vec<String> {
    let names = [
        "Siti Rahayu",
        "Budi Santoso",
        "Dewi Lestari",
        "Agus Wijaya",
        "Rina Kusuma",
    ];
    (0..n)
        .map(|i| {
            let (district, sp) = if i % 3 == 0 {
                ("320101", "sp-bdg")
            } else {
                ("317101", "sp-jkt")
            };
            let name = names[i as usize % names.len()];
            let mut cand = person(500_000 + i, name, "317101", "sp-jkt");
            cand.date_of_birth = person(i, name, district, sp).date_of_birth;
            let mut new = NewCase {
                kind: CaseKind::Biometric,
                applicant: person(i, name, district, sp),
                candidates: vec![
                    CaseCandidate {
                        person: cand,
                        score: 10.0 + f64::from(i),
                        finger_scores: BEST_FINGERS,
                        iris_distances: [Some(0.21), Some(0.33)],
                        identical: Default::default(),
                    },
                    CaseCandidate {
                        person: person(700_000 + i, "Other Person", "350101", "sp-sby"),
                        score: 2.0,
                        finger_scores: [Some(0.03); 10],
                        iris_distances: [Some(0.45), None],
                        identical: Default::default(),
                    },
                ],
                callback_url: None,
                calibration: "test".into(),
            };
            if i == 3 {
                // The browser test's case: the search flagged the right thumb's template as
                // equal to the enrolled one and the right eye as near-identical.
                new.candidates[0].identical.fingers[0] = Some(Sameness::Exact);
                new.candidates[0].identical.eyes[0] = Some(Sameness::Near);
            }
            store.open_case(new).unwrap().case_id
        })
        .collect()
}

pub struct Running {
    pub addr: SocketAddr,
    pub engine: Arc<ReviewEngine>,
    pub cases: Arc<CaseStore>,
    pub analyst_a: String,
    pub analyst_b: String,
    /// A supervisor (an analyst who may release another analyst's hold).
    pub supervisor: String,
    pub service_point: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ServiceError>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

pub async fn start(dir: &Path, cases: u32) -> Running {
    let config = ServiceConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        ..ServiceConfig::default()
    };
    let store = Arc::new(CaseStore::open(dir).unwrap());
    seed_cases(&store, cases);
    let engine = Arc::new(ReviewEngine::default());
    let service = Service::bind(config, engine.clone(), store.clone(), Some(ADMIN_KEY))
        .await
        .unwrap();
    let keys = &service.app().keys;
    let key = |spec| keys.create(&spec, "test").unwrap().0;
    let analyst_a = key(KeySpec::parse("analyst", "Ana Analyst", None, None).unwrap());
    let analyst_b = key(KeySpec::parse("analyst", "Budi Reviewer", None, None).unwrap());
    let supervisor = key(KeySpec::parse("supervisor", "Sari Supervisor", None, None).unwrap());
    let service_point =
        key(KeySpec::parse("service-point", "Loket 1", Some("317101"), Some("sp-jkt")).unwrap());
    let addr = service.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(service.run(async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        engine,
        cases: store,
        analyst_a,
        analyst_b,
        supervisor,
        service_point,
        stop: Some(tx),
        task,
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// The `name=value` of each `Set-Cookie`.
    pub fn cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(str::to_owned)
            .collect()
    }

    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }

    /// The value of the first hidden `csrf` input.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field");
        let rest = &self.body[at + 19..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        char::from(b).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={enc}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub async fn send(
    method: Method,
    url: &str,
    cookie: Option<&str>,
    bearer: Option<&str>,
    form_body: Option<String>,
) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(url);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if let Some(k) = bearer {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    if form_body.is_some() {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    let req = req
        .body(Full::new(Bytes::from(form_body.unwrap_or_default())))
        .unwrap();
    let response = client.request(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Logs in with `key` over plain HTTP; the session cookie (`name=value`), or the failed reply.
pub async fn login(s: &Running, key: &str) -> Result<String, Reply> {
    login_at(&s.url(""), key).await
}

/// Logs in with `key` on the server at `base` (`http://host:port`).
pub async fn login_at(base: &str, key: &str) -> Result<String, Reply> {
    let page = send(
        Method::GET,
        &format!("{base}/review/login"),
        None,
        None,
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let login_cookie = page.cookies().into_iter().next().unwrap();
    let reply = send(
        Method::POST,
        &format!("{base}/review/login"),
        Some(&login_cookie),
        None,
        Some(form(&[("csrf", &page.csrf()), ("key", key)])),
    )
    .await;
    if reply.status == StatusCode::SEE_OTHER {
        let session = reply
            .cookies()
            .into_iter()
            .find(|c| c.starts_with("tgl_review=") && c.len() > 11)
            .unwrap();
        Ok(session)
    } else {
        Err(reply)
    }
}
