//! The process-wide metrics recorder (the Prometheus exporter behind the [`metrics`] facade)
//! and the histogram buckets every recorder of this binary uses. It sits below the HTTP
//! layer so offline tools (`bench dedup`) record through the same recorder as `serve`;
//! `service::metrics` renders it at `GET /metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use tunggal_index::telemetry;

/// Upper bounds of the HTTP latency histogram buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Upper bounds of the index's stage and log-commit histogram buckets, in seconds (a
/// first-stage pass over a small gallery or a group commit takes well under a millisecond).
pub const STAGE_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Upper bounds of the group-commit size histogram buckets, in log entries.
pub const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// A Prometheus recorder with this service's buckets.
pub(crate) fn recorder() -> PrometheusRecorder {
    let builder = PrometheusBuilder::new()
        .set_buckets(&LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Prefix("tunggal_index_".into()), &STAGE_BUCKETS)
        })
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(telemetry::WAL_GROUP_COMMIT_ENTRIES.into()),
                &BATCH_BUCKETS,
            )
        });
    match builder {
        Ok(b) => b.build_recorder(),
        // Only empty bucket lists are refused; the constants above are not empty.
        Err(e) => {
            tracing::error!(error = %e, "metric buckets refused; histograms become summaries");
            PrometheusBuilder::new().build_recorder()
        }
    }
}

static GLOBAL: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder's handle, installing the recorder on first use. When another
/// recorder was installed first, it keeps receiving the facade's global metrics and this
/// handle renders nothing (logged once).
pub fn global() -> &'static PrometheusHandle {
    GLOBAL.get_or_init(|| {
        let recorder = recorder();
        let handle = recorder.handle();
        match metrics::set_global_recorder(recorder) {
            Ok(()) => telemetry::describe(),
            Err(e) => tracing::warn!(
                error = %e,
                "another metrics recorder is installed: the index's metrics go to it, not /metrics"
            ),
        }
        handle
    })
}
