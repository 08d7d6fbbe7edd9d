//! The service's metrics, recorded through the [`metrics`] facade and rendered in the
//! Prometheus text format (version 0.0.4) by `metrics-exporter-prometheus` at `GET /metrics`.
//!
//! Two recorders feed one page:
//!
//! * the process-wide recorder ([`global`], installed once per process, on first use): what
//!   code deep in the stack reports without a handle, today the index's stage timings and
//!   storage counters (`tunggal_index_*`, [`tunggal_index::telemetry`]);
//! * one recorder per service ([`Metrics`]): the values of that service instance, so that two
//!   services in one process (tests) never mix their counts:
//!   * `tunggal_http_requests_total{route,method,status}`,
//!     `tunggal_http_request_duration_seconds{route}` (histogram, [`LATENCY_BUCKETS`]);
//!   * `tunggal_enrolments_total{verdict}` (`single`, `duplicate`, `rejected`);
//!   * read when scraped: `tunggal_queue_depth`, `tunggal_queue_capacity`,
//!     `tunggal_engine_wired`, `tunggal_cases_active`, `tunggal_cases_overdue`,
//!     `tunggal_cases_total`, `tunggal_callbacks_pending`, `tunggal_callbacks_dead`, the
//!     connection table's (`tunggal_connections_*`), the engine's (`tunggal_gallery_*`,
//!     `tunggal_matcher_*`, `tunggal_image_store_bytes`, `tunggal_image_compaction*`) and
//!     `tunggal_state_syncs_total{store}` ([`crate::state::syncs`],
//!     process-wide counts).
//!
//! Routes are the matched templates (`/v1/enrolments/{request_id}`), never raw paths, so no
//! client value reaches a label.

use std::sync::{Arc, Weak};
use std::time::Duration;

use metrics::Unit;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::PrometheusHandle;
use metrics_exporter_prometheus::PrometheusRecorder;

use crate::cases::CaseCounts;
use crate::engine::outbox::CallbackCounts;
use crate::state::syncs::{self, Store};

use super::conns::ConnectionStats;
use super::server::AppState;
use super::EngineStats;
use crate::clock::now_secs;
use crate::telemetry::recorder;
pub use crate::telemetry::{global, BATCH_BUCKETS, LATENCY_BUCKETS, STAGE_BUCKETS};

/// Every verdict label of `tunggal_enrolments_total`.
const VERDICTS: [&str; 3] = ["single", "duplicate", "rejected"];

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// One service instance's metrics.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let recorder = recorder();
        let handle = recorder.handle();
        let m = Self { recorder, handle };
        m.with(|| {
            describe();
            for verdict in VERDICTS {
                counter!("tunggal_enrolments_total", "verdict" => verdict).absolute(0);
            }
        });
        m
    }
}

/// Values read from the service when `/metrics` is scraped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scrape {
    /// Matching jobs admitted and not finished.
    pub queue_depth: usize,
    /// Most matching jobs admitted at once.
    pub queue_capacity: usize,
    /// Whether a real engine is wired.
    pub engine_wired: bool,
    /// Case counts (absent when the case store could not be read).
    pub cases: Option<CaseCounts>,
    /// Callback outbox counts (absent without a durable outbox or when unreadable).
    pub callbacks: Option<CallbackCounts>,
    /// Gallery and matcher counters.
    pub engine: EngineStats,
    /// Connection table counters.
    pub connections: ConnectionStats,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, f)
    }

    /// Counts one answered request and its latency.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.with(|| {
            counter!(
                "tunggal_http_requests_total",
                "route" => route.to_owned(),
                "method" => method.to_owned(),
                "status" => status.to_string()
            )
            .increment(1);
            histogram!("tunggal_http_request_duration_seconds", "route" => route.to_owned())
                .record(elapsed);
        });
    }

    /// Counts one enrolment verdict (`single`, `duplicate`, `rejected`; others are ignored).
    pub fn observe_verdict(&self, verdict: &str) {
        if let Some(&v) = VERDICTS.iter().find(|&&v| v == verdict) {
            self.with(|| counter!("tunggal_enrolments_total", "verdict" => v).increment(1));
        }
    }

    /// Folds recorded histogram samples into their buckets (this service's and the
    /// process-wide recorder's) so that memory stays bounded between scrapes.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
        global().run_upkeep();
    }

    /// Sets the values read at scrape time and renders every metric: this service's, then
    /// the process-wide ones.
    pub fn render(&self, s: &Scrape) -> String {
        self.with(|| record_scrape(s));
        let mut text = self.handle.render();
        text.push_str(&global().render());
        text
    }
}

/// Reads the scrape-time values of `app` and renders every metric.
pub async fn scrape(app: &AppState) -> String {
    // The counts read the state store, which may wait behind a commit's fsync.
    let (cases, engine) = (app.cases.clone(), app.engine.clone());
    let counts = tokio::task::spawn_blocking(move || {
        let cases = cases
            .counts(now_secs())
            .map_err(|e| tracing::error!(error = %e, "counting cases for /metrics"))
            .ok();
        let callbacks = engine.callbacks().and_then(|n| {
            n.counts()
                .map_err(|e| tracing::error!(error = %e, "counting callbacks for /metrics"))
                .ok()
                .flatten()
        });
        (cases, callbacks)
    })
    .await;
    let (cases, callbacks) = counts.unwrap_or_else(|e| {
        tracing::error!(error = %e, "counting cases and callbacks for /metrics");
        (None, None)
    });
    app.metrics.render(&Scrape {
        queue_depth: app.queue.depth(),
        queue_capacity: app.queue.capacity(),
        engine_wired: app.engine.is_wired(),
        cases,
        callbacks,
        engine: app.engine.stats(),
        connections: app.connections.stats(),
    })
}

/// Folds histogram samples every few seconds while `metrics` lives (spawned by the server).
pub async fn upkeep_while_alive(metrics: Weak<Metrics>) {
    let mut tick = tokio::time::interval(UPKEEP_EVERY);
    loop {
        tick.tick().await;
        let Some(m) = metrics.upgrade() else {
            return;
        };
        m.upkeep();
    }
}

/// A new service's metrics, with its upkeep task spawned on the current runtime.
pub fn spawn() -> Arc<Metrics> {
    let m = Arc::new(Metrics::default());
    global();
    tokio::spawn(upkeep_while_alive(Arc::downgrade(&m)));
    m
}

fn record_scrape(s: &Scrape) {
    gauge!("tunggal_queue_depth").set(s.queue_depth as f64);
    gauge!("tunggal_queue_capacity").set(s.queue_capacity as f64);
    gauge!("tunggal_engine_wired").set(f64::from(u8::from(s.engine_wired)));
    if let Some(c) = s.cases {
        gauge!("tunggal_cases_active").set(c.active as f64);
        gauge!("tunggal_cases_overdue").set(c.overdue as f64);
        gauge!("tunggal_cases_total").set(c.total as f64);
    }
    if let Some(c) = s.callbacks {
        gauge!("tunggal_callbacks_pending").set(c.pending as f64);
        gauge!("tunggal_callbacks_dead").set(c.dead as f64);
    }
    let e = &s.engine;
    gauge!("tunggal_gallery_persons").set(e.persons as f64);
    counter!("tunggal_matcher_searches_total").absolute(e.searches);
    counter!("tunggal_matcher_persons_scanned_total").absolute(e.persons_scanned);
    counter!("tunggal_matcher_comparisons_total").absolute(e.comparisons);
    counter!("tunggal_gallery_damaged_reads_total").absolute(e.damaged_reads);
    gauge!("tunggal_gallery_scrub_checked").set(e.scrub_checked as f64);
    gauge!("tunggal_gallery_scrub_total").set(e.scrub_total as f64);
    counter!("tunggal_gallery_scrub_quarantined_total").absolute(e.scrub_quarantined);
    counter!("tunggal_state_syncs_total", "store" => "gallery_log").absolute(e.log_syncs);
    gauge!("tunggal_image_store_bytes").set(e.image_store_bytes as f64);
    counter!("tunggal_image_compactions_total").absolute(e.image_compactions);
    counter!("tunggal_image_compaction_images_total").absolute(e.image_compaction_images);
    counter!("tunggal_image_compaction_reclaimed_bytes_total")
        .absolute(e.image_compaction_reclaimed);
    let c = &s.connections;
    for (pool, n) in [
        ("pending", c.open_pending),
        ("general", c.open_general),
        ("reserve", c.open_reserve),
    ] {
        gauge!("tunggal_connections_open", "pool" => pool).set(n as f64);
    }
    for (phase, n) in [("fresh", c.shed_fresh), ("idle", c.shed_idle)] {
        counter!("tunggal_connections_shed_total", "phase" => phase).absolute(n);
    }
    for (reason, n) in [
        ("address_limit", c.refused_address),
        ("full", c.refused_full),
        ("no_slot", c.no_slot),
    ] {
        counter!("tunggal_connections_refused_total", "reason" => reason).absolute(n);
    }
    counter!("tunggal_connections_reserve_denied_total").absolute(c.reserve_denied);
    counter!("tunggal_connections_first_request_timeouts_total").absolute(c.first_request_timeouts);
    for (store, label) in [(Store::Sqlite, "sqlite"), (Store::Journal, "journal")] {
        counter!("tunggal_state_syncs_total", "store" => label).absolute(syncs::count(store));
    }
}

/// Help texts of the per-service metrics.
fn describe() {
    describe_counter!("tunggal_http_requests_total", "HTTP requests answered.");
    describe_histogram!(
        "tunggal_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer HTTP requests."
    );
    describe_counter!("tunggal_enrolments_total", "Enrolments by verdict.");
    describe_gauge!(
        "tunggal_queue_depth",
        "Matching jobs admitted and not finished."
    );
    describe_gauge!(
        "tunggal_queue_capacity",
        "Most matching jobs admitted at once."
    );
    describe_gauge!(
        "tunggal_engine_wired",
        "1 when a real matching engine is wired."
    );
    describe_gauge!(
        "tunggal_cases_active",
        "Duplicate cases not yet decided for good."
    );
    describe_gauge!(
        "tunggal_cases_overdue",
        "Active duplicate cases past their deadline."
    );
    describe_gauge!("tunggal_cases_total", "Duplicate cases ever opened.");
    describe_gauge!(
        "tunggal_callbacks_pending",
        "Verdict callbacks in the outbox still to deliver."
    );
    describe_gauge!(
        "tunggal_callbacks_dead",
        "Verdict callbacks whose retries are exhausted (dead letters)."
    );
    describe_gauge!(
        "tunggal_gallery_persons",
        "Persons enrolled in the gallery."
    );
    describe_counter!(
        "tunggal_matcher_searches_total",
        "1:N searches run by the matcher since start."
    );
    describe_counter!(
        "tunggal_matcher_persons_scanned_total",
        "Gallery persons scored by the first search stage since start (summed over searches)."
    );
    describe_counter!(
        "tunggal_matcher_comparisons_total",
        "Full fingerprint and iris comparisons (second stage and 1:1) since start."
    );
    describe_counter!(
        "tunggal_gallery_damaged_reads_total",
        "Cold gallery records that failed their checksum when read since start (see `tunggal fsck`)."
    );
    describe_gauge!(
        "tunggal_gallery_scrub_checked",
        "Hot gallery records checked by the background scrub's current (or last) pass."
    );
    describe_gauge!(
        "tunggal_gallery_scrub_total",
        "Live hot gallery records when the scrub's current (or last) pass started."
    );
    describe_counter!(
        "tunggal_gallery_scrub_quarantined_total",
        "Hot gallery records the scrub found damaged and quarantined since start."
    );
    describe_gauge!(
        "tunggal_state_integrity_steps",
        "SQLite steps of the state store's background quick_check pass so far (sampled)."
    );
    describe_gauge!(
        "tunggal_state_integrity_status",
        "State store background check: 0 checking, 1 passed, 2 damaged (writes refused), 3 \
         could not run."
    );
    describe_counter!(
        "tunggal_state_integrity_passes_total",
        "Background integrity passes of the state store finished since start."
    );
    describe_gauge!(
        "tunggal_image_store_bytes",
        "Bytes of the image store's segments (DATA_DIR/images/)."
    );
    describe_counter!(
        "tunggal_image_compactions_total",
        "Image store compactions finished since start."
    );
    describe_counter!(
        "tunggal_image_compaction_images_total",
        "Images copied by image store compactions since start."
    );
    describe_counter!(
        "tunggal_image_compaction_reclaimed_bytes_total",
        "Bytes reclaimed by image store compactions since start."
    );
    describe_gauge!("tunggal_connections_open", "Open connections by pool.");
    describe_counter!(
        "tunggal_connections_shed_total",
        "Connections closed to make room: fresh (no complete request yet) or idle keep-alive."
    );
    describe_counter!(
        "tunggal_connections_refused_total",
        "Connections refused: at accept (address at its cap with every connection busy; pending \
         pool unusable) or at the first request (no general or reserve slot)."
    );
    describe_counter!(
        "tunggal_connections_reserve_denied_total",
        "Reserve connections whose request was neither a probe nor authenticated."
    );
    describe_counter!(
        "tunggal_connections_first_request_timeouts_total",
        "Connections closed for not completing a first request within first_request_timeout_secs."
    );
    describe_counter!(
        "tunggal_state_syncs_total",
        "Durable syncs of the service's state, by store (sqlite: state store commits; \
         journal: journal appends; gallery_log: fsyncs of the gallery's write-ahead log)."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe_request("/health", "GET", 200, Duration::from_millis(3));
        m.observe_request("/health", "GET", 200, Duration::from_millis(300));
        m.observe_verdict("single");
        m.observe_verdict("bogus");
        let text = m.render(&Scrape {
            queue_depth: 1,
            queue_capacity: 8,
            ..Scrape::default()
        });
        for line in [
            "# TYPE tunggal_http_requests_total counter",
            "tunggal_http_requests_total{route=\"/health\",method=\"GET\",status=\"200\"} 2",
            "# TYPE tunggal_http_request_duration_seconds histogram",
            "tunggal_http_request_duration_seconds_bucket{route=\"/health\",le=\"0.0025\"} 0",
            "tunggal_http_request_duration_seconds_bucket{route=\"/health\",le=\"0.005\"} 1",
            "tunggal_http_request_duration_seconds_bucket{route=\"/health\",le=\"0.5\"} 2",
            "tunggal_http_request_duration_seconds_bucket{route=\"/health\",le=\"+Inf\"} 2",
            "tunggal_http_request_duration_seconds_count{route=\"/health\"} 2",
            "tunggal_enrolments_total{verdict=\"single\"} 1",
            "tunggal_enrolments_total{verdict=\"duplicate\"} 0",
            "tunggal_queue_depth 1",
            "tunggal_queue_capacity 8",
            "tunggal_engine_wired 0",
            "tunggal_connections_open{pool=\"reserve\"} 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        assert!(!text.contains("bogus"));
    }

    #[test]
    fn two_services_keep_their_own_counts() {
        let (a, b) = (Metrics::default(), Metrics::default());
        a.observe_verdict("duplicate");
        let (ta, tb) = (a.render(&Scrape::default()), b.render(&Scrape::default()));
        assert!(ta.contains("tunggal_enrolments_total{verdict=\"duplicate\"} 1"));
        assert!(tb.contains("tunggal_enrolments_total{verdict=\"duplicate\"} 0"));
    }
}
