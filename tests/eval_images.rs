//! `tunggal eval fvc` on folders of images: a few real FVC2002 images (skipped with a
//! message when the shared data set is absent) and the synthetic fixture images (generated at
//! test time; skipped with a message when python3 or its modules are absent) with one
//! corrupt file, which must count as a failure to enrol with the decoder's reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../index/tests/image_common/generated.rs"]
mod image_fixtures;

use std::path::{Path, PathBuf};
use std::process::Command;

fn eval(data: &Path, extra: &[&str]) -> (String, serde_json::Value) {
    let json = data.join("figures.json");
    let det = data.join("det.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_tunggal"))
        .args(["eval", "fvc", "--data"])
        .arg(data)
        .arg("--json")
        .arg(&json)
        .arg("--det")
        .arg(&det)
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "eval failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    (stdout, figures)
}

#[test]
fn real_images_are_extracted_and_scored() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/fvc2002-images");
    if !src.join("DB2_B/101_1.tif").exists() {
        eprintln!("skipping: {} is absent", src.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for db in ["DB1_B", "DB2_B"] {
        std::fs::create_dir(dir.path().join(db)).unwrap();
        for finger in [101, 102, 103] {
            for impression in [1, 2, 3] {
                let name = format!("{finger}_{impression}.tif");
                std::fs::copy(src.join(db).join(&name), dir.path().join(db).join(&name)).unwrap();
            }
        }
    }
    let (stdout, figures) = eval(dir.path(), &["--ppi", "DB2_B=569"]);
    assert!(stdout.contains("ms/image"), "{stdout}");
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(name) && l.contains(" 9 "))
            .unwrap_or_else(|| panic!("no extraction line for {name}: {stdout}"))
            .to_owned()
    };
    assert!(line("DB2_B").contains("569"), "{stdout}");
    assert!(line("DB1_B").contains("500"), "{stdout}");
    let all = &figures["extraction"]["all"];
    assert_eq!(all["images"], 18);
    assert_eq!(all["failures"], 0);
    assert!(all["mean_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(figures["extraction"]["databases"][1]["ppi"]["569"], 9);
    // 3 fingers × 3 impressions: 9 genuine pairs, and the extracted templates separate them.
    let db1 = &figures["databases"][0]["all_impostor"];
    assert_eq!(db1["genuine"], 9);
    assert_eq!(db1["impostor"], 27);
    assert!(
        figures["mean_all_impostor"]["eer"].as_f64().unwrap() < 0.2,
        "{stdout}"
    );
}

#[test]
fn synthetic_images_with_a_corrupt_file_count_a_failure_to_enrol() {
    let index = Path::new(env!("CARGO_MANIFEST_DIR")).join("index");
    let fixtures =
        match image_fixtures::generated_fixtures(&index, Path::new(env!("CARGO_TARGET_TMPDIR"))) {
            Ok(dir) => dir,
            Err(why) => {
                eprintln!("skipping: the synthetic image fixtures cannot be generated: {why}");
                return;
            }
        };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("SYN");
    std::fs::create_dir(&db).unwrap();
    let copy = |from: &str, to: &str| std::fs::copy(fixtures.join(from), db.join(to)).unwrap();
    copy("ridges_256x320.png", "101_1.png");
    copy("ridges_256x320.wsq", "101_2.wsq");
    copy("ridges_301x257.png", "102_1.png");
    copy("ridges_301x257.jp2", "102_2.jp2");
    std::fs::write(db.join("103_1.tif"), b"II*\0truncated").unwrap();
    std::fs::write(db.join("103_2.png"), b"not an image at all").unwrap();
    std::fs::write(db.join("notes.txt"), b"ignored").unwrap();
    let (stdout, figures) = eval(dir.path(), &[]);
    assert!(stdout.contains("failure-to-enrol"), "{stdout}");
    let syn = &figures["extraction"]["databases"][0];
    assert_eq!(syn["name"], "SYN");
    assert_eq!(syn["images"], 6);
    let failures = syn["failures"].as_u64().unwrap();
    assert!(failures >= 2, "{stdout}");
    let reasons = syn["reasons"].as_object().unwrap();
    let counted: u64 = reasons.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(counted, failures);
    assert!(
        reasons.keys().all(|k| !k.is_empty() && !k.contains(' ')),
        "{reasons:?}"
    );
    assert_eq!(syn["ppi"]["500"], 6);
}

#[test]
fn extractor_settings_are_refused_on_template_folders() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("DB")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tunggal"))
        .args(["eval", "fvc", "--data"])
        .arg(dir.path())
        .args(["--set", "extract.spur=8"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only to folders of images"));
}

#[test]
fn the_lodo_grid_takes_extractor_parameters_on_images() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/fvc2002-images");
    if !src.join("DB3_B/101_1.tif").exists() {
        eprintln!("skipping: {} is absent", src.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for db in ["DB3_B", "DB4_B"] {
        std::fs::create_dir(dir.path().join(db)).unwrap();
        for finger in [101, 102] {
            for impression in [1, 2] {
                let name = format!("{finger}_{impression}.tif");
                std::fs::copy(src.join(db).join(&name), dir.path().join(db).join(&name)).unwrap();
            }
        }
    }
    let (stdout, figures) = eval(
        dir.path(),
        &[
            "--lodo",
            "--grid",
            "extract.spur=8,12",
            "--grid",
            "max_np=10,12",
        ],
    );
    assert!(stdout.contains("LODO mean"), "{stdout}");
    // Extraction runs once per extractor setting (base, spur=8, spur=12); each is scored
    // under the base matcher and both matcher values.
    let extraction = figures["extraction"].as_array().unwrap();
    assert_eq!(extraction.len(), 3);
    assert_eq!(extraction[1]["assignments"][0], "extract.spur=8");
    let candidates = figures["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 9);
    assert!(candidates[0]["assignments"].as_array().unwrap().is_empty());
    assert_eq!(candidates[4]["assignments"][0], "extract.spur=8");
    assert_eq!(candidates[4]["assignments"][1], "max_np=10");
    assert_eq!(figures["folds"].as_array().unwrap().len(), 2);
}
