//! Wiring: state, router, middleware, listening and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use thiserror::Error;
use tokio::net::{TcpListener, TcpSocket};

use super::config::ServiceConfig;
use super::conns::Connections;
use super::handlers;
use super::listen::ListenOptions;
use super::metrics::Metrics;
use super::queue::MatchQueue;
use crate::access::audit::AuditLog;
use crate::access::keys::{KeyError, KeyStore};
use crate::cases::CaseStore;
use crate::enrolment::EnrolmentEngine;
use crate::problem::{Problem, Reason};
use crate::state::idempotency::Idempotency;
use crate::state::journal::JournalError;

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
    /// Open connections and their limits.
    pub connections: Arc<Connections>,
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

/// The review pages' share of the service state.
fn review_app(app: &App) -> crate::review::AppState {
    Arc::new(crate::review::ReviewApp {
        keys: Arc::clone(&app.keys),
        audit: Arc::clone(&app.audit),
        engine: Arc::clone(&app.engine),
        cases: Arc::clone(&app.cases),
        tls: app.config.tls_cert.is_some() && app.config.tls_key.is_some(),
        case_clear_approval_percent: app.config.case_clear_approval_percent,
    })
}

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
    /// The state store failed to open.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// The case store failed.
    #[error(transparent)]
    Cases(#[from] crate::cases::CaseError),
    /// The key store failed.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The TLS certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
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
    listen: ListenOptions,
    generated_admin_key: Option<String>,
    extra: Option<Router<AppState>>,
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
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(super::tls::acceptor(cert, key)?),
            _ => None,
        };
        crate::state::migrate::require_migrated(&dir)?;
        let keys = Arc::new(KeyStore::open(&dir)?);
        let generated_admin_key = keys.bootstrap_admin(admin_key)?;
        raise_fd_limit(&config);
        let connections = Connections::new(config.connection_limits());
        let listen = ListenOptions {
            tls,
            first_request_timeout: config.first_request_timeout(),
            header_read_timeout: config.header_read_timeout(),
            connections: connections.clone(),
            keys: keys.clone(),
            shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
        };
        let app = Arc::new(App {
            engine,
            keys,
            audit: Arc::new(AuditLog::open_rotating(
                &dir,
                crate::state::StateStore::shared(&dir)?,
                config.audit_rotate_bytes,
            )?),
            idempotency: Arc::new(Idempotency::open(&dir)?),
            queue: Arc::new(MatchQueue::new(config.queue_capacity)),
            metrics: super::metrics::spawn(),
            cases,
            connections,
            config,
        });
        // The open checked only what it reads; the whole state store is checked meanwhile.
        app.cases.store().spawn_integrity_check()?;
        let addr = app.config.listen;
        let listener = bind(addr).map_err(|source| ServiceError::Listen { addr, source })?;
        Ok(Self {
            app,
            listener,
            listen,
            generated_admin_key,
            extra: None,
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

    /// Serves `routes` beside the API (the binary composes other interfaces this way: the
    /// OSIA ABIS routes under `/osia`); they pass through the same middleware.
    pub fn add_routes(&mut self, routes: Router<AppState>) {
        self.extra = Some(match self.extra.take() {
            Some(r) => r.merge(routes),
            None => routes,
        });
    }

    /// Whether the server speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.listen.tls.is_some()
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
        let app = self.app.clone();
        super::listen::serve(
            self.listener,
            router_with(self.app, self.extra),
            self.listen,
            shutdown,
        )
        .await;
        let grace = Duration::from_secs(app.config.shutdown_grace_secs);
        if !app.queue.drain(grace).await {
            tracing::warn!("shutdown grace period over with matching jobs still running");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Listen backlog asked of the kernel (which caps it at `net.core.somaxconn`). The accept
/// loop never waits for a slot, so the backlog only absorbs bursts; a large one keeps a burst
/// of thousands of connects from dropping SYNs (a dropped SYN costs the client a 1 s retry).
const LISTEN_BACKLOG: u32 = 4096;

/// Raises the soft open-file limit towards what the connection limits need (every pool full,
/// plus files and a margin), up to the hard limit; warns when even that is short, as accept
/// then fails with `EMFILE` before the pools fill.
fn raise_fd_limit(config: &ServiceConfig) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limits = config.connection_limits();
    let needed = (limits.pending + limits.general + limits.reserve) as u64 + 256;
    let mut rlimit = getrlimit(Resource::Nofile);
    let current = rlimit.current.unwrap_or(u64::MAX);
    if current >= needed {
        return;
    }
    let target = needed.min(rlimit.maximum.unwrap_or(u64::MAX));
    if target > current {
        rlimit.current = Some(target);
        if let Err(e) = setrlimit(Resource::Nofile, rlimit) {
            tracing::warn!(error = %e, "could not raise the open-file limit");
        }
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    if now < needed {
        tracing::warn!(
            open_files = now,
            needed,
            "the open-file limit is below what the connection limits need; raise it (ulimit -n, \
             LimitNOFILE=) or lower max_pending_connections"
        );
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The router with every route and middleware.
pub fn router(app: AppState) -> Router {
    router_with(app, None)
}

/// The router with every route, `extra` routes beside them, and the middleware.
pub fn router_with(app: AppState, extra: Option<Router<AppState>>) -> Router {
    let limit = app.config.body_limit_bytes;
    Router::new()
        .route("/", get(super::landing::landing))
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
        .route("/v1/persons", get(handlers::persons_by_nik))
        .route(
            "/v1/persons/{reference_id}",
            get(handlers::get_person).delete(handlers::delete_person),
        )
        .route(
            "/v1/admin/keys",
            post(super::admin::create_key).get(super::admin::list_keys),
        )
        .route("/v1/admin/keys/events", get(super::admin::key_events))
        .route(
            "/v1/admin/keys/{key_id}/revoke",
            post(super::admin::revoke_key),
        )
        .route(
            "/v1/admin/keys/{key_id}/rotate",
            post(super::admin::rotate_key),
        )
        .route("/v1/admin/callbacks/dead", get(super::admin::dead_letters))
        .route(
            "/v1/admin/images/compact",
            post(super::admin::compact_images),
        )
        .route(
            "/v1/admin/cases/export",
            get(super::cases_admin::export_cases),
        )
        .route(
            "/v1/admin/cases/{case_id}/release",
            post(super::cases_admin::release_case),
        )
        .route(
            "/v1/admin/callbacks/{id}/requeue",
            post(super::admin::requeue),
        )
        .merge(crate::review::router(review_app(&app)))
        .merge(extra.unwrap_or_default())
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            app.clone(),
            super::refusals::audit_forbidden,
        ))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            super::limits::read_body,
        ))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            super::disk::guard,
        ))
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// Times out slow requests, counts every request and logs it without any person data.
async fn observe(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = super::refusals::route_of(&request);
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
