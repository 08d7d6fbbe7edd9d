//! Prometheus text exposition (version 0.0.4) of the service's counters.
//!
//! * `tunggal_http_requests_total{route,method,status}`
//! * `tunggal_http_request_duration_seconds{route}` (histogram)
//! * `tunggal_enrolments_total{verdict}`
//! * `tunggal_queue_depth`, `tunggal_queue_capacity`
//! * `tunggal_engine_wired`
//! * `tunggal_cases_active`, `tunggal_cases_overdue`, `tunggal_cases_total`
//! * `tunggal_connections_open{pool}`, `tunggal_connections_shed_total{phase}`,
//!   `tunggal_connections_refused_total{reason}`, `tunggal_connections_reserve_denied_total`,
//!   `tunggal_connections_first_request_timeouts_total`
//! * `tunggal_gallery_persons`, `tunggal_matcher_searches_total`,
//!   `tunggal_matcher_persons_scanned_total`, `tunggal_matcher_comparisons_total`,
//!   `tunggal_gallery_damaged_reads_total`, `tunggal_gallery_scrub_checked`,
//!   `tunggal_gallery_scrub_total`, `tunggal_gallery_scrub_quarantined_total`
//! * `tunggal_state_syncs_total{store}` (`crate::state::syncs`)
//!
//! Routes are the matched templates (`/v1/enrolments/{request_id}`), never raw paths, so no
//! client value reaches a label.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    enrolments: BTreeMap<String, u64>,
}

/// The service's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Counts one answered request.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        *inner
            .requests
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        let h = inner.latency.entry(route.to_owned()).or_default();
        let secs = elapsed.as_secs_f64();
        for (bucket, bound) in h.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if secs <= bound {
                *bucket += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// Counts one enrolment verdict (`single`, `duplicate`, `rejected`).
    pub fn observe_verdict(&self, verdict: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            *inner.enrolments.entry(verdict.to_owned()).or_default() += 1;
        }
    }

    /// Renders every metric, with the queue and engine gauges given.
    pub fn render(&self, queue_depth: usize, queue_capacity: usize, engine_wired: bool) -> String {
        let mut out = String::new();
        let Ok(inner) = self.inner.lock() else {
            return out;
        };
        let _ = writeln!(
            out,
            "# HELP tunggal_http_requests_total HTTP requests answered."
        );
        let _ = writeln!(out, "# TYPE tunggal_http_requests_total counter");
        for ((route, method, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "tunggal_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        let name = "tunggal_http_request_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Time to answer HTTP requests.");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (route, h) in &inner.latency {
            for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets) {
                let _ = writeln!(out, "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {}", h.count);
        }
        let _ = writeln!(
            out,
            "# HELP tunggal_enrolments_total Enrolments by verdict."
        );
        let _ = writeln!(out, "# TYPE tunggal_enrolments_total counter");
        for verdict in ["single", "duplicate", "rejected"] {
            let n = inner.enrolments.get(verdict).copied().unwrap_or(0);
            let _ = writeln!(out, "tunggal_enrolments_total{{verdict=\"{verdict}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP tunggal_queue_depth Matching jobs admitted and not finished."
        );
        let _ = writeln!(out, "# TYPE tunggal_queue_depth gauge");
        let _ = writeln!(out, "tunggal_queue_depth {queue_depth}");
        let _ = writeln!(
            out,
            "# HELP tunggal_queue_capacity Most matching jobs admitted at once."
        );
        let _ = writeln!(out, "# TYPE tunggal_queue_capacity gauge");
        let _ = writeln!(out, "tunggal_queue_capacity {queue_capacity}");
        let _ = writeln!(
            out,
            "# HELP tunggal_engine_wired 1 when a real matching engine is wired."
        );
        let _ = writeln!(out, "# TYPE tunggal_engine_wired gauge");
        let _ = writeln!(out, "tunggal_engine_wired {}", u8::from(engine_wired));
        out
    }
}

/// Renders the case gauges: `tunggal_cases_active`, `tunggal_cases_overdue`,
/// `tunggal_cases_total`.
pub fn render_cases(counts: crate::cases::CaseCounts) -> String {
    let mut out = String::new();
    for (name, help, value) in [
        (
            "tunggal_cases_active",
            "Duplicate cases not yet decided for good.",
            counts.active,
        ),
        (
            "tunggal_cases_overdue",
            "Active duplicate cases past their deadline.",
            counts.overdue,
        ),
        (
            "tunggal_cases_total",
            "Duplicate cases ever opened.",
            counts.total,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        let _ = writeln!(out, "{name} {value}");
    }
    out
}

/// Renders the gallery gauge and the matcher counters.
pub fn render_engine(stats: super::EngineStats) -> String {
    let mut out = String::new();
    for (name, kind, help, value) in [
        (
            "tunggal_gallery_persons",
            "gauge",
            "Persons enrolled in the gallery.",
            stats.persons,
        ),
        (
            "tunggal_matcher_searches_total",
            "counter",
            "1:N searches run by the matcher since start.",
            stats.searches,
        ),
        (
            "tunggal_matcher_persons_scanned_total",
            "counter",
            "Gallery persons scored by the first search stage since start (summed over searches).",
            stats.persons_scanned,
        ),
        (
            "tunggal_matcher_comparisons_total",
            "counter",
            "Full fingerprint and iris comparisons (second stage and 1:1) since start.",
            stats.comparisons,
        ),
        (
            "tunggal_gallery_damaged_reads_total",
            "counter",
            "Cold gallery records that failed their checksum when read since start (see `tunggal fsck`).",
            stats.damaged_reads,
        ),
        (
            "tunggal_gallery_scrub_checked",
            "gauge",
            "Hot gallery records checked by the background scrub's current (or last) pass.",
            stats.scrub_checked,
        ),
        (
            "tunggal_gallery_scrub_total",
            "gauge",
            "Live hot gallery records when the scrub's current (or last) pass started.",
            stats.scrub_total,
        ),
        (
            "tunggal_gallery_scrub_quarantined_total",
            "counter",
            "Hot gallery records the scrub found damaged and quarantined since start.",
            stats.scrub_quarantined,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    }
    out
}

/// Renders the connection table's gauges and counters.
pub fn render_connections(s: super::conns::ConnectionStats) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: &[(&str, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in rows {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    family(
        "tunggal_connections_open",
        "gauge",
        "Open connections by pool.",
        &[
            ("{pool=\"pending\"}", s.open_pending as u64),
            ("{pool=\"general\"}", s.open_general as u64),
            ("{pool=\"reserve\"}", s.open_reserve as u64),
        ],
    );
    family(
        "tunggal_connections_shed_total",
        "counter",
        "Connections closed to make room: fresh (no complete request yet) or idle keep-alive.",
        &[
            ("{phase=\"fresh\"}", s.shed_fresh),
            ("{phase=\"idle\"}", s.shed_idle),
        ],
    );
    family(
        "tunggal_connections_refused_total",
        "counter",
        "Connections refused: at accept (address at its cap with every connection busy; pending \
         pool unusable) or at the first request (no general or reserve slot).",
        &[
            ("{reason=\"address_limit\"}", s.refused_address),
            ("{reason=\"full\"}", s.refused_full),
            ("{reason=\"no_slot\"}", s.no_slot),
        ],
    );
    family(
        "tunggal_connections_reserve_denied_total",
        "counter",
        "Reserve connections whose request was neither a probe nor authenticated.",
        &[("", s.reserve_denied)],
    );
    family(
        "tunggal_connections_first_request_timeouts_total",
        "counter",
        "Connections closed for not completing a first request within first_request_timeout_secs.",
        &[("", s.first_request_timeouts)],
    );
    out
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
        let text = m.render(1, 8, false);
        assert!(text.contains(
            "tunggal_http_requests_total{route=\"/health\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "tunggal_http_request_duration_seconds_bucket{route=\"/health\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "tunggal_http_request_duration_seconds_bucket{route=\"/health\",le=\"0.5\"} 2"
        ));
        assert!(text.contains("tunggal_enrolments_total{verdict=\"single\"} 1"));
        assert!(text.contains("tunggal_queue_depth 1"));
        assert!(text.contains("tunggal_engine_wired 0"));
    }
}
