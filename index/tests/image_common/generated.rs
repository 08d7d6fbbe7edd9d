//! The synthetic image fixtures, written at test time by `make_fixtures.py` (ridge patterns
//! encoded by independent encoders: NBIS WSQ through the `wsq` Python package, OpenJPEG and
//! libjpeg through Pillow) into a folder under the target directory, once per version of
//! the script. No image file is kept in git.
//!
//! Shared by the test and bench targets of both crates (`#[path]` includes): it needs only
//! `std`.
#![allow(dead_code, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The script, relative to the `index` crate's folder.
pub const SCRIPT: &str = "tests/fixtures/images/make_fixtures.py";

/// What the script imports, checked before it runs: a missing module is a reason to skip,
/// a failing script with everything present is a test failure.
const PROBE: &str = "import _wsq, wsq\n\
from PIL import Image, features\n\
missing = [c for c in ('jpg', 'jpg_2000') if not features.check_codec(c)]\n\
assert not missing, 'Pillow lacks the codecs ' + ', '.join(missing)\n";

/// FNV-1a of the script, naming the folder its output goes to.
fn version(script: &[u8]) -> u64 {
    script.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The folder of generated fixtures, or why they cannot be generated (python3 or one of
/// the modules the script needs is absent). `index_dir` is the `index` crate's folder,
/// `target_tmp` a folder under the target directory (`CARGO_TARGET_TMPDIR`).
///
/// Parallel tests and test binaries do not race: each writes into its own temporary folder
/// and renames it into place; the first rename wins and the others use its output.
///
/// # Panics
/// When the script fails although python3 and its modules are present.
pub fn generated_fixtures(index_dir: &Path, target_tmp: &Path) -> Result<PathBuf, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| generate(index_dir, target_tmp)).clone()
}

fn generate(index_dir: &Path, target_tmp: &Path) -> Result<PathBuf, String> {
    let script = index_dir.join(SCRIPT);
    let source = std::fs::read(&script)
        .unwrap_or_else(|e| panic!("the fixture script {}: {e}", script.display()));
    let dir = target_tmp.join(format!("image-fixtures-{:016x}", version(&source)));
    if dir.is_dir() {
        return Ok(dir);
    }
    let probe = match Command::new("python3").args(["-c", PROBE]).output() {
        Ok(out) => out,
        Err(e) => return Err(format!("python3 cannot be run: {e}")),
    };
    if !probe.status.success() {
        let stderr = String::from_utf8_lossy(&probe.stderr);
        let last = stderr.lines().last().unwrap_or("no message");
        return Err(format!(
            "python3 lacks what {} needs (`pip install wsq` brings the NBIS codec and \
             Pillow): {last}",
            script.display()
        ));
    }
    std::fs::create_dir_all(target_tmp).unwrap_or_else(|e| panic!("{}: {e}", target_tmp.display()));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let scratch = target_tmp.join(format!("image-fixtures.tmp-{}-{nanos}", std::process::id()));
    let out = Command::new("python3")
        .arg(&script)
        .arg(&scratch)
        .output()
        .unwrap_or_else(|e| panic!("python3 {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    if std::fs::rename(&scratch, &dir).is_err() {
        // Another test binary renamed its output first.
        assert!(dir.is_dir(), "{} could not be put in place", dir.display());
        let _ = std::fs::remove_dir_all(&scratch);
    }
    Ok(dir)
}
