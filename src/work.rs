//! Running CPU-bound or blocking work from async code: matching on the rayon pool, enrolments
//! on the blocking pool, awaited without occupying an async worker thread. Used by the HTTP
//! API and the review pages alike.

use std::panic::AssertUnwindSafe;

use tokio::sync::oneshot;

use crate::problem::{Problem, Reason};

/// Runs `job` on the rayon pool and awaits its result; a panicking job becomes `internal`.
pub async fn run_on_rayon<R, F>(job: F) -> Result<R, Problem>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    rayon::spawn(move || {
        let result = std::panic::catch_unwind(AssertUnwindSafe(job));
        let _ = tx.send(result);
    });
    match rx.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) | Err(_) => {
            tracing::error!("matching job panicked");
            Err(Problem::new(Reason::Internal, "the matching job failed"))
        }
    }
}

/// Runs `job`, which may block waiting for other enrolments (the deduplicator's ordered
/// batches, the group commit of outcomes), on a thread of the blocking pool and awaits its
/// result; a panicking job becomes `internal`.
///
/// Such a job must never run as a rayon job: a rayon worker waiting inside a parallel search
/// may steal it, and if it then blocks on the batch the same thread is leading, neither
/// resumes. The job's CPU work still runs on rayon: its parallel iterators and
/// `rayon::join` calls enter the pool from this outside thread, which simply waits.
pub async fn run_blocking<R, F>(job: F) -> Result<R, Problem>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let joined =
        tokio::task::spawn_blocking(move || std::panic::catch_unwind(AssertUnwindSafe(job))).await;
    match joined {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) | Err(_) => {
            tracing::error!("enrolment job panicked");
            Err(Problem::new(Reason::Internal, "the enrolment job failed"))
        }
    }
}
