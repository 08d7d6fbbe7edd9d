//! The request-body path of the service, as the handlers run it: bytes → `JsonBody::parse`
//! (the extractor of `POST /v1/enrolments`, `/v1/identify` and `/v1/verify`) → `enrolment::validate`
//! (NIK, demographics, base64, ISO/ANSI templates, iris codes). Every input is accepted or
//! answered with a 4xx problem that serialises as problem+json; none panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tunggal::service::extract::JsonBody;
use tunggal::enrolment::wire::{EnrolmentRequest, IdentifyRequest, VerifyRequest};
use tunggal::enrolment::validate;
use tunggal::problem::Problem;
use tunggal_datasets::date::Date;

fn client_error(problem: &Problem) {
    assert!(
        (400..500).contains(&problem.status),
        "status {} for {:?}",
        problem.status,
        problem.reason
    );
    assert!(serde_json::to_vec(problem).is_ok());
}

fuzz_target!(|data: &[u8]| {
    // A fixed day: the date-of-birth bound must not move under the fuzzer.
    let Some(today) = Date::new(2026, 1, 15) else {
        return;
    };
    match JsonBody::<EnrolmentRequest>::parse(data) {
        Ok(body) => {
            if let Err(problem) = validate::enrolment(&body.value, today) {
                client_error(&problem);
            }
        }
        Err(problem) => client_error(&problem),
    }
    match JsonBody::<IdentifyRequest>::parse(data) {
        Ok(body) => {
            if let Err(problem) = validate::identify(&body.value) {
                client_error(&problem);
            }
        }
        Err(problem) => client_error(&problem),
    }
    match JsonBody::<VerifyRequest>::parse(data) {
        Ok(body) => {
            if let Err(problem) = validate::verify(&body.value) {
                client_error(&problem);
            }
        }
        Err(problem) => client_error(&problem),
    }
});
