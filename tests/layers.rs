//! Calls run one way, HTTP → engine → index: no module below the HTTP API imports from
//! `crate::service`. The binary's `main` and `cli` compose the service with everything else;
//! the review pages are a router the service merges, handed their state, so they import
//! nothing from it either.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};

/// Directories and files under `src/` that must not name `crate::service`.
const LOWER: &[&str] = &[
    "engine",
    "cases",
    "state",
    "ops",
    "persons",
    "bench",
    "loadgen",
    "mosip",
    "osia",
    "review",
    "enrolment",
    "access",
    "calibrate",
    "eval",
    "problem.rs",
    "clock.rs",
    "work.rs",
    "telemetry.rs",
    "dedup.rs",
    "eval.rs",
    "plot.rs",
    "cluster",
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for entry in entries {
            rust_files(&entry, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

/// Lines of code (not comments) in `text` that name the service module.
fn upward_imports(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .filter(|(_, line)| line.contains("crate::service") || line.contains("tunggal::service"))
        .map(|(i, line)| (i + 1, line.trim().to_owned()))
        .collect()
}

#[test]
fn the_detector_finds_an_upward_import() {
    let text = "//! see `crate::service`\nuse crate::service::server::AppState;\n";
    assert_eq!(upward_imports(text).len(), 1);
    assert_eq!(upward_imports(text)[0].0, 2);
}

#[test]
fn no_lower_layer_imports_the_service() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for lower in LOWER {
        let path = src.join(lower);
        assert!(path.exists(), "{} does not exist", path.display());
        rust_files(&path, &mut files);
    }
    assert!(files.len() > 50, "only {} files scanned", files.len());
    let mut found = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        for (line, code) in upward_imports(&text) {
            found.push(format!("{}:{line}: {code}", file.display()));
        }
    }
    assert!(
        found.is_empty(),
        "imports from the service layer:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_top_level_module_is_classified() {
    // A new module under src/ must be placed on one side: lower (listed above) or a
    // composer of the service (the HTTP API itself, the CLI, the binary).
    let composers = ["service", "cli", "main.rs", "lib.rs"];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in fs::read_dir(&src).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let known = LOWER.contains(&name.as_str()) || composers.contains(&name.as_str());
        assert!(known, "src/{name} is neither a lower layer nor a composer");
    }
}

/// The shared contract and the state store sit below the engine and the access layer:
/// `enrolment/` (the contract every layer shares) and `state/` (the SQLite store and its
/// rows) name nothing of `engine/`, `service/` or `access/`; those layers build on them.
const FOUNDATIONS: &[&str] = &["enrolment", "state"];

/// The modules the foundations must not name.
const ABOVE_FOUNDATIONS: &[&str] = &["engine", "service", "access"];

/// Lines of code (not comments) in `text` that name one of `modules` of the crate.
fn imports_of(text: &str, modules: &[&str]) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .filter(|(_, line)| {
            modules.iter().any(|m| {
                line.contains(&format!("crate::{m}::")) || line.contains(&format!("tunggal::{m}::"))
            })
        })
        .map(|(i, line)| (i + 1, line.trim().to_owned()))
        .collect()
}

#[test]
fn the_detector_finds_an_import_of_the_engine() {
    let text = "//! see `crate::engine::GalleryEngine`\nuse crate::engine::callback::Notifier;\n";
    assert_eq!(
        imports_of(text, ABOVE_FOUNDATIONS),
        [(2, "use crate::engine::callback::Notifier;".to_owned())]
    );
    assert!(imports_of("use crate::cases::CaseStore;\n", ABOVE_FOUNDATIONS).is_empty());
}

#[test]
fn the_contract_and_the_state_store_import_nothing_above_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for dir in FOUNDATIONS {
        rust_files(&src.join(dir), &mut files);
    }
    assert!(files.len() > 15, "only {} files scanned", files.len());
    let mut found = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        for (line, code) in imports_of(&text, ABOVE_FOUNDATIONS) {
            found.push(format!("{}:{line}: {code}", file.display()));
        }
    }
    assert!(
        found.is_empty(),
        "imports from above:\n{}",
        found.join("\n")
    );
}
