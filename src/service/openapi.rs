//! The OpenAPI document, generated from the handlers' annotations and the wire types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, cases_admin, handlers};
use crate::enrolment::wire::{
    CandidateOut, CreateKeyRequest, CreateKeyResponse, DeleteResponse, EnrolmentRequest,
    EnrolmentResponse, FingerImageIn, FingerQualityOut, FingerScoreOut, FingerprintIn,
    HealthResponse, IdenticalCaptureOut, IdentifyRequest, IdentifyResponse, IrisImageIn, IrisIn,
    IrisMeasuresOut, IrisQualityOut, IrisScoreOut, PersonResponse, PersonsByNikResponse,
    SameEyeOut, SameFingerOut, VerdictKind, VerifyRequest, VerifyResponse,
};
use crate::problem::{Problem, Reason};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some("Tunggal API key (tgl_…)"))
                        .build(),
                ),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tunggal",
        description = "Central biometric deduplication engine (ABIS) for e-KTP. Errors are \
                       application/problem+json with a stable `reason`."
    ),
    paths(
        handlers::health,
        handlers::ready,
        handlers::metrics,
        handlers::openapi,
        handlers::enrol,
        handlers::enrolment_status,
        handlers::identify,
        handlers::verify,
        handlers::delete_person,
        handlers::get_person,
        handlers::persons_by_nik,
        admin::create_key,
        admin::list_keys,
        admin::key_events,
        admin::revoke_key,
        admin::rotate_key,
        admin::dead_letters,
        admin::requeue,
        admin::compact_images,
        cases_admin::export_cases,
        cases_admin::release_case,
    ),
    components(schemas(
        Problem, Reason, FingerprintIn, FingerImageIn, FingerQualityOut, IrisIn, IrisImageIn,
        IrisQualityOut, IrisMeasuresOut, EnrolmentRequest, EnrolmentResponse, VerdictKind,
        IdentifyRequest, IdentifyResponse, CandidateOut, VerifyRequest, VerifyResponse,
        DeleteResponse, CreateKeyRequest, CreateKeyResponse, HealthResponse, FingerScoreOut,
        IrisScoreOut, IdenticalCaptureOut, SameFingerOut, SameEyeOut, PersonResponse, PersonsByNikResponse, admin::DeadLettersResponse, admin::RequeueResponse,
        crate::engine::outbox::DeadLetter, admin::KeyOut, admin::KeysResponse,
        admin::KeyEventsResponse, crate::access::keys::KeyEvent, crate::cases::ExportRow,
        cases_admin::SupervisorReleaseResponse, crate::enrolment::ImageCompactionReport
    )),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// The OpenAPI document of the service.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
