//! Group commit: enrolments whose outcomes are ready at the same time share one transaction
//! of the state store (one durable sync).
//!
//! A caller queues its job and waits. Whoever finds no group being committed leads: it
//! takes every queued job (up to [`MAX_GROUP`]), commits them together, publishes each
//! job's result and steps down; jobs queued meanwhile form the next group. A lone enrolment
//! is committed at once; under load, the enrolments that finish while one group commits
//! share the next commit. Nobody gets a result before the transaction that holds it has
//! committed (or failed).

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};

/// The most jobs committed in one transaction.
pub const MAX_GROUP: usize = 64;

/// Why a queued job has no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// The queue's lock was poisoned by a panic in another thread.
    #[error("the commit queue's lock is poisoned")]
    Poisoned,
    /// The group's leader returned no result for this job.
    #[error("the shared commit returned no result for this enrolment")]
    NoResult,
}

#[derive(Debug)]
struct State<J, R> {
    next: u64,
    pending: Vec<(u64, J)>,
    /// Results by job; `None` for a job its leader gave no result.
    done: HashMap<u64, Option<R>>,
    busy: bool,
}

/// A leader-follower commit queue of jobs `J` with results `R`.
#[derive(Debug)]
pub struct GroupCommit<J, R> {
    state: Mutex<State<J, R>>,
    wake: Condvar,
}

impl<J, R> Default for GroupCommit<J, R> {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                next: 0,
                pending: Vec::new(),
                done: HashMap::new(),
                busy: false,
            }),
            wake: Condvar::new(),
        }
    }
}

impl<J, R> GroupCommit<J, R> {
    /// Queues `job` and blocks until its group is committed. The leader commits a group
    /// with `commit`, which returns one result per job, in order. Not for a rayon job (it
    /// waits on other threads).
    pub fn submit(&self, job: J, commit: impl Fn(Vec<J>) -> Vec<R>) -> Result<R, GroupError> {
        let mut st = self.state.lock().map_err(|_| GroupError::Poisoned)?;
        let id = st.next;
        st.next += 1;
        st.pending.push((id, job));
        loop {
            if let Some(r) = st.done.remove(&id) {
                return r.ok_or(GroupError::NoResult);
            }
            if !st.busy && !st.pending.is_empty() {
                st.busy = true;
                let n = st.pending.len().min(MAX_GROUP);
                let (ids, jobs): (Vec<u64>, Vec<J>) = st.pending.drain(..n).unzip();
                drop(st);
                let results = commit(jobs);
                st = self.state.lock().map_err(|_| GroupError::Poisoned)?;
                let mut results = results.into_iter();
                for job in ids {
                    st.done.insert(job, results.next());
                }
                st.busy = false;
                self.wake.notify_all();
                continue;
            }
            st = self.wake.wait(st).map_err(|_| GroupError::Poisoned)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    #[test]
    fn concurrent_jobs_share_groups_and_each_gets_its_own_result() {
        let queue = Arc::new(GroupCommit::<u64, u64>::default());
        let groups = Arc::new(AtomicUsize::new(0));
        let threads = 8;
        let each = 50;
        let start = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads as u64)
            .map(|t| {
                let (queue, groups, start) = (queue.clone(), groups.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for i in 0..each {
                        let job = t * 1000 + i;
                        let r = queue
                            .submit(job, |jobs| {
                                groups.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(std::time::Duration::from_millis(1));
                                jobs.iter().map(|j| j * 2).collect()
                            })
                            .unwrap();
                        assert_eq!(r, job * 2);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let groups = groups.load(Ordering::SeqCst);
        // Every job was answered; with eight threads waiting on a 1 ms commit, groups hold
        // more than one job.
        assert!(groups < threads * each as usize, "{groups} groups");
    }

    #[test]
    fn a_job_without_a_result_fails_instead_of_waiting() {
        let queue = GroupCommit::<u64, u64>::default();
        let r = queue.submit(7, |_| Vec::new());
        assert_eq!(r, Err(GroupError::NoResult));
    }
}
