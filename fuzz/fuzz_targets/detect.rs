//! Format detection and the format-agnostic decoder: never panic on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tunggal_index::template::{detect, finger_record};

fuzz_target!(|data: &[u8]| {
    let _ = detect::detect(data);
    if let Ok(decoded) = finger_record::decode(data) {
        let _ = decoded.templates();
        let _ = decoded.encode();
    }
});
