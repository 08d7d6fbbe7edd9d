//! Disk-space guard: while the data directory's file system has less than `min_free_bytes`
//! available, enrolments are refused with `507 insufficient_storage` before anything is
//! written, so a full disk never reaches the gallery's log half-way through a write. Once space
//! is freed, the next enrolment is admitted again; no restart is needed. While the state
//! store's background integrity check has found damage (`state::integrity`), enrolments are
//! refused with `503 state_damaged`.

use std::path::Path;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::server::AppState;
use crate::problem::{Problem, Reason};

/// Makes `dir` (created if needed) readable by its owner only (0700), and every file and
/// directory this process creates from now on 0600 / 0700 (umask 077): the data directory
/// holds NIKs, names and biometrics. Files written earlier keep their mode, but the
/// directory's mode already bars everyone else from them.
pub fn make_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Bytes available to unprivileged writers on the file system holding `path`.
pub fn available_bytes(path: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Whether a request writes to the gallery.
fn grows_gallery(request: &Request) -> bool {
    let path = request.uri().path();
    // OSIA's encounter creates and updates insert into the gallery too (`crate::osia`).
    let osia_write = path.starts_with("/osia/v1/persons/") || path == "/osia/v1/persons";
    match *request.method() {
        Method::POST => path == "/v1/enrolments" || (osia_write && !path.contains("/merge/")),
        Method::PUT => osia_write && !path.ends_with("/status"),
        _ => false,
    }
}

/// Refuses enrolments while free space is below the configured reserve.
pub async fn guard(State(app): State<AppState>, request: Request, next: Next) -> Response {
    if grows_gallery(&request) {
        if let Some(detail) = app.cases.store().integrity().damage() {
            return state_damaged(&detail).into_response();
        }
    }
    let reserve = app.config.min_free_bytes;
    if reserve > 0 && grows_gallery(&request) {
        match available_bytes(&app.config.data_dir) {
            Ok(free) if free < reserve => {
                tracing::warn!(
                    free,
                    reserve,
                    "data directory nearly full: enrolment refused"
                );
                return Problem::new(
                    Reason::InsufficientStorage,
                    format!(
                        "the data directory has {free} bytes free, below the reserve of \
                         {reserve}; nothing was stored, retry later"
                    ),
                )
                .retry_after(60)
                .into_response();
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the data directory's free space"),
        }
    }
    next.run(request).await
}

/// The answer while the state store's integrity check has found damage.
pub fn state_damaged(detail: &str) -> Problem {
    Problem::new(
        Reason::StateDamaged,
        format!(
            "the state store is damaged ({detail}); nothing is written until an operator \
             restores it from a backup"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn reports_free_space_of_an_existing_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(available_bytes(dir.path()).unwrap() > 0);
        assert!(available_bytes(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn the_data_directory_and_new_files_are_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        make_private(&dir).unwrap();
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0)
        };
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("registry.jsonl");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(mode(&file), 0o600);
        let sub = dir.join("gallery");
        std::fs::create_dir(&sub).unwrap();
        assert_eq!(mode(&sub), 0o700);
    }
}
