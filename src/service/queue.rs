//! The bounded queue in front of the engine: at most `capacity` matching jobs admitted at
//! once (running or waiting for a rayon thread); beyond that callers get `queue_full`.
//!
//! Jobs run on the rayon pool and are awaited through a oneshot channel, so no async worker
//! thread ever runs matching.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::problem::{Problem, Reason};
pub use crate::work::{run_blocking, run_on_rayon};

/// Seconds a client is asked to wait when the queue is full.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The admission queue.
#[derive(Debug)]
pub struct MatchQueue {
    permits: Arc<Semaphore>,
    capacity: usize,
}

/// A place in the queue; the place is freed when the ticket is dropped.
#[derive(Debug)]
pub struct Ticket {
    _permit: OwnedSemaphorePermit,
}

impl MatchQueue {
    /// A queue admitting `capacity` jobs (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// Takes a place, or fails with `queue_full` (503, `Retry-After`).
    pub fn admit(&self) -> Result<Ticket, Problem> {
        Arc::clone(&self.permits)
            .try_acquire_owned()
            .map(|permit| Ticket { _permit: permit })
            .map_err(|_| {
                Problem::new(
                    Reason::QueueFull,
                    format!("all {} matching places are taken", self.capacity),
                )
                .retry_after(RETRY_AFTER_SECS)
            })
    }

    /// Jobs admitted and not yet finished.
    pub fn depth(&self) -> usize {
        self.capacity - self.permits.available_permits()
    }

    /// The most jobs admitted at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Waits up to `timeout` for every admitted job to finish; true if they all did.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let all = u32::try_from(self.capacity).unwrap_or(u32::MAX);
        matches!(
            tokio::time::timeout(timeout, self.permits.acquire_many(all)).await,
            Ok(Ok(_))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_queue_refuses_with_retry_after() {
        let queue = MatchQueue::new(2);
        let a = queue.admit().unwrap();
        let _b = queue.admit().unwrap();
        assert_eq!(queue.depth(), 2);
        let refused = queue.admit().unwrap_err();
        assert_eq!(refused.reason, Reason::QueueFull);
        assert_eq!(refused.retry_after, Some(RETRY_AFTER_SECS));
        drop(a);
        assert!(queue.admit().is_ok());
    }

    #[tokio::test]
    async fn jobs_run_off_the_async_workers() {
        let value = run_on_rayon(|| rayon::current_thread_index().is_some())
            .await
            .unwrap();
        assert!(value);
        let failed = run_on_rayon(|| -> u8 { panic!("boom") }).await;
        assert_eq!(failed.unwrap_err().reason, Reason::Internal);
    }
}
