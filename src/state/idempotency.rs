//! Idempotency: the first answer to a `request_id` is kept and returned to every retry, also
//! across restarts.
//!
//! Answers are keyed by scope and `request_id`: the scope of an enrolment is its district
//! and service point, that of an identification or verification the caller's key. With each
//! answer the SHA-256 of the canonical request is kept, so reusing a `request_id` for a
//! different request is refused (`idempotency_conflict`). Only engine answers are kept;
//! validation failures and transient engine errors are not, so a corrected or later retry
//! runs. While a request runs, a retry gets `request_in_progress`.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::state::{StateError, StateStore};

/// File name of the idempotency journal of older releases (now the `answers` table of the
/// state store; `tunggal migrate` moves it).
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
    /// The audit event to write in the transaction that keeps the answer, if any (not part
    /// of the stored answer).
    #[serde(skip)]
    pub audit: Option<Box<super::staged::StagedEvent>>,
}

type Key = (String, String);

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

/// The idempotency records of one data directory: kept answers in the state store's
/// `answers` table (kept for the life of the data directory), running claims in memory.
#[derive(Debug)]
pub struct Idempotency {
    store: Arc<StateStore>,
    running: Mutex<HashSet<Key>>,
}

impl Idempotency {
    /// Opens the state store of `data_dir` (refusing a data directory whose
    /// `idempotency.jsonl` has not been migrated).
    pub fn open(data_dir: &Path) -> Result<Self, StateError> {
        crate::state::migrate::require_migrated(data_dir)?;
        Ok(Self::new(StateStore::shared(data_dir)?))
    }

    /// Idempotency over an open store.
    pub fn new(store: Arc<StateStore>) -> Self {
        Self {
            store,
            running: Mutex::new(HashSet::new()),
        }
    }

    /// Claims `request_id` in `scope` for a request whose canonical hash is `request_sha256`.
    /// Blocking (one indexed read).
    pub fn claim(
        self: &Arc<Self>,
        scope: &str,
        request_id: &str,
        operation: &str,
        request_sha256: &str,
    ) -> Result<Claim, StateError> {
        let key = (scope.to_owned(), request_id.to_owned());
        let mut running = self.running.lock().map_err(|_| StateError::Poisoned)?;
        if let Some(answer) = self.load(scope, request_id)? {
            let same = answer.request_sha256 == request_sha256 && answer.operation == operation;
            return Ok(if same {
                Claim::Done(answer)
            } else {
                Claim::Conflict
            });
        }
        if !running.insert(key.clone()) {
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
        match self.load(scope, request_id) {
            Ok(answer) => answer,
            Err(e) => {
                tracing::error!(error = %e, "reading a kept answer");
                None
            }
        }
    }

    fn load(&self, scope: &str, request_id: &str) -> Result<Option<Answer>, StateError> {
        self.store.read(|conn| {
            let row = conn
                .query_row(
                    "SELECT operation, request_sha256, status, body FROM answers \
                     WHERE scope = ?1 AND request_id = ?2",
                    params![scope, request_id],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, u16>(2)?,
                            r.get::<_, String>(3)?,
                        ))
                    },
                )
                .optional()
                .map_err(|e| self.store.error(e))?;
            let Some((operation, request_sha256, status, body)) = row else {
                return Ok(None);
            };
            Ok(Some(Answer {
                scope: scope.to_owned(),
                request_id: request_id.to_owned(),
                operation,
                request_sha256,
                status,
                body: serde_json::from_str(&body)?,
                audit: None,
            }))
        })
    }

    fn release(&self, key: &Key) {
        if let Ok(mut running) = self.running.lock() {
            running.remove(key);
        }
    }
}

/// Inserts `answer` in the transaction `tx` of `store`.
pub fn insert(
    store: &StateStore,
    tx: &rusqlite::Transaction<'_>,
    answer: &Answer,
) -> Result<(), StateError> {
    tx.execute(
        "INSERT INTO answers (scope, request_id, operation, request_sha256, status, body, \
         answered_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            answer.scope,
            answer.request_id,
            answer.operation,
            answer.request_sha256,
            answer.status,
            serde_json::to_string(&answer.body)?,
            crate::clock::now_secs() as i64
        ],
    )
    .map_err(|e| store.error(e))?;
    Ok(())
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
    /// The answer this claim would keep with `status` and `body`, not stored.
    pub fn answer(&self, status: u16, body: serde_json::Value) -> Answer {
        let (scope, request_id) = self.key.clone().unwrap_or_default();
        Answer {
            scope,
            request_id,
            operation: self.operation.clone(),
            request_sha256: self.request_sha256.clone(),
            status,
            body,
            audit: None,
        }
    }

    /// Frees the claim of an answer that was kept elsewhere (in the engine's outcome
    /// transaction) and returns it.
    pub fn kept(self, answer: Answer) -> Answer {
        drop(self);
        answer
    }

    /// Keeps the answer durably (blocking: one committed transaction), then frees the claim.
    pub fn complete(mut self, status: u16, body: serde_json::Value) -> Result<Answer, StateError> {
        let Some(key) = self.key.take() else {
            return Err(StateError::Poisoned);
        };
        let answer = Answer {
            scope: key.0.clone(),
            request_id: key.1.clone(),
            operation: std::mem::take(&mut self.operation),
            request_sha256: std::mem::take(&mut self.request_sha256),
            status,
            body,
            audit: None,
        };
        let store = &self.owner.store;
        let result = store.transaction(|tx| insert(store, tx, &answer));
        self.owner.release(&key);
        result?;
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
    fn a_kept_answer_is_replayed_with_the_same_scores_to_the_last_digit() {
        let dir = tempfile::tempdir().unwrap();
        let idem = Arc::new(Idempotency::open(dir.path()).unwrap());
        let Claim::Fresh(p) = idem.claim("s", "r", "enrol", "h").unwrap() else {
            panic!("expected a fresh claim")
        };
        // Scores are `f32` widened to `f64`; these three came back one unit in the last
        // place off before float parsing was made exact.
        let scores = [0.113_435_12_f32, 0.477_358_97_f32, 0.116_696_44_f32];
        let body = serde_json::json!({ "scores": scores.map(f64::from) });
        let text = serde_json::to_string(&body).unwrap();
        p.complete(200, body).unwrap();
        match idem.claim("s", "r", "enrol", "h").unwrap() {
            Claim::Done(a) => assert_eq!(serde_json::to_string(&a.body).unwrap(), text),
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
