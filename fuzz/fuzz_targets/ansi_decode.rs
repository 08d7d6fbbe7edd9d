//! ANSI INCITS 378-2004 decoder: any bytes decode or fail with an error, never panic; a
//! decoded record re-encodes and decodes to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tunggal_index::template::ansi;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = ansi::decode(data) {
        let _ = record.templates();
        if let Ok(bytes) = ansi::encode(&record) {
            assert_eq!(ansi::decode(&bytes).ok(), Some(record));
        }
    }
});
