//! The harness of the engine tests: the real server and engine, requests and keys.

pub(crate) use std::net::SocketAddr;
pub(crate) use std::path::Path;
pub(crate) use std::sync::Arc;

pub(crate) use http_body_util::{BodyExt, Full};
pub(crate) use hyper::body::Bytes;
pub(crate) use hyper::{HeaderMap, Method, Request, StatusCode};
pub(crate) use hyper_util::client::legacy::Client;
pub(crate) use hyper_util::rt::TokioExecutor;
pub(crate) use serde_json::{json, Value};
pub(crate) use tokio::sync::oneshot;
pub(crate) use tunggal::cases::{CaseOutcome, CaseOutcomeSink, CaseStore, Evidence};
pub(crate) use tunggal::engine::synthetic::request_of;
pub(crate) use tunggal::engine::{EngineOptions, GalleryEngine};
pub(crate) use tunggal::service::callbacks::CallbackConfig;
pub(crate) use tunggal::service::{Service, ServiceConfig, ServiceError};
pub(crate) use tunggal_datasets::population::{CaptureSpec, Population};

pub(crate) const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef0123456789";
pub(crate) const SEED: u64 = 11;

pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) engine: Option<Arc<GalleryEngine>>,
    pub(crate) stop: Option<oneshot::Sender<()>>,
    pub(crate) task: tokio::task::JoinHandle<Result<(), ServiceError>>,
}

impl Running {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap().unwrap();
        drop(self.engine.take());
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
    let addr = service.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(service.run(async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        engine: Some(engine),
        stop: Some(tx),
        task,
    }
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
}

pub(crate) async fn send(
    method: Method,
    url: &str,
    key: Option<&str>,
    body: Option<Vec<u8>>,
) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(url);
    if let Some(key) = key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .unwrap();
    let response = client.request(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
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
