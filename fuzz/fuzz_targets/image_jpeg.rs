//! JPEG decoding through the `jpeg-decoder` crate: any bytes decode to an image of consistent size within the limits, or fail with an
//! error that has a reason; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tunggal_index::image::{decode, ImageFormat, MAX_SIDE};

fuzz_target!(|data: &[u8]| {
    match decode(data, Some(ImageFormat::Jpeg)) {
        Ok(image) => {
            assert!(image.width() <= MAX_SIDE && image.height() <= MAX_SIDE);
            assert_eq!(
                image.pixels().len(),
                image.width() as usize * image.height() as usize
            );
        }
        Err(e) => assert!(!e.reason().is_empty()),
    }
});
