//! Wiring: state, router, middleware, listening and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use thiserror::Error;
use tokio::net::TcpListener;

use super::audit::AuditLog;
use super::config::ServiceConfig;
use super::engine::EnrolmentEngine;
use super::handlers;
use super::idempotency::Idempotency;
use super::journal::JournalError;
use super::keys::{KeyError, KeyStore};
use super::metrics::Metrics;
use super::problem::{Problem, Reason};
use super::queue::MatchQueue;
use crate::cases::CaseStore;

/// Shared state of the running service.
pub struct App {
    /// Settings.
    pub config: ServiceConfig,
    /// The matching engine.
    pub engine: Arc<dyn EnrolmentEngine>,
    /// API keys.
    pub keys: Arc<KeyStore>,
    /// Audit log.
    pub audit: Arc<AuditLog>,
    /// Idempotency answers.
    pub idempotency: Arc<Idempotency>,
    /// Admission queue.
    pub queue: Arc<MatchQueue>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Duplicate cases (opened by the engine, decided by analysts).
    pub cases: Arc<CaseStore>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .field("engine", &self.engine.name())
            .finish_non_exhaustive()
    }
}

/// The state handlers receive.
pub type AppState = Arc<App>;

/// Why the service could not start or stopped with an error.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// The data directory could not be created.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A journal failed to open.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The case store failed.
    #[error(transparent)]
    Cases(#[from] crate::cases::CaseError),
    /// The key store failed.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// Binding or serving failed.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// A bound, not yet serving, service.
#[derive(Debug)]
pub struct Service {
    app: AppState,
    listener: TcpListener,
    generated_admin_key: Option<String>,
}

impl Service {
    /// Opens the data directory, bootstraps the admin key (`admin_key` from
    /// `TUNGGAL_ADMIN_KEY`, else a generated one if no admin exists) and binds the listener.
    pub async fn bind(
        config: ServiceConfig,
        engine: Arc<dyn EnrolmentEngine>,
        cases: Arc<CaseStore>,
        admin_key: Option<&str>,
    ) -> Result<Self, ServiceError> {
        let dir = config.data_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|source| ServiceError::DataDir {
            path: dir.clone(),
            source,
        })?;
        let keys = Arc::new(KeyStore::open(&dir)?);
        let generated_admin_key = keys.bootstrap_admin(admin_key)?;
        let app = Arc::new(App {
            engine,
            keys,
            audit: Arc::new(AuditLog::open(&dir)?),
            idempotency: Arc::new(Idempotency::open(&dir)?),
            queue: Arc::new(MatchQueue::new(config.queue_capacity)),
            metrics: Arc::new(Metrics::default()),
            cases,
            config,
        });
        let addr = app.config.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServiceError::Listen { addr, source })?;
        Ok(Self {
            app,
            listener,
            generated_admin_key,
        })
    }

    /// The address actually bound (resolves port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, ServiceError> {
        let addr = self.app.config.listen;
        self.listener
            .local_addr()
            .map_err(|source| ServiceError::Listen { addr, source })
    }

    /// The admin key generated at startup, to be shown once; `None` if an admin existed or
    /// `TUNGGAL_ADMIN_KEY` was given.
    pub fn generated_admin_key(&self) -> Option<&str> {
        self.generated_admin_key.as_deref()
    }

    /// The shared state (for tools and tests that create keys).
    pub fn app(&self) -> &AppState {
        &self.app
    }

    /// Serves until `shutdown` completes, then stops accepting, finishes open requests and
    /// waits (up to the grace period) for admitted matching jobs to keep their answers.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServiceError> {
        let addr = self.local_addr()?;
        let app = self.app.clone();
        axum::serve(self.listener, router(self.app))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|source| ServiceError::Listen { addr, source })?;
        let grace = Duration::from_secs(app.config.shutdown_grace_secs);
        if !app.queue.drain(grace).await {
            tracing::warn!("shutdown grace period over with matching jobs still running");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// The router with every route and middleware.
pub fn router(app: AppState) -> Router {
    let limit = app.config.body_limit_bytes;
    Router::new()
        .route("/health", get(handlers::health))
        .route("/ready", get(handlers::ready))
        .route("/metrics", get(handlers::metrics))
        .route("/openapi.json", get(handlers::openapi))
        .route("/v1/enrolments", post(handlers::enrol))
        .route(
            "/v1/enrolments/{request_id}",
            get(handlers::enrolment_status),
        )
        .route("/v1/identify", post(handlers::identify))
        .route("/v1/verify", post(handlers::verify))
        .route(
            "/v1/persons/{reference_id}",
            get(handlers::get_person).delete(handlers::delete_person),
        )
        .route("/v1/admin/keys", post(handlers::create_key))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// Times out slow requests, counts every request and logs it without any person data.
async fn observe(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().as_str().to_owned();
    let response = match tokio::time::timeout(app.config.request_timeout(), next.run(request)).await
    {
        Ok(response) => response,
        Err(_) => Problem::new(
            Reason::RequestTimeout,
            "the request took longer than the configured timeout; a retry with the same \
                 request_id returns the answer once it is ready",
        )
        .retry_after(1)
        .into_response(),
    };
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    app.metrics
        .observe_request(&route, &method, status, elapsed);
    tracing::info!(
        %method,
        %route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1e3,
        "request"
    );
    response
}
