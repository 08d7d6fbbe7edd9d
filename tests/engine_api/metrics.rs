//! `/metrics` after enrolments: this service's exact counts and the index's stage timings.

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_stage_timings_and_counters_after_enrolments() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let s = start(dir.path()).await;
    let sp = sp_key(&s, "sp-1").await;
    for id in 0..2u64 {
        let v = enrol(
            &s,
            &sp,
            &body(&pop, id, 0, None, &format!("m-{id}"), "sp-1"),
        )
        .await;
        assert_eq!(v["verdict"], "single", "{v}");
    }
    let r = get(&s.url("/metrics"), ADMIN_KEY).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "text/plain; version=0.0.4");
    let m = String::from_utf8(r.body).unwrap();
    let value = |series: &str| -> f64 {
        m.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{series} missing from {m}"))
            .parse()
            .unwrap()
    };
    // This service's own counts: exact.
    assert_eq!(value("tunggal_enrolments_total{verdict=\"single\"}"), 2.0);
    assert_eq!(
        value(
            "tunggal_http_requests_total{route=\"/v1/enrolments\",method=\"POST\",status=\"200\"}"
        ),
        2.0
    );
    assert_eq!(
        value("tunggal_http_request_duration_seconds_count{route=\"/v1/enrolments\"}"),
        2.0
    );
    assert!(value("tunggal_http_request_duration_seconds_sum{route=\"/v1/enrolments\"}") > 0.0);
    assert_eq!(value("tunggal_matcher_searches_total"), 2.0);
    assert_eq!(value("tunggal_gallery_persons"), 2.0);
    assert_eq!(value("tunggal_queue_depth"), 0.0);
    assert_eq!(value("tunggal_callbacks_dead"), 0.0);
    assert_eq!(value("tunggal_callbacks_pending"), 0.0);
    assert!(value("tunggal_state_syncs_total{store=\"sqlite\"}") > 0.0);
    // The index's stage timings and log counters (process-wide: other tests of this binary
    // add to them, so only that they were recorded and are positive).
    assert!(m.contains("# TYPE tunggal_index_stage1_seconds histogram"));
    assert!(m.contains("tunggal_index_stage1_seconds_bucket{le=\"0.0001\"}"));
    for series in [
        "tunggal_index_stage1_seconds_count",
        "tunggal_index_stage1_seconds_sum",
        "tunggal_index_stage1_probes_total",
        "tunggal_index_stage1_records_total",
        "tunggal_index_stage2_seconds_count",
        "tunggal_index_stage2_seconds_sum",
        "tunggal_index_stage2_candidates_total",
        "tunggal_index_wal_commit_seconds_count",
        "tunggal_index_wal_commit_seconds_sum",
        "tunggal_index_wal_commit_bytes_total",
        "tunggal_index_wal_group_commit_entries_count",
        "tunggal_index_wal_fsyncs_total",
    ] {
        assert!(value(series) > 0.0, "{series} is zero in {m}");
    }
    s.stop().await;
}
