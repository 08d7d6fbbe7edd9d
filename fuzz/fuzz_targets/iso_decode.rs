//! ISO/IEC 19794-2:2005 decoder: any bytes decode or fail with an error, never panic; a
//! decoded record re-encodes and decodes to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tunggal_index::template::iso;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = iso::decode(data) {
        let _ = record.templates();
        if let Ok(bytes) = iso::encode(&record) {
            assert_eq!(iso::decode(&bytes).ok(), Some(record));
        }
    }
});
