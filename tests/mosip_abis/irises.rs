//! Irises and fingers as MOSIP sends them at registration: FVC2002 fingers as ISO/IEC
//! 19794-4 records with JPEG 2000 lossless payloads and CASIA-IrisV1 eyes as ISO/IEC 19794-6
//! records with JPEG 2000 payloads, both converted in the test (Pillow's OpenJPEG), in
//! CBEFF. Skipped, saying why, when a data set or the converter is absent.
//!
//! - X (DB4_B fingers, impression 1; eyes 001 as right and 002 as left, image 1) and Y (the
//!   same fingers, impression 2; the same eyes, image 2) are inserted; identify of Y names X
//!   with finger and iris evidence.
//! - Z (DB2_B's fingers, someone else; the same eyes, image 3) names X and Y by the irises.
//! - A share with good fingers and two bad eyes (one that does not decode, one with no
//!   pupil) is inserted and searched: the eyes are left out, reported by reason.
//! - Iris-only shares: good eyes fail with 18 (the engine searches only with at least three
//!   usable fingers), undecodable ones with 16, pupil-less ones with 18.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tunggal_index::image::iris_record::IrisPayloadFormat;

use crate::harness::*;
use crate::images::*;
use crate::support::*;

/// The shared data sets: `TUNGGAL_SHARED_DATASETS`, else `../shared/datasets` beside the
/// repository.
pub fn datasets() -> PathBuf {
    std::env::var_os("TUNGGAL_SHARED_DATASETS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"),
        PathBuf::from,
    )
}

fn casia(class: u32, n: u32) -> PathBuf {
    datasets().join(format!(
        "iris-images/casia-v1/{class:03}/U/{class:03}_1_{n}.jpg"
    ))
}

fn fvc(db: &str, finger: u32, impression: u32) -> PathBuf {
    datasets().join(format!("fvc2002-images/{db}/{finger}_{impression}.tif"))
}

/// Width and height of an image file.
fn dimensions(path: &Path) -> (u16, u16) {
    let img = tunggal_index::image::decode(&std::fs::read(path).unwrap(), None).unwrap();
    (img.width() as u16, img.height() as u16)
}

/// The images the test converts, in order: fingers 101–110 of (DB4_B, 1), (DB4_B, 2),
/// (DB2_B, 1), (DB2_B, 2), then eyes 001 and 002 images 1, 2 and 3, and eyes 003 and 004
/// image 1.
fn sources() -> Vec<PathBuf> {
    let mut s = Vec::new();
    for (db, imp) in [("DB4_B", 1), ("DB4_B", 2), ("DB2_B", 1), ("DB2_B", 2)] {
        s.extend((101..=110).map(|f| fvc(db, f, imp)));
    }
    for n in 1..=3 {
        s.push(casia(1, n));
        s.push(casia(2, n));
    }
    s.push(casia(3, 1));
    s.push(casia(4, 1));
    s
}

struct Converted {
    paths: Vec<PathBuf>,
    jp2: Vec<Vec<u8>>,
}

impl Converted {
    /// The ten finger samples of group `g` (0–3), JPEG 2000 in 19794-4.
    fn fingers(&self, g: usize, ppi: u16) -> Vec<Sample> {
        (0..10)
            .map(|i| {
                let k = 10 * g + i;
                let (w, h) = dimensions(&self.paths[k]);
                let position = i as u8 + 1;
                let record = iso_19794_4_with(position, w, h, ppi, JPEG2000_LOSSLESS, &self.jp2[k]);
                Sample::finger_image(position, record)
            })
            .collect()
    }

    /// The iris sample of converted eye image `k` (40 onwards) as the `eye` eye.
    fn eye(&self, k: usize, eye: &str) -> Sample {
        let (w, h) = dimensions(&self.paths[k]);
        let record = iso_19794_6(eye, w, h, IrisPayloadFormat::MonoJpeg2000, &self.jp2[k]);
        Sample::iris_image(if eye == "left" { "Left" } else { "Right" }, record)
    }

    /// Eyes 001 (right) and 002 (left), image `n` (1–3).
    fn eyes(&self, n: usize) -> Vec<Sample> {
        let k = 40 + 2 * (n - 1);
        vec![self.eye(k, "right"), self.eye(k + 1, "left")]
    }
}

fn joined(mut a: Vec<Sample>, b: Vec<Sample>) -> Vec<Sample> {
    a.extend(b);
    a
}

/// An eye record whose image has no pupil or iris (uniform grey, raw pixels).
fn flat_eye(eye: &str) -> Sample {
    let record = iso_19794_6(
        eye,
        320,
        280,
        IrisPayloadFormat::MonoRaw,
        &[128u8; 320 * 280],
    );
    Sample::iris_image(if eye == "left" { "Left" } else { "Right" }, record)
}

fn modality<'a>(candidate: &'a Value, kind: &str) -> &'a Value {
    candidate["modalities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["biometricType"] == kind)
        .map(|m| &m["analytics"])
        .unwrap()
}

fn candidate<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["candidateList"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["referenceId"] == id)
        .unwrap_or_else(|| panic!("{id} is not a candidate: {r}"))
}

pub async fn iris_duplicates(s: &mut Suite) {
    let paths = sources();
    if let Some(absent) = paths.iter().find(|p| !p.exists()) {
        eprintln!("skipping the iris part: {} is absent", absent.display());
        return;
    }
    let jp2 = match jp2_lossless("irises", &paths) {
        Ok(j) => j,
        Err(why) => {
            eprintln!("skipping the iris part: {why}");
            return;
        }
    };
    let c = Converted { paths, jp2 };
    let count = |r: &Value| r["count"].as_str().unwrap().parse::<u64>().unwrap();
    let before = count(&s.op("referenceCount", json!({})).await);

    // X and Y: one person's fingers (JPEG 2000 19794-4) and eyes (JPEG 2000 19794-6).
    let x = s
        .share
        .put("iris-x", cbeff(&joined(c.fingers(0, 500), c.eyes(1))));
    let y = s
        .share
        .put("iris-y", cbeff(&joined(c.fingers(1, 500), c.eyes(2))));
    assert_success(&s.insert("iris-x", &x).await, "insert");
    assert_success(&s.insert("iris-y", &y).await, "insert");
    let r = s.identify("iris-y", json!({})).await;
    assert_success(&r, "identify");
    assert_eq!(candidates(&r), vec!["iris-x"], "{r}");
    let found = candidate(&r, "iris-x");
    assert_eq!(modality(found, "FIR")["fingersCompared"], "10", "{r}");
    let iir = modality(found, "IIR");
    eprintln!("Y against X: {found}");
    assert_eq!(iir["used"], "true", "{r}");
    assert_eq!(iir["eyesCompared"], "2", "{r}");
    for eye in ["right", "left"] {
        let d: f64 = iir["irisDistances"][eye].as_str().unwrap().parse().unwrap();
        assert!(d < 0.40, "{eye} eye distance {d}: {r}");
    }

    // Z: someone else's fingers with X's and Y's eyes: found by the irises.
    let z = s
        .share
        .put("iris-z", cbeff(&joined(c.fingers(2, 569), c.eyes(3))));
    assert_success(&s.insert("iris-z", &z).await, "insert");
    let r = s.identify("iris-z", json!({})).await;
    assert_success(&r, "identify");
    eprintln!("Z (other fingers, same eyes): {r}");
    let named = candidates(&r);
    assert!(named.contains(&"iris-x".to_owned()), "{r}");
    assert!(!named.iter().any(|n| n.starts_with("fvc-")), "{r}");
    let iir = modality(candidate(&r, "iris-x"), "IIR");
    assert_eq!(iir["eyesCompared"], "2", "{r}");

    // Good fingers, bad eyes: inserted; the eyes are left out and reported by reason.
    let mut bad_eyes = c.fingers(3, 569);
    bad_eyes.push(Sample::iris_image(
        "Left",
        b"IIR\x00020\x00 cut short".to_vec(),
    ));
    bad_eyes.push(flat_eye("right"));
    let w = s.share.put("iris-w", cbeff(&bad_eyes));
    let r = s.op("identify", json!({ "referenceUrl": &w })).await;
    assert_success(&r, "identify");
    eprintln!("fingers of Z (impression 2) with bad eyes: {r}");
    let iir = modality(candidate(&r, "iris-z"), "IIR");
    let out = iir["probeEyesLeftOut"].as_array().unwrap();
    let by_eye = |eye: &str| out.iter().find(|e| e["eye"] == eye).unwrap().clone();
    assert_eq!(by_eye("left")["failureReason"], "16", "{r}");
    assert_eq!(by_eye("right")["failureReason"], "18", "{r}");
    let why = by_eye("right")["reason"].as_str().unwrap().to_owned();
    assert!(why.starts_with("iris_"), "{r}");
    assert_success(&s.insert("iris-w", &w).await, "insert");

    // Iris-only shares.
    let eyes_only = s
        .share
        .put("iris-only", cbeff(&[c.eye(46, "right"), c.eye(47, "left")]));
    assert_failure(
        &s.insert("iris-only", &eyes_only).await,
        18,
        "good eyes without fingers (the engine's minimum is three fingers)",
    );
    let broken = s.share.put(
        "iris-broken",
        cbeff(&[Sample::iris_image("Left", b"IIR\x00020\x00 cut".to_vec())]),
    );
    assert_failure(
        &s.insert("iris-broken", &broken).await,
        16,
        "an undecodable eye alone",
    );
    let flat = s
        .share
        .put("iris-flat", cbeff(&[flat_eye("left"), Sample::face()]));
    assert_failure(
        &s.insert("iris-flat", &flat).await,
        18,
        "a pupil-less eye alone",
    );

    let after = count(&s.op("referenceCount", json!({})).await);
    assert_eq!(after, before + 4, "X, Y, Z and W inserted, nothing else");
}
