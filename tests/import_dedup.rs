//! `tunggal import` and `tunggal dedup-gallery` over a generated request directory: a
//! resumed import enrols each record exactly once, the server then finds a new capture of an
//! imported person, and the gallery deduplication opens exactly the planted pairs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tunggal::cases::{CaseKind, CaseStore};
use tunggal::engine::{EngineOptions, GalleryEngine};
use tunggal::loadgen::requests::{BodyBuilder, Planned, RequestPlanner};
use tunggal::ops::dedup_gallery::{dedup_gallery, DedupOptions};
use tunggal::ops::import::{import, ImportOptions, REJECTS_NAME};
use tunggal::service::{Service, ServiceConfig};

const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef0123456789";
const SEED: u64 = 23;
const PERSONS: usize = 40;

fn open_engine(dir: &Path) -> GalleryEngine {
    std::fs::create_dir_all(dir).unwrap();
    let cases = Arc::new(CaseStore::open(dir).unwrap());
    let options = EngineOptions {
        calibration: tunggal::dedup::synthetic_calibration(120),
        ..EngineOptions::default()
    };
    GalleryEngine::open(dir, cases, options).unwrap()
}

fn write(dir: &Path, builder: &BodyBuilder, plans: &[Planned]) {
    std::fs::create_dir_all(dir).unwrap();
    for p in plans {
        let body = builder.enrolment(p, None).unwrap();
        let path = dir.join(format!("{:06}.json", p.index + 1));
        std::fs::write(path, serde_json::to_vec(&body).unwrap()).unwrap();
    }
}

fn options(input: &Path, data: &Path) -> ImportOptions {
    ImportOptions {
        input: input.to_path_buf(),
        data_dir: data.to_path_buf(),
        chunk: 8,
        restart: false,
    }
}

async fn post_enrolment(url: &str, body: &Value) -> (StatusCode, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header("authorization", format!("Bearer {ADMIN_KEY}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap())))
        .unwrap();
    let response = client.request(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[test]
fn import_resumes_without_doubles_and_dedup_gallery_opens_the_planted_pairs() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, data) = (tmp.path().join("in"), tmp.path().join("data"));
    let mut planner = RequestPlanner::new(SEED, 0.2, 0, "imp-");
    let plans: Vec<Planned> = planner.by_ref().take(PERSONS).collect();
    let builder = BodyBuilder::new(SEED);
    let dups = plans.iter().filter(|p| p.duplicate_of.is_some()).count();
    assert!(dups >= 3, "the plan should hold a few planted duplicates");

    // A first run sees only a prefix of the directory (an import killed part-way).
    write(&input, &builder, &plans[..13]);
    std::fs::write(input.join("000013x.json"), b"{not json").unwrap();
    let engine = open_engine(&data);
    let first = import(&engine, &options(&input, &data), &mut |_, _| {}).unwrap();
    assert_eq!((first.imported, first.rejected), (13, 1));
    drop(engine);

    // The rest arrives; the rerun resumes after the checkpoint.
    write(&input, &builder, &plans[13..]);
    let engine = open_engine(&data);
    let second = import(&engine, &options(&input, &data), &mut |_, _| {}).unwrap();
    assert_eq!(second.resumed_from, 14);
    assert_eq!(second.imported, PERSONS - 13);
    assert_eq!(second.rejected, 0);
    let rejects = std::fs::read_to_string(data.join(REJECTS_NAME)).unwrap();
    assert_eq!(rejects.lines().count(), 1);
    assert!(
        rejects.starts_with("000013x.json\tmalformed_json\t"),
        "{rejects}"
    );
    // Without the checkpoint everything is read again, and nothing is enrolled twice.
    let again = import(
        &engine,
        &ImportOptions {
            restart: true,
            ..options(&input, &data)
        },
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!((again.imported, again.already_present), (0, PERSONS));
    assert_eq!(engine.gallery().len(), PERSONS);
    assert_eq!(engine.registry().len(), PERSONS);
    for p in &plans {
        let body = builder.enrolment(p, None).unwrap();
        let e = engine
            .registry()
            .by_request(&body.district, &body.service_point, &p.request_id)
            .unwrap_or_else(|| panic!("{} not imported", p.request_id));
        assert!(engine.gallery().snapshot().contains(e.key));
    }

    // Every unordered pair of requests of one synthetic person is a planted pair.
    let mut by_person: HashMap<u64, Vec<&str>> = HashMap::new();
    for p in &plans {
        by_person
            .entry(p.person_id)
            .or_default()
            .push(&p.request_id);
    }
    let mut planted = BTreeSet::new();
    for ids in by_person.values() {
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                planted.insert((a.min(b).to_string(), a.max(b).to_string()));
            }
        }
    }
    let dedup = DedupOptions {
        data_dir: data.clone(),
        batch: 8,
        threshold: None,
        restart: false,
    };
    let report = dedup_gallery(&engine, &dedup, &mut |_, _| {}).unwrap();
    assert_eq!(report.probed, PERSONS);
    let mut found = BTreeSet::new();
    engine
        .cases()
        .for_each(|c| {
            assert_eq!(c.kind(), CaseKind::GalleryPair);
            assert_eq!(c.new.candidates.len(), 1);
            let a = c.new.applicant.request_id.clone();
            let b = c.new.candidates[0].person.request_id.clone();
            assert_ne!(a, b, "a person paired with itself");
            assert!(a > b, "the applicant is the later enrolment");
            assert!(found.insert((b, a)), "two cases for one pair");
        })
        .unwrap();
    assert_eq!(found, planted);
    assert_eq!(report.opened, planted.len());
    // A rerun from the start opens nothing new.
    let rerun = dedup_gallery(
        &engine,
        &DedupOptions {
            restart: true,
            ..dedup.clone()
        },
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(rerun.opened, 0);
    assert_eq!(rerun.existing, planted.len());
    assert_eq!(engine.cases().len(), planted.len());
    drop(engine);

    // The server on the imported data directory finds a new capture of an imported person.
    let first_single = plans.iter().find(|p| p.duplicate_of.is_none()).unwrap();
    let probe = planner.again(&first_single.request_id, first_single.person_id);
    let probe_body = serde_json::to_value(builder.enrolment(&probe, None).unwrap()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let config = ServiceConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data.clone(),
            ..ServiceConfig::default()
        };
        let d = data.clone();
        let engine = tokio::task::spawn_blocking(move || open_engine(&d))
            .await
            .unwrap();
        let cases = engine.cases().clone();
        let engine = Arc::new(engine);
        let service = Service::bind(config, engine, cases, Some(ADMIN_KEY))
            .await
            .unwrap();
        let addr = service.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(service.run(async move {
            let _ = rx.await;
        }));
        let (status, verdict) =
            post_enrolment(&format!("http://{addr}/v1/enrolments"), &probe_body).await;
        assert_eq!(status, StatusCode::OK, "{verdict}");
        assert_eq!(verdict["verdict"], "duplicate", "{verdict}");
        let candidates = verdict["candidates"].as_array().unwrap();
        assert!(
            candidates
                .iter()
                .any(|c| c["request_id"] == first_single.request_id.as_str()),
            "{verdict}"
        );
        let _ = tx.send(());
        task.await.unwrap().unwrap();
    });
}

/// A pair analysts decided is never opened again: a returning person's duplicate case is
/// cleared (the applicant joins the gallery), and `dedup-gallery` then finds the pair but
/// opens nothing for it.
#[test]
fn dedup_gallery_never_reopens_a_pair_analysts_cleared() {
    use tunggal::cases::{CaseOutcome, CaseOutcomeSink};
    use tunggal::enrolment::{EnrolmentEngine, Verdict};

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let engine = open_engine(&data);
    let mut planner = RequestPlanner::new(SEED, 0.0, 0, "keep-");
    let builder = BodyBuilder::new(SEED);
    let first = planner.next().unwrap();
    let again = planner.again(&first.request_id, first.person_id);
    let today = tunggal_datasets::date::Date::from_day_number(20_800);
    let record = |p: &Planned| {
        let body = builder.enrolment(p, None).unwrap();
        tunggal::enrolment::validate::enrolment(&body, today).unwrap()
    };
    assert!(matches!(
        engine.enrol(&record(&first)).unwrap(),
        Verdict::Single { .. }
    ));
    let Verdict::Duplicate {
        case_id: Some(case_id),
        ..
    } = engine.enrol(&record(&again)).unwrap()
    else {
        panic!("the returning person must be a duplicate with a case");
    };
    let case = engine.cases().get(&case_id).unwrap();
    engine
        .case_closed(&case_id, &case.new.applicant, &CaseOutcome::Cleared)
        .unwrap();
    assert_eq!(
        engine.gallery().len(),
        2,
        "the cleared applicant joins the gallery"
    );
    let cases_before = engine.cases().len();

    let report = dedup_gallery(
        &engine,
        &DedupOptions {
            data_dir: data.clone(),
            batch: 8,
            threshold: None,
            restart: false,
        },
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(report.pairs, 1, "the pair is still found");
    assert_eq!(report.existing, 1);
    assert_eq!(report.opened, 0, "a decided pair is never reopened");
    assert_eq!(engine.cases().len(), cases_before);
}

/// Enrolment bodies whose fingers and eyes are images (FVC2002 TIFFs, CASIA-IrisV1 JPEGs) are
/// imported as the HTTP API enrols them: the images are kept for analysts with their measured
/// quality. Skipped, saying why, when the shared data sets are absent.
#[test]
fn imported_images_are_kept_with_their_quality() {
    use base64::Engine as _;
    use tunggal::enrolment::wire::{FingerImageIn, FingerprintIn, IrisImageIn, IrisIn};
    let shared = std::env::var_os("TUNGGAL_SHARED_DATASETS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"),
        std::path::PathBuf::from,
    );
    let tif = |finger: u32| shared.join(format!("fvc2002-images/DB1_B/{finger}_1.tif"));
    let jpg = |class: u32| {
        shared.join(format!(
            "iris-images/casia-v1/{class:03}/U/{class:03}_1_1.jpg"
        ))
    };
    if let Some(absent) = [tif(101), jpg(1)].into_iter().find(|p| !p.exists()) {
        eprintln!("skipping: {} is absent", absent.display());
        return;
    }
    let b64 =
        |p: &Path| base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let (input, data) = (tmp.path().join("in"), tmp.path().join("data"));
    let builder = BodyBuilder::new(SEED);
    let plan = RequestPlanner::new(SEED, 0.0, 500, "img-").next().unwrap();
    let mut body = builder.enrolment(&plan, None).unwrap();
    body.fingerprints = (101..=110u32)
        .map(|finger| FingerprintIn {
            position: i64::from(finger - 100),
            format: None,
            quality: None,
            template: None,
            image: Some(FingerImageIn {
                format: "tiff".into(),
                data: b64(&tif(finger)),
                ppi: Some(500.0),
            }),
        })
        .collect();
    body.irises = [("right", 1), ("left", 2)]
        .into_iter()
        .map(|(eye, class)| IrisIn {
            eye: eye.into(),
            layout: None,
            code: None,
            mask: None,
            image: Some(IrisImageIn {
                format: "jpeg".into(),
                data: b64(&jpg(class)),
            }),
        })
        .collect();
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(
        input.join("000001.json"),
        serde_json::to_vec(&body).unwrap(),
    )
    .unwrap();
    let engine = open_engine(&data);
    assert_eq!(engine.image_store_bytes().unwrap(), 0);
    let report = import(&engine, &options(&input, &data), &mut |_, _| {}).unwrap();
    assert_eq!((report.imported, report.rejected), (1, 0));
    let e = engine
        .registry()
        .by_request(&body.district, &body.service_point, &plan.request_id)
        .unwrap();
    let reference = e.meta.summary.reference_id.clone();
    for position in 1..=10u8 {
        let info = engine
            .finger_print_info(&reference, position)
            .unwrap_or_else(|| panic!("finger {position} not kept"));
        assert!(info.quality > 0, "finger {position}: {info:?}");
    }
    for eye in 0..2 {
        let info = engine
            .eye_image_info(&reference, eye)
            .unwrap_or_else(|| panic!("eye {eye} not kept"));
        assert!(info.unusable.is_none(), "eye {eye}: {info:?}");
    }
    // The JPEG eyes are kept as received; the TIFF fingers as PNG (16 header bytes each).
    let eyes: u64 = [1, 2]
        .iter()
        .map(|c| std::fs::metadata(jpg(*c)).unwrap().len())
        .sum();
    assert!(engine.image_store_bytes().unwrap() > eyes + 12 * 16);
}
