//! ISO/IEC 19794-6 iris image records (2005 and 2011) and their payload decoders: any bytes
//! decode to a record whose images match their headers and the limits, or fail with an error
//! that has a reason; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tunggal_index::image::iris_record::MAX_REPRESENTATIONS;
use tunggal_index::image::{decode_iris_record, MAX_SIDE};

fuzz_target!(|data: &[u8]| {
    match decode_iris_record(data) {
        Ok(record) => {
            assert!(!record.representations.is_empty());
            assert!(record.representations.len() <= MAX_REPRESENTATIONS);
            for rep in &record.representations {
                let image = &rep.image;
                assert!(image.width() <= MAX_SIDE && image.height() <= MAX_SIDE);
                assert_eq!(
                    (image.width(), image.height()),
                    (u32::from(rep.header.width), u32::from(rep.header.height))
                );
                assert_eq!(
                    image.pixels().len(),
                    image.width() as usize * image.height() as usize
                );
            }
        }
        Err(e) => assert!(!e.reason().is_empty()),
    }
});
