//! Disk-full drill: the data directory is a small tmpfs. Filled up, enrolments are refused with
//! `507 insufficient_storage` (never a 500) and nothing is written; once space is freed the
//! same server admits enrolments again, every acknowledged enrolment keeps its verdict, and
//! after a restart on the same directory they are all there and duplicates are still caught.
//!
//! Needs root and permission to mount tmpfs; otherwise it prints why it skips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ops_harness;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use ops_harness::{config, http, post_json, request_bytes, service_point_key, Reply, ADMIN_KEY};
use serde_json::{json, Value};
use tunggal::cases::CaseStore;
use tunggal::engine::synthetic::request_of;
use tunggal::engine::{EngineOptions, GalleryEngine};
use tunggal::service::disk::available_bytes;
use tunggal::service::Service;
use tunggal_datasets::population::{CaptureSpec, Population};

const SEED: u64 = 23;
const RESERVE: u64 = 16 * 1024 * 1024;

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Self, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Self(at.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

struct Server {
    running: ops_harness::Running,
}

async fn start(dir: &Path) -> Server {
    start_with_reserve(dir, RESERVE).await
}

async fn start_with_reserve(dir: &Path, reserve: u64) -> Server {
    let mut cfg = config(dir);
    cfg.min_free_bytes = reserve;
    cfg.body_limit_bytes = 1024 * 1024;
    cfg.request_timeout_secs = 120;
    std::fs::create_dir_all(dir).unwrap();
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
    let service = Service::bind(cfg, Arc::new(engine), cases, Some(ADMIN_KEY))
        .await
        .unwrap();
    Server {
        running: ops_harness::start_bound(service),
    }
}

fn body(pop: &Population, id: u64, number: u64, alias: Option<u64>, rid: &str) -> Vec<u8> {
    let spec = CaptureSpec {
        alias,
        ..CaptureSpec::default()
    };
    let capture = pop.capture(&pop.person(id), number, &spec);
    serde_json::to_vec(&request_of(&capture, rid, "317101", "sp-1")).unwrap()
}

fn no_server_error(reply: &Reply, what: &str) {
    assert!(
        reply.status < 500 || reply.status == 503 || reply.status == 507,
        "{what}: {} {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    if reply.status >= 400 {
        let _ = reply.problem_reason();
    }
}

/// Writes a ballast file until less than `leave` bytes are free (0: until the disk is full).
fn fill(path: &Path, leave: u64) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let chunk = vec![0x5au8; 256 * 1024];
    loop {
        let free = available_bytes(path.parent().unwrap()).unwrap();
        if leave > 0 && free < leave {
            return;
        }
        let n = if free < chunk.len() as u64 {
            4096
        } else {
            chunk.len()
        };
        if f.write_all(&chunk[..n]).is_err() {
            return;
        }
    }
}

async fn status_of(addr: std::net::SocketAddr, key: &str, rid: &str) -> Reply {
    let auth = format!("Bearer {key}");
    http(
        addr,
        &request_bytes(
            "GET",
            &format!("/v1/enrolments/{rid}"),
            &[("authorization", &auth)],
            b"",
        ),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_refuses_enrolments_and_recovers_without_restart() {
    let root = tempfile::tempdir().unwrap();
    let mount_at = root.path().join("mnt");
    let _tmpfs = match Tmpfs::mount(&mount_at, "192m") {
        Ok(t) => t,
        Err(why) => {
            println!("SKIP disk-full drill: cannot mount a tmpfs ({why}); needs root");
            return;
        }
    };
    let data = mount_at.join("data");
    let ballast = mount_at.join("ballast");
    let pop = Population::new(SEED);
    let server = start(&data).await;
    let addr = server.running.addr;
    let sp = service_point_key(addr).await;

    // Acknowledged enrolments before the disk fills.
    let mut acknowledged: Vec<(String, String)> = Vec::new();
    for id in 0..4u64 {
        let rid = format!("before-{id}");
        let r = post_json(addr, "/v1/enrolments", &sp, &body(&pop, id, 0, None, &rid)).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["verdict"], "single");
        acknowledged.push((rid, r.json()["reference_id"].as_str().unwrap().to_owned()));
    }

    // Below the reserve: enrolments refused with 507 before anything is written.
    fill(&ballast, RESERVE / 2);
    let r = post_json(
        addr,
        "/v1/enrolments",
        &sp,
        &body(&pop, 10, 0, None, "during-1"),
    )
    .await;
    assert_eq!(r.status, 507, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.problem_reason(), "insufficient_storage");
    assert!(r.header("retry-after").is_some());

    // Completely full: nothing answers 500, reads still work or say the disk is full.
    fill(&ballast, 0);
    println!(
        "free after filling: {} bytes",
        available_bytes(&data).unwrap()
    );
    let r = post_json(
        addr,
        "/v1/enrolments",
        &sp,
        &body(&pop, 11, 0, None, "during-2"),
    )
    .await;
    assert_eq!(r.status, 507);
    for (rid, _) in &acknowledged {
        no_server_error(&status_of(addr, &sp, rid).await, "status while full");
    }
    let admin_key = post_json(
        addr,
        "/v1/admin/keys",
        ADMIN_KEY,
        &serde_json::to_vec(&json!({"role": "analyst", "name": "x"})).unwrap(),
    )
    .await;
    no_server_error(&admin_key, "key creation while full");

    // Space freed: the same server enrols again, no restart. The kernel may give the
    // ballast's pages back a moment after the unlink on a loaded machine, so wait for the
    // file system to show the space before asking (the server reads it per request).
    std::fs::remove_file(&ballast).unwrap();
    let mut waited = 0;
    while available_bytes(&data).unwrap() < 2 * RESERVE && waited < 200 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
    assert!(
        available_bytes(&data).unwrap() >= 2 * RESERVE,
        "the file system did not give the ballast's space back within 10 s"
    );
    let r = post_json(
        addr,
        "/v1/enrolments",
        &sp,
        &body(&pop, 12, 0, None, "after-1"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["verdict"], "single");
    acknowledged.push((
        "after-1".to_owned(),
        r.json()["reference_id"].as_str().unwrap().to_owned(),
    ));
    // A refused request_id can be sent again now and is processed normally.
    let r = post_json(
        addr,
        "/v1/enrolments",
        &sp,
        &body(&pop, 10, 0, None, "during-1"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    acknowledged.push((
        "during-1".to_owned(),
        r.json()["reference_id"].as_str().unwrap().to_owned(),
    ));
    for (rid, reference) in &acknowledged {
        let r = status_of(addr, &sp, rid).await;
        assert_eq!(r.status, 200, "{rid}: {}", String::from_utf8_lossy(&r.body));
        let v: Value = r.json();
        assert_eq!(v["verdict"], "single", "{rid}: {v}");
        assert_eq!(v["reference_id"], reference.as_str(), "{rid}: {v}");
    }
    server.running.stop().await;

    // Restart on the same directory: every acknowledged enrolment is intact and a new capture
    // of an earlier person is still caught as a duplicate.
    let server = start(&data).await;
    let addr = server.running.addr;
    let sp = service_point_key(addr).await;
    for (rid, reference) in &acknowledged {
        let r = status_of(addr, &sp, rid).await;
        assert_eq!(
            r.status,
            200,
            "{rid} after restart: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json()["reference_id"], reference.as_str());
    }
    let r = post_json(
        addr,
        "/v1/enrolments",
        &sp,
        &body(&pop, 2, 1, Some(1), "dup-after"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["verdict"], "duplicate", "{}", r.json());
    server.running.stop().await;
}

/// Without the reserve (`min_free_bytes = 0`) a full disk is met by the writes themselves
/// (the idempotency claim, the intent, the gallery log or the outcome's commit, whichever
/// needs a new block first): each enrolment is answered 200 or 507, never 503 or 500, and
/// the ones refused are not acknowledged and go through once space is freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_met_inside_the_engine_answers_507() {
    let root = tempfile::tempdir().unwrap();
    let mount_at = root.path().join("mnt");
    let _tmpfs = match Tmpfs::mount(&mount_at, "96m") {
        Ok(t) => t,
        Err(why) => {
            println!("SKIP engine disk-full drill: cannot mount a tmpfs ({why}); needs root");
            return;
        }
    };
    let data = mount_at.join("data");
    let ballast = mount_at.join("ballast");
    let pop = Population::new(SEED + 1);
    let server = start_with_reserve(&data, 0).await;
    let addr = server.running.addr;
    let sp = service_point_key(addr).await;
    let r = post_json(
        addr,
        "/v1/enrolments",
        &sp,
        &body(&pop, 0, 0, None, "first"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    fill(&ballast, 0);
    let mut acknowledged = vec!["first".to_owned()];
    let mut refused = Vec::new();
    for id in 1..=20u64 {
        let rid = format!("full-{id}");
        let r = post_json(addr, "/v1/enrolments", &sp, &body(&pop, id, 0, None, &rid)).await;
        let text = String::from_utf8_lossy(&r.body).into_owned();
        match r.status {
            200 => acknowledged.push(rid),
            507 => {
                assert_eq!(r.problem_reason(), "insufficient_storage", "{text}");
                assert!(r.header("retry-after").is_some(), "{text}");
                println!("{rid}: {text}");
                refused.push((id, rid));
                if refused.len() == 3 {
                    break;
                }
            }
            other => panic!("{rid} on a full disk answered {other}: {text}"),
        }
    }
    assert!(!refused.is_empty(), "no enrolment met the full disk");
    for (_, rid) in &refused {
        let r = status_of(addr, &sp, rid).await;
        assert_ne!(r.status, 200, "{rid} refused but acknowledged");
    }

    // Space freed: the refused requests go through with the same request ids.
    std::fs::remove_file(&ballast).unwrap();
    for (id, rid) in &refused {
        let r = post_json(addr, "/v1/enrolments", &sp, &body(&pop, *id, 0, None, rid)).await;
        assert_eq!(r.status, 200, "{rid}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["verdict"], "single", "{rid}: {}", r.json());
        acknowledged.push(rid.clone());
    }
    server.running.stop().await;
    let server = start_with_reserve(&data, 0).await;
    let addr = server.running.addr;
    let sp = service_point_key(addr).await;
    for rid in &acknowledged {
        let r = status_of(addr, &sp, rid).await;
        assert_eq!(r.status, 200, "{rid}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["verdict"], "single", "{rid}");
    }
    server.running.stop().await;
}
