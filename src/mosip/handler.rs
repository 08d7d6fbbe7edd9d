//! One MOSIP request in, one response out: the operations mapped onto the engine's
//! external-reference calls (`engine/external.rs`).
//!
//! Requests are handled one at a time in queue order by the transport, so an identify
//! sees every insert queued before it, and an insert is answered only once it is durable.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::analytics::candidate_out;
use super::biometrics::{self, Read};
use super::cbeff::{self, CbeffError, Samples};
use super::datashare::{Datashare, FetchError};
use super::envelope::ShareKey;
use super::message::{
    self, CandidateList, CandidateOut, FailureReason, Operation, Request, Response,
};
use crate::engine::external::{ExternalInsert, ExternalSearch};
use crate::engine::GalleryEngine;
use crate::enrolment::record::Origin;
use crate::enrolment::EngineError;
use crate::work;

/// Candidates returned when `flags.maxResults` is absent: every candidate over the
/// threshold, up to this bound.
pub const DEFAULT_MAX_RESULTS: usize = 1000;

/// The ABIS side of the MOSIP interface.
#[derive(Debug, Clone)]
pub struct Abis {
    engine: Arc<GalleryEngine>,
    origin: Origin,
    datashare: Datashare,
    pending: Arc<AtomicUsize>,
}

impl Abis {
    /// Serves MOSIP for `engine`, its persons kept under `origin` in the registry.
    pub fn new(engine: Arc<GalleryEngine>, origin: Origin, datashare: Datashare) -> Self {
        Self {
            engine,
            origin,
            datashare,
            pending: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Counts a request received and not yet answered (the transport calls it on receipt;
    /// [`Abis::handle`] counts it answered).
    pub fn received(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
    }

    /// Handles one request body (received and counted by [`Abis::received`]).
    pub async fn handle(&self, body: &[u8]) -> Response {
        let response = match message::parse(body) {
            Ok(request) => self.run(&request).await,
            Err(refused) => {
                tracing::warn!(reason = refused.reason.code(), "MOSIP request refused");
                Response::refused(&refused)
            }
        };
        let _ = self
            .pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        response
    }

    async fn run(&self, r: &Request) -> Response {
        let op = r.operation;
        let fail = |reason: FailureReason| {
            tracing::info!(
                operation = op.id(),
                request_id = %r.request_id,
                reason = reason.code(),
                "MOSIP request failed"
            );
            Response::failure(op.id(), &r.request_id, reason)
        };
        match op {
            Operation::Ping => Response::success(op, &r.request_id),
            Operation::PendingJobs => {
                let mut out = Response::success(op, &r.request_id);
                let others = self.pending.load(Ordering::SeqCst).saturating_sub(1);
                out.jobscount = Some(others.to_string());
                out
            }
            Operation::ReferenceCount => {
                let engine = self.engine.clone();
                let origin = self.origin.clone();
                match work::run_blocking(move || engine.count_external(&origin)).await {
                    Ok(Ok(n)) => {
                        let mut out = Response::success(op, &r.request_id);
                        out.count = Some(n.to_string());
                        out
                    }
                    Ok(Err(e)) => fail(engine_reason(&e)),
                    Err(_) => fail(FailureReason::UnexpectedError),
                }
            }
            Operation::Delete => {
                let engine = self.engine.clone();
                let origin = self.origin.clone();
                let id = r.reference_id.clone().unwrap_or_default();
                match work::run_blocking(move || engine.delete_external(&origin, &id)).await {
                    Ok(Ok(true)) => Response::success(op, &r.request_id),
                    Ok(Ok(false)) => fail(FailureReason::ReferenceIdNotFound),
                    Ok(Err(e)) => fail(engine_reason(&e)),
                    Err(_) => fail(FailureReason::UnexpectedError),
                }
            }
            Operation::Insert => match self.insert(r).await {
                Ok(()) => Response::success(op, &r.request_id),
                Err(reason) => fail(reason),
            },
            Operation::Identify => match self.identify(r).await {
                Ok(list) => {
                    let mut out = Response::success(op, &r.request_id);
                    out.candidate_list = Some(list);
                    out
                }
                Err(reason) => fail(reason),
            },
        }
    }

    async fn insert(&self, r: &Request) -> Result<(), FailureReason> {
        let id = r
            .reference_id
            .clone()
            .ok_or(FailureReason::MissingReferenceId)?;
        let url = r
            .reference_url
            .as_deref()
            .ok_or(FailureReason::MissingReferenceUrl)?;
        // A reference used before is refused without fetching its share.
        let (engine, origin, known_id) = (self.engine.clone(), self.origin.clone(), id.clone());
        let known = work::run_blocking(move || engine.external_entry(&origin, &known_id).is_some())
            .await
            .map_err(|_| FailureReason::UnexpectedError)?;
        if known {
            return Err(FailureReason::ReferenceIdAlreadyExists);
        }
        let fetched = self.fetch(url).await?;
        log_left_out(&id, &fetched);
        let (engine, origin) = (self.engine.clone(), self.origin.clone());
        let done = work::run_blocking(move || engine.insert_external(&origin, &id, &fetched.probe))
            .await
            .map_err(|_| FailureReason::UnexpectedError)?;
        match done {
            Ok(ExternalInsert::Inserted { .. }) => Ok(()),
            Ok(ExternalInsert::AlreadyExists) => Err(FailureReason::ReferenceIdAlreadyExists),
            Ok(ExternalInsert::Rejected(_)) => Err(FailureReason::BiometricQualityCheckFailed),
            Err(e) => Err(engine_reason(&e)),
        }
    }

    async fn identify(&self, r: &Request) -> Result<CandidateList, FailureReason> {
        let limits = ExternalSearch {
            max_results: r.flags.max_results.unwrap_or(DEFAULT_MAX_RESULTS),
            target_fpir: r.flags.target_fpir.map(message::fpir_of),
            gallery: r.gallery.clone(),
        };
        let (engine, origin) = (self.engine.clone(), self.origin.clone());
        let (found, probe_eyes) = if let Some(id) = r.reference_id.clone() {
            let found = work::run_blocking(move || engine.identify_external(&origin, &id, &limits))
                .await
                .map_err(|_| FailureReason::UnexpectedError)?
                .map_err(|e| engine_reason(&e))?
                .ok_or(FailureReason::ReferenceIdNotFound)?;
            (found, Vec::new())
        } else {
            let url = r
                .reference_url
                .as_deref()
                .ok_or(FailureReason::MissingReferenceId)?;
            let fetched = self.fetch(url).await?;
            log_left_out(&r.request_id, &fetched);
            let Read { probe, eyes, .. } = fetched;
            let found = work::run_blocking(move || {
                engine.identify_external_probe(&origin, &probe, &limits)
            })
            .await
            .map_err(|_| FailureReason::UnexpectedError)?
            .map_err(|e| engine_reason(&e))?
            .map_err(|_| FailureReason::BiometricQualityCheckFailed)?;
            (found, eyes)
        };
        let candidates: Vec<CandidateOut> = found
            .iter()
            .map(|c| candidate_out(c, &probe_eyes))
            .collect();
        Ok(CandidateList {
            count: candidates.len().to_string(),
            candidates,
        })
    }

    /// Fetches a share and reads its fingers and irises into a probe.
    async fn fetch(&self, url: &str) -> Result<Read, FailureReason> {
        let body = self.datashare.fetch(url).await.map_err(|e| {
            tracing::warn!(error = %e, "MOSIP datashare fetch failed");
            match e {
                FetchError::Failed(_) => FailureReason::UnableToFetchBiometrics,
                FetchError::Expired(_) => FailureReason::DatashareUrlExpired,
            }
        })?;
        let key = self.datashare.key.clone();
        let job = move || -> Result<Read, FailureReason> {
            let samples = read_share(&body, key.as_deref())?;
            biometrics::read(&samples)
        };
        work::run_on_rayon(job)
            .await
            .map_err(|_| FailureReason::UnexpectedError)?
    }
}

/// Reads a share: the CBEFF XML itself, or with `key` an encrypted envelope of it
/// (refused with 16 when it does not open), or without a key the same base64-encoded.
fn read_share(body: &[u8], key: Option<&ShareKey>) -> Result<Samples, FailureReason> {
    let starts_xml = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'<' || *b == 0xef);
    if let (false, Some(key)) = (starts_xml, key) {
        let plain = key.open(body).map_err(|e| {
            tracing::warn!(error = %e, "MOSIP share does not open");
            FailureReason::InvalidCbeffFormat
        })?;
        return read_share(&plain, None);
    }
    let decoded;
    let xml = if starts_xml {
        body
    } else {
        let text = std::str::from_utf8(body).map_err(|_| FailureReason::InvalidCbeffFormat)?;
        decoded = cbeff::decode_bdb(text).ok_or(FailureReason::InvalidCbeffFormat)?;
        &decoded
    };
    cbeff::parse(xml).map_err(|e| match e {
        CbeffError::NoData => FailureReason::CbeffHasNoData,
        _ => FailureReason::InvalidCbeffFormat,
    })
}

/// Logs the samples a request's share had that are not matched: iris samples left out, with
/// the reason and the MOSIP failure reason each would carry alone (MOSIP's answers have no
/// field for a sample left out of a successful request), and face samples.
fn log_left_out(id: &str, read: &Read) {
    for e in read.eyes_left_out() {
        let Some(reason) = e.outcome.reason() else {
            continue;
        };
        tracing::warn!(
            id,
            eye = e.eye.unwrap_or("unknown"),
            bir = e.index,
            reason,
            failure_reason = e.outcome.failure().map_or(0, FailureReason::code),
            "MOSIP iris sample left out of matching"
        );
    }
    if read.faces > 0 {
        tracing::info!(
            id,
            faces = read.faces,
            "MOSIP face samples accepted and ignored"
        );
    }
}

/// The failure reason of an engine error.
fn engine_reason(e: &EngineError) -> FailureReason {
    tracing::error!(error = %e, "MOSIP request failed in the engine");
    match e {
        EngineError::PersonNotFound(_) | EngineError::PersonDeleted(_) => {
            FailureReason::ReferenceIdNotFound
        }
        EngineError::NotWired | EngineError::Unavailable(_) | EngineError::StorageFull(_) => {
            FailureReason::InternalError
        }
    }
}
