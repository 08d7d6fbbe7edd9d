//! Idempotency: the first answer to a `request_id` is kept and returned to every retry, also
//! across restarts.
//!
//! Answers are keyed by scope and `request_id`: the scope of an enrolment is its district
//! and service point, that of an identification or verification the caller's key. With each
//! answer the SHA-256 of the canonical request is kept, so reusing a `request_id` for a
//! different request is refused (`idempotency_conflict`). Only engine answers are kept;
//! validation failures and transient engine errors are not, so a corrected or later retry
//! runs. While a request runs, a retry gets `request_in_progress`.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::journal::{Journal, JournalError};

/// File name of the idempotency journal in the data directory.
pub const IDEMPOTENCY_FILE: &str = "idempotency.jsonl";

/// A kept answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The scope (`district/service_point` or `key:<id>`).
    pub scope: String,
    /// The client's `request_id`.
    pub request_id: String,
    /// `enrol`, `identify` or `verify`.
    pub operation: String,
    /// SHA-256 (hex) of the canonical request.
    pub request_sha256: String,
    /// HTTP status of the answer.
    pub status: u16,
    /// The JSON body of the answer.
    pub body: serde_json::Value,
}

type Key = (String, String);

#[derive(Debug, Default)]
struct State {
    done: HashMap<Key, Answer>,
    running: HashSet<Key>,
}

/// The outcome of claiming a `request_id`.
#[derive(Debug)]
pub enum Claim {
    /// First time: run it and [`Pending::complete`] it.
    Fresh(Pending),
    /// Answered before with the same request: here is the answer.
    Done(Answer),
    /// Answered or running with a different request.
    Conflict,
    /// The same request is running now.
    InProgress,
}

/// The idempotency records of one data directory.
#[derive(Debug)]
pub struct Idempotency {
    journal: Journal<Answer>,
    state: Mutex<State>,
}

impl Idempotency {
    /// Opens the journal in `data_dir` and loads its answers.
    pub fn open(data_dir: &Path) -> Result<Self, JournalError> {
        let (journal, answers) = Journal::open(data_dir.join(IDEMPOTENCY_FILE))?;
        let done = answers
            .into_iter()
            .map(|a: Answer| ((a.scope.clone(), a.request_id.clone()), a))
            .collect();
        Ok(Self {
            journal,
            state: Mutex::new(State {
                done,
                running: HashSet::new(),
            }),
        })
    }

    /// Claims `request_id` in `scope` for a request whose canonical hash is `request_sha256`.
    pub fn claim(
        self: &Arc<Self>,
        scope: &str,
        request_id: &str,
        operation: &str,
        request_sha256: &str,
    ) -> Result<Claim, JournalError> {
        let key = (scope.to_owned(), request_id.to_owned());
        let mut state = self.state.lock().map_err(|_| JournalError::Poisoned)?;
        if let Some(answer) = state.done.get(&key) {
            let same = answer.request_sha256 == request_sha256 && answer.operation == operation;
            return Ok(if same {
                Claim::Done(answer.clone())
            } else {
                Claim::Conflict
            });
        }
        if !state.running.insert(key.clone()) {
            return Ok(Claim::InProgress);
        }
        Ok(Claim::Fresh(Pending {
            owner: Arc::clone(self),
            key: Some(key),
            operation: operation.to_owned(),
            request_sha256: request_sha256.to_owned(),
        }))
    }

    /// The kept answer for `request_id` in `scope`, if any.
    pub fn get(&self, scope: &str, request_id: &str) -> Option<Answer> {
        let state = self.state.lock().ok()?;
        state
            .done
            .get(&(scope.to_owned(), request_id.to_owned()))
            .cloned()
    }

    fn release(&self, key: &Key) {
        if let Ok(mut state) = self.state.lock() {
            state.running.remove(key);
        }
    }
}

/// A claimed, running request. Dropping it without completing frees the `request_id`.
#[derive(Debug)]
pub struct Pending {
    owner: Arc<Idempotency>,
    key: Option<Key>,
    operation: String,
    request_sha256: String,
}

impl Pending {
    /// Keeps the answer durably (blocking: journal append with fsync), then frees the claim.
    pub fn complete(
        mut self,
        status: u16,
        body: serde_json::Value,
    ) -> Result<Answer, JournalError> {
        let Some(key) = self.key.take() else {
            return Err(JournalError::Poisoned);
        };
        let answer = Answer {
            scope: key.0.clone(),
            request_id: key.1.clone(),
            operation: std::mem::take(&mut self.operation),
            request_sha256: std::mem::take(&mut self.request_sha256),
            status,
            body,
        };
        let result = self.owner.journal.append(&answer);
        let mut state = self
            .owner
            .state
            .lock()
            .map_err(|_| JournalError::Poisoned)?;
        state.running.remove(&key);
        result?;
        state.done.insert(key, answer.clone());
        Ok(answer)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.owner.release(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_answer_is_kept_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let idem = Arc::new(Idempotency::open(dir.path()).unwrap());
        let Claim::Fresh(p) = idem.claim("s", "r1", "enrol", "h1").unwrap() else {
            panic!("expected a fresh claim")
        };
        assert!(matches!(
            idem.claim("s", "r1", "enrol", "h1").unwrap(),
            Claim::InProgress
        ));
        p.complete(200, serde_json::json!({"v": 1})).unwrap();
        assert!(matches!(
            idem.claim("s", "r1", "enrol", "h2").unwrap(),
            Claim::Conflict
        ));
        assert!(matches!(
            idem.claim("other", "r1", "enrol", "h2").unwrap(),
            Claim::Fresh(_)
        ));
        drop(idem);
        let idem = Arc::new(Idempotency::open(dir.path()).unwrap());
        match idem.claim("s", "r1", "enrol", "h1").unwrap() {
            Claim::Done(a) => assert_eq!(a.body, serde_json::json!({"v": 1})),
            other => panic!("expected the kept answer, got {other:?}"),
        }
    }

    #[test]
    fn dropped_claim_frees_the_request_id() {
        let dir = tempfile::tempdir().unwrap();
        let idem = Arc::new(Idempotency::open(dir.path()).unwrap());
        let claim = idem.claim("s", "r", "enrol", "h").unwrap();
        drop(claim);
        assert!(matches!(
            idem.claim("s", "r", "enrol", "h").unwrap(),
            Claim::Fresh(_)
        ));
    }
}
