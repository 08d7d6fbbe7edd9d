//! The request-body path of the service: bytes → JSON request → validated record (NIK,
//! demographics, base64, ISO/ANSI templates, iris codes), for enrolment, identify and verify.
//! Every input is accepted or rejected with a problem; none panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tunggal::service::model::{EnrolmentRequest, IdentifyRequest, VerifyRequest};
use tunggal::service::validate;

fuzz_target!(|data: &[u8]| {
    let today = time::macros::date!(2026 - 01 - 15);
    if let Ok(req) = serde_json::from_slice::<EnrolmentRequest>(data) {
        if let Err(problem) = validate::enrolment(&req, today) {
            assert!(problem.status >= 400 && problem.status < 500);
        }
    }
    if let Ok(req) = serde_json::from_slice::<IdentifyRequest>(data) {
        let _ = validate::identify(&req);
    }
    if let Ok(req) = serde_json::from_slice::<VerifyRequest>(data) {
        let _ = validate::verify(&req);
    }
});
