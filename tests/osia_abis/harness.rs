//! The harness: the real server with the OSIA routes composed, requests, keys, a loopback
//! callback receiver, test images, and the OpenAPI document every answer is checked
//! against.

pub(crate) use std::path::{Path, PathBuf};
pub(crate) use std::sync::Arc;

use std::collections::BTreeSet;
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
pub(crate) use hyper::{Method, StatusCode};
pub(crate) use serde_json::{json, Value};
use tunggal::cases::CaseStore;
use tunggal::engine::{EngineOptions, GalleryEngine};
use tunggal::osia::{HostCheck, OsiaApp};
use tunggal::service::callbacks::CallbackConfig;
use tunggal::service::{Service, ServiceConfig};

pub(crate) use crate::http_support::{Reply, Server};

pub(crate) const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef0123456789";

pub(crate) struct Running {
    pub(crate) server: Server,
    pub(crate) engine: Option<Arc<GalleryEngine>>,
}

impl Running {
    /// The URL of an OSIA path (`/v1/…`, served under `/osia`).
    pub(crate) fn osia(&self, path: &str) -> String {
        self.server.url(&format!("/osia{path}"))
    }

    pub(crate) fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    pub(crate) fn engine(&self) -> &GalleryEngine {
        self.engine.as_ref().unwrap()
    }

    pub(crate) async fn stop(self) {
        let Self { server, engine } = self;
        server.stop().await;
        drop(engine);
    }
}

/// Starts the service with the OSIA routes on `dir`; callbacks allowed to loopback.
pub(crate) async fn start(dir: &Path) -> Running {
    let callbacks = CallbackConfig {
        allowed_hosts: vec!["127.0.0.1".to_owned()],
        allow_private_addresses: true,
        max_attempts: 3,
        base_delay_ms: 100,
        ..CallbackConfig::default()
    };
    let config = ServiceConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        body_limit_bytes: 8 * 1024 * 1024,
        request_timeout_secs: 300,
        queue_capacity: 16,
        shutdown_grace_secs: 30,
        callbacks: callbacks.clone(),
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
    let notifier =
        tunggal::engine::callback::spawn_durable(dir, None, callbacks.delivery_policy()).unwrap();
    engine.set_notifier(notifier.clone());
    let engine = Arc::new(engine);
    let mut service = Service::bind(config, engine.clone(), cases, Some(ADMIN_KEY))
        .await
        .unwrap();
    let origin = tunggal::osia::default_origin();
    let hosts: HostCheck = Arc::new(move |h: &str| callbacks.host_allowed(h, &origin));
    let (e, k) = (engine.clone(), service.app().keys.clone());
    let osia = tokio::task::spawn_blocking(move || OsiaApp::open(e, k, Some(notifier), hosts))
        .await
        .unwrap()
        .unwrap();
    service.add_routes(tunggal::osia::router(Arc::new(osia)));
    Running {
        server: Server::run(service),
        engine: Some(engine),
    }
}

impl Reply {
    /// The `code` of an `Error` body.
    pub(crate) fn code(&self) -> i64 {
        self.json()["code"].as_i64().unwrap_or(-1)
    }
}

/// A request with an optional bearer key and JSON body.
pub(crate) async fn send(
    method: Method,
    url: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    crate::http_support::send(method, url, key, bytes).await
}

/// Creates a key of `role` through the admin API.
pub(crate) async fn key(s: &Running, body: Value) -> String {
    let r = send(
        Method::POST,
        &s.url("/v1/admin/keys"),
        Some(ADMIN_KEY),
        Some(&body),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    r.json()["key"].as_str().unwrap().to_owned()
}

/// A POSTed callback: its query, content type and body.
#[derive(Debug, Clone)]
pub(crate) struct Posted {
    pub(crate) query: String,
    pub(crate) content_type: String,
    pub(crate) body: Value,
}

/// A loopback callback receiver answering 204.
pub(crate) async fn receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Posted>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(Posted {
                        query: uri.query().unwrap_or_default().to_owned(),
                        content_type: headers
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned(),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    });
                    StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/cb"), rx)
}

pub(crate) async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Posted>) -> Posted {
    tokio::time::timeout(std::time::Duration::from_secs(60), rx.recv())
        .await
        .expect("no callback within 60 s")
        .unwrap()
}

/// A 256 × 320 grey PNG (a smooth pattern): the iris item's image, in which the eye encoder
/// finds no pupil, so the eye is left out of matching.
fn grey_png() -> Vec<u8> {
    let (w, h) = (256u32, 320u32);
    let pixels: Vec<u8> = (0..w * h).map(|i| ((i % w + i / w) % 256) as u8).collect();
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()
        .unwrap()
        .write_image_data(&pixels)
        .unwrap();
    out
}

/// A finger item with an image.
pub(crate) fn finger(sub: &str, bytes: &[u8], compression: &str) -> Value {
    json!({
        "biometricType": "FINGER",
        "biometricSubType": sub,
        "image": B64.encode(bytes),
        "compression": compression,
        "impressionType": "LIVE_SCAN_PLAIN",
    })
}

/// Three FVC2002 finger images (one person for these tests; the repository's small
/// fixtures are below the quality rule), an amputated finger and an iris image. Callers
/// check [`fvc_root`] first.
pub(crate) fn fixture_items() -> Vec<Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/fvc2002-images");
    let tif = |n: u32| std::fs::read(root.join(format!("DB1_B/{n}_1.tif"))).unwrap();
    let mut items = vec![
        finger("RIGHT_THUMB", &tif(101), "NONE"),
        finger("RIGHT_INDEX", &tif(102), "NONE"),
        finger("RIGHT_MIDDLE", &tif(103), "NONE"),
    ];
    for item in &mut items {
        item["resolution"] = json!(500);
    }
    items.push(
        json!({"biometricType": "FINGER", "biometricSubType": "LEFT_RING",
               "missing": [{"presence": "AMPUTATED"}]}),
    );
    items.push(
        json!({"biometricType": "IRIS", "biometricSubType": "EYE_LEFT",
               "image": B64.encode(grey_png()), "compression": "PNG"}),
    );
    items
}

/// An encounter of `items`.
pub(crate) fn encounter(items: Vec<Value>, galleries: Option<Vec<&str>>) -> Value {
    let mut e = json!({
        "status": "ACTIVE",
        "encounterType": "enrolment",
        "biographicData": {"dateOfBirth": "1985-11-30", "gender": "M"},
        "biometricData": items,
    });
    if let Some(g) = galleries {
        e["galleries"] = json!(g);
    }
    e
}

/// The root of the FVC2002 images, or `None` (with a message) when absent.
pub(crate) fn fvc_root() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/fvc2002-images");
    if root.join("DB1_B/101_1.tif").exists() {
        Some(root)
    } else {
        eprintln!(
            "skipping: the FVC2002 images at {} are absent",
            root.display()
        );
        None
    }
}

/// The project's OpenAPI document, and which operations a test checked.
pub(crate) struct Spec {
    doc: Value,
    seen: Mutex<BTreeSet<(String, String)>>,
}

fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

impl Spec {
    pub(crate) fn load() -> Self {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/osia-abis.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let doc: Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(doc["info"]["version"], "1.4.0");
        Self {
            doc,
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    /// Follows a `$ref` at the top of `v`.
    fn resolve(&self, v: &Value) -> Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let pointer = r.strip_prefix('#').unwrap();
                self.doc
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("{r}"))
                    .clone()
            }
            None => v.clone(),
        }
    }

    fn operation(&self, method: &str, template: &str) -> Value {
        let op = self
            .doc
            .pointer(&format!("/paths/{}/{method}", pointer_escape(template)))
            .unwrap_or_else(|| panic!("{method} {template} is not in the document"))
            .clone();
        self.seen
            .lock()
            .unwrap()
            .insert((method.to_owned(), template.to_owned()));
        op
    }

    /// Validates `instance` against `schema`, whose `$ref`s point into the document.
    pub(crate) fn validate(&self, schema: &Value, instance: &Value, what: &str) {
        let root = json!({"allOf": [schema], "components": self.doc["components"]});
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .build(&root)
            .unwrap_or_else(|e| panic!("{what}: schema does not compile: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: the answer breaks the document: {errors:?}\n{instance}"
        );
    }

    /// Checks an answer of `method template`: its status is one the document lists, and
    /// its body (or its absence) and content type what that response says.
    pub(crate) fn check(&self, method: &str, template: &str, r: &Reply) {
        let op = self.operation(method, template);
        let status = r.status.as_str().to_owned();
        let what = format!("{method} {template} {status}");
        let response = op["responses"].get(&status).unwrap_or_else(|| {
            panic!(
                "{what}: status not in the document: {}",
                String::from_utf8_lossy(&r.body)
            )
        });
        let response = self.resolve(response);
        match response.get("content") {
            None => assert!(r.body.is_empty(), "{what}: a body where none is documented"),
            Some(content) => {
                let ct = r.content_type();
                let schema = content
                    .get(&ct)
                    .and_then(|c| c.get("schema"))
                    .unwrap_or_else(|| panic!("{what}: content type {ct:?} not documented"));
                self.validate(schema, &r.json(), &what);
            }
        }
    }

    /// Checks a callback body of `method template`: a result against the callback's
    /// `application/json` schema, a failure (`error`) against `Error`.
    pub(crate) fn check_callback(
        &self,
        method: &str,
        template: &str,
        posted: &Posted,
        error: bool,
    ) {
        let op = self.operation(method, template);
        let what = format!("callback of {method} {template}");
        assert!(
            posted.content_type.starts_with("application/json"),
            "{what}: {}",
            posted.content_type
        );
        if error {
            self.validate(
                &json!({"$ref": "#/components/schemas/Error"}),
                &posted.body,
                &what,
            );
            return;
        }
        let callbacks = op["callbacks"]
            .as_object()
            .unwrap_or_else(|| panic!("{what}: none"));
        let (_, cb) = callbacks.iter().next().unwrap();
        let cb = self.resolve(cb);
        let (_, item) = cb.as_object().unwrap().iter().next().unwrap();
        let schema = &item["post"]["requestBody"]["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{what}: no schema");
        self.validate(schema, &posted.body, &what);
    }

    /// Every operation of the document checked by this test.
    pub(crate) fn assert_every_operation_seen(&self) {
        let seen = self.seen.lock().unwrap();
        let mut missing = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if !seen.contains(&(method.clone(), path.clone())) {
                    missing.push(format!("{method} {path}"));
                }
            }
        }
        assert!(missing.is_empty(), "operations never answered: {missing:?}");
    }
}
