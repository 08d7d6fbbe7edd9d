//! The journals of older releases that the state store has taken over: their names, and
//! the refusal to run on a data directory that still holds one (`tunggal migrate`,
//! `ops/migrate.rs`, moves them in).

use std::path::{Path, PathBuf};

use super::idempotency::IDEMPOTENCY_FILE;
use super::StateError;
use crate::cases::legacy::CASES_FILE;

/// File name of the registry journal of older releases.
pub const REGISTRY_FILE: &str = "registry.jsonl";
/// File name of the callback outbox journal of older releases.
pub const OUTBOX_NAME: &str = "callbacks.jsonl";
/// File name of the API key journal of older releases.
pub const KEYS_FILE: &str = "keys.jsonl";

/// Journals the state store has taken over, by file name.
pub const MIGRATED_JOURNALS: [&str; 5] = [
    REGISTRY_FILE,
    IDEMPOTENCY_FILE,
    OUTBOX_NAME,
    KEYS_FILE,
    CASES_FILE,
];

/// Refuses to run on `data_dir` while a journal the store has taken over is still there.
pub fn require_migrated(data_dir: &Path) -> Result<(), StateError> {
    for name in MIGRATED_JOURNALS {
        let path = data_dir.join(name);
        if path.exists() {
            return Err(StateError::NotMigrated {
                path,
                dir: data_dir.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Renames the file of an older release at `path` to `<name>.migrated` (`.migrated-2`, …
/// if taken) and syncs its directory; returns the new path. Nothing is deleted.
pub fn put_aside(path: &Path) -> std::io::Result<PathBuf> {
    let mut n = 1;
    let target = loop {
        let mut name = path.as_os_str().to_os_string();
        name.push(if n == 1 {
            ".migrated".to_owned()
        } else {
            format!(".migrated-{n}")
        });
        let target = PathBuf::from(name);
        if !target.exists() {
            break target;
        }
        n += 1;
    };
    std::fs::rename(path, &target)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all())?;
    }
    Ok(target)
}
