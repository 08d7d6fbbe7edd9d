//! Compaction of the image store: the images of deleted persons are reclaimed through
//! `POST /v1/admin/images/compact`, every other person's images read back unchanged, and a
//! kill after any step (or an aborted switch transaction) loses no image a person names.

use std::collections::BTreeMap;
use std::path::Path;

use tunggal::engine::image_compaction::{CompactionStep, ImageCompactionError};
use tunggal::engine::images::IMAGES_DIR;
use tunggal::engine::registry::key_of;
use tunggal::ops::fsck;
use tunggal_index::image::{self, ImageFormat};
use tunggal_index::image_store::{segment_name, HEADER_LEN};

use super::harness::*;

/// Image fingers at positions 4 and 7: blank TIFFs whose grey levels tell the persons apart.
const POSITIONS: [u8; 2] = [4, 7];

fn grey(id: u64, position: u8) -> u8 {
    (100 + id * 7 + u64::from(position)) as u8
}

/// Enrols persons `ids` with two image fingers each; returns their reference ids.
async fn enrol_with_images(s: &Running, sp: &str, ids: &[u64]) -> Vec<String> {
    let pop = Population::new(SEED);
    let mut refs = Vec::new();
    for &id in ids {
        let mut request = body(&pop, id, 0, None, &format!("ic-{id}"), "sp-img");
        for p in POSITIONS {
            let tiff = super::images::tiff_grey8(300, 400, &vec![grey(id, p); 300 * 400]);
            request["fingerprints"][usize::from(p) - 1] = image_finger(p, "tiff", &tiff, None);
        }
        let v = enrol(s, sp, &request).await;
        assert_eq!(v["verdict"], "single", "{v}");
        refs.push(v["reference_id"].as_str().unwrap().to_owned());
    }
    refs
}

async fn delete(s: &Running, reference: &str) {
    let r = send(
        Method::DELETE,
        &s.url(&format!("/v1/persons/{reference}")),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(r.json()["deleted"], true, "{}", r.text());
}

/// Every image finger of `live` reads back with its own grey level; those of `deleted` are
/// not served.
fn assert_prints(s: &Running, live: &BTreeMap<String, u64>, deleted: &[String]) {
    for (reference, &id) in live {
        for p in POSITIONS {
            let png = s
                .engine()
                .finger_print_png(reference, p)
                .unwrap_or_else(|e| panic!("{reference} {p}: {e:?}"))
                .unwrap_or_else(|| panic!("{reference} {p}: no image"));
            let img = image::decode(&png, Some(ImageFormat::Png)).unwrap();
            assert!(
                img.pixels().iter().all(|&v| v == grey(id, p)),
                "{reference} position {p}"
            );
        }
    }
    for reference in deleted {
        assert!(s.engine().finger_print_png(reference, 4).unwrap().is_none());
    }
}

/// Bytes of the records the live persons name (header and payload).
fn named_bytes(s: &Running, live: &BTreeMap<String, u64>) -> u64 {
    live.keys()
        .flat_map(|r| {
            let e = s.engine().registry().get(key_of(r).unwrap()).unwrap();
            e.meta.fingers.into_iter().map(|f| f.image.length)
        })
        .map(|l| HEADER_LEN as u64 + u64::from(l))
        .sum()
}

fn fsck_clean(dir: &Path) {
    let report = fsck::check(dir).unwrap();
    assert!(report.clean, "{report:?}");
    assert!(report.image_refs.is_empty(), "{:?}", report.image_refs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_reclaims_the_images_of_deleted_persons_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_limited(dir.path(), loopback_callbacks(), 4 * 1024 * 1024).await;
    let sp = sp_key(&s, "sp-img").await;
    let ids: Vec<u64> = (30..36).collect();
    let refs = enrol_with_images(&s, &sp, &ids).await;
    let mut live: BTreeMap<String, u64> = refs.iter().cloned().zip(ids).collect();
    let mut deleted = Vec::new();
    for r in refs.iter().step_by(2) {
        delete(&s, r).await;
        live.remove(r);
        deleted.push(r.clone());
    }
    let before = s.engine().image_store_bytes().unwrap();

    // Admins only, as problem+json.
    let url = s.url("/v1/admin/images/compact");
    let r = post(&url, &sp, &serde_json::json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.headers["content-type"], "application/problem+json");
    assert_eq!(s.engine().image_store_bytes().unwrap(), before);

    let r = post(&url, ADMIN_KEY, &serde_json::json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let report = r.json();
    let kept = named_bytes(&s, &live);
    assert_eq!(report["images_kept"], 6, "{report}");
    assert_eq!(report["persons_switched"], 3, "{report}");
    assert_eq!(report["bytes_before"], before, "{report}");
    assert_eq!(report["bytes_after"], kept, "{report}");
    assert_eq!(report["bytes_reclaimed"], before - kept, "{report}");
    assert!(kept < before, "{report}");
    assert_eq!(s.engine().image_store_bytes().unwrap(), kept);
    assert_prints(&s, &live, &deleted);

    // The metrics count it.
    let m = get(&s.url("/metrics"), ADMIN_KEY).await.text();
    let value = |series: &str| -> f64 {
        m.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{series} missing"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("tunggal_image_compactions_total"), 1.0);
    assert_eq!(value("tunggal_image_compaction_images_total"), 6.0);
    assert_eq!(
        value("tunggal_image_compaction_reclaimed_bytes_total"),
        (before - kept) as f64
    );
    assert_eq!(value("tunggal_image_store_bytes"), kept as f64);

    // Enrolments go on after it, and a second compaction keeps everything.
    let more = enrol_with_images(&s, &sp, &[40]).await;
    live.insert(more[0].clone(), 40);
    assert_prints(&s, &live, &deleted);
    let report = s.engine().compact_images().unwrap();
    assert_eq!(report.images_kept, 8);
    assert_eq!(report.bytes_after, named_bytes(&s, &live));
    assert_prints(&s, &live, &deleted);
    s.stop().await;
    fsck_clean(dir.path());

    // After a restart everything reads back.
    let s = start_limited(dir.path(), loopback_callbacks(), 4 * 1024 * 1024).await;
    assert_prints(&s, &live, &deleted);

    // A flipped byte in a compacted image is refused, never served as another image.
    let e = s
        .engine()
        .registry()
        .get(key_of(&more[0]).unwrap())
        .unwrap();
    let at = e.meta.fingers[0].image;
    s.stop().await;
    let path = dir.path().join(IMAGES_DIR).join(segment_name(at.segment));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[at.offset as usize + HEADER_LEN + 9] ^= 0x04;
    std::fs::write(&path, &bytes).unwrap();
    let report = fsck::check(dir.path()).unwrap();
    assert!(!report.clean);
    assert_eq!(report.image_refs.len(), 1, "{:?}", report.image_refs);
    let s = start_limited(dir.path(), loopback_callbacks(), 4 * 1024 * 1024).await;
    assert!(s.engine().finger_print_png(&more[0], 4).is_err());
    // And fails a compaction, which changes nothing.
    assert!(s.engine().compact_images().is_err());
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    s.stop().await;
}

/// Where a kill interrupts the compaction.
#[derive(Debug, Clone, Copy)]
enum Kill {
    After(CompactionStep),
    /// The switch transaction aborted by a SQLite trigger.
    InSwitch,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_after_any_step_of_a_compaction_loses_no_named_image() {
    for kill in [
        Kill::After(CompactionStep::Sealed),
        Kill::After(CompactionStep::Rewritten),
        Kill::InSwitch,
        Kill::After(CompactionStep::Switched),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let s = start_limited(dir.path(), loopback_callbacks(), 4 * 1024 * 1024).await;
        let sp = sp_key(&s, "sp-img").await;
        let ids = [50, 51, 52];
        let refs = enrol_with_images(&s, &sp, &ids).await;
        let mut live: BTreeMap<String, u64> = refs.iter().cloned().zip(ids).collect();
        delete(&s, &refs[1]).await;
        live.remove(&refs[1]);
        let deleted = vec![refs[1].clone()];
        let failed = match kill {
            Kill::After(step) => {
                let e = s.engine().compact_images_until(Some(step)).unwrap_err();
                assert!(
                    matches!(e, ImageCompactionError::Stopped(st) if st == step),
                    "{e}"
                );
                e
            }
            Kill::InSwitch => {
                let conn = rusqlite::Connection::open(dir.path().join("state.sqlite3")).unwrap();
                conn.execute_batch(
                    "CREATE TRIGGER failpoint BEFORE UPDATE OF meta ON persons \
                     BEGIN SELECT RAISE(ABORT, 'failpoint'); END;",
                )
                .unwrap();
                let e = s.engine().compact_images().unwrap_err();
                assert!(matches!(e, ImageCompactionError::State(_)), "{e}");
                conn.execute_batch("DROP TRIGGER failpoint;").unwrap();
                e
            }
        };
        assert_prints(&s, &live, &deleted);
        s.stop().await;
        fsck_clean(dir.path());

        // A new process: every image a person names reads back, and a compaction reclaims
        // whatever the interrupted one left.
        let s = start_limited(dir.path(), loopback_callbacks(), 4 * 1024 * 1024).await;
        assert_prints(&s, &live, &deleted);
        let report = s.engine().compact_images().unwrap();
        assert_eq!(report.images_kept, 4, "{kill:?} after {failed}");
        assert_eq!(
            s.engine().image_store_bytes().unwrap(),
            named_bytes(&s, &live),
            "{kill:?}"
        );
        assert_prints(&s, &live, &deleted);
        s.stop().await;
        fsck_clean(dir.path());
        let names: Vec<String> = std::fs::read_dir(dir.path().join(IMAGES_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| n.starts_with("img-") && n.ends_with(".dat")),
            "{kill:?}: {names:?}"
        );
    }
}
