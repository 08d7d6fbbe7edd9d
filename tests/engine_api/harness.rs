//! The harness of the engine tests: the real server and engine, requests and keys.

pub(crate) use std::path::Path;
pub(crate) use std::sync::Arc;

pub(crate) use hyper::{Method, StatusCode};
pub(crate) use serde_json::{json, Value};
pub(crate) use tunggal::cases::{CaseOutcome, CaseOutcomeSink, CaseStore, Evidence};
pub(crate) use tunggal::engine::synthetic::request_of;
pub(crate) use tunggal::engine::{EngineOptions, GalleryEngine};
pub(crate) use tunggal::service::callbacks::CallbackConfig;
pub(crate) use tunggal::service::{Service, ServiceConfig};
pub(crate) use tunggal_datasets::population::{CaptureSpec, Population};

pub(crate) const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef0123456789";
pub(crate) const SEED: u64 = 11;

pub(crate) use crate::http_support::{request, send, Auth, Reply, Server};

pub(crate) struct Running {
    pub(crate) server: Server,
    pub(crate) engine: Option<Arc<GalleryEngine>>,
}

impl Running {
    pub(crate) fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    pub(crate) async fn stop(self) {
        let Self { server, engine } = self;
        server.stop().await;
        drop(engine);
    }

    pub(crate) fn engine(&self) -> &GalleryEngine {
        self.engine.as_ref().unwrap()
    }
}

/// Callbacks to the loopback receivers of these tests: allowed by host and address.
pub(crate) fn loopback_callbacks() -> CallbackConfig {
    CallbackConfig {
        allowed_hosts: vec!["127.0.0.1".to_owned()],
        allow_private_addresses: true,
        ..CallbackConfig::default()
    }
}

pub(crate) async fn start(dir: &Path) -> Running {
    start_with(dir, loopback_callbacks()).await
}

pub(crate) async fn start_with(dir: &Path, callbacks: CallbackConfig) -> Running {
    start_limited(dir, callbacks, 1024 * 1024).await
}

/// [`start_with`] with a body limit of `body_limit_bytes`.
pub(crate) async fn start_limited(
    dir: &Path,
    callbacks: CallbackConfig,
    body_limit_bytes: usize,
) -> Running {
    let config = ServiceConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        body_limit_bytes,
        request_timeout_secs: 120,
        queue_capacity: 16,
        shutdown_grace_secs: 30,
        callbacks,
        ..ServiceConfig::default()
    };
    let cases = Arc::new(CaseStore::open(dir).unwrap());
    let (d, c) = (dir.to_path_buf(), cases.clone());
    let engine = tokio::task::spawn_blocking(move || {
        let options = EngineOptions {
            calibration: tunggal::dedup::synthetic_calibration(120),
            ..EngineOptions::default()
        };
        GalleryEngine::open(&d, c, options)
    })
    .await
    .unwrap()
    .unwrap();
    let policy = config.callbacks.delivery_policy();
    engine.set_notifier(tunggal::engine::callback::spawn_durable(dir, None, policy).unwrap());
    let engine = Arc::new(engine);
    let service = Service::bind(config, engine.clone(), cases, Some(ADMIN_KEY))
        .await
        .unwrap();
    Running {
        server: Server::run(service),
        engine: Some(engine),
    }
}

/// A review page request with an optional session cookie (no body).
pub(crate) async fn page(url: &str, cookie: Option<&str>) -> Reply {
    let auth = cookie.map_or(Auth::Anonymous, Auth::Cookie);
    request(Method::GET, url, auth, None).await
}

/// Logs in to the review pages with `key`: the session cookie, or the refusal (the review
/// tests' log-in, `tests/review_support`).
pub(crate) async fn review_login(
    s: &Running,
    key: &str,
) -> Result<String, crate::review_support::Reply> {
    crate::review_support::login_at(&s.url(""), key).await
}

/// The synthetic image fixtures, written at test time by
/// `index/tests/fixtures/images/make_fixtures.py`, or `None` with a printed reason (python3,
/// the NBIS `wsq` package or Pillow absent).
pub(crate) fn image_fixtures() -> Option<ImageFixtures> {
    let index = Path::new(env!("CARGO_MANIFEST_DIR")).join("index");
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    match crate::image_fixtures::generated_fixtures(&index, tmp) {
        Ok(dir) => Some(ImageFixtures(dir)),
        Err(why) => {
            eprintln!("skipping: the synthetic image fixtures cannot be generated: {why}");
            None
        }
    }
}

/// The folder of generated image fixtures.
#[derive(Debug)]
pub(crate) struct ImageFixtures(std::path::PathBuf);

impl ImageFixtures {
    /// The bytes of fixture `name`.
    pub(crate) fn read(&self, name: &str) -> Vec<u8> {
        let path = self.0.join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

pub(crate) async fn post(url: &str, key: &str, body: &Value) -> Reply {
    send(
        Method::POST,
        url,
        Some(key),
        Some(serde_json::to_vec(body).unwrap()),
    )
    .await
}

pub(crate) async fn get(url: &str, key: &str) -> Reply {
    send(Method::GET, url, Some(key), None).await
}

pub(crate) async fn key(s: &Running, body: Value) -> String {
    let r = post(&s.url("/v1/admin/keys"), ADMIN_KEY, &body).await;
    assert_eq!(r.status, StatusCode::CREATED);
    r.json()["key"].as_str().unwrap().to_owned()
}

pub(crate) async fn sp_key(s: &Running, sp: &str) -> String {
    key(
        s,
        json!({"role": "service-point", "name": sp, "district": "317101", "service_point": sp}),
    )
    .await
}

/// The request body of capture `number` of person `id`; `alias` presents another identity.
pub(crate) fn body(
    pop: &Population,
    id: u64,
    number: u64,
    alias: Option<u64>,
    rid: &str,
    sp: &str,
) -> Value {
    let spec = CaptureSpec {
        alias,
        ..CaptureSpec::default()
    };
    let capture = pop.capture(&pop.person(id), number, &spec);
    serde_json::to_value(request_of(&capture, rid, "317101", sp)).unwrap()
}

pub(crate) async fn enrol(s: &Running, key: &str, body: &Value) -> Value {
    let r = post(&s.url("/v1/enrolments"), key, body).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

/// An image finger object of a request.
pub(crate) fn image_finger(position: u8, format: &str, bytes: &[u8], ppi: Option<f64>) -> Value {
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut image = json!({"format": format, "data": data});
    if let Some(ppi) = ppi {
        image["ppi"] = json!(ppi);
    }
    json!({"position": position, "image": image})
}

/// The FVC2002 images of the shared data set, or `None` with a printed reason.
pub(crate) fn fvc_root() -> Option<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/fvc2002-images");
    if root.join("DB1_B/101_1.tif").exists() {
        Some(root)
    } else {
        eprintln!("skipping the FVC2002 part: {} is absent", root.display());
        None
    }
}

/// Ten FVC2002 DB1_B fingers (101…110) of impression `impression` as TIFF image fingers at
/// positions 1–10, and their bytes.
pub(crate) fn fvc_fingers(root: &Path, impression: u32) -> (Vec<Value>, usize) {
    let mut bytes = 0;
    let fingers = (1..=10u8)
        .map(|pos| {
            let path = root.join(format!("DB1_B/{}_{impression}.tif", 100 + u32::from(pos)));
            let tif = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            bytes += tif.len();
            image_finger(pos, "tiff", &tif, Some(500.0))
        })
        .collect();
    (fingers, bytes)
}

/// An enrolment of `fingerprints` (images, templates or both) from service point `sp-img`.
pub(crate) fn image_enrolment(rid: &str, nik: &str, fingerprints: Vec<Value>) -> Value {
    json!({
        "request_id": rid,
        "nik": nik,
        "name": "Sidik Jari",
        "sex": "male",
        "date_of_birth": "1990-01-01",
        "district": "317101",
        "service_point": "sp-img",
        "citizenship": "WNI",
        "fingerprints": fingerprints,
    })
}
